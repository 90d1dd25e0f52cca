"""AlpacaEval's annotation files in: hand-written rows, and the published files in ../shared/data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from arena.cli import main
from arena.records import Answer, Battle, Review
from arena.store import read_records
from tests.imports.conftest import ALPACA_BASELINE, alpaca_results_folder, need, read_jsonl_rows

WEIGHTED = "weighted_alpaca_eval_gpt4_turbo"
MODELS = ("claude-2.1", "gpt-3.5-turbo-1106", "Qwen-14B-Chat", "vicuna-13b")


def _annotation(instruction: str, model: str, output: str, preference, annotator: str = "judge-x") -> dict:
    return {"instruction": instruction, "output_1": f"baseline on {instruction}", "generator_1": "base",
            "dataset": "helpful_base", "output_2": output, "generator_2": model, "annotator": annotator,
            "preference": preference, "price_per_example": 0.01, "time_per_example": 1.5,
            "raw_completion": {"text": "m"} if preference is not None else None}


def test_hand_written_annotations(tmp_path, capsys):
    folder = tmp_path / "results"
    (folder / "m1").mkdir(parents=True)
    (folder / "m2").mkdir()
    (folder / "m1" / "annotations.json").write_text(json.dumps([
        _annotation("Say hi.", "m1", "hi", 2.0), _annotation("Count.", "m1", "1 2 3", 1.25), _annotation("Nap.", "m1", "zz", None),
    ]))
    (folder / "m2" / "annotations.json").write_text(json.dumps([
        _annotation("Count.", "m2", "one", 0), _annotation("Say hi.", "m2", "hello", 1.5),
    ]))
    run = tmp_path / "run"
    assert main(["import", "alpaca-eval", str(folder), "--run", str(run)]) == 0
    assert read_jsonl_rows(run / "question.jsonl") == [
        {"question_id": 0, "category": "helpful_base", "turns": ["Say hi."]},
        {"question_id": 1, "category": "helpful_base", "turns": ["Count."]},
        {"question_id": 2, "category": "helpful_base", "turns": ["Nap."]},
    ]
    reviews = {(r.question_id, r.model_a): r for r in read_records(run / "reviews" / "judge-x.jsonl", Review)}
    assert (reviews[(0, "m1")].verdict, reviews[(0, "m1")].winner, reviews[(0, "m1")].first) == ("2.0", "model_a", "base")
    assert reviews[(2, "m1")].status == "error"
    assert reviews[(1, "m2")].verdict == "1.5" and reviews[(1, "m2")].winner == "tie"  # 0: the older draw
    assert reviews[(0, "m1")].cost_usd == 0.01 and reviews[(0, "m1")].raw == '{"text": "m"}'
    battles = {(b.question_id, b.model_a): b for b in read_records(run / "battles.jsonl", Battle)}
    assert len(battles) == 4  # no battle without a preference
    assert battles[(1, "m1")].outcome == 0.25 and battles[(1, "m1")].winner == "model_b"
    baseline = {a.question_id: a.choices[0].turns for a in read_records(run / "answers" / "base.jsonl", Answer)}
    assert baseline == {0: ["baseline on Say hi."], 1: ["baseline on Count."], 2: ["baseline on Nap."]}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bias"]["judge-x"]["position"]["known"] is False
    assert summary["bias"]["judge-x"]["parse_failure_rate"] == 0.2
    assert "1 annotations have no preference" in " ".join(summary["import"]["notes"])
    # Exported to FastChat's format the verdicts carry no shown order, and come back without one.
    assert main(["export", "fastchat", "--run", str(run), "--out", str(tmp_path / "fc")]) == 0
    rows = read_jsonl_rows(tmp_path / "fc" / "model_judgment" / "judge-x_pair.jsonl")
    assert [r["winner"] for r in rows] == ["model_1", "model_2", "error", "tie", "tie"]
    assert not any("g1_winner" in r or "g2_winner" in r for r in rows)
    assert main(["import", "fastchat", str(tmp_path / "fc"), "--run", str(tmp_path / "back")]) == 0
    manifest = json.loads((tmp_path / "back" / "run.json").read_text())
    assert manifest["judges"]["judge-x_pair"]["position_known"] is False
    # The same model with another output for an instruction (AlpacaEval revised text_davinci_003's
    # outputs between releases, and its results/ folder holds both) is imported with a note
    # naming both places; the answer kept is the first seen.
    (folder / "m1" / "more.json").write_text(json.dumps([_annotation("Say hi.", "m1", "HI!", 2.0, annotator="judge-y")]))
    capsys.readouterr()
    assert main(["import", "alpaca-eval", str(folder), "--run", str(tmp_path / "run2")]) == 0
    note = capsys.readouterr().out
    assert "m1 has more than one output for 1 instructions (first seen at " in note and "more.json: annotation 0" in note
    assert [a.choices[0].turns for a in read_records(tmp_path / "run2" / "answers" / "m1.jsonl", Answer) if a.question_id == 0] == [["hi"]]


def test_published_annotations_import_round_trip_and_reproduce_the_leaderboard(tmp_path):
    source = need(f"alpaca-eval/annotations/{WEIGHTED}")
    run, export, again = tmp_path / "run", tmp_path / "fc", tmp_path / "again"
    assert main(["import", "alpaca-eval", str(source), "--run", str(run)]) == 0
    battles = read_records(run / "battles.jsonl", Battle)
    assert len(battles) == 4 * 805
    # Question ids are AlpacaEval's instruction_index: the battles are preferences.csv's rows.
    prefs = pd.read_csv(need("alpaca-eval/preferences.csv.gz"))
    prefs = prefs[prefs["annotator"] == WEIGHTED].set_index(["generator_2", "instruction_index"])["preference"]
    for b in battles:
        assert b.outcome == pytest.approx(prefs[(b.model_a, b.question_id)] - 1.0, abs=1e-12)
    # ...and reproduce the published leaderboard's win rates (mean preference for the model).
    board = pd.read_csv(need(f"alpaca-eval/leaderboards/data_AlpacaEval_2/{WEIGHTED}_leaderboard.csv"), index_col=0)
    for model in MODELS:
        outcomes = [b.outcome for b in battles if b.model_a == model]
        assert 100 * sum(outcomes) / len(outcomes) == pytest.approx(board.loc[model, "win_rate"], abs=1e-9)
    # Out to FastChat's formats: one judgment row per annotation, the verdict as a winner.
    assert main(["export", "fastchat", "--run", str(run), "--out", str(export)]) == 0
    rows = read_jsonl_rows(export / "model_judgment" / f"{WEIGHTED}_pair.jsonl")
    annotations = [a for m in MODELS for a in json.loads((source / f"{m}.json").read_text())]
    assert len(rows) == len(annotations)
    expected = {(a["generator_2"], a["instruction"]): "model_1" if a["preference"] > 1.5 else "model_2" if a["preference"] < 1.5 else "tie"
                for a in annotations}
    questions = {q["question_id"]: q["turns"][0] for q in read_jsonl_rows(export / "question.jsonl")}
    assert {(r["model_1"], questions[r["question_id"]]): r["winner"] for r in rows} == expected
    outputs = {(a["generator_2"], a["instruction"]): a["output_2"] for a in annotations}
    for model in MODELS:
        for row in read_jsonl_rows(export / "model_answer" / f"{model}.jsonl"):
            assert row["choices"][0]["turns"] == [outputs[(model, questions[row["question_id"]])]]
    # Back in: the same verdicts (FastChat has no fractional preferences, so winners, not outcomes).
    assert main(["import", "fastchat", str(export), "--run", str(again)]) == 0
    first = sorted((b.question_id, b.model_a, b.model_b, b.winner) for b in battles)
    second = sorted((b.question_id, b.model_a, b.model_b, b.winner) for b in read_records(again / "battles.jsonl", Battle))
    assert first == second
    for model in (*MODELS, "gpt4_1106_preview"):
        assert (run / "answers" / f"{model}.jsonl").read_text() == (again / "answers" / f"{model}.jsonl").read_text()


def test_results_folder_as_published_imports_with_the_baseline_self_comparisons_skipped(tmp_path, capsys):
    """AlpacaEval's results/ folder, baseline folder and model_outputs.json files included: the
    baseline-vs-baseline rows are skipped with one note, everything else is imported."""
    results = alpaca_results_folder(tmp_path)
    run = tmp_path / "run"
    assert main(["import", "alpaca-eval", str(results), "--run", str(run)]) == 0
    out = capsys.readouterr().out
    battles = read_records(run / "battles.jsonl", Battle)
    assert len(battles) == 4 * 805 and {b.model_b for b in battles} == {ALPACA_BASELINE}
    assert {b.model_a for b in battles} == set(MODELS)
    assert "805 annotations compare a model with itself (gpt4_1106_preview by weighted_alpaca_eval_gpt4_turbo (805))" in out
    assert "5 model-output file(s) skipped" in out
    # The baseline keeps its answers and its place as the judge's baseline.
    assert len(read_records(run / "answers" / f"{ALPACA_BASELINE}.jsonl", Answer)) == 805
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["judges"][WEIGHTED]["baseline"] == ALPACA_BASELINE


def test_rate_reads_the_published_results_folder_and_shows_the_baseline_at_50(tmp_path, capsys):
    """`arena rate results/` rates AlpacaEval's own files directly; the leaderboard keeps the
    baseline, at 50% against itself as AlpacaEval shows it, and the models' win rates against it
    are the published ones."""
    results = alpaca_results_folder(tmp_path)
    out = tmp_path / "out"
    assert main(["rate", str(results), "--out", str(out), "--bootstrap", "0", "--no-per-category"]) == 0
    printed = capsys.readouterr()
    notes = " ".join(json.loads((out / "summary.json").read_text())["notes"])
    assert "805 judgments of annotator weighted_alpaca_eval_gpt4_turbo compare a model with itself (gpt4_1106_preview: 805)" in notes
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert set(board.index) == {*MODELS, ALPACA_BASELINE}
    assert board.loc[ALPACA_BASELINE, "win_rate_vs_baseline"] == 0.5
    published = pd.read_csv(need(f"alpaca-eval/leaderboards/data_AlpacaEval_2/{WEIGHTED}_leaderboard.csv"), index_col=0)
    for model in MODELS:
        assert 100 * board.loc[model, "win_rate_vs_baseline"] == pytest.approx(published.loc[model, "win_rate"], abs=1e-9)
    assert "vs gpt4_1106_preview" in printed.out
    # One annotations.json names its format in the file itself.
    single = results / "claude-2.1" / WEIGHTED / "annotations.json"
    assert main(["rate", str(single), "--out", str(tmp_path / "one"), "--bootstrap", "0"]) == 0
    # The derived preferences table is read under its own name, and a self-comparison in it is
    # skipped the same way.
    table = tmp_path / "prefs.csv"
    table.write_text("annotator,instruction_index,generator_1,generator_2,preference\n"
                     "j,0,base,base,1.5\nj,0,base,m,2\nj,1,base,m,1\nj,0,base,n,1.5\n", encoding="utf-8")
    assert main(["rate", str(table), "--out", str(tmp_path / "t"), "--bootstrap", "0"]) == 0
    notes = " ".join(json.loads((tmp_path / "t" / "summary.json").read_text())["notes"])
    assert "1 judgments of annotator j compare a model with itself (base: 1)" in notes
    board = pd.read_csv(tmp_path / "t" / "leaderboard.csv").set_index("model")
    assert board.loc["base", "win_rate_vs_baseline"] == 0.5 and board.loc["m", "win_rate_vs_baseline"] == 0.5
