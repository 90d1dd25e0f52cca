"""Serving figures of the answers stage: hand-computed values, and throughput measured on this
invocation's answers only (a resumed run does not mix in answers timed by an earlier one)."""

from __future__ import annotations

import json

import pytest
import yaml

from arena.cli import main
from arena.records import Answer, Choice
from arena.registry import default_temperature
from arena.stages.serving import request_count, serving_summary, session_figures


def answer(qid: str, turns: int, choices: int, tokens: int, latency: float, ttft: float | None) -> Answer:
    return Answer(
        question_id=qid, answer_id=qid, model_id="m", tstamp=0.0,
        choices=[Choice(index=i, turns=["x"] * turns) for i in range(choices)],
        prompt_tokens=[10] * turns, output_tokens=[tokens] * turns,
        latency_s=[latency] * turns, ttft_s=[ttft] * turns,
    )


def test_session_figures_by_hand():
    generated = [answer("a", 1, 1, 100, 1.0, 0.1), answer("b", 1, 1, 300, 3.0, 0.3), answer("c", 1, 1, 200, 2.0, None)]
    figures = session_figures(generated, wall_s=4.0, engine_start_s=50.0)
    assert figures["requests"] == 3 and figures["measured_output_tokens"] == 600
    assert figures["requests_per_s"] == pytest.approx(0.75)
    assert figures["output_tokens_per_s"] == pytest.approx(150.0)
    assert figures["latency_p50_s"] == pytest.approx(2.0)
    assert figures["latency_p99_s"] == pytest.approx(2.98)  # numpy's linear interpolation: 2 + 0.98
    assert figures["ttft_p50_s"] == pytest.approx(0.2)  # TTFT only where it was measured
    assert figures["engine_start_s"] == 50.0


def test_request_count_follows_turns_and_choices():
    assert request_count(answer("a", 2, 1, 1, 1, None)) == 2
    assert request_count(answer("a", 2, 3, 1, 1, None)) == 1 + 3  # one request samples all 3, then 3
    assert request_count(answer("a", 1, 3, 1, 1, None)) == 1


def test_totals_cover_all_answers_but_throughput_only_this_invocations():
    old = [answer(f"o{i}", 1, 1, 1000, 9.0, None) for i in range(3)]
    new = [answer("n", 1, 1, 50, 0.5, None)]
    summary = serving_summary(old + new, new, wall_s=1.0)
    assert summary["answers"] == 4 and summary["output_tokens"] == 3050
    assert summary["measured_answers"] == 1 and summary["output_tokens_per_s"] == pytest.approx(50.0)
    assert summary["latency_p99_s"] == pytest.approx(0.5)


def test_nothing_generated_keeps_the_previous_sessions_figures():
    all_answers = [answer("a", 1, 1, 10, 1.0, None)]
    previous = serving_summary(all_answers, all_answers, wall_s=2.0)
    again = serving_summary(all_answers, [], wall_s=0.0, previous=previous)
    assert again == previous
    fresh = serving_summary(all_answers, [], wall_s=0.0)
    assert fresh["output_tokens_per_s"] is None and fresh["measured_answers"] == 0


def test_resumed_stage_measures_only_what_it_generated(tmp_path):
    def run(limit: int | None) -> dict:
        config = {
            "name": "s", "output_dir": str(tmp_path / "run"), "dry_run": True, "stages": ["answers"],
            "questions": {"source": "tiny", "limit": limit} if limit else "tiny",
            "models": [{"name": "m", "provider": "simulated", "simulated": {"latency_s": 0.01}}],
        }
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(config))
        assert main(["run", "-c", str(path)]) == 0
        return json.loads((tmp_path / "run" / "summary.json").read_text())["answers"]["m"]

    first = run(limit=3)
    assert first["answers"] == first["measured_answers"] == 3
    second = run(limit=None)
    assert second["answers"] == 8 and second["measured_answers"] == 5
    assert second["measured_output_tokens"] < second["output_tokens"]
    assert second["output_tokens_per_s"] == pytest.approx(second["measured_output_tokens"] / second["generation_wall_s"], rel=0.05)  # wall rounded to ms
    third = run(limit=None)  # nothing left to generate: the last session's figures stay
    assert {k: third[k] for k in ("measured_answers", "output_tokens_per_s", "measured_at")} == {
        k: second[k] for k in ("measured_answers", "output_tokens_per_s", "measured_at")
    }


@pytest.mark.parametrize(
    ("category", "temperature"),
    [("writing", 0.7), ("roleplay", 0.7), ("math", 0.0), ("coding", 0.0), ("reasoning", 0.0),
     ("extraction", 0.0), ("stem", 0.1), ("humanities", 0.1), ("something-else", 0.1)],
)
def test_registry_temperatures_follow_mt_bench(category, temperature):
    assert default_temperature(category) == temperature
