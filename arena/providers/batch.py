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
from arena.providers.batch_apis import ENVELOPE_BYTES, BatchApi, BatchState, Results, batch_api
from arena.providers.batch_journal import BatchJournal, Submission
from arena.providers.cache import cache_key

log = logging.getLogger(__name__)


#: How long a look at a running batch keeps retrying an unreachable API before the stage stops.
LOOK_PATIENCE_S = 900.0


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
        self.sent: set[str] = set()  # tags of the submissions this run sent

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
        shown: dict[str, tuple[Any, ...]] = {}
        while active:
            again: list[str] = []
            for sub in list(active):
                state = self._look(sub)
                seen = (state.status, state.done, state.failed)
                if shown.get(sub.tag) != seen:
                    shown[sub.tag] = seen
                    log.info("%s: batch %s %s: %d of %d answered, %d failed", self.name, sub.batch, state.status,
                             state.done, state.total or len(sub.ids), state.failed)
                if state.ended:
                    active.remove(sub)
                    again += self._collect(sub, state, waiting, report)
            if again:
                active += self._submit(again, request_of, report)
            if not active:
                break
            if not self.wait:
                self.pending += sum(len(waiting[k]) for s in active for k in s.ids if k in waiting)
                log.info("%s: %d requests wait in %d batches (%s); run again to collect them", self.name, self.pending,
                         len(active), ", ".join(str(s.batch) for s in active))
                return
            time.sleep(self.client.batch_poll_s)

    def _collect(self, sub: Submission, state: BatchState, waiting: dict[str, list[int]], report: Any) -> list[str]:
        """An ended batch: write its answers, report them, and return the requests to send again
        (those without an answer, while their misses are within batch_retries)."""
        if state.failure is not None or state.status == "lost":
            results = Results([])
            if state.failure is not None and not state.failure_retry:  # refused whole: its input is at fault
                self.journal.ended(sub.tag, state.status, {}, len(sub.ids))
                failed = [k for k in sub.ids if k in waiting]
                for key in failed:
                    report(key, CallFailed(f"{self.name}: batch {sub.batch} failed: {state.failure}"))
                if failed:
                    self.journal.gave_up(failed)
                return []
        else:
            results = self._call(lambda: self.api.results(str(sub.batch), state), f"the results of batch {sub.batch}")
        ours = set(sub.ids)
        answers = {row.custom_id: row.response for row in results.rows if row.response is not None and row.custom_id in ours}
        errors = {row.custom_id: row for row in results.rows if row.response is None and row.custom_id in ours}
        self.journal.ended(sub.tag, state.status, answers, len(sub.ids) - len(answers))  # type: ignore[arg-type]
        if results.malformed:
            log.warning("%s: batch %s: %d result lines could not be read; their requests go out again",
                        self.name, sub.batch, results.malformed)
        again: list[str] = []
        failed: list[str] = []
        for key in sub.ids:
            if key not in waiting:
                continue
            answer = answers.get(key)
            if answer is not None:
                report(key, answer)
                continue
            row = errors.get(key)
            why = row.error if row is not None else (
                f"{self.name}: batch {sub.batch} {state.failure or state.status}: no result for the request")
            misses = self.journal.misses.get(key, 1)
            if (row is None or row.retry) and misses <= self.client.batch_retries:
                again.append(key)
                continue
            failed.append(key)
            report(key, CallFailed(f"{why} (after {misses} batches)" if row is None or row.retry else str(why)))
        if failed:
            self.journal.gave_up(failed)
        if again:
            log.info("%s: batch %s: %d requests errored, expired, cancelled or unreadable; sending them again",
                     self.name, sub.batch, len(again))
        return again

    def _known_batches(self) -> set[str]:
        """Every batch id the run folder's journals name (other stages and models included): a
        batch found by its size must be none of those."""
        known = set(self.journal.batch_ids())
        for path in self.journal.path.parent.glob("*.jsonl"):
            if path != self.journal.path:
                try:
                    known |= set(BatchJournal.open(path).batch_ids())
                except ArenaError:
                    continue
        return known

    def _recover_unrecorded(self, waiting: dict[str, list[int]]) -> None:
        """Submissions sent but whose batch id never reached the journal (the process died as the
        API answered): found by their tag, or released to be sent again."""
        lost = [s for s in self.journal.submissions.values() if s.open and not s.batch and not waiting.keys().isdisjoint(s.ids)]
        if not lost:
            return
        known = self._known_batches()
        for sub in lost:
            found = self._find(sub, known)
            if found:
                log.info("%s: found batch %s, submitted by a run that stopped before writing its id down", self.name, found)
                self.journal.submitted(sub.tag, found)
                known.add(found)
            else:
                self.journal.unsent(sub.tag)

    def _find(self, sub: Submission, known: set[str]) -> str | None:
        return self._call(lambda: self.api.find(sub.tag, len(sub.ids), sub.since, known), "the list of batches")

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
                batch_id = self._create(sub, [item for _, item in chunk])
            except CallFailed as exc:
                self.journal.unsent(tag)
                for key, _ in chunk:
                    report(key, exc)
                continue
            self.journal.submitted(tag, batch_id)
            self.sent.add(tag)
            self.used.append(batch_id)
            log.info("%s: submitted batch %s (%d requests); stopping now is safe: the next run polls it",
                     self.name, batch_id, len(chunk))
            sent.append(sub)
        return sent

    def _create(self, sub: Submission, items: list[Any]) -> str:
        """Create the batch. A create that failed in transit (a timeout, a dropped connection, a
        5xx) may have reached the API: before sending it again, look for it by its tag, so one
        submission never becomes two paid batches."""
        attempt = 0
        known: set[str] | None = None
        while True:
            try:
                return self.api.submit(items, sub.tag)
            except TransientError as exc:
                if attempt >= self.client.max_retries:
                    raise BatchLookFailed(
                        f"{self.name}: could not create a batch after {attempt + 1} attempts ({exc}); every batch sent "
                        f"is recorded in {self.journal.path}: run again to carry on"
                    ) from None
                attempt += 1
                self._pause(exc, attempt)
                known = known if known is not None else self._known_batches()
                found = self._find(sub, known)
                if found:
                    return found

    def _look(self, sub: Submission) -> BatchState:
        if sub.batch not in self.used:
            self.used.append(str(sub.batch))
        try:
            return self._call(lambda: self.api.state(str(sub.batch)), f"batch {sub.batch}", patience_s=LOOK_PATIENCE_S)
        except BatchLookFailed as exc:
            if getattr(exc.__cause__, "status", None) != 404:
                raise
            if sub.tag not in self.sent:
                # Submitted by an earlier run, unknown now: most likely another key or endpoint
                # than the one it went to. Sending it again would pay twice while it runs there.
                raise BatchLookFailed(
                    f"{self.name}: batch {sub.batch}, submitted by an earlier run, is not known to the API at this "
                    f"endpoint with this key (404); run with the key and client.base_url it was sent with, or move "
                    f"{self.journal.path} away to send this stage's unanswered requests again"
                ) from None
            log.warning("%s: batch %s, just submitted, is not known to the API (404); sending its requests again",
                        self.name, sub.batch)
            return BatchState(str(sub.batch), "lost", True)

    def _call(self, fn: Any, what: str, *, patience_s: float = 0.0) -> Any:
        """A batch call with the retry policy for its transient faults: up to max_retries
        retries, and for `patience_s` at least (a look at a batch that runs for hours may wait out
        an outage), with backoff capped at the poll interval. A CallFailed stops the stage with
        BatchLookFailed; the journal keeps every batch for the next run."""
        attempt = 0
        start = time.monotonic()
        while True:
            try:
                return fn()
            except TransientError as exc:
                if attempt >= self.client.max_retries and time.monotonic() - start >= patience_s:
                    raise BatchLookFailed(
                        f"{self.name}: could not reach {what} after {attempt + 1} attempts ({exc}); every batch sent "
                        f"is recorded in {self.journal.path}: run again to carry on"
                    ) from None
                attempt += 1
                self._pause(exc, attempt)
            except CallFailed as exc:
                raise BatchLookFailed(f"{exc}; the batches are recorded in {self.journal.path}: run again to carry on") from exc

    def _pause(self, exc: TransientError, attempt: int) -> None:
        hint = exc.retry_after if exc.retry_after is not None else min(60.0, 2.0 ** attempt) * (0.5 + random.random() / 2)
        time.sleep(min(hint, self.client.batch_poll_s))


def batching(provider: Provider, cfg: Any, config: RunConfig, journal: Path) -> BatchProvider | None:
    """The batch wrapper of `provider` where the config asks for batches (never in a dry run,
    whose simulator has no batch API)."""
    if config.dry_run or not getattr(cfg.client, "batch", False) or cfg.provider == "simulated":
        return None
    return BatchProvider(provider, journal, wait=not config.no_wait)
