"""The one provider interface that vLLM, the API clients and the dry-run simulator implement.

A provider maps a `ChatRequest` to its wire format and back to a `ChatResponse`; it knows nothing
about modes, battles or ratings. Concurrency, rate limits, retries and the cache live once, in
`arena.providers.calls`, around `Provider.complete`. A provider whose engine batches natively
(vLLM offline) overrides `run_batch` instead.

Rule-based scoring (arena.scoring) also needs log-probabilities, which only some backends give:
`continuation_logprobs` (the log-probability of given text after a prompt) and
`next_token_logprobs` (the most likely next tokens). A provider that cannot raises ProviderError;
the run plan checks before any work that each model can do the styles asked of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.errors import ProviderError


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
    #: The reply must match this regex in full (vLLM structured outputs; others cannot).
    regex: str | None = None
    #: Return this many most likely alternatives with each generated token's log-probability.
    logprobs: int = 0
    #: The last message is the start of the assistant's reply: continue it, do not answer it.
    continue_final: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def sampling(self) -> dict[str, Any]:
        """The settings that change the output (part of the cache key). Options added later are
        keyed only when set, so the entries cached before them keep their keys."""
        out: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
            "stop": self.stop,
            "ignore_eos": self.ignore_eos,
        }
        if self.regex is not None:
            out["regex"] = self.regex
        if self.logprobs:
            out["logprobs"] = self.logprobs
        if self.continue_final:
            out["continue_final"] = True
        return out


@dataclass
class TokenLogprobs:
    """One generated token: its text and the most likely tokens at its place (text,
    log-probability), the generated one among them."""

    text: str
    top: list[tuple[str, float]] = field(default_factory=list)


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
    #: The first choice's tokens with their alternatives, where the request asked for logprobs.
    token_logprobs: list[TokenLogprobs] | None = None
    #: Answered through a batch API (billed at batch prices).
    batch: bool = False

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


@dataclass
class LogprobRequest:
    """Log-probabilities after a plain-text prompt, scored on the raw language model (no chat
    template). With `continuations`: the log-probability of each given text right after the
    prompt. With `top_k` > 0: the log-probabilities of the top_k most likely next tokens.
    `meta` is context for logs and the simulator, never sent."""

    prompt: str
    continuations: list[str] = field(default_factory=list)
    top_k: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LogprobResponse:
    """`logprobs[i]`: the summed log-probability of continuation i's tokens, `token_counts[i]`
    how many tokens it took. `top`: next-token text -> log-probability (top_k requests)."""

    logprobs: list[float] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)
    top: dict[str, float] = field(default_factory=dict)
    latency_s: float = 0.0


class TransientError(Exception):
    """A fault worth retrying (429, 5xx, timeout, dropped connection, malformed body).
    `retry_after` is the server's hint in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class CallFailed(Exception):
    """A call that failed for good (retries exhausted, or a fault retrying cannot fix).
    The message is safe to log: providers never put keys or full prompts in it."""


def redact(text: str, secret: str | None, limit: int = 200) -> str:
    """`text` with every occurrence of `secret` (an API key) masked, then cut to `limit`
    characters: a server may echo the key it refused, and its message ends up in summaries and
    on the terminal. Masking comes first: a cut through the key would leave its start unmasked."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text[:limit]


OnResult = Callable[[int, "ChatResponse | CallFailed"], None]
OnLogprobs = Callable[[int, "LogprobResponse | CallFailed"], None]

#: What a provider can return besides generated text (see Provider.logprob_abilities).
CONTINUATION = "continuation"
NEXT_TOKEN = "next_token"


class Provider(ABC):
    """A model behind some API or engine. Subclasses set `name` (for messages) and implement
    `complete`; the runner in arena.providers.calls adds limits, retries and caching."""

    name: str = "provider"
    #: Identity used in cache keys: provider kind, model id and endpoint.
    cache_identity: tuple[str, ...] = ()
    #: Whether calls count against an API's per-minute limits (the simulator's do not, so a dry
    #: run of a config with real limits is not slowed to them).
    metered: bool = True
    #: Which log-probability methods work: CONTINUATION and/or NEXT_TOKEN.
    logprob_abilities: frozenset[str] = frozenset()

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Make one call. Raise TransientError for retryable faults, CallFailed otherwise."""

    def run_batch(self, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
        """Run many calls, reporting each as it finishes (in any order) through `on_result`.
        The default drives `complete` through the shared runner."""
        from arena.providers.calls import run_calls

        run_calls(self, requests, on_result, progress=progress)

    async def continuation_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        """The log-probability of each of `request.continuations` after `request.prompt`.
        Raise TransientError / CallFailed as `complete` does."""
        raise ProviderError(
            f"{self.name}: this provider cannot return the log-probability of given text "
            "(styles letter_logprob/text_logprob need vLLM, an OpenAI-compatible completions server, or --dry-run)"
        )

    async def next_token_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        """The `request.top_k` most likely next tokens after `request.prompt`, with log-probabilities."""
        raise ProviderError(
            f"{self.name}: this provider cannot return next-token log-probabilities "
            "(style letter_logprob needs vLLM, an OpenAI(-compatible) API with logprobs, or --dry-run)"
        )

    def run_logprob_batch(self, requests: list[LogprobRequest], on_result: OnLogprobs, *, progress: Any = None) -> None:
        """Run many log-probability requests, reporting each through `on_result` as it finishes.
        The default drives the async methods concurrently with the shared retry policy; an engine
        that batches natively (vLLM offline) overrides this."""
        from arena.providers.logprob_calls import run_logprob_calls

        run_logprob_calls(self, requests, on_result, progress=progress)

    async def release_connections(self) -> None:
        """Close connections opened in the running event loop; the runner calls this before its
        loop ends (each batch runs in a fresh loop, and a pool must not outlive its loop)."""

    def close(self) -> None:
        """Release engines, servers or connections."""
