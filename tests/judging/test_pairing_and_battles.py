from __future__ import annotations

from arena.config import JudgeConfig
from arena.judging.battles import battles_from_reviews, style_of
from arena.judging.pairing import games_for
from arena.records import Question, Review


def _q(qid, turns=2, category="writing"):
    return Question(question_id=qid, category=category, turns=[f"q{qid} t{t}" for t in range(1, turns + 1)])


def _judge(**kw):
    return JudgeConfig(name="j", provider="simulated", **kw)


def test_pairwise_all_plays_every_pair_in_both_orders_on_every_turn():
    games = games_for(_judge(mode="pairwise-all"), ["a", "b", "c"], [_q(1), _q(2, turns=1)], seed=0)
    # 3 pairs x 2 orders x (2 turns + 1 turn)
    assert len(games) == 3 * 2 * 3
    assert len({g.key for g in games}) == len(games)
    firsts = {(g.question.question_id, g.turn, g.model_a, g.model_b): set() for g in games}
    for g in games:
        firsts[(g.question.question_id, g.turn, g.model_a, g.model_b)].add(g.first)
    assert all(len(s) == 2 for s in firsts.values())


def test_pairwise_baseline_pairs_each_model_with_the_baseline():
    games = games_for(_judge(mode="pairwise-baseline", baseline="b", turns=[1]), ["a", "b", "c"], [_q(1)], seed=0)
    assert {(g.model_a, g.model_b) for g in games} == {("a", "b"), ("c", "b")}


def test_single_grades_each_answer_once_per_turn():
    games = games_for(_judge(mode="single"), ["a", "b"], [_q(1)], seed=0)
    assert [(g.model_a, g.model_b, g.turn) for g in games] == [("a", None, 1), ("b", None, 1), ("a", None, 2), ("b", None, 2)]


def test_pairs_per_question_is_a_seeded_subset():
    judge = _judge(mode="pairwise-all", pairs_per_question=2, both_orders=False)
    models = ["a", "b", "c", "d"]
    questions = [_q(i, turns=1) for i in range(20)]
    g1 = games_for(judge, models, questions, seed=1)
    assert len(g1) == 20 * 2
    assert [g.key for g in g1] == [g.key for g in games_for(judge, models, questions, seed=1)]
    assert [g.key for g in g1] != [g.key for g in games_for(judge, models, questions, seed=2)]
    # One order per pair, but the order alternates so position bias still averages out.
    shown_first_a = sum(g.first == g.model_a for g in g1)
    assert 8 <= shown_first_a <= 32


def _review(first, winner, verdict=None, model_a="a", model_b="b", qid=1, status="ok"):
    return Review(
        judge="j", template="t", mode="pairwise-all", question_id=qid, turn=1, model_a=model_a, model_b=model_b,
        first=first, prompt_hash="h", raw="", status=status, verdict=verdict, winner=winner,
    )


def _battle(*reviews, strong_weight=1.0):
    questions = {"1": _q(1)}
    (battle,) = battles_from_reviews(list(reviews), questions, {}, strong_weight=strong_weight)
    return battle


def test_both_orders_agree():
    b = _battle(_review("a", "model_a"), _review("b", "model_a"))
    assert (b.winner, b.outcome, b.consistent) == ("model_a", 1.0, True)


def test_win_in_one_order_and_loss_in_the_other_is_a_tie():
    b = _battle(_review("a", "model_a"), _review("b", "model_b"))
    assert (b.winner, b.outcome, b.consistent) == ("tie", 0.5, False)


def test_win_and_tie_is_a_fractional_win():
    b = _battle(_review("a", "model_b"), _review("b", "tie"))
    assert (b.winner, b.outcome) == ("model_b", 0.25)


def test_error_games_are_not_battles_and_one_valid_order_still_counts():
    b = _battle(_review("a", "model_a"), _review("b", None, status="error"))
    assert (b.winner, b.outcome, b.games, b.consistent) == ("model_a", 1.0, ["model_a"], None)
    assert battles_from_reviews([_review("a", None, status="error")], {"1": _q(1)}, {}) == []


def test_strong_verdicts_weigh_more():
    b = _battle(_review("a", "model_a", verdict="A>>B"), _review("b", "model_b", verdict="A>B"), strong_weight=3.0)
    assert b.outcome == 0.75  # (3 * 1 + 1 * 0) / 4
    assert b.weight == 2.0


def test_single_scores_make_battles_between_models_on_the_same_item():
    def graded(model, score):
        return Review(judge="j", template="t", mode="single", question_id=1, turn=1, model_a=model, model_b=None,
                      first=model, prompt_hash="h", raw="", status="ok", score=score)

    battles = battles_from_reviews([graded("a", 8), graded("b", 5), graded("c", 2), graded("d", 2)], {"1": _q(1)}, {})
    result = {(b.model_a, b.model_b): (b.winner, b.outcome) for b in battles}
    assert result[("a", "b")] == ("model_a", 1.0)
    assert result[("b", "c")] == ("model_a", 1.0)
    assert result[("a", "d")] == ("model_a", 1.0)
    assert result[("c", "d")] == ("tie (bothbad)", 0.5)
    assert len(battles) == 6


def test_style_features():
    text = "# Title\n\nSome **bold** text and __more__.\n\n- one\n- two\n1. three\n"
    style = style_of(text, tokens=42)
    assert (style.tokens, style.headers, style.lists, style.bold) == (42, 1, 3, 2)
    assert style.chars == len(text)
