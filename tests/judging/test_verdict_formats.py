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
    # slips the parser has always accepted from API judges (they cannot be constrained)
    ("rating", "Rating: 8.", "8"),
    ("rating", "Overall rating: 6.", "6"),
    ("rating", "Rating: [8]", "8"),
    ("five_level", "[[A > B]]", "A>B"),
    ("five_level", "[[A >> B]]", "A>>B"),
    ("abc", "[[\nA\n]]", "A"),
    ("result_1to5", "Feedback: solid. [RESULT] 4.", "4"),
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


def test_judge_identity_of_existing_runs_is_unchanged():
    """Reviews stored before the vLLM-judge settings existed keep their judge identity (else every
    stored review would be judged again): the demo's and a local judge's, as computed before."""
    from arena.config import load_config
    from arena.stages.reviews import judge_identity

    demo = load_config("configs/demo.yaml")
    assert judge_identity(demo.judges[0], demo) == "3ff406e9c26097b2"
    local = load_config("configs/judge_local.yaml", dry_run=True)
    assert judge_identity(local.judges[0], local) == "bae83fd8bfeff96c"
