"""Prompts for rule-based benchmarks, few-shot examples included.

Multiple choice uses the layout of the original MMLU evaluation: a header naming the subject,
then each example as the question, one line per option (`A. ...`) and `Answer: X`, separated by
blank lines, and the test question last, ending in `Answer:`. All three styles share the prompt;
they differ only in what they compare after it (see arena.scoring.styles), which is the point:
the style alone moves the score.

Exact match uses `Question: ...` / `Answer: ...` pairs the same way.
"""

from __future__ import annotations

from arena.scoring.datasets import LETTERS, Item


def subject_words(subject: str) -> str:
    """'high_school_biology' -> 'high school biology'."""
    return " ".join(subject.replace("_", " ").split())


def format_choices(item: Item) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(item.choices))


def multiple_choice_prompt(item: Item, shots: list[Item]) -> str:
    """The MMLU prompt: header, the few-shot examples with their answers, then the question."""
    about = f" about {subject_words(item.subject)}" if item.subject else ""
    parts = [f"The following are multiple choice questions (with answers){about}.\n\n"]
    for shot in shots:
        parts.append(f"{shot.question}\n{format_choices(shot)}\nAnswer: {shot.gold_text}\n\n")
    parts.append(f"{item.question}\n{format_choices(item)}\nAnswer:")
    return "".join(parts)


def letter_continuations(item: Item) -> list[str]:
    """What letter_logprob scores after the prompt: ' A', ' B', ... (the space belongs to the
    answer, as a tokenizer splits it)."""
    return [f" {LETTERS[i]}" for i in range(len(item.choices))]


def text_continuations(item: Item) -> list[str]:
    """What text_logprob scores after the prompt: each option's full text."""
    return [f" {text}" for text in item.choices]


def exact_match_prompt(item: Item, shots: list[Item]) -> str:
    parts = []
    for shot in shots:
        parts.append(f"Question: {shot.question}\nAnswer: {shot.gold_text}\n\n")
    parts.append(f"Question: {item.question}\nAnswer:")
    return "".join(parts)
