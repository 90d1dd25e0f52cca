"""The one provider interface that vLLM, the API clients and the dry-run simulator implement.

A provider maps a `ChatRequest` to its wire format and back to a `ChatResponse`; it knows nothing
about modes, battles or ratings. Concurrency, rate limits, retries and the cache live once, in
`arena.providers.calls`, around `Provider.complete`. A provider whose engine batches natively
(vLLM offline) overrides `run_batch` instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChatRequest:
    """One chat call. `meta` is context for logs and the simulator; it is never sent to an API
    and is not part of the cache key."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    n: int = 1
    seed: int | None = None
    stop: list[str] | None = None
    ignore_eos: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def sampling(self) -> dict[str, Any]:
        """The settings that change the output (part of the cache key)."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
            "stop": self.stop,
            "ignore_eos": self.ignore_eos,
        }


@dataclass
class ChatResponse:
    texts: list[str]
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    ttft_s: float | None = None
    finish_reasons: list[str | None] = field(default_factory=list)
    model: str = ""
    cached: bool = False

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


class TransientError(Exception):
    """A fault worth retrying (429, 5xx, timeout, dropped connection, malformed body).
    `retry_after` is the server's hint in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class CallFailed(Exception):
    """A call that failed for good (retries exhausted, or a fault retrying cannot fix).
    The message is safe to log: providers never put keys or full prompts in it."""


OnResult = Callable[[int, "ChatResponse | CallFailed"], None]


class Provider(ABC):
    """A model behind some API or engine. Subclasses set `name` (for messages) and implement
    `complete`; the runner in arena.providers.calls adds limits, retries and caching."""

    name: str = "provider"
    #: Identity used in cache keys: provider kind, model id and endpoint.
    cache_identity: tuple[str, ...] = ()

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Make one call. Raise TransientError for retryable faults, CallFailed otherwise."""

    def run_batch(self, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
        """Run many calls, reporting each as it finishes (in any order) through `on_result`.
        The default drives `complete` through the shared runner."""
        from arena.providers.calls import run_calls

        run_calls(self, requests, on_result, progress=progress)

    def close(self) -> None:
        """Release engines, servers or connections."""
