"""Bootstrap draws and intervals: reproducible, and covering the truth about 95% of the time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from arena.rating.bootstrap import draw_counts, run_rounds
from arena.rating.bt import to_elo
from arena.rating.counts import aggregate
from arena.rating.ratings import bradley_terry


@pytest.mark.parametrize("count", [np.array([5, 1, 30, 0, 4]), np.ones(40, dtype=np.int64)])
def test_draws_resample_every_battle(count):
    # Both paths (multinomial over few cells; battle indices when cells ~ battles).
    draws = draw_counts(count, 2000, np.random.default_rng(0))
    assert draws.shape == (2000, len(count))
    assert np.all(draws.sum(axis=1) == count.sum())
    assert np.all(draws[:, count == 0] == 0)
    # Multinomial means: N * count / N = count.
    np.testing.assert_allclose(draws.mean(axis=0), count, atol=0.1 * count.max())


def test_rounds_depend_on_the_seed_not_on_the_workers():
    def fn(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.random((n, 3))

    one = run_rounds(fn, 230, seed=5, workers=1)
    two = run_rounds(fn, 230, seed=5, workers=2)
    assert one.shape == (230, 3)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, run_rounds(fn, 230, seed=6, workers=1))


def test_bootstrap_is_reproducible_for_a_seed():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 500)
    b = (a + rng.integers(1, 4, 500)) % 4
    x = (rng.random(500) < 0.6).astype(float)
    cells = aggregate(a, b, x, 4)
    first = bradley_terry(cells, list("abcd"), rounds=120, seed=3, workers=2)
    again = bradley_terry(cells, list("abcd"), rounds=120, seed=3, workers=1)
    np.testing.assert_allclose(first.ci_low, again.ci_low, atol=1e-9)
    np.testing.assert_allclose(first.ci_high, again.ci_high, atol=1e-9)
    assert np.all(first.ci_low < first.rating) and np.all(first.rating < first.ci_high)


def test_intervals_cover_known_strengths_about_95_percent():
    # Known strengths, many independent battle sets: each model's 95% interval should hold its
    # true (centred) rating in about 95% of the sets.
    m, n, seeds, rounds = 8, 1500, 60, 200
    truth = np.linspace(-1.0, 1.0, m)
    true_elo = to_elo(truth)
    covered = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        a = rng.integers(0, m, n)
        b = (a + rng.integers(1, m, n)) % m
        # Pure Bradley-Terry outcomes: ties drawn independently of strength would shrink the
        # gaps the fit estimates, and the truth would no longer be its target.
        x = (rng.random(n) < expit(truth[a] - truth[b])).astype(float)
        rated = bradley_terry(aggregate(a, b, x, m), [str(i) for i in range(m)], rounds=rounds, seed=seed)
        covered.append((rated.ci_low <= true_elo) & (true_elo <= rated.ci_high))
    coverage = float(np.mean(covered))
    print(f"\ncoverage of 95% intervals over {seeds} seeds x {m} models: {coverage:.3f}")
    assert 0.90 <= coverage <= 0.99
