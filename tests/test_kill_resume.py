"""SIGKILL at random points, 20 times: the final files equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, base_config

# Timing fields differ between any two runs; everything else must match.
TIMING_FIELDS = {"tstamp", "latency_s", "ttft_s"}
STAGES = "answers,reviews,ratings"


def _config(out: Path) -> dict:
    config = base_config(out)
    config["models"].append({"name": "m4", "provider": "simulated", "simulated": {"strength": 950}})
    for model in config["models"]:
        model["simulated"]["latency_s"] = 0.01
        model["client"] = {"max_concurrency": 4}
    # Missing verdicts exercise re-asks and error rows under the kills too.
    config["judges"][0]["simulated"] = {"latency_s": 0.01, "no_verdict_rate": 0.1}
    config["judges"][0]["client"] = {"max_concurrency": 4}
    return config


def _command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "arena.cli", "run", "-c", str(config_path), "--stages", STAGES]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _records(path: Path) -> tuple[list[str], list[dict]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in lines]
    return lines, rows


def _snapshot(out: Path) -> dict[str, list]:
    """Every record file, as sorted records without timing fields; fails on duplicates."""
    snapshot = {}
    for path in sorted(list(out.glob("answers/*.jsonl")) + list(out.glob("reviews/*.jsonl")) + [out / "battles.jsonl"]):
        lines, rows = _records(path)
        keys = [json.dumps(r, sort_keys=True) for r in rows]
        assert len(set(keys)) == len(keys), f"{path}: duplicated records"
        snapshot[str(path.relative_to(out))] = sorted(keys)
    snapshot["ratings/leaderboard.csv"] = (out / "ratings" / "leaderboard.csv").read_text().splitlines()
    return snapshot


@pytest.mark.slow
def test_sigkill_twenty_times_then_finish_equals_an_uninterrupted_run(tmp_path):
    reference_out, killed_out = tmp_path / "reference", tmp_path / "killed"
    reference_cfg = tmp_path / "reference.yaml"
    reference_cfg.write_text(yaml.safe_dump(_config(reference_out)))
    killed_cfg = tmp_path / "killed.yaml"
    killed_cfg.write_text(yaml.safe_dump(_config(killed_out)))

    start = time.perf_counter()
    subprocess.run(_command(reference_cfg), cwd=REPO, env=_env(), check=True, capture_output=True)
    full_run_s = time.perf_counter() - start

    rng = random.Random(1234)
    kills, completed = 0, 0
    for _ in range(20):
        proc = subprocess.Popen(_command(killed_cfg), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Within the first half of a full run's time: each attempt does part of the work, so the
        # kills spread over start-up, answers, reviews and ratings rather than finding it done.
        time.sleep(rng.uniform(0.05, full_run_s / 2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        else:
            completed += 1
        proc.wait()
    assert kills >= 10, f"most kills must land while the run is still working ({kills} kills, {completed} finished)"
    subprocess.run(_command(killed_cfg), cwd=REPO, env=_env(), check=True, capture_output=True)

    assert _snapshot(killed_out) == _snapshot(reference_out)
    leftovers = [p for p in killed_out.rglob(".*.tmp")]
    assert not leftovers
