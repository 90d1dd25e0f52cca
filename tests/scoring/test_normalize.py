"""Exact match: the normaliser on tricky cases, both ways (what must match, what must not)."""

from __future__ import annotations

import pytest

from arena.scoring.normalize import (
    canonical_number,
    exact_match,
    extract_short_answer,
    normalize_answer,
)


@pytest.mark.parametrize("a, b", [
    ("1,000", "1000"),
    ("1000.0", "1000"),
    ("$1000", "1000"),
    ("$1,000.00", "1000"),
    ("1e3", "1000"),
    ("0.50", "0.5"),
    (".5", "0.5"),
    ("-$5", "-5"),
    ("+7", "7"),
    ("50%", "50"),
    ("1000.", "1000"),  # a full stop, not a decimal point
    ("-0.0", "0"),
    ("The Eiffel Tower", "eiffel tower"),
    ("  an   apple ", "Apple"),
    ("U.S.A.", "USA"),
    ("don't", "dont"),
    ("Paris, France", "paris france"),
    ("(B)", "b"),
    ("“Hamlet”", "hamlet"),
    ("New\tYork\n", "new york"),
])
def test_equal_after_normalisation(a, b):
    assert normalize_answer(a) == normalize_answer(b)


@pytest.mark.parametrize("a, b", [
    ("1000", "100"),
    ("1,00", "100"),  # not a thousands separator: stays two numbers
    ("-5", "5"),
    ("0.5", "5"),
    ("3-4", "34"),
    ("one thousand", "1000"),  # words stay words
    ("theory", "ory"),  # articles only as whole words
    ("a1", "1"),
])
def test_different_after_normalisation(a, b):
    assert normalize_answer(a) != normalize_answer(b)


def test_canonical_number():
    assert canonical_number("1,234,567.890") == "1234567.89"
    assert canonical_number("2.5e-3") == "0.0025"
    assert canonical_number("abc") is None
    assert canonical_number("1,2,3") is None
    assert canonical_number("$") is None


def test_extract_short_answer():
    assert extract_short_answer("The answer is $1,000.\nBecause ten hundreds.") == "$1,000."
    assert extract_short_answer("\n\nAnswer: Mercury") == "Mercury"
    assert extract_short_answer("Final answer: 42") == "42"
    assert extract_short_answer("") == ""


def test_exact_match_against_several_references():
    assert exact_match("The answer is 1,000.", ["1000"]) is False  # "answer is" is not stripped here
    assert exact_match(extract_short_answer("The answer is 1,000."), ["1000"]) is True
    assert exact_match("the planet Mercury", ["Mercury", "the planet Mercury"]) is True
    assert exact_match("Venus", ["Mercury"]) is False
