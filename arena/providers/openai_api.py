"""OpenAI chat completions through the official `openai` client: OpenAI itself, or any
OpenAI-compatible server (vLLM's, a local gateway) by `client.base_url`.

The client's own retries are off: the shared runner (arena.providers.calls) owns the retry policy,
so every provider behaves the same. Faults worth retrying become TransientError (with the server's
Retry-After); the rest become CallFailed with a message that holds no key and no prompt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from arena.config import JudgeConfig, ModelConfig, api_key_env
from arena.errors import ProviderError
from arena.providers.base import (
    CallFailed,
    ChatRequest,
    ChatResponse,
    Provider,
    TokenLogprobs,
    TransientError,
    redact,
)

CONNECTIONS_PER_CLIENT = 4
# Local OpenAI-compatible servers accept any key; the client insists on one.
PLACEHOLDER_KEY = "no-key-needed"


def create(cfg: ModelConfig | JudgeConfig) -> Provider:
    return OpenAIProvider(cfg)


def retry_after_seconds(headers: Any) -> float | None:
    """The server's wait hint: `retry-after-ms`, or `retry-after` in seconds."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None


def quiet_http_logs() -> None:
    """The HTTP stack logs every request at INFO; at thousands of judge calls that is noise
    (and CPU). Warnings and errors still show."""
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def http_response_type(openai: Any) -> type:
    """The response class of the HTTP library the openai client is built on (httpx2 from its 3.x
    releases, httpx before), found through its public default client: `post(cast_to=...)` hands
    back that library's raw response."""
    for base in openai.DefaultAsyncHttpxClient.__mro__:
        library = sys.modules.get(base.__module__.split(".")[0])
        if library is not None and base.__name__ == "AsyncClient" and hasattr(library, "Response"):
            return library.Response
    raise ProviderError("openai client: cannot tell which HTTP library it uses; install a supported openai release")


def default_tls_context() -> Any:
    """The HTTP library's default TLS context (its CA bundle, SSL_CERT_FILE honoured), built
    once and shared by every pool of a provider: each client would otherwise load the CA
    bundle again, ~20 ms apiece, a third of a second per batch at 16 pools."""
    try:
        import httpx2 as http  # the openai client's HTTP library from its 3.x releases
    except ImportError:
        import httpx as http
    return http.create_ssl_context()


def is_transport_fault(exc: BaseException) -> bool:
    """A dropped or garbled connection surfacing from the HTTP stack itself (the clients wrap
    faults while sending, but not all of those while a stream is read)."""
    if isinstance(exc, (ConnectionError, TimeoutError, EOFError)):
        return True
    return any(cls.__module__.split(".")[0] in _TRANSPORT_MODULES for cls in type(exc).__mro__)


_TRANSPORT_MODULES = {"httpx", "httpx2", "httpcore", "httpcore2", "h11", "anyio"}


# The snapshot part of a dated model id: MMDD (OpenAI's "-0613"), YYYYMMDD or YYYY-MM-DD.
SNAPSHOT = re.compile(r"\d{4}(\d{4}|-\d{2}-\d{2})?")


def check_model(asked: str, answered: str) -> None:
    """Refuse an answer from another model than the one asked (a gateway routing the call
    elsewhere, a server serving other weights): it would be recorded as this judge's verdict.
    Treated as transient: the next attempt may reach the right model (ModelGuard stops the
    stage when an endpoint never does).

    APIs answer with the snapshot behind an alias ("gpt-4o" -> "gpt-4o-2024-08-06",
    "claude-3-5-sonnet-latest" -> "claude-3-5-sonnet-20241022", Vertex's "@20240620"), so the
    asked id with any "-latest" removed may be followed by "-" or "@" and a date-like snapshot
    ("0613", "20241022", "2024-08-06"); "gpt-4o-mini-..." is not "gpt-4o", nor "gpt-4-32k"
    "gpt-4". A server that names no model passes."""
    if not answered or answered == asked:
        return
    stem = asked.removesuffix("-latest")
    for sep in ("-", "@"):
        if answered.startswith(stem + sep) and SNAPSHOT.fullmatch(answered[len(stem) + 1:]):
            return
    raise TransientError(f"answer from model {answered[:80]!r}, not the {asked!r} asked for")


def api_key_for(provider_name: str, cfg: ModelConfig | JudgeConfig) -> str | None:
    """The key from the environment variable the config names (or the provider's default);
    None where the provider needs none. The message names the variable, never a value."""
    env = api_key_env(cfg.provider, cfg.client)
    key = os.environ.get(env) if env else None
    if env and not key:
        raise ProviderError(f"{provider_name}: environment variable {env} is not set; export the API key there")
    return key


class ModelGuard:
    """check_model for one provider, with a way out: an endpoint that renames every model (a
    gateway, an Azure deployment) would otherwise have each call paid max_retries + 1 times and
    never recorded. After WRONG_LIMIT wrong answers with no right one, the stage stops with
    the setting that allows it; `client.check_model: false` turns the check off."""

    WRONG_LIMIT = 8

    def __init__(self, provider_name: str, asked: str, enabled: bool = True):
        self.name = provider_name
        self.asked = asked
        self.enabled = enabled
        self.right = 0
        self.wrong = 0

    def __call__(self, answered: str) -> None:
        if not self.enabled:
            return
        try:
            check_model(self.asked, answered)
        except TransientError:
            self.wrong += 1
            if not self.right and self.wrong >= self.WRONG_LIMIT:
                raise ProviderError(
                    f"{self.name}: {self.wrong} answers came from model {answered[:80]!r} and none from "
                    f"{self.asked!r}; if this endpoint names models its own way (a gateway, a deployment), "
                    "set client.check_model: false"
                ) from None
            raise
        self.right += 1


class OpenAIProvider(Provider):
    def __init__(self, cfg: ModelConfig | JudgeConfig):
        import openai  # imported here so a dry run never needs the client configured

        self._openai = openai
        quiet_http_logs()
        self.model = cfg.model_id
        self.client = cfg.client
        self.name = f"{cfg.provider}:{cfg.name}"
        key = api_key_for(self.name, cfg)
        self.cache_identity = (cfg.provider, self.model, cfg.client.base_url or "")
        self.check_model = ModelGuard(self.name, self.model, cfg.client.check_model)
        self._key = key or PLACEHOLDER_KEY
        self._api: list[Any] = []
        self._loop: Any = None
        self._turn = 0
        self._tls: Any = None
        self._response_type = http_response_type(openai)

    def _client(self) -> Any:
        """An async client of this event loop: their connection pools belong to the loop they
        ran on, and each batch runs in a fresh loop. Calls spread over one client per
        CONNECTIONS_PER_CLIENT in flight: the HTTP pool scans all its connections (and polls
        each socket) for every request and every response, so its CPU grows with the pool's
        size; small pools keep that cost flat (4 per pool measured cheaper than 16 at 64 in
        flight, docs/PERFORMANCE.md "Judging")."""
        loop = asyncio.get_running_loop()
        if not self._api or self._loop is not loop:
            shards = max(1, -(-self.client.max_concurrency // CONNECTIONS_PER_CLIENT))
            if self._tls is None:
                self._tls = default_tls_context()
            self._api = [
                self._openai.AsyncOpenAI(
                    api_key=self._key, base_url=self.client.base_url, timeout=self.client.timeout_s, max_retries=0,
                    http_client=self._openai.DefaultAsyncHttpxClient(verify=self._tls),
                )
                for _ in range(shards)
            ]
            self._loop = loop
        self._turn = (self._turn + 1) % len(self._api)
        return self._api[self._turn]

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The chat completions body of `request` (real-time calls and batch lines alike)."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "n": request.n,
        }
        for name in ("top_p", "seed", "stop"):
            value = getattr(request, name)
            if value is not None:
                kwargs[name] = value
        if request.ignore_eos:
            kwargs["ignore_eos"] = True  # vLLM's extension; OpenAI rejects it
        # vLLM's extensions for its judges: a verdict constraint, and continuing a started reply.
        if request.regex is not None:
            kwargs["structured_outputs"] = {"regex": request.regex}
        if request.continue_final:
            kwargs["continue_final_message"] = True
            kwargs["add_generation_prompt"] = False
        if request.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = request.logprobs
        return kwargs

    async def complete(self, request: ChatRequest) -> ChatResponse:
        openai = self._openai
        kwargs = self.request_body(request)
        start = time.perf_counter()
        try:
            # Log-probabilities come whole in a plain answer; the stream is for candidates' TTFT.
            if self.client.stream and not request.logprobs:
                return await self._complete_streaming(kwargs, start)
            response = await self._send(kwargs)
        except openai.RateLimitError as exc:
            raise TransientError("429 rate limited", retry_after_seconds(exc.response.headers)) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (408, 409, 429) or status >= 500:
                raise TransientError(f"HTTP {status}", retry_after_seconds(exc.response.headers)) from None
            raise CallFailed(f"{self.name}: HTTP {status}: {redact(_safe_message(exc), self._key)}") from None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise TransientError(f"connection: {type(exc).__name__}") from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise TransientError(f"malformed response: {type(exc).__name__}") from None
        except Exception as exc:
            if is_transport_fault(exc):
                raise TransientError(f"connection: {type(exc).__name__}") from None
            raise
        return chat_response(self.check_model, response, time.perf_counter() - start)

    async def _send(self, kwargs: dict[str, Any]) -> Any:
        """One plain call, its answer as parsed JSON. Sent through the client's documented
        `post` for endpoints and parameters it does not type ("Making custom/undocumented
        requests" in its README), with the body as given and the answer read as JSON, rather
        than `chat.completions.create`, whose typed request transform and pydantic answer models
        cost the client CPU a plain body of strings and numbers does not need (measured side by
        side in bench/bench_judging.py, docs/PERFORMANCE.md "Judging"). Auth, status errors and
        timeouts are the client's either way."""
        raw = await self._client().post("/chat/completions", body=kwargs, cast_to=self._response_type)
        return json.loads(raw.content)

    async def _complete_streaming(self, kwargs: dict[str, Any], start: float) -> ChatResponse:
        """Streamed call: the same result, plus the time to the first token."""
        stream = await self._client().chat.completions.create(
            **with_extra_body(kwargs), stream=True, stream_options={"include_usage": True}
        )
        texts: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        ttft: float | None = None
        usage = None
        model = ""
        async for chunk in stream:
            model = getattr(chunk, "model", model) or model
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage
            for choice in chunk.choices or []:
                piece = getattr(choice.delta, "content", None) if choice.delta is not None else None
                if piece:
                    if ttft is None:
                        ttft = time.perf_counter() - start
                    texts.setdefault(choice.index, []).append(piece)
                if choice.finish_reason is not None:
                    finish[choice.index] = choice.finish_reason
        n = kwargs.get("n", 1)
        if len(finish) < n:
            raise TransientError("stream ended before every choice finished")
        self.check_model(model)
        return ChatResponse(
            texts=["".join(texts.get(i, [])) for i in range(n)],
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_s=time.perf_counter() - start,
            ttft_s=ttft,
            finish_reasons=[finish.get(i) for i in range(n)],
            model=model,
        )

    async def release_connections(self) -> None:
        clients, self._api, self._loop = self._api, [], None
        for api in clients:
            await api.close()

    def close(self) -> None:
        # The client's connections belong to a loop the runner has closed by now; dropping the
        # client releases them.
        self._api = []
        self._loop = None


#: vLLM's request fields that are no OpenAI parameter: create() sends them in `extra_body`.
VLLM_FIELDS = ("ignore_eos", "structured_outputs", "continue_final_message", "add_generation_prompt")


def with_extra_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """create()'s arguments, with vLLM's own fields moved to `extra_body`."""
    kwargs = dict(kwargs)
    extra = {name: kwargs.pop(name) for name in VLLM_FIELDS if name in kwargs}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def chat_response(check: Callable[[str], None], body: Any, latency_s: float) -> ChatResponse:
    """A chat completion's JSON body as our response; a body without usable choices is a
    transient fault (a gateway's error page, a half-baked answer)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not all(
        isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices
    ):
        raise TransientError("response without choices")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    model = str(body.get("model") or "")
    check(model)
    return ChatResponse(
        texts=[str(c["message"].get("content") or "") for c in choices],
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        latency_s=latency_s,
        finish_reasons=[c.get("finish_reason") for c in choices],
        model=model,
        token_logprobs=token_logprobs_of(choices[0]),
    )


def token_logprobs_of(choice: dict[str, Any]) -> list[TokenLogprobs] | None:
    """A chat choice's `logprobs.content` (each token, its log-probability and `top_logprobs`)
    as our token list; None when the answer has none or they are malformed."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    out = []
    try:
        for entry in content:
            text = str(entry["token"])
            top = [(str(alt["token"]), float(alt["logprob"])) for alt in entry.get("top_logprobs") or []]
            if not any(alt == text for alt, _ in top):
                top.append((text, float(entry["logprob"])))
            out.append(TokenLogprobs(text, [(alt, lp) for alt, lp in top if math.isfinite(lp)]))
    except (KeyError, TypeError, ValueError):
        return None
    return out


def _safe_message(exc: Exception) -> str:
    """The server's error text, whole: callers pass it through `redact`, which masks any echoed
    key and then shortens it."""
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or getattr(exc, "message", "") or type(exc).__name__)
