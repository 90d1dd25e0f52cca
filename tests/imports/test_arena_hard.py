"""arena-hard-auto's files in: hand-written judgments in its formats, and its shipped answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.cli import main
from arena.records import Answer, Battle, Review
from arena.store import read_records
from tests.imports.conftest import need, read_jsonl_rows, write_jsonl

QUESTIONS = [
    {"uid": "q1", "category": "arena-hard-v0.1", "cluster": "Python", "prompt": "Sort a list."},
    {"uid": "q2", "category": "arena-hard-v0.1", "cluster": "Poems", "prompt": "Write a haiku."},
]


def _answer(model: str, uid: str, text: str) -> dict:
    return {"uid": uid, "ans_id": f"{model}-{uid}", "model": model, "tstamp": 1711000000.0,
            "messages": [{"role": "user", "content": "?"}, {"role": "assistant", "content": {"answer": text}}],
            "metadata": {"token_len": len(text.split())}}


def _judgment(uid: str, model: str, scores: list, *, baseline: str | None = "base") -> dict:
    row = {"uid": uid, "category": "arena-hard-v0.1", "judge": "gpt-4-1106-preview", "model": model,
           "games": [None if s is None else {"score": s, "judgment": {"answer": f"verdict [[{s}]]"},
                                             "prompt": [{"role": "user", "content": f"{uid} {model}"}]} for s in scores]}
    if baseline is not None:
        row["baseline"] = baseline
    return row


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    root = tmp_path / "arena-hard-v0.1"
    write_jsonl(root / "question.jsonl", QUESTIONS)
    for model, length in (("base", 3), ("m1", 8), ("m2", 1)):
        write_jsonl(root / "model_answer" / f"{model}.jsonl",
                    [_answer(model, q["uid"], " ".join(["word"] * length) + q["uid"]) for q in QUESTIONS])
    judge = root / "model_judgment" / "gpt-4-1106-preview"
    # Game 1 shows the baseline as A, game 2 the model as A.
    write_jsonl(judge / "m1.jsonl", [_judgment("q1", "m1", ["A>>B", "A>B"]), _judgment("q2", "m1", ["B>A", "A>>B"])])
    write_jsonl(judge / "m2.jsonl", [_judgment("q1", "m2", ["A=B", None]), _judgment("q2", "m2", ["B<<A", "B>A"])])
    return root


def test_games_reviews_and_strong_verdict_weights(bench, tmp_path):
    run = tmp_path / "run"
    assert main(["import", "arena-hard", str(bench), "--run", str(run)]) == 0
    reviews = {(r.question_id, r.model_a, r.first): r for r in read_records(run / "reviews" / "gpt-4-1106-preview.jsonl", Review)}
    assert len(reviews) == 8
    g1 = reviews[("q1", "m1", "base")]
    assert (g1.model_b, g1.verdict, g1.winner, g1.raw, g1.template) == ("base", "A>>B", "model_b", "verdict [[A>>B]]", "arena-hard")
    assert reviews[("q1", "m1", "m1")].winner == "model_a"
    assert reviews[("q1", "m2", "m2")].status == "error"  # a game without a result
    assert reviews[("q2", "m2", "base")].verdict == "A>>B"  # "B<<A" read as the same verdict
    battles = {(b.question_id, b.model_a): b for b in read_records(run / "battles.jsonl", Battle)}
    # A strong loss (weight 3) and a plain win: outcome (3*0 + 1*1) / 4, weight the mean of 3 and 1.
    assert battles[("q1", "m1")].outcome == pytest.approx(0.25) and battles[("q1", "m1")].weight == 2.0
    assert battles[("q2", "m1")].outcome == pytest.approx(1.0) and battles[("q2", "m1")].weight == 2.0
    assert battles[("q1", "m2")].winner == "tie" and battles[("q1", "m2")].games == ["tie"]
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["judges"]["gpt-4-1106-preview"]["baseline"] == "base"
    assert manifest["judges"]["gpt-4-1106-preview"]["strong_verdict_weight"] == 3.0
    answers = {a.question_id: a for a in read_records(run / "answers" / "m1.jsonl", Answer)}
    assert answers["q1"].answer_id == "m1-q1" and answers["q1"].output_tokens == [8]
    assert read_jsonl_rows(run / "question.jsonl")[0] == {"question_id": "q1", "category": "arena-hard-v0.1", "turns": ["Sort a list."], "cluster": "Python"}


def test_strong_weight_option(bench, tmp_path):
    run = tmp_path / "run"
    assert main(["import", "arena-hard", str(bench), "--run", str(run), "--strong-weight", "1"]) == 0
    battles = {(b.question_id, b.model_a): b for b in read_records(run / "battles.jsonl", Battle)}
    assert battles[("q1", "m1")].outcome == pytest.approx(0.5)


def test_older_rows_need_the_baseline(bench, tmp_path, capsys):
    judge = bench / "model_judgment" / "gpt-4-1106-preview"
    old = {"question_id": "q1", "model": "m1", "judge": "gpt-4-1106-preview",
           "games": [{"user_prompt": "...", "judgment": "[[B>A]]", "score": "B>A"}, {"user_prompt": "...", "judgment": "[[B>A]]", "score": "B>A"}]}
    write_jsonl(judge / "m1.jsonl", [old])
    (judge / "m2.jsonl").unlink()
    assert main(["import", "arena-hard", str(bench), "--run", str(tmp_path / "run")]) == 2
    assert "baseline: not in the row; pass --baseline" in capsys.readouterr().err
    run = tmp_path / "run2"
    assert main(["import", "arena-hard", str(bench), "--run", str(run), "--baseline", "base"]) == 0
    (battle,) = read_records(run / "battles.jsonl", Battle)
    # Game 1: model (B) beats the baseline (A); game 2: the baseline (B) beats the model (A).
    assert (battle.model_a, battle.model_b, battle.winner, battle.consistent) == ("m1", "base", "tie", False)


def test_shipped_answers_round_trip_through_fastchat(tmp_path):
    source = need("arena-hard/arena-hard-v0.1")
    run, export, again = tmp_path / "run", tmp_path / "fc", tmp_path / "again"
    assert main(["import", "arena-hard", str(source), "--run", str(run)]) == 0
    assert main(["export", "fastchat", "--run", str(run), "--out", str(export)]) == 0
    questions = read_jsonl_rows(source / "question.jsonl")
    exported = read_jsonl_rows(export / "question.jsonl")
    assert [{"uid": q["question_id"], "category": q["category"], "cluster": q["cluster"], "prompt": q["turns"][0]} for q in exported] == questions
    for model in ("gpt-4-0314", "gpt-4-0613", "gpt-3.5-turbo-0125"):
        original = read_jsonl_rows(source / "model_answer" / f"{model}.jsonl")
        rows = read_jsonl_rows(export / "model_answer" / f"{model}.jsonl")
        assert len(rows) == len(original) == 500
        for theirs, ours in zip(original, rows):
            assert ours == {"question_id": theirs["uid"], "answer_id": theirs["ans_id"], "model_id": theirs["model"],
                            "choices": [{"index": 0, "turns": [theirs["messages"][-1]["content"]["answer"]]}],
                            "tstamp": theirs["tstamp"]}
    assert main(["import", "fastchat", str(export), "--run", str(again)]) == 0
    for model in ("gpt-4-0314", "gpt-4-0613", "gpt-3.5-turbo-0125"):
        first = [(a.question_id, a.answer_id, a.model_id, a.choices, a.tstamp) for a in read_records(run / "answers" / f"{model}.jsonl", Answer)]
        second = [(a.question_id, a.answer_id, a.model_id, a.choices, a.tstamp) for a in read_records(again / "answers" / f"{model}.jsonl", Answer)]
        assert first == second
