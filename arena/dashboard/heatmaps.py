"""The heatmaps view: observed win rate, predicted win rate (from the ratings) and battle counts
between every pair of models, read from the ratings stage's square tables."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain

KINDS = {
    "win rate (observed)": ("win_rate", ".2f", "row model's mean score against the column model"),
    "predicted win rate": ("predicted_win_rate", ".2f", "P(row beats column) from the fitted ratings"),
    "battle counts": ("battle_counts", "d", "battles between the row and column models"),
}
# Beyond this many models the numbers in the cells are unreadable; the colours stay.
MAX_LABELLED = 25


def long_form(matrix: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """The square table restricted to `models` (in that order) as (row, column, value) rows."""
    square = matrix.loc[models, models]
    frame = square.rename_axis(index="model").reset_index().melt(id_vars="model", var_name="opponent", value_name="value")
    return frame


def heatmap(frame: pd.DataFrame, models: list[str], fmt: str, title: str) -> alt.Chart:
    size = chart_size(models)
    base = alt.Chart(frame).encode(
        x=alt.X("opponent:N", sort=models, title="column model", axis=alt.Axis(labelAngle=-45, labelOverlap=False)),
        y=alt.Y("model:N", sort=models, title="row model", axis=alt.Axis(labelOverlap=False)),
    )
    scale = alt.Scale(scheme="redblue", domain=[0, 1]) if fmt != "d" else alt.Scale(scheme="blues")
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=scale, title=title),
        tooltip=["model", "opponent", alt.Tooltip("value:Q", format=fmt)],
    )
    chart = cells
    if len(models) <= MAX_LABELLED:
        text = base.transform_filter("isValid(datum.value)").mark_text(fontSize=10).encode(text=alt.Text("value:Q", format=fmt))
        chart = cells + text
    return chart.properties(width=size, height=size)


def chart_size(models: list[str]) -> int:
    return max(240, min(900, 28 * len(models)))


def render(source: Source) -> None:
    st.subheader("Heatmaps")
    available = {label: spec for label, spec in KINDS.items() if loaders.rating_table(source, spec[0]) is not None}
    if not available:
        st.info("no pairwise tables in this run's ratings folder (single grading of one model, or no battles)")
        return
    label = st.radio("table", list(available), horizontal=True, key="heatmap_kind")
    key, fmt, help_text = available[label]
    matrix = loaders.rating_table(source, key)
    order = [m for m in loaders.rating_table(source, "leaderboard")["model"].astype(str) if m in matrix.index]
    order += [m for m in matrix.index if m not in order]
    top = st.slider("models (top by rating)", 2, max(2, len(order)), min(len(order), 20), key="heatmap_top") if len(order) > 2 else len(order)
    models = order[:top]
    st.caption(plain(f"{help_text}; ratings/{key}.csv; models in leaderboard order"))
    # Streamlit sizes charts itself unless told: give the square its room (plus axis labels).
    size = chart_size(models)
    st.altair_chart(heatmap(long_form(matrix, models), models, fmt, label), width=size + 260, height=size + 140)
