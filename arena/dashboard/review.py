"""The review view: people vote on battles blind, then see who played and what the judges said.

A reviewer (named once per browser session, or fixed by `arena dashboard --reviewer`, or taken
from an authenticating proxy's header) is offered one battle at a time from the chosen sampling
(arena.dashboard.review_queue): the question and both answers, labelled A and B only, in an
order drawn for that reviewer. The model names are not sent to the page before the vote: not in
text, widget keys or URLs. The vote (A, B, tie, both bad, a note) is stored by a button callback
through arena.human_votes (one locked, fsynced line per vote, a vote id so a form sent twice is
stored once) before the page reruns; the rerun's first element acknowledges it, so what follows
(the reveal of the models and of the judges' verdicts in both orders, then the live agreement
figures) never delays the acknowledgement.

Every text shown (questions, answers, notes, names) is untrusted: `safe.safe_markdown`,
`safe.plain`, `st.code` or dataframes, never raw HTML."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import streamlit as st

from arena.dashboard import loaders, review_results
from arena.dashboard.battles import show_text
from arena.dashboard.loaders import Source
from arena.dashboard.review_queue import SAMPLINGS, ReviewItems, next_item, shown_order
from arena.dashboard.safe import plain
from arena.errors import ArenaError, DataError
from arena.human_votes import (
    append_vote,
    battle_item,
    cast_vote,
    latest_votes,
    read_human_votes,
    reviewer_name,
    votes_path,
)

ALL_CATEGORIES = "every category"
CHOICES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both bad": "Both are bad"}
_NAME, _CURRENT, _DONE, _ERROR = "rv_reviewer", "rv_current", "rv_done", "rv_error"


def render(source: Source) -> None:
    st.subheader("Review: blind votes")
    if not source.is_run:
        st.info("reviewing needs a run folder: its answers to show, and its human/ folder for the votes")
        return
    reviewer = _reviewer(source)
    if reviewer is None:
        return
    if not _voting_allowed(source):
        review_results.render(source, reviewer)
        return
    part = st.radio("part", ["vote", "agreement and leaderboards"], horizontal=True, key="rv_part", label_visibility="collapsed")
    if part != "vote":
        review_results.render(source, reviewer)
        return
    items = loaders.review_items(source)
    if len(items) == 0:
        st.info(plain(f"{source.battles_path}: no battles to review"))
        return
    main, side = st.columns([3, 1])
    with main:
        # Drawn in both phases: Streamlit forgets the state of a widget a run does not draw.
        wanted = _controls(items)
        done = st.session_state.get(_DONE)
        if done is not None:
            _reveal(source, items, done)
        else:
            _offer(source, items, reviewer, wanted)
    with side:
        review_results.live(source, reviewer)


# --- who votes ------------------------------------------------------------------------------------


def _reviewer(source: Source) -> str | None:
    if source.reviewer:
        st.caption(plain(f"reviewing as {source.reviewer} (set by --reviewer)"))
        return source.reviewer
    if source.reviewer_header:
        value = st.context.headers.get(source.reviewer_header)
        try:
            name = reviewer_name(value)
        except ValueError as exc:
            what = f"no {source.reviewer_header} header in this request" if value is None else \
                f"the {source.reviewer_header} header is not a usable name ({exc})"
            st.error(plain(f"{what}: votes are taken only through the authenticating proxy that sets it "
                           "(docs/DASHBOARD.md)"))
            return None
        st.caption(plain(f"reviewing as {name} (from the {source.reviewer_header} header)"))
        return name
    name = st.session_state.get(_NAME)
    if name:
        left, right = st.columns([4, 1])
        left.caption(plain(f"reviewing as {name}"))
        right.button("change name", key="rv_rename", on_click=_forget_name)
        return name
    with st.form("rv_name_form"):
        typed = st.text_input("Your name (stored with each of your votes)", key="rv_name_input", max_chars=64)
        submitted = st.form_submit_button("Start reviewing")
    if submitted:
        try:
            st.session_state[_NAME] = reviewer_name(typed)
        except ValueError as exc:
            st.error(plain(str(exc)))
            return None
        st.rerun()
    return None


def _forget_name() -> None:
    for key in (_NAME, _CURRENT, _DONE):
        st.session_state.pop(key, None)


def _voting_allowed(source: Source) -> bool:
    from arena.commands.dashboard import is_local

    address = str(st.get_option("server.address") or "")
    if is_local(address) or source.allow_remote:
        return True
    st.error(plain(
        f"this dashboard listens on {address or 'every interface'}, so anyone who reaches it could vote under any name: "
        "voting is off. Serve it on 127.0.0.1 (arena dashboard RUN, or --server.address 127.0.0.1), or start it with "
        "arena dashboard --host ADDRESS --allow-remote to mean it (docs/DASHBOARD.md: an authenticating proxy)"
    ))
    return False


# --- one battle, blind -----------------------------------------------------------------------------


def _controls(items: ReviewItems) -> tuple[str, str, bool]:
    """Which battles come next: sampling, category, and whether to skip others' battles. The
    choices are kept beside the widgets too: a run that does not draw a widget (the agreement
    part) makes Streamlit forget its value, and coming back must not swap the open battle."""
    for key in ("rv_sampling", "rv_category", "rv_spread"):
        if key not in st.session_state and f"{key}_kept" in st.session_state:
            st.session_state[key] = st.session_state[f"{key}_kept"]
    samplings = [s for s in SAMPLINGS if s != "least confident first" or items.has_confidence()]
    row = st.columns([2, 2, 1])
    sampling = row[0].selectbox("sampling", samplings, key="rv_sampling",
                                help="least confident first appears where a judge gave probability-weighted verdicts")
    categories = items.categories()
    category = row[1].selectbox("category", [ALL_CATEGORIES, *categories], key="rv_category") if len(categories) > 1 else ALL_CATEGORIES
    spread = row[2].checkbox("skip battles others voted on", key="rv_spread",
                             help="spread a team's votes over more battles (off: reviewers meet on the same battles, "
                             "which measures how far people agree with each other)")
    st.session_state.update(rv_sampling_kept=sampling, rv_category_kept=category, rv_spread_kept=spread)
    return sampling, category, spread


def _offer(source: Source, items: ReviewItems, reviewer: str, wanted: tuple[str, str, bool]) -> None:
    sampling, category, spread = wanted
    try:
        votes, _ = latest_votes(loaders.human_votes(source))
    except DataError:
        # Its message quotes the bad line, model names included: not on a page about to go blind.
        st.error(plain(f"{votes_path(source.root)}: a line cannot be read, so voting is paused; "
                       f"arena agreement {source.root} names the line and field to fix"))
        return
    mine = {battle_item(v.question_id, v.turn, v.model_a, v.model_b) for v in votes if v.reviewer == reviewer}
    anyone = {battle_item(v.question_id, v.turn, v.model_a, v.model_b) for v in votes} if spread else set()
    current = st.session_state.get(_CURRENT)
    if current is None or current["reviewer"] != reviewer or (current.get("wanted") != wanted and not current.get("again")):
        order = loaders.review_queue(source, sampling, None if category == ALL_CATEGORIES else category)
        index = next_item(items, order, lambda item: item in mine or item in anyone)
        if index is None:
            st.success(plain(f"You have voted on every battle of this selection ({len(order)}). Pick another sampling or category."))
            return
        current = _battle_of(items, index, reviewer, wanted)
        st.session_state[_CURRENT] = current
    error = st.session_state.pop(_ERROR, None)
    if error:
        st.error(plain(error))
    st.caption(plain(f"{len(items):,} battles · you have voted on {len(mine):,}"
                     + (" · voting again on this battle: your latest vote counts" if current.get("again") else "")))
    as_markdown = st.toggle("render markdown", value=True, key="rv_markdown", help="off: show the raw text")
    _show_conversation(source, current, as_markdown)
    with st.form("rv_vote_form"):
        st.text_area("note (optional)", key="rv_note", max_chars=4000, height=68)
        buttons = st.columns(len(CHOICES))
        for column, (choice, label) in zip(buttons, CHOICES.items()):
            with column:
                st.form_submit_button(label, on_click=_record, args=(source, choice), width="stretch")


def _battle_of(items: ReviewItems, index: int, reviewer: str, wanted: tuple) -> dict[str, Any]:
    item = items.item(index)
    return {
        "index": index, "item": item, "reviewer": reviewer, "wanted": wanted,
        "shown": list(shown_order(reviewer, item)), "category": str(items.category[index] or ""),
        "vote_id": uuid.uuid4().hex,
    }


def _show_conversation(source: Source, current: dict[str, Any], as_markdown: bool) -> None:
    """The question and both answers, turn by turn, labelled A and B only."""
    qid, turn = current["item"][0], current["item"][1]
    questions, note = loaders.questions(source)
    question = questions.get(qid)
    answers: list[dict[str, list[str]] | None] = []
    for label, model in zip("AB", current["shown"]):
        try:
            answers.append(loaders.answers(source, model))
        except ArenaError:
            # The error names the answers file, so the model: not shown before the vote.
            st.error(plain(f"answer {label}: its answers file cannot be read; the battle browser shows the error"))
            answers.append(None)
    if question is None:
        st.caption(plain(note or f"question {qid}: text not available"))
    # No question id before the vote: the battle browser would name the models for it.
    st.caption(plain((f"{current['category']} · " if current["category"] else "") + f"turn {turn}"))
    for t in range(1, turn + 1):
        if question is not None and t <= len(question["turns"]):
            st.markdown("**" + plain(f"Question (turn {t})" if turn > 1 else "Question") + "**")
            show_text(question["turns"][t - 1], as_markdown)
        columns = st.columns(2)
        for column, label, answer in zip(columns, "AB", answers):
            with column:
                st.markdown("**" + plain(f"Answer {label}") + "**")
                turns = (answer or {}).get(qid)
                if turns is None or len(turns) < t:
                    st.caption("no answer recorded")
                else:
                    show_text(turns[t - 1], as_markdown)
    reference = (question or {}).get("reference") or []
    if reference:
        with st.expander("reference answer", expanded=False):
            for text in reference[:turn]:
                show_text(text, as_markdown)


def _record(source: Source, choice: str) -> None:
    """The vote buttons' callback: runs before the rerun, so the vote is stored (or refused)
    before the page draws anything."""
    current = st.session_state.get(_CURRENT)
    if current is None:
        return
    qid, turn, _, _ = current["item"]
    items = loaders.review_items(source)
    # Found again by its key, not its index: battles.jsonl may have been rewritten since it was shown.
    index = items.find(current["item"])
    if index is None:
        st.session_state[_ERROR] = "the vote was not stored: this battle is no longer in the run's battles.jsonl"
        st.session_state.pop(_CURRENT, None)
        return
    row = items.rows(index)[0]
    try:
        vote = cast_vote(
            reviewer=current["reviewer"], question_id=row["question_id"], turn=turn, model_a=row["model_a"],
            model_b=row["model_b"], shown=current["shown"], vote=choice, category=current["category"],
            note=st.session_state.get("rv_note", ""), vote_id=current["vote_id"],
        )
        if not append_vote(votes_path(source.root), vote):
            # This vote id is stored already (sent twice): what the page reveals is what is stored.
            vote = next(v for v in read_human_votes(votes_path(source.root)) if v.vote_id == vote.vote_id)
    except (ValueError, OSError, DataError) as exc:
        st.session_state[_ERROR] = f"the vote was not stored: {exc}"  # the note stays in the form
        return
    st.session_state[_DONE] = {"current": current, "vote": vote}
    st.session_state.pop(_CURRENT, None)
    st.session_state["rv_note"] = ""


# --- after the vote ----------------------------------------------------------------------------------


def _reveal(source: Source, items: ReviewItems, done: dict[str, Any]) -> None:
    current, vote = done["current"], done["vote"]
    first, second = current["shown"]
    chosen = {"A": first, "B": second}.get(vote.vote)
    st.success(plain(f"Vote recorded: {CHOICES[vote.vote]}" + (f" ({chosen})" if chosen else "")))
    st.markdown(f"Answer A was **{plain(first)}**, answer B was **{plain(second)}**.")
    st.caption(plain(f"question {current['item'][0]} · turn {current['item'][1]}"))
    buttons = st.columns(2)
    buttons[0].button("Next battle", key="rv_next", type="primary", on_click=_next)
    buttons[1].button("Change my vote", key="rv_again", on_click=_again)
    index = items.find(current["item"])
    rows = [] if index is None else items.rows(index)
    st.markdown("**The judges**")
    st.dataframe(judge_verdicts(rows, vote.winner, vote.model_a), hide_index=True, width="stretch")
    if vote.note:
        st.caption("your note")
        st.code(vote.note, language=None, wrap_lines=True)
    if st.toggle("show the judges' reasoning", key="rv_reasoning"):
        _reasoning(source, current["item"], rows)


def judge_verdicts(rows: list[dict[str, Any]], winner: str, model_a: str) -> pd.DataFrame:
    """One line per judge of the battle: its verdict with each answer shown first, its battle
    result, and whether it agrees with the reviewer's vote (ties as MT-Bench counts them)."""
    from arena.imports.votes import verdict_vote

    def name(verdict: str | None, a: str, b: str) -> str:
        return {"model_a": a, "model_b": b}.get(verdict or "", verdict or "-")

    mine = "tie" if winner.startswith("tie") else winner
    lines = []
    for row in rows:
        a, b = str(row["model_a"]), str(row["model_b"])
        games = row.get("games") or []
        if row.get("mode") == "single" or not games:
            orders = {"grades": f"{a} {_grade(row.get('score_a'))}, {b} {_grade(row.get('score_b'))}"} if row.get("score_a") is not None else {"verdict": "one order judged"}
        elif len(games) == 2:
            orders = {f"{a} shown first": name(games[0], a, b), f"{b} shown first": name(games[1], a, b)}
        else:  # one order judged (or one left after an error): which one the battle does not say
            orders = {"one order": name(games[0], a, b)}
        theirs = verdict_vote(games, float(row.get("outcome") if row.get("outcome") is not None else 0.5))
        if a != model_a and theirs != "tie":  # the judge's battle names the pair the other way round
            theirs = {"model_a": "model_b", "model_b": "model_a"}[theirs]
        lines.append({
            "judge": str(row["judge"]),
            "verdict in each answer order": " · ".join(f"{k}: {v}" for k, v in orders.items()),
            "result": name(row.get("winner"), a, b),
            "agrees with you": theirs == mine,
        })
    return pd.DataFrame(lines)


def _grade(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}"


def _reasoning(source: Source, item: tuple, rows: list[dict[str, Any]]) -> None:
    qid, turn, low, high = item
    for judge in sorted({str(r["judge"]) for r in rows}):
        reviews = loaders.reviews(source, judge)
        if reviews is None:
            st.caption(plain(f"{judge}: no reviews file"))
            continue
        calls = reviews[(reviews["question_id"] == qid) & (reviews["turn"] == turn)
                        & reviews["model_a"].isin([low, high]) & (reviews["model_b"].isin([low, high]) | reviews["model_b"].isna())]
        for _, call in calls.iterrows():
            title = f"{judge}: " + (f"{call['first']} shown first" if isinstance(call["model_b"], str) else f"grade of {call['model_a']}")
            st.markdown(f"**{plain(title)}** · verdict {plain(call['verdict'])}")
            show_text(call["raw"], False)


def _next() -> None:
    st.session_state.pop(_DONE, None)
    st.session_state.pop(_CURRENT, None)


def _again() -> None:
    done = st.session_state.pop(_DONE, None)
    if done is not None:
        current = dict(done["current"], vote_id=uuid.uuid4().hex, again=True)
        st.session_state[_CURRENT] = current
