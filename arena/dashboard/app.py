"""The page: arguments, sidebar (view and switches), and the chosen view.

Only the chosen view runs, so opening the page reads just what the leaderboard needs. Any
ArenaError (a missing or malformed file, a slice that cannot be rated) is shown as one message
naming the file; the other views stay usable."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from arena.dashboard import (
    battles,
    compare,
    heatmaps,
    judges,
    leaderboard,
    loaders,
    review,
    serving,
    single,
)
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain
from arena.dashboard.slices import ALL, Switches, judge_modes
from arena.errors import ArenaError, ConfigError

VIEWS = {
    "leaderboard": "Leaderboard",
    "heatmaps": "Heatmaps",
    "battles": "Battle browser",
    "single": "Single grading",
    "judges": "Judges and jury",
    "review": "Review (blind votes)",
    "serving": "Serving",
    "compare": "Compare runs",
}
USAGE = "streamlit run viz.py -- --run data/runs/NAME   (or -- --review-file battles.jsonl)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would exit the Streamlit script; say what is wrong on the page instead.
        raise ConfigError(f"dashboard arguments: {message}; usage: {USAGE}")


def parse_args(argv: Sequence[str]) -> Source:
    parser = _Parser(prog="viz.py", description="arena dashboard")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--run", help="a run folder (data/runs/NAME)")
    what.add_argument("--review-file", help="a bare battle log: our battles.jsonl, Chatbot Arena's or AlpacaEval's")
    parser.add_argument("--questions", help="question file for the battle browser (default: the run config's)")
    parser.add_argument("--compare", help="another run folder to compare ratings with")
    parser.add_argument("--reviewer", help="the Review view's reviewer name for every session")
    parser.add_argument("--reviewer-header", help="take the reviewer name from this request header (an authenticating proxy's)")
    parser.add_argument("--allow-remote", action="store_true", help="accept votes while serving beyond 127.0.0.1")
    args = parser.parse_args(list(argv))
    if not args.run and not args.review_file:
        raise ConfigError(f"dashboard: give a run folder or a battle log: {USAGE}")
    reviewer = None
    if args.reviewer is not None:
        from arena.human_votes import reviewer_name

        try:
            reviewer = reviewer_name(args.reviewer)  # stored stripped: compared stripped
        except ValueError as exc:
            raise ConfigError(f"dashboard arguments: --reviewer: {exc}") from None
    source = Source(
        root=Path(args.run) if args.run else None,
        battle_file=Path(args.review_file) if args.review_file else None,
        questions=Path(args.questions) if args.questions else None,
        compare=Path(args.compare) if args.compare else None,
        reviewer=reviewer,
        reviewer_header=args.reviewer_header,
        allow_remote=args.allow_remote,
    )
    source.check()
    return source


def _pick(label: str, options: list[str], key: str) -> str:
    """A sidebar select with "all" first; hidden when there is nothing to choose."""
    if len(options) < 2:
        return ALL
    return st.sidebar.selectbox(label, [ALL, *options], key=key)


def switches(source: Source) -> Switches:
    summary = loaders.ratings_summary(source)
    modes = sorted(set(judge_modes(source).values()))
    judge = _pick("judge", [str(j) for j in summary.get("judges") or []], "sw_judge")
    mode = _pick("mode", modes, "sw_mode") if judge == ALL else ALL
    category = _pick("category", [str(c) for c in summary.get("categories") or []], "sw_category")
    turn = _pick("turn", [str(t) for t in summary.get("turns") or []], "sw_turn")
    style = st.sidebar.radio("rating", ["raw", "style-controlled"], horizontal=True, key="sw_style") == "style-controlled"
    methods = summary.get("methods") or ["bt"]
    method_options = ["Bradley-Terry", "Elo"] if "bt" in methods and "elo" in methods else (["Elo"] if methods == ["elo"] else ["Bradley-Terry"])
    method = st.sidebar.radio("method", method_options, horizontal=True, key="sw_method", disabled=style)
    # With Elo the only method, the stage's `rating` already is Elo (with an interval).
    use_elo = method == "Elo" and "bt" in methods and not style
    return Switches(judge=judge, mode=mode, category=category, turn=turn, style=style, method="elo" if use_elo else "bt")


def main(argv: Sequence[str]) -> None:
    st.set_page_config(page_title="arena dashboard", layout="wide")
    try:
        source = parse_args(argv)
    except ArenaError as exc:
        st.error(plain(exc))
        return
    st.sidebar.title("arena")
    st.sidebar.caption(plain(source.label))
    wanted = st.query_params.get("view", "leaderboard")
    keys = list(VIEWS)
    view = st.sidebar.radio("view", keys, index=keys.index(wanted) if wanted in keys else 0, format_func=VIEWS.get, key="view")
    try:
        if view == "leaderboard":
            sw = switches(source)
            leaderboard.render(source, sw)
        elif view == "heatmaps":
            heatmaps.render(source)
        elif view == "battles":
            battles.render(source)
        elif view == "single":
            single.render(source)
        elif view == "judges":
            judges.render(source)
        elif view == "review":
            review.render(source)
        elif view == "serving":
            serving.render(source)
        else:
            compare.render(source)
    except ArenaError as exc:
        st.error(plain(exc))
