"""Append-only JSON-lines files that survive a SIGKILL at any point.

Each finished unit of work is one line, written with a single `os.write` on an O_APPEND descriptor
(so a kill leaves at most one torn line at the end, never an interleaving), then read back on the
next run to skip what is done. Opening a store repairs a torn last line by truncating it, and only
that: a bad line in the middle means the file was edited or corrupted, and we stop rather than
guess (nothing is thrown away behind the user's back).

Derived files (battles, leaderboards, tables) are not appended: `write_atomic` replaces them whole
through a temporary file and a rename, so a reader never sees half of one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from arena.errors import DataError
from arena.records import from_json, to_json

log = logging.getLogger(__name__)
R = TypeVar("R")


def read_jsonl(path: Path, *, repair: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each line of a JSONL file.

    A last line without its newline is either a torn write (a kill mid-write: it does not parse)
    or a whole record whose newline an editor dropped (it parses: a cut JSON object never does).
    With `repair` (our own append-only stores) a torn tail is truncated away so the unit is
    redone, and a whole one gets its newline back. Any other bad line is a DataError naming the
    file and line.
    """
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    offset = 0
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(lines, start=1):
        offset += len(raw) + 1
        if raw.strip():
            parsed.append((number, _parse_line(path, number, raw)))
    if tail.strip():
        number = len(lines) + 1
        try:
            parsed.append((number, _parse_line(path, number, tail)))
            whole = True
        except DataError:
            whole = False
        if repair:
            with open(path, "r+b") as handle:
                if whole:
                    handle.seek(0, 2)
                    handle.write(b"\n")
                else:
                    log.warning("%s:%d: dropped a torn last line left by an interrupted run", path, number)
                    handle.truncate(offset)
        elif not whole:
            log.warning("%s:%d: ignoring a torn last line", path, number)
    yield from parsed


def _parse_line(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError:
        raise DataError(f"{path}:{number}: not UTF-8 text (save the file as UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{number}: not valid JSON ({exc.msg}); fix or delete that line") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}:{number}: expected a JSON object per line, got {type(obj).__name__}")
    return obj


def read_records(path: Path, cls: type[R], *, repair: bool = False) -> list[R]:
    """Every record of a JSONL file as dataclass `cls` (errors name file, line and field)."""
    return [from_json(cls, obj, f"{path}:{number}") for number, obj in read_jsonl(path, repair=repair)]


class RecordStore(Generic[R]):
    """An append-only JSONL file of records, keyed so a re-run skips finished units.

    A key that appears twice keeps its first record: a re-run never duplicates a unit, and a
    record once written is never rewritten.
    """

    def __init__(self, path: Path, cls: type[R], key: Callable[[R], str]):
        self.path = Path(path)
        self.cls = cls
        self._key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, R] = {}
        for record in read_records(self.path, cls, repair=True):
            self.records.setdefault(key(record), record)
        self._fd: int | None = None

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> R | None:
        return self.records.get(key)

    def append(self, record: R) -> bool:
        """Write one record durably (to the OS) unless its key is already stored."""
        key = self._key(record)
        if key in self.records:
            return False
        line = (to_json(record) + "\n").encode("utf-8")
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.records[key] = record
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RecordStore[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append_shared(path: Path, line: str, *, unless: str | None = None) -> bool:
    """Append one JSON line to a file that several writers (processes, or threads of one
    server) share, such as the dashboard's votes; False where `unless` (a unique id's JSON text)
    is already in the file, so a request sent twice is stored once.

    Under an exclusive flock on the file: a torn last line (a writer killed mid-write) is cut
    first, as a store's repair does, so the new line never joins it; then one os.write of the
    whole line, fsynced before the lock is released, so an acknowledged line survives a crash.
    """
    path = Path(path)
    new_folder = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        existing = _whole_lines(fd, path)
        if unless is not None and unless.encode("utf-8") in existing:
            return False
        if not existing:  # a new file: its name must outlive a crash as its lines do
            fsync_dir(path.parent)
            if new_folder:
                fsync_dir(path.parent.parent)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            # Not acknowledged, so not stored: a caller that retries must not find half of it.
            os.ftruncate(fd, len(existing))
            raise
        return True
    finally:
        os.close(fd)  # releases the lock


def _whole_lines(fd: int, path: Path) -> bytes:
    """The file's whole lines: a torn last line is truncated, a whole one missing only its
    newline gets it back (as `read_jsonl`'s repair does)."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    end = data.rfind(b"\n") + 1
    if end < len(data):
        try:
            whole = isinstance(json.loads(data[end:]), dict)  # an editor dropped the newline
        except ValueError:
            whole = False
        if whole:
            os.write(fd, b"\n")
            return data + b"\n"
        log.warning("%s: dropped a torn last line left by an interrupted writer", path)
        os.ftruncate(fd, end)
        data = data[:end]
    return data


def fsync_dir(folder: Path) -> None:
    """Make a new name or a rename in `folder` durable (best effort: not every file system
    allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; these are ordinary outputs
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_records_atomic(path: Path, records: Iterable[Any]) -> None:
    write_atomic(path, "".join(to_json(r) + "\n" for r in records))


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays reach summaries from the rating code.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
