"""Agreement between judges (arena.judging.interjudge): Fleiss' kappa against its textbook
example, its two-rater case against Scott's pi, and judge_agreement on reviews."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arena.agreement import cohen_kappa
from arena.judging.interjudge import fleiss_kappa, game_label, judge_agreement
from tests.judging.test_jury import game, grade

# Fleiss (1971)'s worked example as textbooks reproduce it: 10 subjects, 14 raters, 5 categories.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_textbook_example():
    assert fleiss_kappa(np.array(FLEISS_EXAMPLE)) == pytest.approx(0.20993, abs=5e-5)


def test_fleiss_kappa_with_two_raters_is_scotts_pi():
    rng = np.random.default_rng(3)
    x = rng.choice(["a", "b", "t"], size=200, p=[0.5, 0.3, 0.2])
    y = np.where(rng.random(200) < 0.6, x, rng.choice(["a", "b", "t"], size=200))
    labels = ["a", "b", "t"]
    table = np.array([[(x[i] == c) + (y[i] == c) for c in labels] for i in range(200)])
    assert fleiss_kappa(table) == pytest.approx(cohen_kappa(x, y, pooled=True), abs=1e-12)


def test_fleiss_kappa_edges():
    assert fleiss_kappa(np.array([[3, 0], [0, 3]])) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa(np.array([[3, 0], [3, 0]])))  # one category only: undefined
    assert math.isnan(fleiss_kappa(np.zeros((0, 2))))
    with pytest.raises(ValueError):
        fleiss_kappa(np.array([[2, 0], [1, 2]]))


def test_game_labels():
    assert game_label(game("a", "tie (bothbad)")) == "tie"
    assert game_label(game("a", "model_b")) == "model_b"
    assert game_label(game("a", None, status="error")) is None
    assert game_label(grade("a", 7.5)) == "8"
    assert game_label(grade("a", None, status="error")) is None


def test_judge_agreement_per_pair_and_overall():
    # Four games; a and b agree on 3, a and c on 2, b and c on 2; c has no verdict on q4.
    a = [game("a", w, q=q) for q, w in (("q1", "model_a"), ("q2", "model_b"), ("q3", "tie"), ("q4", "model_a"))]
    b = [game("b", w, q=q) for q, w in (("q1", "model_a"), ("q2", "model_b"), ("q3", "model_a"), ("q4", "model_a"))]
    c = [game("c", w, q=q) for q, w in (("q1", "model_a"), ("q2", "model_a"), ("q3", "tie"))]
    c.append(game("c", None, q="q4", status="error"))
    graders = {"g1": [grade("g1", 7, q="q1"), grade("g1", 3, q="q2")], "g2": [grade("g2", 7.2, q="q1"), grade("g2", 5, q="q2")]}
    out = judge_agreement({"a": a, "b": b, "c": c, **graders})
    pairwise = out["pairwise"]
    assert pairwise["judges"] == ["a", "b", "c"]
    pairs = {(p["judge_a"], p["judge_b"]): p for p in pairwise["pairs"]}
    assert (pairs["a", "b"]["games"], pairs["a", "b"]["agreement"]) == (4, 0.75)
    assert (pairs["a", "c"]["games"], pairs["b", "c"]["games"]) == (3, 3)
    assert pairs["a", "c"]["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    la = ["model_a", "model_b", "tie", "model_a"]
    lb = ["model_a", "model_b", "model_a", "model_a"]
    assert pairs["a", "b"]["kappa"] == pytest.approx(cohen_kappa(la, lb), abs=1e-4)
    # Fleiss over the three games all three judged.
    assert pairwise["fleiss_games"] == 3
    table = np.array([[3, 0, 0], [1, 2, 0], [1, 0, 2]])  # categories model_a, model_b, tie
    assert pairwise["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-4)
    single = out["single"]
    assert single["pairs"][0]["games"] == 2 and single["pairs"][0]["agreement"] == 0.5


def test_one_judge_of_a_kind_has_no_agreement():
    assert judge_agreement({"a": [game("a", "model_a")], "g": [grade("g", 5)]}) == {}
