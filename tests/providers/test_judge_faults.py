"""Real judge clients (openai, anthropic) through the reviews stage against a loopback server that
injects every kind of fault: each call is paid exactly once, verdicts match a fault-free run."""

from __future__ import annotations

import json

import pytest
import yaml

from arena.cli import main
from tests.providers.fault_server import KINDS, FaultServer, Plan
from tests.providers.judge_runs import KEY_ENV, judge_config, reviews, verdicts, write_questions

WIRES = {"openai_compatible": "openai_url", "anthropic": "anthropic_url"}


def _run(tmp_path, name, config) -> int:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return main(["run", "-c", str(path), "--stages", "answers,reviews"])


@pytest.mark.parametrize("provider,stream", [
    ("openai_compatible", True), ("anthropic", False),
    # Plain calls: the client's documented post() with our body, the answer read as JSON.
    ("openai_compatible", False),
])
def test_twenty_percent_faults_every_call_paid_once_same_verdicts(tmp_path, monkeypatch, provider, stream):
    monkeypatch.setenv(KEY_ENV, "sk-test-key")
    monkeypatch.setattr("arena.providers.calls.BACKOFF_BASE_S", 0.05)  # the policy, not its pace, is under test
    questions = write_questions(tmp_path)
    faulty = FaultServer(Plan(seed=7, fault_rate=0.2, retry_after_s=0.05, hang_s=1.3)).start()
    clean = FaultServer(Plan()).start()
    try:
        out = tmp_path / "faulty"
        config = judge_config(out, questions, tmp_path / "cache-faulty", provider=provider,
                              url=getattr(faulty, WIRES[provider]), stream=stream)
        assert _run(tmp_path, "faulty", config) == 0
        ref_out = tmp_path / "clean"
        # The reference run uses the other transport (plain JSON vs SSE), so both are exercised.
        ref = judge_config(ref_out, questions, tmp_path / "cache-clean", provider=provider,
                           url=getattr(clean, WIRES[provider]), stream=not stream)
        assert _run(tmp_path, "clean", ref) == 0
    finally:
        faulty.stop()
        clean.stop()

    stats = faulty.stats
    expected_kinds = set(KINDS) - ({"529"} if provider != "anthropic" else set())
    assert set(stats.faults) == expected_kinds, stats.faults  # every kind of fault happened
    assert sum(stats.faults.values()) >= 0.15 * 500
    # Every request was eventually answered once, and none twice (the server counts).
    assert set(stats.done) == set(stats.arrivals)
    assert max(stats.done.values()) == 1
    assert len(stats.done) == 500 + stats.faults["no_verdict"]  # each no-verdict answer was re-asked once
    got, want = verdicts(out), verdicts(ref_out)
    assert len(got) == 500 and got == want
    rows = reviews(out)
    assert all(r.status == "ok" for r in rows)
    assert sum(r.attempts == 2 for r in rows) == stats.faults["no_verdict"]
    summary = json.loads((out / "summary.json").read_text())["reviews"]["judge"]
    assert summary["failed"] == 0 and summary["calls_paid_this_run"] == len(stats.done)
    assert summary["calls_cached_this_run"] == 0


def test_rerun_and_second_config_pay_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-key")
    questions = write_questions(tmp_path, count=3)
    server = FaultServer(Plan(seed=1, fault_rate=0.3, kinds=("no_verdict", "429"), retry_after_s=0.05)).start()
    try:
        cache = tmp_path / "cache"
        first = judge_config(tmp_path / "one", questions, cache, provider="openai_compatible", url=server.openai_url,
                             stream=False, model="gpt-4o-mini")
        assert _run(tmp_path, "one", first) == 0
        paid = sum(server.stats.done.values())
        summary = json.loads((tmp_path / "one" / "summary.json").read_text())["reviews"]["judge"]
        assert summary["calls_paid_this_run"] == paid and summary["cost_usd_this_run"] > 0  # gpt-4o-mini has a price
        # Another config (other run folder, other name) asking the same questions of the same judge.
        second = {**first, "name": "other", "output_dir": str(tmp_path / "two")}
        assert _run(tmp_path, "two", second) == 0
        assert sum(server.stats.done.values()) == paid
        summary = json.loads((tmp_path / "two" / "summary.json").read_text())["reviews"]["judge"]
        assert summary["calls_paid_this_run"] == 0 and summary["calls_cached_this_run"] == paid
        assert summary["cost_usd_this_run"] == 0.0 and summary["cost_usd_total"] == 0.0
        assert verdicts(tmp_path / "one") == verdicts(tmp_path / "two")
        assert all(r.cached for r in reviews(tmp_path / "two"))
    finally:
        server.stop()


def test_missing_key_is_one_line_exit_2_before_any_call(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("ARENA_OTHER_KEY", "sk-present")
    questions = write_questions(tmp_path, count=2)
    server = FaultServer().start()
    try:
        config = judge_config(tmp_path / "run", questions, tmp_path / "cache", provider="anthropic",
                              url=server.anthropic_url, stream=False)
        # The first judge has its key; the second does not: nothing may be called at all.
        present = json.loads(json.dumps(config["judges"][0]))
        present["name"] = "first"
        present["client"]["api_key_env"] = "ARENA_OTHER_KEY"
        config["judges"].insert(0, present)
        capsys.readouterr()
        assert _run(tmp_path, "run", config) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and KEY_ENV in err[0] and err[0].startswith("error:")
        assert server.stats.requests == 0
    finally:
        server.stop()


def test_pacing_pause_holds_every_worker(tmp_path):
    """A 429 with Retry-After pauses all workers: after it, no call starts before the pause ends."""
    import asyncio

    from arena.providers.pacing import Pacer

    now = [0.0]
    pacer = Pacer(requests_per_minute=600, clock=lambda: now[0])
    pacer.pause(2.0)
    assert pacer.paused_until == 2.0 and pacer.pauses == 1
    pacer.pause(1.0)  # a shorter pause does not shorten the running one
    assert pacer.paused_until == 2.0 and pacer.pauses == 1

    slept: list[float] = []

    async def fake_sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    async def go():
        original = asyncio.sleep
        asyncio.sleep = fake_sleep  # type: ignore[assignment]
        try:
            for _ in range(3):
                await pacer.wait_turn(10)
        finally:
            asyncio.sleep = original  # type: ignore[assignment]

    asyncio.run(go())
    # Waited out the pause, then paced at 10 requests/s from an empty bucket.
    assert slept[0] == pytest.approx(2.0)
    assert now[0] == pytest.approx(2.3)
