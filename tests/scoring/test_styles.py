"""The three multiple-choice styles on hand-made log-probabilities where they disagree."""

from __future__ import annotations

import math

import pytest

from arena.scoring.styles import (
    argmax,
    generated_letter_choice,
    letter_logprob_choice,
    letter_logprobs_from_top,
    text_logprob_choice,
)

# One item, four options; the gold answer does not matter here, only what each style picks.
CHOICES = ["The Pacific Ocean", "The Atlantic", "Lake", "The Indian Ocean basin, by far"]
# letter_logprob: log P(" A"), ... after "Answer:": B is the most likely letter.
LETTER_LOGPROBS = [-2.0, -1.0, -3.0, -1.5]
# text_logprob: log P(option text) after the prompt. The short "Lake" (1 token) wins raw; per
# character and per token the long option D wins.
TEXT_LOGPROBS = [-9.0, -7.5, -4.0, -8.0]
TOKENS = [4, 3, 1, 6]
# generate_letter: the model wrote A.
GENERATION = "The answer is (A)."


def test_the_styles_disagree_on_the_same_item():
    picks = {
        "letter_logprob": letter_logprob_choice(LETTER_LOGPROBS),
        "text_logprob": text_logprob_choice(TEXT_LOGPROBS),
        "text_logprob per char": text_logprob_choice(TEXT_LOGPROBS, [len(c) for c in CHOICES]),
        "text_logprob per token": text_logprob_choice(TEXT_LOGPROBS, TOKENS),
        "generate_letter": generated_letter_choice(GENERATION, 4),
    }
    # per char: A -9/17=-0.53, B -7.5/12=-0.63, C -4/4=-1.0, D -8/30=-0.27; per token: D -1.33 is best.
    assert picks == {
        "letter_logprob": 1,
        "text_logprob": 2,
        "text_logprob per char": 3,
        "text_logprob per token": 3,
        "generate_letter": 0,
    }


def test_letter_logprob_from_top_tokens_pools_spellings_and_misses_absent_letters():
    top = {" B": -0.5, "B": -1.0, " The": -2.0, "(C": -3.0, "a": -0.1, " AB": -0.2}
    pooled = letter_logprobs_from_top(top, 4)
    assert pooled[0] is None and pooled[3] is None  # "a" (lower case) and " AB" are not letters
    assert pooled[1] == pytest.approx(math.log(math.exp(-0.5) + math.exp(-1.0)))
    assert pooled[2] == pytest.approx(-3.0)
    assert letter_logprob_choice(pooled) == 1
    # A letter beyond the item's options does not count.
    assert letter_logprobs_from_top({" E": -0.1, " A": -3.0}, 4) == [-3.0, None, None, None]
    assert letter_logprob_choice(letter_logprobs_from_top({" The": -0.1}, 4)) is None


def test_argmax_first_on_ties_and_skips_unknowns():
    assert argmax([-1.0, -0.5, -0.5]) == 1
    assert argmax([None, -2.0, float("nan"), -3.0]) == 1
    assert argmax([None, None]) is None
    assert argmax([]) is None


def test_length_normalisation_guards_zero_lengths():
    assert text_logprob_choice([-1.0, -2.0], [0, 4]) == 1  # -1/1 vs -2/4


@pytest.mark.parametrize("text, expected", [
    ("B", 1),
    (" C.", 2),
    ("(D) because it is the largest", 3),
    ("**A**", 0),
    ("Answer: C", 2),
    ("The answer is (B).", 1),
    ("the correct answer is **D**", 3),
    ("I think the answer is B, not C.", 1),
    ("A. The Pacific Ocean", 0),
    ("A good choice would be (C)", 2),  # "A" opening a sentence is the article
    ("I believe it is (B)", 1),  # so is "I"
    ("E", None),  # not one of four options
    ("The options all look plausible.", None),
    ("", None),
    ("Banana", None),  # a word starting with a letter is not a letter
])
def test_generated_letter(text, expected):
    assert generated_letter_choice(text, 4) == expected


def test_generated_letter_beyond_d_when_there_are_more_options():
    assert generated_letter_choice("E", 5) == 4
    assert generated_letter_choice("answer: F", 5) is None
