"""The serving view: throughput, latency and time to first token per model (from the answers
stage's section of summary.json), and the judges' calls, tokens and cost."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from arena.dashboard import files, loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain

FIGURES = {
    "output_tokens_per_s": "output tokens/s",
    "requests_per_s": "requests/s",
    "latency_p50_s": "latency p50 (s)",
    "latency_p99_s": "latency p99 (s)",
    "ttft_p50_s": "TTFT p50 (s)",
    "ttft_p99_s": "TTFT p99 (s)",
}
TABLE = ["model", "answers", "failed", "mean_output_tokens", *FIGURES, "generation_wall_s", "engine_start_s", "measured_at"]


def bar(frame: pd.DataFrame, column: str, title: str) -> alt.Chart:
    data = frame[["model", column]].dropna()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X(f"{column}:Q", title=title), y=alt.Y("model:N", sort="-x", title=None), tooltip=["model", column])
        .properties(height=max(80, 22 * len(data)), title=title)
    )


def render(source: Source) -> None:
    st.subheader("Serving")
    if not source.is_run:
        st.info("serving figures come from a run folder's summary.json (the answers stage); a bare battle log has none")
        return
    summary = loaders.run_summary(source)
    frame = files.serving_table(summary)
    if frame.empty:
        st.info(plain(f"{source.run.summary}: no answers section (the answers stage has not run here)"))
    else:
        st.caption(plain(f"from {source.run.summary} (answers section): the last session that generated answers"))
        st.dataframe(frame[[c for c in TABLE if c in frame.columns]], hide_index=True, width="stretch")
        columns = st.columns(2)
        shown = [c for c in FIGURES if c in frame.columns and frame[c].notna().any()]
        for i, column in enumerate(shown):
            with columns[i % 2]:
                st.altair_chart(bar(frame, column, FIGURES[column]), width="stretch")
        missing = [FIGURES[c] for c in FIGURES if c not in shown]
        if missing:
            st.caption(plain(f"not measured in this run: {', '.join(missing)} (e.g. TTFT needs streaming)"))
    judges = summary.get("reviews") or {}
    if judges:
        st.markdown("**Judges**")
        rows = [{"judge": name, **{k: v for k, v in fig.items() if not isinstance(v, (dict, list))}} for name, fig in judges.items() if isinstance(fig, dict)]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
