"""Running many log-probability calls: bounded concurrency, retries with backoff, per-call timeout.

The same policy as chat calls (arena.providers.calls: the client's `max_concurrency`,
`max_retries`, `timeout_s`, the server's Retry-After), for `Provider.continuation_logprobs` and
`Provider.next_token_logprobs`. Kept apart from the chat runner because that one's request type
(and, later, its cache key) is the chat request; the backoff schedule itself is shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from arena.config import ClientConfig
from arena.providers.base import CallFailed, LogprobRequest, OnLogprobs, Provider, TransientError
from arena.providers.calls import _backoff

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_logprob_calls(provider: Provider, requests: list[LogprobRequest], on_result: OnLogprobs, *, progress: Any = None) -> None:
    """Send each request to the method it asks for (continuations, or top_k next tokens) and
    report each result through `on_result` as it finishes."""
    client: ClientConfig = getattr(provider, "client", None) or ClientConfig()

    def method(request: LogprobRequest) -> Callable[[], Awaitable[Any]]:
        if request.continuations:
            return lambda: provider.continuation_logprobs(request)
        return lambda: provider.next_token_logprobs(request)

    async def run_all() -> None:
        limit = asyncio.Semaphore(client.max_concurrency)

        async def one(index: int, request: LogprobRequest) -> None:
            async with limit:
                result = await with_retries(method(request), client, provider.name, progress)
            on_result(index, result)

        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))

    asyncio.run(run_all())


async def with_retries(call: Callable[[], Awaitable[T]], client: ClientConfig, name: str, progress: Any = None) -> T | CallFailed:
    """Await `call()` with the retry policy: transient faults and timeouts are retried up to
    `max_retries` times, after the server's Retry-After or an exponential backoff with jitter."""
    attempt = 0
    while True:
        try:
            return await asyncio.wait_for(call(), timeout=client.timeout_s)
        except CallFailed as exc:
            return exc
        except (TransientError, asyncio.TimeoutError) as exc:
            reason = str(exc) or f"no answer within {client.timeout_s:g} s"
            if attempt >= client.max_retries:
                return CallFailed(f"{name}: gave up after {attempt + 1} attempts: {reason}")
            retry_after = getattr(exc, "retry_after", None)
            delay = retry_after if retry_after is not None else _backoff(attempt)
            attempt += 1
            if progress is not None:
                progress.note_retry()
            log.debug("%s: retry %d in %.1f s: %s", name, attempt, delay, reason)
            await asyncio.sleep(delay)
