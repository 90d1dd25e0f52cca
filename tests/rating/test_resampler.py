"""The bootstrap's battle resampler: Poisson draws from inversion tables, corrected to an exact
multinomial. Checked against the distributions themselves (exact pmfs, chi-square on many
draws with fixed seeds) and against inversion done by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import pdtrc
from scipy.stats import chi2, multinomial, poisson

from arena.rating import bootstrap
from arena.rating.bootstrap import PoissonTables, Resampler, draw_counts, poisson_support


def _chi2_p(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson's chi-square p-value, outcomes with small expectations pooled into one."""
    small = expected < 5
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    stat = float((((obs - exp) ** 2)[keep] / exp[keep]).sum())
    return float(chi2.sf(stat, keep.sum() - 1))


def test_table_support_leaves_no_mass_a_draw_could_reach():
    means = np.arange(1, bootstrap._TABLE_MEAN + 1)
    support = np.array([poisson_support(int(m)) for m in means])
    # P(X >= support) = P(X > support - 1).
    assert pdtrc(support - 1, means).max() < 1e-20


class _FixedUniforms:
    """Stands in for a Generator whose uniform numbers the test chooses."""

    def __init__(self, values: np.ndarray):
        self.values = values

    def random(self, shape: tuple[int, int]) -> np.ndarray:
        return self.values.reshape(shape)


def test_table_draws_are_exact_inversion():
    means = np.array([0, 1, 3, 17, 135, 900])
    tables = PoissonTables(means)
    rng = np.random.default_rng(0)
    # Uniforms anywhere, and right at the CDF's steps and guide-bucket edges, where an
    # off-by-one in the guide or the search would show.
    cdf = {m: poisson.cdf(np.arange(poisson_support(int(m))), m) for m in means}
    edges = np.concatenate([c[c < 1] for c in cdf.values()])
    u = np.concatenate([
        rng.random(60_000), edges, np.nextafter(edges, 0), np.nextafter(edges, 1),
        np.arange(bootstrap._GUIDE) / bootstrap._GUIDE, [0.0, np.nextafter(1.0, 0)],
    ])
    u = u[u < 1.0]  # a Generator's uniforms lie in [0, 1)
    u = u[: len(u) // len(means) * len(means)]
    table = np.arange(len(means))
    got = tables.draw(table, len(u) // len(means), _FixedUniforms(u))
    for column, m in enumerate(means):
        column_u = u.reshape(-1, len(means))[:, column]
        want = np.searchsorted(tables.cdf[tables.f_start[column]: tables.f_start[column] + poisson_support(int(m))], column_u, side="right")
        np.testing.assert_array_equal(got[:, column], want)
        # The table's CDF is Poisson's (to rounding), so inversion gives Poisson's quantiles.
        np.testing.assert_allclose(tables.cdf[tables.f_start[column]: tables.f_start[column] + len(cdf[m])], cdf[m], rtol=0, atol=1e-13)


@pytest.mark.parametrize("mean", [1, 4, 17, 60, 135, 1024])
def test_table_draws_follow_poisson(mean):
    draws = PoissonTables(np.array([mean])).draw(np.zeros(200, dtype=np.int64), 1000, np.random.default_rng(mean))
    k = np.arange(poisson_support(mean))
    observed = np.bincount(draws.ravel(), minlength=len(k))
    assert len(observed) == len(k)
    assert _chi2_p(observed, draws.size * poisson.pmf(k, mean)) > 1e-4


def _exact_multinomial_p(draws: np.ndarray, count: np.ndarray) -> float:
    """Chi-square of the draws against Multinomial(N, count / N) over every outcome."""
    n = int(count.sum())
    outcomes = [o for o in itertools.product(*(range(n + 1) for _ in count)) if sum(o) == n]
    index = {o: k for k, o in enumerate(outcomes)}
    observed = np.bincount([index[tuple(int(v) for v in row)] for row in draws], minlength=len(outcomes))
    expected = len(draws) * multinomial.pmf(np.array(outcomes), n, count / n)
    return _chi2_p(observed, expected)


@pytest.mark.parametrize("count", [[6, 2, 4], [9, 0, 4, 2], [1, 1, 1, 3, 6]])
def test_resamples_are_exactly_multinomial(count):
    # Small N: about half the rows come out of the Poisson draw short of N and half over, so
    # both corrections are exercised on every row shape.
    count = np.array(count)
    resampler = Resampler(count)
    assert not resampler.by_index
    draws = resampler(np.random.default_rng(11), 60_000)
    assert np.all(draws.sum(axis=1) == count.sum())
    assert np.all(draws[:, count == 0] == 0)
    assert _exact_multinomial_p(draws, count) > 1e-4


def test_resamples_without_tables_are_exactly_multinomial(monkeypatch):
    # Cells above the table limit, or beyond the number of tables, come from numpy's sampler.
    monkeypatch.setattr(bootstrap, "_TABLE_MEAN", 2)
    monkeypatch.setattr(bootstrap, "_TABLES", 1)
    count = np.array([5, 1, 3, 3])
    resampler = Resampler(count)
    assert len(resampler.rest) == 3
    draws = resampler(np.random.default_rng(12), 60_000)
    assert np.all(draws.sum(axis=1) == count.sum())
    assert _exact_multinomial_p(draws, count) > 1e-4


def test_cells_too_large_for_any_table():
    # Six models, millions of battles: every cell above the table limit.
    count = np.array([2000, 3500, 1025, 9000])
    resampler = Resampler(count)
    assert resampler.tables is None and len(resampler.rest) == 4
    draws = resampler(np.random.default_rng(3), 4000)
    assert np.all(draws.sum(axis=1) == count.sum())
    p = count / count.sum()
    np.testing.assert_allclose(draws.var(axis=0), count.sum() * p * (1 - p), rtol=0.1)


def test_large_resamples_have_multinomial_moments():
    rng = np.random.default_rng(5)
    count = rng.integers(0, 300, 400)
    n = int(count.sum())
    draws = Resampler(count)(np.random.default_rng(6), 20_000).astype(np.float64)
    p = count / n
    assert np.all(draws.sum(axis=1) == n)
    # Mean N p and variance N p (1 - p) per cell, and the same for any group of cells (cells
    # are negatively correlated); the Poisson draw alone would give N p for both.
    se = np.sqrt(n * p * (1 - p) / len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - n * p) <= 5 * se + 1e-12)
    var = draws.var(axis=0, ddof=1)
    want = n * p * (1 - p)
    busy = count > 50
    np.testing.assert_allclose(var[busy], want[busy], rtol=0.08)
    half = draws[:, ::2].sum(axis=1)
    p_half = p[::2].sum()
    assert half.var(ddof=1) == pytest.approx(n * p_half * (1 - p_half), rel=0.05)


def test_index_path_and_searched_cells_agree_with_counts(monkeypatch):
    # Nearly one cell per battle draws battle indices; a log beyond the owner array's bound
    # finds cells by binary search. Both resample every battle.
    count = np.array([1, 1, 2, 1, 1])
    assert Resampler(count).by_index
    monkeypatch.setattr(bootstrap, "_OWNER_BATTLES", 0)
    for c in (count, np.array([40, 3, 0, 25])):
        draws = draw_counts(c, 3000, np.random.default_rng(2))
        assert np.all(draws.sum(axis=1) == c.sum())
        np.testing.assert_allclose(draws.mean(axis=0), c, atol=0.1 * c.max())


def test_resamples_depend_on_the_seed_only():
    count = np.random.default_rng(1).integers(1, 90, 1000)
    one = Resampler(count)(np.random.default_rng(4), 50)
    np.testing.assert_array_equal(one, Resampler(count)(np.random.default_rng(4), 50))
    assert not np.array_equal(one, Resampler(count)(np.random.default_rng(5), 50))
    assert math.isclose(one.mean(), count.mean(), rel_tol=0.01)
