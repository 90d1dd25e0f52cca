"""What people's votes say: agreement of the judges with people and of people with each other
(arena.agreement, the MT-Bench paper's measure and Cohen's kappa), and a leaderboard from the
votes alone beside the judge's.

`live` is the review view's side column while voting: figures only, no model names, since the
page must not reveal who played before the vote. `render` is the full page: tables, the two
leaderboards, every vote."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from arena.agreement import people_table
from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.dashboard.review_queue import judge_votes
from arena.dashboard.safe import plain
from arena.errors import ArenaError
from arena.human_votes import POOLED, battle_item, latest_votes, vote_table

HUMAN_BOOTSTRAP = 200


def _agreement(source: Source) -> tuple[pd.DataFrame, int, int]:
    """The people table, the number of latest votes and of reviewers."""
    votes, _ = latest_votes(loaders.human_votes(source))
    if not votes:
        return pd.DataFrame(), 0, 0
    items = loaders.review_items(source)
    judged = judge_votes(items, [battle_item(v.question_id, v.turn, v.model_a, v.model_b) for v in votes])
    table = people_table(judged, vote_table(votes, "pooled"), vote_table(votes, "each"))
    return table, len(votes), len({v.reviewer for v in votes})


def live(source: Source, reviewer: str) -> None:
    """Figures beside the vote: how often each judge agrees with people, and people with each
    other (no model names)."""
    table, n_votes, n_reviewers = _agreement(source)
    st.markdown("**Agreement so far**")
    st.caption(plain(f"{n_votes} vote(s) by {n_reviewers} reviewer(s)"))
    if table.empty:
        st.caption("vote to see how often the judges agree with you")
        return
    for (a, _), rows in table[table["judge_b"] == POOLED].groupby(["judge_a", "judge_b"], sort=False):
        label = "people with each other" if a == POOLED else f"{a} with people"
        st.markdown(plain(label))
        st.caption(plain(_figures(rows)))


def _figures(rows: pd.DataFrame) -> str:
    parts = []
    for _, row in rows.iterrows():
        share = "-" if pd.isna(row["agreement"]) else f"{100 * row['agreement']:.0f}%"
        kappa = "-" if pd.isna(row["kappa"]) else f"{row['kappa']:.2f}"
        parts.append(f"{'with' if row['ties'] == 'include' else 'without'} ties: {share} of {row['n']} (kappa {kappa})")
    return "\n".join(parts)


def render(source: Source, reviewer: str) -> None:
    table, n_votes, n_reviewers = _agreement(source)
    if not n_votes:
        st.info("no votes yet: vote on a few battles first")
        return
    st.markdown("**Agreement** · " + plain(f"{n_votes} vote(s) by {n_reviewers} reviewer(s), each reviewer's latest vote per battle"))
    st.caption("judge_b 'human' pools every reviewer (human with human: two reviewers on one battle); 'human:NAME' is one "
               "reviewer. With ties: the share of comparisons with the same verdict of A, B, tie (both bad counts as a tie); "
               "without ties: only comparisons where neither side said tie (the MT-Bench paper's two figures).")
    shown = table.drop(columns=["turn"]).astype({"agreement": float, "kappa": float})
    shown["agreement"] = (100 * shown["agreement"]).round(1)
    shown["kappa"] = shown["kappa"].round(3)
    st.dataframe(shown.rename(columns={"agreement": "agreement %"}), hide_index=True, width="stretch")
    st.markdown("**Leaderboards: people's votes alone beside the judge's**")
    try:
        boards = leaderboards(source)
    except ArenaError as exc:
        st.caption(plain(f"no leaderboard from the votes yet: {exc}"))
    else:
        rated = boards.dropna(subset=["people rating", "judge rating"]) if "judge rating" in boards else boards.iloc[:0]
        if len(rated) >= 3:
            from arena.rating.correlation import spearman

            rho = spearman(rated["people rating"].to_numpy(float), rated["judge rating"].to_numpy(float))
            st.caption(plain(f"rank correlation of the two boards (Spearman, {len(rated)} models): {rho:.2f}; "
                             f"people's intervals from {HUMAN_BOOTSTRAP} bootstrap rounds over their votes"))
        st.dataframe(boards.round(1), hide_index=True, width="stretch")
    st.markdown("**Votes**")
    st.caption(plain(f"yours, and others' on battles you have voted on: a battle someone else voted on stays blind to "
                     f"you, {reviewer}, until your own vote"))
    history = st.toggle("with replaced votes (history)", key="rv_history")
    everything = loaders.human_votes(source)
    votes = everything if history else latest_votes(everything)[0]
    seen = {_item(v) for v in everything if v.reviewer == reviewer}
    frame = pd.DataFrame([
        {"time": v.time, "reviewer": v.reviewer, "question": str(v.question_id), "turn": v.turn, "A": v.shown[0],
         "B": v.shown[1], "vote": v.vote, "note": v.note}
        for v in reversed(votes) if v.reviewer == reviewer or _item(v) in seen
    ], columns=["time", "reviewer", "question", "turn", "A", "B", "vote", "note"])
    st.dataframe(frame, hide_index=True, width="stretch")


def _item(vote) -> tuple:
    return battle_item(vote.question_id, vote.turn, vote.model_a, vote.model_b)


def leaderboards(source: Source) -> pd.DataFrame:
    people = _people_board(source)
    try:
        judge = loaders.rating_table(source, "leaderboard")
    except ArenaError:
        judge = None
    if judge is None:
        return people
    judge = judge[["model", "rating", "ci_low", "ci_high", "rank"]].rename(
        columns={"rating": "judge rating", "ci_low": "judge ci_low", "ci_high": "judge ci_high", "rank": "judge rank"})
    return people.merge(judge, on="model", how="left")


def _people_board(source: Source) -> pd.DataFrame:
    from arena.human_votes import votes_path

    path = votes_path(source.root)
    return _rate_votes(str(path), (path.stat().st_size, loaders.stamp(path)))


@st.cache_data(show_spinner="Rating the votes...", max_entries=4)
def _rate_votes(path: str, version: tuple[int, int]) -> pd.DataFrame:
    from pathlib import Path

    from arena.config import RatingConfig
    from arena.human_votes import read_vote_battles
    from arena.leaderboard import compute_ratings

    battles, notes = read_vote_battles(Path(path))
    settings = RatingConfig(methods=["bt"], bootstrap=HUMAN_BOOTSTRAP, style_control=False, per_category=False, workers=1)
    board = compute_ratings(battles, settings, notes=notes).leaderboard
    return board[["model", "rating", "ci_low", "ci_high", "rank", "n_battles"]].rename(
        columns={"rating": "people rating", "ci_low": "people ci_low", "ci_high": "people ci_high", "rank": "people rank",
                 "n_battles": "votes"})
