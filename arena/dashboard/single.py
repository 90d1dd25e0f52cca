"""The single-grading view (MT-Bench): each model's mean grade with its interval, the
distribution of its grades, and its mean grade per category (MT-Bench's figure, as bars)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain


def grades(source: Source, judge: str) -> pd.DataFrame:
    """One judge's single-mode grades: model, question_id, turn, score (calls with a grade)."""
    frame = loaders.reviews(source, judge)
    if frame is None:
        return pd.DataFrame(columns=["model", "question_id", "turn", "score"])
    ok = frame[(frame["mode"] == "single") & (frame["status"] == "ok") & frame["score"].notna()]
    return ok.rename(columns={"model_a": "model"})[["model", "question_id", "turn", "score"]].astype({"score": float})


def render(source: Source) -> None:
    st.subheader("Single grading")
    scores = loaders.rating_table(source, "scores")
    if scores is None:
        st.info("no single-mode grades in this run (ratings/scores.csv is written for judges in mode 'single')")
        return
    scores = scores.astype({"turn": str, "category": str, "judge": str, "model": str})
    judges = sorted(scores["judge"].unique())
    judge = st.selectbox("judge", judges, key="single_judge") if len(judges) > 1 else judges[0]
    mine = scores[scores["judge"] == judge]
    overall = mine[(mine["category"] == "all")]
    turns = sorted(overall["turn"].unique(), key=lambda t: (t != "all", t))
    turn = st.radio("turn", turns, horizontal=True, format_func=plain, key="single_turn") if len(turns) > 1 else turns[0]
    means = overall[overall["turn"] == turn].sort_values("mean", ascending=False)
    st.caption(plain(f"mean grade with 95% bootstrap interval (ratings/scores.csv), judge {judge}, turn {turn}"))
    base = alt.Chart(means).encode(y=alt.Y("model:N", sort=means["model"].tolist(), title=None))
    chart = base.mark_bar().encode(x=alt.X("mean:Q", scale=alt.Scale(domain=[0, 10]), title="mean grade"), tooltip=["model", "n", alt.Tooltip("mean:Q", format=".2f")])
    chart += base.mark_rule(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    st.altair_chart(chart.properties(height=max(80, 26 * len(means))), width="stretch")

    per_category = mine[(mine["category"] != "all") & (mine["turn"] == "all")]
    if len(per_category):
        st.markdown("**Per category**")
        chart = (
            alt.Chart(per_category)
            .mark_bar()
            .encode(
                x=alt.X("category:N", title=None),
                xOffset="model:N",
                y=alt.Y("mean:Q", scale=alt.Scale(domain=[0, 10]), title="mean grade"),
                color="model:N",
                tooltip=["category", "model", "n", alt.Tooltip("mean:Q", format=".2f")],
            )
            .properties(height=320)
        )
        st.altair_chart(chart, width="stretch")

    raw = grades(source, judge)
    if len(raw):
        st.markdown("**Distribution of grades**")
        if turn != "all":
            raw = raw[raw["turn"].astype(str) == turn]
        counts = raw.groupby(["model", "score"]).size().rename("answers").reset_index()
        chart = (
            alt.Chart(counts)
            .mark_bar()
            .encode(
                x=alt.X("score:O", title="grade"),
                y=alt.Y("answers:Q"),
                color="model:N",
                xOffset="model:N",
                tooltip=["model", "score", "answers"],
            )
            .properties(height=280)
        )
        st.altair_chart(chart, width="stretch")
