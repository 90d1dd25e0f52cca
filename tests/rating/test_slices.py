"""All leaderboards of a log at once: per-group cells, records from cells, bootstrap rounds of
every slice in one pool, and the sub-leaderboards equal to rating each slice on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arena.battle_log import BATTLE_COLUMNS
from arena.config import RatingConfig
from arena.leaderboard import SUB_COLUMNS, compute_ratings
from arena.rating.bootstrap import CHUNK, ROUND_TOL, bootstrap_bt, bootstrap_bt_many, draw_counts
from arena.rating.bt import VIRTUAL_TIES, fit_bt, fit_bt_batch, strongly_connected
from arena.rating.counts import aggregate, aggregate_groups, pair_totals, restrict
from arena.rating.tables import cell_pair_records, cell_records, model_records, pair_records


def _battles(rng: np.random.Generator, n: int, m: int, *, graded: bool) -> tuple[np.ndarray, ...]:
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    if graded:
        x = np.round(rng.random(n), 2)
        w = rng.choice([0.5, 1.0, 2.0], n)
    else:
        x = rng.choice([0.0, 0.5, 1.0], n, p=[0.4, 0.2, 0.4])
        w = np.ones(n)
    return a, b, x, w


def _same_cells(got, want) -> None:
    for field in ("i", "j", "score", "weight", "count"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    assert got.n_models == want.n_models


@pytest.mark.parametrize("graded", [False, True])
def test_cells_per_group_equal_aggregating_each_group_alone(graded):
    rng = np.random.default_rng(1)
    a, b, x, w = _battles(rng, 3000, 7, graded=graded)
    group = rng.integers(-1, 4, 3000)  # -1: in no group
    cells = aggregate_groups(group, 4, a, b, x, 7, w)
    assert len(cells) == 4
    for k in range(4):
        sel = group == k
        _same_cells(cells[k], aggregate(a[sel], b[sel], x[sel], 7, w[sel]))


def test_a_group_with_no_battles_has_no_cells():
    a, b, x = np.array([0, 1]), np.array([1, 2]), np.array([1.0, 0.0])
    cells = aggregate_groups(np.array([0, 2]), 3, a, b, x, 3)
    assert [len(c) for c in cells] == [1, 0, 1]


def test_restrict_renumbers_the_models_that_played():
    cells = aggregate(np.array([1, 4, 4]), np.array([4, 6, 1]), np.array([1.0, 0.5, 0.0]), 7)
    local, present = restrict(cells)
    np.testing.assert_array_equal(present, [1, 4, 6])
    assert local.n_models == 3
    wins, _ = pair_totals(cells)
    local_wins, _ = pair_totals(local)
    np.testing.assert_array_equal(local_wins, wins[np.ix_(present, present)])


@pytest.mark.parametrize("graded", [False, True])
def test_records_from_cells_equal_records_from_battles(graded):
    rng = np.random.default_rng(2)
    a, b, x, w = _battles(rng, 2000, 6, graded=graded)
    cells = aggregate(a, b, x, 6, w)
    got, want = cell_records(cells), model_records(a, b, x, 6, w)
    for field in ("n_battles", "n_wins", "n_losses", "n_draws"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    np.testing.assert_allclose(got.win_rate, want.win_rate, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.win_rate_se, want.win_rate_se, rtol=0, atol=1e-12)
    got_model, got_opp, got_rec = cell_pair_records(cells)
    want_model, want_opp, want_rec = pair_records(a, b, x, 6, w)
    np.testing.assert_array_equal(got_model, want_model)
    np.testing.assert_array_equal(got_opp, want_opp)
    np.testing.assert_array_equal(got_rec.n_battles, want_rec.n_battles)
    np.testing.assert_allclose(got_rec.win_rate, want_rec.win_rate, rtol=0, atol=1e-12)


def _reference_bootstrap(cells, rounds: int, seed: int, start: np.ndarray) -> tuple[np.ndarray, int]:
    """The bootstrap written plainly: per round a dense wins matrix, a graph search for strong
    connectivity, one fit; the same chunked streams."""
    m = cells.n_models
    out, regularised = [], 0
    n_chunks = -(-rounds // CHUNK)
    for k, child in enumerate(np.random.SeedSequence(seed).spawn(n_chunks)):
        n = min(CHUNK, rounds - k * CHUNK)
        for count in draw_counts(cells.count, n, np.random.default_rng(child)):
            wins, _ = pair_totals(cells, count)
            prior = 0.0 if strongly_connected(wins) else VIRTUAL_TIES
            regularised += prior > 0
            out.append(fit_bt_batch(wins[None], prior=np.array([prior]), start=start)[0])
    assert wins.shape == (m, m)
    return np.array(out), regularised


@pytest.mark.parametrize("sparse", [False, True])
def test_pair_bootstrap_equals_the_plain_one(sparse):
    # Sparse: few battles, so some resamples leave a model unbeaten and need the prior (the
    # spanning-tree shortcut must fall back to the graph search exactly there).
    rng = np.random.default_rng(3)
    a, b, x, _ = _battles(rng, 30 if sparse else 4000, 6, graded=False)
    cells = aggregate(a, b, x, 6)
    wins, _ = pair_totals(cells)
    assert strongly_connected(wins)
    theta = fit_bt(wins)
    samples, regularised = bootstrap_bt(cells, 130, 5, start=theta, workers=2)
    want, want_regularised = _reference_bootstrap(cells, 130, 5, theta)
    assert regularised == want_regularised
    if sparse:
        assert regularised > 0
    # The rounds stop within ROUND_TOL of their maximum, the reference's fits at 1e-10.
    np.testing.assert_allclose(samples, want, rtol=0, atol=ROUND_TOL)


def test_many_bootstraps_in_one_pool_equal_each_alone():
    rng = np.random.default_rng(4)
    fits = []
    for m in (4, 6, 9):
        a, b, x, _ = _battles(rng, 800, m, graded=False)
        cells = aggregate(a, b, x, m)
        fits.append((cells, fit_bt(pair_totals(cells)[0]), 0.0))
    together = bootstrap_bt_many(fits, 120, 8, workers=2)
    for (cells, start, prior), (samples, regularised) in zip(fits, together):
        alone, alone_regularised = bootstrap_bt(cells, 120, 8, start=start, prior=prior, workers=1)
        np.testing.assert_array_equal(samples, alone)
        assert regularised == alone_regularised


def _log(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, m = 6000, 8
    a, b, x, _ = _battles(rng, n, m, graded=False)
    names = np.array([f"model-{k}" for k in range(m)], dtype=object)
    frame = pd.DataFrame({c: np.nan for c in BATTLE_COLUMNS}, index=range(n))
    frame["model_a"], frame["model_b"] = names[a], names[b]
    frame["outcome"], frame["weight"] = x, 1.0
    frame["winner"] = np.where(x > 0.5, "model_a", np.where(x < 0.5, "model_b", "tie"))
    frame["category"] = rng.choice(np.array(["coding", "math", "writing"], dtype=object), n)
    frame["turn"] = rng.integers(1, 3, n)
    frame["judge"] = "judge"
    frame["question_id"] = rng.integers(0, 100, n).astype(str).astype(object)
    # One category where model-0 never lost: its leaderboard is regularised.
    mathy = frame["category"] == "math"
    frame.loc[mathy & (frame["model_a"] == "model-0"), "outcome"] = 1.0
    frame.loc[mathy & (frame["model_b"] == "model-0"), "outcome"] = 0.0
    return frame


def test_sub_leaderboards_equal_rating_each_slice_alone():
    battles = _log(6)
    settings = RatingConfig(bootstrap=200, seed=3, style_control=False, workers=2)
    result = compute_ratings(battles, settings)
    for column, file in (("category", "by_category.csv"), ("turn", "by_turn.csv")):
        table = result.tables[file]
        for value, rows in table.groupby(column, sort=True):
            alone = compute_ratings(battles[battles[column] == value], RatingConfig(
                bootstrap=200, seed=3, style_control=False, per_category=False, workers=1,
            )).leaderboard[SUB_COLUMNS]
            got = rows.drop(columns=[column]).reset_index(drop=True)
            pd.testing.assert_frame_equal(got, alone, check_dtype=False, rtol=0, atol=1e-9)
    slice_warnings = [f for f in result.summary["slice_findings"] if f["value"] == "math"]
    assert any(f["kind"] == "never_lost" for f in slice_warnings)
