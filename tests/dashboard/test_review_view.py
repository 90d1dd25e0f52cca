"""The Review view through Streamlit's AppTest: the reviewer's name, blind battles, the vote and
its reveal, changing a vote, the samplings, the agreement figures, and refusing votes on an
address beyond this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from arena.config import load_config
from arena.human_votes import latest_votes, read_human_votes, votes_path
from arena.pipeline import plan_run, run_pipeline
from tests.dashboard.conftest import VIZ, dry_run_config, shown

MODELS = ("m1", "m2", "m3", "m4")


@pytest.fixture
def review_app(monkeypatch: pytest.MonkeyPatch):
    from streamlit.testing.v1 import AppTest

    def _app(*argv: str):
        monkeypatch.setattr(sys, "argv", ["viz.py", *argv])
        at = AppTest.from_file(str(VIZ), default_timeout=60)
        at.query_params["view"] = "review"
        return at.run()

    return _app


def texts(at) -> str:
    """Everything the page says in text elements and tables (what a name could hide in)."""
    parts = [e.value for kind in ("markdown", "caption", "success", "info", "error", "warning", "code") for e in getattr(at, kind)]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    parts += [w.label for w in [*at.button, *at.selectbox, *at.checkbox, *at.text_area, *at.text_input, *at.toggle]]
    parts += [str(o) for box in at.selectbox for o in box.options]
    return shown("\n".join(map(str, parts)))


def problems(at) -> list:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def sign_in(at, name: str = "ana"):
    at.text_input(key="rv_name_input").input(name)
    at.button[0].click()
    return at.run()


def click(at, label: str):
    next(b for b in at.button if b.label == label).click()
    return at.run()


def shown_names(at) -> list[str]:
    line = next(m.value for m in at.markdown if m.value.startswith("Answer A was"))
    return [name for name in MODELS if f"**{name}**" in line]


def test_the_reviewer_names_themselves_once(review_app, copy_run):
    at = review_app("--run", str(copy_run()))
    assert problems(at) == []
    assert [b.label for b in at.button] == ["Start reviewing"]
    at.text_input(key="rv_name_input").input("   ")
    at.button[0].click()
    at.run()
    assert any("a reviewer name is needed" in shown(e.value) for e in at.error)
    at = sign_in(at, "ana")
    assert "reviewing as ana" in texts(at)
    assert "A is better" in [b.label for b in at.button]
    at = click(at, "change name")
    assert [b.label for b in at.button] == ["Start reviewing"]


def test_a_blind_vote_is_stored_then_the_models_and_judges_are_revealed(review_app, copy_run):
    run = copy_run()
    at = sign_in(review_app("--run", str(run)))
    before = texts(at)
    # m1's answer to t1 is an HTML payload elsewhere in these tests; names are the point here.
    assert [m for m in MODELS if m in before.replace("m1.jsonl", "")] == []
    assert "Answer A" in before and "Answer B" in before
    at.text_area(key="rv_note").input("B rambles")
    at = click(at, "A is better")
    assert problems(at) == []
    assert at.success[0].value.startswith("Vote recorded")
    names = shown_names(at)
    assert len(names) == 2
    (stored,) = read_human_votes(votes_path(run))
    assert (stored.reviewer, stored.vote, stored.note) == ("ana", "A", "B rambles")
    assert set(stored.shown) == set(names)
    assert f"Answer A was **{stored.shown[0]}**" in "\n".join(m.value for m in at.markdown)
    judges = at.dataframe[0].value
    assert set(judges["judge"]) == {"pj", "grader"}
    assert "agrees with you" in judges.columns
    # Next: a new blind battle, the form empty again.
    at = click(at, "Next battle")
    assert at.text_area(key="rv_note").value == ""
    assert "A is better" in [b.label for b in at.button]


def test_changing_a_vote_keeps_the_history_and_the_latest_counts(review_app, copy_run):
    run = copy_run()
    at = sign_in(review_app("--run", str(run)))
    at = click(at, "A is better")
    first = shown_names(at)
    at = click(at, "Change my vote")
    assert "voting again on this battle" in texts(at)
    at = click(at, "Both are bad")
    assert shown_names(at) == first  # the same battle, shown in the same order
    history = read_human_votes(votes_path(run))
    latest, replaced = latest_votes(history)
    assert [v.vote for v in history] == ["A", "both bad"] and replaced == 1
    assert [v.vote for v in latest] == ["both bad"]
    assert history[0].vote_id != history[1].vote_id


def test_a_fixed_reviewer_skips_the_name_and_the_samplings_work(review_app, copy_run):
    run = copy_run()
    at = review_app("--run", str(run), "--reviewer", "fixed")
    assert "reviewing as fixed (set by --reviewer)" in texts(at)
    sampling = at.selectbox(key="rv_sampling")
    assert sampling.options == ["random", "judge order flips first"]  # no probability verdicts here
    at = sampling.set_value("judge order flips first").run()
    at = click(at, "Tie")
    (vote,) = read_human_votes(votes_path(run))
    battles = [b for b in load_battles(run) if b["question_id"] == vote.question_id and b["turn"] == vote.turn
               and {b["model_a"], b["model_b"]} == {vote.model_a, vote.model_b}]
    assert any(b.get("consistent") is False for b in battles)  # a battle whose judge orders disagree came first
    at = click(at, "Next battle")
    # One category, voted through: the page says so instead of offering a battle.
    category = at.selectbox(key="rv_category")
    at = category.set_value("writing").run()
    for _ in range(40):
        if "You have voted on every battle" in texts(at):
            break
        at = click(click(at, "B is better"), "Next battle")
    assert "You have voted on every battle of this selection" in texts(at)
    assert {v.category for v in read_human_votes(votes_path(run))[1:]} == {"writing"}


def load_battles(run: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run / "battles.jsonl").read_text(encoding="utf-8").splitlines()]


def test_agreement_and_the_two_leaderboards(review_app, copy_run):
    run = copy_run()
    at = sign_in(review_app("--run", str(run)))
    side = texts(at)
    assert "0 vote(s) by 0 reviewer(s)" in side
    for choice in ("A is better", "B is better", "Tie"):
        at = click(click(at, choice), "Next battle")
    assert "3 vote(s) by 1 reviewer(s)" in texts(at)
    assert "pj with people" in texts(at)
    at = at.radio(key="rv_part").set_value("agreement and leaderboards").run()
    assert problems(at) == []
    agreement, boards, votes = (f.value for f in at.dataframe)
    assert {"pj", "grader"} <= set(agreement["judge_a"]) and set(agreement["judge_b"]) >= {"human", "human:ana"}
    assert {"people rating", "people ci_low", "judge rating", "judge rank"} <= set(boards.columns)
    assert len(votes) == 3 and set(votes["reviewer"]) == {"ana"}


def test_probability_verdicts_offer_the_least_confident_first(review_app, tmp_path: Path):
    config = dry_run_config(tmp_path / "runs" / "prob")
    config["judges"] = [{"name": "pj", "provider": "simulated", "mode": "pairwise-all", "verdict_weighting": "probability"}]
    config["stages"] = ["answers", "reviews", "ratings"]
    config.pop("benchmarks")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_pipeline(plan_run(load_config(path)))
    at = review_app("--run", str(tmp_path / "runs" / "prob"), "--reviewer", "ana")
    sampling = at.selectbox(key="rv_sampling")
    assert "least confident first" in sampling.options
    at = sampling.set_value("least confident first").run()
    at = click(at, "A is better")
    (vote,) = read_human_votes(votes_path(tmp_path / "runs" / "prob"))
    outcomes = {(b["question_id"], b["turn"], frozenset((b["model_a"], b["model_b"]))): b["outcome"]
                for b in load_battles(tmp_path / "runs" / "prob")}
    closest = min(abs(o - 0.5) for o in outcomes.values())
    assert abs(outcomes[(vote.question_id, vote.turn, frozenset((vote.model_a, vote.model_b)))] - 0.5) == closest


def test_votes_are_refused_on_a_wider_address_unless_allowed(review_app, copy_run):
    import streamlit as st

    run = copy_run()
    old = st.get_option("server.address")
    st.config.set_option("server.address", "0.0.0.0")
    try:
        at = review_app("--run", str(run), "--reviewer", "ana")
        assert any("voting is off" in shown(e.value) for e in at.error)
        assert "A is better" not in [b.label for b in at.button]
        at = review_app("--run", str(run), "--reviewer", "ana", "--allow-remote")
        assert "A is better" in [b.label for b in at.button]
    finally:
        st.config.set_option("server.address", old)


def test_a_proxy_header_names_the_reviewer_or_voting_stops(review_app, copy_run):
    at = review_app("--run", str(copy_run()), "--reviewer-header", "X-Forwarded-User")
    assert any("no X-Forwarded-User header" in shown(e.value) for e in at.error)
    assert "A is better" not in [b.label for b in at.button]


def test_a_bare_battle_log_has_nothing_to_review(review_app, dash_run: Path):
    at = review_app("--review-file", str(dash_run / "battles.jsonl"))
    assert any("reviewing needs a run folder" in shown(i.value) for i in at.info)


def test_a_battle_gone_from_a_rewritten_log_is_not_voted_on(review_app, copy_run):
    import json

    run = copy_run()
    at = sign_in(review_app("--run", str(run)))
    qid = at.session_state["rv_current"]["item"][0]
    assert not any(c.value.startswith("question ") for c in at.caption)  # no question id before the vote
    battles = [b for b in load_battles(run) if str(b["question_id"]) != qid]
    (run / "battles.jsonl").write_text("".join(json.dumps(b) + "\n" for b in battles), encoding="utf-8")
    at = click(at, "A is better")
    assert any("no longer in the run's battles.jsonl" in shown(e.value) for e in at.error)
    assert not votes_path(run).exists()
    assert "A is better" in [b.label for b in at.button]  # another battle is offered


def test_an_unreadable_answers_file_does_not_name_the_model_before_the_vote(review_app, copy_run):
    run = copy_run()
    for model in MODELS:
        path = run / "answers" / f"{model}.jsonl"
        path.write_text(path.read_text(encoding="utf-8") + '{"question_id": "t9"}\n', encoding="utf-8")
    at = sign_in(review_app("--run", str(run)))
    page = texts(at)
    assert "answer A: its answers file cannot be read" in page
    assert [m for m in MODELS if m in page] == []
    assert "A is better" in [b.label for b in at.button]


def test_a_bad_votes_line_pauses_voting_without_quoting_it(review_app, copy_run):
    run = copy_run()
    votes_path(run).parent.mkdir(parents=True)
    votes_path(run).write_text('{"vote_id": "x", "reviewer": "ana", "model_a": "m1", "model_b": "m1"}\n{}\n', encoding="utf-8")
    at = sign_in(review_app("--run", str(run)))
    page = texts(at)
    assert "a line cannot be read, so voting is paused" in page
    assert [m for m in MODELS if m in page.replace("m1.jsonl", "")] == []
    assert "A is better" not in [b.label for b in at.button]


def test_others_votes_stay_hidden_until_the_reviewer_voted_on_the_battle(review_app, copy_run):
    run = copy_run()
    ben = sign_in(review_app("--run", str(run)), "ben")
    for choice in ("A is better", "B is better"):
        ben = click(click(ben, choice), "Next battle")
    ana = sign_in(review_app("--run", str(run)), "ana")
    ana = ana.radio(key="rv_part").set_value("agreement and leaderboards").run()
    assert set(ana.dataframe[-1].value["reviewer"]) <= {"ana"} and len(ana.dataframe[-1].value) == 0
    ana = ana.radio(key="rv_part").set_value("vote").run()
    ana = click(click(ana, "Tie"), "Next battle")  # the shared order: ben's first battle
    ana = ana.radio(key="rv_part").set_value("agreement and leaderboards").run()
    table = ana.dataframe[-1].value
    assert sorted(table["reviewer"]) == ["ana", "ben"] and len(set(table["question"])) == 1


def test_a_padded_reviewer_name_is_the_stored_name(review_app, copy_run):
    run = copy_run()
    at = review_app("--run", str(run), "--reviewer", "  ana  ")
    at = click(click(at, "A is better"), "Next battle")
    assert "you have voted on 1" in texts(at)
    assert [v.reviewer for v in read_human_votes(votes_path(run))] == ["ana"]


def test_looking_at_the_results_keeps_the_open_battle_and_the_sampling(review_app, copy_run):
    at = sign_in(review_app("--run", str(copy_run())))
    at = at.selectbox(key="rv_sampling").set_value("judge order flips first").run()
    battle = at.session_state["rv_current"]["item"]
    at = at.radio(key="rv_part").set_value("agreement and leaderboards").run()
    at = at.radio(key="rv_part").set_value("vote").run()
    assert at.selectbox(key="rv_sampling").value == "judge order flips first"
    assert at.session_state["rv_current"]["item"] == battle


def test_a_vote_that_cannot_be_stored_says_so_and_keeps_the_note(review_app, copy_run, monkeypatch: pytest.MonkeyPatch):
    import arena.dashboard.review as review

    run = copy_run()
    at = sign_in(review_app("--run", str(run)))
    with monkeypatch.context() as patch:
        patch.setattr(review, "append_vote", lambda path, vote: (_ for _ in ()).throw(OSError("disk full")))
        at.text_area(key="rv_note").input("keep me")
        at = click(at, "A is better")
        assert any("the vote was not stored: disk full" in shown(e.value) for e in at.error)
        assert at.text_area(key="rv_note").value == "keep me"
    at = click(at, "B is better")
    assert at.success[0].value.startswith("Vote recorded")
    (vote,) = read_human_votes(votes_path(run))
    assert (vote.vote, vote.note) == ("B", "keep me")


def test_the_reveal_labels_a_single_judged_order_as_such():
    from arena.dashboard.review import judge_verdicts

    rows = [{"judge": "J", "model_a": "m1", "model_b": "m2", "games": ["model_b"], "outcome": 0.0, "winner": "model_b", "mode": "pairwise-all"}]
    line = judge_verdicts(rows, "model_b", "m1").iloc[0]
    assert line["verdict in each answer order"] == "one order: m2" and bool(line["agrees with you"])
    rows[0]["games"] = ["model_a", "tie"]
    line = judge_verdicts(rows, "model_a", "m2").iloc[0]  # the vote names the pair the other way round
    assert line["verdict in each answer order"] == "m1 shown first: m1 · m2 shown first: tie"
    assert not line["agrees with you"]
