"""Rank correlation between two scores of the same models, with a bootstrap interval over models.

Used to say how well an arena's ratings agree with a rule-based benchmark: Spearman's rho is the
Pearson correlation of the two rankings (ties get their average rank), and its 95% interval comes
from resampling the models with replacement (with few models the interval is wide, and it should
be). Resampling models alone says nothing of how precisely each model was measured: six models
ranked alike by both gives the interval [1, 1] however close their figures are. Given each
figure's standard error, every resample also draws each model's figures from their own sampling
distribution (normal), so near-ties between models widen the interval as they should. Pure numpy
and scipy's rankdata; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of x with the same row of y (NaN where one is constant)."""
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    num = (dx * dy).sum(axis=-1)
    den = np.sqrt((dx * dx).sum(axis=-1) * (dy * dy).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = num / den
    return np.where(den > 1e-12, rho, np.nan)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of two equally long vectors (average ranks for ties); NaN when either is
    constant or there are fewer than two values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    # Imported here: scipy.stats takes half a second to import, and every command loads this module.
    from scipy.stats import rankdata

    return float(_pearson_rows(rankdata(x), rankdata(y)))


@dataclass
class RankCorrelation:
    rho: float
    ci_low: float
    ci_high: float
    n: int
    rounds: int  # bootstrap resamples with a defined rho (a resample of tied models has none)


def spearman_interval(x: np.ndarray, y: np.ndarray, *, x_se: np.ndarray | None = None, y_se: np.ndarray | None = None,
                      rounds: int = 2000, seed: int = 0, level: float = 0.95) -> RankCorrelation:
    """Spearman's rho with a percentile bootstrap interval over the items (here: models); with
    `x_se` / `y_se` (each value's standard error; NaN counts as 0), each resample also perturbs
    the values by their own normal sampling error."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    rho = spearman(x, y)
    if n < 3 or rounds <= 0 or np.isnan(rho):
        return RankCorrelation(rho, float("nan"), float("nan"), n, 0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(rounds, n))
    xs, ys = x[picks], y[picks]
    for values, se in ((xs, x_se), (ys, y_se)):
        if se is not None:
            scale = np.nan_to_num(np.asarray(se, dtype=np.float64), nan=0.0)[picks]
            values += rng.standard_normal(values.shape) * scale
    from scipy.stats import rankdata

    samples = _pearson_rows(rankdata(xs, axis=1), rankdata(ys, axis=1))
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0:
        return RankCorrelation(rho, float("nan"), float("nan"), n, 0)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return RankCorrelation(rho, float(low), float(high), n, len(samples))
