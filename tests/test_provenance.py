"""run.json's provenance: what made the numbers, recorded by every run, with no key in it."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

from arena.cli import main
from arena.config import load_config
from arena.pipeline import plan_run
from arena.provenance import (
    MASK,
    answered_as,
    build_provenance,
    config_hash,
    config_record,
    merge,
    nvidia_smi_names,
    package_versions,
    question_hash,
    safe_args,
    safe_url,
)
from arena.records import Question, Review
from arena.store import read_records
from tests.conftest import base_config
from tests.providers.fault_server import FaultServer, Plan
from tests.providers.judge_runs import KEY_ENV, judge_config, write_questions


def _manifest(out):
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


def test_a_run_records_config_hash_versions_templates_questions_and_served_models(tmp_path, write_config):
    out = tmp_path / "run"
    assert main(["run", "-c", str(write_config(base_config(out)))]) == 0
    manifest = _manifest(out)
    p = manifest["provenance"]
    assert p["config"]["judges"][0]["name"] == "j" and p["config"]["ratings"]["bootstrap"] == 50
    assert len(p["config_sha256"]) == 64
    assert p["arena_version"] and p["python"].count(".") == 2
    assert {"numpy", "pandas", "scipy"} <= set(p["packages"])
    assert "vllm" not in p["packages"]  # neither imported nor used by a dry run
    assert set(p["templates"]) == {"pairwise-abc"} and len(p["templates"]["pairwise-abc"]["sha256"]) == 64
    q = p["questions"]
    assert q["source"] == "tiny" and q["count"] == len(q["items"]) and len(q["sha256"]) == 64
    games = sum(1 for _ in (out / "reviews" / "j.jsonl").open())
    assert p["judges"]["j"]["answered_as"] == {"simulated:j": games}
    assert p["models"]["m1"]["answered_as"] == {"simulated:m1": q["count"]}
    assert "gpu" not in p  # no vLLM ran
    assert [h["status"] for h in manifest["history"]] == ["finished"]
    assert manifest["history"][0]["config_sha256"] == p["config_sha256"]


def test_the_hash_ignores_where_the_run_goes_and_follows_every_setting(tmp_path, write_config):
    one = load_config(write_config(base_config(tmp_path / "a"), "a.yaml"))
    two = load_config(write_config(base_config(tmp_path / "b", stages=["answers", "reviews"]), "b.yaml"))
    three = load_config(write_config(base_config(tmp_path / "a", seed=1), "c.yaml"))
    assert config_hash(config_record(one)) == config_hash(config_record(two))
    assert config_hash(config_record(one)) != config_hash(config_record(three))


def test_a_ratings_only_rerun_keeps_the_questions_and_served_models_and_adds_to_history(tmp_path, write_config):
    out = tmp_path / "run"
    path = write_config(base_config(out))
    assert main(["run", "-c", str(path)]) == 0
    first = _manifest(out)["provenance"]
    data = base_config(out)
    data["ratings"]["bootstrap"] = 60
    path = write_config(data)
    assert main(["run", "-c", str(path), "--stages", "ratings"]) == 0
    manifest = _manifest(out)
    p = manifest["provenance"]
    assert p["questions"] == first["questions"]
    assert p["judges"]["j"]["answered_as"] == first["judges"]["j"]["answered_as"]
    assert p["config"]["ratings"]["bootstrap"] == 60 and p["config_sha256"] != first["config_sha256"]
    assert [h["stages"] for h in manifest["history"]] == [["answers", "reviews", "ratings"], ["ratings"]]
    assert manifest["history"][1]["config_sha256"] == p["config_sha256"]


def test_a_failed_stage_is_recorded_as_failed(tmp_path, write_config):
    out = tmp_path / "run"
    # Reviews without answers: the stage fails with a DataError.
    assert main(["run", "-c", str(write_config(base_config(out))), "--stages", "reviews"]) == 2
    history = _manifest(out)["history"]
    assert len(history) == 1 and history[0]["status"] == "failed: DataError" and "pid" not in history[0]
    assert _manifest(out)["provenance"]["questions"]["count"] > 0


def test_question_hashes_follow_content_not_order():
    a = Question("1", "math", ["What is 2+2?"])
    assert question_hash(a) == question_hash(Question("1", "math", ["What is 2+2?"]))
    assert question_hash(a) != question_hash(Question("1", "math", ["What is 2+3?"]))
    assert question_hash(a) != question_hash(Question("1", "writing", ["What is 2+2?"]))
    assert question_hash(a) != question_hash(Question("1", "math", ["What is 2+2?"], reference=["4"]))


def test_merge_keeps_what_this_invocation_did_not_learn():
    before = {"questions": {"count": 3}, "judges": {"j": {"answered_as": {"gpt-x-2024": 5}}}, "gpu": ["H200"]}
    now = {"judges": {"j": {"answered_as": None}, "k": {"answered_as": None}}, "stages": ["ratings"]}
    merged = merge(before, now)
    assert merged["questions"] == {"count": 3} and merged["gpu"] == ["H200"]
    assert merged["judges"]["j"]["answered_as"] == {"gpt-x-2024": 5} and merged["judges"]["k"]["answered_as"] is None
    assert merge(None, now) is now


def test_answered_as_counts_most_first_and_unnamed_under_empty():
    assert answered_as(["b", "a", None, "a", ""]) == {"a": 2, "": 2, "b": 1}
    assert list(answered_as(["b", "a", None, "a", ""])) == ["", "a", "b"]  # equal counts by name


# --- keys never written -----------------------------------------------------------------------------


def test_credentials_in_urls_and_server_arguments_are_masked():
    assert safe_url("https://user:s3cret@api.example.com/v1?api-key=abc&region=eu") == \
        f"https://api.example.com/v1?api-key={MASK}&region=eu"
    assert safe_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert safe_args(["--api-key", "tok", "--max-num-seqs", "8", "--api_key=tok2"]) == \
        ["--api-key", MASK, "--max-num-seqs", "8", f"--api_key={MASK}"]


def test_no_key_value_reaches_the_provenance_whatever_field_holds_it(tmp_path, write_config, monkeypatch):
    canary = "sk-canary-provenance-0123456789"
    monkeypatch.setenv("ARENA_PROV_KEY", canary)
    data = base_config(tmp_path / "run", dry_run=False)
    data["judges"] = [{
        "name": "api", "provider": "openai_compatible", "model": "judge-model", "mode": "pairwise-all",
        "client": {"base_url": f"https://u:{canary}@example.com/v1?key={canary}", "api_key_env": "ARENA_PROV_KEY"},
    }]
    data["models"][0]["system_prompt"] = f"You are helpful. {canary}"
    data["models"][1] = {"name": "m2", "provider": "vllm", "model": "org/m2",
                         "vllm": {"mode": "server", "extra_args": ["--api-key", canary]}}
    plan = plan_run(load_config(write_config(data)))
    block = build_provenance(plan.config, questions=plan.questions, templates=plan.templates, summary={},
                             stages=["answers", "reviews"], used_gpu=False)
    text = json.dumps(block)
    assert canary not in text
    assert block["judges"]["api"]["base_url"].startswith("https://example.com/v1")
    assert "openai" in block["packages"]  # the judge's client, recorded as the config uses it


def test_package_versions_cover_imported_modules_and_the_providers_in_use():
    versions = package_versions(["openai", "anthropic"])
    assert {"openai", "anthropic", "numpy"} <= set(versions)
    assert all(isinstance(v, str) and v for v in versions.values())


def test_gpu_names_come_from_nvidia_smi_restricted_to_the_visible_devices(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf 'NVIDIA H200\\nNVIDIA H100 80GB HBM3\\n'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert nvidia_smi_names() == ["NVIDIA H200", "NVIDIA H100 80GB HBM3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert nvidia_smi_names() == ["NVIDIA H100 80GB HBM3"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert nvidia_smi_names() == []


# --- served model ids, through the real client against the loopback server ----------------------------


@pytest.mark.parametrize("provider", ["openai_compatible", "anthropic"])
def test_the_model_id_the_api_answered_is_kept_per_review_and_in_the_provenance(tmp_path, monkeypatch, provider):
    questions = write_questions(tmp_path, count=2)
    server = FaultServer(Plan(snapshot="-2024-08-06")).start()
    try:
        monkeypatch.setenv(KEY_ENV, "sk-served")
        out = tmp_path / "run"
        url = server.openai_url if provider == "openai_compatible" else server.anthropic_url
        config = judge_config(out, questions, tmp_path / "cache", provider=provider, url=url, stream=False)
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(config))
        assert main(["run", "-c", str(path), "--stages", "answers,reviews"]) == 0
    finally:
        server.stop()
    served = {r.served_model for r in read_records(out / "reviews" / "judge.jsonl", Review)}
    assert served == {"judge-model-2024-08-06"}
    p = _manifest(out)["provenance"]
    assert p["judges"]["judge"]["answered_as"] == {"judge-model-2024-08-06": 40}
    assert p["judges"]["judge"]["model"] == "judge-model"
    assert {"anthropic" if provider == "anthropic" else "openai"} <= set(p["packages"])
    assert "sk-served" not in (out / "run.json").read_text()
