"""The paired bootstrap's pieces against hand-computed values and against the battle bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arena.rating.bootstrap import bootstrap_bt
from arena.rating.bt import ELO_PER_UNIT, fit_bt
from arena.rating.counts import aggregate, pair_totals
from arena.rating.paired import (
    paired_mean_difference,
    power_of,
    question_bootstrap_bt,
    question_sums,
    questions_needed,
    se_scale,
    two_sided_p,
)


def test_question_sums_by_hand():
    # Questions 0, 1, 2; models 0, 1, 2. Battle (q, a, b, outcome of a).
    q = np.array([0, 0, 1, 2, 2])
    a = np.array([0, 1, 2, 0, 2])
    b = np.array([1, 0, 0, 2, 1])
    x = np.array([1.0, 0.5, 0.0, 0.25, 1.0])
    sums = question_sums(q, a, b, x, 3)
    assert sums.n_questions == 3 and sums.n_battles == 5
    assert list(zip(sums.pairs.i, sums.pairs.j)) == [(0, 1), (0, 2), (1, 2)]
    won, lost = sums.totals(np.eye(3))
    # Question 0: 0 beat 1 (1 point to 0), then 1 vs 0 a tie (0.5 each): pair (0,1) 1.5 / 0.5.
    # Question 1: 2 lost to 0, so pair (0,2) is 1 / 0. Question 2: 0 vs 2 at 0.25; 2 beat 1.
    assert won.tolist() == [[1.5, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.25, 0.0]]
    assert lost.tolist() == [[0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.75, 1.0]]
    # A resample: question 0 twice, question 2 once, question 1 not at all.
    won, lost = sums.totals(np.array([[2, 0, 1]]))
    assert won.tolist() == [[3.0, 0.25, 0.0]] and lost.tolist() == [[1.0, 0.75, 1.0]]


def test_question_sums_sparse_and_dense_agree(monkeypatch):
    rng = np.random.default_rng(1)
    n = 500
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    q = rng.integers(0, 40, n)
    x = rng.choice([0.0, 0.5, 1.0], n)
    w = rng.uniform(0.5, 2.0, n)
    dense = question_sums(q, a, b, x, 6, w)
    monkeypatch.setattr("arena.rating.paired._DENSE_SLOTS", 0)  # 500 battles over 40 x 15 slots: dense unless forbidden
    sparse = question_sums(q, a, b, x, 6, w)
    assert not dense.sparse and sparse.sparse
    counts = rng.multinomial(40, np.full(40, 1 / 40), size=7)
    for got, want in zip(sparse.totals(counts), dense.totals(counts)):
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_two_sided_p_by_hand():
    # One round at or below 0, three at or above: 2 * (1 + 1) / (4 + 1).
    assert two_sided_p(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(0.8)
    # Every round above 0: the smallest p-value 999 rounds can give.
    assert two_sided_p(np.full(999, 5.0)) == pytest.approx(2 / 1000)
    # Zeros count on both sides, and rounding noise is a zero.
    assert two_sided_p(np.array([0.0, 1e-13, -1e-13, 2.0])) == 1.0
    assert two_sided_p(np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])) == 1.0


def _log(seed: int, n_questions: int, models: int = 4, repeat: int = 1):
    rng = np.random.default_rng(seed)
    strength = np.linspace(-0.6, 0.6, models)
    rows = []
    for q in range(n_questions):
        for i in range(models):
            for j in range(i + 1, models):
                p = 1 / (1 + math.exp(strength[j] - strength[i]))
                outcome = float(rng.random() < p)
                rows += [(q, i, j, outcome)] * repeat  # repeat: the same verdict on every turn
    q, a, b, x = (np.array(c) for c in zip(*rows))
    return q, a, b, x


def test_one_battle_per_question_hands_over_to_the_battle_bootstrap():
    q, a, b, x = _log(0, 60)
    q = np.arange(len(q))  # every battle its own question
    cells = aggregate(a, b, x, 4)
    theta = fit_bt(pair_totals(cells)[0])
    paired, _ = question_bootstrap_bt(question_sums(q, a, b, x, 4), 100, 3, start=theta, cells=cells)
    battle, _ = bootstrap_bt(cells, 100, 3, start=theta)
    np.testing.assert_array_equal(paired, battle)


def test_questions_move_whole_so_repeated_verdicts_widen_the_interval():
    # Each question's verdicts repeated on two turns: the battle bootstrap takes them as twice
    # the evidence; the question bootstrap must not, its spread being about sqrt(2) wider.
    q, a, b, x = _log(5, 300, repeat=2)
    cells = aggregate(a, b, x, 4)
    theta = fit_bt(pair_totals(cells)[0])
    paired, _ = question_bootstrap_bt(question_sums(q, a, b, x, 4), 600, 1, start=theta, cells=cells)
    battle, _ = bootstrap_bt(cells, 600, 1, start=theta)
    ratio = np.std(paired[:, 0] - paired[:, 3]) / np.std(battle[:, 0] - battle[:, 3])
    assert 1.2 < ratio < 1.65, ratio


def test_resample_size_shrinks_the_spread_as_one_over_root_n():
    q, a, b, x = _log(2, 200)
    cells = aggregate(a, b, x, 4)
    theta = fit_bt(pair_totals(cells)[0])
    sums = question_sums(q, a, b, x, 4)
    spread = {}
    for size in (100, 400):
        drawn, _ = question_bootstrap_bt(sums, 600, 0, start=theta, size=size)
        spread[size] = np.std(drawn[:, 0] - drawn[:, 3]) * ELO_PER_UNIT
    assert spread[100] / spread[400] == pytest.approx(2.0, rel=0.15)


def test_paired_mean_difference_by_hand():
    constant = paired_mean_difference(np.full(30, 0.5), 200, 0)
    assert (constant.value, constant.low, constant.high) == (0.5, 0.5, 0.5)
    assert constant.p_value == pytest.approx(2 / 201)
    none = paired_mean_difference(np.zeros(30), 200, 0)
    assert none.value == 0.0 and none.p_value == 1.0
    d = np.array([2.0, -1.0, 1.0, 0.0])
    result = paired_mean_difference(d, 2000, 0)
    assert result.value == pytest.approx(0.5)
    # The bootstrap mean of four values has standard deviation sqrt(var_pop / n) = sqrt(1.25 / 4).
    assert result.se == pytest.approx(math.sqrt(1.25 / 4), rel=0.08)
    assert result.low < 0.5 < result.high


def test_power_by_hand():
    # Standard error 10 Elo at 100 questions (scale 100); 50 Elo gap at 5% with 80% power:
    # n = ((1.959964 + 0.841621) * 100 / 50) ** 2 = 31.4, so 32 questions.
    assert questions_needed(100.0, 50.0) == 32
    assert questions_needed(100.0, 20.0) == math.ceil((2.8015852 * 100 / 20) ** 2)
    assert power_of(50.0, 100.0 / math.sqrt(31.396)) == pytest.approx(0.8, abs=2e-3)
    assert power_of(0.0, 10.0) == pytest.approx(0.05)
    sizes = np.array([50, 100, 200])
    scale, exponent = se_scale(sizes, 80.0 / np.sqrt(sizes))
    assert scale == pytest.approx(80.0) and exponent == pytest.approx(-0.5)
