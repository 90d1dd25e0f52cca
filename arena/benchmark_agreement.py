"""How good is the benchmark itself: a run's leaderboard (or each judge's, or each AlpacaEval
annotator's) against a reference leaderboard, in arena-hard's figures (see
arena.rating.rank_agreement for the definitions). This module picks the battles, rates them,
matches the models and lays the results out; `arena agreement --reference` calls it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from arena.battle_log import read_battle_log, read_each_annotator, read_run_battles, run_juries
from arena.boards import board_from_battles, read_leaderboard
from arena.errors import ArenaError, DataError
from arena.rating.rank_agreement import Board, RankAgreement, rank_agreement

# Per-judge rows for logs with many judges (Chatbot Arena's voters) would be noise, as in the
# leaderboard's per-judge tables.
MAX_JUDGE_ROWS = 20
POOLED = "all judges"
TABLE_COLUMNS = [
    "benchmark", "models", "pairs", "separability", "reference_separability", "agreement", "agree", "disagree",
    "undecided", "same_order", "spearman", "kendall", "brier",
]


@dataclass
class Benchmark:
    """One leaderboard to test: a label and its battles."""

    label: str
    battles: pd.DataFrame


@dataclass
class AgreementReport:
    reference: str
    measure: str  # what the reference's scores are
    rounds: int
    seed: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=TABLE_COLUMNS)


def benchmarks_of(source: Path, *, fmt: str = "auto", judges: list[str] | None = None, annotator: str | None = None) -> tuple[list[Benchmark], list[str]]:
    """The leaderboards a source holds: a run folder or battle log gives one per judge (where it
    has 2 to MAX_JUDGE_ROWS) and the judges pooled; an AlpacaEval source one per annotator (each
    its own benchmark, never pooled). `judges` keeps only those judges."""
    notes: list[str] = []
    run_log = read_run_battles(source)
    juries: list[str] = []
    if run_log is not None:
        logs = [run_log]
        juries = run_juries(source) or []
    elif annotator is not None:
        logs = [read_battle_log(source, fmt, annotator=annotator)]
    else:
        logs = read_each_annotator(source, fmt)
    split = len(logs) == 1
    found: list[Benchmark] = []
    for log in logs:
        notes += log.notes
        battles = log.battles
        if judges:
            battles = battles[battles["judge"].isin(judges)]
        names = sorted(map(str, battles["judge"].unique()))
        if not split:
            found += [Benchmark(name, battles) for name in names]
            continue
        if 1 < len(names) <= MAX_JUDGE_ROWS:
            found += [Benchmark(name, battles[battles["judge"] == name]) for name in names]
        if len(names) > MAX_JUDGE_ROWS:
            notes.append(f"{source}: {len(names)} judges; only their pooled leaderboard is compared")
        # A jury repeats its members' verdicts: the pool is of the judges themselves.
        pooled = battles[~battles["judge"].isin(juries)] if juries and len(names) > 2 else battles
        if len(pooled):
            found.append(Benchmark(names[0] if len(names) == 1 else POOLED, pooled))
    if not found:
        wanted = f" by {', '.join(judges)}" if judges else ""
        raise DataError(f"{source}: no battles{wanted}")
    return found, notes


def reference_board(
    path: Path, *, column: str | None, judges: list[str] | None, fmt: str, rounds: int, seed: int, workers: int,
) -> tuple[Board, list[str]]:
    """The reference: a leaderboard file as published, or a run folder or battle log rated here
    the same way as the benchmark (its judges pooled, or those of `judges`)."""
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv") and not _is_judgment_table(path):
        if judges:
            raise DataError(f"--reference-judge: {path} is a leaderboard file, with no judges to choose from")
        return read_leaderboard(path, column)
    if column is not None:
        raise DataError(f"--reference-column: {path} is a battle log, rated here; the column applies to leaderboard files only")
    found, notes = benchmarks_of(path, fmt=fmt, judges=judges)
    juries = run_juries(path) if path.is_dir() else None
    pooled = ([b for b in found if b.label in juries] if juries and not judges else []) or \
        [b for b in found if b.label == POOLED] or found
    if len(pooled) > 1:
        labels = ", ".join(b.label for b in pooled)
        raise DataError(f"{path}: holds several leaderboards ({labels}); choose one with --reference-judge")
    board, warnings = board_from_battles(pooled[0].battles, rounds=rounds, seed=seed, workers=workers)
    return board, notes + [f"reference: {w}" for w in warnings]


def _is_judgment_table(path: Path) -> bool:
    """An AlpacaEval preferences table (a battle log) rather than a leaderboard."""
    try:
        header = pd.read_csv(path, nrows=0, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        return False
    return {"generator_1", "generator_2", "preference"} <= set(header.columns)


def compare_to_reference(
    benchmarks: list[Benchmark], reference: Board, reference_name: str, *, rounds: int, seed: int, workers: int = 0,
    aliases: dict[str, str] | None = None,
) -> AgreementReport:
    """Rate each benchmark (Bradley-Terry, paired bootstrap over questions) and set it against
    the reference on the models both have; `aliases` maps a benchmark's model names to the
    reference's where the two name a model differently."""
    report = AgreementReport(reference_name, reference.measure, rounds, seed)
    known = set(reference.models)
    aliases = aliases or {}
    for bench in benchmarks:
        try:
            board, warnings = board_from_battles(bench.battles, rounds=rounds, seed=seed, workers=workers)
        except ArenaError as exc:
            report.notes.append(f"{bench.label}: not rated ({exc})")
            continue
        report.notes += [f"{bench.label}: {w}" for w in warnings]
        board.models = [aliases.get(m, m) for m in board.models]
        if len(set(board.models)) < len(board.models):
            raise DataError(f"--alias: two of {bench.label}'s models would share one name in the reference; alias each to its own")
        shared = [m for m in board.models if m in known]
        missing = [m for m in board.models if m not in known]
        if missing:
            report.notes.append(
                f"{bench.label}: {len(missing)} of {len(board.models)} models not in the reference, left out: {_names(missing)}"
            )
        if len(shared) < 2:
            report.notes.append(f"{bench.label}: fewer than two models in common with the reference; nothing to compare")
            continue
        result = rank_agreement(board, reference)
        report.rows.append(row_of(bench.label, result))
    if not report.rows:
        shown = _names(reference.models)
        raise DataError(
            f"{reference_name}: no benchmark shares two models with the reference (its models: {shown}); "
            "check that both name the models alike"
        )
    return report


def row_of(label: str, r: RankAgreement) -> dict[str, Any]:
    a = r.agreement
    return {
        "benchmark": label, "models": r.models, "pairs": r.pairs, "separability": r.separability,
        "reference_separability": r.reference_separability,
        "agreement": a.value if a else math.nan, "agree": a.agree if a else None,
        "disagree": a.disagree if a else None, "undecided": a.undecided if a else None,
        "same_order": a.same_order if a else math.nan, "spearman": r.spearman, "kendall": r.kendall, "brier": r.brier,
    }


def _names(models: list[str], limit: int = 12) -> str:
    shown = ", ".join(models[:limit])
    return shown + (f" and {len(models) - limit} more" if len(models) > limit else "")


def format_report(report: AgreementReport, *, markdown: bool = False) -> str:
    """The table as aligned text or markdown (shares as percentages), then what it means."""
    shown = [
        [str(row["benchmark"]), str(row["models"]), *(_percent(row[k]) for k in ("separability", "reference_separability", "agreement")),
         _counts(row), _percent(row["same_order"]), _number(row["spearman"]), _number(row["kendall"]), _number(row["brier"], 4)]
        for row in report.rows
    ]
    header = ["benchmark", "models", "separability", "ref. separability", "agreement (AgC)", "agree/disagree/undecided",
              "same order", "Spearman", "Kendall", "Brier"]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
        lines += ["| " + " | ".join(cells) + " |" for cells in shown]
    else:
        widths = [max(len(h), *(len(c[k]) for c in shown)) for k, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in shown]
    lines.append("")
    lines.append(
        f"Reference: {report.reference} ({report.measure}). Ours: Bradley-Terry ratings (anchored at the baseline "
        "where one model is in every battle), 95% intervals from "
        f"{report.rounds} paired bootstrap rounds over questions (seed {report.seed})."
    )
    lines.append(
        "separability: pairs whose intervals do not overlap; agreement (AgC): over the pairs the reference "
        "separates, +1 same order, -1 opposite, 0 not separated by ours; same order: of the pairs both separate; "
        "Brier: P(a ranks above b) from our bootstrap against the reference's order (lower is better)."
    )
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _number(value: float, places: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{places}f}"


def _counts(row: dict[str, Any]) -> str:
    return "-" if row["agree"] is None else f"{row['agree']}/{row['disagree']}/{row['undecided']}"

