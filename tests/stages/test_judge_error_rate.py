"""A judge whose replies mostly lack a verdict must not look like a success: one warning per judge
(error rate, count, first reply without a verdict, key masked), and the stage fails (exit 1, the
summary says why) above `max_error_rate`, after every parsed verdict is stored; the next run asks
only the games that had none."""

from __future__ import annotations

import json
import logging

import yaml

from arena.cli import main
from arena.records import Battle, Review
from arena.store import read_records
from tests.conftest import base_config
from tests.providers.fault_server import FaultServer, Plan
from tests.providers.judge_runs import KEY_ENV, judge_config, write_questions

CANARY = "sk-canary-0123456789abcdef"


def _write(tmp_path, config, name="run.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_mostly_verdictless_judge_fails_the_run_after_storing_what_parsed(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv(KEY_ENV, CANARY)
    server = FaultServer(Plan(seed=3, verdictless_rate=0.75)).start()
    try:
        out = tmp_path / "run"
        config = judge_config(out, write_questions(tmp_path, count=6), tmp_path / "cache", provider="openai_compatible",
                              url=server.openai_url, stream=False)
        config["judges"][0]["verdict_retries"] = 1
        config["stages"] = ["answers", "reviews", "ratings"]
        path = _write(tmp_path, config)
        with caplog.at_level(logging.WARNING):
            code = main(["run", "-c", str(path)])
        captured = capsys.readouterr()
        assert code == 1
        assert "rank  model" not in captured.out, "no leaderboard is printed from the verdicts that parsed"
        assert not (out / "ratings" / "leaderboard.csv").exists()
        assert "judge judge: " in captured.err and "above max_error_rate 0.1" in captured.err
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "have no verdict" in r.getMessage()]
        assert len(warnings) == 1
        assert "Verdict: Assistant A is somewhat better" in warnings[0] and "%)" in warnings[0]
        assert CANARY not in warnings[0] and "***" in warnings[0]
        stored = read_records(out / "reviews" / "judge.jsonl", Review)
        errors = [r for r in stored if r.status == "error"]
        assert len(stored) == 6 * 20 and 0.6 < len(errors) / len(stored) < 0.9
        # What parsed is stored, and battles were built from it.
        battles = read_records(out / "battles.jsonl", Battle)
        assert sum(len(b.games) for b in battles) == len(stored) - len(errors)
        summary = json.loads((out / "summary.json").read_text())["reviews"]["judge"]
        assert summary["status"].startswith("failed: ") and "max_error_rate 0.1" in summary["status"]
        assert summary["errors"] == len(errors) and summary["max_error_rate"] == 0.1
        assert CANARY not in (out / "summary.json").read_text()

        # Accepting the rate: the next run asks again only the games without a verdict (the
        # cache answers them, so nothing is paid twice), and the stage passes.
        ok_before = {r.key: r for r in stored if r.status == "ok"}
        requests_before = server.snapshot()["requests"]
        config["judges"][0]["max_error_rate"] = 0.95
        assert main(["run", "-c", str(_write(tmp_path, config))]) == 0
        summary = json.loads((out / "summary.json").read_text())["reviews"]["judge"]
        assert summary["calls_this_run"] == len(errors) * 2  # each: the first ask and one re-ask
        assert summary["calls_paid_this_run"] == 0 and server.snapshot()["requests"] == requests_before
        again = {r.key: r for r in read_records(out / "reviews" / "judge.jsonl", Review)}
        assert all(again[k] == r for k, r in ok_before.items())
        assert summary["status"] == "ok"
    finally:
        server.stop()


def test_a_judge_under_its_limit_warns_once_and_passes(tmp_path, write_config, caplog):
    out = tmp_path / "run"
    config = base_config(out)
    config["judges"][0]["simulated"] = {"no_verdict_rate": 0.3}
    config["judges"][0]["verdict_retries"] = 1
    config["judges"][0]["max_error_rate"] = 0.2
    with caplog.at_level(logging.WARNING):
        assert main(["run", "-c", str(write_config(config)), "--stages", "answers,reviews"]) == 0
    warnings = [r.getMessage() for r in caplog.records if "have no verdict" in r.getMessage()]
    assert len(warnings) == 1 and "I need more context" in warnings[0]
    summary = json.loads((out / "summary.json").read_text())["reviews"]["j"]
    assert 0 < summary["error_rate"] <= 0.2 and summary["status"] == "ok"


def test_max_error_rate_is_checked_up_front(tmp_path, write_config, capsys):
    config = base_config(tmp_path / "run")
    config["judges"][0]["max_error_rate"] = 1.5
    assert main(["run", "-c", str(write_config(config))]) == 2
    assert "judges[0].max_error_rate: expected a share in [0, 1]" in capsys.readouterr().err
