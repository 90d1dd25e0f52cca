"""Spearman's rho by hand and against scipy, and its bootstrap interval over models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from arena.rating.correlation import spearman, spearman_interval


def test_hand_computed_values():
    # No ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with d = (0, 1, 1, 0): 1 - 12 / 60.
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # Ties take their average rank: x ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4):
    # covariance 4.5, variances 4.5 and 5 -> 4.5 / sqrt(22.5).
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([1], [2]))


def test_matches_scipy_on_random_data_with_ties():
    rng = np.random.default_rng(5)
    for _ in range(20):
        x, y = rng.integers(0, 6, 12), rng.normal(size=12)
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_bootstrap_interval_covers_the_estimate_and_is_seeded():
    x = np.array([1150, 1080, 1020, 980, 920, 850.0])
    y = np.array([0.78, 0.72, 0.66, 0.63, 0.55, 0.42])
    result = spearman_interval(x, y, rounds=500, seed=1)
    assert result.rho == 1.0 and result.n == 6
    assert result.ci_high == 1.0 and 0.0 < result.ci_low <= 1.0 and result.rounds > 400
    assert spearman_interval(x, y, rounds=500, seed=1) == result
    noisy = spearman_interval(x, y[::-1] + np.array([0, 0.3, -0.2, 0.1, 0, 0.05]), rounds=500, seed=1)
    assert noisy.ci_low <= noisy.rho <= noisy.ci_high
    # Too few models: no interval.
    short = spearman_interval(x[:2], y[:2])
    assert math.isnan(short.ci_low) and short.rounds == 0


def test_measurement_error_widens_an_interval_of_perfect_agreement():
    """Six models ranked alike by both figures: resampling models alone gives [1, 1]; with each
    figure's standard error, near-ties make the interval honest."""
    x = np.array([1150, 1080, 1020, 980, 920, 850.0])
    y = np.array([0.78, 0.77, 0.66, 0.65, 0.55, 0.42])
    alone = spearman_interval(x, y, rounds=1000, seed=2)
    assert (alone.ci_low, alone.ci_high) == (1.0, 1.0)
    measured = spearman_interval(x, y, x_se=np.full(6, 14.0), y_se=np.full(6, 0.03), rounds=1000, seed=2)
    assert measured.rho == 1.0 and measured.ci_low < 0.9 and measured.ci_high == 1.0
    # Zero (or unknown: NaN) errors change nothing.
    same = spearman_interval(x, y, x_se=np.zeros(6), y_se=np.full(6, np.nan), rounds=1000, seed=2)
    assert (same.ci_low, same.ci_high) == (1.0, 1.0)
