"""What the fake vLLM engine and server reply to a judge request: like a random-weight model, no
verdict when unconstrained; under a structured-output regex, a reply that matches it in full (so
the regex the reviews stage sends must be one a reply can satisfy), ending with a verdict picked
from the prompt's hash. With log-probabilities, the verdict's value is one token whose
alternatives are every option of its format, with probabilities from the same hash.

Shared by tests/providers/fake_vllm.py (offline) and fake_vllm_server.py (server mode).
"""

from __future__ import annotations

import hashlib
import math
import re

from arena.judging.grammar import GRAMMARS, VerdictGrammar

FREE_TEXT = "Both answers address the question; one is more careful with the details. "


def _digest(messages: list[dict[str, str]]) -> int:
    blob = "\x00".join(m["content"] for m in messages)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")


def plain_reply(messages: list[dict[str, str]]) -> str:
    """A random-weight model's reply: no verdict of any format."""
    return f"gibberish tokens after {len(messages)} messages"


def judge_reply(messages: list[dict[str, str]], regex: str, *, continuing: bool = False,
                cut: bool = False) -> tuple[str, list[tuple[str, list[tuple[str, float]]]], str]:
    """(text, tokens with their alternatives, finish reason) of a constrained reply. `cut`: the
    reply ran out of tokens before its verdict (free text only, finish "length")."""
    pick = _digest(messages)
    if cut and not continuing:
        return FREE_TEXT, [(FREE_TEXT, [(FREE_TEXT, 0.0)])], "length"
    pattern = re.compile(regex)
    matches: list[tuple[VerdictGrammar, str, str, str]] = []  # grammar, head, verdict, tail
    for g in GRAMMARS.values():
        for verdict in g.canonical():
            if continuing:
                shapes = [("\n", "")]
            elif g.at == "start":
                shapes = [("", "\n" + FREE_TEXT[:n]) for n in (len(FREE_TEXT), 20, 0)]
            else:
                shapes = [(FREE_TEXT[:n], "") for n in (len(FREE_TEXT), 20, 0)]
            for head, tail in shapes:
                if pattern.fullmatch(head + verdict + tail):
                    matches.append((g, head, verdict, tail))
                    break
    if not matches:
        raise AssertionError(f"no verdict of any format satisfies the regex {regex!r}")
    g, head, verdict, tail = matches[pick % len(matches)]
    return head + verdict + tail, _tokens(g, head, verdict, tail, pick), "stop"


def _tokens(g: VerdictGrammar, head: str, verdict: str, tail: str, pick: int):
    form = g.forms[0]
    found = g.find(verdict)
    assert found is not None
    options, _ = found
    tokens = [(head, [(head, 0.0)])] if head else []
    if form.open_text:
        tokens.append((form.open_text, [(form.open_text, 0.0)]))
    for slot, option in enumerate(options):
        if slot:
            tokens.append((form.sep_text, [(form.sep_text, 0.0)]))
        weights = [1.0 + ((pick >> (3 * i + slot)) % 7) for i in range(len(g.options))]
        weights[[o.label for o in g.options].index(option.label)] += 7.0  # the written one leads
        total = sum(weights) / 0.9  # a tenth of the mass on a token that is no option
        top = [(o.text, math.log(w / total)) for o, w in zip(g.options, weights)] + [(" The", math.log(0.1))]
        tokens.append((option.text, top))
    if form.close_text:
        tokens.append((form.close_text, [(form.close_text, 0.0)]))
    if tail:
        tokens.append((tail, [(tail, 0.0)]))
    return tokens
