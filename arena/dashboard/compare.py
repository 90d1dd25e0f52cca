"""Comparing runs: the rating change of each model between this run and another."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain


def other_runs(source: Source) -> list[str]:
    """Sibling run folders with a leaderboard (data/runs/*), and the --compare one."""
    found = []
    if source.compare is not None:
        found.append(str(source.compare))
    if source.root is not None and source.root.parent.is_dir():
        for path in sorted(source.root.parent.iterdir()):
            if path != source.root and (path / "ratings" / "leaderboard.csv").is_file() and str(path) not in found:
                found.append(str(path))
    return found


def rating_change(this: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Per model: rating and rank here and there, and the change (models in either run)."""
    keep = ["model", "rating", "ci_low", "ci_high", "rank"]
    merged = this[keep].merge(other[keep], on="model", how="outer", suffixes=("", "_other"))
    merged["change"] = merged["rating"] - merged["rating_other"]
    merged["rank_change"] = merged["rank_other"] - merged["rank"]
    return merged.sort_values(["rating", "model"], ascending=[False, True], na_position="last").reset_index(drop=True)


def render(source: Source) -> None:
    st.subheader("Compare runs")
    choices = other_runs(source)
    typed = st.text_input("other run folder", value="", key="compare_path", placeholder="data/runs/OTHER")
    if not typed and not choices:
        st.info("no other run folder with ratings beside this one; type a path")
        return
    picked = typed.strip() or st.selectbox("other run", choices, key="compare_pick")
    other = Source(root=Path(picked))
    other.check()
    this_board = loaders.rating_table(source, "leaderboard")
    other_board = loaders.rating_table(other, "leaderboard")
    table = rating_change(this_board, other_board)
    st.caption(plain(f"this run: {source.label}; other: {picked}. change = this - other (positive: higher here)"))
    st.dataframe(table, hide_index=True, width="stretch")
    data = table.dropna(subset=["change"])
    if len(data):
        chart = (
            alt.Chart(data)
            .mark_bar()
            .encode(
                x=alt.X("change:Q", title="rating change"),
                y=alt.Y("model:N", sort="-x", title=None),
                color=alt.condition("datum.change >= 0", alt.value("#2b8cbe"), alt.value("#e34a33")),
                tooltip=["model", alt.Tooltip("change:Q", format="+.1f"), "rank", "rank_other"],
            )
            .properties(height=max(80, 22 * len(data)))
        )
        st.altair_chart(chart, width="stretch")
    only = table[table["change"].isna()]["model"].tolist()
    if only:
        st.caption(plain(f"in one run only: {', '.join(map(str, only))}"))
