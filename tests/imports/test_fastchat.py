"""FastChat's llm_judge files in and out, on rows written by hand in its published formats."""

from __future__ import annotations

import json
from pathlib import Path

from arena.cli import main
from arena.records import Battle, Review
from arena.store import read_records
from tests.imports.conftest import REPO, need, pair_row, read_jsonl_rows, single_row, write_jsonl


def _import(source: Path, run: Path) -> int:
    return main(["import", "fastchat", str(source), "--run", str(run)])


def _reviews(run: Path, judge: str) -> dict[tuple, Review]:
    return {(r.question_id, r.turn, r.model_a, r.model_b, r.first): r for r in read_records(run / "reviews" / f"{judge}.jsonl", Review)}


def test_pair_games_become_reviews_in_both_orders(fastchat_dir, tmp_path):
    run = tmp_path / "run"
    assert _import(fastchat_dir, run) == 0
    reviews = _reviews(run, "gpt-4_pair")
    assert len(reviews) == 10
    # Game 1 shows model_1 as A; game 2 shows model_2 as A; winners are in model terms.
    g1 = reviews[(81, 1, "vicuna", "llama", "vicuna")]
    g2 = reviews[(81, 1, "vicuna", "llama", "llama")]
    assert (g1.verdict, g1.winner, g1.template) == ("A", "model_a", "pair-v2")
    assert (g2.verdict, g2.winner) == ("A", "model_b")
    assert g1.raw == "Game 1. [[A]]" and g1.prompt_hash
    error = reviews[(81, 1, "alpaca", "llama", "llama")]
    assert error.status == "error" and error.winner is None and error.verdict is None
    math_game = reviews[(111, 1, "vicuna", "alpaca", "alpaca")]
    assert (math_game.template, math_game.verdict, math_game.winner) == ("pair-math-v1", "A", "model_b")
    assert reviews[(81, 2, "vicuna", "alpaca", "vicuna")].template == "pair-v2-multi-turn"
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["imported_from"]["tool"] == "fastchat"
    assert manifest["judges"]["gpt-4_pair"] == {"mode": "pairwise-all", "model": "gpt-4", "baseline": None,
                                                "strong_verdict_weight": 1.0, "position_known": True}


def test_battles_combine_the_orders_like_the_pipeline(fastchat_dir, tmp_path):
    run = tmp_path / "run"
    assert _import(fastchat_dir, run) == 0
    battles = {(b.judge, b.question_id, b.turn, b.model_a, b.model_b): b for b in read_records(run / "battles.jsonl", Battle)}
    agree = battles[("gpt-4_pair", 81, 1, "vicuna", "alpaca")]
    assert (agree.winner, agree.outcome, agree.consistent, agree.category) == ("model_a", 1.0, True, "writing")
    split = battles[("gpt-4_pair", 81, 1, "vicuna", "llama")]
    assert (split.winner, split.outcome, split.consistent) == ("tie", 0.5, False)
    one_order = battles[("gpt-4_pair", 81, 1, "alpaca", "llama")]
    assert (one_order.games, one_order.consistent) == (["tie"], None)
    assert battles[("gpt-4_pair", 111, 1, "vicuna", "alpaca")].category == "math"
    assert battles[("gpt-4_pair", 81, 2, "vicuna", "alpaca")].outcome == 0.75
    # Single grades: llama's -1 is a grading without a rating (no battle); 9 vs 9 is a tie.
    single = {k[1:]: b for k, b in battles.items() if k[0] == "gpt-4_single"}
    assert single[(81, 1, "alpaca", "vicuna")].winner == "model_b"
    assert single[(111, 1, "alpaca", "vicuna")].winner == "tie"
    assert not any("llama" in (k[2], k[3]) for k in single)
    assert all(b.style_a is not None and b.style_a.chars > 0 for b in battles.values())


def test_single_scores_of_minus_one_are_error_reviews(fastchat_dir, tmp_path):
    run = tmp_path / "run"
    assert _import(fastchat_dir, run) == 0
    reviews = _reviews(run, "gpt-4_single")
    assert reviews[(81, 1, "llama", None, "llama")].status == "error"
    vicuna = reviews[(81, 1, "vicuna", None, "vicuna")]
    assert (vicuna.mode, vicuna.score, vicuna.verdict, vicuna.template) == ("single", 8.0, "8", "single-v1")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["import"]["reviews"]["gpt-4_single"] == {"reviews": 5, "errors": 1}
    assert summary["bias"]["gpt-4_single"]["parse_failure_rate"] == 0.2
    assert summary["bias"]["gpt-4_pair"]["parse_failure_rate"] == 0.1


def test_export_writes_the_files_back_field_for_field(fastchat_dir, tmp_path):
    run, out = tmp_path / "run", tmp_path / "export"
    assert _import(fastchat_dir, run) == 0
    assert main(["export", "fastchat", "--run", str(run), "--out", str(out)]) == 0
    for name in ("question.jsonl", "reference_answer/gpt-4.jsonl", "model_answer/vicuna.jsonl", "model_answer/llama.jsonl"):
        assert read_jsonl_rows(out / name) == read_jsonl_rows(fastchat_dir / name), name
    # Judgments: every field FastChat's readers use comes back; the user prompts do not (runs keep
    # only their hash).
    for name in ("gpt-4_pair.jsonl", "gpt-4_single.jsonl"):
        original = read_jsonl_rows(fastchat_dir / "model_judgment" / name)
        exported = read_jsonl_rows(out / "model_judgment" / name)
        dropped = [{k: v for k, v in row.items() if not k.endswith("user_prompt")} for row in original]
        assert sorted(exported, key=json.dumps) == sorted(dropped, key=json.dumps), name


def test_reimporting_an_export_gives_the_same_records(fastchat_dir, tmp_path):
    run, out, again = tmp_path / "run", tmp_path / "export", tmp_path / "again"
    assert _import(fastchat_dir, run) == 0
    assert main(["export", "fastchat", "--run", str(run), "--out", str(out)]) == 0
    assert _import(out, again) == 0
    for judge in ("gpt-4_pair", "gpt-4_single"):
        first = [r.__dict__ | {"prompt_hash": ""} for r in read_records(run / "reviews" / f"{judge}.jsonl", Review)]
        second = [r.__dict__ for r in read_records(again / "reviews" / f"{judge}.jsonl", Review)]
        assert sorted(first, key=repr) == sorted(second, key=repr)
    assert (run / "battles.jsonl").read_text() == (again / "battles.jsonl").read_text()
    for model in ("vicuna", "alpaca", "llama"):
        assert (run / "answers" / f"{model}.jsonl").read_text() == (again / "answers" / f"{model}.jsonl").read_text()


def test_a_pipeline_run_exports_with_its_config_questions(tmp_path, write_config):
    from tests.conftest import base_config

    out = tmp_path / "run"
    config = base_config(out)
    config["judges"].append({"name": "grader", "provider": "simulated", "mode": "single"})
    assert main(["run", "-c", str(write_config(config)), "--stages", "answers,reviews"]) == 0
    export = tmp_path / "fc"
    assert main(["export", "fastchat", "--run", str(out), "--out", str(export)]) == 0
    # The config names the registry's tiny set: its rows come out as published.
    assert read_jsonl_rows(export / "question.jsonl") == read_jsonl_rows(REPO / "registry" / "questions" / "tiny" / "question.jsonl")
    pair = read_jsonl_rows(export / "model_judgment" / "j_pair.jsonl")
    assert len(pair) == 8 * 2 * 3  # questions x turns x pairs, both orders in one row
    assert {r["g1_winner"] for r in pair} <= {"model_1", "model_2", "tie"} and all("g2_winner" in r for r in pair)
    assert pair[0]["judge"] == ["j", "pairwise-abc"]
    single = read_jsonl_rows(export / "model_judgment" / "grader_single.jsonl")
    assert len(single) == 8 * 2 * 3 and all(1 <= r["score"] <= 10 for r in single)
    answers = read_jsonl_rows(export / "model_answer" / "m1.jsonl")
    assert set(answers[0]) == {"question_id", "answer_id", "model_id", "choices", "tstamp"}
    # ...and FastChat's files come back in as the same battles.
    again = tmp_path / "again"
    assert _import(export, again) == 0
    ours = {(b.question_id, b.turn, b.model_a, b.model_b, b.winner) for b in read_records(out / "battles.jsonl", Battle) if b.judge == "j"}
    theirs = {(b.question_id, b.turn, b.model_a, b.model_b, b.winner) for b in read_records(again / "battles.jsonl", Battle) if b.judge == "j_pair"}
    assert ours == theirs


def test_one_verdict_rows_keep_their_verdict_but_not_a_position(tmp_path):
    root = tmp_path / "bench"
    write_jsonl(root / "question.jsonl", [{"question_id": 1, "category": "writing", "turns": ["Hi"]}])
    rows = [{"question_id": 1, "model_1": "a", "model_2": "b", "winner": "model_2", "judge": ["gpt-4", "pair-v2"],
             "g1_judgment": "", "g2_judgment": "", "turn": 1}]
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", rows)
    run = tmp_path / "run"
    assert _import(root, run) == 0
    (review,) = read_records(run / "reviews" / "gpt-4_pair.jsonl", Review)
    assert (review.winner, review.first) == ("model_b", "a")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bias"]["gpt-4_pair"]["position"]["known"] is False
    assert summary["bias"]["gpt-4_pair"]["position"]["first_score"] is None


def test_pairwise_baseline_mode_and_duplicates(tmp_path):
    root = tmp_path / "bench"
    write_jsonl(root / "question.jsonl", [{"question_id": 1, "category": "writing", "turns": ["Hi"]}])
    rows = [pair_row(1, m, "gpt-3.5-turbo", "model_1", "model_1") for m in ("a", "b", "c")]
    rows.append(pair_row(1, "a", "gpt-3.5-turbo", "model_2", "model_2"))  # a re-run: the last row counts
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", rows)
    run = tmp_path / "run"
    assert _import(root, run) == 0
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["judges"]["gpt-4_pair"]["mode"] == "pairwise-baseline"
    assert manifest["judges"]["gpt-4_pair"]["baseline"] == "gpt-3.5-turbo"
    battles = {b.model_a: b for b in read_records(run / "battles.jsonl", Battle)}
    assert battles["a"].winner == "model_b" and battles["b"].winner == "model_a"
    notes = json.loads((run / "summary.json").read_text())["import"]["notes"]
    assert any("2 games appear more than once" in n for n in notes)


def test_bad_rows_name_file_line_and_field(tmp_path, capsys):
    root = tmp_path / "bench"
    write_jsonl(root / "question.jsonl", [{"question_id": 1, "category": "writing", "turns": ["Hi"]}])
    rows = [pair_row(1, "a", "b", "model_1", "model_1"), pair_row(1, "a", "c", "model_3", "tie")]
    path = write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", rows)
    assert _import(root, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert f"{path}:2: g1_winner: 'model_3' is not one of model_1, model_2, tie, error" in err
    assert not (tmp_path / "run").exists()
    write_jsonl(path, [single_row(1, "a", "high")])
    assert _import(root, tmp_path / "run") == 2
    assert "score: 'high' is not a number" in capsys.readouterr().err
    (tmp_path / "missing").mkdir()
    assert _import(tmp_path / "missing", tmp_path / "run") == 2
    assert "no question.jsonl" in capsys.readouterr().err


def test_import_refuses_a_folder_with_files(fastchat_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    assert _import(fastchat_dir, run) == 2
    assert "folder is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["keep.txt"]


def test_export_needs_the_questions_when_the_config_is_gone(tmp_path, write_config, capsys):
    from tests.conftest import base_config

    out = tmp_path / "run"
    config_path = write_config(base_config(out))
    assert main(["run", "-c", str(config_path), "--stages", "answers,reviews"]) == 0
    config_path.unlink()
    assert main(["export", "fastchat", "--run", str(out), "--out", str(tmp_path / "fc")]) == 2
    assert "pass --questions" in capsys.readouterr().err
    tiny = REPO / "registry" / "questions" / "tiny" / "question.jsonl"
    assert main(["export", "fastchat", "--run", str(out), "--out", str(tmp_path / "fc"), "--questions", str(tiny)]) == 0
    assert read_jsonl_rows(tmp_path / "fc" / "question.jsonl") == read_jsonl_rows(tiny)
    assert not (tmp_path / "fc" / "reference_answer").exists()  # the tiny set has inline references only


def test_public_mt_bench_files_round_trip(tmp_path):
    for bench in ("mt_bench", "vicuna_bench"):
        source = need(f"fastchat/{bench}")
        run, export, again = tmp_path / f"{bench}-run", tmp_path / f"{bench}-fc", tmp_path / f"{bench}-again"
        assert main(["import", "fastchat", str(source), "--run", str(run)]) == 0
        assert main(["export", "fastchat", "--run", str(run), "--out", str(export)]) == 0
        for name in ("question.jsonl", "reference_answer/gpt-4.jsonl"):
            assert read_jsonl_rows(export / name) == read_jsonl_rows(source / name), f"{bench}/{name}"
        assert main(["import", "fastchat", str(export), "--run", str(again)]) == 0
        for name in ("question.jsonl", "reference_answer.jsonl"):
            assert (run / name).read_text() == (again / name).read_text()
    # The imported folder is itself a question set with its reference answers attached.
    from arena.config import QuestionsConfig
    from arena.questions import load_questions

    questions = {q.question_id: q for q in load_questions(QuestionsConfig(source=str(tmp_path / "mt_bench-run")))}
    assert len(questions) == 80 and questions[101].reference is not None and len(questions[101].reference) == 2
