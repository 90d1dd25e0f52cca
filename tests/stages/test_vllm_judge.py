"""Open-weight judges in vLLM, with the fake engine (tests/providers/fake_vllm.py) and the fake
server: the whole arena on one GPU (candidates' engines released before the judge's loads), all
games in one engine batch, verdicts forced by the template's grammar, cut replies completed by a
batched continuation, probability-weighted verdicts, resume, and a judge that cannot load."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.cli import main
from arena.judging.grammar import grammar
from arena.records import Battle, Review
from arena.store import read_records
from tests.providers.fake_judge import FREE_TEXT
from tests.providers.fake_vllm import FakeEngine, install
from tests.providers.test_vllm_server import use_fake_server


def write_arena(tmp_path: Path, judge: dict[str, Any], stages: list[str] | None = None, dry_run_models: bool = False) -> Path:
    models = [{"name": n, "provider": "vllm", "model": f"/models/{n}", "generation": {"max_tokens": 32}} for n in ("m1", "m2")]
    config = {
        "name": "gpu-arena",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "questions": "tiny",
        "stages": stages or ["answers", "reviews", "ratings"],
        "models": models,
        "judges": [{"name": "judge", "provider": "vllm", "model": "/models/judge", "mode": "pairwise-all",
                    "generation": {"max_tokens": 200}, **judge}],
        "ratings": {"bootstrap": 20},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def reviews_of(tmp_path: Path, run: str = "run") -> list[Review]:
    return read_records(tmp_path / run / "reviews" / "judge.jsonl", Review)


def judge_batches(engine: FakeEngine) -> list[list[tuple[Any, Any]]]:
    """The engine batches that were judge requests (those carry a verdict constraint or a judge prompt)."""
    return [b for b in engine.batches if b and "assistants" in json.dumps(b[0][0])]


def test_whole_arena_on_one_gpu_every_review_has_a_verdict(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    assert main(["run", "-c", str(write_arena(tmp_path, {}))]) == 0
    # One model on the GPU at a time: each candidate's engine is shut down before the next
    # starts, and the judge's loads last.
    assert engine.events == ["start /models/m1", "shutdown", "start /models/m2", "shutdown",
                             "start /models/judge", "shutdown"]
    reviews = reviews_of(tmp_path)
    assert len(reviews) == 8 * 2 * 2  # tiny: 8 two-turn questions, one pair, both orders
    assert all(r.status == "ok" and r.verdict in ("A", "B", "tie") for r in reviews)
    # Every game in one engine batch, each with the template's grammar as its regex.
    batches = judge_batches(engine)
    assert [len(b) for b in batches] == [32]
    regexes = {params.kwargs["structured_outputs"].regex for _, params in batches[0]}
    assert regexes == {grammar("abc").constraint(200 - grammar("abc").longest - 8)}
    for review in reviews:
        assert re.fullmatch(next(iter(regexes)), review.raw)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reviews"]["judge"]["verdict_constraint"] == "grammar"
    assert (tmp_path / "run" / "ratings" / "leaderboard.csv").exists() or summary.get("ratings")


def test_unconstrained_judge_is_reasked_in_batches_then_errors(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_arena(tmp_path, {"verdict_constraint": "none", "verdict_retries": 2})
    assert main(["run", "-c", str(config)]) == 1  # every review lacks a verdict: the stage fails
    batches = judge_batches(engine)
    assert [len(b) for b in batches] == [32, 32, 32]  # the first ask and two re-asks, each one batch
    assert all("structured_outputs" not in params.kwargs for b in batches for _, params in b)
    assert all(r.status == "error" and r.attempts == 3 for r in reviews_of(tmp_path))


@pytest.mark.parametrize("retries", [2, 0])
def test_reply_cut_at_max_tokens_is_completed_with_its_verdict(tmp_path, monkeypatch, retries):
    """A completion is not a re-ask: it happens with verdict_retries 0 too."""
    engine = FakeEngine(cut_first=True)
    install(monkeypatch, engine)
    assert main(["run", "-c", str(write_arena(tmp_path, {"verdict_retries": retries}))]) == 0
    batches = judge_batches(engine)
    assert [len(b) for b in batches] == [32, 32]
    assert engine.render_flags[-1] == {"add_generation_prompt": False, "continue_final_message": True}
    continued = batches[1]
    assert all(conv[-1] == {"role": "assistant", "content": FREE_TEXT} for conv, _ in continued)
    assert all(params.kwargs["structured_outputs"].regex == grammar("abc").continuation() for _, params in continued)
    for review in reviews_of(tmp_path):
        assert review.status == "ok" and review.attempts == 2
        assert review.raw.startswith(FREE_TEXT) and review.raw.endswith(("[[A]]", "[[B]]", "[[C]]"))
    judge = json.loads((tmp_path / "run" / "summary.json").read_text())["reviews"]["judge"]
    assert (judge["continuations_this_run"], judge["reasks_this_run"]) == (32, 0)


def _expected_weight(review: Review) -> float:
    """The first answer's outcome from the stored distribution, turned to model_a's terms."""
    value = {"A": 1.0, "tie": 0.5, "B": 0.0}
    first = sum(p * value[label] for label, p in review.verdict_probs[0].items())
    return first if review.first == review.model_a else 1.0 - first


def test_probability_weighted_verdicts(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    assert main(["run", "-c", str(write_arena(tmp_path, {"verdict_weighting": "probability"}))]) == 0
    assert all(params.kwargs["logprobs"] == 20 for b in judge_batches(engine) for _, params in b)
    reviews = reviews_of(tmp_path)
    for review in reviews:
        probs = review.verdict_probs[0]
        assert set(probs) == {"A", "B", "tie"} and math.isclose(sum(probs.values()), 1.0, abs_tol=1e-5)
        # The written verdict leads its distribution (the fake's choice), and is stored beside it.
        assert max(probs, key=probs.get) == review.verdict
        assert review.weighted == pytest.approx(_expected_weight(review), abs=1e-5)
    battles = read_records(tmp_path / "run" / "battles.jsonl", Battle)
    by_pair: dict[tuple, list[Review]] = {}
    for r in reviews:
        by_pair.setdefault((str(r.question_id), r.turn), []).append(r)
    for battle in battles:
        games = by_pair[(str(battle.question_id), battle.turn)]
        assert battle.outcome == pytest.approx(sum(r.weighted for r in games) / 2, abs=1e-5)
    assert any(r.weighted not in (0.0, 0.5, 1.0) for r in reviews)  # fractional, not the written verdict


def test_rerun_loads_no_judge_engine_when_every_game_is_judged(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_arena(tmp_path, {})
    assert main(["run", "-c", str(config)]) == 0
    before = list(engine.events)
    assert main(["run", "-c", str(config), "--stages", "reviews"]) == 0
    assert engine.events == before  # nothing pending: no engine started


def test_judge_that_cannot_load_names_the_setting_and_keeps_the_answers(tmp_path, monkeypatch, capsys):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_arena(tmp_path, {})
    assert main(["run", "-c", str(config), "--stages", "answers"]) == 0
    answers = {p.name: p.read_bytes() for p in (tmp_path / "run" / "answers").iterdir()}
    engine.init_error = RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    capsys.readouterr()
    assert main(["run", "-c", str(config), "--stages", "reviews"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = next(x for x in err if "judge 'judge'" in x)
    assert "vLLM could not start the engine" in line and "vllm.tensor_parallel_size" in line
    assert {p.name: p.read_bytes() for p in (tmp_path / "run" / "answers").iterdir()} == answers


def test_data_parallel_judge_on_vllms_async_engine(tmp_path, monkeypatch):
    engine = FakeEngine(cut_first=True)
    install(monkeypatch, engine)
    config = write_arena(tmp_path, {"vllm": {"data_parallel_size": 2, "data_parallel_backend": "engine"},
                                    "verdict_weighting": "probability"})
    assert main(["run", "-c", str(config)]) == 0
    assert engine.engines[-1]["data_parallel_size"] == 2
    reviews = reviews_of(tmp_path)
    assert all(r.status == "ok" and r.attempts == 2 and r.weighted is not None for r in reviews)


def test_data_parallel_judge_runs_as_replicas_with_the_single_engines_reviews(tmp_path, monkeypatch):
    """By default a data-parallel judge is one engine per GPU, each in a worker process: every
    review (cut replies completed, probabilities read) is the one a single engine writes."""
    from arena.providers.vllm_replicas import ReplicatedVllmProvider

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    single = FakeEngine(cut_first=True)
    install(monkeypatch, single)
    weighted = {"verdict_weighting": "probability"}
    assert main(["run", "-c", str(write_arena(tmp_path / "one", weighted))]) == 0
    engine = FakeEngine(cut_first=True)
    install(monkeypatch, engine)  # the candidates' engines, in this process
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(ReplicatedVllmProvider, "worker_setup",
                        ("tests.providers.fake_vllm:install_in_process", {"cut_first": True}))
    assert main(["run", "-c", str(write_arena(tmp_path / "two", {"vllm": {"data_parallel_size": 2}, **weighted}))]) == 0
    assert engine.events == ["start /models/m1", "shutdown", "start /models/m2", "shutdown"]  # no judge here
    reviews = reviews_of(tmp_path / "two")
    assert len(reviews) == 32
    assert all(r.status == "ok" and r.attempts == 2 and r.weighted is not None for r in reviews)

    def key(r: Review) -> tuple:
        return (r.question_id, r.turn, r.model_a, r.model_b, r.first)

    expected = {key(r): (r.verdict, r.weighted, r.raw) for r in reviews_of(tmp_path / "one")}
    assert {key(r): (r.verdict, r.weighted, r.raw) for r in reviews} == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server's process-group checks read /proc")
def test_server_mode_judge_is_constrained_and_weighted(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    use_fake_server(monkeypatch, tmp_path)
    judge = {"vllm": {"mode": "server", "port": 0, "startup_timeout_s": 20}, "verdict_weighting": "probability"}
    config = write_arena(tmp_path, judge)
    assert main(["run", "-c", str(config)]) == 0
    reviews = reviews_of(tmp_path)
    assert len(reviews) == 32
    for review in reviews:
        assert review.status == "ok" and review.weighted == pytest.approx(_expected_weight(review), abs=1e-5)


LABELS = {
    "pairwise-five-level": [{"A>>B", "A>B", "A=B", "B>A", "B>>A"}],
    "pairwise-abc": [{"A", "B", "tie"}],
    "prometheus-relative": [{"A", "B"}],
    "pairwise-two-score": [{str(n) for n in range(1, 11)}] * 2,
}


@pytest.mark.parametrize("template", sorted(LABELS))
@pytest.mark.parametrize("max_tokens", [200, 40])
def test_dry_run_covers_the_constrained_weighted_path(tmp_path, template, max_tokens):
    """Every pairwise template, constrained and weighted, with room for reasoning and with almost
    none (the free text is then cut where the constraint bounds it, as vLLM would)."""
    config = write_arena(tmp_path, {"verdict_weighting": "probability", "template": template, "verdict_retries": 0,
                                    "generation": {"max_tokens": max_tokens}})
    assert main(["run", "-c", str(config), "--dry-run"]) == 0
    reviews = reviews_of(tmp_path, "run-dryrun")
    assert reviews and all(r.status == "ok" and r.weighted is not None for r in reviews)
    assert all([set(d) for d in r.verdict_probs] == LABELS[template] for r in reviews)
