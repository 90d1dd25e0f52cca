"""`arena import lm-eval`: a results file written by hand in lm-evaluation-harness's format
(0.4's keys `metric,filter`, and the older bare keys)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from arena.cli import main
from arena.errors import DataError
from arena.imports.lm_eval import import_scores

RESULTS = {
    "results": {
        "mmlu": {"acc,none": 0.6353, "acc_stderr,none": 0.0039, "alias": "mmlu"},
        "mmlu_abstract_algebra": {"alias": " - abstract_algebra", "acc,none": 0.3, "acc_stderr,none": 0.0461},
        "mmlu_anatomy": {"alias": " - anatomy", "acc,none": 0.6, "acc_stderr,none": 0.0423},
        "hellaswag": {"acc,none": 0.57, "acc_stderr,none": 0.0049, "acc_norm,none": 0.75, "acc_norm_stderr,none": 0.0043},
        "gsm8k": {"exact_match,strict-match": 0.12, "exact_match_stderr,strict-match": 0.009,
                  "exact_match,flexible-extract": 0.14, "exact_match_stderr,flexible-extract": "N/A"},
    },
    "group_subtasks": {"mmlu": ["mmlu_abstract_algebra", "mmlu_anatomy"]},
    "n-samples": {
        "mmlu_abstract_algebra": {"original": 100, "effective": 100},
        "mmlu_anatomy": {"original": 135, "effective": 135},
        "hellaswag": {"original": 10042, "effective": 10042},
        "gsm8k": {"original": 1319, "effective": 1319},
    },
    "configs": {"hellaswag": {"task": "hellaswag", "num_fewshot": 0}},
    "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m,dtype=float16", "batch_size": 8},
}


def read_summary(run: Path) -> dict[tuple[str, str, str, str], dict[str, str]]:
    with open(run / "scores" / "summary.csv", encoding="utf-8", newline="") as handle:
        return {(r["model"], r["benchmark"], r["style"], r["metric"]): r for r in csv.DictReader(handle)}


def write(tmp_path: Path, data: dict, name: str = "results_2024-01-01T00-00-00.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_every_metric_becomes_a_row_with_its_source_in_the_style(tmp_path):
    run = tmp_path / "run"
    assert import_scores(write(tmp_path, RESULTS), run) == 7
    rows = read_summary(run)
    mmlu = rows[("pythia-160m", "mmlu", "lm-eval:acc", "acc")]
    assert float(mmlu["value"]) == 0.6353 and mmlu["n"] == "235"  # the group: its subtasks' samples
    assert float(mmlu["ci_low"]) == pytest.approx(0.6353 - 1.96 * 0.0039, abs=1e-4)
    assert rows[("pythia-160m", "hellaswag", "lm-eval:acc_norm", "acc_norm")]["value"] == "0.75"
    strict = rows[("pythia-160m", "gsm8k", "lm-eval:exact_match,strict-match", "exact_match")]
    assert strict["n"] == "1319" and strict["ci_high"] != ""
    flexible = rows[("pythia-160m", "gsm8k", "lm-eval:exact_match,flexible-extract", "exact_match")]
    assert flexible["ci_low"] == "" and flexible["ci_high"] == ""  # the harness gave "N/A"


def test_older_bare_keys_and_model_override(tmp_path):
    old = {"results": {"arc_easy": {"acc": 0.43, "acc_stderr": 0.01, "acc_norm": 0.4}}, "config": {"model": "gpt2"}}
    run = tmp_path / "run"
    assert import_scores(write(tmp_path, old, "results.json"), run, model="gpt2-small") == 2
    rows = read_summary(run)
    assert set(rows) == {("gpt2-small", "arc_easy", "lm-eval:acc", "acc"), ("gpt2-small", "arc_easy", "lm-eval:acc_norm", "acc_norm")}


def test_reimport_replaces_and_keeps_other_rows(tmp_path):
    run = tmp_path / "run"
    import_scores(write(tmp_path, RESULTS), run)
    newer = {"results": {"mmlu": {"acc,none": 0.7, "acc_stderr,none": 0.004}}, "model_name": "EleutherAI/pythia-160m"}
    import_scores(write(tmp_path, newer, "results_2.json"), run)
    rows = read_summary(run)
    assert rows[("pythia-160m", "mmlu", "lm-eval:acc", "acc")]["value"] == "0.7"
    assert ("pythia-160m", "hellaswag", "lm-eval:acc", "acc") in rows and len(rows) == 7


def test_output_folder_is_imported_oldest_first(tmp_path):
    out = tmp_path / "out" / "EleutherAI__pythia-160m"
    out.mkdir(parents=True)
    write(out, {"results": {"t": {"acc,none": 0.1}}, "model_name": "m"}, "results_2024-01-01T00-00-00.json")
    write(out, {"results": {"t": {"acc,none": 0.2}}, "model_name": "m"}, "results_2024-02-01T00-00-00.json")
    run = tmp_path / "run"
    assert import_scores(tmp_path / "out", run) == 2
    assert read_summary(run)[("m", "t", "lm-eval:acc", "acc")]["value"] == "0.2"


@pytest.mark.parametrize("data, message", [
    ({"results": {}}, "results: expected a mapping of task names"),
    ({"versions": {}}, "results: expected a mapping of task names"),
    ({"results": {"t": {"alias": "t"}}, "model_name": "m"}, "results: no numeric metrics"),
    ({"results": {"t": {"acc,none": 0.5}}}, "no model name in the file"),
    ({"results": {"t": 0.5}, "model_name": "m"}, "results.t: expected a mapping of metrics"),
])
def test_bad_files_name_the_problem(tmp_path, data, message):
    with pytest.raises(DataError, match=message):
        import_scores(write(tmp_path, data), tmp_path / "run")


def test_command_line(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, RESULTS)
    run = tmp_path / "run"
    assert main(["import", "lm-eval", str(path), "--run", str(run), "--model", "pythia"]) == 2
    assert "is not a run folder (no run.json)" in capsys.readouterr().err
    assert not run.exists(), "a mistyped --run creates nothing"
    run.mkdir()
    (run / "run.json").write_text("{}")
    assert main(["import", "lm-eval", str(path), "--run", str(run), "--model", "pythia"]) == 0
    assert "imported 7 rows" in capsys.readouterr().out
    assert ("pythia", "mmlu", "lm-eval:acc", "acc") in read_summary(run)
    assert main(["import", "lm-eval", str(tmp_path / "missing.json"), "--run", str(run)]) == 2
    assert main(["import", "lm-eval", str(path), "--run", str(run), "--model", "a/b"]) == 2
    assert "--model: 'a/b' must start with a letter or digit" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # not a run folder
    assert main(["import", "lm-eval", str(path)]) == 2
    assert "--run: the current folder is not a run folder" in capsys.readouterr().err
