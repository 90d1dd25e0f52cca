"""People's votes (arena.human_votes): casting, the shared locked store, the latest vote per
reviewer and battle, and the votes file read by `arena rate` and `arena agreement` like any
battle log."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pandas as pd
import pytest

from arena.agreement import agreement_table, people_table
from arena.battle_log import detect_format, read_battle_log
from arena.cli import main
from arena.errors import DataError
from arena.human_votes import (
    append_vote,
    battle_item,
    cast_vote,
    latest_votes,
    read_human_votes,
    read_vote_table,
    reviewer_name,
    vote_table,
    votes_path,
)
from arena.records import to_json
from arena.store import append_shared


def vote(reviewer: str, qid: str, a: str, b: str, choice: str, shown: list[str] | None = None, turn: int = 1, **kw):
    return cast_vote(reviewer=reviewer, question_id=qid, turn=turn, model_a=a, model_b=b, shown=shown or [a, b],
                     vote=choice, **kw)


@pytest.mark.parametrize(
    ("shown", "choice", "winner"),
    [
        (["x", "y"], "A", "model_a"),
        (["x", "y"], "B", "model_b"),
        (["y", "x"], "A", "model_b"),  # y was shown first: A is y, the battle's model_b
        (["y", "x"], "B", "model_a"),
        (["y", "x"], "tie", "tie"),
        (["x", "y"], "both bad", "tie (bothbad)"),
    ],
)
def test_a_vote_in_the_shown_order_is_the_battles_winner(shown, choice, winner):
    v = vote("ana", "q1", "x", "y", choice, shown)
    assert (v.vote, v.winner, v.shown) == (choice, winner, shown)
    assert v.time.endswith("+00:00") and len(v.vote_id) == 32


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"choice": "C"}, "vote: 'C'"),
        ({"shown": ["x", "z"]}, "shown: must be the battle's two models"),
        ({"reviewer": " "}, "a reviewer name is needed"),
        ({"reviewer": "a\tb"}, "control characters"),
        ({"reviewer": "n" * 65}, "at most 64"),
        ({"note": "n" * 4001}, "note: at most 4000"),
    ],
)
def test_bad_votes_are_refused(kw, message):
    args = {"reviewer": "ana", "choice": "A", "shown": ["x", "y"], **kw}
    with pytest.raises(ValueError, match=message):
        vote(args.pop("reviewer"), "q1", "x", "y", args.pop("choice"), args.pop("shown"), **args)


def test_reviewer_names_are_stripped():
    assert reviewer_name("  ana  ") == "ana"


def test_votes_round_trip_and_a_vote_sent_twice_is_stored_once(tmp_path: Path):
    path = votes_path(tmp_path)
    first = vote("ana", "q1", "x", "y", "A", note='a "quoted" note <b>')
    assert append_vote(path, first) is True
    assert append_vote(path, first) is False  # the same vote id: a form sent twice
    second = vote("ben", 7, "x", "y", "tie")
    assert append_vote(path, second) is True
    assert read_human_votes(path) == [first, second]
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_the_next_vote_cuts_a_torn_line_and_keeps_a_whole_one(tmp_path: Path):
    path = votes_path(tmp_path)
    whole = vote("ana", "q1", "x", "y", "A")
    path.parent.mkdir(parents=True)
    path.write_text(to_json(whole) + "\n" + to_json(vote("ana", "q2", "x", "y", "B"))[:40], encoding="utf-8")
    assert read_human_votes(path) == [whole]  # a reader skips the torn tail
    later = vote("ana", "q3", "x", "y", "tie")
    append_vote(path, later)
    assert read_human_votes(path) == [whole, later]
    # A last line whole but for its newline (an editor's save) is kept, not cut.
    path.write_text(to_json(whole), encoding="utf-8")
    append_vote(path, later)
    assert read_human_votes(path) == [whole, later]


def _append_many(path: str, writer: int, n: int) -> None:
    for k in range(n):
        append_shared(Path(path), json.dumps({"vote_id": f"{writer}-{k}", "pad": "x" * (k * 37 % 5000)}))


def test_writers_in_several_processes_and_threads_never_lose_or_tear_a_line(tmp_path: Path):
    path = tmp_path / "shared.jsonl"
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_append_many, args=(str(path), w, 150)) for w in range(3)]
    threads = [threading.Thread(target=_append_many, args=(str(path), 10 + w, 150)) for w in range(3)]
    for worker in [*processes, *threads]:
        worker.start()
    for worker in [*processes, *threads]:
        worker.join(timeout=120)
    lines = path.read_bytes().split(b"\n")
    assert lines.pop() == b""
    ids = [json.loads(line)["vote_id"] for line in lines]
    assert sorted(ids) == sorted(f"{w}-{k}" for w in (0, 1, 2, 10, 11, 12) for k in range(150))


def test_the_latest_vote_of_a_reviewer_counts_and_the_history_stays(tmp_path: Path):
    path = votes_path(tmp_path)
    for v in [
        vote("ana", "q1", "x", "y", "A"),
        vote("ben", "q1", "y", "x", "A", ["y", "x"]),  # the same battle named the other way round
        vote("ana", "q2", "x", "y", "A"),
        vote("ana", "q1", "x", "y", "B"),  # ana changes her mind on q1
    ]:
        append_vote(path, v)
    history = read_human_votes(path)
    latest, replaced = latest_votes(history)
    assert len(history) == 4 and replaced == 1
    assert [(v.reviewer, v.question_id, v.vote) for v in latest] == [("ben", "q1", "A"), ("ana", "q2", "A"), ("ana", "q1", "B")]
    assert battle_item("q1", 1, "y", "x") == battle_item("q1", 1, "x", "y") == ("q1", 1, "x", "y")
    table, notes = read_vote_table(path)
    assert list(table["judge"]) == ["human"] * 3
    assert "1 vote(s) replaced" in notes[0]
    assert set(vote_table(latest, "each")["judge"]) == {"human:ana", "human:ben"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda o: o.update(winner="model_a", vote="B"), r":1: winner: 'model_a' does not match vote 'B'"),
        (lambda o: o.update(shown=["x", "q"]), r":1: shown: expected the battle's two models"),
        (lambda o: o.update(vote="maybe"), r":1: vote"),
        (lambda o: o.pop("reviewer"), r":1: reviewer"),
    ],
)
def test_a_bad_line_names_the_file_line_and_field(tmp_path: Path, edit, message):
    path = votes_path(tmp_path)
    obj = json.loads(to_json(vote("ana", "q1", "x", "y", "A")))
    edit(obj)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(obj) + "\n" + to_json(vote("ana", "q2", "x", "y", "A")) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_human_votes(path)


def _run_with_votes(tmp_path: Path) -> Path:
    """A run folder by hand: judge J's battles on three items, and two reviewers' votes."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}", encoding="utf-8")
    battles = [
        # q1: J says x (both orders); q2: J's orders disagree (a tie as MT-Bench counts it); q3: J says y.
        {"question_id": "q1", "category": "c", "model_a": "x", "model_b": "y", "winner": "model_a", "judge": "J", "turn": 1,
         "outcome": 1.0, "games": ["model_a", "model_a"], "consistent": True},
        {"question_id": "q2", "category": "c", "model_a": "x", "model_b": "y", "winner": "tie", "judge": "J", "turn": 1,
         "outcome": 0.5, "games": ["model_a", "model_b"], "consistent": False},
        {"question_id": "q3", "category": "c", "model_a": "y", "model_b": "z", "winner": "model_a", "judge": "J", "turn": 1,
         "outcome": 1.0, "games": ["model_a", "model_a"], "consistent": True},
    ]
    (run / "battles.jsonl").write_text("".join(json.dumps(b) + "\n" for b in battles), encoding="utf-8")
    path = votes_path(run)
    for v in [
        vote("ana", "q1", "x", "y", "A"),          # x: agrees with J
        vote("ana", "q2", "x", "y", "A"),          # x: J tie
        vote("ana", "q3", "y", "z", "B"),          # z: J says y
        vote("ben", "q1", "x", "y", "B", ["y", "x"]),  # x again (shown second): agrees with J and ana
        vote("ben", "q3", "y", "z", "both bad"),   # tie
    ]:
        append_vote(path, v)
    return run


def test_arena_agreement_reads_a_runs_votes_beside_its_judges(tmp_path: Path, capsys):
    run = _run_with_votes(tmp_path)
    assert main(["agreement", str(run), "--out", "-"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    row = table[(table.judge_a == "J") & (table.judge_b == "human") & (table.ties == "include")].iloc[0]
    # J against five votes: q1 x=x, q2 tie≠x, q3 y≠z, q1 x=x, q3 y≠tie -> 2 of 5.
    assert (row["n"], row["agree"]) == (5, 2)
    row = table[(table.judge_a == "J") & (table.judge_b == "human") & (table.ties == "exclude")].iloc[0]
    assert (row["n"], row["agree"]) == (3, 2)  # q1 twice agree, q3 (ana) disagree
    # People with each other: q1 (x, x) agree, q3 (z, tie) disagree.
    row = table[(table.judge_a == "human") & (table.judge_b == "human") & (table.ties == "include")].iloc[0]
    assert (row["n"], row["agree"]) == (2, 1)
    assert main(["agreement", str(votes_path(run)), "--humans", "each", "--out", "-"]) == 0
    each = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert set(zip(each.judge_a, each.judge_b)) == {("human:ana", "human:ben")}


def test_people_table_matches_the_agreement_tables_it_joins(tmp_path: Path):
    run = _run_with_votes(tmp_path)
    from arena.imports.votes import read_votes

    judged = read_votes(run / "battles.jsonl")[0]
    latest, _ = latest_votes(read_human_votes(votes_path(run)))
    table = people_table(judged, vote_table(latest, "pooled"), vote_table(latest, "each"))
    pairs = list(dict.fromkeys(zip(table.judge_a, table.judge_b)))
    assert pairs == [("J", "human"), ("J", "human:ana"), ("J", "human:ben"), ("human", "human"), ("human:ana", "human:ben")]
    ana = table[(table.judge_b == "human:ana") & (table.ties == "include")].iloc[0]
    assert (ana["n"], ana["agree"]) == (3, 1)
    expected = agreement_table(judged, vote_table(latest, "pooled"))
    assert table.iloc[:2].reset_index(drop=True).equals(expected)


def test_arena_rate_reads_the_votes_file_as_a_battle_log(tmp_path: Path, capsys):
    run = _run_with_votes(tmp_path)
    path = votes_path(run)
    append_vote(path, vote("ana", "q1", "x", "y", "B"))  # replaces her first vote
    assert detect_format(path) == "human-votes"
    log = read_battle_log(path)
    assert len(log) == 5 and set(log.battles["judge"]) == {"human"}
    assert "1 vote(s) replaced" in log.notes[0]
    assert list(log.battles["outcome"]) == [1.0, 0.0, 1.0, 0.5, 0.0]  # q2 x, q3 z, q1 x (ben), q3 tie, q1 y (ana's latest)
    out = tmp_path / "rated"
    assert main(["rate", str(path), "--out", str(out), "--bootstrap", "20", "--no-style-control"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["model"]) == {"x", "y", "z"}
    # Pooled with the judge's battles: one board, and one per judge.
    assert main(["rate", str(run / "battles.jsonl"), str(path), "--out", str(tmp_path / "both"), "--bootstrap", "20",
                 "--no-style-control"]) == 0
    assert set(pd.read_csv(tmp_path / "both" / "by_judge.csv")["judge"]) == {"J", "human"}
    capsys.readouterr()


def test_an_empty_votes_file_says_so(tmp_path: Path):
    path = votes_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no votes yet"):
        read_vote_table(path)


def test_a_write_that_fails_before_its_fsync_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import os

    path = votes_path(tmp_path)
    kept = vote("ana", "q1", "x", "y", "A")
    append_vote(path, kept)
    failing = vote("ana", "q2", "x", "y", "B")
    real = os.fsync
    calls = []

    def fsync_fails_once(fd):
        calls.append(fd)
        if len(calls) == 1:
            raise OSError("I/O error")
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_once)
    with pytest.raises(OSError, match="I/O error"):
        append_vote(path, failing)
    assert read_human_votes(path) == [kept]  # not acknowledged, so not stored
    assert append_vote(path, failing) is True  # the retry is not taken for a duplicate
    assert read_human_votes(path) == [kept, failing]


def test_a_new_votes_file_and_folder_are_made_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import arena.store as store

    synced = []
    monkeypatch.setattr(store, "fsync_dir", lambda folder: synced.append(Path(folder)))
    path = votes_path(tmp_path / "run")
    append_vote(path, vote("ana", "q1", "x", "y", "A"))
    assert synced == [path.parent, path.parent.parent]
    append_vote(path, vote("ana", "q2", "x", "y", "A"))
    assert len(synced) == 2  # an existing file's name is durable already


def test_agreement_of_a_run_whose_votes_file_holds_only_a_torn_line(tmp_path: Path, capsys):
    run = _run_with_votes(tmp_path)
    votes_path(run).write_text('{"vote_id":"abc","reviewer":"an', encoding="utf-8")
    assert main(["agreement", str(run), "--out", "-"]) == 0  # the judges alone, no error
    assert "human" not in capsys.readouterr().out
