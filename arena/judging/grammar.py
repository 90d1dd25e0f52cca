"""Verdict grammars: each verdict format is declared once, here, and that declaration drives the
parser, the re-ask hint, the regex that constrains a vLLM judge's reply, and the reading of the
verdict's token probabilities.

A format is a list of forms in priority order. Each form writes a verdict as an opening, one
option per slot (two slots for "score_a score_b"), and a closing. The first form is the canonical
one: the template's prompt asks for it, a constrained judge can only end with it, and the
simulator writes it. Later forms are the slips real judges make (single brackets, "Rating: 7"
without brackets, "[[A<B]]"): the parser accepts them so API judges, which cannot be constrained,
keep their verdicts, but only where no form of a higher priority is in the reply. The parser
accepts exactly what the forms describe, no more: an option outside the declared set ("[[D]]",
"Rating: [[11]]") is no verdict.

A verdict sits at the end of the reply (the last one wins: a judge may reconsider, or quote the
instructions), or, for formats declared `at: start`, on the reply's first line (JudgeLM's scores
come first, then the explanation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Option:
    """One verdict value. `value`: pairwise, the score of the answer shown first (1 win, 0.5 tie,
    0 loss); single, the rating. `label` is what reviews store."""

    text: str
    label: str
    value: float
    strong: bool = False


@dataclass(frozen=True)
class Form:
    """One way of writing a verdict. `open`/`close` are regexes around the option (`sep` between
    slots); `open_text`/`close_text`/`sep_text` are the literal canonical spelling used to write and
    constrain. `options` maps each accepted spelling to its option (aliases such as "tie" -> C)."""

    open: str
    close: str
    options: dict[str, Option]
    open_text: str = ""
    close_text: str = ""
    sep: str = r"[ \t]+"
    sep_text: str = " "


@dataclass(frozen=True)
class VerdictGrammar:
    name: str
    kind: str  # "pairwise" or "single"
    forms: tuple[Form, ...]
    hint: str
    slots: int = 1
    at: str = "end"  # or "start": the verdict is the reply's first line
    #: The character a constrained reply's free text may not hold: the verdict's opening one, so
    #: the reply holds exactly one verdict.
    guard: str = "["

    @cached_property
    def options(self) -> tuple[Option, ...]:
        """The canonical form's options: the verdict's possible values, in declared order."""
        seen: dict[str, Option] = {}
        for text, option in self.forms[0].options.items():
            if text == option.text:
                seen.setdefault(option.label, option)
        return tuple(seen.values())

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], ...]:
        out = []
        for form in self.forms:
            # Longest spellings first, so "10" is not read as "1" followed by junk.
            choice = "|".join(re.escape(t) for t in sorted(form.options, key=len, reverse=True))
            slots = f"(?P<v0>{choice})" + "".join(f"(?:{form.sep})(?P<v{i}>{choice})" for i in range(1, self.slots))
            body = f"{form.open}{slots}{form.close}"
            if self.at == "start":
                body = rf"\A[ \t]*{body}[ \t]*(?:\n|\Z)"
            out.append(re.compile(body))
        return tuple(out)

    def find(self, text: str) -> tuple[tuple[Option, ...], tuple[int, ...]] | None:
        """The verdict in `text` (its option per slot, and where each slot's value starts), or
        None: the last match of the highest-priority form that matches anywhere."""
        for form, pattern in zip(self.forms, self._patterns):
            matches = list(pattern.finditer(text))
            if matches:
                last = matches[-1]
                names = [f"v{i}" for i in range(self.slots)]
                return tuple(form.options[last.group(n)] for n in names), tuple(last.start(n) for n in names)
        return None

    def write(self, options: tuple[Option, ...] | list[Option]) -> str:
        """The canonical spelling of a verdict (what the simulator writes)."""
        form = self.forms[0]
        return form.open_text + form.sep_text.join(o.text for o in options) + form.close_text

    def canonical(self) -> list[str]:
        """Every canonical verdict string (every combination of slot values)."""
        out = [""]
        for i in range(self.slots):
            out = [prefix + (self.forms[0].sep_text if i else "") + o.text for prefix in out for o in self.options]
        form = self.forms[0]
        return [form.open_text + s + form.close_text for s in out]

    def verdict_regex(self) -> str:
        """The canonical verdict alone, as a regex."""
        form = self.forms[0]
        choice = "(?:" + "|".join(_literal(o.text) for o in sorted(self.options, key=lambda o: len(o.text), reverse=True)) + ")"
        return _literal(form.open_text) + _literal(form.sep_text).join([choice] * self.slots) + _literal(form.close_text)

    def constraint(self, max_chars: int) -> str:
        r"""The regex a constrained reply must match in full: free text of at most `max_chars`
        characters, then the verdict (or the verdict line first, then free text).

        The free text may not hold the verdict's opening character, so it cannot open a verdict
        and the reply holds exactly one canonical verdict. The bound keeps the verdict inside
        max_tokens (a token is at least one character of plain text); a reply cut short anyway
        is completed by a verdict-only continuation.

        The bounded part is one character class on purpose. A bounded repetition of a group
        ("[" allowed when no "[" follows: `(?:[^\[]|\[[^\[]){0,187}`) compiles quickly in
        xgrammar 0.2.8, but on an H200 4 requests under it took 58.7 s against 2.6 s under the
        class, and 32 did not finish in 100 s against 1.7 s (docs/PERFORMANCE.md)."""
        n = max(0, int(max_chars))
        if self.at == "start":
            return self.verdict_regex() + r"\n[\s\S]{0," + str(n) + "}"
        free = f"[^{_literal(self.guard)}]" if self.guard else r"[\s\S]"
        return free + "{0," + str(n) + "}" + self.verdict_regex()

    def continuation(self) -> str:
        """The regex for completing a reply that ended without a verdict: the verdict alone,
        after an optional line break."""
        return r"\n?" + self.verdict_regex()

    @property
    def longest(self) -> int:
        return max(len(s) for s in self.canonical())


def _literal(text: str) -> str:
    """`text` as a regex that matches it literally, escaping only what must be: the regex goes to
    vLLM's grammar engines too, which need not know Python's escapes of plain characters."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


# Prometheus's slips: "[Result]", "[RESULT]: 4", "[RESULT] (4)".
_RESULT_LOOSE = r"(?i:\[RESULT\])[ \t]*:?[ \t]*\(?"


# -- declarations ------------------------------------------------------------------------------

def _abc() -> VerdictGrammar:
    a, b, c = Option("A", "A", 1.0), Option("B", "B", 0.0), Option("C", "tie", 0.5)
    canonical = {"A": a, "B": b, "C": c}
    loose = {**canonical, "tie": c, "Tie": c, "TIE": c}
    return VerdictGrammar(
        name="abc", kind="pairwise",
        forms=(
            Form(r"\[\[", r"\]\]", canonical, "[[", "]]"),
            Form(r"\[\[\s*", r"\s*\]\]", loose, "[[", "]]"),
            # FastChat's backup pattern: single brackets, only where no double-bracket verdict is.
            Form(r"(?<!\[)\[\s*", r"\s*\](?!\])", canonical, "[", "]"),
        ),
        hint='exactly one of "[[A]]", "[[B]]" or "[[C]]" (a tie)',
    )


def _five_level() -> VerdictGrammar:
    opts = {
        "A>>B": Option("A>>B", "A>>B", 1.0, strong=True), "A>B": Option("A>B", "A>B", 1.0),
        "A=B": Option("A=B", "A=B", 0.5), "B>A": Option("B>A", "B>A", 0.0),
        "B>>A": Option("B>>A", "B>>A", 0.0, strong=True),
    }
    # "A<B" is "B>A": the same verdict written from the other side.
    mirrored = {"B<<A": opts["A>>B"], "B<A": opts["A>B"], "B=A": opts["A=B"], "A<B": opts["B>A"], "A<<B": opts["B>>A"]}
    spaced = {}  # "A > B": spaces around the operator
    for text, option in {**opts, **mirrored}.items():
        left, op, right = text[0], text[1:-1], text[-1]
        for a, b in ((" ", " "), (" ", ""), ("", " ")):
            spaced[f"{left}{a}{op}{b}{right}"] = option
    return VerdictGrammar(
        name="five_level", kind="pairwise",
        forms=(
            Form(r"\[\[", r"\]\]", opts, "[[", "]]"),
            Form(r"\[\[\s*", r"\s*\]\]", {**opts, **mirrored, **spaced}, "[[", "]]"),
        ),
        hint='exactly one of "[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"',
    )


def _ratings(low: int, high: int, decimals: bool) -> dict[str, Option]:
    out = {str(n): Option(str(n), str(n), float(n)) for n in range(low, high + 1)}
    if decimals:  # MT-Bench's GPT-4 judge writes "[[8.5]]" now and then
        for n in range(low, high):
            for d in range(10):
                text = f"{n}.{d}"
                out[text] = Option(text, f"{float(text):g}", float(text))
        out[f"{high}.0"] = Option(f"{high}.0", str(high), float(high))
    return out


def _rating() -> VerdictGrammar:
    canonical = _ratings(1, 10, decimals=False)
    every = _ratings(1, 10, decimals=True)
    return VerdictGrammar(
        name="rating", kind="single",
        forms=(
            Form(r"Rating: \[\[", r"\]\]", canonical, "Rating: [[", "]]"),
            Form(r"\[\[\s*", r"\s*(?:/\s*10\s*)?\]\]", every, "[[", "]]"),
            # "Rating: 7", "rating = 7/10", "Rating: [7]": a number ends it ("8." is 8, "8.5" 8.5).
            Form(r"(?i:\brating\s*[:=]\s*\[?\s*)", r"(?:\s*/\s*10)?\s*\]?(?!\d|\.\d)", every, "Rating: ", ""),
        ),
        hint='a score from 1 to 10 in exactly this form: "Rating: [[N]]"',
    )


def _prometheus_absolute() -> VerdictGrammar:
    scores = _ratings(1, 5, decimals=False)
    return VerdictGrammar(
        name="result_1to5", kind="single",
        forms=(
            Form(r"\[RESULT\] ", r"(?!\d|\.\d)", scores, "[RESULT] ", ""),
            Form(_RESULT_LOOSE, r"\)?(?!\d|\.\d)", scores, "[RESULT] ", ""),
        ),
        hint='"[RESULT] N" with N an integer from 1 to 5, after your feedback',
    )


def _prometheus_relative() -> VerdictGrammar:
    opts = {"A": Option("A", "A", 1.0), "B": Option("B", "B", 0.0)}
    return VerdictGrammar(
        name="result_ab", kind="pairwise",
        forms=(
            Form(r"\[RESULT\] ", r"(?![A-Za-z])", opts, "[RESULT] ", ""),
            Form(_RESULT_LOOSE, r"\)?(?![A-Za-z])", opts, "[RESULT] ", ""),
        ),
        hint='"[RESULT] A" or "[RESULT] B", after your feedback',
    )


def _two_score() -> VerdictGrammar:
    scores = _ratings(1, 10, decimals=False)
    return VerdictGrammar(
        name="two_score", kind="pairwise",
        forms=(
            Form("", "", scores, "", "", sep="[ \t]+", sep_text=" "),
            Form(r"\**[ \t]*", r"[ \t]*\**", scores, "", "", sep=r"[ \t]*[,;/][ \t]*|[ \t]+", sep_text=" "),
        ),
        hint='the two scores from 1 to 10 on the first line, "score_a score_b" (for example "8 6"), then your explanation',
        slots=2, at="start",
    )


GRAMMARS: dict[str, VerdictGrammar] = {g.name: g for g in (
    _abc(), _five_level(), _rating(), _prometheus_absolute(), _prometheus_relative(), _two_score(),
)}


def grammar(name: str) -> VerdictGrammar:
    try:
        return GRAMMARS[name]
    except KeyError:
        raise ValueError(f"unknown verdict format {name!r}") from None

