"""`client.batch: true`: a stage's calls go out as batch jobs (half price, results within 24 h)
instead of one request each.

`BatchProvider` wraps an OpenAI(-compatible) or Anthropic provider and replaces its `run_batch`;
the stages, the response cache and the re-ask loop are the same as for real-time calls. Each
request's custom id is its response-cache key, so one id names one question to one model:

1. Answers already downloaded by an earlier run (the journal, arena.providers.batch_journal) are
   reported at once; requests held by a batch that an earlier run submitted are polled there.
2. The rest are split at the API's limits (requests and bytes per batch) and submitted, each
   submission written to the journal before it is sent and its id right after, before polling.
3. Every `batch_poll_s` each open batch is looked at; its state and counts are logged when they
   change. An ended batch's results are written to the journal, then reported (the stage records
   them in its file and the cache). Requests that came back errored (429/5xx), expired or
   cancelled, or whose result line was unreadable or missing, go out again in a new batch, up to
   `batch_retries` times; then, and for refusals (4xx), they fail as real-time calls do.

With `wait=False` (`run_arena --no-wait`) it submits, collects what has ended, and returns with
the rest unreported (`pending`); the stage then stops with BatchesPending and the next run
collects. Faults of the batch calls themselves (429, 5xx, dropped connections) are retried with
backoff, never more than `batch_poll_s` apart.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from arena.config import RunConfig
from arena.errors import ArenaError
from arena.providers.base import (
    CallFailed,
    ChatRequest,
    ChatResponse,
    OnResult,
    Provider,
    TransientError,
)
from arena.providers.batch_apis import ENVELOPE_BYTES, BatchApi, BatchState, batch_api
from arena.providers.batch_journal import BatchJournal, Submission
from arena.providers.cache import cache_key

log = logging.getLogger(__name__)


class BatchLookFailed(ArenaError):
    """A batch could not be looked at (its API kept failing); the journal keeps it for the next run."""

    exit_code = 1


class BatchProvider(Provider):
    """`inner`'s calls, by batch. Not a real-time provider: `complete` is not used."""

    def __init__(self, inner: Provider, journal: Path, *, wait: bool = True, api: BatchApi | None = None):
        self.inner = inner
        self.name = inner.name
        self.cache_identity = inner.cache_identity
        self.client = inner.client  # type: ignore[attr-defined]
        self.api = api or batch_api(inner)
        self.journal = BatchJournal.open(journal)
        self.wait = wait
        #: Requests still in batches when a no-wait run returned.
        self.pending = 0
        #: Answers that came by batch (downloaded now, or by an earlier run and not yet recorded).
        self.answered = 0
        #: Batches this run submitted or looked at.
        self.used: list[str] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise CallFailed(f"{self.name}: batched calls run through run_batch")

    def close(self) -> None:
        self.journal.close()

    # -- the run ------------------------------------------------------------------------------
    def run_batch(self, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
        waiting: dict[str, list[int]] = defaultdict(list)  # custom id -> indexes asking it
        request_of: dict[str, ChatRequest] = {}
        for index, request in enumerate(requests):
            key = cache_key(self.cache_identity, request)
            waiting[key].append(index)
            request_of.setdefault(key, request)

        def report(key: str, result: ChatResponse | CallFailed) -> None:
            if isinstance(result, ChatResponse):
                self.answered += len(waiting[key])
            for index in waiting.pop(key, []):
                on_result(index, result)

        for key in [k for k in waiting if k in self.journal.results]:
            report(key, replace(self.journal.results[key], cached=False, batch=True, latency_s=0.0))
        self._recover_unrecorded(waiting)
        active = [s for s in self.journal.submissions.values() if s.open and s.batch and not waiting.keys().isdisjoint(s.ids)]
        held = {key for s in active for key in s.ids}
        active += self._submit([k for k in waiting if k not in held], request_of, report)
        tries: dict[str, int] = defaultdict(int)
        shown: dict[str, tuple[Any, ...]] = {}
        while active:
            again: list[str] = []
            for sub in list(active):
                state = self._look(sub)
                if state is None:  # gone: the API no longer knows it
                    active.remove(sub)
                    again += [k for k in sub.ids if k in waiting]
                    continue
                seen = (state.status, state.done, state.failed)
                if shown.get(sub.tag) != seen:
                    shown[sub.tag] = seen
                    log.info("%s: batch %s %s: %d of %d answered, %d failed", self.name, sub.batch, state.status,
                             state.done, state.total or len(sub.ids), state.failed)
                if state.ended:
                    active.remove(sub)
                    again += self._collect(sub, state, waiting, report, tries)
            if again:
                active += self._submit(again, request_of, report)
            if not active:
                break
            if not self.wait:
                self.pending += sum(1 for s in active for k in s.ids if k in waiting for _ in waiting[k])
                log.info("%s: %d requests wait in %d batches (%s); run again to collect them", self.name, self.pending,
                         len(active), ", ".join(str(s.batch) for s in active))
                return
            time.sleep(self.client.batch_poll_s)

    def _collect(self, sub: Submission, state: BatchState, waiting: dict[str, list[int]], report: Any,
                 tries: dict[str, int]) -> list[str]:
        """An ended batch: write its answers, report them, and return the requests to send again."""
        if state.failure is not None:  # refused whole (its input did not validate)
            self.journal.ended(sub.tag, state.status, {}, len(sub.ids))
            for key in sub.ids:
                if key in waiting:
                    report(key, CallFailed(f"{self.name}: batch {sub.batch} failed: {state.failure}"))
            return []
        results = self._call(lambda: self.api.results(str(sub.batch), state), f"the results of batch {sub.batch}")
        answers = {row.custom_id: row.response for row in results.rows if row.response is not None}
        ours = set(sub.ids)
        answers = {k: v for k, v in answers.items() if k in ours}
        errors = {row.custom_id: row for row in results.rows if row.response is None and row.custom_id in ours}
        self.journal.ended(sub.tag, state.status, answers, len(sub.ids) - len(answers))  # type: ignore[arg-type]
        if results.malformed:
            log.warning("%s: batch %s: %d result lines could not be read; their requests go out again",
                        self.name, sub.batch, results.malformed)
        again: list[str] = []
        for key in sub.ids:
            if key not in waiting:
                continue
            answer = answers.get(key)
            if answer is not None:
                report(key, answer)
                continue
            row = errors.get(key)
            why = row.error if row is not None else f"{self.name}: no result for the request in batch {sub.batch} ({state.status})"
            if (row is None or row.retry) and tries[key] < self.client.batch_retries:
                tries[key] += 1
                again.append(key)
            else:
                tail = f" (after {tries[key] + 1} batches)" if row is None or row.retry else ""
                report(key, CallFailed(f"{why}{tail}"))
        if again:
            log.info("%s: batch %s: %d requests errored, expired, cancelled or unreadable; sending them again",
                     self.name, sub.batch, len(again))
        return again

    def _recover_unrecorded(self, waiting: dict[str, list[int]]) -> None:
        """Submissions sent but whose batch id never reached the journal (the process died as the
        API answered): found by their tag, or released to be sent again."""
        known = set(self.journal.batch_ids())
        for sub in list(self.journal.submissions.values()):
            if not sub.open or sub.batch or waiting.keys().isdisjoint(sub.ids):
                continue
            found = self._call(lambda sub=sub: self.api.find(sub.tag, len(sub.ids), sub.since, known),
                               "the list of batches")
            if found:
                log.info("%s: found batch %s, submitted by a run that stopped before writing its id down", self.name, found)
                self.journal.submitted(sub.tag, found)
                known.add(found)
            else:
                self.journal.unsent(sub.tag)

    def _submit(self, keys: list[str], request_of: dict[str, ChatRequest], report: Any) -> list[Submission]:
        """Send `keys` in as few batches as the API's limits allow; the submissions sent."""
        if not keys:
            return []
        max_requests, max_bytes = self.api.limits
        room = max_bytes - ENVELOPE_BYTES
        chunks: list[list[tuple[str, Any]]] = [[]]
        size = 0
        for key in keys:
            try:
                item, nbytes = self.api.encode(key, request_of[key])
            except CallFailed as exc:
                report(key, exc)
                continue
            if nbytes > room:
                report(key, CallFailed(f"{self.name}: a request of {nbytes} bytes is over the batch limit of {max_bytes}"))
                continue
            if len(chunks[-1]) >= max_requests or size + nbytes > room:
                chunks.append([])
                size = 0
            chunks[-1].append((key, item))
            size += nbytes
        sent = []
        for chunk in chunks:
            if not chunk:
                continue
            tag = f"arena-{secrets.token_hex(8)}"
            sub = self.journal.submitting(tag, self.api.api, [key for key, _ in chunk])
            try:
                batch_id = self._call(lambda chunk=chunk, tag=tag: self.api.submit([item for _, item in chunk], tag),
                                      f"a batch of {len(chunk)} requests", raise_failed=False)
            except CallFailed as exc:
                self.journal.unsent(tag)
                for key, _ in chunk:
                    report(key, exc)
                continue
            self.journal.submitted(tag, batch_id)
            self.used.append(batch_id)
            log.info("%s: submitted batch %s (%d requests); stopping now is safe: the next run polls it",
                     self.name, batch_id, len(chunk))
            sent.append(sub)
        return sent

    def _look(self, sub: Submission) -> BatchState | None:
        if sub.batch not in self.used:
            self.used.append(str(sub.batch))
        try:
            return self._call(lambda: self.api.state(str(sub.batch)), f"batch {sub.batch}")
        except BatchLookFailed as exc:
            if getattr(exc.__cause__, "status", None) == 404:
                log.warning("%s: batch %s is not known to the API (another account or endpoint?); sending its "
                            "requests again", self.name, sub.batch)
                self.journal.ended(sub.tag, "lost", {}, len(sub.ids))
                return None
            raise

    def _call(self, fn: Any, what: str, *, raise_failed: bool = True) -> Any:
        """A batch call with the retry policy for its transient faults (backoff capped at the
        poll interval). A CallFailed stops the stage with BatchLookFailed (or, with
        `raise_failed` off, is returned to the caller to fail the requests)."""
        attempt = 0
        while True:
            try:
                return fn()
            except TransientError as exc:
                if attempt >= self.client.max_retries:
                    raise BatchLookFailed(
                        f"{self.name}: could not reach {what} after {attempt + 1} attempts ({exc}); every batch sent "
                        f"is recorded in {self.journal.path}: run again to carry on"
                    ) from None
                attempt += 1
                hint = exc.retry_after if exc.retry_after is not None else min(60.0, 2.0 ** attempt) * (0.5 + random.random() / 2)
                time.sleep(min(hint, self.client.batch_poll_s))
            except CallFailed as exc:
                if not raise_failed:
                    raise
                raise BatchLookFailed(f"{exc}; the batches are recorded in {self.journal.path}: run again to carry on") from exc


def batching(provider: Provider, cfg: Any, config: RunConfig, journal: Path) -> BatchProvider | None:
    """The batch wrapper of `provider` where the config asks for batches (never in a dry run,
    whose simulator has no batch API)."""
    if config.dry_run or not getattr(cfg.client, "batch", False) or cfg.provider == "simulated":
        return None
    return BatchProvider(provider, journal, wait=not config.no_wait)
