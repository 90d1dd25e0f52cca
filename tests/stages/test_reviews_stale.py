"""Resume and rebuild rules of the reviews stage: stale prompts are judged again, battles come
only from the games configured now, and a judge whose mode changed does not crash battles."""

from __future__ import annotations

import json

from arena.cli import main
from arena.judging.battles import battles_from_reviews
from arena.records import Battle, Review
from arena.store import read_records, write_records_atomic
from tests.conftest import base_config


def _run(write_config, config, stages="answers,reviews"):
    return main(["run", "-c", str(write_config(config)), "--stages", stages])


def test_review_of_another_prompt_is_judged_again(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    assert _run(write_config, config) == 0
    path = out / "reviews" / "j.jsonl"
    rows = read_records(path, Review)
    rows[0].prompt_hash = "0" * 16  # as if the answer or the template had changed since
    write_records_atomic(path, rows)
    assert _run(write_config, config, "reviews") == 0
    summary = json.loads((out / "summary.json").read_text())["reviews"]["j"]
    assert summary["calls_this_run"] == 1
    again = {r.key: r for r in read_records(path, Review)}
    assert len(again) == len(rows) and again[rows[0].key].prompt_hash != "0" * 16


def test_battles_only_from_configured_games(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    assert _run(write_config, config) == 0
    assert any("m3" in (b.model_a, b.model_b) for b in read_records(out / "battles.jsonl", Battle))
    config["models"] = config["models"][:2]
    assert _run(write_config, config, "reviews") == 0
    battles = read_records(out / "battles.jsonl", Battle)
    assert battles and all({b.model_a, b.model_b} == {"m1", "m2"} for b in battles)
    summary = json.loads((out / "summary.json").read_text())["reviews"]["j"]
    assert "battle_tie_rate" in summary and "tie_rate" not in summary


def test_mixed_single_and_pairwise_reviews_do_not_crash(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    config["judges"] = [{"name": "j", "provider": "simulated", "mode": "single"}]
    assert _run(write_config, config) == 0
    single = read_records(out / "reviews" / "j.jsonl", Review)
    config["judges"] = [{"name": "p", "provider": "simulated", "mode": "pairwise-all"}]
    assert _run(write_config, config, "reviews") == 0
    pairwise = read_records(out / "reviews" / "p.jsonl", Review)
    mixed = single + pairwise  # one file holding both, as after a judge's mode changed
    battles = battles_from_reviews(mixed, {}, {})
    assert {b.mode for b in battles} == {"single", "pairwise-all"}


def test_same_judge_name_with_another_model_or_sampling_is_judged_again(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    config["judges"][0]["model"] = "judge-v1"
    assert _run(write_config, config) == 0
    path = out / "reviews" / "j.jsonl"
    first = {r.key: r.judge_id for r in read_records(path, Review)}
    assert len(set(first.values())) == 1 and None not in first.values()
    assert _run(write_config, config, "reviews") == 0  # unchanged: nothing judged again
    assert json.loads((out / "summary.json").read_text())["reviews"]["j"]["calls_this_run"] == 0
    for change in ({"model": "judge-v2"}, {"generation": {"temperature": 0.7}}):
        config["judges"][0].update(change)
        assert _run(write_config, config, "reviews") == 0
        summary = json.loads((out / "summary.json").read_text())["reviews"]["j"]
        assert summary["calls_this_run"] == len(first), change  # every review again, none kept
        now = {r.key: r.judge_id for r in read_records(path, Review)}
        assert now.keys() == first.keys() and not set(now.values()) & set(first.values())
        first = now


def test_a_simulated_judges_bias_settings_are_part_of_its_identity(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    assert _run(write_config, config) == 0
    n = len(read_records(out / "reviews" / "j.jsonl", Review))
    config["judges"][0]["simulated"] = {"position_bias": 80}
    assert _run(write_config, config, "reviews") == 0
    assert json.loads((out / "summary.json").read_text())["reviews"]["j"]["calls_this_run"] == n


def test_an_endpoint_with_or_without_its_trailing_slash_is_one_endpoint():
    from arena.config import ClientConfig, JudgeConfig, RunConfig, _check_client
    from arena.stages.reviews import judge_identity

    run = RunConfig(name="t", models=[], questions="tiny")
    identities = set()
    for url in ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/"):
        judge = JudgeConfig(name="j", provider="openai_compatible", mode="single", model="m", client=ClientConfig(base_url=url))
        _check_client(judge.client, "judges[0].client", "c.yaml")
        identities.add(judge_identity(judge, run))
    assert len(identities) == 1
