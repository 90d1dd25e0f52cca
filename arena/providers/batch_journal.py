"""The run folder's record of batch jobs, so a batch is never submitted twice and a result never
paid twice: `<run>/batches/<stage>-<name>.jsonl`, one JSON object per line, appended.

- `{"e": "submit", "tag", "api", "ids", "t"}`: written (and fsynced) before the batch is sent;
  `ids` are the requests' custom ids (the response cache's keys of the requests).
- `{"e": "batch", "tag", "id"}`: the id the API gave it, fsynced before any polling.
- `{"e": "unsent", "tag"}`: the API refused it, or it was never found: its requests are free.
- result lines, the response cache's own entry format (`{"k": custom id, ...}`): each answer
  downloaded, written as soon as the results are read, before the stage is told.
- `{"e": "end", "tag", "status", "done", "failed"}`: every result of the batch is written above;
  each of its requests without an answer counts one miss.
- `{"e": "gave_up", "ids"}`: those requests failed for good (misses past `batch_retries`, or a
  refusal); a later run starts their count afresh, as it retries failed real-time calls.

The misses carry over between runs, so `--no-wait` runs that each collect one batch still stop
resubmitting a request after `batch_retries`.

A run that stops anywhere (killed, Ctrl-C, a laptop asleep past its window) finds here which
batches to poll again, which answers it already has, and which submissions it sent but did not
hear back from (the tag lets the API's list find those). A torn last line (a killed writer) is cut
off before the next append; nothing before it is touched.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.providers.base import ChatResponse
from arena.providers.cache import _HEAD, decode_entry, encode_entry
from arena.store import fsync_dir


@dataclass
class Submission:
    tag: str
    api: str
    ids: list[str]
    since: float
    batch: str | None = None
    ended: bool = False
    status: str | None = None
    unsent: bool = False

    @property
    def open(self) -> bool:
        return not self.ended and not self.unsent


@dataclass
class BatchJournal:
    path: Path
    submissions: dict[str, Submission] = field(default_factory=dict)
    results: dict[str, ChatResponse] = field(default_factory=dict)
    #: Batches that ended without a request's answer, since it last failed for good.
    misses: dict[str, int] = field(default_factory=dict)
    _fd: int | None = None

    @classmethod
    def open(cls, path: Path) -> BatchJournal:
        journal = cls(Path(path))
        journal._read()
        return journal

    def _read(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read the batch journal ({exc.strerror or exc})") from None
        end = data.rfind(b"\n") + 1
        for number, line in enumerate(data[:end].split(b"\n")[:-1], 1):
            if not line.strip():
                continue
            if line.startswith(_HEAD):
                response = decode_entry(line)
                if response is not None:
                    self.results[line[len(_HEAD):len(_HEAD) + 64].decode("ascii", "replace")] = response
                continue
            try:
                event = json.loads(line)
                self._apply(event)
            except (ValueError, KeyError, TypeError):
                raise DataError(f"{self.path}: line {number}: not a batch journal entry; move the file away to "
                                "start the stage's batches afresh (batches it names are then submitted again)") from None

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["e"]
        if kind == "submit":
            self.submissions[event["tag"]] = Submission(
                str(event["tag"]), str(event["api"]), [str(i) for i in event["ids"]], float(event["t"]))
            return
        if kind == "gave_up":
            for key in event["ids"]:
                self.misses.pop(str(key), None)
            return
        sub = self.submissions[event["tag"]]
        if kind == "batch":
            sub.batch = str(event["id"])
        elif kind == "unsent":
            sub.unsent = True
        elif kind == "end":
            sub.ended, sub.status = True, str(event.get("status"))
            for key in sub.ids:
                if key not in self.results:
                    self.misses[key] = self.misses.get(key, 0) + 1
        else:
            raise KeyError(kind)

    # -- writing ------------------------------------------------------------------------------
    def _write(self, data: bytes, *, sync: bool) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            if created:
                fsync_dir(self.path.parent)  # the journal must outlive a crash as its batches do
            _cut_torn_tail(self._fd)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if sync:
            os.fsync(self._fd)

    def _event(self, event: dict[str, Any], *, sync: bool = True) -> None:
        self._write(json.dumps(event, separators=(",", ":")).encode("utf-8") + b"\n", sync=sync)
        self._apply(event)

    def submitting(self, tag: str, api: str, ids: list[str]) -> Submission:
        self._event({"e": "submit", "tag": tag, "api": api, "ids": ids, "t": time.time()})
        return self.submissions[tag]

    def submitted(self, tag: str, batch_id: str) -> None:
        self._event({"e": "batch", "tag": tag, "id": batch_id})

    def unsent(self, tag: str) -> None:
        self._event({"e": "unsent", "tag": tag})

    def ended(self, tag: str, status: str, answers: dict[str, ChatResponse], failed: int) -> None:
        """The answers of a batch, then its end: one write, one fsync."""
        lines = [encode_entry(key, response) for key, response in answers.items()]
        end = {"e": "end", "tag": tag, "status": status, "done": len(answers), "failed": failed}
        self._write(b"".join(lines) + json.dumps(end, separators=(",", ":")).encode("utf-8") + b"\n", sync=True)
        self.results.update(answers)
        self._apply(end)

    def gave_up(self, ids: list[str]) -> None:
        self._event({"e": "gave_up", "ids": ids})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- reading ------------------------------------------------------------------------------
    def batch_ids(self) -> list[str]:
        return [s.batch for s in self.submissions.values() if s.batch]


def _cut_torn_tail(fd: int, chunk: int = 1 << 16) -> None:
    """Cut a last line without its newline (a killed writer's), however long: the next line then
    starts on its own and nothing before it is touched."""
    size = os.fstat(fd).st_size
    if not size:
        return
    os.lseek(fd, size - 1, os.SEEK_SET)
    if os.read(fd, 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - chunk)
        os.lseek(fd, start, os.SEEK_SET)
        block = os.read(fd, end - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)
