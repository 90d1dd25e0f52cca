"""Verdict parsing: strict, and the same for real and simulated judges.

Each template names one verdict format. A judge's text may hold several verdicts (it reconsiders,
or quotes the instructions): the last one wins. Text with no verdict of the asked format gives
None, which the reviews stage re-asks and finally records as an error, never as a tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """A parsed verdict. For pairwise formats `first_score` is the score of the answer shown in
    position A (1 win, 0.5 tie, 0 loss) and `strong` marks a decisive five-level win; for the
    rating format `rating` is the 1-10 score."""

    label: str
    first_score: float | None = None
    strong: bool = False
    rating: float | None = None


# Double brackets are what the templates ask for; single brackets are a common slip of real
# judges (and of FastChat's own backup pattern), accepted only where no double-bracket verdict is.
_ABC_DOUBLE = re.compile(r"\[\[\s*(A|B|C|tie|Tie|TIE)\s*\]\]")
_ABC_SINGLE = re.compile(r"(?<!\[)\[\s*(A|B|C)\s*\](?!\])")
_FIVE = re.compile(r"\[\[\s*([AB])\s*(>>|>|=|<<|<)\s*([AB])\s*\]\]")
_RATING_DOUBLE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]")
_RATING_LABELLED = re.compile(r"(?i)\brating\s*[:=]\s*\[?\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*\]?")

_ABC = {"A": ("A", 1.0), "B": ("B", 0.0), "C": ("tie", 0.5), "TIE": ("tie", 0.5)}


def parse_verdict(text: str, fmt: str) -> Verdict | None:
    """The last verdict of format `fmt` ('rating', 'abc', 'five_level') in `text`, or None."""
    if fmt == "abc":
        return _parse_abc(text)
    if fmt == "five_level":
        return _parse_five_level(text)
    if fmt == "rating":
        return _parse_rating(text)
    raise ValueError(f"unknown verdict format {fmt!r}")


def _parse_abc(text: str) -> Verdict | None:
    matches = _ABC_DOUBLE.findall(text) or _ABC_SINGLE.findall(text)
    if not matches:
        return None
    label, score = _ABC[matches[-1].upper()]
    return Verdict(label=label, first_score=score)


def _parse_five_level(text: str) -> Verdict | None:
    matches = _FIVE.findall(text)
    if not matches:
        return None
    left, op, right = matches[-1]
    if left == right:
        return None
    if op in ("<", "<<"):  # "A<B" is "B>A"
        left, right, op = right, left, op.replace("<", ">")
    if op == "=":
        return Verdict(label="A=B", first_score=0.5)
    strong = op == ">>"
    return Verdict(label=f"{left}{op}{right}", first_score=1.0 if left == "A" else 0.0, strong=strong)


def _parse_rating(text: str) -> Verdict | None:
    matches = _RATING_DOUBLE.findall(text) or _RATING_LABELLED.findall(text)
    if not matches:
        return None
    value = float(matches[-1])
    if not 1.0 <= value <= 10.0:
        return None
    return Verdict(label=f"{value:g}", rating=value)


def format_hint(fmt: str) -> str:
    """What to ask for when re-asking a judge that gave no verdict."""
    return {
        "rating": 'a score from 1 to 10 in exactly this form: "Rating: [[N]]"',
        "abc": 'exactly one of "[[A]]", "[[B]]" or "[[C]]" (a tie)',
        "five_level": 'exactly one of "[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"',
    }[fmt]
