"""Token buckets against a fake clock: the configured rate holds over a minute, whatever the
size of each call."""

from arena.providers.pacing import Pacer, TokenBucket


def admitted_in(bucket: TokenBucket, now: list[float], amount: float, seconds: float) -> float:
    """Reserve `amount` per call, starting each call when its wait is over, for `seconds`."""
    total = 0.0
    while True:
        wait = bucket.reserve(amount)
        now[0] += wait
        if now[0] > seconds:
            return total
        total += amount


def test_calls_larger_than_the_burst_still_keep_the_tokens_per_minute_rate():
    now = [0.0]
    # 60,000 tokens/minute: 1,000/s with a one-second burst; each call is 3,000 tokens.
    bucket = TokenBucket(rate=1000.0, capacity=1000.0, clock=lambda: now[0])
    admitted = admitted_in(bucket, now, 3000.0, 60.0)
    # A minute admits the burst plus 60 s of rate (61,000 tokens), within one call's size.
    assert admitted <= 61_000 and admitted >= 61_000 - 3000


def test_small_calls_keep_the_rate_too():
    now = [0.0]
    bucket = TokenBucket(rate=10.0, capacity=10.0, clock=lambda: now[0])
    assert admitted_in(bucket, now, 1.0, 60.0) == 610.0


def test_settling_returns_only_what_was_reserved_beyond_use():
    now = [0.0]
    pacer = Pacer(tokens_per_minute=60_000, clock=lambda: now[0])
    assert pacer.tokens.reserve(3000.0) == 2.0  # 1,000 in the bucket, 2,000 at 1,000/s
    pacer.settle(estimated=3000, used=1000)
    assert pacer.tokens.level == -2000.0 + 2000.0  # the unused 2,000 come back, no more

