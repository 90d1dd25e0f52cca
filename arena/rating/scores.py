"""Single-mode scores (MT-Bench's table): the mean grade per group with a bootstrap interval.

A group is whatever the caller chooses (model, model and turn, model and category). Resampling a
group's n grades with replacement is a multinomial draw of n over its distinct values, so a round
costs one draw over the (few, for 1-10 grades) distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.rating.bootstrap import percentile_interval


@dataclass(frozen=True)
class ScoreSummary:
    n: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def mean_scores(group: np.ndarray, score: np.ndarray, n_groups: int, *, rounds: int, seed: int) -> ScoreSummary:
    """Mean score per group and its 95% percentile bootstrap interval (NaN without rounds or
    grades). Group g's rounds use a stream spawned from `seed` for g, so adding a group does not
    change the others' intervals."""
    g = np.asarray(group, dtype=np.int64)
    x = np.asarray(score, dtype=np.float64)
    n = np.bincount(g, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, weights=x, minlength=n_groups) / n
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    if rounds > 0:
        streams = np.random.SeedSequence(seed).spawn(n_groups)
        for k in np.flatnonzero(n):
            values, counts = np.unique(x[g == k], return_counts=True)
            draws = np.random.default_rng(streams[k]).multinomial(n[k], counts / n[k], size=rounds)
            lo, hi = percentile_interval((draws @ values / n[k])[:, None])
            low[k], high[k] = lo[0], hi[0]
    return ScoreSummary(n=n, mean=mean, ci_low=low, ci_high=high)
