"""bench_vllm_judge_server.py's plumbing, against the loopback judge server instead of vLLM."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO
from tests.providers.fault_server import FaultServer


def test_bench_vllm_judge_against_a_running_server(tmp_path):
    server = FaultServer().start()
    out = tmp_path / "result.json"
    try:
        result = subprocess.run(
            [sys.executable, "bench/bench_vllm_judge_server.py", "--base-url", server.openai_url, "--served-name", "judge",
             "--n", "16", "--concurrency", "8", "--prompt-tokens", "200", "--max-tokens", "20", "--passes", "1",
             "--out", str(out)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(out.read_text())
    assert [p["path"] for p in data["passes"]] == ["bare", "stage"]
    stage = data["passes"][1]
    assert stage["reviews"] == 16 and stage["failed"] == 0
    assert data["ratio"] > 0 and "judgments/s" in result.stdout
    # Both paths sent the same requests: each prompt reached the server once from each path
    # (plus the warm-up), with ignore_eos so every answer has max_tokens tokens.
    assert sum(server.stats.done.values()) == 16 * 2 + 8
    assert all(b.get("ignore_eos") for b in server.stats.bodies.values())
