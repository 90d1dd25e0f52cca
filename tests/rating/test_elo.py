"""Online Elo on a tiny sequence computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.elo import online_elo, online_elo_rounds
from arena.rating.ratings import elo


def test_three_battles_by_hand():
    # K = 32, everyone starts at 1000.
    # 1. A beats B: expected 0.5 -> A 1016, B 984.
    # 2. B ties A: B's expected score is 1 / (1 + 10^(32/400)) = 0.454078...,
    #    B += 32 * (0.5 - 0.454078) = 1.469502 -> B 985.469502, A 1014.530498.
    # 3. C beats A: C expected 1 / (1 + 10^(14.530498/400)) = 0.479101..., delta 32 * 0.520899
    #    = 16.668764 -> C 1016.668764, A 997.861734.
    a = np.array([0, 1, 2])
    b = np.array([1, 0, 0])
    x = np.array([1.0, 0.5, 1.0])
    got = online_elo(a, b, x, 3, k=32)
    e2 = 1 / (1 + 10 ** (32 / 400))
    d2 = 32 * (0.5 - e2)
    a_after_2 = 1016 - d2
    e3 = 1 / (1 + 10 ** ((a_after_2 - 1000) / 400))
    d3 = 32 * (1 - e3)
    np.testing.assert_allclose(got, [a_after_2 - d3, 984 + d2, 1000 + d3], atol=1e-9)
    np.testing.assert_allclose(got, [997.861734, 985.469502, 1016.668764], atol=1e-6)
    assert got.sum() == pytest.approx(3000.0)  # Elo moves points, it never creates them


def test_weight_scales_the_step():
    got = online_elo(np.array([0]), np.array([1]), np.array([1.0]), 2, k=32, weight=np.array([2.0]))
    np.testing.assert_allclose(got, [1032.0, 968.0])


def test_replays_match_the_single_replay():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 50)
    b = (a + rng.integers(1, 4, 50)) % 4
    x = rng.choice([0.0, 0.5, 1.0], 50)
    picks = np.stack([np.arange(50), np.arange(50)[::-1], rng.integers(0, 50, 50)])
    many = online_elo_rounds(a, b, x, 4, picks, k=8)
    for row, order in zip(many, picks):
        np.testing.assert_allclose(row, online_elo(a[order], b[order], x[order], 4, k=8), atol=1e-9)
    # Continuing from an earlier block equals one long replay.
    half = online_elo_rounds(a, b, x, 4, picks[:, :20], k=8)
    np.testing.assert_allclose(online_elo_rounds(a, b, x, 4, picks[:, 20:], ratings=half, k=8), many, atol=1e-9)


def test_elo_with_bootstrap_interval_and_anchor():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 300)
    b = (a + rng.integers(1, 3, 300)) % 3
    x = (rng.random(300) < np.where(a == 0, 0.8, 0.4)).astype(float)
    rated = elo(a, b, x, 3, k=4, rounds=30, seed=1, anchor=2, anchor_rating=900.0)
    assert rated.rating[2] == pytest.approx(900.0)
    assert np.all(rated.ci_low <= rated.ci_high)
    assert rated.ci_low[2] == pytest.approx(900.0) and rated.ci_high[2] == pytest.approx(900.0)
