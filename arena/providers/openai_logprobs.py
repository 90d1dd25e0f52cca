"""Log-probabilities from OpenAI and OpenAI-compatible APIs, for rule-based scoring.

Generation goes through the chat provider (arena.providers.openai_api), unchanged. On top of it:

- `openai_compatible` (vLLM's server, llama.cpp, a gateway): the legacy completions endpoint,
  which scores the raw language model. The log-probability of given text comes from echoing the
  prompt (`echo: true, logprobs: 1`): the server returns every prompt token's log-probability and
  character offset, and the continuation's tokens are those past the prompt's end. The top next
  tokens come from `logprobs: k` on one generated token.
- `openai` (api.openai.com): chat models only, which return the top log-probabilities of the
  tokens they generate (`logprobs: true, top_logprobs: k`, at most 20) but never those of given
  text. So letter_logprob works (from the first answer token), text_logprob does not, and the
  run plan says so before any call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arena.config import JudgeConfig, ModelConfig
from arena.providers.base import (
    CONTINUATION,
    NEXT_TOKEN,
    CallFailed,
    ChatRequest,
    ChatResponse,
    LogprobRequest,
    LogprobResponse,
    OnResult,
    Provider,
    TransientError,
    redact,
)

MAX_TOP_LOGPROBS = 20  # OpenAI's limit for top_logprobs, and vLLM's default max_logprobs


def scoring_abilities(cfg: ModelConfig | JudgeConfig) -> frozenset[str]:
    """What the API returns besides text (see the module docstring)."""
    if cfg.provider == "openai_compatible":
        return frozenset({CONTINUATION, NEXT_TOKEN})
    return frozenset({NEXT_TOKEN})


def create(cfg: ModelConfig | JudgeConfig) -> Provider:
    return OpenAILogprobsProvider(cfg)


class OpenAILogprobsProvider(Provider):
    """The chat provider for generation, plus log-probabilities through the same API.

    `chat` and `http_client` exist for tests (a provider double, an httpx client with a mock
    transport)."""

    def __init__(self, cfg: ModelConfig | JudgeConfig, *, chat: Provider | None = None,
                 http_client: Callable[[], Any] | None = None):
        import openai

        from arena.providers import openai_api

        self._openai = openai
        self.chat = chat if chat is not None else openai_api.create(cfg)
        self.name = self.chat.name
        self.cache_identity = self.chat.cache_identity
        self.client = cfg.client
        self.model = cfg.model_id
        self.completions = cfg.provider == "openai_compatible"
        self.logprob_abilities = scoring_abilities(cfg)
        self._key = openai_api.api_key_for(self.name, cfg) or openai_api.PLACEHOLDER_KEY
        self._http_client = http_client
        self._api: Any = None
        self._loop: Any = None

    # -- generation: the chat provider's ----------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.chat.complete(request)

    def run_batch(self, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
        self.chat.run_batch(requests, on_result, progress=progress)

    def close(self) -> None:
        self.chat.close()
        self._api = None
        self._loop = None

    # -- log-probabilities ------------------------------------------------------------------

    async def continuation_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        if not self.completions:
            return await super().continuation_logprobs(request)  # raises: chat APIs cannot
        texts = [request.prompt + c for c in request.continuations]
        start = time.perf_counter()
        response = await self._call(lambda api: api.completions.create(
            model=self.model, prompt=texts, max_tokens=1, temperature=0.0, echo=True, logprobs=1,
        ))
        choices = sorted(response.choices or [], key=lambda c: c.index)
        if len(choices) != len(texts):
            raise TransientError(f"asked {len(texts)} echoed prompts, got {len(choices)} choices")
        logprobs, counts = [], []
        for text, choice in zip(texts, choices):
            total, count = continuation_from_echo(choice.logprobs, len(request.prompt), len(text), self.name)
            logprobs.append(total)
            counts.append(count)
        return LogprobResponse(logprobs=logprobs, token_counts=counts, latency_s=time.perf_counter() - start)

    async def next_token_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        k = max(1, min(request.top_k, MAX_TOP_LOGPROBS))
        start = time.perf_counter()
        if self.completions:
            response = await self._call(lambda api: api.completions.create(
                model=self.model, prompt=request.prompt, max_tokens=1, temperature=0.0, logprobs=k,
            ))
            top = _completion_top(response, self.name)
        else:
            response = await self._call(lambda api: api.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": request.prompt}], max_tokens=1,
                temperature=0.0, logprobs=True, top_logprobs=k,
            ))
            top = _chat_top(response, self.name)
        return LogprobResponse(top=top, latency_s=time.perf_counter() - start)

    def _api_client(self) -> Any:
        """One async client per event loop (its connections belong to the loop it ran on)."""
        loop = asyncio.get_running_loop()
        if self._api is None or self._loop is not loop:
            extra = {"http_client": self._http_client()} if self._http_client is not None else {}
            self._api = self._openai.AsyncOpenAI(
                api_key=self._key, base_url=self.client.base_url, timeout=self.client.timeout_s, max_retries=0, **extra
            )
            self._loop = loop
        return self._api

    async def _call(self, send: Callable[[Any], Awaitable[Any]]) -> Any:
        """One API call with the API's faults sorted: retryable ones become TransientError (the
        shared runner retries them), the rest CallFailed."""
        from arena.providers.openai_api import retry_after_seconds

        openai = self._openai
        try:
            return await send(self._api_client())
        except openai.APIStatusError as exc:
            status = exc.status_code
            headers = exc.response.headers
            if status in (408, 409, 429) or status >= 500:
                raise TransientError(f"HTTP {status}", retry_after_seconds(headers)) from None
            raise CallFailed(f"{self.name}: HTTP {status}: {redact(_message(exc), self._key)}") from None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise TransientError(f"connection: {type(exc).__name__}") from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise TransientError(f"malformed response: {type(exc).__name__}") from None


def continuation_from_echo(logprobs: Any, prompt_chars: int, text_chars: int, name: str = "server") -> tuple[float, int]:
    """(summed log-probability, token count) of the text between `prompt_chars` and `text_chars`
    in an echoed completion. A token belongs to the continuation when it ends past the prompt and
    starts before the text's end (so one straddling the boundary counts for the continuation);
    the generated token after the text does not count."""
    tokens = list(getattr(logprobs, "tokens", None) or [])
    values = list(getattr(logprobs, "token_logprobs", None) or [])
    offsets = list(getattr(logprobs, "text_offset", None) or [])
    if not values or len(offsets) != len(values):
        raise CallFailed(
            f"{name}: the completions endpoint returned no prompt log-probabilities for echo=true; "
            "this server cannot score given text (vLLM's server can)"
        )
    total, count = 0.0, 0
    for i, (offset, value) in enumerate(zip(offsets, values)):
        end = offsets[i + 1] if i + 1 < len(offsets) else offset + len(tokens[i] if i < len(tokens) else "")
        if end > prompt_chars and offset < text_chars:
            if value is None:
                raise CallFailed(f"{name}: no log-probability for a continuation token at offset {offset}")
            total += float(value)
            count += 1
    if count == 0:
        raise CallFailed(f"{name}: no continuation tokens found in the echoed prompt")
    return total, count


def _completion_top(response: Any, name: str) -> dict[str, float]:
    choices = response.choices or []
    logprobs = getattr(choices[0], "logprobs", None) if choices else None
    tops = getattr(logprobs, "top_logprobs", None) or []
    if not tops or not tops[0]:
        raise CallFailed(f"{name}: the completions endpoint returned no top log-probabilities")
    return {str(token): float(value) for token, value in tops[0].items()}


def _chat_top(response: Any, name: str) -> dict[str, float]:
    choices = response.choices or []
    logprobs = getattr(choices[0], "logprobs", None) if choices else None
    content = getattr(logprobs, "content", None) or []
    if not content:
        raise CallFailed(f"{name}: the chat endpoint returned no log-probabilities (does this model allow logprobs?)")
    return {entry.token: float(entry.logprob) for entry in content[0].top_logprobs or []}


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or getattr(exc, "message", "") or type(exc).__name__)  # shortened by redact
