"""Probability-weighted verdicts: the judge's distribution over a verdict's options, read from the
log-probabilities of the tokens where the verdict was written.

At the token where a slot's value starts, each alternative token the backend returned is matched
against the verdict's options (the text before the value in that token must be the same, the rest
must begin an option). Mass on tokens that begin no option (" The", a line break) is dropped and the
rest renormalised, as AlpacaEval's weighted annotator does. When a token begins several options
("1" of "1" and "10" where digits are single tokens), the generated path is followed one token
further to split its mass; an alternative that was not generated cannot be followed, and its mass
goes to the longest option it spells out in full (so "1" counts as 1 and "10" as 10); one that
only begins options ("B" where a five-level verdict is split "B", ">", "A") is shared equally
among them. Alternatives that decode to the same text add up.

Pairwise: the outcome of the answer shown first is sum p(option) * value (P(first wins) +
0.5 P(tie)). Two-score formats take the two slots as independent given the first: the outcome is
P(score_a > score_b) + 0.5 P(equal). Single: the expected rating (G-Eval's way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from arena.judging.grammar import Option, VerdictGrammar
from arena.providers.base import TokenLogprobs

_MAX_DEPTH = 4  # tokens followed past the value's first: enough for "10.0" in single digits


@dataclass(frozen=True)
class Weighted:
    """`probs`: per slot, option label -> probability. `value`: the first answer's outcome in
    [0, 1] (pairwise) or the expected rating (single)."""

    probs: list[dict[str, float]]
    value: float


def token_offsets(tokens: Sequence[TokenLogprobs], text: str) -> list[int | None] | None:
    """Where each token starts in `text` (None for a token that could not be placed), or None
    when no token could. Tokens are lined up from the text's start, and from its end for the
    rest: a detokenizer may differ from the text in the middle (a multi-byte character split over
    tokens) or at the start (a stripped space), and the last token may be an end-of-turn token
    the text leaves out (vLLM's `<|im_end|>`)."""
    offsets: list[int | None] = [None] * len(tokens)
    at = 0
    for i, t in enumerate(tokens):
        if not text.startswith(t.text, at):
            break
        offsets[i] = at
        at += len(t.text)
    end, i = len(text), len(tokens) - 1
    skipped = 0
    while i >= 0 and tokens[i].text and not text.endswith(tokens[i].text, 0, end) and skipped < 2:
        i, skipped = i - 1, skipped + 1  # special tokens after the text
    while i >= 0 and text.endswith(tokens[i].text, 0, end):
        end -= len(tokens[i].text)
        if offsets[i] is None:
            offsets[i] = end
        i -= 1
    return offsets if any(o is not None for o in offsets) else None


def slot_distribution(tokens: Sequence[TokenLogprobs], offsets: list[int | None], text: str, start: int,
                      options: Sequence[Option]) -> dict[str, float] | None:
    """The distribution over `options` (by label) at the value starting at `start` in `text`."""
    index = next((i for i, at in enumerate(offsets) if at is not None and at <= start < at + len(tokens[i].text)), None)
    if index is None:
        return None
    before = text[offsets[index]:start]  # the token's part before the value ("[[" in "[[A")
    mass: dict[str, float] = {}
    _spread(tokens, index, before, "", 1.0, options, mass, 0)
    total = sum(mass.values())
    if total <= 0:
        return None
    out: dict[str, float] = {}
    for label, p in mass.items():
        out[label] = out.get(label, 0.0) + p / total
    return out


def _spread(tokens: Sequence[TokenLogprobs], index: int, before: str, spelled: str, weight: float,
            options: Sequence[Option], mass: dict[str, float], depth: int) -> None:
    """Add to `mass` the probability of each option at token `index`, given the value's text
    `spelled` so far (and `before`, the part of this token ahead of the value)."""
    token = tokens[index]
    alternatives = _normalised(token)
    for alt, p in alternatives:
        if not alt.startswith(before):
            continue
        value = spelled + alt[len(before):]
        if not value:
            continue
        full = [o for o in options if value.startswith(o.text)]
        longer = [o for o in options if o.text.startswith(value) and o.text != value]
        generated = alt == token.text
        if longer and generated and depth < _MAX_DEPTH and index + 1 < len(tokens):
            # The generated token leaves the option open: follow the generation one token on.
            _spread(tokens, index + 1, "", value, weight * p, options, mass, depth + 1)
        elif full:
            best = max(full, key=lambda o: len(o.text))  # the value spells out this option
            mass[best.label] = mass.get(best.label, 0.0) + weight * p
        elif longer:
            # An alternative that only begins options ("B" of "B>A" and "B>>A"), not followed:
            # shared equally among them (their outcome is the same where it matters: a side).
            for o in longer:
                mass[o.label] = mass.get(o.label, 0.0) + weight * p / len(longer)


def _normalised(token: TokenLogprobs) -> list[tuple[str, float]]:
    """The token's alternatives as probabilities (the generated token among them). Two token ids
    that decode to the same text ("▁A" and "A" in a SentencePiece vocabulary) add up."""
    probs: dict[str, float] = {}
    for alt, lp in token.top:
        if math.isfinite(lp):
            probs[alt] = probs.get(alt, 0.0) + math.exp(lp)
    if all(alt != token.text for alt, _ in token.top):
        probs[token.text] = max(probs.values(), default=1.0)  # a backend that listed only the others
    return list(probs.items())


def weigh(grammar: VerdictGrammar, tokens: Sequence[TokenLogprobs] | None, text: str,
          starts: tuple[int, ...]) -> Weighted | None:
    """The weighted verdict of a reply whose verdict values start at `starts`, or None when the
    tokens do not cover the verdict (the caller keeps the argmax verdict)."""
    if not tokens or len(starts) != grammar.slots:
        return None
    offsets = token_offsets(tokens, text)
    if offsets is None:
        return None
    probs = []
    for start in starts:
        dist = slot_distribution(tokens, offsets, text, start, grammar.options)
        if dist is None:
            return None
        probs.append(dist)
    value_of = {o.label: o.value for o in grammar.options}
    if grammar.slots == 2:
        first, second = probs
        value = sum(pa * pb * (1.0 if value_of[a] > value_of[b] else 0.5 if value_of[a] == value_of[b] else 0.0)
                    for a, pa in first.items() for b, pb in second.items())
    else:
        value = sum(p * value_of[label] for label, p in probs[0].items())
    return Weighted(probs=probs, value=value)
