"""Verdict parsing on formats seen in real judge output (FastChat MT-Bench GPT-4 judgments,
arena-hard five-level verdicts): the last verdict wins, and no verdict is None, never a tie."""

from __future__ import annotations

import pytest

from arena.judging.verdicts import parse_verdict

CASES = [
    # MT-Bench single grading
    ("rating", "The response is accurate and helpful. Rating: [[8]]", "8"),
    ("rating", "...thorough and correct.\n\nRating: [[9.5]]", "9.5"),
    ("rating", "Rating: [[7/10]]", "7"),
    ("rating", "I would first give [[4]], but on reflection the code works. Rating: [[6]]", "6"),
    ("rating", "Overall a fair answer.\nRating: 5", "5"),
    ("rating", "**Rating: [[3]]**", "3"),
    # MT-Bench pairwise
    ("abc", "Assistant A is more detailed. Therefore, my final verdict is: [[A]]", "A"),
    ("abc", "Both are equally good, so it is a tie: [[C]]", "tie"),
    ("abc", 'The format is "[[A]]" if A is better... Here, [[B]]', "B"),
    ("abc", "Final verdict: **[[B]]**.", "B"),
    ("abc", "Final verdict: [B]", "B"),
    # arena-hard five-level
    ("five_level", "My final verdict is: Assistant A is significantly better: [[A>>B]]", "A>>B"),
    ("five_level", "My final verdict is tie: [[A=B]].", "A=B"),
    ("five_level", "My final verdict is Assistant B is slightly better: [[B>A]]", "B>A"),
    ("five_level", "Initially [[A>B]]; after checking the math, [[B>>A]]", "B>>A"),
    ("five_level", "[[A<B]]", "B>A"),
]


@pytest.mark.parametrize("fmt,text,label", CASES)
def test_real_formats(fmt, text, label):
    verdict = parse_verdict(text, fmt)
    assert verdict is not None and verdict.label == label


@pytest.mark.parametrize("fmt,text", [
    ("rating", "This answer deserves a high score."),
    ("rating", "Rating: [[11]]"),
    ("abc", "Both answers have merits and flaws."),
    ("five_level", "Assistant A is better: A>>B"),
    ("five_level", "[[A>>A]]"),
])
def test_no_verdict_is_none_not_a_tie(fmt, text):
    assert parse_verdict(text, fmt) is None
