"""A loopback fake of OpenAI's Batch API and Anthropic's Message Batches API on 127.0.0.1, beside
the fault server's real-time routes (POST /v1/chat/completions, POST /v1/messages), which it
keeps with the very same answers: a test can judge once in real time and once by batch against
one server and compare.

A batched request's answer is exactly the body the real-time route returns for the same request
body without a fault (`answer_body`: same text, usage, model name with the plan's snapshot,
logprobs when the body asks), so a batch run and a real-time run agree call for call.

OpenAI (SDK base_url `http://127.0.0.1:PORT/v1`):
  POST /v1/files                   multipart upload -> FileObject ("file-...", status "processed")
  GET  /v1/files/{id}              FileObject;  GET /v1/files/{id}/content: the raw bytes
  DELETE /v1/files/{id}            FileDeleted
  POST /v1/batches                 {input_file_id, endpoint, completion_window "24h", metadata?}
                                   -> Batch "validating"; a bad input file is a 400 at once
  GET  /v1/batches/{id}            one step per call: in_progress ... finalizing, then completed
  POST /v1/batches/{id}/cancel     -> "cancelling"; the next retrieve -> "cancelled"
  GET  /v1/batches                 newest first, `limit` and `after`
Anthropic (SDK base_url `http://127.0.0.1:PORT`):
  POST /v1/messages/batches        {requests: [{custom_id, params}]} -> MessageBatch "in_progress"
  GET  /v1/messages/batches/{id}   "in_progress" ... then "ended" with results_url (a full URL)
  GET  /v1/messages/batches/{id}/results   JSONL, one {"custom_id", "result"} per request
  POST /v1/messages/batches/{id}/cancel    -> "canceling"; the next retrieve -> "ended"
  GET  /v1/messages/batches        newest first, `limit`, `after_id`, `before_id`
GET /stats adds a "batch" object to the fault server's counters.

Progress: a batch ends on retrieve number `polls_to_finish + 1` (GET of the batch; the Anthropic
SDK's `results()` retrieves once too); the retrieves before show it unfinished (OpenAI:
"in_progress", the last of them "finalizing" when there are two or more). Answers are computed
in a background thread from creation on; the retrieve that ends the batch waits for them. A cancelled batch keeps the answers of the share of its requests that its
retrieves so far had reached (`polls / (polls_to_finish + 1)`, in input order); the rest are
cancelled. OpenAI's request_counts: completed = answered, failed = everything else (request
errors, expired, cancelled), so they add up to total once the batch has ended.

Faults (`BatchPlan`, all off by default):
  expire_batches        creation ordinals (1-based, counted over both APIs together) of batches
                        that expire with only the first `expire_done_fraction` of their requests
                        done; OpenAI: status "expired", the rest in the error file with code
                        "batch_expired"; Anthropic: "ended", the rest of type "expired"
  request_error_rate    share of custom_ids (a hash of seed and custom_id) whose request fails
                        with a 500-style error on its FIRST submission only (counted at batch
                        creation over all batches of both APIs), so a resubmission succeeds
  retrieve_500          so many retrieves (of either API) answer 500 first, a global countdown
  shuffle_output        output / results rows in a seeded shuffled order (input order otherwise)
  malformed_rows        so many rows of each OpenAI output file and Anthropic results file are
                        torn in half (not JSON; their answers are lost), among requests on their
                        first submission only, so a resubmission reads whole. Error files stay whole.
A request for model "reject-me" always errs as a 401 (authentication_error), echoing the key
like the real-time route. The real limits per batch are the defaults (`max_requests`,
`max_bytes` None): OpenAI 50,000 requests and 200 MB of input file, Anthropic 100,000 requests
and 256 MB of request body (decimal megabytes, the stricter reading); over either is a 400. The
OpenAI input must ask one model, as the real API requires.

Run standalone (a benchmark does, to keep it off the client's core):
    python -m tests.providers.batch_server [--port N] [--polls-to-finish K]
prints `PORT <n>` and serves until killed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.providers.fault_server import (
    FaultServer,
    Handler,
    Plan,
    Stats,
    _anthropic_message,
    _openai_completion,
    _unit,
    openai_logprobs,
    request_key,
    verdict_text,
)

ENDPOINT = "/v1/chat/completions"
#: The real APIs' limits per batch: requests, and bytes (OpenAI: input file; Anthropic: body).
REAL_LIMITS = {"openai": (50_000, 200_000_000), "anthropic": (100_000, 256_000_000)}
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
WINDOW_S = 24 * 3600
ENDED = ("completed", "expired", "cancelled")
#: Our phase -> Anthropic's processing_status.
ANTHROPIC_STATUS = {"in_progress": "in_progress", "finalizing": "in_progress", "cancelling": "canceling",
                    "completed": "ended", "expired": "ended", "cancelled": "ended"}
OPENAI_TIMES = ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
                "cancelling_at", "cancelled_at")
#: Why a request was not run, as OpenAI's error file and Anthropic's result type say it.
NOT_RUN = {
    "expired": ("batch_expired", "This request could not be executed before the completion window expired.", "expired"),
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled.", "canceled"),
}


@dataclass
class BatchPlan:
    seed: int = 0
    #: Retrieves that still see a batch unfinished; the next one ends it.
    polls_to_finish: int = 2
    expire_batches: frozenset[int] = frozenset()  # creation ordinals over both APIs, from 1
    expire_done_fraction: float = 0.5
    request_error_rate: float = 0.0
    retrieve_500: int = 0
    shuffle_output: bool = False
    malformed_rows: int = 0
    max_requests: int | None = None  # None: the real API's limit (REAL_LIMITS)
    max_bytes: int | None = None


@dataclass
class BatchStats(Stats):
    """The fault server's real-time counters, and the batch routes' ones."""

    batches_created: int = 0
    batches_by_api: Counter = field(default_factory=Counter)  # "openai" / "anthropic" -> created
    ended: Counter = field(default_factory=Counter)  # "completed" / "expired" / "cancelled" -> batches
    submissions: Counter = field(default_factory=Counter)  # custom_id -> batches it was submitted in
    retrieves: int = 0  # GETs of one batch, the 500s among them
    retrieve_500s: int = 0
    files_uploaded: int = 0
    result_downloads: int = 0  # OpenAI output/error file contents and Anthropic results fetched
    request_errors: int = 0  # request-level error rows written (500s, reject-me 401s, bad bodies)
    #: request_key -> answers written into results, torn rows included: what was paid for.
    batch_answered: Counter = field(default_factory=Counter)
    malformed_custom_ids: list = field(default_factory=list)  # whose row was torn


def judge_messages(body: dict[str, Any], *, anthropic: bool) -> list[dict[str, Any]]:
    """The conversation the judge reads: the messages, after Anthropic's `system` when given."""
    messages = list(body.get("messages", []))
    if anthropic and body.get("system"):
        messages = [{"role": "system", "content": body["system"]}, *messages]
    return messages


def answer_body(plan: Plan, body: dict[str, Any], *, anthropic: bool, auth: str) -> dict[str, Any]:
    """The body the real-time route answers to request `body` (plain JSON, no fault): the same
    text, usage and model name for a batched request as for a real-time one."""
    messages = judge_messages(body, anthropic=anthropic)
    model = str(body.get("model", ""))
    text = verdict_text(messages, reask=sum(m["role"] == "user" for m in messages) > 1)
    first_user = next((str(m["content"]) for m in messages if m["role"] == "user"), "")
    if plan.verdictless_rate > 0 and _unit(plan.seed, "verdictless", first_user) < plan.verdictless_rate:
        text = f"Verdict: Assistant A is somewhat better. (request signed with {auth})"
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
    output_tokens = max(1, len(text) // 4)
    if body.get("max_tokens") and body.get("ignore_eos"):
        output_tokens = int(body["max_tokens"])
    if anthropic:
        return _anthropic_message(model + plan.snapshot, text, prompt_tokens, output_tokens)
    payload = _openai_completion(model + plan.snapshot, text, prompt_tokens, output_tokens)
    if body.get("logprobs"):
        key = request_key(model, messages, body.get("max_tokens"), body.get("temperature"))
        withheld = plan.no_logprobs_rate > 0 and _unit(plan.seed, "no_logprobs", key) < plan.no_logprobs_rate
        payload["choices"][0]["logprobs"] = None if withheld else openai_logprobs(text, int(body.get("top_logprobs") or 0))
    return payload


def error_body(anthropic: bool, kind: str, message: str) -> dict[str, Any]:
    """An error in the API's shape, as the real-time route sends it."""
    if anthropic:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}


def multipart_fields(content_type: str, data: bytes) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body's fields: name -> (filename or None, bytes)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise Rejected(400, "invalid_request_error", "Expected a multipart/form-data body with a boundary.")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in data.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'\bname="([^"]*)"', head)
        filename = re.search(rb'\bfilename="([^"]*)"', head)
        if name is not None:
            fields[name.group(1).decode()] = (filename.group(1).decode() if filename else None,
                                              value.removesuffix(b"\r\n"))
    return fields


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Rejected(Exception):
    """A call the API refuses: answered with `status` and an error of type `kind`."""

    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class StoredFile:
    id: str
    data: bytes
    filename: str
    purpose: str
    created_at: int

    def as_object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "expires_at": None, "status_details": None}


@dataclass
class BatchRequest:
    custom_id: str
    body: dict[str, Any]
    first: bool  # the first submission of this custom_id: only then can a request error strike


@dataclass
class Outcome:
    """What became of one request: "succeeded" (body: the answer), "errored" (body: the error in
    the API's shape, status: its HTTP code), "expired" or "cancelled"."""

    custom_id: str
    kind: str
    body: dict[str, Any] | None = None
    status: int = 200


@dataclass
class Batch:
    id: str
    api: str  # "openai" or "anthropic"
    serial: int
    ordinal: int  # 1-based creation order over both APIs
    requests: list[BatchRequest]
    auth: str
    created_at: float
    phase: str  # validating, in_progress, finalizing, cancelling, completed, expired, cancelled
    info: dict[str, Any] = field(default_factory=dict)  # OpenAI: endpoint, input_file_id, metadata, model
    polls: int = 0
    times: dict[str, float] = field(default_factory=dict)  # OPENAI_TIMES names -> unix seconds
    counts: Counter = field(default_factory=Counter)  # outcome kind -> requests, once ended
    output_file_id: str | None = None
    error_file_id: str | None = None
    results: bytes = b""  # Anthropic's results file, once ended
    usage: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Every request's outcome had it run, computed from creation on by `answering`.
    answers: list[Outcome] = field(default_factory=list, repr=False)
    answering: threading.Thread | None = field(default=None, repr=False)


class BatchServer(FaultServer):
    """The fault server with the two batch APIs, in a background thread (`start()`, `stop()`)."""

    def __init__(self, plan: Plan | None = None, batch_plan: BatchPlan | None = None, port: int = 0):
        super().__init__(plan, port)
        self.batch_plan = batch_plan or BatchPlan()
        self.stats: BatchStats = BatchStats()
        self.httpd.RequestHandlerClass = type("BoundBatchHandler", (BatchHandler,), {"server_state": self})
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}
        self._serials = itertools.count(1)
        self._retrieve_500_left = self.batch_plan.retrieve_500

    def results_url(self, batch_id: str) -> str:
        return f"{self.anthropic_url}/v1/messages/batches/{batch_id}/results"

    def limits(self, api: str) -> tuple[int, int]:
        real_requests, real_bytes = REAL_LIMITS[api]
        plan = self.batch_plan
        return (real_requests if plan.max_requests is None else plan.max_requests,
                real_bytes if plan.max_bytes is None else plan.max_bytes)

    # -- files --------------------------------------------------------------------------------
    def store_file(self, data: bytes, filename: str, purpose: str) -> StoredFile:
        with self.lock:
            stored = StoredFile(f"file-{next(self._serials):06d}", data, filename, purpose, int(time.time()))
            self.files[stored.id] = stored
            if purpose == "batch":
                self.stats.files_uploaded += 1
        return stored

    def file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise Rejected(404, "invalid_request_error", f"No such File object: {file_id}")
        return stored

    # -- creation -----------------------------------------------------------------------------
    def create_openai(self, body: dict[str, Any], auth: str) -> Batch:
        if body.get("endpoint") != ENDPOINT:
            raise Rejected(400, "invalid_request_error", f"This fake batches only {ENDPOINT}, not {body.get('endpoint')!r}.")
        if body.get("completion_window") != "24h":
            raise Rejected(400, "invalid_request_error", "completion_window must be '24h'.")
        stored = self.file(str(body.get("input_file_id")))
        requests = self._openai_requests(stored.data)
        model = str(requests[0][1].get("model", ""))
        info = {"endpoint": ENDPOINT, "input_file_id": stored.id, "metadata": body.get("metadata"), "model": model}
        return self._register("openai", "batch", requests, auth, "validating", info)

    def _openai_requests(self, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        max_requests, max_bytes = self.limits("openai")
        if len(data) > max_bytes:
            raise Rejected(400, "invalid_request_error", f"The input file has {len(data)} bytes; a batch takes at most {max_bytes}.")
        lines = [(number, line) for number, line in enumerate(data.splitlines(), 1) if line.strip()]
        if not lines:
            raise Rejected(400, "invalid_request_error", "The input file has no requests.")
        if len(lines) > max_requests:
            raise Rejected(400, "invalid_request_error", f"The input file has {len(lines)} requests; a batch takes at most {max_requests}.")
        requests: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        models: set[str] = set()
        for number, line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                raise Rejected(400, "invalid_request_error", f"Line {number} of the input file is not valid JSON.") from None
            custom_id = row.get("custom_id") if isinstance(row, dict) else None
            if not isinstance(custom_id, str) or not custom_id:
                raise Rejected(400, "invalid_request_error", f"Line {number}: custom_id must be a non-empty string.")
            if custom_id in seen:
                raise Rejected(400, "invalid_request_error", f"Line {number}: custom_id {custom_id!r} appears twice in the file.")
            if row.get("method") != "POST" or row.get("url") != ENDPOINT:
                raise Rejected(400, "invalid_request_error", f"Line {number}: method must be POST and url {ENDPOINT}.")
            if not isinstance(row.get("body"), dict):
                raise Rejected(400, "invalid_request_error", f"Line {number}: body must be an object.")
            seen.add(custom_id)
            models.add(str(row["body"].get("model", "")))
            requests.append((custom_id, row["body"]))
        if len(models) > 1:
            raise Rejected(400, "invalid_request_error", f"A batch asks one model; this file asks {sorted(models)}.")
        return requests

    def create_anthropic(self, body: Any, size: int, auth: str) -> Batch:
        max_requests, max_bytes = self.limits("anthropic")
        if size > max_bytes:
            raise Rejected(400, "invalid_request_error", f"The request has {size} bytes; a batch takes at most {max_bytes}.")
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise Rejected(400, "invalid_request_error", "requests: a non-empty list is required.")
        if len(items) > max_requests:
            raise Rejected(400, "invalid_request_error", f"requests: {len(items)} requests; a batch takes at most {max_requests}.")
        requests: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
                raise Rejected(400, "invalid_request_error", f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$.")
            if custom_id in seen:
                raise Rejected(400, "invalid_request_error", f"requests.{i}.custom_id: {custom_id!r} is not unique in the batch.")
            params = item.get("params")
            if not isinstance(params, dict) or not isinstance(params.get("messages"), list) \
                    or not isinstance(params.get("max_tokens"), int) or not params.get("model"):
                raise Rejected(400, "invalid_request_error", f"requests.{i}.params: model, max_tokens and messages are required.")
            seen.add(custom_id)
            requests.append((custom_id, params))
        return self._register("anthropic", "msgbatch", requests, auth, "in_progress", {})

    def _register(self, api: str, prefix: str, requests: list[tuple[str, dict[str, Any]]], auth: str,
                  phase: str, info: dict[str, Any]) -> Batch:
        with self.lock:
            s = self.stats
            s.batches_created += 1
            s.batches_by_api[api] += 1
            serial = next(self._serials)
            batch_requests = []
            for custom_id, body in requests:
                batch_requests.append(BatchRequest(custom_id, body, first=s.submissions[custom_id] == 0))
                s.submissions[custom_id] += 1
            batch = Batch(f"{prefix}_{serial:06d}", api, serial, s.batches_created, batch_requests, auth,
                          time.time(), phase, info)
            self.batches[batch.id] = batch
        # The answers of a large batch take seconds; worked out while the client polls, the
        # retrieve that ends the batch does not carry them all.
        batch.answering = threading.Thread(target=self._answer_all, args=(batch,), daemon=True)
        batch.answering.start()
        return batch

    def _answer_all(self, batch: Batch) -> None:
        batch.answers = [self._outcome(batch, request) for request in batch.requests]

    # -- progress -----------------------------------------------------------------------------
    def batch(self, batch_id: str, api: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None or batch.api != api:
            kind = "not_found_error" if api == "anthropic" else "invalid_request_error"
            raise Rejected(404, kind, f"No batch found with id '{batch_id}'.")
        return batch

    def retrieve(self, batch_id: str, api: str) -> dict[str, Any]:
        """A batch as GET answers it, one step further on; a 500 while `retrieve_500` lasts."""
        with self.lock:
            self.stats.retrieves += 1
            if self._retrieve_500_left > 0:
                self._retrieve_500_left -= 1
                self.stats.retrieve_500s += 1
                raise Rejected(500, "api_error" if api == "anthropic" else "server_error",
                               "The server had an error while processing your request.")
        batch = self.batch(batch_id, api)
        with batch.lock:
            self._advance(batch)
            return self.view(batch)

    def cancel(self, batch_id: str, api: str) -> dict[str, Any]:
        batch = self.batch(batch_id, api)
        with batch.lock:
            if batch.phase not in ENDED and batch.phase != "cancelling":
                batch.phase = "cancelling"
                batch.times["cancelling_at"] = time.time()
            return self.view(batch)

    def _advance(self, batch: Batch) -> None:
        if batch.phase in ENDED:
            return
        if batch.phase == "cancelling":
            self._settle(batch, "cancelled")
            return
        batch.polls += 1
        polls_to_finish = self.batch_plan.polls_to_finish
        if batch.polls > polls_to_finish:
            self._settle(batch, "expired" if batch.ordinal in self.batch_plan.expire_batches else "completed")
            return
        now = time.time()
        batch.times.setdefault("in_progress_at", now)
        if batch.polls == polls_to_finish >= 2:
            batch.phase = "finalizing"
            batch.times["finalizing_at"] = now
        else:
            batch.phase = "in_progress"

    def _settle(self, batch: Batch, phase: str) -> None:
        """End `batch` in `phase`: answer the requests it got to, write its results."""
        n = len(batch.requests)
        if phase == "completed":
            done = n
        elif phase == "expired":
            done = int(n * self.batch_plan.expire_done_fraction)
        else:
            done = n * batch.polls // (self.batch_plan.polls_to_finish + 1)
        batch.answering.join()  # type: ignore[union-attr]
        outcomes = batch.answers[:done] + [Outcome(r.custom_id, phase) for r in batch.requests[done:]]
        now = time.time()
        batch.times.setdefault("in_progress_at", now)
        if phase == "completed":
            batch.times.setdefault("finalizing_at", now)
        batch.times[f"{phase}_at"] = now
        batch.phase = phase
        batch.counts = Counter(o.kind for o in outcomes)
        if batch.api == "openai":
            torn = self._write_openai(batch, outcomes)
        else:
            torn = self._write_anthropic(batch, outcomes)
        with self.lock:
            s = self.stats
            s.ended[phase] += 1
            s.request_errors += batch.counts["errored"]
            s.malformed_custom_ids.extend(torn)
            for request, outcome in zip(batch.requests, outcomes):
                if outcome.kind == "succeeded":
                    messages = judge_messages(request.body, anthropic=batch.api == "anthropic")
                    body = request.body
                    s.batch_answered[request_key(str(body.get("model", "")), messages, body.get("max_tokens"),
                                                 body.get("temperature"))] += 1

    def _outcome(self, batch: Batch, request: BatchRequest) -> Outcome:
        anthropic = batch.api == "anthropic"
        plan = self.batch_plan

        def errored(status: int, kind: str, message: str) -> Outcome:
            return Outcome(request.custom_id, "errored", error_body(anthropic, kind, message), status)

        if request.body.get("model") == "reject-me":
            return errored(401, "authentication_error", f"Incorrect API key provided: {batch.auth}")
        if request.first and plan.request_error_rate > 0 \
                and _unit(plan.seed, "request_error", request.custom_id) < plan.request_error_rate:
            return errored(500, "api_error" if anthropic else "server_error",
                           "The server had an error while processing your request.")
        try:
            answer = answer_body(self.plan, request.body, anthropic=anthropic, auth=batch.auth)
        except (KeyError, StopIteration, TypeError, ValueError, AttributeError):
            return errored(400, "invalid_request_error", "The request is not a chat request this judge can answer.")
        return Outcome(request.custom_id, "succeeded", answer)

    def _write_openai(self, batch: Batch, outcomes: list[Outcome]) -> list[str]:
        output: list[tuple[str, dict[str, Any]]] = []
        errors: list[dict[str, Any]] = []
        usage = Counter()
        for i, o in enumerate(outcomes):
            row: dict[str, Any] = {"id": f"batch_req_{batch.serial}_{i}", "custom_id": o.custom_id}
            if o.kind in NOT_RUN:
                code, message, _ = NOT_RUN[o.kind]
                errors.append({**row, "response": None, "error": {"code": code, "message": message}})
                continue
            row["response"] = {"status_code": o.status, "request_id": f"req_{batch.serial}_{i}", "body": o.body}
            row["error"] = None
            if o.kind == "succeeded":
                output.append((o.custom_id, row))
                usage.update(o.body["usage"])  # type: ignore[index]
            else:
                errors.append(row)
        lines, torn = self._lines(batch, output)
        batch.output_file_id = self.store_file(lines, f"{batch.id}_output.jsonl", "batch_output").id
        if errors:
            batch.error_file_id = self.store_file(self._lines(batch, [(r["custom_id"], r) for r in errors], tear=False)[0],
                                                  f"{batch.id}_error.jsonl", "batch_output").id
        batch.usage = {"input_tokens": usage["prompt_tokens"], "input_tokens_details": {"cached_tokens": 0},
                       "output_tokens": usage["completion_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                       "total_tokens": usage["total_tokens"]}
        return torn

    def _write_anthropic(self, batch: Batch, outcomes: list[Outcome]) -> list[str]:
        rows = []
        for o in outcomes:
            if o.kind == "succeeded":
                result: dict[str, Any] = {"type": "succeeded", "message": o.body}
            elif o.kind == "errored":
                result = {"type": "errored", "error": o.body}
            else:
                result = {"type": NOT_RUN[o.kind][2]}
            rows.append((o.custom_id, {"custom_id": o.custom_id, "result": result}))
        batch.results, torn = self._lines(batch, rows)
        return torn

    def _lines(self, batch: Batch, rows: list[tuple[str, dict[str, Any]]], tear: bool = True) -> tuple[bytes, list[str]]:
        """A JSONL file of `rows` (custom_id, row), shuffled and torn as the plan says, and the
        custom_ids whose rows were torn."""
        plan = self.batch_plan
        lines = [(custom_id, json.dumps(row)) for custom_id, row in rows]
        if plan.shuffle_output:
            random.Random(f"{plan.seed}:shuffle:{batch.id}").shuffle(lines)
        torn: list[str] = []
        # Only rows of requests on their first submission: a resubmitted request reads whole.
        first = {r.custom_id for r in batch.requests if r.first}
        candidates = [i for i, (custom_id, _) in enumerate(lines) if custom_id in first]
        if tear and plan.malformed_rows > 0 and candidates:
            picks = random.Random(f"{plan.seed}:tear:{batch.id}").sample(candidates, min(plan.malformed_rows, len(candidates)))
            for i in sorted(picks):
                custom_id, line = lines[i]
                lines[i] = (custom_id, line[: len(line) // 2])  # half an object is never valid JSON
                torn.append(custom_id)
        return "".join(line + "\n" for _, line in lines).encode(), torn

    # -- views --------------------------------------------------------------------------------
    def view(self, batch: Batch) -> dict[str, Any]:
        return self._openai_view(batch) if batch.api == "openai" else self._anthropic_view(batch)

    def _openai_view(self, batch: Batch) -> dict[str, Any]:
        ended = batch.phase in ENDED
        return {
            "id": batch.id, "object": "batch", "endpoint": batch.info["endpoint"], "errors": None,
            "input_file_id": batch.info["input_file_id"], "completion_window": "24h", "status": batch.phase,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
            "created_at": int(batch.created_at), "expires_at": int(batch.created_at + WINDOW_S),
            **{name: int(batch.times[name]) if name in batch.times else None for name in OPENAI_TIMES},
            "request_counts": {"total": len(batch.requests), "completed": batch.counts["succeeded"],
                               "failed": len(batch.requests) - batch.counts["succeeded"] if ended else 0},
            "metadata": batch.info["metadata"], "model": batch.info["model"], "usage": batch.usage,
        }

    def _anthropic_view(self, batch: Batch) -> dict[str, Any]:
        ended = batch.phase in ENDED
        return {
            "id": batch.id, "type": "message_batch", "processing_status": ANTHROPIC_STATUS[batch.phase],
            "request_counts": {"processing": 0 if ended else len(batch.requests),
                               "succeeded": batch.counts["succeeded"], "errored": batch.counts["errored"],
                               "canceled": batch.counts["cancelled"], "expired": batch.counts["expired"]},
            "created_at": _iso(batch.created_at), "expires_at": _iso(batch.created_at + WINDOW_S),
            "ended_at": _iso(next((batch.times[f"{p}_at"] for p in ENDED if f"{p}_at" in batch.times), None)),
            "cancel_initiated_at": _iso(batch.times.get("cancelling_at")), "archived_at": None,
            "results_url": self.results_url(batch.id) if ended else None,
        }

    def listing(self, api: str, query: dict[str, str]) -> dict[str, Any]:
        """The batches of `api`, newest first, one page (`limit`, and `after` / `after_id` /
        `before_id` naming a batch of the previous page)."""
        with self.lock:
            batches = sorted((b for b in self.batches.values() if b.api == api), key=lambda b: -b.serial)
        ids = [b.id for b in batches]
        after = query.get("after") or query.get("after_id")
        start, stop = 0, len(batches)
        if after in ids:
            start = ids.index(after) + 1
        if query.get("before_id") in ids:
            stop = ids.index(query["before_id"])
        limit = int(query.get("limit") or 20)
        page = batches[start:stop][:limit] if not query.get("before_id") else batches[start:stop][-limit:]
        data = []
        for batch in page:
            with batch.lock:
                data.append(self.view(batch))
        more = start + len(page) < stop if not query.get("before_id") else stop - len(page) > start
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more} if api == "openai" \
            else {"data": data, "first_id": first, "last_id": last, "has_more": more}

    def snapshot(self) -> dict[str, Any]:
        counters = super().snapshot()
        with self.lock:
            s = self.stats
            counters["batch"] = {
                "batches_created": s.batches_created, "batches_by_api": dict(s.batches_by_api), "ended": dict(s.ended),
                "retrieves": s.retrieves, "retrieve_500s": s.retrieve_500s, "files_uploaded": s.files_uploaded,
                "result_downloads": s.result_downloads, "request_errors": s.request_errors,
                "submissions_total": sum(s.submissions.values()), "distinct_custom_ids": len(s.submissions),
                "max_submissions_per_custom_id": max(s.submissions.values(), default=0),
                "resubmitted_custom_ids": sum(1 for count in s.submissions.values() if count > 1),
                "answered_total": sum(s.batch_answered.values()), "distinct_answered": len(s.batch_answered),
                "malformed_rows": len(s.malformed_custom_ids), "api_keys_seen": len(s.auth),
            }
        return counters


#: (method, path, handler method, api): the batch routes; any other goes to the fault server's.
_ROUTES = tuple((method, re.compile(path), name, api) for method, path, name, api in (
    ("POST", r"/v1/files", "upload_file", "openai"),
    ("GET", r"/v1/files/([^/]+)", "get_file", "openai"),
    ("GET", r"/v1/files/([^/]+)/content", "file_content", "openai"),
    ("DELETE", r"/v1/files/([^/]+)", "delete_file", "openai"),
    ("POST", r"/v1/batches", "create", "openai"),
    ("GET", r"/v1/batches", "list", "openai"),
    ("GET", r"/v1/batches/([^/]+)", "retrieve", "openai"),
    ("POST", r"/v1/batches/([^/]+)/cancel", "cancel", "openai"),
    ("POST", r"/v1/messages/batches", "create", "anthropic"),
    ("GET", r"/v1/messages/batches", "list", "anthropic"),
    ("GET", r"/v1/messages/batches/([^/]+)", "retrieve", "anthropic"),
    ("GET", r"/v1/messages/batches/([^/]+)/results", "results", "anthropic"),
    ("POST", r"/v1/messages/batches/([^/]+)/cancel", "cancel", "anthropic"),
))


class BatchHandler(Handler):
    server_state: BatchServer
    # Headers and body leave in two writes; with Nagle's algorithm on, a keep-alive client
    # waits out the delayed ACK (~40 ms) for every reply.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if not self._route("GET"):
            super().do_GET()

    def do_POST(self) -> None:
        if not self._route("POST"):
            super().do_POST()

    def do_DELETE(self) -> None:
        if not self._route("DELETE"):
            self._send(404, error_body(False, "invalid_request_error", f"no route {self.path}"))

    def _auth(self) -> str:
        return self.headers.get("x-api-key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")

    def _route(self, method: str) -> bool:
        """Serve a batch route; False when the path is none of them."""
        url = urlsplit(self.path)
        route = next(((name, api, match) for verb, pattern, name, api in _ROUTES
                      if verb == method and (match := pattern.fullmatch(url.path))), None)
        if route is None:
            return False
        name, api, match = route
        raw = self._body()
        if raw is None:
            self.close_connection = True  # the client left mid-body: nothing arrived
            return True
        with self.server_state.lock:
            self.server_state.stats.auth.add(self._auth())
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            getattr(self, f"_{name}")(raw, query, api, *match.groups())
        except Rejected as error:
            self._send(error.status, error_body(api == "anthropic", error.kind, error.message))
        return True

    def _body(self) -> bytes | None:
        """The request body (sized or chunked); None when the client left before its end."""
        if (self.headers.get("Transfer-Encoding") or "").lower() != "chunked":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return raw if len(raw) == length else None
        chunks = []
        while size := int((self.rfile.readline().split(b";")[0].strip() or b"0"), 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)

    def _send_bytes(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise Rejected(400, "invalid_request_error", "The body is not valid JSON.") from None

    # -- files (OpenAI) ---------------------------------------------------------------------
    def _upload_file(self, raw: bytes, query: dict[str, str], api: str) -> None:
        fields = multipart_fields(self.headers.get("Content-Type") or "", raw)
        filename, data = fields.get("file", (None, b""))
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if filename is None or not purpose:
            raise Rejected(400, "invalid_request_error", "Expected the fields `file` (a file) and `purpose`.")
        self._send(200, self.server_state.store_file(data, filename, purpose).as_object())

    def _get_file(self, raw: bytes, query: dict[str, str], api: str, file_id: str) -> None:
        self._send(200, self.server_state.file(file_id).as_object())

    def _file_content(self, raw: bytes, query: dict[str, str], api: str, file_id: str) -> None:
        state = self.server_state
        stored = state.file(file_id)
        if stored.purpose == "batch_output":
            with state.lock:
                state.stats.result_downloads += 1
        self._send_bytes(stored.data, "application/octet-stream")

    def _delete_file(self, raw: bytes, query: dict[str, str], api: str, file_id: str) -> None:
        state = self.server_state
        state.file(file_id)
        with state.lock:
            state.files.pop(file_id, None)
        self._send(200, {"id": file_id, "object": "file", "deleted": True})

    # -- batches (both APIs) -------------------------------------------------------------------
    def _create(self, raw: bytes, query: dict[str, str], api: str) -> None:
        state = self.server_state
        if api == "openai":
            batch = state.create_openai(self._json(raw), self._auth())
        else:
            too_big = len(raw) > state.limits("anthropic")[1]  # refused unread, as the API does
            batch = state.create_anthropic({} if too_big else self._json(raw), len(raw), self._auth())
        with batch.lock:
            self._send(200, state.view(batch))

    def _list(self, raw: bytes, query: dict[str, str], api: str) -> None:
        self._send(200, self.server_state.listing(api, query))

    def _retrieve(self, raw: bytes, query: dict[str, str], api: str, batch_id: str) -> None:
        self._send(200, self.server_state.retrieve(batch_id, api))

    def _cancel(self, raw: bytes, query: dict[str, str], api: str, batch_id: str) -> None:
        self._send(200, self.server_state.cancel(batch_id, api))

    def _results(self, raw: bytes, query: dict[str, str], api: str, batch_id: str) -> None:
        state = self.server_state
        batch = state.batch(batch_id, api)
        with batch.lock:
            if batch.phase not in ENDED:
                raise Rejected(400, "invalid_request_error", f"Batch {batch_id} has not ended yet; its results are not ready.")
            data = batch.results
        with state.lock:
            state.stats.result_downloads += 1
        self._send_bytes(data, "application/binary")

    # -- real time ----------------------------------------------------------------------------
    def _answer(self, body: dict[str, Any], messages: list[dict[str, Any]], model: str, key: str,
                fault: str | None, anthropic: bool, reask: bool) -> None:
        """A plain answer without a fault comes from `answer_body`, as a batched one does; faults
        and streams stay the fault server's."""
        state = self.server_state
        if fault is not None or body.get("stream"):
            super()._answer(body, messages, model, key, fault, anthropic, reask)
            return
        if state.plan.latency_s:
            time.sleep(state.plan.latency_s)
        payload = answer_body(state.plan, body, anthropic=anthropic, auth=self._auth())
        self._send(200, payload)
        with state.lock:
            s = state.stats
            if not anthropic and body.get("logprobs") and payload["choices"][0]["logprobs"] is None:
                s.logprobs_withheld += 1
            s.done[key] += 1
            s.done_at.setdefault(key, []).append(time.monotonic())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--polls-to-finish", type=int, default=BatchPlan.polls_to_finish)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--request-error-rate", type=float, default=0.0)
    parser.add_argument("--retrieve-500", type=int, default=0)
    parser.add_argument("--expire-batches", type=lambda text: frozenset(int(x) for x in text.split(",") if x),
                        default=frozenset(), help="creation ordinals, comma separated")
    parser.add_argument("--shuffle-output", action="store_true")
    parser.add_argument("--malformed-rows", type=int, default=0)
    args = parser.parse_args(argv)
    batch_plan = BatchPlan(seed=args.seed, polls_to_finish=args.polls_to_finish, expire_batches=args.expire_batches,
                           request_error_rate=args.request_error_rate, retrieve_500=args.retrieve_500,
                           shuffle_output=args.shuffle_output, malformed_rows=args.malformed_rows)
    server = BatchServer(Plan(seed=args.seed), batch_plan, port=args.port)
    print(f"PORT {server.port}", flush=True)
    try:
        server.httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
