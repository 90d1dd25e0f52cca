"""Probability-weighted verdicts on hand-computed distributions: which alternatives count, how the
mass is renormalised, and the first answer's outcome (or the expected rating) made of it."""

from __future__ import annotations

import math

import pytest

from arena.judging.grammar import grammar
from arena.judging.verdicts import parse_verdict
from arena.judging.weighting import slot_distribution, token_offsets, weigh
from arena.providers.base import TokenLogprobs

ln = math.log


def tok(text: str, *top: tuple[str, float]) -> TokenLogprobs:
    """A token whose alternatives are given as probabilities; with none, it was certain."""
    return TokenLogprobs(text, [(t, ln(p)) for t, p in top] if top else [(text, 0.0)])


def weighted(fmt: str, tokens: list[TokenLogprobs], text: str | None = None):
    text = "".join(t.text for t in tokens) if text is None else text
    verdict = parse_verdict(text, fmt)
    assert verdict is not None, text
    return weigh(grammar(fmt), tokens, text, verdict.starts)


def approx(d: dict[str, float]):
    return pytest.approx(d, abs=1e-9)


# -- pairwise ------------------------------------------------------------------------------------

def test_abc_renormalises_over_the_options():
    tokens = [tok("Because... "), tok("[["),
              tok("B", ("B", .5), ("C", .2), ("A", .2), (" The", .1)), tok("]]")]
    w = weighted("abc", tokens)
    # " The" begins no option: its .1 is dropped and the rest renormalised over .9.
    assert w.probs == [approx({"A": .2 / .9, "B": .5 / .9, "tie": .2 / .9})]
    # The first answer's outcome: P(A) + 0.5 P(tie) = (.2 + .1) / .9 = 1/3.
    assert w.value == pytest.approx(.2 / .9 + 0.5 * .2 / .9)
    assert w.value == pytest.approx(1 / 3)


def test_token_holding_the_prefix_and_the_value():
    tokens = [tok("x "), tok("[[A", ("[[A", .6), ("[[B", .3), ("[", .1)), tok("]]")]
    w = weighted("abc", tokens)
    # "[" does not hold the "[[" before the value: it is no option, dropped.
    assert w.probs == [approx({"A": .6 / .9, "B": .3 / .9})]
    assert w.value == pytest.approx(.6 / .9)


def test_whole_verdict_in_one_token():
    tokens = [tok("ok "), tok("[[C]]", ("[[C]]", .5), ("[[A]]", .25), ("[[B]].", .25))]
    w = weighted("abc", tokens)
    assert w.probs == [approx({"tie": .5, "A": .25, "B": .25})]
    assert w.value == pytest.approx(.25 + .5 * .5)


def test_five_level_strong_and_slight_wins_both_count_one():
    tokens = [tok("My final verdict: "), tok("[["),
              tok("A>B", ("A>B", .3), ("A>>B", .3), ("A=B", .2), ("B>A", .1), ("B>>A", .1)),
              tok("]]")]
    w = weighted("five_level", tokens)
    assert w.probs == [approx({"A>B": .3, "A>>B": .3, "A=B": .2, "B>A": .1, "B>>A": .1})]
    # A>>B and A>B both score 1 for A, A=B 0.5, B's wins 0: .3 + .3 + .5 * .2 = .7
    assert w.value == pytest.approx(.7)


def test_five_level_split_tokens_follow_the_generated_path():
    # "A" begins three options; the generation goes on with ">>" then "B". An alternative at ">>"
    # that was not generated (">") cannot be followed: "A>" begins A>>B and A>B, which share it.
    tokens = [tok("x "), tok("[["), tok("A", ("A", .8), ("B", .2)),
              tok(">>", (">>", .5), (">", .5)), tok("B"), tok("]]")]
    w = weighted("five_level", tokens)
    # "B" begins B>A and B>>A, which share its .2: the side, which is what the outcome needs, is kept.
    assert w.probs == [approx({"A>>B": .8 * .5 + .8 * .25, "A>B": .8 * .25, "B>A": .1, "B>>A": .1})]
    assert w.value == pytest.approx(.8)


def test_alternatives_that_decode_alike_add_up():
    """Two ids decoding to the same text (a SentencePiece "\u2581A" and "A") count together."""
    tokens = [tok("x "), tok("[["), tok("A", ("A", .4), ("B", .3), ("A", .2), ("C", .1)), tok("]]")]
    w = weighted("abc", tokens)
    assert w.probs == [approx({"A": .6, "B": .3, "tie": .1})]
    assert w.value == pytest.approx(.6 + .05)


def test_result_ab():
    tokens = [tok("Feedback: fine. "), tok("[RESULT]"), tok(" B", (" B", .75), (" A", .25))]
    w = weighted("result_ab", tokens)
    assert w.probs == [approx({"B": .75, "A": .25})]
    assert w.value == pytest.approx(.25)


# -- single ratings ------------------------------------------------------------------------------

def test_rating_with_single_digit_tokens():
    text = "ok Rating: [[10]]"
    tokens = [tok("ok "), tok("Rating: [["), tok("1", ("1", .5), ("8", .3), ("9", .2)),
              tok("0", ("0", .6), ("]]", .4)), tok("]]")]
    w = weighted("rating", tokens, text)
    # The generated "1" is followed: "10" gets .5 * .6 = .3, "1" then "]]" gets .5 * .4 = .2.
    assert w.probs == [approx({"10": .3, "1": .2, "8": .3, "9": .2})]
    # 10 * .3 + 1 * .2 + 8 * .3 + 9 * .2 = 3 + .2 + 2.4 + 1.8 = 7.4
    assert w.value == pytest.approx(7.4)


def test_ambiguous_alternative_not_generated_counts_as_the_shortest_option():
    # "9" was generated; the alternative "1" might have gone on to "10", but cannot be followed:
    # it counts as 1.
    tokens = [tok("ok "), tok("Rating: [["), tok("9", ("9", .7), ("1", .3)), tok("]]")]
    w = weighted("rating", tokens)
    assert w.probs == [approx({"9": .7, "1": .3})]
    assert w.value == pytest.approx(9 * .7 + 1 * .3)


def test_multi_digit_alternative_counts_as_what_it_spells():
    tokens = [tok("ok "), tok("Rating: [["), tok("9", ("9", .6), ("10", .3), ("1", .1)), tok("]]")]
    w = weighted("rating", tokens)
    assert w.probs == [approx({"9": .6, "10": .3, "1": .1})]
    assert w.value == pytest.approx(9 * .6 + 10 * .3 + 1 * .1)


def test_rating_alternatives_outside_the_scale_are_dropped():
    tokens = [tok("ok "), tok("Rating: [["), tok("7", ("7", .5), ("0", .25), ("-", .25)), tok("]]")]
    w = weighted("rating", tokens)
    assert w.probs == [approx({"7": 1.0})]
    assert w.value == pytest.approx(7.0)


def test_result_1to5_expected_value():
    tokens = [tok("Feedback: good. "), tok("[RESULT]"),
              tok(" 4", (" 4", .5), (" 5", .3), ("3", .2))]
    w = weighted("result_1to5", tokens)
    # "3" lacks the " " the generated token holds before the value: dropped; .8 remains.
    assert w.probs == [approx({"4": .5 / .8, "5": .3 / .8})]
    assert w.value == pytest.approx((4 * .5 + 5 * .3) / .8)


def test_result_1to5_all_five():
    tokens = [tok("Feedback: good. "), tok("[RESULT] "),
              tok("3", ("1", .1), ("2", .2), ("3", .4), ("4", .2), ("5", .1))]
    w = weighted("result_1to5", tokens)
    assert w.probs == [approx({"1": .1, "2": .2, "3": .4, "4": .2, "5": .1})]
    assert w.value == pytest.approx(.1 + .4 + 1.2 + .8 + .5)  # 3.0


# -- two scores ----------------------------------------------------------------------------------

def test_two_score_outcome():
    text = "8 6\nbecause"
    tokens = [tok("8", ("8", .7), ("6", .3)), tok(" "), tok("6", ("6", .5), ("8", .5)), tok("\nbecause")]
    verdict = parse_verdict(text, "two_score")
    assert verdict.starts == (0, 2)
    w = weigh(grammar("two_score"), tokens, text, verdict.starts)
    assert w.probs == [approx({"8": .7, "6": .3}), approx({"6": .5, "8": .5})]
    # P(a > b) = P(8, 6) = .7 * .5 = .35
    # P(a = b) = P(8, 8) + P(6, 6) = .7 * .5 + .3 * .5 = .5
    # value = .35 + .5 * .5 = .6
    assert w.value == pytest.approx(.7 * .5 + .5 * (.7 * .5 + .3 * .5))
    assert w.value == pytest.approx(.6)


def test_two_score_in_one_token_conditions_the_second_slot():
    # The second value sits in the token "8 6" after "8 ": alternatives that change the first
    # score ("6 6") are not the same path and are dropped from the second slot.
    text = "8 6\nwhy"
    tokens = [tok("8 6", ("8 6", .5), ("8 5", .25), ("6 6", .25)), tok("\nwhy")]
    w = weighted("two_score", tokens, text)
    assert w.probs == [approx({"8": .75, "6": .25}), approx({"6": 2 / 3, "5": 1 / 3})]
    # 8 beats both 6 and 5 (.75 * 1); 6 ties 6 and beats 5 (.25 * (2/3 * .5 + 1/3 * 1))
    expected = (.75 * 1.0 + .25 * (2 / 3 * .5 + 1 / 3 * 1.0))
    assert w.value == pytest.approx(expected)


def test_two_score_ten_in_single_digits():
    text = "10 9\nwhy"
    tokens = [tok("1", ("1", .8), ("9", .2)), tok("0", ("0", .5), (" ", .5)), tok(" "),
              tok("9", ("9", 1.0)), tok("\nwhy")]
    w = weighted("two_score", tokens, text)
    # slot 1: 10 = .8 * .5, 1 = .8 * .5 (then " "), 9 = .2
    assert w.probs == [approx({"10": .4, "1": .4, "9": .2}), approx({"9": 1.0})]
    # a > b only for 10 > 9; 9 = 9 half
    assert w.value == pytest.approx(.4 + .5 * .2)


# -- what gives no weighting ---------------------------------------------------------------------

def test_tokens_that_do_not_spell_the_text():
    g = grammar("abc")
    text = "ok [[A]]"
    starts = parse_verdict(text, "abc").starts
    assert weigh(g, [tok("ok "), tok("[["), tok("B"), tok("]]")], text, starts) is None
    assert weigh(g, [tok("ok "), tok("[[C]]")], text, starts) is None
    assert token_offsets([tok("ok "), tok("[[B]]")], text) == [0, None]  # placed from the start only
    assert token_offsets([tok("xx")], text) is None


def test_end_of_turn_token_after_the_text_is_left_out():
    """vLLM returns the generated end-of-turn token with the others; the text leaves it out."""
    g = grammar("abc")
    text = "fine [[B]]"
    tokens = [tok("fine "), tok("[["), tok("B", ("B", .6), ("A", .4)), tok("]]"), tok("<|im_end|>")]
    w = weigh(g, tokens, text, parse_verdict(text, "abc").starts)
    assert w.probs == [approx({"A": .4, "B": .6})]


def test_middle_that_does_not_detokenize_like_the_text():
    """A multi-byte character split over tokens decodes differently: the verdict at the end is
    still placed."""
    g = grammar("abc")
    text = "caf\u00e9 [[A]]"
    tokens = [tok("caf"), tok("\ufffd"), tok("\ufffd"), tok(" [["), tok("A", ("A", .7), ("C", .3)), tok("]]")]
    w = weigh(g, tokens, text, parse_verdict(text, "abc").starts)
    assert w.probs == [approx({"A": .7, "tie": .3})]


def test_no_tokens():
    g = grammar("abc")
    text = "ok [[A]]"
    starts = parse_verdict(text, "abc").starts
    assert weigh(g, None, text, starts) is None
    assert weigh(g, [], text, starts) is None


def test_wrong_number_of_starts():
    g = grammar("two_score")
    tokens = [tok("8"), tok(" "), tok("6"), tok("\nwhy")]
    assert weigh(g, tokens, "8 6\nwhy", (0,)) is None


def test_tokens_that_miss_the_verdict():
    # The tokens spell the text's end only, after the verdict's value: nothing to read.
    g = grammar("abc")
    text = "ok [[A]]"
    assert weigh(g, [tok("]]")], text, parse_verdict(text, "abc").starts) is None


def test_stripped_leading_space_is_aligned_at_the_end():
    tokens = [tok("Because"), tok(" [["), tok("A", ("A", .75), ("B", .25)), tok("]]")]
    text = " " + "".join(t.text for t in tokens)
    assert token_offsets(tokens, text) == [1, 8, 11, 12]
    w = weighted("abc", tokens, text)
    assert w is not None
    assert w.probs == [approx({"A": .75, "B": .25})]
    assert w.value == pytest.approx(.75)


# -- backends' odd log-probabilities -------------------------------------------------------------

def test_top_without_the_generated_token():
    # A backend that lists only the others: the generated token gets the best listed one's mass.
    tokens = [tok("ok "), tok("[["), TokenLogprobs("B", [("A", ln(.3)), ("C", ln(.2))]), tok("]]")]
    w = weighted("abc", tokens)
    assert w.probs == [approx({"A": .3 / .8, "B": .3 / .8, "tie": .2 / .8})]
    assert w.value == pytest.approx((.3 + .5 * .2) / .8)


def test_empty_top_means_the_generated_token_was_certain():
    tokens = [tok("ok "), tok("[["), TokenLogprobs("A", []), tok("]]")]
    w = weighted("abc", tokens)
    assert w.probs == [approx({"A": 1.0})]
    assert w.value == pytest.approx(1.0)


def test_minus_infinity_alternatives_are_ignored():
    tokens = [tok("ok "), tok("[["),
              TokenLogprobs("A", [("A", ln(.6)), ("B", -math.inf), ("C", ln(.2))]), tok("]]")]
    w = weighted("abc", tokens)
    assert w.probs == [approx({"A": .75, "tie": .25})]
    assert w.value == pytest.approx(.75 + .5 * .25)


def test_no_finite_mass_gives_none():
    tokens = [tok("ok "), tok("[["), TokenLogprobs("A", [("A", -math.inf), (" The", -math.inf)]),
              tok("]]")]
    assert weighted("abc", tokens) is None


def test_only_non_options_gives_none():
    text = "ok [[A]]"
    tokens = [tok("ok "), tok("[["), TokenLogprobs("A", [(" The", ln(.9)), ("A", -math.inf)]),
              tok("]]")]
    offsets = token_offsets(tokens, text)
    assert slot_distribution(tokens, offsets, text, 5, grammar("abc").options) is None
    assert weighted("abc", tokens, text) is None
