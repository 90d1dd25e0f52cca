"""The scores stage end to end in dry-run: files and columns, resume, settings changes, imported
rows kept, and the up-front check that every model can run every style asked of it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from arena.cli import main
from arena.config import BenchmarkConfig, load_config
from arena.errors import IncompleteStage
from arena.pipeline import plan_run
from arena.providers.base import CallFailed, LogprobResponse
from arena.providers.simulated import SimulatedProvider
from arena.rundir import RunDir
from arena.scoring.datasets import Item
from arena.scoring.plan import PreparedBenchmark, prepare_benchmarks
from arena.scoring.rows import SUMMARY_COLUMNS, SummaryRow, merge_summary
from arena.scoring.tasks import Task, row_from_logprobs
from arena.stages.scores import run_scores
from tests.conftest import base_config

BENCHMARKS = [
    {"name": "tiny_mc", "source": "tiny_mc", "k_shot": 2, "dev": "tiny_mc_dev", "length_normalization": "chars"},
    {"name": "tiny_em", "source": "tiny_em", "kind": "exact_match", "k_shot": 1, "dev": "tiny_em_dev"},
]


def scores_config(out_dir: Path, **overrides) -> dict:
    overrides.setdefault("benchmarks", BENCHMARKS)
    overrides.setdefault("stages", ["scores"])
    return base_config(out_dir, **overrides)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_dry_run_writes_rows_and_summary(tmp_path, write_config, capsys):
    out = tmp_path / "run"
    assert main(["score", "-c", str(write_config(scores_config(out)))]) == 0
    printed = capsys.readouterr().out
    assert "text_logprob" in printed and "accuracy_norm_chars" in printed
    rows = read_rows(out / "scores" / "m1.jsonl")
    # 12 multiple-choice items x 3 styles + 10 exact-match items.
    assert len(rows) == 12 * 3 + 10
    by_style = {}
    for row in rows:
        by_style.setdefault(row["style"], []).append(row)
    letter, text, gen, em = (by_style[s][0] for s in ("letter_logprob", "text_logprob", "generate_letter", "exact_match"))
    assert len(letter["logprobs"]) == 4 and letter["logprob_source"] == "continuation"
    assert letter["gold"] in "ABCD" and letter["correct"] == (letter["prediction"] == letter["gold"])
    assert len(text["token_counts"]) == 4 and text["correct_norm"] in (True, False)
    assert gen["output"] and gen["logprobs"] is None
    assert em["output"] and em["gold"]
    summary = read_csv(out / "scores" / "summary.csv")
    assert tuple(summary[0]) == SUMMARY_COLUMNS
    keys = {(r["model"], r["benchmark"], r["style"], r["metric"]) for r in summary}
    for model in ("m1", "m2", "m3"):
        for style in ("letter_logprob", "text_logprob", "generate_letter"):
            assert (model, "tiny_mc", style, "accuracy") in keys
        assert (model, "tiny_mc", "text_logprob", "accuracy_norm_chars") in keys
        assert (model, "tiny_em", "exact_match", "exact_match") in keys
    for r in summary:
        assert float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"])
        assert int(r["n"]) == (12 if r["benchmark"] == "tiny_mc" else 10)
    subjects = read_csv(out / "scores" / "subjects.csv")
    assert {r["benchmark"] for r in subjects} == {"tiny_mc/arithmetic", "tiny_mc/geography"}
    run_summary = json.loads((out / "summary.json").read_text())["scores"]
    assert run_summary["m1"]["tiny_mc"]["letter_logprob"]["scored"] == 12


def test_rerun_resumes_without_duplicates_and_repairs_a_torn_line(tmp_path, write_config):
    out = tmp_path / "run"
    config = write_config(scores_config(out))
    assert main(["score", "-c", str(config)]) == 0
    file = out / "scores" / "m2.jsonl"
    complete = file.read_bytes()
    summary = (out / "scores" / "summary.csv").read_text()
    # Again: nothing to do, nothing written twice.
    assert main(["score", "-c", str(config)]) == 0
    assert file.read_bytes() == complete
    # An interrupted run: ten rows lost and the last one torn in half.
    lines = complete.split(b"\n")[:-1]
    file.write_bytes(b"\n".join(lines[:-10]) + b"\n" + lines[-10][:25])
    assert main(["score", "-c", str(config)]) == 0
    rows = read_rows(file)
    assert len(rows) == len(lines)
    assert len({(r["benchmark"], r["style"], r["item_id"]) for r in rows}) == len(rows)
    assert (out / "scores" / "summary.csv").read_text() == summary  # seeded: the same figures


def test_changed_settings_rescore_and_old_rows_stop_counting(tmp_path, write_config):
    out = tmp_path / "run"
    assert main(["score", "-c", str(write_config(scores_config(out)))]) == 0
    before = len(read_rows(out / "scores" / "m1.jsonl"))
    changed = [dict(BENCHMARKS[0], k_shot=0, dev=None), BENCHMARKS[1]]
    assert main(["score", "-c", str(write_config(scores_config(out, benchmarks=changed)))]) == 0
    rows = read_rows(out / "scores" / "m1.jsonl")
    assert len(rows) == before + 12 * 3  # tiny_mc rescored; tiny_em unchanged
    assert len({r["setting"] for r in rows if r["benchmark"] == "tiny_mc"}) == 2
    n = {r["n"] for r in read_csv(out / "scores" / "summary.csv") if r["benchmark"] == "tiny_mc"}
    assert n == {"12"}  # only rows of the current settings count


def test_imported_rows_survive_the_stage(tmp_path, write_config):
    out = tmp_path / "run"
    imported = SummaryRow(model="m1", benchmark="mmlu", style="lm-eval:acc", metric="acc", value=0.5, n=100, ci_low=0.4, ci_high=0.6)
    merge_summary(out / "scores" / "summary.csv", [imported])
    assert main(["score", "-c", str(write_config(scores_config(out)))]) == 0
    summary = read_csv(out / "scores" / "summary.csv")
    assert {"model": "m1", "benchmark": "mmlu", "style": "lm-eval:acc", "metric": "acc", "value": "0.5",
            "n": "100", "ci_low": "0.4", "ci_high": "0.6", "n_shot": "", "setting": ""} in summary


def test_stronger_simulated_models_score_higher(tmp_path, write_config):
    """Over MMLU-sized item counts the simulator's accuracy follows strength in every style."""
    data = tmp_path / "big.csv"
    data.write_text("".join(f"Question {i}?,w{i},x{i},y{i} longer text,z{i},{'ABCD'[i % 4]}\n" for i in range(300)))
    config = scores_config(tmp_path / "run", benchmarks=[{"name": "big", "source": str(data)}])
    config["models"] = [
        {"name": "strong", "provider": "simulated", "simulated": {"strength": 1200}},
        {"name": "weak", "provider": "simulated", "simulated": {"strength": 800}},
    ]
    assert main(["score", "-c", str(write_config(config))]) == 0
    acc = {(r["model"], r["style"]): float(r["value"]) for r in read_csv(tmp_path / "run" / "scores" / "summary.csv")}
    for style in ("letter_logprob", "text_logprob", "generate_letter"):
        assert acc[("strong", style)] > acc[("weak", style)] + 0.2
        assert acc[("weak", style)] > 0.2  # near chance, not below it


@pytest.mark.parametrize("provider, styles, message", [
    ("anthropic", ["text_logprob"], "cannot run text_logprob: its provider returns no log-probabilities"),
    ("anthropic", ["letter_logprob", "generate_letter"], "cannot run letter_logprob"),
    ("openai", ["text_logprob"], "cannot run text_logprob: its provider returns only the top next-token"),
])
def test_a_style_the_provider_cannot_do_stops_before_the_run(provider, styles, message, tmp_path, write_config, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    config = scores_config(tmp_path / "run", dry_run=False, benchmarks=[{"name": "t", "source": "tiny_mc", "styles": styles}])
    config["models"][1] = {"name": "m2", "provider": provider, "model": "some-model"}
    path = write_config(config)
    assert main(["score", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: benchmarks[0].styles: model 'm2' (provider {provider!r})")
    assert message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # nothing ran


def test_supported_styles_pass_and_unsupported_can_be_skipped(tmp_path, write_config, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    bench = {"name": "t", "source": "tiny_mc", "skip_unsupported": True}
    config = scores_config(tmp_path / "run", dry_run=False, benchmarks=[bench])
    config["models"] = [
        {"name": "chat", "provider": "openai", "model": "gpt-x"},
        {"name": "local", "provider": "openai_compatible", "model": "m", "client": {"base_url": "http://127.0.0.1:9/v1"}},
        {"name": "claude", "provider": "anthropic", "model": "c"},
    ]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    (prepared,) = prepare_benchmarks(load_config(write_config(config)))
    assert prepared.styles_by_model == {
        "chat": ["letter_logprob", "generate_letter"],  # from the chat API's top next tokens
        "local": ["letter_logprob", "text_logprob", "generate_letter"],
        "claude": ["generate_letter"],
    }
    assert prepared.skipped == {"chat": ["text_logprob"], "claude": ["letter_logprob", "text_logprob"]}


@pytest.mark.parametrize("change, message", [
    ({"benchmarks": [{"name": "t", "source": "no/such/dir"}]}, "benchmarks[0].source: 'no/such/dir' is neither a registry benchmark"),
    ({"benchmarks": [{"name": "t", "source": "tiny_mc", "k_shot": 2}]}, "benchmarks[0].dev: k_shot 2 needs a dev split"),
    ({"benchmarks": [{"name": "t", "source": "tiny_em", "kind": "exact_match", "styles": ["letter_logprob"]}]}, "benchmarks[0].styles: only for kind 'multiple_choice'"),
    ({"benchmarks": [{"name": "t", "source": "tiny_mc", "styles": ["letter_logprob"], "length_normalization": "chars"}]}, "benchmarks[0].length_normalization: only used with style 'text_logprob'"),
    ({"benchmarks": [{"name": "t", "source": "tiny_mc", "styles": ["letter_prob"]}]}, "benchmarks[0].styles[0]: expected one of 'letter_logprob', 'text_logprob', 'generate_letter'"),
    ({"benchmarks": [{"name": "t", "source": "tiny_mc"}, {"name": "t", "source": "tiny_em"}]}, "benchmarks[1].name: duplicate benchmark name 't'"),
    ({"benchmarks": []}, "benchmarks: the scores stage needs at least one benchmark"),
    ({"benchmarks": [{"name": "t", "source": "tiny_mc", "subjects": ["astronomy"]}]}, "benchmarks[0].subjects: astronomy not in"),
    ({"benchmarks": [{"name": "t", "source": "tiny_mc", "limit": 0}]}, "benchmarks[0].limit: expected an integer >= 1"),
    ({"benchmarks": [{"name": "t", "sourse": "tiny_mc"}]}, "benchmarks[0].sourse: unknown key; did you mean 'source'?"),
])
def test_bad_benchmark_configs_exit_2_naming_the_key(change, message, tmp_path, write_config, capsys):
    path = write_config(scores_config(tmp_path / "run", **change))
    assert main(["score", "-c", str(path)]) == 2
    assert message in capsys.readouterr().err


class FlakyLogprobs(SimulatedProvider):
    """The simulator, but every third log-probability request fails for good."""

    def run_logprob_batch(self, requests, on_result, *, progress=None):
        def relay(index, result):
            on_result(index, CallFailed("server said no") if index % 3 == 0 else result)

        super().run_logprob_batch(requests, relay, progress=progress)


def test_failed_calls_end_incomplete_and_a_rerun_fills_them(tmp_path, write_config):
    out = tmp_path / "run"
    config = load_config(write_config(scores_config(out, benchmarks=[BENCHMARKS[0]])))
    plan = plan_run(config)
    run = RunDir(out)

    def flaky(model, cfg):
        return FlakyLogprobs(model.name, seed=0, strengths={"m1": 1100, "m2": 1000, "m3": 900})

    with pytest.raises(IncompleteStage, match="items failed after retries"):
        run_scores(config, plan.benchmarks, run, provider_factory=flaky)
    partial = len(read_rows(out / "scores" / "m1.jsonl"))
    assert 12 < partial < 36
    result = run_scores(config, plan.benchmarks, run)
    assert len(read_rows(out / "scores" / "m1.jsonl")) == 36
    assert {r.n for r in result.rows} == {12}


def test_logprob_response_shape_is_checked_by_the_row_builder():
    # Guard for providers: a letter_logprob answer with neither continuations nor top tokens
    # scores as no answer (wrong), never as option A.
    bench = PreparedBenchmark(config=BenchmarkConfig(name="b", source="s"), items=[], dev_items=[], setting="x")
    item = Item(item_id="i", question="q", choices=["a", "b"], gold=0)
    row = row_from_logprobs(Task(bench, "letter_logprob", item), "m", LogprobResponse())
    assert row.prediction is None and row.correct is False and row.logprob_source == "next_token"


def test_summary_rows_say_their_shot_count_and_a_new_count_replaces_the_old(tmp_path, write_config):
    out = tmp_path / "run"
    benchmarks = [{"name": "tiny_em", "source": "tiny_em", "kind": "exact_match", "k_shot": 2, "dev": "tiny_em_dev"}]
    assert main(["score", "-c", str(write_config(scores_config(out, benchmarks=benchmarks)))]) == 0
    assert {(r["model"], r["n_shot"]) for r in read_csv(out / "scores" / "summary.csv")} == {("m1", "2"), ("m2", "2"), ("m3", "2")}
    benchmarks[0].update(k_shot=0, dev=None)
    assert main(["score", "-c", str(write_config(scores_config(out, benchmarks=benchmarks)))]) == 0
    rows = read_csv(out / "scores" / "summary.csv")
    assert len(rows) == 3 and {r["n_shot"] for r in rows} == {"0"}
