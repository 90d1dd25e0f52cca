"""The records of the scores folder: one `ScoreRow` per item and style in scores/<model>.jsonl,
and `SummaryRow`s in scores/summary.csv
(`model,benchmark,style,metric,value,n,ci_low,ci_high,n_shot,setting`).

How a figure was scored is part of it: the same task 0-shot and 5-shot, or with and without a
chat template, are different figures (the "MMLU 1001 ways" trap). So every row carries its shot
count (`n_shot`, empty where unknown) and the rest of its scoring setting (`setting`: `key=value`
pairs joined by "; ", e.g. `filter=strict-match; chat_template=yes`), and rows that differ there
are kept side by side, never merged.

summary.csv is shared by the scores stage and the imports (lm-evaluation-harness, EvalScope).
An import replaces only rows with its exact key (model, benchmark, style, metric, n_shot,
setting); the scores stage replaces its own earlier rows of a model, benchmark, style and metric
whatever their setting (its config says how they are scored now). The file is always replaced
whole, atomically; files written before the two provenance columns existed read as unknown.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from arena.errors import DataError
from arena.store import write_atomic

SUMMARY_COLUMNS = ("model", "benchmark", "style", "metric", "value", "n", "ci_low", "ci_high", "n_shot", "setting")
#: Columns every summary.csv has had; the provenance columns came later.
_REQUIRED_COLUMNS = SUMMARY_COLUMNS[:8]


@dataclass
class ScoreRow:
    """One item scored in one style by one model.

    `logprobs`: per option, the log-probability used (letter or full text; None for a letter
    outside an API's top tokens); `token_counts`: per option, its length in tokens (text_logprob).
    `prediction_norm`/`correct_norm`: text_logprob with length normalisation, where configured.
    `output`: the generated text (generate_letter, exact_match). `setting` fingerprints the
    benchmark settings the row was made under (prompt, few-shot, source), so changing them
    re-scores instead of mixing old rows in.
    """

    model: str
    benchmark: str
    style: str
    item_id: str
    subject: str
    gold: str
    prediction: str | None
    correct: bool
    setting: str
    logprobs: list[float | None] | None = None
    token_counts: list[int] | None = None
    prediction_norm: str | None = None
    correct_norm: bool | None = None
    output: str | None = None
    logprob_source: str | None = None
    tstamp: float = 0.0

    @property
    def key(self) -> str:
        return score_key(self.benchmark, self.style, self.item_id, self.setting)


def score_key(benchmark: str, style: str, item_id: str, setting: str) -> str:
    return f"{benchmark}|{style}|{item_id}|{setting}"


@dataclass
class SummaryRow:
    model: str
    benchmark: str
    style: str
    metric: str
    value: float
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_shot: int | None = None
    setting: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.model, self.benchmark, self.style, self.metric, "" if self.n_shot is None else str(self.n_shot), self.setting)

    @property
    def figure(self) -> tuple[str, str, str, str]:
        """What is measured, whatever the setting: model, benchmark, style and metric."""
        return (self.model, self.benchmark, self.style, self.metric)


def setting_text(pairs: dict[str, object]) -> str:
    """A setting as `key=value; ...` (pairs with a None value left out, booleans as yes/no)."""
    parts = []
    for key, value in pairs.items():
        if value is None:
            continue
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        parts.append(f"{key}={shown}")
    return "; ".join(parts)


def how_scored(n_shot: object, setting: object) -> tuple[int | None, str]:
    """(n_shot, setting) as read back from a table, where an unknown shot count or setting may
    be None, NaN or empty."""
    shots = None if n_shot is None or n_shot == "" or n_shot != n_shot else int(n_shot)  # NaN != NaN
    text = "" if setting is None or (not isinstance(setting, str) and setting != setting) else str(setting)
    return shots, text


def column_label(benchmark: str, style: str, metric: str, n_shot: int | None = None, setting: str = "") -> str:
    """A figure's name in tables: benchmark and style (and the metric where the style does not
    say it), then how it was scored: 'mmlu lm-eval:acc (5-shot, chat_template=no)'."""
    plain = metric in ("accuracy", "exact_match") or metric in style
    name = f"{benchmark} {style}" if plain else f"{benchmark} {style} {metric}"
    how = scoring_label(n_shot, setting)
    return f"{name} ({how})" if how else name


def scoring_label(n_shot: int | None, setting: str) -> str:
    """How a figure was scored, for column headers: '5-shot, chat_template=yes' ('' if unknown)."""
    parts = [f"{n_shot}-shot"] if n_shot is not None else []
    if setting:
        parts.append(setting.replace("; ", ", "))
    return ", ".join(parts)


def read_summary(path: Path) -> list[SummaryRow]:
    """The rows of a summary.csv (none where the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {', '.join(missing)}; expected {','.join(SUMMARY_COLUMNS)}")
        rows = []
        for number, record in enumerate(reader, start=2):
            try:
                rows.append(SummaryRow(
                    model=record["model"], benchmark=record["benchmark"], style=record["style"],
                    metric=record["metric"], value=float(record["value"]), n=_opt_int(record["n"]),
                    ci_low=_opt_float(record["ci_low"]), ci_high=_opt_float(record["ci_high"]),
                    n_shot=_opt_int(record.get("n_shot")), setting=record.get("setting") or "",
                ))
            except ValueError:
                raise DataError(f"{path}:{number}: expected numbers in value, n, ci_low, ci_high, n_shot") from None
    return rows


def write_summary(path: Path, rows: list[SummaryRow]) -> None:
    """Replace summary.csv with `rows`, sorted by model, benchmark, style and metric."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for row in sorted(rows, key=lambda r: r.key):
        writer.writerow([
            row.model, row.benchmark, row.style, row.metric, _num(row.value),
            "" if row.n is None else row.n, _num(row.ci_low), _num(row.ci_high),
            "" if row.n_shot is None else row.n_shot, row.setting,
        ])
    write_atomic(Path(path), buffer.getvalue())


def merge_summary(path: Path, new_rows: list[SummaryRow], *, any_setting: bool = False) -> list[SummaryRow]:
    """Write `new_rows` into summary.csv and keep every other row (other models, imported
    scores, other settings). A row is replaced by a new one with the same key (model,
    benchmark, style, metric, n_shot, setting); with `any_setting`, by one with the same model,
    benchmark, style and metric whatever its setting. Returns all rows."""
    if any_setting:
        figures = {row.figure for row in new_rows}
        kept = [row for row in read_summary(path) if row.figure not in figures]
    else:
        replaced = {row.key for row in new_rows}
        kept = [row for row in read_summary(path) if row.key not in replaced]
    rows = kept + list(new_rows)
    write_summary(path, rows)
    return rows


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(value, ".6g")


def _opt_float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def _opt_int(text: str | None) -> int | None:
    return int(float(text)) if text not in (None, "") else None
