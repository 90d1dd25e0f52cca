"""Leaderboards as `Board`s (arena.rating.rank_agreement): read from a published leaderboard
file, or rated here from battles with the paired bootstrap over questions.

Leaderboard files are read in the shapes their tools publish them:

- ours (`ratings/leaderboard.csv`): model, rating, ci_low, ci_high;
- arena-hard-auto's: model, score, rating_q025, rating_q975 (its interval of the score);
- FastChat's and Chatbot Arena's Elo tables: a model (or key) column, rating with rating_q025 and
  rating_q975, or "Arena Score"/"Arena Elo rating" with a "95% CI" of the form "+5/-4";
- AlpacaEval's: the model as an unnamed first column, win_rate with standard_error, and
  length_controlled_winrate with lc_standard_error (an interval of 1.96 standard errors);
- any other table with a model column, a score column and `<score>_low`/`<score>_high` or
  `<score>_se` columns (or no interval at all: then agreement with confidence is not defined).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from arena.errors import DataError
from arena.rating.bootstrap import percentile_interval
from arena.rating.bt import INITIAL, components
from arena.rating.rank_agreement import Board
from arena.significance import paired_log, paired_samples

Z95 = 1.959963984540054
MODEL_COLUMNS = ("model", "Model", "model_name", "name", "key")
SCORE_COLUMNS = ("rating", "score", "Arena Score", "Arena Elo rating", "win_rate", "length_controlled_winrate", "elo")
# Published standard-error columns that do not follow `<score>_se`.
_SE_COLUMNS = {"win_rate": "standard_error", "length_controlled_winrate": "lc_standard_error"}
_PLUS_MINUS = re.compile(r"^\s*\+\s*([0-9.]+)\s*/\s*-\s*([0-9.]+)\s*$")


def board_from_battles(battles: pd.DataFrame, *, rounds: int, seed: int, workers: int = 0) -> tuple[Board, list[str]]:
    """Bradley-Terry ratings (Elo scale) of a battle table with 95% intervals and replicates
    from the paired bootstrap over questions (arena compare's; the battle bootstrap where each
    question is one battle), and notes: the fit's warnings, and what was left out.

    Where one model plays in every battle (AlpacaEval's and arena-hard's baseline design), the
    ratings are anchored at it (1000), as those tools score models by their win rate against
    it: each interval is then that of the model's standing against the baseline, the figure
    whose intervals their separability counts. Centred ratings would drop the shift that all
    models share when the questions are redrawn, and look more separable than the same data
    scored their way. A log whose models fall into groups that never met is rated on its
    largest group."""
    battles, notes = _largest_group(battles)
    log = paired_log(battles)
    samples, _ = paired_samples(log, rounds, seed, workers)
    rating, measure = log.rating, "Bradley-Terry rating"
    base = _baseline(log.a, log.b, len(log.models))
    if base is not None:
        shift = samples[:, [base]] - INITIAL
        samples = samples - shift
        rating = rating - (rating[base] - INITIAL)
        measure += f", anchored at the baseline {log.models[base]} = {INITIAL:g}"
    low, high = percentile_interval(samples)
    return Board(list(log.models), rating, low, high, samples, measure), notes + list(log.warnings)


def _baseline(a: np.ndarray, b: np.ndarray, m: int) -> int | None:
    """The model in every battle, where there are three models or more."""
    if m < 3:
        return None
    played = np.bincount(a, minlength=m) + np.bincount(b, minlength=m)
    every = np.flatnonzero(played == len(a))
    return int(every[0]) if len(every) == 1 else None


def _largest_group(battles: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The battles of the largest group of models linked by battles, and a note naming the rest."""
    models = pd.Index(sorted(set(battles["model_a"]) | set(battles["model_b"])))
    a, b = models.get_indexer(battles["model_a"]), models.get_indexer(battles["model_b"])
    games = np.zeros((len(models), len(models)))
    np.add.at(games, (a, b), 1.0)
    groups = components(games + games.T)
    if len(groups) <= 1:
        return battles, []
    largest = max(groups, key=len)
    others = sorted(models[i] for g in groups if g is not largest for i in g)
    kept = np.isin(a, largest)
    shown = ", ".join(others[:8]) + (f" and {len(others) - 8} more" if len(others) > 8 else "")
    note = (
        f"the models fall into {len(groups)} groups that never met; the largest ({len(largest)} models) is "
        f"compared, {len(others)} left out: {shown}"
    )
    return battles[kept], [note]


def read_leaderboard(path: Path, column: str | None = None) -> tuple[Board, list[str]]:
    """A published leaderboard file (CSV, or TSV by its suffix) as a Board, and notes on what
    was read; `column` picks the score where the file has several."""
    try:
        table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable leaderboard CSV ({exc})") from None
    model_col = _model_column(table, path)
    score_col = _score_column(table, path, column)
    lines = pd.Series(range(2, len(table) + 2), index=table.index)  # the header is line 1
    score = _numbers(table, score_col, path, lines)
    low, high = _interval(table, score_col, score, path, lines)
    names = table[model_col]
    notes = []
    empty = score.isna() | names.isna() | (names.astype(str).str.strip() == "")
    if empty.any():
        notes.append(f"{path}: {int(empty.sum())} row(s) without a model name or a {score_col} left out")
    keep = ~empty
    names = names[keep].astype(str).str.strip()
    repeated = names.duplicated()
    if repeated.any():
        first = names[repeated].iloc[0]
        raise DataError(f"{path}: line {lines[repeated[repeated].index[0]]}: {model_col}: model {first!r} appears twice")
    if len(names) < 2:
        raise DataError(f"{path}: {score_col}: fewer than two models with a score; nothing to rank")
    board = Board(
        names.tolist(), score[keep].to_numpy(np.float64), low[keep].to_numpy(np.float64), high[keep].to_numpy(np.float64),
        None, score_col,
    )
    if not board.has_intervals:
        notes.append(f"{path}: no 95% interval for {score_col}; agreement with confidence needs one and is not computed")
    else:
        unknown = ~(np.isfinite(board.low) & np.isfinite(board.high))
        if unknown.any():
            notes.append(
                f"{path}: {int(unknown.sum())} model(s) have no interval for {score_col}; "
                "their pairs count as not separated in the reference"
            )
    return board, notes


def _model_column(table: pd.DataFrame, path: Path) -> str:
    for name in MODEL_COLUMNS:
        if name in table.columns:
            return name
    first = str(table.columns[0]) if len(table.columns) else ""
    if first.startswith("Unnamed: 0") or first == "":
        return table.columns[0]  # AlpacaEval writes the model as the index
    raise DataError(f"{path}: no model column ({', '.join(MODEL_COLUMNS)}, or an unnamed first column as AlpacaEval writes)")


def _score_column(table: pd.DataFrame, path: Path, column: str | None) -> str:
    if column is not None:
        if column not in table.columns:
            raise DataError(f"{path}: --reference-column: no column {column!r}; the file has {', '.join(map(str, table.columns))}")
        return column
    for name in SCORE_COLUMNS:
        if name in table.columns:
            return name
    raise DataError(
        f"{path}: no score column ({', '.join(SCORE_COLUMNS)}); name the column to rank by with --reference-column"
    )


def _numbers(table: pd.DataFrame, column: str, path: Path, lines: pd.Series) -> pd.Series:
    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        at = bad[bad].index[0]
        raise DataError(f"{path}: line {lines[at]}: {column}: {raw[at]!r} is not a number")
    infinite = ~np.isfinite(values.fillna(0.0))
    if infinite.any():
        at = infinite[infinite].index[0]
        raise DataError(f"{path}: line {lines[at]}: {column}: {raw[at]!r} is not a finite number")
    return values.astype(np.float64)


def _interval(table: pd.DataFrame, column: str, score: pd.Series, path: Path, lines: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The score's 95% interval from whichever of the published shapes the file has (NaN where none)."""
    bounds = []
    if column == "rating":
        bounds.append(("ci_low", "ci_high"))
    if column in ("rating", "score"):
        bounds.append(("rating_q025", "rating_q975"))
    bounds.append((f"{column}_low", f"{column}_high"))
    for low_col, high_col in bounds:
        if low_col in table.columns and high_col in table.columns:
            low, high = _numbers(table, low_col, path, lines), _numbers(table, high_col, path, lines)
            reversed_ = (low > high + 1e-9) | (score < low - 1e-6) | (score > high + 1e-6)
            if reversed_.any():
                at = reversed_[reversed_].index[0]
                raise DataError(
                    f"{path}: line {lines[at]}: {low_col}, {high_col}: [{low[at]:g}, {high[at]:g}] "
                    f"is not an interval around {column} {score[at]:g}"
                )
            return low, high
    for se_col in (_SE_COLUMNS.get(column), f"{column}_se"):
        if se_col and se_col in table.columns:
            se = _numbers(table, se_col, path, lines)
            if (se < 0).any():
                at = (se < 0)[se < 0].index[0]
                raise DataError(f"{path}: line {lines[at]}: {se_col}: a standard error cannot be negative")
            return score - Z95 * se, score + Z95 * se
    if "95% CI" in table.columns:
        return _plus_minus(table["95% CI"], score, path, lines)
    nan = pd.Series(np.nan, index=table.index)
    return nan, nan.copy()


def _plus_minus(text: pd.Series, score: pd.Series, path: Path, lines: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Chatbot Arena's "+5/-4" interval column."""
    up = pd.Series(np.nan, index=text.index)
    down = up.copy()
    for at, value in text.items():
        if pd.isna(value):
            continue
        match = _PLUS_MINUS.match(str(value))
        if match is None:
            raise DataError(f"{path}: line {lines[at]}: 95% CI: {value!r} is not of the form +U/-D")
        up[at], down[at] = float(match.group(1)), float(match.group(2))
    return score - down, score + up
