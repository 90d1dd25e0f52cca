"""Records, win-rate matrix, rank spread and single-mode score summaries, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.counts import aggregate
from arena.rating.scores import mean_scores
from arena.rating.tables import model_records, pair_records, rank_spread, win_rate_matrix


def test_model_records_count_each_side():
    # 0 beats 1, 1 ties 2, 2 beats 0 with 0.8, 0 beats 1 with 0.6
    a = np.array([0, 1, 2, 0])
    b = np.array([1, 2, 0, 1])
    x = np.array([1.0, 0.5, 0.8, 0.6])
    rec = model_records(a, b, x, 3)
    assert rec.n_battles.tolist() == [3, 3, 2]
    assert rec.n_wins.tolist() == [2, 0, 1]
    assert rec.n_losses.tolist() == [1, 2, 0]
    assert rec.n_draws.tolist() == [0, 1, 1]
    np.testing.assert_allclose(rec.win_rate, [(1 + 0.2 + 0.6) / 3, (0 + 0.5 + 0.4) / 3, (0.5 + 0.8) / 2])
    # Unit weights: the standard error is the sample standard deviation over sqrt(n).
    scores0 = np.array([1.0, 0.2, 0.6])
    assert rec.win_rate_se[0] == pytest.approx(scores0.std(ddof=1) / np.sqrt(3))


def test_single_battle_has_no_standard_error():
    rec = model_records(np.array([0]), np.array([1]), np.array([1.0]), 2)
    assert np.isnan(rec.win_rate_se).all()


def test_pair_records_and_win_rate_matrix():
    a = np.array([0, 1, 0])
    b = np.array([1, 0, 2])
    x = np.array([1.0, 1.0, 0.5])
    model, opponent, rec = pair_records(a, b, x, 3)
    table = {(int(i), int(j)): (int(n), float(w)) for i, j, n, w in zip(model, opponent, rec.n_battles, rec.win_rate)}
    assert table == {(0, 1): (2, 0.5), (1, 0): (2, 0.5), (0, 2): (1, 0.5), (2, 0): (1, 0.5)}
    wr = win_rate_matrix(aggregate(a, b, x, 3))
    assert wr[0, 1] == 0.5 and wr[0, 2] == 0.5 and np.isnan(wr[1, 2]) and np.isnan(wr[0, 0])


def test_rank_spread_from_intervals():
    rating = np.array([1100.0, 1090.0, 1000.0, 900.0])
    low = np.array([1080.0, 1070.0, 990.0, 880.0])
    high = np.array([1120.0, 1110.0, 1010.0, 920.0])
    rank, best, worst = rank_spread(rating, low, high)
    assert rank.tolist() == [1, 2, 3, 4]
    # The top two overlap: each could be first or second; the others are pinned.
    assert best.tolist() == [1, 1, 3, 4]
    assert worst.tolist() == [2, 2, 3, 4]


def test_rank_spread_without_intervals_is_the_rank():
    nan = np.full(3, np.nan)
    rank, best, worst = rank_spread(np.array([1000.0, 1100.0, 900.0]), nan, nan)
    assert rank.tolist() == best.tolist() == worst.tolist() == [2, 1, 3]


def test_mean_scores_with_interval():
    group = np.array([0, 0, 0, 0, 1, 1])
    score = np.array([8.0, 9.0, 7.0, 8.0, 3.0, 3.0])
    summary = mean_scores(group, score, 3, rounds=500, seed=0)
    assert summary.n.tolist() == [4, 2, 0]
    assert summary.mean[0] == pytest.approx(8.0) and summary.mean[1] == pytest.approx(3.0)
    assert 7.0 <= summary.ci_low[0] < 8.0 < summary.ci_high[0] <= 9.0
    # No spread, no interval width; no grades, no interval.
    assert summary.ci_low[1] == summary.ci_high[1] == 3.0
    assert np.isnan(summary.mean[2]) and np.isnan(summary.ci_low[2])
    again = mean_scores(group, score, 3, rounds=500, seed=0)
    assert again.ci_low[0] == summary.ci_low[0]
