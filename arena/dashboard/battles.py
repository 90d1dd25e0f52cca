"""The battle browser: pick a question, two models and a judge; see the question, both answers
side by side, the judge's reasoning and verdict for each order, and the reference answer.

Filters narrow the battles first: disagreements between the two orders, ties, judge calls that
ended in an error, or one model's losses. Every text shown here (questions, answers, judge
replies, names) is untrusted and goes through `safe.safe_markdown`, `safe.plain` or `st.code`,
never raw HTML."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from arena.dashboard import loaders
from arena.dashboard.loaders import Source
from arena.dashboard.safe import plain, safe_markdown

FILTERS = ("all battles", "disagreements between orders", "ties", "errors", "losses of one model")
TIES = ("tie", "tie (bothbad)")


def filter_battles(battles: pd.DataFrame, kind: str, model: str | None = None) -> pd.DataFrame:
    """The battles a filter keeps ("errors" is answered from the reviews, not here)."""
    if kind == "disagreements between orders":
        return battles[battles["consistent"].eq(False)]
    if kind == "ties":
        return battles[battles["winner"].isin(TIES)]
    if kind == "losses of one model" and model is not None:
        lost_a = (battles["model_a"] == model) & (battles["winner"] == "model_b")
        lost_b = (battles["model_b"] == model) & (battles["winner"] == "model_a")
        return battles[lost_a | lost_b]
    return battles


def error_calls(source: Source, judges: list[str]) -> pd.DataFrame:
    """Judge calls with status "error" (no verdict after the retries) as battle-like rows."""
    parts = []
    for judge in judges:
        reviews = loaders.reviews(source, judge)
        if reviews is not None:
            parts.append(reviews[reviews["status"] == "error"])
    if not parts:
        return pd.DataFrame(columns=["question_id", "model_a", "model_b", "judge", "turn", "winner", "category"])
    errors = pd.concat(parts, ignore_index=True)
    errors = errors.assign(winner="(error)", category="")
    return errors


def linked(options: list, param: str) -> int:
    """The option a link asks for (`?view=battles&judge=J&question=Q&pair=A vs B&turn=T`), so
    any battle is one URL away; the first option otherwise."""
    wanted = st.query_params.get(param)
    texts = [str(o) for o in options]
    return texts.index(wanted) if wanted in texts else 0


def show_text(text: object, as_markdown: bool) -> None:
    """Untrusted text: sanitised markdown (code highlighted) or verbatim."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        st.caption("(none)")
    elif as_markdown:
        st.markdown(safe_markdown(text))
    else:
        st.code(str(text), language=None, wrap_lines=True)


def render(source: Source) -> None:
    st.subheader("Battle browser")
    battles = loaders.battles(source)
    if battles.empty:
        st.info(plain(f"{source.battles_path}: no battles"))
        return
    judges = sorted(battles["judge"].astype(str).unique())
    top = iter(st.columns(3))
    judge = next(top).selectbox("judge", ["all", *judges], index=linked(["all", *judges], "judge"), key="browser_judge") if len(judges) > 1 else judges[0]
    kind = next(top).selectbox("filter", FILTERS, key="browser_filter")
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    loser = next(top).selectbox("model", models, key="browser_loser") if kind == "losses of one model" else None
    if judge != "all":
        battles = battles[battles["judge"] == judge]
    if kind == "errors":
        chosen = error_calls(source, judges if judge == "all" else [judge])
        if chosen.empty:
            st.info("no judge call ended in an error")
            return
    else:
        chosen = filter_battles(battles, kind, loser)
    st.caption(plain(f"{len(chosen)} of {len(battles)} battles match"))
    if chosen.empty:
        return
    questions, note = loaders.questions(source)
    qids = list(dict.fromkeys(chosen["question_id"].astype(str)))

    def label(qid: str) -> str:
        q = questions.get(qid)
        if q is None:
            return qid
        first = " ".join(q["turns"][0].split())[:70] if q["turns"] else ""
        return f"{qid} · {q['category']} · {first}"

    row = st.columns(3)
    qid = row[0].selectbox("question", qids, index=linked(qids, "question"), format_func=label, key="browser_question")
    rows = chosen[chosen["question_id"].astype(str) == qid]
    pairs = list(dict.fromkeys(f"{a} vs {b}" for a, b in zip(rows["model_a"], rows["model_b"].fillna(""))))
    pair = row[1].selectbox("models", pairs, index=linked(pairs, "pair"), key="browser_pair")
    rows = rows[[f"{a} vs {b}" == pair for a, b in zip(rows["model_a"], rows["model_b"].fillna(""))]]
    turns = sorted(rows["turn"].unique())
    turn = row[2].selectbox("turn", turns, index=linked(turns, "turn"), key="browser_turn") if len(turns) > 1 else turns[0]
    battle = rows[rows["turn"] == turn].iloc[0]
    as_markdown = st.toggle("render markdown", value=True, key="browser_markdown", help="off: show the raw text")
    _show_battle(source, battle, questions.get(qid), note, as_markdown)


def _show_battle(source: Source, battle: pd.Series, question: dict | None, note: str | None, as_markdown: bool) -> None:
    model_a, model_b, turn = str(battle["model_a"]), battle["model_b"], int(battle["turn"])
    verdict = f"winner: **{plain(battle['winner'])}** · judge {plain(battle['judge'])} · turn {plain(turn)}"
    if isinstance(battle.get("games"), list) and battle["games"]:
        verdict += f" · orders: {plain(', '.join(map(str, battle['games'])))}"
    if battle.get("consistent") is False:
        verdict += " · the two orders disagree"
    st.markdown(verdict)
    if question is None:
        st.caption(plain(note or "question text not available"))
    else:
        st.markdown("**Question**")
        for t, text in enumerate(question["turns"][:turn], start=1):
            if len(question["turns"]) > 1:
                st.caption(plain(f"turn {t}"))
            show_text(text, as_markdown)
        reference = question.get("reference") or []
        if reference:
            with st.expander("reference answer", expanded=False):
                for text in reference[:turn]:
                    show_text(text, as_markdown)
    sides = [model_a] + ([str(model_b)] if isinstance(model_b, str) and model_b else [])
    columns = st.columns(len(sides))
    for column, model in zip(columns, sides):
        with column:
            st.markdown(f"**{plain(model)}**")
            answers = loaders.answers(source, model)
            if answers is None:
                st.caption("no answers file for this model in the run")
                continue
            turns = answers.get(str(battle["question_id"]))
            if turns is None:
                st.caption("this model has no answer to this question")
                continue
            for t, text in enumerate(turns[:turn], start=1):
                if turn > 1:
                    st.caption(plain(f"turn {t}"))
                show_text(text, as_markdown)
    _show_reviews(source, battle, sides, as_markdown)


def _show_reviews(source: Source, battle: pd.Series, sides: list[str], as_markdown: bool) -> None:
    reviews = loaders.reviews(source, str(battle["judge"]))
    if reviews is None:
        st.caption("no reviews file for this judge (a bare battle log, or reviews not kept)")
        return
    mine = reviews[(reviews["question_id"] == str(battle["question_id"])) & (reviews["turn"] == int(battle["turn"]))]
    single = battle.get("mode") == "single" or len(sides) == 1
    if single:  # one grading call per answer: the two models' own calls
        mine = mine[mine["model_a"].isin(sides) & mine["model_b"].isna()]
    else:
        mine = mine[(mine["model_a"] == sides[0]) & (mine["model_b"] == sides[1])]
    if mine.empty:
        st.caption("no judge calls recorded for this battle")
        return
    st.markdown("**Judge**")
    columns = st.columns(len(mine)) if len(mine) <= 3 else [st.container() for _ in range(len(mine))]
    for column, (_, review) in zip(columns, mine.iterrows()):
        with column:
            if not single:
                head = f"shown first: **{plain(review['first'])}** · verdict {plain(review['verdict'])} → {plain(review['winner'])}"
            else:
                head = f"grade of **{plain(review['model_a'])}**: {plain(review['score'])}"
            if review["status"] != "ok":
                head += f" · error: {plain(review['error'])}"
            st.markdown(head)
            show_text(review["raw"], as_markdown)
