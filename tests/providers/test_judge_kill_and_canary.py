"""A judge run killed with SIGKILL resumes without losing or re-buying answers; and the API key
never reaches a file, a log line or an error message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import yaml

from arena.cli import main
from tests.conftest import REPO
from tests.providers.fault_server import FaultServer, Plan
from tests.providers.judge_runs import KEY_ENV, judge_config, reviews, verdicts, write_questions


def _cli(config_path, *extra):
    return [sys.executable, "-m", "arena.cli", "run", "-c", str(config_path), "--stages", "answers,reviews", *extra]


def _env(key: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: key}


def test_sigkill_mid_run_then_resume_loses_nothing_and_pays_once(tmp_path, monkeypatch):
    questions = write_questions(tmp_path, count=10)  # 200 judge calls
    server = FaultServer(Plan(seed=3, fault_rate=0.2, retry_after_s=0.05, hang_s=1.3, latency_s=0.01)).start()
    clean = FaultServer(Plan()).start()
    try:
        out = tmp_path / "killed"
        config = judge_config(out, questions, tmp_path / "cache", provider="openai_compatible", url=server.openai_url,
                              stream=True, max_concurrency=8)
        path = tmp_path / "killed.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = subprocess.Popen(_cli(path), cwd=REPO, env=_env("sk-kill"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while sum(server.stats.done.values()) < 80 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait()
        done_before = sum(server.stats.done.values())
        assert 80 <= done_before < 200

        resumed = subprocess.run(_cli(path), cwd=REPO, env=_env("sk-kill"), capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr[-2000:]

        monkeypatch.setenv(KEY_ENV, "sk-kill")
        ref_out = tmp_path / "clean"
        ref = judge_config(ref_out, questions, tmp_path / "cache-clean", provider="openai_compatible", url=clean.openai_url, stream=False)
        ref_path = tmp_path / "clean.yaml"
        ref_path.write_text(yaml.safe_dump(ref))
        assert main(["run", "-c", str(ref_path), "--stages", "answers,reviews"]) == 0
    finally:
        server.stop()
        clean.stop()

    # Nothing lost: every game once, with the fault-free verdict.
    lines = (out / "reviews" / "judge.jsonl").read_text().splitlines()
    rows = reviews(out)
    assert len(rows) == 200 and len(lines) == len({r.key for r in rows})
    assert all(r.status == "ok" for r in rows)
    assert verdicts(out) == verdicts(ref_out)
    # Nothing paid twice, except answers that were on the wire when the process died (at most
    # one per connection in flight): whatever the killed run had received, it had cached.
    stats = server.stats
    assert set(stats.done) == set(stats.arrivals)
    twice = [k for k, n in stats.done.items() if n > 1]
    assert max(stats.done.values()) <= 2 and len(twice) <= 8
    assert all(stats.done_at[k][0] > killed_at - 1.0 for k in twice)


def test_canary_key_never_written_logged_or_raised(tmp_path):
    canary = f"sk-CANARY-{uuid.uuid4().hex}"
    questions = write_questions(tmp_path, count=3)
    server = FaultServer(Plan(seed=5, fault_rate=0.3, retry_after_s=0.05, hang_s=1.3)).start()
    try:
        config = judge_config(tmp_path / "run", questions, tmp_path / "cache", provider="openai_compatible",
                              url=server.openai_url, stream=False)
        # A second judge whose calls are refused with a 401 that echoes the key back.
        refused = yaml.safe_load(yaml.safe_dump(config["judges"][0]))
        refused.update(name="refused", provider="anthropic", model="reject-me")
        refused["client"].update(base_url=server.anthropic_url, max_retries=1)
        config["judges"].append(refused)
        path = tmp_path / "canary.yaml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run(_cli(path, "-v"), cwd=REPO, env=_env(canary), capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert canary in server.stats.auth  # the key was really sent, so there was something to leak
    assert result.returncode == 1  # the refused judge's calls failed for good
    summary = (tmp_path / "run" / "summary.json").read_text()
    assert "HTTP 401: Incorrect API key provided: ***" in summary  # the echo came back, masked
    assert canary not in result.stdout and canary not in result.stderr
    assert canary[8:] not in result.stderr  # not even a tail of it
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any("cache" in p.parts for p in written) and any(p.name == "summary.json" for p in written)
    for p in written:
        assert canary.encode() not in p.read_bytes(), p
