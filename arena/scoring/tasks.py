"""From a benchmark item and a style to a provider request, and from the provider's answer to a
`ScoreRow`; and from rows to accuracies. No I/O: the scores stage does that."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from arena.config import ModelConfig
from arena.providers.base import (
    CONTINUATION,
    ChatRequest,
    ChatResponse,
    LogprobRequest,
    LogprobResponse,
)
from arena.scoring.datasets import LETTERS, Item, few_shot_pool
from arena.scoring.normalize import exact_match, extract_short_answer
from arena.scoring.plan import PreparedBenchmark
from arena.scoring.prompts import (
    exact_match_prompt,
    letter_continuations,
    multiple_choice_prompt,
    text_continuations,
)
from arena.scoring.rows import ScoreRow, SummaryRow
from arena.scoring.stats import wilson_interval
from arena.scoring.styles import (
    generated_letter_choice,
    letter_logprob_choice,
    letter_logprobs_from_top,
    text_logprob_choice,
)

LOGPROB_STYLES = ("letter_logprob", "text_logprob")
TOP_K = 20  # next tokens asked for where only the top ones are available


@dataclass
class Task:
    """One item to score in one style."""

    bench: PreparedBenchmark
    style: str
    item: Item

    @property
    def prompt(self) -> str:
        config = self.bench.config
        shots = few_shot_pool(self.bench.dev_items, self.item.subject, config.k_shot) if config.k_shot else []
        if config.kind == "exact_match":
            return exact_match_prompt(self.item, shots)
        return multiple_choice_prompt(self.item, shots)

    def meta(self, model: str) -> dict[str, Any]:
        """Who and what, for logs and the simulator (never sent to a real API)."""
        return {
            "kind": "score", "model": model, "benchmark": self.bench.config.name, "item_id": self.item.item_id,
            "style": self.style, "n_choices": len(self.item.choices), "gold": self.item.gold,
            "references": self.item.references,
        }


def logprob_request(task: Task, model: str, abilities: frozenset[str]) -> LogprobRequest:
    """letter_logprob: the letters as continuations, or the top next tokens where the provider
    gives only those; text_logprob: each option's text as a continuation."""
    prompt, meta = task.prompt, task.meta(model)
    if task.style == "text_logprob":
        return LogprobRequest(prompt, text_continuations(task.item), meta=meta)
    if CONTINUATION in abilities:
        return LogprobRequest(prompt, letter_continuations(task.item), meta=meta)
    return LogprobRequest(prompt, top_k=TOP_K, meta=meta)


def chat_request(task: Task, model: ModelConfig) -> ChatRequest:
    """generate_letter and exact_match: the prompt as the user's message, greedy."""
    messages = [{"role": "system", "content": model.system_prompt}] if model.system_prompt else []
    messages.append({"role": "user", "content": task.prompt})
    return ChatRequest(messages=messages, max_tokens=task.bench.config.max_tokens, temperature=0.0,
                       meta=task.meta(model.name))


def row_from_logprobs(task: Task, model: str, response: LogprobResponse) -> ScoreRow:
    item = task.item
    row = _row(task, model)
    if task.style == "letter_logprob":
        if response.logprobs:
            logprobs: list[float | None] = list(response.logprobs)
            row.logprob_source = "continuation"
        else:
            logprobs = letter_logprobs_from_top(response.top, len(item.choices))
            row.logprob_source = "next_token"
        _set_choice(row, item, letter_logprob_choice(logprobs))
        row.logprobs = logprobs
        return row
    row.logprob_source = "continuation"
    row.logprobs = list(response.logprobs)
    row.token_counts = list(response.token_counts)
    _set_choice(row, item, text_logprob_choice(response.logprobs))
    unit = task.bench.config.length_normalization
    if unit != "none":
        lengths = [len(text) for text in item.choices] if unit == "chars" else list(response.token_counts)
        choice = text_logprob_choice(response.logprobs, lengths)
        row.prediction_norm = LETTERS[choice] if choice is not None else None
        row.correct_norm = choice == item.gold
    return row


def row_from_text(task: Task, model: str, response: ChatResponse) -> ScoreRow:
    row = _row(task, model)
    row.output = response.text
    if task.style == "exact_match":
        answer = extract_short_answer(response.text)
        row.prediction = answer
        row.correct = exact_match(answer, task.item.references)
    else:
        _set_choice(row, task.item, generated_letter_choice(response.text, len(task.item.choices)))
    return row


def _row(task: Task, model: str) -> ScoreRow:
    return ScoreRow(
        model=model, benchmark=task.bench.config.name, style=task.style, item_id=task.item.item_id,
        subject=task.item.subject, gold=task.item.gold_text, prediction=None, correct=False,
        setting=task.bench.setting, tstamp=time.time(),
    )


def _set_choice(row: ScoreRow, item: Item, choice: int | None) -> None:
    row.prediction = LETTERS[choice] if choice is not None else None
    row.correct = choice is not None and choice == item.gold


def accuracy_rows(model: str, benchmark: str, style: str, rows: list[ScoreRow], length_unit: str = "none",
                  n_shot: int | None = None) -> list[SummaryRow]:
    """Accuracy (exact-match rate for exact match) with its Wilson interval, plus the
    length-normalised accuracy of text_logprob where configured; `n_shot` is recorded with them."""
    if not rows:
        return []
    metric = "exact_match" if style == "exact_match" else "accuracy"
    out = [_proportion(model, benchmark, style, metric, sum(r.correct for r in rows), len(rows))]
    if style == "text_logprob" and length_unit != "none":
        normed = [r for r in rows if r.correct_norm is not None]
        if normed:
            out.append(_proportion(model, benchmark, style, f"accuracy_norm_{length_unit}",
                                   sum(bool(r.correct_norm) for r in normed), len(normed)))
    for row in out:
        row.n_shot = n_shot
    return out


def _proportion(model: str, benchmark: str, style: str, metric: str, k: int, n: int) -> SummaryRow:
    low, high = wilson_interval(k, n)
    return SummaryRow(model=model, benchmark=benchmark, style=style, metric=metric, value=k / n, n=n,
                      ci_low=low, ci_high=high)
