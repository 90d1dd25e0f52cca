"""The GPU benchmark's plumbing on the CPU, with the fake vLLM module and the stand-in server:
every phase runs, counts the same tokens on both paths and writes its figures. (The figures
themselves only mean something on the GPU machine.)"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import pytest

from arena.providers import vllm_server
from tests.providers.fake_vllm import FakeEngine, install
from tests.providers.process_checks import server_pids, wait_gone

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_answers_gpu.py"
FAKE_SERVER = Path(__file__).resolve().parents[1] / "providers" / "fake_vllm_server.py"


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("bench_answers_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    return folder


def args_for(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", str(model_dir), "--out", str(out), "--prompts", "40", "--max-tokens", "8", "--rounds", "2", *extra]


def test_offline_phase_compares_stage_and_bare_on_one_engine(bench, model_dir, tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    out = tmp_path / "offline.json"
    assert bench.main(args_for(model_dir, out)) == 0
    result = json.loads(out.read_text())
    offline = result["offline"]
    assert len(engine.engines) == 1  # built once, shared by both paths
    assert engine.engines[0]["model"] == str(model_dir) and engine.engines[0]["max_model_len"] == 2048
    assert [(p["round"], p["path"]) for p in offline["passes"]] == [(0, "bare"), (0, "stage"), (1, "stage"), (1, "bare")]
    assert {p["output_tokens"] for p in offline["passes"]} == {40 * 8}
    assert offline["ratio"] == pytest.approx(offline["stage_output_tokens_per_s"] / offline["bare_output_tokens_per_s"])
    assert len(offline["ratio_per_round"]) == 2 and offline["target"] == 0.9
    assert result["settings"]["prompts"] == 40 and engine.shutdowns == 1
    # Both paths asked for the same prompts with the same per-prompt settings.
    bare, stage = engine.batches[2], engine.batches[3]  # after the two warm-up batches
    assert [c for c, _ in bare] == [c for c, _ in stage]
    assert [p.kwargs["temperature"] for _, p in bare] == [p.kwargs["temperature"] for _, p in stage]
    assert {p.kwargs["ignore_eos"] for _, p in stage} == {True}


def test_server_phase_compares_stage_and_bare_clients_on_one_server(bench, model_dir, tmp_path, monkeypatch):
    install(monkeypatch, FakeEngine())  # importable, as on the GPU machine; the server is the stand-in
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(vllm_server, "server_command", lambda cfg, port: [
        sys.executable, str(FAKE_SERVER), "--port", str(port), "--served-model-name", cfg.name,
        "--pidfile", str(tmp_path / "pids")])
    out = tmp_path / "server.json"
    assert bench.main(args_for(model_dir, out, "--no-offline", "--server", "--concurrency", "8")) == 0
    server = json.loads(out.read_text())["server"]
    assert {p["path"] for p in server["passes"]} == {"stage", "bare-plain", "stage-stream", "bare-stream"}
    assert {p["output_tokens"] for p in server["passes"]} == {40 * 8}
    assert server["ratio"] > 0 and server["ratio_streamed"] > 0 and server["server_start_s"] > 0
    streamed = next(p for p in server["passes"] if p["path"] == "stage-stream")
    assert streamed["stage_summary"]["ttft_p50_s"] is not None  # streamed: every answer has its TTFT
    assert wait_gone(server_pids(tmp_path), 1.0)  # the bench stops the server it started


@pytest.mark.parametrize("backend", ["auto", "replicas"])
def test_data_parallel_phase_runs_each_size_as_a_child(bench, model_dir, tmp_path, monkeypatch, backend):
    from arena.providers.vllm_replicas import ReplicatedVllmProvider

    engine = FakeEngine()
    install(monkeypatch, engine)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(ReplicatedVllmProvider, "worker_setup", ("tests.providers.fake_vllm:install_in_process", {}))

    def child_in_process(args, dp):  # what in_child does, minus the fresh process
        child_out = tmp_path / f"child{dp}.json"
        argv = args_for(model_dir, child_out, "--child-dp", str(dp), "--dp-mode", args.dp_mode, "--dp-backend", args.dp_backend)
        assert bench.main(argv) == 0
        return json.loads(child_out.read_text())

    out = tmp_path / "dp.json"
    argv = args_for(model_dir, out, "--no-offline", "--dp", "2", "--dp-backend", backend)
    assert bench.main(argv, run_child=child_in_process) == 0
    dp = json.loads(out.read_text())["data_parallel"]
    assert dp["dp1"]["data_parallel_size"] == 1 and dp["dp2"]["data_parallel_size"] == 2 and dp["backend"] == backend
    assert dp["scaling"] == pytest.approx(dp["dp2"]["stage_output_tokens_per_s"] / dp["dp1"]["stage_output_tokens_per_s"])
    assert "data_parallel_size" not in engine.engines[0]
    if backend == "auto":  # a candidate's default: vLLM's own engine, in this process
        assert engine.engines[1]["data_parallel_size"] == 2
    else:  # replicas: their engines live in worker processes
        assert len(engine.engines) == 1
    assert {p["output_tokens"] for p in dp["dp2"]["passes"]} == {40 * 8}


def test_missing_model_folder_is_a_clear_error(bench, tmp_path, capsys):
    assert bench.main(["--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o.json")]) == 2
    assert "make_model.py" in capsys.readouterr().err


def test_missing_vllm_points_at_the_kits_env_file(bench, model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "vllm", None)
    assert bench.main(args_for(model_dir, tmp_path / "o.json")) == 2
    assert ". /tmp/vllm-env.sh" in capsys.readouterr().err


def test_engine_that_cannot_start_is_one_line(bench, model_dir, tmp_path, monkeypatch, capsys):
    install(monkeypatch, FakeEngine(init_error=RuntimeError("CUDA out of memory")))
    assert bench.main(args_for(model_dir, tmp_path / "o.json")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not start the engine" in err[0] and "vllm.tensor_parallel_size" in err[0]


def test_synthetic_questions_are_deterministic_and_cover_the_categories(bench):
    first, again = bench.synthetic_questions(16), bench.synthetic_questions(16)
    assert first == again and len({q.turns[0] for q in first}) == 16
    assert {q.category for q in first} == set(bench.CATEGORIES)
