"""Running many provider calls: bounded concurrency, pacing to the API's per-minute limits,
retries with backoff, per-call timeout.

This is the single place where the policy lives, so every provider (and the simulator) gets the
same behaviour. Results are reported as each call finishes, so the caller can append them to its
store at once and a crash loses at most the calls in flight.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from arena.config import ClientConfig
from arena.providers.base import (
    CallFailed,
    ChatRequest,
    ChatResponse,
    OnResult,
    Provider,
    TransientError,
)
from arena.providers.pacing import Pacer, estimated_tokens

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


def run_calls(provider: Provider, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
    """Run `requests` through `provider.complete` and report each result via `on_result`."""
    client: ClientConfig = getattr(provider, "client", None) or ClientConfig()
    asyncio.run(_run_all(provider, requests, on_result, client, progress))


def pacer_for(provider: Provider, client: ClientConfig) -> Pacer:
    """The provider's pacer, kept on it so the limits hold across the batches of one stage
    (a judge's re-asks run as a second batch right after the first)."""
    pacer = getattr(provider, "_pacer", None)
    if pacer is None:
        pacer = Pacer(client.requests_per_minute, client.tokens_per_minute) if provider.metered else Pacer()
        provider._pacer = pacer  # type: ignore[attr-defined]
    return pacer


async def _run_all(
    provider: Provider, requests: list[ChatRequest], on_result: OnResult, client: ClientConfig, progress: Any
) -> None:
    limit = asyncio.Semaphore(client.max_concurrency)
    pacer = pacer_for(provider, client)

    async def one(index: int, request: ChatRequest) -> None:
        async with limit:
            result = await call_with_retries(provider, request, client, progress, pacer)
        on_result(index, result)

    try:
        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    finally:
        await provider.release_connections()


async def call_with_retries(
    provider: Provider, request: ChatRequest, client: ClientConfig, progress: Any = None, pacer: Pacer | None = None
) -> ChatResponse | CallFailed:
    """One call with the retry policy: transient faults are retried up to `max_retries` times
    with exponential backoff and jitter, or after the server's Retry-After when it sends one
    (which then pauses every worker of this provider, through the pacer)."""
    pacer = pacer or Pacer()
    tokens = estimated_tokens(request)
    attempt = 0
    while True:
        await pacer.wait_turn(tokens)
        if progress is not None and hasattr(progress, "note_call"):
            progress.note_call()
        try:
            response = await _within(provider.complete(request), client.timeout_s)
            pacer.settle(tokens, response.prompt_tokens + response.output_tokens)
            return response
        except CallFailed as exc:
            return exc
        except (TransientError, asyncio.TimeoutError) as exc:
            retry_after = getattr(exc, "retry_after", None)
            reason = str(exc) or f"no answer within {client.timeout_s:g} s"
            if attempt >= client.max_retries:
                return CallFailed(f"{provider.name}: gave up after {attempt + 1} attempts: {reason}")
            attempt += 1
            if progress is not None:
                progress.note_retry()
            if retry_after is not None:
                # The server says when it will take calls again: nobody calls before then.
                pacer.pause(retry_after)
                log.debug("%s: retry %d after the server's pause of %.2f s: %s", provider.name, attempt, retry_after, reason)
                continue
            delay = _backoff(attempt - 1)
            log.debug("%s: retry %d in %.1f s: %s", provider.name, attempt, delay, reason)
            await asyncio.sleep(delay)


async def _within(call: Any, seconds: float) -> Any:
    """`call`, cancelled after `seconds` with asyncio.TimeoutError. asyncio.timeout (3.11+)
    runs it in the caller's task; wait_for before 3.12 wraps each call in a task of its own."""
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(seconds):
            return await call
    return await asyncio.wait_for(call, timeout=seconds)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * (0.5 + random.random() / 2)
