"""The leaderboard view: ratings with interval error bars, rank spread, record, cost, and the
rule-based benchmark scores of each model in the same sortable table, downloadable as CSV."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from arena.dashboard import files, loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain
from arena.dashboard.slices import Board, Switches, board
from arena.scoring.versus_ratings import rating_correlations

TABLE_COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "ranks", "p_vs_next", "n_battles", "win_rate", "win_rate_vs_baseline", "cost_usd"]


def answer_costs(source: Source) -> dict[str, float]:
    """USD each candidate's answers cost (prompt and output tokens at the registry's price of the
    model id in the run's config); models without a known price are left out."""
    from arena.pricing import cost_usd, price_for

    serving = loaders.run_summary(source).get("answers") or {}
    model_ids = loaders.model_ids(source)
    costs = {}
    for model, figures in serving.items():
        if not isinstance(figures, dict):
            continue
        price = price_for(model_ids.get(model, model))
        if price is not None:
            costs[model] = cost_usd(price, int(figures.get("prompt_tokens") or 0), int(figures.get("output_tokens") or 0))
    return costs


def table(source: Source, frame: pd.DataFrame) -> pd.DataFrame:
    """The board's rows with the rank spread as text, cost and benchmark columns."""
    out = frame.copy()
    out["ranks"] = [
        f"{int(b)}" if b == w else f"{int(b)}-{int(w)}"
        for b, w in zip(out.get("rank_best", out["rank"]), out.get("rank_worst", out["rank"]))
    ]
    costs = answer_costs(source)
    if costs:  # no column of blanks where no candidate has a price (simulated or unknown models)
        out["cost_usd"] = [costs.get(m, math.nan) for m in out["model"]]
    columns = [c for c in TABLE_COLUMNS if c in out.columns]
    out = out[columns]
    scores = loaders.benchmark_scores(source)
    if scores is not None:
        wide = files.score_columns(scores)
        out = out.merge(wide, on="model", how="left")
    return out


def error_bar_chart(frame: pd.DataFrame) -> alt.Chart:
    """Rating as a point with its 95% interval as a bar, models ordered by rating."""
    data = frame[["model", "rating", "ci_low", "ci_high"]].copy()
    order = data.sort_values("rating", ascending=False)["model"].tolist()
    base = alt.Chart(data).encode(y=alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False)))
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", scale=alt.Scale(zero=False), title="rating (95% interval)"), x2="ci_high:Q"
    )
    points = base.mark_point(filled=True, size=60).encode(
        x="rating:Q",
        tooltip=["model", alt.Tooltip("rating:Q", format=".1f"), alt.Tooltip("ci_low:Q", format=".1f"), alt.Tooltip("ci_high:Q", format=".1f")],
    )
    return (bars + points).properties(height=chart_height(len(data)))


def chart_height(n_models: int) -> int:
    return max(120, 26 * n_models)


# Narrow columns for short figures, so the benchmark columns beside them fit on the page.
COLUMN_CONFIG: dict[str, Any] = {
    "rank": st.column_config.NumberColumn("rank", format="%d", width=48),
    "rating": st.column_config.NumberColumn("rating", format="%.1f", width=64),
    "ci_low": st.column_config.NumberColumn("95% low", format="%.1f", width=64),
    "ci_high": st.column_config.NumberColumn("95% high", format="%.1f", width=68),
    "ranks": st.column_config.TextColumn("ranks", help="rank spread: the ranks the 95% intervals allow", width=52),
    "p_vs_next": st.column_config.NumberColumn(
        "p vs next", format="%.3f", width=70,
        help="paired bootstrap p-value of the gap to the next model down (arena compare's test); below 0.05 the two are separated",
    ),
    "n_battles": st.column_config.NumberColumn("battles", format="%d", width=60),
    "win_rate": st.column_config.NumberColumn("win rate", format="percent", width=70),
    "win_rate_vs_baseline": st.column_config.NumberColumn(
        "vs baseline", format="percent", help="score against the model in every battle; the baseline's own is 50% by definition"
    ),
    "cost_usd": st.column_config.NumberColumn("answer cost $", format="%.4f", help="candidate's answer tokens at its registry price; empty where unknown"),
}


CORRELATION_CONFIG: dict[str, Any] = {
    "benchmark": st.column_config.TextColumn("benchmark"),
    "spearman": st.column_config.NumberColumn("Spearman", format="%.2f"),
    "ci_low": st.column_config.NumberColumn("95% low", format="%.2f"),
    "ci_high": st.column_config.NumberColumn("95% high", format="%.2f"),
    "n_models": st.column_config.NumberColumn("models", format="%d"),
}


def render(source: Source, sw: Switches) -> None:
    result: Board = board(source, sw)
    summary = loaders.ratings_summary(source)
    frame = result.frame
    name = "online Elo" if sw.method == "elo" else "Bradley-Terry"
    kind = "style-controlled " if sw.style else ""
    st.subheader(plain(f"Leaderboard: {kind}{name}"))
    st.caption(
        plain(
            f"{len(frame)} models; source: {result.origin}; "
            f"{summary.get('n_battles', '?')} battles in the run, {summary.get('bootstrap', '?')} bootstrap rounds. "
            "Click a column header to sort."
        )
    )
    for note in result.notes:
        st.caption(plain(note))
    shown = table(source, frame)
    config = dict(COLUMN_CONFIG)
    for column in shown.columns:
        if column not in config and column not in TABLE_COLUMNS:
            config[column] = st.column_config.NumberColumn(column, format="%.3f", help="rule-based score (scores/summary.csv)")
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch", placeholder="")
    st.download_button(
        "Download CSV", shown.to_csv(index=False).encode("utf-8"), file_name="leaderboard.csv", mime="text/csv", key="download_leaderboard"
    )
    if frame["ci_low"].notna().any():
        st.altair_chart(error_bar_chart(frame), width="stretch", height=chart_height(len(frame)) + 60)
    correlations = rating_correlations(frame, loaders.benchmark_scores(source))
    if len(correlations):
        st.markdown("**Arena rating vs each benchmark**")
        st.dataframe(correlations, hide_index=True, column_config=CORRELATION_CONFIG, width="stretch")
        st.caption(
            "Spearman rank correlation between the rating shown above and each benchmark's score, over the models "
            "that have both; 95% interval: models resampled, each rating and score drawn from its own interval. "
            "Near 1: the two rank the models alike."
        )
    for note in files.score_setting_notes(loaders.benchmark_scores(source)):
        st.caption(plain(f"note: {note}"))
    for warning in summary.get("warnings") or []:
        st.caption(plain(f"warning: {warning}"))
