"""The three multiple-choice scoring styles, as pure functions from model outputs to a choice.

The same benchmark gives different numbers under different styles (for LLaMA-65B on MMLU: 0.636
with the original code, 0.637 with HELM's, 0.488 with lm-evaluation-harness's old one):

- `letter_logprob` (the original MMLU code): after the prompt ending in `Answer:`, compare the
  log-probabilities of the letters ` A`, ` B`, ` C`, ` D`; the most likely letter is the answer.
  With an API that gives only the top next tokens, letters outside them count as impossible.
- `text_logprob` (lm-evaluation-harness's old MMLU): compare the log-probability of each
  option's full text after the prompt. Long options pay for every token, so optionally divide
  by the option's length (characters or tokens), as lm-evaluation-harness's `acc_norm` does.
- `generate_letter` (HELM): let the model write, and read the letter from what it wrote; an
  answer with no readable letter is wrong.

Every function here is pure: numbers or text in, a choice index (or None) out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from arena.scoring.datasets import LETTERS


def argmax(scores: Sequence[float | None]) -> int | None:
    """Index of the largest score, the first on a tie; None where no score is known."""
    best: int | None = None
    for i, score in enumerate(scores):
        if score is not None and not math.isnan(score) and (best is None or score > scores[best]):  # type: ignore[operator]
            best = i
    return best


def letter_logprob_choice(letter_logprobs: Sequence[float | None]) -> int | None:
    """letter_logprob: the option whose letter is most likely after the prompt."""
    return argmax(letter_logprobs)


def letter_logprobs_from_top(top: Mapping[str, float], n_choices: int) -> list[float | None]:
    """Per option letter, its log-probability among an API's top next tokens (None: not among
    them). Tokens that spell the same letter (`B`, ` B`, `(B`) are pooled: their probabilities add."""
    pooled: list[float | None] = [None] * n_choices
    for token, logprob in top.items():
        letter = token.strip().lstrip("(*[").rstrip(").:*]")
        if len(letter) != 1 or letter not in LETTERS[:n_choices]:
            continue
        i = LETTERS.index(letter)
        pooled[i] = logprob if pooled[i] is None else _logaddexp(pooled[i], logprob)  # type: ignore[arg-type]
    return pooled


def text_logprob_choice(logprobs: Sequence[float], lengths: Sequence[int] | None = None) -> int | None:
    """text_logprob: the option whose full text is most likely; with `lengths`, per unit of length
    (each option's log-probability divided by its length in characters or tokens)."""
    if lengths is None:
        return argmax(logprobs)
    return argmax([lp / max(1, n) for lp, n in zip(logprobs, lengths)])


# "the answer is (B)", "Answer: B", "answer is **C**"
_ANSWER_IS = re.compile(r"answer(?:\s+is)?\s*[:\-]?\s*[\(\[*]*\s*([A-Z])(?![A-Za-z])", re.IGNORECASE)
# a letter in parentheses or bold anywhere: "(C)", "**C**"
_MARKED = re.compile(r"(?:\(([A-Z])\)|\*\*([A-Z])\*\*)")


def generated_letter_choice(text: str, n_choices: int) -> int | None:
    """generate_letter: the option letter the model wrote, or None when it wrote none readably.

    In order: an explicit "answer is X" / "Answer: X"; a letter opening the text on its own
    ("B", "B.", "(B) ...", "**B**"), unless it is the article "A" or the pronoun "I" opening a
    sentence; a letter in parentheses or bold anywhere.
    """
    valid = LETTERS[:n_choices]
    for match in _ANSWER_IS.finditer(text):
        letter = match.group(1)
        if letter in valid:
            return valid.index(letter)
    opening = text.strip().lstrip("(*[ \t")
    if opening and opening[0] in valid and (len(opening) == 1 or not opening[1].isalnum()):
        rest = opening[1:]
        is_word = opening[0] in "AI" and rest.startswith(" ") and rest[1:2].islower()
        if not is_word:
            return valid.index(opening[0])
    for match in _MARKED.finditer(text):
        letter = match.group(1) or match.group(2)
        if letter in valid:
            return valid.index(letter)
    return None


def _logaddexp(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
