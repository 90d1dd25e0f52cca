"""arena-hard's benchmark-quality figures on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau, norm

from arena.rating.rank_agreement import (
    Board,
    agreement_with_confidence,
    brier_score,
    kendall_tau,
    rank_agreement,
    rank_probabilities,
    separability,
    separation,
)


def test_separation_signs_each_pair_by_which_interval_lies_above():
    low, high = np.array([0.0, 2.0, 0.5]), np.array([1.0, 3.0, 2.5])
    # pairs (0,1): 0 wholly below 1; (0,2): overlap; (1,2): overlap
    assert separation(low, high).tolist() == [-1, 0, 0]
    assert separability(low, high) == pytest.approx(1 / 3)


def test_touching_intervals_are_separated_but_equal_points_are_not():
    assert separation(np.array([0.0, 1.0]), np.array([1.0, 2.0])).tolist() == [-1]
    assert separation(np.array([1.0, 1.0]), np.array([1.0, 1.0])).tolist() == [0]
    assert math.isnan(separability(np.array([1.0]), np.array([2.0])))


def test_agreement_with_confidence_counts_over_the_pairs_the_reference_separates():
    ours = np.array([1, 0, -1, 1, -1])
    reference = np.array([1, 1, 1, 0, -1])
    a = agreement_with_confidence(ours, reference)
    # decided by the reference: pairs 0, 1, 2, 4 -> agree 0 and 4, undecided 1, disagree 2
    assert (a.reference_separated, a.agree, a.disagree, a.undecided) == (4, 2, 1, 1)
    assert a.value == pytest.approx((2 - 1) / 4)
    assert a.same_order == pytest.approx(2 / 3)
    none = agreement_with_confidence(np.array([1]), np.array([0]))
    assert math.isnan(none.value) and math.isnan(none.same_order)


def test_kendall_tau_b_by_hand_and_against_scipy():
    # one discordant pair of six
    assert kendall_tau(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(4 / 6)
    # a tie in x: (0,1) tied, (0,2) and (1,2) concordant -> 2 / sqrt((3 - 1) * 3)
    assert kendall_tau(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(2 / math.sqrt(6))
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, 30).astype(float), rng.integers(0, 5, 30).astype(float)
    assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic)
    assert math.isnan(kendall_tau(np.array([1.0, 1.0]), np.array([1.0, 2.0])))


def test_rank_probabilities_are_normal_differences():
    p = rank_probabilities(np.array([0.0, 1.0, 1.0]), np.array([1.0, 3.0, 0.0]))
    assert p[0] == pytest.approx(norm.cdf(-1 / 2))  # (0,1): (0 - 1) / sqrt(1 + 3)
    assert p[1] == pytest.approx(norm.cdf(-1 / 1))  # (0,2): (0 - 1) / sqrt(1 + 0)
    assert p[2] == pytest.approx(0.5)  # (1,2): equal means
    exact = rank_probabilities(np.array([2.0, 1.0, 2.0]), np.zeros(3))
    assert exact.tolist() == [1.0, 0.5, 0.0]


def test_brier_score_leaves_out_pairs_the_reference_ties():
    probability = np.array([0.3, 0.9, 0.5])  # pairs (0,1), (0,2), (1,2)
    score, pairs = brier_score(probability, np.array([1.0, 2.0, 2.0]))
    # (0,1): reference says 1 above 0 -> y = 0, (0.3)^2; (0,2): y = 0, (0.9)^2; (1,2): tied, out
    assert pairs == 2 and score == pytest.approx((0.09 + 0.81) / 2)
    assert math.isnan(brier_score(np.array([0.5]), np.array([1.0, 1.0]))[0])


def _board(models, score, half_width, samples=None, measure="m"):
    score = np.asarray(score, dtype=float)
    return Board(list(models), score, score - half_width, score + half_width, samples, measure)


def test_rank_agreement_matches_models_by_name_on_the_shared_ones():
    rng = np.random.default_rng(0)
    samples = np.array([30.0, 20.0, 10.0, 0.0]) + rng.normal(0, 1, (500, 4))
    ours = _board(["a", "b", "c", "only-ours"], [30, 20, 10, 0], 2.0, samples)
    # the reference lists the models in another order, has one of its own, swaps b and c, and
    # cannot separate a from c
    reference = _board(["c", "z", "a", "b"], [15, 99, 20, 12], np.array([6.0, 1.0, 6.0, 1.0]))
    r = rank_agreement(ours, reference)
    assert (r.models, r.pairs) == (3, 3)
    assert r.separability == 1.0  # 30, 20, 10 with half-width 2
    # reference intervals a [14, 26], b [11, 13], c [9, 21]: a-b separated, a-c not, b-c not
    assert r.reference_separability == pytest.approx(1 / 3)
    assert (r.agreement.agree, r.agreement.disagree, r.agreement.undecided) == (1, 0, 0)
    assert r.spearman == pytest.approx(0.5)  # ranks a, b, c: ours 3, 2, 1; reference 3, 1, 2
    assert r.kendall == pytest.approx(1 / 3)
    # ours predicts b above c with near certainty; the reference puts c above b
    assert 0.3 < r.brier < 0.34 and r.brier_pairs == 3


def test_a_reference_without_intervals_gives_no_agreement_with_confidence():
    ours = _board(["a", "b"], [2, 1], 0.1, np.array([[2.0, 1.0], [2.1, 0.9]]))
    reference = Board(["a", "b"], np.array([5.0, 6.0]), np.full(2, np.nan), np.full(2, np.nan))
    r = rank_agreement(ours, reference)
    assert r.agreement is None and math.isnan(r.reference_separability)
    assert r.spearman == pytest.approx(-1.0) and r.brier == pytest.approx(1.0)
