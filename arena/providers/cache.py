"""A content-addressed cache of chat responses: the same question to the same model is paid once.

The key is a SHA-256 over what decides the answer: the provider kind, the model id, the endpoint
(`Provider.cache_identity`), the full messages and the sampling settings. Nothing else goes in,
so a re-run, a resumed run or a second config asking the same question of the same judge all
hit the same entry. Entries hold the response only (texts, token counts, finish reasons, the
model that answered); never a key or header.

Layout: append-only shards, `<root>/<writer>.jsonl`, one JSON object per line, the key first
(`{"k": "<64 hex>", ...}`). Each cache object that stores something owns one shard (named by pid
and a random tag, so concurrent runs sharing a folder never write the same file), opened once;
each entry is one `os.write` on an O_APPEND descriptor, not fsynced: the cache guards against
paying twice after a crash of the process (the entry reaches the OS before the caller records
the result), not against a power cut, which the records files do not survive either. A file per
entry cost ~0.3 ms of kernel time per put and left a user with 100k judge calls 100k files.

Opening the cache indexes every shard (key -> where the line is; the line is parsed only when
asked for), so the first lookup reads all shards once: ~100k entries in well under a second. A
torn last line (a killed writer) is skipped, and a key found twice (two runs asked the same
question at once) is either answer, both being paid for and equivalent.

Compaction keeps the folder from growing a shard per run forever: opening a cache that holds
more than COMPACT_ABOVE finished shards merges those into one. A writer holds an exclusive
`flock` on its shard for as long as it writes, and names it `.jsonl` only once it holds the lock,
so a shard that can be locked is finished (its writer closed it or died): only those are merged,
the merged shard is renamed into place before the originals are removed, and a reader that finds
a listed shard gone lists the folder again. (flock is advisory and local: on a network file
system that does not support it, point concurrent runs at separate cache folders.)

The previous layout, one `<root>/<2 hex>/<key>.json` file per entry, is still read (a hit in an
old cache is a hit now); new entries go to shards. Deleting those folders only costs the answers
they hold.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from arena.providers.base import (
    CallFailed,
    ChatRequest,
    ChatResponse,
    OnResult,
    Provider,
    TokenLogprobs,
)
from arena.store import fsync_dir

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("data") / "cache"
FORMAT = 1
SHARD_SUFFIX = ".jsonl"
COMPACT_ABOVE = 16  # finished shards tolerated before an open merges them
_HEAD = b'{"k":"'  # every line starts with the key at a fixed offset: indexing needs no JSON parse
_KEY_END = len(_HEAD) + 64


def cache_key(identity: tuple[str, ...], request: ChatRequest) -> str:
    """The entry's name: a hash of the provider identity, the messages and the sampling."""
    blob = json.dumps(
        {"v": FORMAT, "identity": list(identity), "messages": request.messages, "sampling": request.sampling()},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def encode_entry(key: str, response: ChatResponse) -> bytes:
    """One shard line: the key first (so the index can slice it out), then the answer."""
    entry: dict[str, Any] = {
        "k": key,
        "v": FORMAT,
        "texts": response.texts,
        "prompt_tokens": response.prompt_tokens,
        "output_tokens": response.output_tokens,
        "finish_reasons": response.finish_reasons,
        "model": response.model,
    }
    if response.token_logprobs is not None:
        entry["logprobs"] = [[t.text, [[alt, lp] for alt, lp in t.top]] for t in response.token_logprobs]
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def decode_entry(data: bytes | str) -> ChatResponse | None:
    """The response in a line or an old per-entry file; None for another format or a bad entry."""
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("v") != FORMAT or not isinstance(obj.get("texts"), list):
        return None
    return ChatResponse(
        texts=[str(t) for t in obj["texts"]],
        prompt_tokens=int(obj.get("prompt_tokens", 0)),
        output_tokens=int(obj.get("output_tokens", 0)),
        latency_s=0.0,
        finish_reasons=list(obj.get("finish_reasons", [])),
        model=str(obj.get("model", "")),
        cached=True,
        token_logprobs=_token_logprobs(obj.get("logprobs")),
    )


def _token_logprobs(value: Any) -> list[TokenLogprobs] | None:
    if not isinstance(value, list):
        return None
    try:
        return [TokenLogprobs(str(text), [(str(alt), float(lp)) for alt, lp in top]) for text, top in value]
    except (TypeError, ValueError):
        return None


def index_lines(data: bytes) -> dict[str, tuple[int, int]]:
    """key -> (offset, length) of each whole line of a shard. A last line without its newline
    is a torn write and is left out; a line that does not start with a key is skipped."""
    index: dict[str, tuple[int, int]] = {}
    offset = 0
    end = data.rfind(b"\n") + 1  # past the last whole line
    for line in data[:end].split(b"\n")[:-1]:
        # A whole entry ends its object on its line; a fragment a short write left (then ended
        # by the next entry's newline) does not, and must not hide a good copy in another shard.
        if line.startswith(_HEAD) and line[_KEY_END:_KEY_END + 1] == b'"' and line.endswith(b"}"):
            index[line[len(_HEAD):_KEY_END].decode("ascii", "replace")] = (offset, len(line))
        offset += len(line) + 1
    return index


class ResponseCache:
    """get/put by key over the shards of one folder; `close` releases the shard and descriptors."""

    def __init__(self, root: str | Path, *, read_only: bool = False):
        self.root = Path(root)
        #: Only look (`arena plan`): no merging of shards, no removal of stale temporaries, no put.
        self.read_only = read_only
        self._lock = threading.Lock()
        self._index: dict[str, tuple[int, int, int]] | None = None  # key -> (fd, offset, length)
        self._fds: list[int] = []  # shards open for reading (ours too): they outlive a compaction
        self._legacy = False  # the folder has per-entry files of the previous layout
        self._fd: int | None = None  # our shard, opened at the first put
        self._size = 0
        self._torn = False  # a write of ours failed part-way: start the next entry on a new line

    # --- reading ---------------------------------------------------------------------------------

    def _load(self) -> dict[str, tuple[int, int, int]]:
        with self._lock:
            if self._index is None:
                self._index = {}
                try:
                    names = os.listdir(self.root)
                except OSError:  # no cache yet (or not a folder: put will say so)
                    return self._index
                self._legacy = any(len(n) == 2 and (self.root / n).is_dir() for n in names)
                if not self.read_only:
                    if sum(n.endswith(SHARD_SUFFIX) for n in names) > COMPACT_ABOVE:
                        self._compact(names)
                    _remove_stale_temporaries(self.root, names)
                self._read_shards()
            return self._index

    def _read_shards(self) -> None:
        assert self._index is not None
        opened: set[str] = set()
        for _ in range(3):  # a shard merged away between listing and opening: list again
            vanished = False
            for name in sorted(os.listdir(self.root)):
                if not name.endswith(SHARD_SUFFIX) or name in opened:
                    continue
                try:
                    fd = os.open(self.root / name, os.O_RDONLY)
                except FileNotFoundError:
                    vanished = True
                    continue
                except OSError as exc:
                    log.warning("response cache %s: cannot read %s (%s); its answers will be asked again",
                                self.root, name, exc.strerror or exc)
                    continue
                opened.add(name)
                self._fds.append(fd)
                for key, (offset, length) in index_lines(_read_all(fd)).items():
                    self._index.setdefault(key, (fd, offset, length))
            if not vanished:
                return

    def get(self, key: str) -> ChatResponse | None:
        index = self._index if self._index is not None else self._load()
        where = index.get(key)
        if where is not None:
            fd, offset, length = where
            try:
                response = decode_entry(os.pread(fd, length, offset))
            except OSError:
                response = None
            if response is None:
                log.warning("response cache %s: entry %s is unreadable; asking again", self.root, key[:12])
            return response
        if self._legacy:
            return self._get_legacy(key)
        return None

    def _get_legacy(self, key: str) -> ChatResponse | None:
        path = self.root / key[:2] / f"{key}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            log.warning("cache entry %s is unreadable; asking again", path)
            return None
        response = decode_entry(data)
        if response is None:
            log.warning("cache entry %s is unreadable; asking again", path)
        return response

    # --- writing ---------------------------------------------------------------------------------

    def put(self, key: str, response: ChatResponse) -> None:
        if self.read_only:
            raise OSError(30, f"response cache {self.root} was opened read-only")
        index = self._index if self._index is not None else self._load()
        line = encode_entry(key, response)
        with self._lock:
            if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
                # Our shard was deleted (the cache folder cleared mid-run): writing on would
                # store answers no later run can find. Start a new shard where the folder is.
                self._fd = None
            if self._fd is None:
                self._open_shard()
            assert self._fd is not None
            prefix = 1 if self._torn else 0  # a failed write left part of a line: end it first
            if prefix:
                line = b"\n" + line
            offset = self._size
            try:
                written = os.write(self._fd, line)
            except OSError:
                self._torn = True  # nothing, or part, reached the file
                self._cut_back(offset)
                raise
            self._size += written
            if written < len(line):  # a full disk took part of the line: that entry is lost
                self._torn = True
                self._cut_back(offset)
                raise OSError(28, "short write to the cache shard (disk full?)")
            self._torn = False
            index[key] = (self._fd, offset + prefix, len(line) - prefix - 1)

    def _cut_back(self, size: int) -> None:
        """Drop what a failed write left past `size`: the shard is ours alone (flock), so
        truncating it is safe. Best effort: if it fails too, the next entry starts on a new line
        and the index skips the fragment."""
        try:
            os.ftruncate(self._fd, size)  # type: ignore[arg-type]
        except OSError:
            return
        self._size, self._torn = size, False

    def _open_shard(self) -> None:
        """A new shard of our own, locked before it gets its name: compaction never takes it."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        tmp = self.root / f".{name}.new"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, self.root / f"{name}{SHARD_SUFFIX}")
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._fd, self._size = fd, 0
        self._fds.append(fd)

    def close(self) -> None:
        """Close every descriptor (our shard's unlock goes with it); a later call reopens."""
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds, self._fd, self._index = [], None, None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- compaction ------------------------------------------------------------------------------

    def _compact(self, names: list[str]) -> None:
        """Merge every finished shard (one we can lock) into one new shard; best effort."""
        held: list[tuple[int, Path]] = []
        try:
            for name in names:
                if not name.endswith(SHARD_SUFFIX):
                    continue
                path = self.root / name
                try:
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    same = os.fstat(fd).st_ino == os.stat(path).st_ino  # not merged away meanwhile
                except OSError:  # a writer holds it (or it is gone)
                    same = False
                if not same:
                    os.close(fd)
                    continue
                held.append((fd, path))
            if len(held) < 2:
                return
            lines: dict[bytes, bytes] = {}
            for fd, _ in held:
                data = _read_all(fd)
                for key, (offset, length) in index_lines(data).items():
                    lines.setdefault(key.encode(), data[offset:offset + length + 1])
            merged = f"{os.getpid()}-{secrets.token_hex(6)}"
            tmp = self.root / f".{merged}.new"
            try:
                with open(tmp, "wb") as out:
                    out.writelines(lines.values())
                    # The originals go next: the merged copy must be on disk first, or a power
                    # cut could lose answers that had been safely stored.
                    out.flush()
                    os.fsync(out.fileno())
                os.rename(tmp, self.root / f"{merged}{SHARD_SUFFIX}")
                fsync_dir(self.root)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            for _, path in held:
                path.unlink(missing_ok=True)
            log.info("response cache %s: merged %d shards into one (%d entries)", self.root, len(held), len(lines))
        except OSError as exc:
            log.warning("response cache %s: could not merge shards (%s); they stay as they are",
                        self.root, exc.strerror or exc)
        finally:
            for fd, _ in held:
                os.close(fd)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(size - offset, 1 << 16), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def run_batch_cached(
    provider: Provider, requests: list[ChatRequest], on_result: OnResult, cache: ResponseCache | None, *, progress: Any = None
) -> None:
    """`provider.run_batch` with the cache in front: hits are reported at once (cached=True),
    misses go to the provider and are stored before they are reported, so a crash after the
    caller's record was lost still finds the answer here instead of paying again."""
    if cache is None or not provider.cache_identity:
        provider.run_batch(requests, on_result, progress=progress)
        return
    misses: list[tuple[int, str]] = []
    for index, request in enumerate(requests):
        key = cache_key(provider.cache_identity, request)
        hit = cache.get(key)
        if hit is None:
            misses.append((index, key))
        else:
            on_result(index, hit)
    if not misses:
        return

    warned: list[bool] = []

    def store_then_report(j: int, result: ChatResponse | CallFailed) -> None:
        index, key = misses[j]
        if isinstance(result, ChatResponse):
            try:
                cache.put(key, result)
            except OSError as exc:
                # The answer is paid for: record it anyway; only a re-run's saving is lost.
                if not warned:
                    log.warning("response cache %s: cannot store answers (%s); results are kept in the run folder, "
                                "but a re-run will pay for them again", cache.root, exc.strerror or exc)
                    warned.append(True)
        on_result(index, result)

    provider.run_batch([requests[i] for i, _ in misses], store_then_report, progress=progress)


# A merge or a shard's naming takes well under a second; a temporary this old was left by a
# process killed in between (a merge's can be as big as the cache).
STALE_TEMPORARY_S = 3600.0


def _remove_stale_temporaries(root: Path, names: list[str]) -> None:
    now = time.time()
    for name in names:
        if name.startswith(".") and name.endswith(".new"):
            path = root / name
            try:
                if now - path.stat().st_mtime > STALE_TEMPORARY_S:
                    path.unlink()
            except OSError:
                continue


