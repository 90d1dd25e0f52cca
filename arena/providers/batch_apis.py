"""The two batch APIs behind one small interface: OpenAI's Batch API (an uploaded JSONL file of
chat completions requests, `batches.create`, `batches.retrieve`, an output and an error file) and
Anthropic's Message Batches (`messages.batches.create` with the requests inline, `retrieve`, a
JSONL of results), through the official clients.

An adapter turns our requests into the API's batch lines (the same body a real-time call of the
provider sends, so a batched answer is the answer a real-time call gets), submits and looks at
batches, and reads their results back as `RowResult`s: a ChatResponse, or an error that says
whether resubmitting can help. Faults of the calls themselves (429, 5xx, dropped connections)
are TransientError, as for real-time calls; messages hold no key and no prompt.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.errors import ProviderError
from arena.providers.base import CallFailed, ChatRequest, ChatResponse, TransientError, redact
from arena.providers.openai_api import chat_response, is_transport_fault, retry_after_seconds

#: Each API's limits per batch: requests, and bytes (OpenAI: the input file; Anthropic: the
#: create call's body). Decimal megabytes, the stricter reading of "200 MB" and "256 MB".
LIMITS = {"openai": (50_000, 200_000_000), "anthropic": (100_000, 256_000_000)}
#: Room left under the byte limit for the envelope around the requests (JSON brackets, headers).
ENVELOPE_BYTES = 4096
ENDPOINT = "/v1/chat/completions"
#: Why OpenAI fails a whole batch that may pass later: the organisation's queue of batch tokens
#: was full when it was created (it empties as other batches end).
RETRYABLE_BATCH_FAILURES = ("token_limit_exceeded", "rate_limit_exceeded")
#: Anthropic's error types that a new batch may not meet again.
RETRYABLE_ERRORS = ("api_error", "overloaded_error", "rate_limit_error", "timeout_error")
#: The metadata key that names our submission, so a batch whose id was never written down (the
#: process died as the API accepted it) can be found again.
TAG_KEY = "arena_submission"


@dataclass
class RowResult:
    """One request's outcome in an ended batch."""

    custom_id: str
    response: ChatResponse | None = None
    error: str | None = None
    #: Whether a new batch may succeed (expired, cancelled, 429/5xx); False: a 4xx refusal.
    retry: bool = True


@dataclass
class BatchState:
    id: str
    status: str  # the API's own word
    ended: bool
    done: int = 0  # requests answered so far
    failed: int = 0  # requests errored, expired or cancelled so far
    total: int = 0
    #: The whole batch was refused (OpenAI's "failed": the input did not validate, or the
    #: organisation's queue of batch tokens was full).
    failure: str | None = None
    #: The refusal may pass later (a full queue), so its requests go out again.
    failure_retry: bool = False
    created_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Results:
    rows: list[RowResult]
    malformed: int = 0  # result lines that could not be read (their requests count as missing)


class BatchApi(ABC):
    """One provider's batch interface. `encode` gives a request's batch item and its size in
    bytes; `submit` sends items (within LIMITS) and returns the batch id."""

    api: str = ""

    def __init__(self, provider: Any):
        self.provider = provider
        self.name = provider.name
        self._key = provider._key
        # The synchronous client: the stage waits on batches, it has nothing to run meanwhile.
        self.client = self.sdk_client(provider.client)

    @abstractmethod
    def sdk_client(self, cfg: Any) -> Any: ...

    @property
    def limits(self) -> tuple[int, int]:
        return LIMITS[self.api]

    @abstractmethod
    def encode(self, custom_id: str, request: ChatRequest) -> tuple[Any, int]: ...

    @abstractmethod
    def submit(self, items: list[Any], tag: str) -> str: ...

    @abstractmethod
    def state(self, batch_id: str) -> BatchState: ...

    @abstractmethod
    def results(self, batch_id: str, state: BatchState) -> Results: ...

    @abstractmethod
    def find(self, tag: str, count: int, since: float, known: set[str]) -> str | None:
        """The id of a batch submitted under `tag` (holding `count` requests, created after
        `since`) whose id was never recorded; None when there is none for sure."""

    def fault(self, exc: Exception) -> Exception:
        """A client exception as TransientError (worth retrying) or CallFailed."""
        status = getattr(exc, "status_code", None)
        if status is None:
            return TransientError(f"connection: {type(exc).__name__}")
        response = getattr(exc, "response", None)
        if status in (408, 409, 429, 529) or status >= 500:
            return TransientError(f"HTTP {status}", retry_after_seconds(getattr(response, "headers", None)))
        failed = CallFailed(f"{self.name}: HTTP {status}: {redact(error_message(getattr(exc, 'body', None)) or type(exc).__name__, self._key)}")
        failed.status = status  # type: ignore[attr-defined]
        return failed

    def call(self, fn: Callable[[], Any]) -> Any:
        """One call of the client, its faults mapped (see `fault`)."""
        try:
            return fn()
        except (TransientError, CallFailed, ProviderError):
            raise
        except Exception as exc:
            if _is_client_error(exc) or is_transport_fault(exc):
                raise self.fault(exc) from None
            raise

    def created_since(self, first_page: Callable[[], Any], since: float) -> list[Any]:
        """The batches created from `since` on (less a minute of clock skew), newest first,
        paging back as far as needed."""
        out = []
        page = self.call(first_page)
        while page is not None:
            for batch in page.data:
                created = getattr(batch, "created_at", None)
                stamp = created.timestamp() if hasattr(created, "timestamp") else float(created or 0)
                if stamp < since - 60:
                    return out
                out.append(batch)
            page = self.call(page.get_next_page) if page.has_next_page() else None
        return out

    def row_error(self, custom_id: str, status: int | None, body: Any, why: str | None = None) -> RowResult:
        """A request that came back without an answer: retried unless the API refused it."""
        message = why or error_message(body) or "no answer"
        retry = status is None or status in (408, 409, 429, 529) or status >= 500
        label = f"HTTP {status}: " if status is not None else ""
        return RowResult(custom_id, error=f"{self.name}: {label}{redact(message, self._key)}", retry=retry)


def _is_client_error(exc: Exception) -> bool:
    """An exception of the clients themselves (their status and connection errors); faults of
    the HTTP stack under them are `is_transport_fault`'s."""
    return type(exc).__module__.split(".")[0] in ("openai", "anthropic")


def error_message(body: Any) -> str | None:
    """The message of an error body of either API ({"error": {"message"}} or Anthropic's
    {"type": "error", "error": {"type", "message"}}, or the error object itself)."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    message = inner.get("message")
    kind = inner.get("type") or inner.get("code")
    if message and kind:
        return f"{kind}: {message}"
    return str(message or kind) if (message or kind) else None


def rows_of(data: bytes) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """A results file's rows (custom id, row), and how many lines could not be read (a torn
    row loses its request's answer; the request counts as missing)."""
    rows, malformed = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append((str(row["custom_id"]), row))
        except (ValueError, KeyError, TypeError):
            malformed += 1
    return rows, malformed


class OpenAIBatches(BatchApi):
    """OpenAI's Batch API (and OpenAI-compatible servers that implement it)."""

    api = "openai"

    def sdk_client(self, cfg: Any) -> Any:
        import openai

        return openai.OpenAI(api_key=self._key, base_url=cfg.base_url, timeout=cfg.timeout_s, max_retries=0)

    def encode(self, custom_id: str, request: ChatRequest) -> tuple[Any, int]:
        line = json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                           "body": self.provider.request_body(request)}, ensure_ascii=False).encode("utf-8") + b"\n"
        return line, len(line)

    def submit(self, items: list[Any], tag: str) -> str:
        data = b"".join(items)
        uploaded = self.call(lambda: self.client.files.create(file=(f"{tag}.jsonl", data), purpose="batch"))
        batch = self.call(lambda: self.client.batches.create(
            input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h", metadata={TAG_KEY: tag}))
        return str(batch.id)

    def state(self, batch_id: str) -> BatchState:
        batch = self.call(lambda: self.client.batches.retrieve(batch_id))
        counts = batch.request_counts
        status = str(batch.status)
        failure = None
        failure_retry = False
        if status == "failed":
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            first = errors[0] if errors else None
            code = str(getattr(first, "code", "") or "")
            failure = redact(f"{code}: {getattr(first, 'message', '') or 'the batch failed'}", self._key)
            failure_retry = code in RETRYABLE_BATCH_FAILURES
        return BatchState(
            batch_id, status, status in ("completed", "expired", "cancelled", "failed"),
            done=getattr(counts, "completed", 0) or 0, failed=getattr(counts, "failed", 0) or 0,
            total=getattr(counts, "total", 0) or 0, failure=failure, failure_retry=failure_retry,
            created_at=getattr(batch, "created_at", None),
            extra={"output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id},
        )

    def results(self, batch_id: str, state: BatchState) -> Results:
        rows: list[RowResult] = []
        malformed = 0
        latency = max(0.0, time.time() - state.created_at) if state.created_at else 0.0
        for key in ("output_file_id", "error_file_id"):
            file_id = state.extra.get(key)
            if not file_id:
                continue
            data = self.call(lambda file_id=file_id: self.client.files.content(file_id).content)
            read, torn = rows_of(data)
            malformed += torn
            rows += [self._row(custom_id, row, latency) for custom_id, row in read]
        return Results(rows, malformed)

    def _row(self, custom_id: str, row: dict[str, Any], latency: float) -> RowResult:
        response = row.get("response") if isinstance(row.get("response"), dict) else None
        status = response.get("status_code") if response else None
        if response is not None and status == 200:
            try:
                answer = chat_response(self.provider.check_model, response.get("body"), latency)
            except TransientError as exc:
                return RowResult(custom_id, error=f"{self.name}: {exc}")
            answer.batch = True
            return RowResult(custom_id, answer)
        error = row.get("error") if isinstance(row.get("error"), dict) else None
        if response is not None:
            return self.row_error(custom_id, status if isinstance(status, int) else None, response.get("body"))
        # Not run: expired or cancelled before its turn (code batch_expired / batch_cancelled).
        return self.row_error(custom_id, None, error, None if error else "no answer")

    def find(self, tag: str, count: int, since: float, known: set[str]) -> str | None:
        for batch in self.created_since(lambda: self.client.batches.list(limit=100), since):
            if (getattr(batch, "metadata", None) or {}).get(TAG_KEY) == tag:
                return str(batch.id)
        return None


class AnthropicBatches(BatchApi):
    """Anthropic's Message Batches."""

    api = "anthropic"

    def sdk_client(self, cfg: Any) -> Any:
        import anthropic

        return anthropic.Anthropic(api_key=self._key, base_url=cfg.base_url, timeout=cfg.timeout_s, max_retries=0)

    def encode(self, custom_id: str, request: ChatRequest) -> tuple[Any, int]:
        item = {"custom_id": custom_id, "params": self.provider.params(request)}
        return item, len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + 1

    def submit(self, items: list[Any], tag: str) -> str:
        batch = self.call(lambda: self.client.messages.batches.create(requests=items))
        return str(batch.id)

    def state(self, batch_id: str) -> BatchState:
        batch = self.call(lambda: self.client.messages.batches.retrieve(batch_id))
        counts = batch.request_counts
        failed = sum(getattr(counts, name, 0) or 0 for name in ("errored", "canceled", "expired"))
        done = getattr(counts, "succeeded", 0) or 0
        created = getattr(batch, "created_at", None)
        return BatchState(
            batch_id, str(batch.processing_status), batch.processing_status == "ended", done=done, failed=failed,
            total=done + failed + (getattr(counts, "processing", 0) or 0),
            created_at=created.timestamp() if created is not None else None,
        )

    def results(self, batch_id: str, state: BatchState) -> Results:
        # Read as bytes: the client's own iterator stops at the first line it cannot parse, and
        # every row after a torn one would be lost with it.
        raw = self.call(lambda: self.client.messages.batches.with_raw_response.results(batch_id))
        data = self.call(lambda: raw.http_response.read())
        latency = max(0.0, time.time() - state.created_at) if state.created_at else 0.0
        rows: list[RowResult] = []
        read, malformed = rows_of(data)
        for custom_id, row in read:
            result = row.get("result")
            kind = result.get("type") if isinstance(result, dict) else None
            if kind is None:
                malformed += 1
                continue
            if kind == "succeeded":
                try:
                    answer = message_response(result.get("message"), latency)
                    self.provider.check_model(answer.model)
                except TransientError as exc:
                    rows.append(RowResult(custom_id, error=f"{self.name}: {exc}"))
                    continue
                answer.batch = True
                rows.append(RowResult(custom_id, answer))
            elif kind == "errored":
                error = result.get("error")
                # {"type": "error", "error": {"type", "message"}}, or the inner object alone.
                inner = error.get("error") if isinstance(error, dict) and isinstance(error.get("error"), dict) else error
                kind_of = inner.get("type") if isinstance(inner, dict) else None
                retry = kind_of in RETRYABLE_ERRORS or kind_of is None
                rows.append(RowResult(custom_id, error=f"{self.name}: {redact(error_message(error) or 'errored', self._key)}",
                                      retry=retry))
            else:  # canceled, expired: never run
                rows.append(RowResult(custom_id, error=f"{self.name}: request {kind}"))
        return Results(rows, malformed)

    def find(self, tag: str, count: int, since: float, known: set[str]) -> str | None:
        # Message batches carry no metadata: the one batch created since the submission began,
        # of that many requests, that no journal line names. Adopting a wrong one costs nothing
        # but a resubmission: its results would not carry our request ids.
        found = []
        for batch in self.created_since(lambda: self.client.messages.batches.list(limit=100), since):
            counts = batch.request_counts
            total = sum(getattr(counts, name, 0) or 0 for name in ("processing", "succeeded", "errored", "canceled", "expired"))
            if batch.id not in known and total == count:
                found.append(str(batch.id))
        return found[0] if len(found) == 1 else None


def message_response(message: Any, latency_s: float) -> ChatResponse:
    """An Anthropic message (as JSON) as our response; malformed ones are transient."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise TransientError("message without content")
    text = "".join(str(block.get("text") or "") for block in message["content"]
                   if isinstance(block, dict) and block.get("type") == "text")
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    return ChatResponse(
        texts=[text], prompt_tokens=int(usage.get("input_tokens") or 0), output_tokens=int(usage.get("output_tokens") or 0),
        latency_s=latency_s, finish_reasons=[message.get("stop_reason")], model=str(message.get("model") or ""),
    )


def batch_api(provider: Any) -> BatchApi:
    """The batch adapter of an OpenAI(-compatible) or Anthropic provider."""
    from arena.providers.anthropic_api import AnthropicProvider
    from arena.providers.openai_api import OpenAIProvider

    if isinstance(provider, AnthropicProvider):
        return AnthropicBatches(provider)
    if isinstance(provider, OpenAIProvider):
        return OpenAIBatches(provider)
    raise ProviderError(f"{provider.name}: client.batch works with OpenAI, Anthropic and OpenAI-compatible APIs only")
