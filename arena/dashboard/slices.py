"""Leaderboards for a choice of switches, read precomputed where the ratings stage wrote one and
fitted on demand (from the battles, cached) where it did not.

The ratings stage writes the whole run's board (with online Elo and style-controlled columns)
and one board per judge, per category and per turn. A combination (a judge's coding questions),
a mode shared by several judges, or style control of one category is fitted here with the same
code as the stage (arena.leaderboard.compute_ratings), on the battles of that slice only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.errors import ArenaError

ALL = "all"
# On-demand fits use fewer bootstrap rounds than the stage's default 1000: the interval's width
# is stable to a few percent at 200, and the page waits for it.
ON_DEMAND_ROUNDS = 200
# Columns about the raw Bradley-Terry order, which the Elo and style-controlled views do not show.
_RAW_ONLY = ("p_vs_next",)


@dataclass(frozen=True)
class Switches:
    judge: str = ALL
    mode: str = ALL
    category: str = ALL
    turn: str = ALL
    style: bool = False  # style-controlled instead of raw
    method: str = "bt"  # bt | elo


@dataclass
class Board:
    """A leaderboard (model, rating, ci_low, ci_high, n_battles, win_rate, rank, rank_best,
    rank_worst, ...) and where it came from."""

    frame: pd.DataFrame
    origin: str
    notes: list[str] = field(default_factory=list)


def judge_modes(source: Source) -> dict[str, str]:
    """Judge -> mode, from the run summary's reviews section (or its bias section)."""
    summary = loaders.run_summary(source)
    modes: dict[str, str] = {}
    for section in ("bias", "reviews"):
        for judge, figures in (summary.get(section) or {}).items():
            if isinstance(figures, dict) and figures.get("mode"):
                modes[str(judge)] = str(figures["mode"])
    return modes


def board(source: Source, sw: Switches) -> Board:
    """The leaderboard for these switches."""
    summary = loaders.ratings_summary(source)
    judges = [str(j) for j in summary.get("judges") or []]
    # A run with a jury rates its headline board on the jury's battles alone (its members'
    # verdicts are in them already): "all" judges means the jury, here too.
    main = tuple(sorted(str(j) for j in summary.get("main_judges") or []))
    selected = _judges_for(source, sw, judges)
    if selected is not None and main and set(main) <= set(selected):
        selected = list(main)  # a mode's judges, the jury among them: the jury's board
    judge_filter = None if selected is None or set(selected) >= set(judges) or tuple(sorted(selected)) == main else tuple(sorted(selected))
    filters = {
        "judge": judge_filter[0] if judge_filter and len(judge_filter) == 1 else None,
        "category": None if sw.category == ALL else sw.category,
        "turn": None if sw.turn == ALL else sw.turn,
    }
    several_judges = judge_filter is not None and len(judge_filter) > 1
    active = [k for k, v in filters.items() if v is not None]
    if not active and not several_judges:
        return _whole_run(source, sw)
    if len(active) == 1 and not several_judges and not sw.style and sw.method == "bt":
        key = active[0]
        table = loaders.rating_table(source, f"by_{key}")
        if table is not None:
            part = table[table[key].astype(str) == str(filters[key])].drop(columns=[key])
            if len(part):
                return Board(part.reset_index(drop=True), f"ratings/by_{key}.csv")
    return _fitted(source, judge_filter or main or None, filters["category"], filters["turn"], sw)


def _judges_for(source: Source, sw: Switches, judges: list[str]) -> list[str] | None:
    if sw.judge != ALL:
        return [sw.judge]
    if sw.mode == ALL:
        return None
    modes = judge_modes(source)
    chosen = [j for j in judges if modes.get(j) == sw.mode]
    if not chosen:
        raise ArenaError(f"no judge of mode {sw.mode!r} in this run")
    return chosen


def _whole_run(source: Source, sw: Switches) -> Board:
    lb = loaders.rating_table(source, "leaderboard")
    if sw.style:
        style = loaders.rating_table(source, "style_control")
        if style is None:
            raise ArenaError("no style-controlled ratings in this run (style control was off or skipped; see ratings/summary.json's skipped)")
        keep = lb.drop(columns=["rating", "ci_low", "ci_high", "rank", "rank_best", "rank_worst", *_RAW_ONLY], errors="ignore")
        frame = style[["model", "rating", "ci_low", "ci_high", "rank", "rank_best", "rank_worst"]].merge(keep, on="model", how="left")
        return Board(frame, "ratings/style_control.csv")
    if sw.method == "elo":
        return Board(_elo_view(lb), "ratings/leaderboard.csv (elo column)", ["online Elo: one replay in battle order, no interval"])
    return Board(lb, "ratings/leaderboard.csv")


def _elo_view(lb: pd.DataFrame) -> pd.DataFrame:
    if "elo" not in lb.columns:
        raise ArenaError("no online Elo column in this leaderboard (the ratings methods did not include both bt and elo)")
    frame = lb.drop(columns=list(_RAW_ONLY), errors="ignore")
    frame["rating"] = frame["elo"]
    frame["ci_low"] = float("nan")
    frame["ci_high"] = float("nan")
    frame = frame.sort_values("rating", ascending=False, kind="stable").reset_index(drop=True)
    frame["rank"] = range(1, len(frame) + 1)
    frame["rank_best"] = frame["rank"]
    frame["rank_worst"] = frame["rank"]
    return frame


def _fitted(source: Source, judges: tuple[str, ...] | None, category: str | None, turn: str | None, sw: Switches) -> Board:
    path = source.battles_path
    if not path.exists():
        raise ArenaError(f"{path}: file not found; this combination of switches is fitted from the battles")
    frame, notes = _fit_slice(str(path), loaders.stamp(path), judges, category, turn, sw.style)
    if sw.method == "elo" and not sw.style:
        frame = _elo_view(frame)
        notes = [*notes, "online Elo: one replay in battle order, no interval"]
    what = ", ".join(f"{k} {v}" for k, v in (("judge", "/".join(judges) if judges else None), ("category", category), ("turn", turn)) if v)
    return Board(frame, f"fitted on demand from {Path(path).name} ({what}; {ON_DEMAND_ROUNDS} bootstrap rounds)", notes)


@st.cache_data(show_spinner="Fitting this slice from the battles...", max_entries=32)
def _fit_slice(
    path: str, version: int, judges: tuple[str, ...] | None, category: str | None, turn: str | None, style: bool
) -> tuple[pd.DataFrame, list[str]]:
    from arena.battle_log import read_battle_log
    from arena.config import RatingConfig
    from arena.leaderboard import compute_ratings

    battles = read_battle_log(Path(path)).battles
    mask = pd.Series(True, index=battles.index)
    if judges:
        mask &= battles["judge"].astype(str).isin(judges)
    if category is not None:
        mask &= battles["category"].astype(str) == category
    if turn is not None:
        mask &= battles["turn"].astype(str) == str(turn)
    subset = battles[mask].reset_index(drop=True)
    if subset.empty:
        raise ArenaError("no battles for this combination of switches")
    settings = RatingConfig(methods=["bt", "elo"], bootstrap=ON_DEMAND_ROUNDS, style_control=style, per_category=False, workers=1)
    result = compute_ratings(subset, settings)
    lb = result.leaderboard
    if style:
        if "style_rating" not in lb.columns:
            raise ArenaError("style control could not be fitted on this slice: " + "; ".join(result.summary.get("skipped", [])))
        lb = lb.drop(columns=["rating", "ci_low", "ci_high", *_RAW_ONLY], errors="ignore").rename(
            columns={"style_rating": "rating", "style_ci_low": "ci_low", "style_ci_high": "ci_high"}
        )
        style_table = result.tables["style_control.csv"][["model", "rank", "rank_best", "rank_worst"]]
        lb = lb.drop(columns=["rank", "rank_best", "rank_worst"]).merge(style_table, on="model").sort_values("rank").reset_index(drop=True)
    return lb, list(result.warnings)
