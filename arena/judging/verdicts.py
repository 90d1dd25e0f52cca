"""Verdict parsing: strict, and the same for real and simulated judges.

Each template names one verdict format, declared once in arena.judging.grammar. A judge's text may
hold several verdicts (it reconsiders, or quotes the instructions): the last one wins. Text with
no verdict of the asked format gives None, which the reviews stage re-asks and finally records as
an error, never as a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

from arena.judging.grammar import Option, grammar


@dataclass(frozen=True)
class Verdict:
    """A parsed verdict. For pairwise formats `first_score` is the score of the answer shown in
    position A (1 win, 0.5 tie, 0 loss) and `strong` marks a decisive five-level win; for rating
    formats `rating` is the score. `options` holds the option read for each slot and `starts`
    where its value starts in the text (the probability weighting reads the tokens there)."""

    label: str
    first_score: float | None = None
    strong: bool = False
    rating: float | None = None
    options: tuple[Option, ...] = ()
    starts: tuple[int, ...] = ()


def compare(a: float, b: float) -> float:
    """The first answer's score from two grades: 1 higher, 0.5 equal, 0 lower."""
    return 1.0 if a > b else 0.0 if a < b else 0.5


def verdict_of(fmt: str, options: tuple[Option, ...], starts: tuple[int, ...] = ()) -> Verdict:
    """The verdict made of the given option per slot."""
    g = grammar(fmt)
    if g.kind == "single":
        option = options[0]
        return Verdict(label=option.label, rating=option.value, options=options, starts=starts)
    if g.slots == 2:
        a, b = options
        return Verdict(label=f"{a.label} {b.label}", first_score=compare(a.value, b.value), options=options, starts=starts)
    option = options[0]
    return Verdict(label=option.label, first_score=option.value, strong=option.strong, options=options, starts=starts)


def parse_verdict(text: str, fmt: str) -> Verdict | None:
    """The verdict of format `fmt` (a name in arena.judging.grammar.GRAMMARS) in `text`, or None."""
    found = grammar(fmt).find(text)
    if found is None:
        return None
    return verdict_of(fmt, *found)


def format_hint(fmt: str) -> str:
    """What to ask for when re-asking a judge that gave no verdict."""
    return grammar(fmt).hint
