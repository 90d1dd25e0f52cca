"""Exact match for short answers: normalise both sides, then compare.

Normalisation makes equal what a grader would call equal and nothing more: case, punctuation,
the articles a/an/the and spacing are dropped; numbers are compared as numbers, so "1,000",
"1000.0", "$1000" and "1e3" all read 1000, and "0.50" reads 0.5. A percent sign is dropped with
the other punctuation ("50%" is 50). Words stay words: "one thousand" is not 1000.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

_NUMERIC = re.compile(r"^[-+]?[$€£¥]?[-+]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Points and apostrophes join ("U.S.A." is "usa", "don't" is "dont"); other punctuation separates
# ("3-4" is "3 4", and "1,00", not a number with thousands separators, is "1 00").
_JOINING = ".'’"
_PUNCT = str.maketrans({c: ("" if c in _JOINING else " ") for c in string.punctuation + "“”‘’–—…"})
_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", re.IGNORECASE)


def canonical_number(token: str) -> str | None:
    """'1,000' / '1000.0' / '$1000' / '1e3' -> '1000'; '-0.50' -> '-0.5'; not a number -> None."""
    token = token.strip()
    if not token or not _NUMERIC.match(token) or not any(c.isdigit() for c in token):
        return None
    digits = token.replace(",", "").lstrip("+-$€£¥")
    prefix = token[: len(token) - len(token.lstrip("+-$€£¥"))]
    negative = prefix.count("-") % 2 == 1
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"-{text}" if negative else text


def normalize_answer(text: str) -> str:
    """The normal form two answers are compared in (see the module docstring)."""
    # Numbers first, while their commas, points and signs still mean something.
    tokens = []
    for raw in text.split():
        core = raw.strip("()[]{}\"'“”‘’!?;:")
        core = core[:-1] if core.endswith(".") and not core.endswith("..") else core  # a full stop
        core = core.rstrip("%")
        number = canonical_number(core)
        tokens.append(f" {number} " if number is not None else raw)
    # Number tokens are kept apart from the punctuation pass by padding: "-5" keeps its sign.
    words = []
    for token in tokens:
        if token.startswith(" ") and token.endswith(" "):
            words.append(token.strip())
            continue
        cleaned = _ARTICLES.sub(" ", token.lower().translate(_PUNCT))
        words.extend(cleaned.split())
    return " ".join(words)


def extract_short_answer(generation: str) -> str:
    """The answer part of a generation: its first non-empty line, without a leading
    'Answer:' / 'The answer is'."""
    for line in generation.strip().splitlines():
        if line.strip():
            return _ANSWER_PREFIX.sub("", line.strip())
    return ""


def exact_match(prediction: str, references: Sequence[str]) -> bool:
    """Whether the prediction equals any reference after normalisation."""
    mine = normalize_answer(prediction)
    return any(mine == normalize_answer(ref) for ref in references)
