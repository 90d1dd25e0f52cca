"""Accuracy and its interval: the Wilson score interval for a binomial proportion.

Wilson rather than the normal approximation (p +- z * sqrt(p(1-p)/n)) because benchmark
accuracies sit near 0 or 1 and n is often small (a subject of MMLU has 100 items): the normal
interval then leaves [0, 1] or collapses to a point at 0/n and n/n; Wilson's does neither.
"""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for `correct` successes out of `n` (95% by default).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),
    half-width = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2), with p = correct / n.
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be between 0 and n, got {correct} of {n}")
    p = correct / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0/n and n/n the bound is exactly 0 or 1; rounding would leave it a hair inside.
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return (low, high)


def normal_interval(value: float, stderr: float, z: float = Z_95) -> tuple[float, float]:
    """value +- z * stderr: the interval of a score reported with its standard error (imports)."""
    return (value - z * stderr, value + z * stderr)
