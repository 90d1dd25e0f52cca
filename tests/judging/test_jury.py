"""A jury's verdict per game from its members' (arena.judging.jury), against hand-worked cases."""

from __future__ import annotations

import pytest

from arena.judging.jury import combine_jury, quorum
from arena.records import Review


def game(judge: str, winner: str | None, *, q: str = "q1", first: str = "x", weighted: float | None = None,
         status: str = "ok", verdict: str | None = None) -> Review:
    """One pairwise review of x against y on question q, turn 1, x shown first by default."""
    shown = {"model_a": "A" if first == "x" else "B", "model_b": "B" if first == "x" else "A", "tie": "tie"}
    return Review(judge=judge, template="pairwise", mode="pairwise-all", question_id=q, turn=1, model_a="x", model_b="y",
                  first=first, prompt_hash=f"{judge}{q}{first}", raw="...", status=status,  # type: ignore[arg-type]
                  verdict=verdict or shown.get(str(winner)), winner=winner, weighted=weighted,  # type: ignore[arg-type]
                  judge_id=f"id-{judge}", tstamp=1.0)


def grade(judge: str, score: float | None, *, q: str = "q1", weighted: float | None = None, status: str = "ok") -> Review:
    return Review(judge=judge, template="single", mode="single", question_id=q, turn=1, model_a="x", model_b=None,
                  first="x", prompt_hash=f"{judge}{q}", raw="...", status=status, score=score,  # type: ignore[arg-type]
                  weighted=weighted, judge_id=f"id-{judge}", tstamp=2.0)


def members(*columns: list[Review]) -> dict[str, list[Review]]:
    return {reviews[0].judge: reviews for reviews in columns}


def test_quorum_is_more_than_half():
    assert [quorum(n) for n in (2, 3, 4, 5)] == [2, 2, 3, 3]


def test_majority_two_against_one():
    result = combine_jury("jury", "majority", members([game("a", "model_a")], [game("b", "model_a")], [game("c", "tie")]))
    (r,) = result.reviews
    assert (r.winner, r.verdict, r.judge, r.template) == ("model_a", "A", "jury", "jury:majority")
    assert r.weighted is None
    assert (result.games, result.contested, result.incomplete) == (1, 0, 0)
    assert result.mean_agreement == pytest.approx(2 / 3, abs=1e-4)
    assert result.member_agreement == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert "a: A, b: A, c: tie -> A" in r.raw


def test_majority_split_three_ways_is_a_tie_and_verdict_in_shown_positions():
    # y shown first: the jury's verdict is written in positions, as the members' are.
    result = combine_jury("jury", "majority", members(
        [game("a", "model_a", first="y")], [game("b", "model_b", first="y")], [game("c", "tie", first="y")]))
    (r,) = result.reviews
    assert (r.winner, r.verdict) == ("tie", "tie")
    assert result.mean_agreement == pytest.approx(1 / 3, abs=1e-4)
    result = combine_jury("jury", "majority", members(
        [game("a", "model_b", first="y")], [game("b", "model_b", first="y")], [game("c", "tie", first="y")]))
    assert (result.reviews[0].winner, result.reviews[0].verdict) == ("model_b", "A")


def test_five_level_strong_and_slight_wins_count_alike_and_bothbad_ties_stay_bothbad():
    result = combine_jury("jury", "majority", members(
        [game("a", "model_a", verdict="A>>B")], [game("b", "model_a", verdict="A>B")], [game("c", "model_b", verdict="B>A")]))
    assert result.reviews[0].winner == "model_a"
    result = combine_jury("jury", "majority", members(
        [game("a", "tie (bothbad)")], [game("b", "tie (bothbad)")], [game("c", "model_a")]))
    assert result.reviews[0].winner == "tie (bothbad)"


def test_error_rows_count_against_quorum():
    # c has no verdict on q1: two of three is a quorum (and a split of two is a tie); on q2 only
    # one member has a verdict: incomplete, left out.
    a = [game("a", "model_a", q="q1"), game("a", "model_a", q="q2")]
    b = [game("b", "model_b", q="q1"), game("b", None, q="q2", status="error")]
    c = [game("c", None, q="q1", status="error"), game("c", None, q="q2", status="error")]
    result = combine_jury("jury", "majority", members(a, b, c))
    assert [str(r.question_id) for r in result.reviews] == ["q1"]
    assert result.reviews[0].winner == "tie"
    assert (result.games, result.incomplete) == (2, 1)
    assert result.member_agreement["c"] is None
    assert "of 2 of 3 members" in result.reviews[0].raw


def test_mean_uses_probability_verdicts_where_given():
    result = combine_jury("jury", "mean", members(
        [game("a", "model_a")], [game("b", "tie")], [game("c", "model_a", weighted=0.8)]))
    (r,) = result.reviews
    assert r.weighted == pytest.approx((1.0 + 0.5 + 0.8) / 3, abs=1e-6)
    assert r.winner == "model_a"
    assert result.member_agreement == {"a": 1.0, "b": 0.0, "c": 1.0}
    result = combine_jury("jury", "mean", members([game("a", "model_a")], [game("b", "model_b")], [game("c", "tie")]))
    assert (result.reviews[0].winner, result.reviews[0].weighted) == ("tie", 0.5)


def test_min_agreement_leaves_contested_games_out_and_counts_them():
    a = [game("a", "model_a", q="q1"), game("a", "model_a", q="q2")]
    b = [game("b", "model_a", q="q1"), game("b", "model_b", q="q2")]
    c = [game("c", "model_a", q="q1"), game("c", "tie", q="q2")]
    result = combine_jury("jury", "majority", members(a, b, c), min_agreement=0.6)
    assert [str(r.question_id) for r in result.reviews] == ["q1"]
    assert result.contested == 1
    assert result.contested_games == [{"game": result.contested_games[0]["game"], "agreement": pytest.approx(1 / 3, abs=1e-4)}]
    assert result.contested_games[0]["game"].startswith("q2|")
    assert result.mean_agreement == 1.0  # over the games the jury kept
    # Exactly at the threshold is not contested.
    assert combine_jury("jury", "majority", members(a, b, c), min_agreement=1 / 3).contested == 0
    summary = result.summary("majority", ["a", "b", "c"], 0.6)
    assert (summary["jury"], summary["games"], summary["combined"], summary["contested"], summary["quorum"]) == (True, 2, 1, 1, 2)


def test_single_grading_majority_mode_then_median_and_mean():
    result = combine_jury("jury", "majority", members([grade("a", 7)], [grade("b", 8)], [grade("c", 7.4)]))
    assert result.reviews[0].score == 7.0  # 7.4 rounds to 7: two of three
    assert result.reviews[0].model_b is None and result.reviews[0].winner is None
    assert result.mean_agreement == pytest.approx(2 / 3, abs=1e-4)
    result = combine_jury("jury", "majority", members([grade("a", 6)], [grade("b", 9)], [grade("c", 8)]))
    assert result.reviews[0].score == 8.0  # all differ: the median
    result = combine_jury("jury", "mean", members([grade("a", 7)], [grade("b", 8)], [grade("c", 9, weighted=9.5)]))
    assert result.reviews[0].score == pytest.approx(24.5 / 3, abs=1e-6)


def test_jury_review_identity_changes_with_members_and_method():
    cols = members([game("a", "model_a")], [game("b", "model_a")])
    one = combine_jury("jury", "majority", cols).reviews[0]
    again = combine_jury("jury", "majority", cols).reviews[0]
    other = combine_jury("jury", "mean", cols).reviews[0]
    assert (one.prompt_hash, one.judge_id) == (again.prompt_hash, again.judge_id)
    assert one.judge_id != other.judge_id
    assert one.cost_usd == 0.0 and one.key == cols["a"][0].key
