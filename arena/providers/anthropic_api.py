"""Anthropic's messages API through the official async `anthropic` client.

The wire differences from chat completions live here: the system prompt is a separate field,
`stop` is `stop_sequences`, usage is `input_tokens`/`output_tokens`, and there is one answer per
call (n must be 1). As in openai_api, the client's own retries are off (the shared runner owns
the policy), faults worth retrying become TransientError with the server's Retry-After (429,
529 overloaded, 5xx, timeouts, dropped connections, malformed bodies) and the rest CallFailed,
with messages that hold no key and no prompt.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arena.config import JudgeConfig, ModelConfig
from arena.errors import ProviderError
from arena.providers.base import (
    CallFailed,
    ChatRequest,
    ChatResponse,
    Provider,
    TransientError,
    redact,
)
from arena.providers.openai_api import (
    ModelGuard,
    api_key_for,
    is_transport_fault,
    quiet_http_logs,
    retry_after_seconds,
)

# Error types Anthropic sends inside a stream (HTTP status already 200) that retrying can fix.
TRANSIENT_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


def create(cfg: ModelConfig | JudgeConfig) -> Provider:
    return AnthropicProvider(cfg)


class AnthropicProvider(Provider):
    def __init__(self, cfg: ModelConfig | JudgeConfig):
        import anthropic  # imported here so a dry run never needs the client

        self._anthropic = anthropic
        quiet_http_logs()
        self.model = cfg.model_id
        self.client = cfg.client
        self.name = f"{cfg.provider}:{cfg.name}"
        key = api_key_for(self.name, cfg)
        if not key:  # anthropic always names a variable; a config cannot make it keyless
            raise ProviderError(f"{self.name}: no API key variable configured (client.api_key_env)")
        self.cache_identity = (cfg.provider, self.model, cfg.client.base_url or "")
        self.check_model = ModelGuard(self.name, self.model, cfg.client.check_model)
        self._key = key
        self._api: Any = None
        self._loop: Any = None
        self._sampling_args: bool | None = None

    def _client(self) -> Any:
        """One async client per event loop (its connection pool belongs to the loop)."""
        loop = asyncio.get_running_loop()
        if self._api is None or self._loop is not loop:
            self._api = self._anthropic.AsyncAnthropic(
                api_key=self._key, base_url=self.client.base_url, timeout=self.client.timeout_s, max_retries=0
            )
            self._loop = loop
        return self._api

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        if request.n != 1:
            raise CallFailed(f"{self.name}: the messages API gives one answer per call; set generation.n to 1")
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m for m in request.messages if m["role"] != "system"],
            "max_tokens": request.max_tokens,
        }
        if system:
            kwargs["system"] = system
        if request.stop:
            kwargs["stop_sequences"] = request.stop
        sampling = {"temperature": request.temperature}
        if request.top_p is not None:
            sampling["top_p"] = request.top_p
        # Recent client releases dropped the sampling arguments from `create` (newer models fix
        # them); the wire field is the same, so send them as extra body fields there.
        if self._takes_sampling_args():
            kwargs.update(sampling)
        else:
            kwargs["extra_body"] = sampling
        return kwargs

    def params(self, request: ChatRequest) -> dict[str, Any]:
        """The messages API body of `request`, as a batch request's `params` holds it."""
        kwargs = self._kwargs(request)
        kwargs.update(kwargs.pop("extra_body", {}))
        return kwargs

    def _takes_sampling_args(self) -> bool:
        if self._sampling_args is None:
            import inspect

            params = inspect.signature(self._anthropic.resources.messages.AsyncMessages.create).parameters
            self._sampling_args = "temperature" in params
        return self._sampling_args

    async def complete(self, request: ChatRequest) -> ChatResponse:
        anthropic = self._anthropic
        kwargs = self._kwargs(request)
        start = time.perf_counter()
        try:
            if self.client.stream:
                response = await self._complete_streaming(kwargs, start)
            else:
                response = self._response_of(await self._client().messages.create(**kwargs), start)
        except anthropic.APIStatusError as exc:
            raise self._status_fault(exc) from None
        except (anthropic.APIConnectionError, anthropic.APITimeoutError) as exc:
            raise TransientError(f"connection: {type(exc).__name__}") from None
        except (anthropic.APIResponseValidationError, ValueError, KeyError, AttributeError) as exc:
            raise TransientError(f"malformed response: {type(exc).__name__}") from None
        except Exception as exc:
            if is_transport_fault(exc):
                raise TransientError(f"connection: {type(exc).__name__}") from None
            raise
        self.check_model(response.model)
        return response

    def _status_fault(self, exc: Any) -> Exception:
        status = exc.status_code
        retry_after = retry_after_seconds(getattr(exc.response, "headers", None))
        if status in (408, 409, 429, 529) or status >= 500:
            return TransientError(f"HTTP {status}", retry_after)
        error_type = _error_type(exc)
        if status < 400 and error_type in TRANSIENT_STREAM_ERRORS:  # an error event inside a stream
            return TransientError(f"stream error: {error_type}", retry_after)
        return CallFailed(f"{self.name}: HTTP {status}: {redact(_message(exc), self._key)}")

    def _response_of(self, message: Any, start: float) -> ChatResponse:
        if message is None or getattr(message, "content", None) is None:
            raise TransientError("response without content")
        text = "".join(getattr(block, "text", "") or "" for block in message.content if getattr(block, "type", "") == "text")
        usage = getattr(message, "usage", None)
        return ChatResponse(
            texts=[text],
            prompt_tokens=getattr(usage, "input_tokens", 0) or 0,
            output_tokens=getattr(usage, "output_tokens", 0) or 0,
            latency_s=time.perf_counter() - start,
            finish_reasons=[getattr(message, "stop_reason", None)],
            model=getattr(message, "model", "") or "",
        )

    async def _complete_streaming(self, kwargs: dict[str, Any], start: float) -> ChatResponse:
        """Streamed call: the same result, plus the time to the first text."""
        stream = await self._client().messages.create(**kwargs, stream=True)
        pieces: list[str] = []
        ttft: float | None = None
        prompt_tokens = output_tokens = 0
        model = ""
        stop_reason: str | None = None
        stopped = False
        async for event in stream:
            kind = getattr(event, "type", "")
            if kind == "message_start":
                model = getattr(event.message, "model", "") or ""
                prompt_tokens = getattr(event.message.usage, "input_tokens", 0) or 0
            elif kind == "content_block_delta":
                piece = getattr(event.delta, "text", None)
                if piece:
                    if ttft is None:
                        ttft = time.perf_counter() - start
                    pieces.append(piece)
            elif kind == "message_delta":
                stop_reason = getattr(event.delta, "stop_reason", None) or stop_reason
                output_tokens = getattr(getattr(event, "usage", None), "output_tokens", 0) or output_tokens
            elif kind == "message_stop":
                stopped = True
        if not stopped or stop_reason is None:
            raise TransientError("stream ended before the message stopped")
        return ChatResponse(
            texts=["".join(pieces)],
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            latency_s=time.perf_counter() - start,
            ttft_s=ttft,
            finish_reasons=[stop_reason],
            model=model,
        )

    async def release_connections(self) -> None:
        api, self._api, self._loop = self._api, None, None
        if api is not None:
            await api.close()

    def close(self) -> None:
        self._api = None
        self._loop = None


def _error_type(exc: Any) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return error.get("type")
    return None


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or type(exc).__name__)  # shortened by redact, after masking
