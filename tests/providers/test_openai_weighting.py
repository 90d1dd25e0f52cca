"""Probability-weighted verdicts from an OpenAI judge, end to end: `arena run` against the loopback
server, which returns `logprobs.content` in OpenAI's shape with a known distribution at the verdict
letter (fault_server.letter_probs). The reviews carry that distribution (the off-option token's mass
dropped, the rest renormalised) and model_a's expected outcome beside the written verdict."""

from __future__ import annotations

import json

import pytest
import yaml

from arena.cli import main
from tests.providers.fault_server import OFF_OPTION, FaultServer, Plan, letter_probs
from tests.providers.judge_runs import KEY_ENV, MODELS, judge_config, reviews, write_questions

QUESTIONS = 3
CALLS = QUESTIONS * MODELS * (MODELS - 1)  # pairwise-all, both orders
VLLM_ONLY = ("structured_outputs", "continue_final_message", "add_generation_prompt")
LABEL = {"A": "A", "B": "B", "C": "tie"}  # the abc verdict's tokens -> the labels reviews store


def _run(tmp_path, server: FaultServer, weighting: str, *, stream: bool = False) -> dict:
    questions = write_questions(tmp_path, count=QUESTIONS)
    config = judge_config(tmp_path / "run", questions, tmp_path / "cache", provider="openai", url=server.openai_url,
                          stream=stream, timeout_s=5.0)
    config["judges"][0]["verdict_weighting"] = weighting
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path), "--stages", "answers,reviews"]) == 0
    return json.loads((tmp_path / "run" / "summary.json").read_text())["reviews"]["judge"]


def expected_probs(written_label: str) -> dict[str, float]:
    """The server's distribution at the written letter, " The" dropped and the rest renormalised."""
    letter = {label: token for token, label in LABEL.items()}[written_label]
    kept = {LABEL[t]: p for t, p in letter_probs(letter).items() if t != OFF_OPTION[0]}
    total = sum(kept.values())
    assert total == pytest.approx(1.0 - OFF_OPTION[1])
    return {label: p / total for label, p in kept.items()}


@pytest.mark.parametrize("stream", [False, True])  # a streaming client still asks plainly for logprobs
def test_probability_weighting_reads_openai_logprobs(tmp_path, monkeypatch, stream):
    monkeypatch.setenv(KEY_ENV, "sk-test-key")
    server = FaultServer(Plan()).start()
    try:
        summary = _run(tmp_path, server, "probability", stream=stream)
    finally:
        server.stop()

    sent = server.stats.sent
    assert len(sent) == CALLS
    for fields in sent:
        assert fields.get("logprobs") is True and fields.get("top_logprobs") == 20, fields
        assert not any(name in fields for name in VLLM_ONLY), fields
        assert "stream" not in fields or fields["stream"] is False

    rows = reviews(tmp_path / "run")
    assert len(rows) == CALLS and all(r.status == "ok" for r in rows)
    written = {r.verdict for r in rows}
    assert written <= {"A", "B", "tie"} and len(written) > 1  # the server writes several verdicts
    flipped = 0
    for r in rows:
        assert r.verdict_probs is not None and len(r.verdict_probs) == 1
        (probs,) = r.verdict_probs
        assert set(probs) == {"A", "B", "tie"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        want = expected_probs(r.verdict)  # the written verdict is kept beside its distribution
        assert probs == pytest.approx(want, abs=1e-6)
        assert max(probs, key=probs.get) == r.verdict  # written at temperature 0: the argmax
        first_outcome = want["A"] + 0.5 * want["tie"]  # the answer shown first
        model_a_outcome = first_outcome if r.first == r.model_a else 1.0 - first_outcome
        flipped += r.first != r.model_a
        assert r.weighted == pytest.approx(model_a_outcome, abs=1e-6)
        sides = ("model_a", "model_b") if r.first == r.model_a else ("model_b", "model_a")
        assert r.winner == {"A": sides[0], "B": sides[1], "tie": "tie"}[r.verdict]
    assert 0 < flipped < CALLS  # both orders were judged
    assert summary["verdict_weighting"] == "probability" and summary["verdict_constraint"] == "none"
    assert summary["weighted_reviews"] == CALLS and summary["failed"] == 0


def test_argmax_judge_sends_no_logprobs(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-key")
    server = FaultServer(Plan()).start()
    try:
        summary = _run(tmp_path, server, "argmax")
    finally:
        server.stop()
    sent = server.stats.sent
    assert len(sent) == CALLS
    assert not any(name in fields for fields in sent for name in ("logprobs", "top_logprobs", *VLLM_ONLY))
    rows = reviews(tmp_path / "run")
    assert len(rows) == CALLS and all(r.status == "ok" for r in rows)
    assert all(r.weighted is None and r.verdict_probs is None for r in rows)
    assert summary["verdict_weighting"] == "argmax" and summary["weighted_reviews"] == 0


def test_reply_without_logprobs_keeps_its_written_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-key")
    server = FaultServer(Plan(seed=3, no_logprobs_rate=0.3)).start()
    try:
        summary = _run(tmp_path, server, "probability")
    finally:
        server.stop()
    withheld = server.stats.logprobs_withheld
    assert 0 < withheld < CALLS
    assert len(server.stats.sent) == CALLS  # no retries: a reply without logprobs is a good reply
    rows = reviews(tmp_path / "run")
    assert len(rows) == CALLS and all(r.status == "ok" and r.verdict is not None and r.attempts == 1 for r in rows)
    bare = [r for r in rows if r.weighted is None]
    assert len(bare) == withheld
    assert all(r.verdict_probs is None and r.winner is not None for r in bare)
    assert all(r.verdict_probs == [pytest.approx(expected_probs(r.verdict), abs=1e-6)] for r in rows if r.weighted is not None)
    assert summary["weighted_reviews"] == CALLS - withheld and summary["reviews"] == CALLS
