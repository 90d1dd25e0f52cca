"""Battles from probability-weighted reviews: pairwise games count by their weighted outcome,
single gradings by P(a graded above b) + 0.5 P(equal) from the two distributions."""

from __future__ import annotations

import pytest

from arena.judging.battles import battles_from_reviews
from arena.records import Question, Review


def review(model_a, model_b, first, winner=None, weighted=None, score=None, probs=None, verdict=None) -> Review:
    return Review(judge="j", template="t", mode="single" if model_b is None else "pairwise-all", question_id="q1",
                  turn=1, model_a=model_a, model_b=model_b, first=first, prompt_hash="h", raw="", status="ok",
                  verdict=verdict, winner=winner, score=score, weighted=weighted, verdict_probs=probs)


QUESTIONS = {"q1": Question(question_id="q1", category="writing", turns=["?"])}


def test_pairwise_games_count_by_their_weighted_outcome():
    games = [review("a", "b", "a", winner="model_a", weighted=0.7, verdict="A"),
             review("a", "b", "b", winner="tie", weighted=0.4, verdict="tie")]
    (battle,) = battles_from_reviews(games, QUESTIONS, {})
    assert battle.outcome == pytest.approx(0.55) and battle.winner == "model_a"
    assert battle.games == ["model_a", "tie"]  # the written verdicts stay beside it


def test_single_gradings_compare_their_distributions():
    ra = review("a", None, "a", score=8.0, weighted=7.6, probs=[{"7": 0.4, "8": 0.6}], verdict="8")
    rb = review("b", None, "b", score=7.0, weighted=7.2, probs=[{"7": 0.8, "8": 0.2}], verdict="7")
    (battle,) = battles_from_reviews([ra, rb], QUESTIONS, {})
    # P(a > b) = P(a=8) P(b=7) = .48; P(equal) = .4*.8 + .6*.2 = .44
    assert battle.outcome == pytest.approx(0.48 + 0.5 * 0.44)
    assert (battle.score_a, battle.score_b) == (7.6, 7.2) and battle.winner == "model_a"


def test_weighted_low_grades_that_tie_are_both_bad():
    ra = review("a", None, "a", score=2.0, weighted=2.0, probs=[{"2": 1.0}], verdict="2")
    rb = review("b", None, "b", score=2.0, weighted=2.0, probs=[{"2": 1.0}], verdict="2")
    (battle,) = battles_from_reviews([ra, rb], QUESTIONS, {})
    assert battle.outcome == 0.5 and battle.winner == "tie (bothbad)"
