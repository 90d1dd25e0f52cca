"""The verdict grammars and the parser agree: what a grammar's constraint admits always parses, to
exactly the verdict that was written, and the parser accepts nothing the grammar forbids at the
end of a reply (an option outside the declared set, a malformed verdict)."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from arena.judging.grammar import GRAMMARS, Option, VerdictGrammar, grammar
from arena.judging.verdicts import parse_verdict

NAMES = sorted(GRAMMARS)
END = [name for name in NAMES if GRAMMARS[name].at == "end"]

# What random free text is made of: characters and words a judge writes, near-verdict ones included.
PIECES = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + [" "] * 12 + ["\n"] * 4 + ["\t"]
    + list(".,;:!?'\"()*/-_=<>]#`{}|\\")
    + ["Rating:", "Rating: ", "rating=", "RESULT", "RESULT]", "[", "A", "B", "C", "A>B", "B>>A", "A=B",
       "tie", " 7", " 10", "8 6", "/10", "]]", "**"]
)


def free_text(rng: random.Random, n: int, guard: str | None) -> str:
    """Random free text of at most n characters, without the guard character."""
    target = rng.randint(0, n) if n else 0
    out = ""
    while len(out) < target:
        piece = rng.choice(PIECES)
        if guard:
            piece = piece.replace(guard, "")
        out += piece
    return out[:target]


def verdicts(g: VerdictGrammar) -> dict[str, tuple[Option, ...]]:
    """Every canonical verdict string -> the options it spells, one per slot."""
    return {g.write(combo): combo for combo in itertools.product(g.options, repeat=g.slots)}


def labels(options) -> tuple[str, ...]:
    return tuple(o.label for o in options)


def declared_labels(g: VerdictGrammar) -> set[str]:
    """Every label a verdict of `g` may carry: the canonical options' and any alias's."""
    out = {o.label for o in g.options}
    for form in g.forms:
        out |= {o.label for o in form.options.values()}
    return out


# -- canonical verdicts --------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_canonical_lists_every_combination(name):
    g = grammar(name)
    assert sorted(g.canonical()) == sorted(verdicts(g))
    assert len(g.canonical()) == len(g.options) ** g.slots
    assert g.longest == max(len(s) for s in g.canonical())


@pytest.mark.parametrize("name", NAMES)
def test_canonical_verdicts_parse_and_match(name):
    g = grammar(name)
    for s, options in verdicts(g).items():
        verdict = parse_verdict(s, name)
        assert verdict is not None, s
        assert labels(verdict.options) == labels(options), s
        assert re.fullmatch(g.verdict_regex(), s), s
        found = g.find(s)
        assert found is not None and labels(found[0]) == labels(options)


# -- what a constrained reply can be -------------------------------------------------------------

def _appended(g: VerdictGrammar, rng: random.Random, n: int):
    """A random reply the grammar's constraint should admit: (reply, verdict, its options, starts)."""
    s, options = rng.choice(list(verdicts(g).items()))
    form = g.forms[0]
    if g.at == "start":
        text = s + "\n" + free_text(rng, n, None)
        base = len(form.open_text)
    else:
        free = free_text(rng, n, g.guard)
        text = free + s
        base = len(free) + len(form.open_text)
    starts, at = [], base
    for option in options:
        starts.append(at)
        at += len(option.text) + len(form.sep_text)
    return text, s, options, tuple(starts)


@pytest.mark.parametrize("n", [0, 40, 300])
@pytest.mark.parametrize("name", NAMES)
def test_constrained_replies_parse_to_the_written_verdict(name, n):
    g = grammar(name)
    pattern = re.compile(g.constraint(n))
    rng = random.Random(f"{name}-{n}")
    for _ in range(400):
        text, s, options, starts = _appended(g, rng, n)
        assert pattern.fullmatch(text), (text, g.constraint(n))
        verdict = parse_verdict(text, name)
        assert verdict is not None, text
        assert labels(verdict.options) == labels(options), text
        assert verdict.starts == starts, text
        for option, start in zip(options, starts):
            assert text[start:start + len(option.text)] == option.text


@pytest.mark.parametrize("name", NAMES)
def test_constraint_bounds_the_free_text(name):
    g = grammar(name)
    s = g.canonical()[0]
    pattern = re.compile(g.constraint(10))
    if g.at == "start":
        assert pattern.fullmatch(s + "\n" + "x" * 10)
        assert not pattern.fullmatch(s + "\n" + "x" * 11)
        assert not pattern.fullmatch("x\n" + s + "\n")  # the verdict must come first
    else:
        assert pattern.fullmatch("x" * 10 + s)
        assert not pattern.fullmatch("x" * 11 + s)
        assert not pattern.fullmatch("x" * 5 + s + "x")  # nothing after the verdict
        # the guard keeps a second verdict out of the free text
        assert not pattern.fullmatch(s + s)


@pytest.mark.parametrize("name", END)
def test_continuation_completes_a_reply_without_verdict(name):
    g = grammar(name)
    pattern = re.compile(g.continuation())
    rng = random.Random(f"continue-{name}")
    checked = 0
    for _ in range(600):
        # A reply cut short: free text (here the guard may appear), perhaps a verdict begun.
        head = free_text(rng, 80, g.guard if rng.random() < 0.5 else None)
        s, options = rng.choice(list(verdicts(g).items()))
        if rng.random() < 0.3:
            head += s[:rng.randrange(len(s))]
        if parse_verdict(head, name) is not None:
            continue
        tail = ("\n" if rng.random() < 0.5 else "") + s
        assert pattern.fullmatch(tail)
        verdict = parse_verdict(head + tail, name)
        assert verdict is not None, head + tail
        assert labels(verdict.options) == labels(options), head + tail
        assert verdict.starts[0] == len(head + tail) - len(s) + len(g.forms[0].open_text)
        checked += 1
    assert checked > 300


# -- what the grammar forbids --------------------------------------------------------------------

FORBIDDEN = {
    "abc": ["[[D]]", "[[AB]]", "[[A]", "[[a]]", "[A]]", "[[ A B ]]", "[[]]", "[[C]"],
    "five_level": ["[[A>>A]]", "[[A>>>B]]", "A>>B", "[[A>B]", "[[B=B]]", "[[A>]]", "[[AB]]",
                   "[A>>B]]"],
    "rating": ["Rating: [[11]]", "Rating: [[0]]", "[[7.25]]", "[[-3]]", "Rating: [[ 11 ]]",
               "Rating: [[10.5]]", "Rating: 0", "Rating: 11", "[[7]", "Rating: [[]]"],
    "result_1to5": ["[RESULT] 6", "[RESULT] 0", "[RESULT] 12", "[RESULT] 3.5", "[RESULT] A",
                    "[RESULT]", "RESULT 3", "[RESULT 3"],
    "result_ab": ["[RESULT] C", "[RESULT] AB", "[RESULT] Tie", "[RESULT] 1", "[RESULT] Ab",
                  "[RESULT]", "RESULT A", "[RESULT A"],
    "two_score": ["11 3\nwhy", "0 5\nwhy", "8\nwhy", "8 6 4\nwhy", "8 11\nwhy", "8 6.5\nwhy",
                  "86\nwhy", "A B\nwhy", "why\n8 6"],
}


def test_forbidden_covers_every_grammar():
    assert set(FORBIDDEN) == set(GRAMMARS)


@pytest.mark.parametrize("name,ending", [(n, e) for n in NAMES for e in FORBIDDEN[n]])
def test_forbidden_endings_are_no_verdict(name, ending):
    g = grammar(name)
    text = ending if g.at == "start" else "Feedback: fine. " + ending
    assert parse_verdict(text, name) is None, text
    assert not re.fullmatch(g.constraint(300), text), text


# -- fuzz ----------------------------------------------------------------------------------------

FRAGMENTS = ["[[", "]]", "[", "]", "A", "B", "C", "D", ">", ">>", "<", "=", "Rating:", " ",
             "[RESULT]", *[str(d) for d in range(13)], ".", "/10", "\n", "tie"]


@pytest.mark.parametrize("name", NAMES)
def test_fuzzed_endings(name):
    g = grammar(name)
    pattern = re.compile(g.constraint(300))
    canon = verdicts(g)
    allowed = declared_labels(g)
    rng = random.Random(f"fuzz-{name}")
    admitted = 0
    for _ in range(3000):
        ending = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.3:  # often a canonical verdict, so that some endings are admitted
            s = rng.choice(list(canon))
            ending = ending + s if g.at == "end" else s + rng.choice(["\n", ""]) + ending
        if g.at == "start":
            text = ending + "\nok"
        else:
            text = "ok " + ending
        verdict = parse_verdict(text, name)
        if pattern.fullmatch(text):
            admitted += 1
            if g.at == "start":
                head = re.match(g.verdict_regex() + r"\n", text).group()[:-1]
            else:
                head = max((s for s in canon if text.endswith(s)), key=len)
            assert verdict is not None, text
            assert labels(verdict.options) == labels(canon[head]), text
        if verdict is not None:
            assert set(labels(verdict.options)) <= allowed, text
            assert len(verdict.options) == g.slots == len(verdict.starts)
    assert admitted > 100


# -- which verdict counts ------------------------------------------------------------------------

@pytest.mark.parametrize("name,text,expected", [
    ("abc", "[[A]] at first, but no: [[B]]", ("B",)),
    ("abc", "[[A]] ... and then [B]", ("A",)),
    ("abc", "[A] ... then [[ tie ]]", ("tie",)),
    ("abc", "[[C]] ... then [[ B ]]", ("tie",)),
    ("five_level", "[[A>B]] hmm. [[B>>A]]", ("B>>A",)),
    ("five_level", "[[A>>B]] ... [[ A<B ]]", ("A>>B",)),
    ("rating", "Rating: [[3]] ... no, Rating: [[8]]", ("8",)),
    ("rating", "Rating: [[4]] ... Rating: 9", ("4",)),
    ("rating", "[[6]] ... Rating: 9", ("6",)),
    ("rating", "Rating: 3 and later Rating: 7/10", ("7",)),
    ("result_1to5", "[RESULT] 2 ... [RESULT] 4", ("4",)),
    ("result_1to5", "[RESULT] 3 ... [result]: 5", ("3",)),
    ("result_ab", "[RESULT] A ... [RESULT] B", ("B",)),
    ("result_ab", "[RESULT] B ... [RESULT] (A)", ("B",)),
    ("two_score", "8 6\nthen 3 9\n", ("8", "6")),
])
def test_last_verdict_and_priority(name, text, expected):
    verdict = parse_verdict(text, name)
    assert verdict is not None and labels(verdict.options) == expected


@pytest.mark.parametrize("name,text,expected", [
    ("abc", "Final verdict: [[ tie ]]", ("tie",)),
    ("abc", "Final verdict: [B].", ("B",)),
    ("five_level", "Verdict: [[ A<B ]]", ("B>A",)),
    ("five_level", "Verdict: [[B<<A]]", ("A>>B",)),
    ("rating", "Good. [[8.5]]", ("8.5",)),
    ("rating", "Good. [[7/10]]", ("7",)),
    ("rating", "Good.\nrating = 6 / 10", ("6",)),
    ("rating", "Good. [[10.0]]", ("10",)),
    ("result_1to5", "Feedback: fine. [RESULT]: (4)", ("4",)),
    ("result_1to5", "Feedback: fine. [result] 3", ("3",)),
    ("result_ab", "Feedback: fine. [RESULT] (B)", ("B",)),
    ("result_ab", "Feedback: fine. [Result]: A", ("A",)),
    # two_score's second form: the slips "8, 6", "8/6", "**8 6**" on the first line
    ("two_score", "8, 6\nbecause", ("8", "6")),
    ("two_score", "8/6\nbecause", ("8", "6")),
    ("two_score", "**8 6**\nbecause", ("8", "6")),
    ("two_score", "  10 ; 2\nbecause", ("10", "2")),
])
def test_later_forms_read_the_usual_slips(name, text, expected):
    verdict = parse_verdict(text, name)
    assert verdict is not None and labels(verdict.options) == expected
    g = grammar(name)
    for option, start in zip(verdict.options, verdict.starts):  # starts at a spelling of the option
        assert any(text.startswith(spelling, start) and o == option
                   for form in g.forms for spelling, o in form.options.items()), (text, start)


# -- regex syntax for the grammar engines --------------------------------------------------------

_ENGINE_ESCAPES = set("[]\\.^$|?*+(){}sSn")


@pytest.mark.parametrize("name", NAMES)
def test_constraint_regexes_use_portable_syntax(name):
    g = grammar(name)
    for regex in (g.constraint(0), g.constraint(300), g.verdict_regex(), g.continuation()):
        re.compile(regex)
        assert "\\ " not in regex, regex
        for lookaround in ("(?=", "(?!", "(?<"):
            assert lookaround not in regex, regex
        # Only escapes of regex metacharacters and the classes \s \S \n: none of Python's escapes
        # of plain characters.
        escaped = set(re.findall(r"\\(.)", regex.replace("\\\\", "")))
        assert escaped <= _ENGINE_ESCAPES, (regex, escaped - _ENGINE_ESCAPES)
        # Non-capturing groups are allowed, and are the only "(?" the regexes use.
        assert regex.count("(?") == regex.count("(?:")


@pytest.mark.parametrize("name", ["abc", "five_level", "rating"])
def test_free_text_holds_no_bracket_so_it_opens_no_verdict(name):
    """Verdicts that open with "[[": the free text holds no "[", so the verdict at the end is the
    reply's only canonical one."""
    g = grammar(name)
    verdict = g.canonical()[0]
    rx = re.compile(g.constraint(200))
    for free in ("plain reasoning, (a) then {b}. ", "", "x] y "):
        assert rx.fullmatch(free + verdict), free
    for free in ("see [[A]] ", "[[", "ends with a bracket [", "a list [1, 2] "):
        assert not rx.fullmatch(free + verdict), free


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_bounded_free_text_is_one_character_class(name):
    """The bound applies to one character class, never to a group: xgrammar's matcher on a
    bounded repetition of a group was 20x slower and more on an H200 (grammar.constraint)."""
    regex = grammar(name).constraint(187)
    assert re.search(r"\)\{0,\d+\}", regex) is None, regex
    assert re.search(r"(?:\[\^[^\]]+\]|\[\\s\\S\])\{0,187\}", regex), regex
