"""Pacing calls to an API's limits: requests and tokens per minute, and a provider-wide pause.

APIs meter a key by requests per minute and tokens per minute, refilling continuously. A token
bucket per limit mirrors that: each call reserves its share before it starts and waits until the
bucket has it. Reservations may run the bucket below zero, so waiters queue in arrival order
without a lock (the runner is one asyncio loop; nothing awaits between reading and reserving).

A 429 with Retry-After means the server's own meter is ahead of ours (another process shares
the key, or the limit is lower than configured). Then every worker of the provider waits, not
only the one that was refused: more calls before the pause ends would just buy more 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from arena.providers.base import ChatRequest

#: Rough characters per token of English prompts; tokenizers differ, this only paces.
CHARS_PER_TOKEN = 4


def estimated_tokens(request: ChatRequest) -> int:
    """Tokens a call may count against a tokens-per-minute limit: its prompt (characters / 4)
    plus everything it may generate (APIs reserve max_tokens up front)."""
    chars = sum(len(m.get("content") or "") for m in request.messages)
    return chars // CHARS_PER_TOKEN + request.max_tokens * request.n


class TokenBucket:
    """`rate` units per second, holding at most `capacity` (the allowed burst)."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + max(0.0, now - self._stamp) * self.rate)
        self._stamp = max(self._stamp, now)

    def reserve(self, amount: float) -> float:
        """Take `amount` now; return how long to wait before using it (0 when it was there).
        The level may go below zero: a call larger than the bucket waits until the rate has
        paid for all of it (charging it only a bucketful let through several times the limit)."""
        self._refill(self._clock())
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def refund(self, amount: float) -> None:
        """Give back what a call reserved but did not use (estimates are pessimistic)."""
        self.level = min(self.capacity, self.level + amount)

    def drain(self, until: float) -> None:
        """Empty the bucket and refill nothing before `until` (the end of a server pause), so
        the calls released by the pause start at the configured rate, not in a burst."""
        self._refill(self._clock())
        self.level = min(self.level, 0.0)
        self._stamp = max(self._stamp, until)


class Pacer:
    """The limits of one provider: requests and tokens per minute (either may be None) and the
    pause a 429's Retry-After imposes on every worker."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._clock = clock
        # One second's worth of burst: enough to fill the pipe at start, small enough that a
        # server metering per second or per minute sees the configured rate.
        self.requests = (
            TokenBucket(requests_per_minute / 60.0, max(1.0, requests_per_minute / 60.0), clock)
            if requests_per_minute else None
        )
        self.tokens = (
            TokenBucket(tokens_per_minute / 60.0, max(1.0, tokens_per_minute / 60.0), clock)
            if tokens_per_minute else None
        )
        self.paused_until = 0.0
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        """Hold every worker for `seconds` from now (a 429 with Retry-After)."""
        until = self._clock() + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.pauses += 1
            for bucket in (self.requests, self.tokens):
                if bucket is not None:
                    bucket.drain(until)

    async def wait_turn(self, tokens: int) -> None:
        """Wait out any pause, then reserve one request and `tokens` tokens and wait for them."""
        while (wait := self.paused_until - self._clock()) > 0:
            await asyncio.sleep(wait)
        delay = 0.0
        if self.requests is not None:
            delay = max(delay, self.requests.reserve(1))
        if self.tokens is not None:
            delay = max(delay, self.tokens.reserve(tokens))
        if delay > 0:
            await asyncio.sleep(delay)
        # A pause that began while this call waited for its slot holds it too.
        while (wait := self.paused_until - self._clock()) > 0:
            await asyncio.sleep(wait)

    def settle(self, estimated: int, used: int) -> None:
        """After a call: return the tokens reserved beyond what it used."""
        if self.tokens is not None and used and estimated > used:
            self.tokens.refund(estimated - used)
