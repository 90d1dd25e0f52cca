"""The judges view: how far the judges agree with each other (pairwise Cohen's kappa, Fleiss'
kappa), the jury and its contested games, and each judge's bias figures, from the run's
summary.json (the reviews stage writes them; arena.judging.interjudge and arena.judging.jury)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain

KIND_TITLES = {"pairwise": "Pairwise verdicts", "single": "Single grading (scores rounded to whole points)"}


def agreement_frame(section: dict[str, Any]) -> pd.DataFrame:
    """One row per pair of judges: games both judged, share of equal verdicts, Cohen's kappa."""
    rows = [{"judge A": p["judge_a"], "judge B": p["judge_b"], "games": p["games"], "agreement": p["agreement"],
             "Cohen's kappa": p["kappa"]} for p in section.get("pairs") or []]
    return pd.DataFrame(rows, columns=["judge A", "judge B", "games", "agreement", "Cohen's kappa"])


def jury_frame(entry: dict[str, Any]) -> pd.DataFrame:
    """Each member's share of the jury's combined games where its verdict was the jury's."""
    shares = entry.get("member_agreement") or {}
    return pd.DataFrame({"member": list(shares), "agrees with the jury": list(shares.values())})


def bias_frame(bias: dict[str, Any]) -> pd.DataFrame:
    """Per judge: mode, reviews, parse failures, tie rate, position consistency and bias, and
    the longer answer's score (docs/BIAS.md)."""
    rows = []
    for judge, report in bias.items():
        if not isinstance(report, dict):
            continue
        position = report.get("position") or {}
        length = report.get("length") or {}
        rows.append({
            "judge": judge, "mode": report.get("mode"), "reviews": report.get("reviews"),
            "parse failures": report.get("parse_failure_rate"), "tie rate": report.get("tie_rate"),
            "position consistency": position.get("consistency"), "position bias (Elo)": position.get("bias_elo"),
            "longer answer's score": length.get("longer_score"),
        })
    return pd.DataFrame(rows)


def render(source: Source) -> None:
    st.subheader("Judges")
    if not source.is_run:
        st.info("judge agreement and juries come from a run folder's summary.json (the reviews stage); a bare battle log has none")
        return
    summary = loaders.run_summary(source)
    reviews = summary.get("reviews") or {}
    juries = {name: e for name, e in reviews.items() if isinstance(e, dict) and e.get("jury")}
    agreement = summary.get("judge_agreement")
    st.caption(plain(f"from {source.run.summary}: the last reviews stage"))
    if agreement is None:
        st.info(plain(f"{source.run.summary}: no judge_agreement section (runs reviewed before it was recorded: run the reviews stage again, it costs no calls)"))
    elif not agreement:
        st.info("one judge per kind of verdict: no agreement between judges to show")
    for kind, section in (agreement or {}).items():
        st.markdown(f"**{plain(KIND_TITLES.get(kind, kind))}**")
        fleiss = section.get("fleiss_kappa")
        st.markdown(plain(
            f"Fleiss' kappa over {len(section.get('judges') or [])} judges: "
            f"{'-' if fleiss is None else f'{fleiss:.3f}'} on the {section.get('fleiss_games', 0)} games every one of them judged"
        ))
        st.dataframe(agreement_frame(section), hide_index=True, width="stretch")
    st.caption("1 is full agreement, 0 what chance gives with each judge's own shares of verdicts; each order of a pair is a game of its own.")
    for name, entry in juries.items():
        st.markdown(f"**{plain(f'Jury {name}')}**")
        min_agreement = entry.get("min_agreement")
        st.markdown(plain(
            f"{entry.get('method')} of {', '.join(entry.get('members') or [])} (quorum {entry.get('quorum')}): "
            f"{entry.get('combined')} of {entry.get('games')} games combined, {entry.get('contested')} contested"
            + (f" (members' agreement below {min_agreement:g})" if min_agreement is not None else "")
            + f", {entry.get('incomplete')} without a quorum; mean agreement with the jury's verdict "
            + ("-" if entry.get("mean_agreement") is None else f"{entry['mean_agreement']:.1%}")
        ))
        st.dataframe(jury_frame(entry), hide_index=True, width="stretch")
        contested = entry.get("first_contested") or []
        if contested:
            st.caption(plain("first contested games (question|turn|model_a|model_b|shown first): "
                             + "; ".join(f"{c['game']} ({c['agreement']:.0%})" for c in contested)))
    if juries:
        st.caption(plain(f"The leaderboard is the jury's ({', '.join(juries)}); each member's own board is under the judge switch."))
    bias = summary.get("bias") or {}
    if bias:
        st.markdown("**Bias**")
        st.dataframe(bias_frame(bias), hide_index=True, width="stretch")
