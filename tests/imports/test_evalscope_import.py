"""`arena import evalscope`: report files written by hand in EvalScope's format (current
category names as lists, older ones as strings)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from arena.cli import main
from arena.errors import DataError
from arena.imports.evalscope import import_scores

REPORT = {
    "name": "qwen2.5-0.5b-instruct@mmlu",
    "dataset_name": "mmlu",
    "dataset_pretty_name": "MMLU",
    "model_name": "Qwen/qwen2.5-0.5b-instruct",
    "score": 0.4712,
    "metrics": [
        {"name": "AverageAccuracy", "num": 235, "score": 0.4712, "macro_score": 0.45, "categories": [
            {"name": ["STEM"], "num": 100, "score": 0.3, "macro_score": 0.3,
             "subsets": [{"name": "abstract_algebra", "score": 0.3, "num": 100}]},
            {"name": ["Other"], "num": 135, "score": 0.6, "macro_score": 0.6,
             "subsets": [{"name": "anatomy", "score": 0.6, "num": 135},
                         {"name": "OVERALL", "score": 0.6, "num": 135, "is_aggregate": True}]},
        ]},
    ],
    "analysis": "N/A",
}
OLD_REPORT = {
    "name": "gsm8k", "dataset_name": "gsm8k", "model_name": "my-model", "score": 0.31,
    "metrics": [{"name": "AverageAccuracy", "num": 1319, "score": 0.31, "categories": [
        {"name": "default", "num": 1319, "score": 0.31, "subsets": [{"name": "main", "score": 0.31, "num": 1319}]}]}],
}


def read_csv(path: Path) -> dict[tuple[str, str, str, str], dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {(r["model"], r["benchmark"], r["style"], r["metric"]): r for r in csv.DictReader(handle)}


def test_report_rows_and_subsets(tmp_path):
    path = tmp_path / "mmlu.json"
    path.write_text(json.dumps(REPORT), encoding="utf-8")
    run = tmp_path / "run"
    assert import_scores(path, run) == 3
    summary = read_csv(run / "scores" / "summary.csv")
    row = summary[("qwen2.5-0.5b-instruct", "mmlu", "evalscope:AverageAccuracy", "AverageAccuracy")]
    assert row["value"] == "0.4712" and row["n"] == "235" and row["ci_low"] == ""
    subjects = read_csv(run / "scores" / "subjects.csv")
    assert set(subjects) == {
        ("qwen2.5-0.5b-instruct", "mmlu/abstract_algebra", "evalscope:AverageAccuracy", "AverageAccuracy"),
        ("qwen2.5-0.5b-instruct", "mmlu/anatomy", "evalscope:AverageAccuracy", "AverageAccuracy"),
    }  # EvalScope's aggregate subset is not a subject


def test_reports_folder_and_older_format(tmp_path):
    folder = tmp_path / "outputs" / "20250101_000000" / "reports" / "my-model"
    folder.mkdir(parents=True)
    (folder / "gsm8k.json").write_text(json.dumps(OLD_REPORT), encoding="utf-8")
    (folder / "mmlu.json").write_text(json.dumps(dict(REPORT, model_name="my-model")), encoding="utf-8")
    (tmp_path / "outputs" / "20250101_000000" / "configs.json").write_text("{}", encoding="utf-8")  # not a report
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    assert main(["import", "evalscope", str(tmp_path / "outputs"), "--run", str(run)]) == 0
    summary = read_csv(run / "scores" / "summary.csv")
    assert {k[1] for k in summary} == {"gsm8k", "mmlu"} and {k[0] for k in summary} == {"my-model"}
    assert ("my-model", "gsm8k/main", "evalscope:AverageAccuracy", "AverageAccuracy") in read_csv(run / "scores" / "subjects.csv")


@pytest.mark.parametrize("data, message", [
    ({"metrics": []}, "dataset_name: expected the dataset's name"),
    ({"dataset_name": "d", "model_name": "m", "metrics": []}, "metrics: expected a non-empty list"),
    ({"dataset_name": "d", "model_name": "m", "metrics": [{"name": "acc", "score": "high"}]}, r"metrics\[0\].score: expected a number"),
    ({"dataset_name": "d", "metrics": [{"name": "acc", "score": 0.5}]}, "model_name: missing"),
])
def test_bad_reports_name_the_field(tmp_path, data, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        import_scores(path, tmp_path / "run")


def test_shot_count_and_setting_come_from_the_runs_task_config(tmp_path):
    """EvalScope's report says nothing of how it was scored; the task config of its run does:
    `<time>/configs/task_config.yaml` beside `<time>/reports/<model>/<dataset>.json`."""
    stamp = tmp_path / "outputs" / "20250101_120000"
    report = stamp / "reports" / "qwen2.5-0.5b-instruct" / "gsm8k.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps(OLD_REPORT), encoding="utf-8")
    (stamp / "configs").mkdir()
    (stamp / "configs" / "task_config.yaml").write_text(
        "model: qwen2.5-0.5b-instruct\nchat_template: null\ndatasets:\n- gsm8k\n"
        "dataset_args:\n  gsm8k:\n    few_shot_num: 4\n    subset_list:\n    - main\n"
        "generation_config:\n  temperature: 0.0\neval_type: openai_api\n", encoding="utf-8")
    run = tmp_path / "run"
    import_scores(tmp_path / "outputs", run)
    summary = read_rows(run / "scores" / "summary.csv")
    assert [(r["n_shot"], r["setting"]) for r in summary] == [("4", "eval_type=openai_api")]
    assert {(r["n_shot"], r["setting"]) for r in read_rows(run / "scores" / "subjects.csv")} == {("4", "eval_type=openai_api")}
    # The newest layout keeps the resolved settings under resolved_benchmarks.
    (stamp / "configs" / "task_config.yaml").write_text(
        "datasets:\n- gsm8k\nresolved_benchmarks:\n  gsm8k:\n    few_shot_num: 0\neval_type: llm_ckpt\n"
        "chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}'\n", encoding="utf-8")
    import_scores(report, run)
    assert sorted((r["n_shot"], r["setting"]) for r in read_rows(run / "scores" / "summary.csv")) == [
        ("0", "eval_type=llm_ckpt; chat_template=custom"), ("4", "eval_type=openai_api")]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
