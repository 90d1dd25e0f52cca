"""bench_vllm_judge.py's plumbing, on the fake vLLM engine instead of a GPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

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
