"""How well the arena's ratings agree with each rule-based benchmark: Spearman's rank
correlation over the models in both, with a bootstrap interval over models in which each model's
rating and score are also drawn from their own 95% intervals (read as normal standard errors), so
the interval reflects both which models were compared and how precisely each was measured.

Putting ratings beside benchmark scores is only useful if the reader sees how far the two rank
the models alike; this is that figure, one row per benchmark column of the leaderboard (same
names, arena.scoring.rows.column_label). The maths is arena.rating.correlation.
"""

from __future__ import annotations

import math

import pandas as pd

from arena.rating.correlation import spearman_interval
from arena.scoring.rows import SummaryRow, column_label, how_scored

CORRELATION_COLUMNS = ["benchmark", "spearman", "ci_low", "ci_high", "n_models"]
BOOTSTRAP_ROUNDS = 2000


Z95 = 1.959964


def summary_frame(rows: list[SummaryRow]) -> pd.DataFrame:
    """summary.csv rows as the table the dashboard reads."""
    return pd.DataFrame([vars(r) for r in rows],
                        columns=["model", "benchmark", "style", "metric", "value", "ci_low", "ci_high", "n_shot", "setting"])


def _se(frame: pd.DataFrame) -> pd.Series:
    """Standard errors from 95% intervals (NaN where there is none)."""
    if "ci_low" not in frame or "ci_high" not in frame:
        return pd.Series(float("nan"), index=frame.index)
    return (pd.to_numeric(frame["ci_high"], errors="coerce") - pd.to_numeric(frame["ci_low"], errors="coerce")) / (2 * Z95)


def rating_correlations(leaderboard: pd.DataFrame, scores: pd.DataFrame, *, rounds: int = BOOTSTRAP_ROUNDS,
                        seed: int = 0) -> pd.DataFrame:
    """One row per benchmark column (benchmark, style, metric, way of scoring) with Spearman's
    rho between the rating (leaderboard: model, rating, ci_low, ci_high) and the score over the
    rated models that have one, its 95% interval, and how many models that is. Fewer than three
    models: no rho."""
    rows = []
    if scores is None or len(scores) == 0 or leaderboard is None or len(leaderboard) == 0:
        return pd.DataFrame(columns=CORRELATION_COLUMNS)
    rated = leaderboard.assign(se=_se(leaderboard)).set_index(leaderboard["model"].astype(str))
    frame = scores[scores["model"].astype(str).isin(rated.index)].copy()
    frame["se"] = _se(frame)
    frame["column"] = [column_label(*key) for key in _figure_keys(frame)]
    for column, group in frame.groupby("column", sort=True):
        last = group.groupby(group["model"].astype(str)).last()
        models = sorted(last.index)
        if len(models) < 3:
            rows.append((column, math.nan, math.nan, math.nan, len(models)))
            continue
        result = spearman_interval(
            rated.loc[models, "rating"].to_numpy(dtype=float), last.loc[models, "value"].to_numpy(dtype=float),
            x_se=rated.loc[models, "se"].to_numpy(dtype=float), y_se=last.loc[models, "se"].to_numpy(dtype=float),
            rounds=rounds, seed=seed,
        )
        rows.append((column, result.rho, result.ci_low, result.ci_high, result.n))
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def correlation_text(table: pd.DataFrame) -> str:
    """The table as terminal lines."""
    if len(table) == 0:
        return ""
    width = max(len(c) for c in table["benchmark"])
    lines = ["rank correlation of the arena rating with each benchmark (Spearman; 95% interval: models resampled, "
             "each figure drawn from its own interval)"]
    for row in table.itertuples(index=False):
        if math.isnan(row.spearman):
            lines.append(f"  {row.benchmark:<{width}}  -  ({row.n_models} models: too few)")
        else:
            ci = "" if math.isnan(row.ci_low) else f" [{row.ci_low:+.2f}, {row.ci_high:+.2f}]"
            lines.append(f"  {row.benchmark:<{width}}  {row.spearman:+.2f}{ci}  ({row.n_models} models)")
    return "\n".join(lines)


def scores_beside_ratings(leaderboard: pd.DataFrame, scores: pd.DataFrame) -> str:
    """The leaderboard's order with each benchmark's score beside it (a column per benchmark,
    style and way of scoring, two header lines), then the rank correlations."""
    rated = leaderboard[["rank", "model", "rating"]]
    frame = scores[scores["model"].astype(str).isin(set(rated["model"].astype(str)))]
    if len(frame) == 0:
        return ""
    figure_keys = _figure_keys(frame)
    keys = sorted(set(figure_keys))
    values = {(str(model), key): float(value) for model, key, value in zip(frame["model"], figure_keys, frame["value"])}
    header1 = ["", "", ""] + [k[0] for k in keys]
    header2 = ["rank", "model", "rating"] + [column_label("", k[1], k[2], k[3], k[4]).strip() for k in keys]
    body = []
    for row in rated.itertuples(index=False):
        cells = [str(row.rank), str(row.model), f"{row.rating:.1f}"]
        cells += ["-" if (row.model, k) not in values else f"{values[(row.model, k)]:.3f}" for k in keys]
        body.append(cells)
    table = [header1, header2, *body]
    widths = [max(len(r[i]) for r in table) for i in range(len(header2))]
    lines = ["rule-based scores beside the ratings (intervals and counts: scores/summary.csv)"]
    for r in table:
        lines.append("  ".join(c.ljust(widths[i]) if i == 1 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip())
    correlations = rating_correlations(leaderboard, frame)
    return "\n".join(lines) + "\n" + correlation_text(correlations)


def _figure_keys(frame: pd.DataFrame) -> list[tuple[str, str, str, int | None, str]]:
    """Each row's (benchmark, style, metric, n_shot, setting): what a leaderboard column is."""
    shots = frame["n_shot"] if "n_shot" in frame else [None] * len(frame)
    settings = frame["setting"] if "setting" in frame else [""] * len(frame)
    return [(str(b), str(s), str(m), *how_scored(n, t))
            for b, s, m, n, t in zip(frame["benchmark"], frame["style"], frame["metric"], shots, settings)]
