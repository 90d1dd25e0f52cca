"""bench_vllm_judge.py's plumbing, on the fake vLLM engine instead of a GPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.providers.fake_vllm import FakeEngine, install

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_vllm_judge.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_vllm_judge", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runs_every_path_and_reports_ratios(tmp_path, monkeypatch):
    engine = FakeEngine(step_size=64)
    install(monkeypatch, engine)
    out = tmp_path / "judge.json"
    result = load_bench().main(["--model", "/models/judge", "--questions", "tiny", "--answer-words", "20",
                                "--passes", "1", "--out", str(out)])
    assert json.loads(out.read_text())["stage_over_bare"] == result["stage_over_bare"] > 0
    games = result["games"]
    assert games == 8 * 12  # tiny: 8 questions, 6 pairs in both orders, turn 1
    assert result["with_verdict"]["bare"] == result["with_verdict"]["weighted"] == games
    assert result["with_verdict"]["plain"] == 0  # the fake, like a random-weight model, writes none unasked
    stage = next(p for p in result["passes"] if p["path"] == "stage")
    assert stage["reviews"] == games and stage["errors"] == 0
    weighted = next(p for p in result["passes"] if p["path"] == "weighted")
    assert weighted["weighted"] == games
    assert {"constraint_cost", "weighting_cost"} <= result.keys()


@pytest.mark.parametrize("backend", ["replicas", "engine"])
def test_data_parallel_comparison_runs_one_gpu_then_n(tmp_path, monkeypatch, backend):
    from arena.providers.vllm_replicas import ReplicatedVllmProvider

    engine = FakeEngine(step_size=64)
    install(monkeypatch, engine)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(ReplicatedVllmProvider, "worker_setup", ("tests.providers.fake_vllm:install_in_process", {}))
    bench = load_bench()
    common = ["--model", "/models/judge", "--questions", "tiny", "--answer-words", "20", "--passes", "1"]

    def child_in_process(args, dp):  # what in_child does, minus the fresh process
        child_out = tmp_path / f"child{dp}.json"
        bench.main([*common, "--child-dp", str(dp), "--dp-backend", args.dp_backend, "--out", str(child_out)])
        return json.loads(child_out.read_text())

    out = tmp_path / "dp.json"
    result = bench.main([*common, "--data-parallel-size", "2", "--dp-backend", backend, "--out", str(out)],
                        run_child=child_in_process)
    assert json.loads(out.read_text()) == result
    assert result["dp1"]["backend"] == "single" and result["dp2"]["backend"] == backend
    assert result["scaling"] == pytest.approx(result["dp2"]["judgments_per_s"] / result["dp1"]["judgments_per_s"], abs=1e-3)
    for run in (result["dp1"], result["dp2"]):
        assert run["passes"][0]["reviews"] == 8 * 12 and run["passes"][0]["errors"] == 0
    assert result["target"] == 1.7
