"""`arena import lm-eval`: a results file written by hand in lm-evaluation-harness's format
(0.4's keys `metric,filter`, and the older bare keys)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from arena.cli import main
from arena.errors import DataError
from arena.imports.lm_eval import import_scores, read_results

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


# A results file in the shape lm-evaluation-harness 0.4.5 writes (key order, a group without an
# aggregate of its own, leaf-only `n-shot`, tracker keys at the end), numbers our own.
BBH_3SHOT = {
    "results": {
        "leaderboard_bbh": {" ": " ", "alias": "leaderboard_bbh"},
        "leaderboard_bbh_boolean_expressions": {"alias": " - leaderboard_bbh_boolean_expressions",
                                                "exact_match,none": 0.8, "exact_match_stderr,none": 0.13},
        "leaderboard_bbh_causal_judgement": {"alias": " - leaderboard_bbh_causal_judgement",
                                             "exact_match,none": 0.7, "exact_match_stderr,none": 0.15},
    },
    "group_subtasks": {"leaderboard_bbh": ["leaderboard_bbh_boolean_expressions", "leaderboard_bbh_causal_judgement"]},
    "configs": {
        "leaderboard_bbh_boolean_expressions": {"task": "leaderboard_bbh_boolean_expressions", "num_fewshot": 3,
                                                "output_type": "generate_until", "metadata": {"version": 1}},
        "leaderboard_bbh_causal_judgement": {"task": "leaderboard_bbh_causal_judgement", "num_fewshot": 3,
                                             "output_type": "generate_until", "metadata": {"version": 1}},
    },
    "versions": {"leaderboard_bbh_boolean_expressions": 1, "leaderboard_bbh_causal_judgement": 1},
    "n-shot": {"leaderboard_bbh_boolean_expressions": 3, "leaderboard_bbh_causal_judgement": 3},
    "higher_is_better": {"leaderboard_bbh": {"exact_match": True}},
    "n-samples": {"leaderboard_bbh_boolean_expressions": {"original": 250, "effective": 10},
                  "leaderboard_bbh_causal_judgement": {"original": 187, "effective": 10}},
    "config": {"model": "openai-chat-completions", "model_args": "model=gpt-4o", "batch_size": "auto", "limit": 10},
    "git_hash": "579d3cf6",
    "date": 1732173800.6,
    "model_source": "openai-chat-completions",
    "model_name": "gpt-4o",
    "model_name_sanitized": "gpt-4o",
    "system_instruction": None,
    "system_instruction_sha": None,
    "fewshot_as_multiturn": False,
    "chat_template": "",
    "chat_template_sha": None,
}


def test_rows_keep_the_shot_count_and_the_chat_template_flag(tmp_path):
    run = tmp_path / "run"
    assert import_scores(write(tmp_path, BBH_3SHOT), run) == 2
    with open(run / "scores" / "summary.csv", encoding="utf-8", newline="") as handle:
        rows = {r["benchmark"]: r for r in csv.DictReader(handle)}
    for task in ("leaderboard_bbh_boolean_expressions", "leaderboard_bbh_causal_judgement"):
        assert rows[task]["n_shot"] == "3"
        # An API model's file: chat_template "" (applied by the server), sha null.
        assert rows[task]["setting"] == "chat_template=yes; fewshot_as_multiturn=no"
    # A file that applied no template says so; one from before 0.4.3 says nothing.
    plain = dict(BBH_3SHOT, chat_template=None)
    assert read_results(plain, "m")[0].setting == "chat_template=no"
    assert read_results({k: v for k, v in BBH_3SHOT.items() if "chat" not in k and "fewshot" not in k}, "m")[0].setting == ""


def test_a_group_takes_its_subtasks_shot_count_where_they_agree():
    data = {
        "results": {"g": {"acc,none": 0.5}, "a": {"acc,none": 0.4}, "b": {"acc,none": 0.6}, "h": {"acc,none": 0.5},
                    "c": {"acc,none": 0.5}},
        "group_subtasks": {"g": ["a", "b"], "h": ["a", "c"]},
        "n-shot": {"a": 5, "b": 5, "c": 0, "h": 5},  # h: the first subtask's, as 0.4.0-0.4.3 wrote it
    }
    shots = {r.benchmark: r.n_shot for r in read_results(data, "m")}
    assert shots == {"g": 5, "a": 5, "b": 5, "h": None, "c": 0}


def test_zero_shot_and_five_shot_of_one_task_are_kept_side_by_side(tmp_path):
    run = tmp_path / "run"
    zero = {"results": {"mmlu": {"acc,none": 0.55}}, "n-shot": {"mmlu": 0}, "model_name": "org/m"}
    five = {"results": {"mmlu": {"acc,none": 0.63}}, "n-shot": {"mmlu": 5}, "model_name": "org/m"}
    import_scores(write(tmp_path, zero, "results_a.json"), run)
    import_scores(write(tmp_path, five, "results_b.json"), run)
    with open(run / "scores" / "summary.csv", encoding="utf-8", newline="") as handle:
        rows = [(r["benchmark"], r["n_shot"], r["value"]) for r in csv.DictReader(handle)]
    assert sorted(rows) == [("mmlu", "0", "0.55"), ("mmlu", "5", "0.63")]
    # Importing the 5-shot file again replaces only its own row.
    import_scores(write(tmp_path, dict(five, results={"mmlu": {"acc,none": 0.64}}), "results_c.json"), run)
    with open(run / "scores" / "summary.csv", encoding="utf-8", newline="") as handle:
        rows = [(r["benchmark"], r["n_shot"], r["value"]) for r in csv.DictReader(handle)]
    assert sorted(rows) == [("mmlu", "0", "0.55"), ("mmlu", "5", "0.64")]
