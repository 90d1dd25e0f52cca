"""Bradley-Terry against hand-computed values, the regularised and disconnected cases, and a
per-battle logistic regression (the way FastChat's compute_mle_elo fits it)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from arena.errors import ArenaError
from arena.rating.bt import ELO_PER_UNIT, fit_bt, predicted_win_rate, to_elo, unbounded_groups
from arena.rating.counts import aggregate, pair_totals
from arena.rating.ratings import bradley_terry


def battles(*groups: tuple[int, int, float, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model_a, model_b, outcome, how many times) groups -> battle arrays."""
    a, b, x = [], [], []
    for ma, mb, outcome, times in groups:
        a += [ma] * times
        b += [mb] * times
        x += [outcome] * times
    return np.array(a), np.array(b), np.array(x, dtype=float)


def test_two_models_closed_form_gap():
    # A (0) beats B (1) 30 times, loses 10 times: the MLE has P(A beats B) = 30/40, so the
    # gap is 400 * log10(30 / 10) Elo points, centred on 1000.
    a, b, x = battles((0, 1, 1.0, 30), (0, 1, 0.0, 10))
    rated = bradley_terry(aggregate(a, b, x, 2), ["A", "B"], rounds=0)
    gap = 400 * math.log10(3)
    assert rated.rating[0] - rated.rating[1] == pytest.approx(gap, abs=1e-9)
    assert rated.rating.mean() == pytest.approx(1000.0, abs=1e-9)
    assert rated.rating[0] == pytest.approx(1000 + gap / 2, abs=1e-9)
    assert not rated.warnings


def test_ties_count_half_a_win_each_way():
    # 20 wins, 10 ties, 10 losses: A's score 25 of 40 (both kinds of tie count alike).
    a, b, x = battles((0, 1, 1.0, 20), (0, 1, 0.5, 10), (1, 0, 1.0, 10))
    rating = bradley_terry(aggregate(a, b, x, 2), ["A", "B"], rounds=0).rating
    assert rating[0] - rating[1] == pytest.approx(400 * math.log10(25 / 15), abs=1e-9)


def test_fractional_outcomes_are_fractional_wins_not_rounded():
    # Ten battles at 0.7 each: A scored 7 of 10, so P = 0.7 exactly (rounding would give 1).
    a, b, x = battles((0, 1, 0.7, 10))
    rating = bradley_terry(aggregate(a, b, x, 2), ["A", "B"], rounds=0).rating
    assert rating[0] - rating[1] == pytest.approx(400 * math.log10(0.7 / 0.3), abs=1e-9)


def test_weights_multiply_battles():
    a, b, x = battles((0, 1, 1.0, 1), (0, 1, 0.0, 1))
    w = np.array([3.0, 1.0])
    rating = bradley_terry(aggregate(a, b, x, 2, w), ["A", "B"], rounds=0).rating
    assert rating[0] - rating[1] == pytest.approx(400 * math.log10(3), abs=1e-9)


def test_three_models_satisfy_the_likelihood_equations():
    # At the MLE each model's expected score equals its actual score (the score equations).
    a, b, x = battles((0, 1, 1.0, 7), (1, 0, 1.0, 3), (1, 2, 1.0, 6), (2, 1, 1.0, 4), (0, 2, 0.5, 5), (2, 0, 1.0, 1))
    wins, games = pair_totals(aggregate(a, b, x, 3))
    theta = fit_bt(wins)
    expected = (games * expit(theta[:, None] - theta[None, :])).sum(axis=1)
    np.testing.assert_allclose(expected, wins.sum(axis=1), atol=1e-9)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)


def test_anchor_pins_one_model_and_keeps_the_gaps():
    a, b, x = battles((0, 1, 1.0, 30), (0, 1, 0.0, 10), (1, 2, 1.0, 12), (2, 1, 1.0, 8))
    cells = aggregate(a, b, x, 3)
    centred = bradley_terry(cells, ["A", "B", "C"], rounds=50, seed=1)
    pinned = bradley_terry(cells, ["A", "B", "C"], rounds=50, seed=1, anchor=1, anchor_rating=1200.0)
    assert pinned.rating[1] == pytest.approx(1200.0)
    np.testing.assert_allclose(np.diff(pinned.rating), np.diff(centred.rating), atol=1e-9)
    # Every round is pinned too: the anchor's interval is a point.
    assert pinned.ci_low[1] == pytest.approx(1200.0) and pinned.ci_high[1] == pytest.approx(1200.0)


def test_model_that_never_loses_gets_a_finite_rating_and_a_warning():
    # A beats B and C every time; B and C split their games.
    a, b, x = battles((0, 1, 1.0, 10), (0, 2, 1.0, 10), (1, 2, 1.0, 6), (2, 1, 1.0, 4))
    cells = aggregate(a, b, x, 3)
    top, bottom = unbounded_groups(pair_totals(cells)[0])
    # A never lost; together B and C never scored against A.
    assert [g.tolist() for g in top] == [[0]] and [g.tolist() for g in bottom] == [[1, 2]]
    rated = bradley_terry(cells, ["A", "B", "C"], rounds=100, seed=0)
    assert np.all(np.isfinite(rated.rating)) and np.all(np.isfinite(rated.ci_high))
    assert rated.regularised
    assert any("A never lost a battle" in w for w in rated.warnings)
    assert any("virtual tie" in w for w in rated.warnings)
    # Finite but clearly on top, and B above C as the data say.
    assert rated.rating[0] > rated.rating[1] + 200 > rated.rating[2] + 200
    # The virtual tie is light: the B-C gap stays close to its unregularised value
    # 400 * log10(6 / 4) (A's games pull it only a little).
    assert rated.rating[1] - rated.rating[2] == pytest.approx(400 * math.log10(1.5), abs=25)


def test_model_that_never_wins_is_named_too():
    a, b, x = battles((0, 1, 1.0, 5), (1, 0, 1.0, 5), (0, 2, 1.0, 4), (1, 2, 1.0, 4))
    rated = bradley_terry(aggregate(a, b, x, 3), ["A", "B", "C"], rounds=0)
    assert any("C never won or tied" in w for w in rated.warnings)
    assert np.isfinite(rated.rating).all() and rated.rating[2] < rated.rating[:2].min()


def test_disconnected_graph_error_names_the_components():
    a, b, x = battles((0, 1, 1.0, 3), (1, 0, 1.0, 2), (2, 3, 1.0, 3), (3, 2, 1.0, 1), (3, 4, 0.5, 2))
    with pytest.raises(ArenaError) as info:
        bradley_terry(aggregate(a, b, x, 5), ["alpha", "beta", "gamma", "delta", "eps"], rounds=0)
    message = str(info.value)
    assert "disconnected" in message and "2 groups" in message
    assert "{gamma, delta, eps}" in message and "{alpha, beta}" in message


def test_predicted_win_rate_matches_the_elo_formula():
    p = predicted_win_rate(np.array([1100.0, 1000.0]))
    assert p[0, 1] == pytest.approx(1 / (1 + 10 ** (-100 / 400)))
    assert p[0, 1] + p[1, 0] == pytest.approx(1.0)


def test_to_elo_scale():
    elo = to_elo(np.array([1.0, -1.0]))
    assert elo[0] - elo[1] == pytest.approx(2 * 400 / math.log(10))
    assert ELO_PER_UNIT == pytest.approx(173.7177927613007)


def logistic_regression_per_battle(a: np.ndarray, b: np.ndarray, x: np.ndarray, n_models: int) -> np.ndarray:
    """One row per battle, features +1 for model_a and -1 for model_b, no intercept: the
    logistic regression FastChat's compute_mle_elo fits (a fractional outcome is a row with a
    fractional label, as a tie is there). Fitted with scipy, returned on the Elo scale."""
    design_a, design_b = a, b

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[design_a] - theta[design_b]
        value = -(x * log_expit(eta) + (1 - x) * log_expit(-eta)).sum()
        resid = expit(eta) - x
        grad = np.bincount(design_a, resid, n_models) - np.bincount(design_b, resid, n_models)
        return value, grad

    result = minimize(loss, np.zeros(n_models), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10000})
    assert result.success, result.message
    return to_elo(result.x)


def test_bt_matches_per_battle_logistic_regression_on_simulated_battles():
    rng = np.random.default_rng(7)
    m, n = 8, 4000
    strength = rng.normal(0, 0.8, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    u = rng.random(n)
    x = np.where(u < 0.1, 0.5, (rng.random(n) < expit(strength[a] - strength[b])).astype(float))
    ours = bradley_terry(aggregate(a, b, x, m), [str(i) for i in range(m)], rounds=0).rating
    np.testing.assert_allclose(ours, logistic_regression_per_battle(a, b, x, m), atol=0.5)


def test_bt_matches_per_battle_logistic_regression_on_alpaca_eval(weighted_battles: pd.DataFrame):
    codes, names = pd.factorize(pd.concat([weighted_battles["model_a"], weighted_battles["model_b"]]), sort=True)
    n = len(weighted_battles)
    a, b, x = codes[:n], codes[n:], weighted_battles["outcome"].to_numpy()
    ours = bradley_terry(aggregate(a, b, x, len(names)), list(names), rounds=0).rating
    reference = logistic_regression_per_battle(a, b, x, len(names))
    gaps = np.abs(ours - reference)
    print(f"\nBT vs per-battle logistic regression on {n} AlpacaEval battles: max gap {gaps.max():.2e} Elo points")
    assert gaps.max() < 0.5


def test_resamples_without_a_loss_are_regularised_and_noted():
    # A lost once in 30 battles: finite MLE, but many resamples drop that one loss.
    a, b, x = battles((0, 1, 1.0, 29), (0, 1, 0.0, 1), (1, 2, 1.0, 5), (2, 1, 1.0, 5), (0, 2, 1.0, 3), (2, 0, 1.0, 1))
    rated = bradley_terry(aggregate(a, b, x, 3), ["A", "B", "C"], rounds=200, seed=0)
    assert not rated.regularised and not rated.warnings
    assert 0 < rated.regularised_rounds < 200
    assert rated.notes and f"{rated.regularised_rounds} of 200 bootstrap resamples" in rated.notes[0]
    assert np.isfinite(rated.ci_high).all() and rated.ci_low[0] < rated.rating[0] < rated.ci_high[0]


def test_predicted_stop_saves_a_step_within_its_tolerance(monkeypatch):
    # Bootstrap-like refits: start from the full-data fit, data perturbed a little. Stopping on
    # the predicted next step (quadratic convergence) ends a step earlier than waiting for a
    # step below 1e-10, and lands about the tolerance from the tight fit.
    from arena.rating import newton
    from arena.rating.bt import Pairs, fit_bt_pairs

    rng = np.random.default_rng(0)
    m = 12
    i, j = np.triu_indices(m, 1)
    pairs = Pairs(i, j, m)
    strength = rng.normal(0, 1, m)
    games = rng.integers(300, 500, len(i)).astype(float)
    won = rng.binomial(games.astype(int), 1 / (1 + np.exp(strength[j] - strength[i]))).astype(float)
    start = fit_bt_pairs(won[None], (games - won)[None], pairs)[0]
    noisy = rng.poisson(np.broadcast_to(won, (40, len(i)))).astype(float)
    lost = rng.poisson(np.broadcast_to(games - won, (40, len(i)))).astype(float)
    steps = []
    real = newton.maximise

    def counting(params, step, *args, **kwargs):
        calls = [0]

        def counted(rows, th):
            calls[0] += 1
            return step(rows, th)

        out = real(params, counted, *args, **kwargs)
        steps.append(calls[0])
        return out

    monkeypatch.setattr("arena.rating.bt.maximise", counting)
    tight = fit_bt_pairs(noisy, lost, pairs, start=start)
    early = fit_bt_pairs(noisy, lost, pairs, start=start, tol=1e-6, predict=True)
    assert steps[1] < steps[0]
    # "About": the next step is predicted from the last two, not known.
    assert np.abs(early - tight).max() < 2e-6
