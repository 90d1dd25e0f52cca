"""`arena plan`: calls, tokens and price before anything runs, from the config, the run folder and
the response cache, making no call and writing nothing."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
import yaml

from arena.cli import main
from arena.config import load_config
from arena.costing import tokens
from arena.costing.plan import build_plan
from arena.pipeline import plan_run
from arena.pricing import price_for
from arena.registry import prices
from tests.conftest import base_config
from tests.providers.fault_server import FaultServer, Plan
from tests.providers.judge_runs import KEY_ENV, judge_config, reviews, write_questions

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "configs").glob("*.yaml"))


def _plan_json(capsys, *args: str) -> dict:
    assert main(["plan", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize("dry", [False, True], ids=["as-shipped", "dry-run"])
def test_plan_on_every_shipped_config(config, dry, tmp_path, monkeypatch, capsys):
    """Every shipped config plans without a key, a GPU or a network, writes nothing (the run
    folder stays absent), and its figures add up."""
    text = config.read_text()
    if "shared/data" in text and not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("needs ../shared/data, absent here")
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.chdir(tmp_path)  # relative output folders and caches land here, if anything were written
    plan = _plan_json(capsys, "-c", str(config), *(["--dry-run"] if dry else []))
    assert list(tmp_path.iterdir()) == [], "arena plan wrote something"
    assert plan["lines"], "every shipped config has work to plan"
    for line in plan["lines"]:
        assert line["to_call"] == line["calls"] - line["done"] - line["cached"] >= 0
        assert line["prompt_tokens"] > 0 and line["output_tokens"] > 0
        if line["billed"] and line["price_per_mtok"]:
            assert line["batch_cost_usd"] == pytest.approx(line["cost_usd"] / 2, rel=1e-4)
    total = plan["total"]
    assert total["to_call"] == sum(line["to_call"] for line in plan["lines"])
    if dry:
        assert total["cost_usd"] == 0 and "dry run" in plan["summary"]


def test_openai_judge_plan_by_hand(tmp_path, write_config, capsys):
    """A gpt-4o judge over the tiny set: the calls are its games, the price is tokens x the
    registry's rates, batch rates are half, and the estimate says it is one."""
    config = base_config(tmp_path / "run", dry_run=False, judges=[
        {"name": "j", "provider": "openai", "model": "gpt-4o", "mode": "pairwise-all", "generation": {"max_tokens": 300}}])
    plan = _plan_json(capsys, "-c", str(write_config(config)), "--stages", "reviews")
    (line,) = plan["lines"]
    assert line["calls"] == line["to_call"] == 8 * 2 * 3 * 2  # 8 questions, 2 turns, 3 pairs, 2 orders
    assert line["output_tokens"] == 96 * 300 and "max_tokens" in line["output_basis"]
    standard, batch = price_for("gpt-4o"), price_for("gpt-4o", batch=True)
    assert batch == (standard[0] / 2, standard[1] / 2)
    expected = (line["prompt_tokens"] * standard[0] + line["output_tokens"] * standard[1]) / 1e6
    assert line["cost_usd"] == pytest.approx(expected)
    assert line["batch_cost_usd"] == pytest.approx(expected / 2)
    assert not line["prompt_tokens_exact"] or "tiktoken" in line["prompt_basis"]
    assert "(estimated)" in plan["summary"] or plan["total"]["prompt_tokens_exact"]
    assert f"${expected:.2f} at standard rates" in plan["summary"]


def test_price_override_and_batch_prices(tmp_path, write_config):
    table = prices()
    assert all(len(entry) == 4 for entry in table.values())
    assert table["claude-3-5-haiku-20241022"][2:] == (0.4, 2.0)
    config = base_config(tmp_path / "run", dry_run=False, judges=[
        {"name": "j", "provider": "openai", "model": "my-model", "mode": "pairwise-all",
         "price": {"input_per_mtok": 4, "output_per_mtok": 8, "batch_output_per_mtok": 1}}])
    loaded = load_config(write_config(config))
    override = loaded.judges[0].price
    assert price_for("my-model", override) == (4, 8)
    assert price_for("my-model", override, batch=True) == (2, 1)  # input: half, output: as given
    assert price_for("unlisted-model") is None
    config["judges"][0]["price"]["batch_input_per_mtok"] = -1
    assert main(["plan", "-c", str(write_config(config))]) == 2


def test_plan_counts_done_and_cached_and_calibrates_from_recorded_usage(tmp_path, monkeypatch, capsys):
    """After a run against the loopback judge: everything is done. With the reviews file gone,
    everything is in the cache (nothing to pay), and the estimate is calibrated on the recorded
    usage. The plan makes no call and leaves the run folder and the cache as they were."""
    monkeypatch.setenv(KEY_ENV, "sk-plan-test")
    server = FaultServer(Plan(seed=1)).start()
    try:
        out, cache = tmp_path / "run", tmp_path / "cache"
        config = judge_config(out, write_questions(tmp_path, count=4), cache, provider="openai_compatible",
                              url=server.openai_url, stream=False)
        config["stages"] = ["answers", "reviews"]
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config))
        fresh = _plan_json(capsys, "-c", str(path))
        reviews_line = next(line for line in fresh["lines"] if line["stage"] == "reviews")
        assert reviews_line["to_call"] == 4 * 20 and "answers not written yet" in reviews_line["prompt_basis"]
        assert main(["run", "-c", str(path)]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith("plan: 100 calls to make (0 done, 0 cached)"), printed.splitlines()[0]
        assert "price unknown for 1 (reviews judge (judge-model))" in printed
        calls = server.snapshot()["requests"]
        recorded = reviews(out)
        before = (_tree(out), _tree(cache))

        done = _plan_json(capsys, "-c", str(path))
        line = next(line for line in done["lines"] if line["stage"] == "reviews")
        assert (line["done"], line["cached"], line["to_call"]) == (80, 0, 0)
        assert all(a["done"] == a["calls"] for a in done["lines"] if a["stage"] == "answers")

        (out / "reviews" / "judge.jsonl").unlink()
        before = (_tree(out), _tree(cache))
        cached = _plan_json(capsys, "-c", str(path), "--stages", "reviews")
        (line,) = cached["lines"]
        assert (line["done"], line["cached"], line["to_call"]) == (0, 80, 0)
        assert cached["total"]["prompt_tokens"] == 0

        # Half the cache gone: the rest is estimated at the ratio measured on the cached half.
        shard = next(cache.glob("*.jsonl"))
        lines = shard.read_bytes().splitlines(keepends=True)
        shard.write_bytes(b"".join(lines[:40]))
        before = (_tree(out), _tree(cache))
        half = _plan_json(capsys, "-c", str(path), "--stages", "reviews")
        (line,) = half["lines"]
        assert (line["cached"], line["to_call"]) == (40, 40)
        assert "measured on 40 recorded calls" in line["prompt_basis"]
        assert "mean of 40 recorded calls" in line["output_basis"]
        # The loopback judge counts a prompt at 4 characters a token: the calibrated estimate of
        # the uncached half is close to what it will record.
        kept = sum(json.loads(raw)["prompt_tokens"] for raw in lines[:40])
        uncached = sum(r.prompt_tokens for r in recorded) - kept
        assert 0.9 < line["prompt_tokens"] / uncached < 1.1
        assert (_tree(out), _tree(cache)) == before
        assert server.snapshot()["requests"] == calls, "arena plan made a call"
    finally:
        server.stop()


def test_run_prints_the_plan_first_and_survives_a_broken_plan(tmp_path, write_config, capsys, monkeypatch):
    path = write_config(base_config(tmp_path / "run", stages=["answers", "reviews"]))
    assert main(["run", "-c", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("plan: 144 calls to make") and "no cost (dry run" in first

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("arena.commands.run.build_plan", broken)
    assert main(["run", "-c", str(path)]) == 0
    assert capsys.readouterr().out.startswith("plan: not available")


def test_tiktoken_counts_exactly_where_its_files_are_installed(monkeypatch):
    """An OpenAI model's prompt is counted by tiktoken's encoding (plus OpenAI's chat framing)
    where one loads here; a tiktoken that would download its files is refused and counted as
    absent, with an estimate that says so."""
    tokens._tiktoken_counter.cache_clear()
    encoding = types.SimpleNamespace(name="fake_base", encode=lambda text, disallowed_special=(): text.split())
    fake = types.SimpleNamespace(encoding_for_model=lambda model: encoding, get_encoding=lambda name: encoding)
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    judge = load_judge("openai", "gpt-4o")
    counter = tokens.counter_for(judge, dry_run=False)
    assert counter.exact and "tiktoken fake_base" in counter.basis
    messages = [{"role": "system", "content": "be fair"}, {"role": "user", "content": "which is better here"}]
    assert counter.chat_tokens(messages) == (3 + 2) + (3 + 4) + 3

    import socket

    listener = socket.create_server(("127.0.0.1", 0))  # a reachable "download" host

    def downloads(model):
        socket.create_connection(listener.getsockname()).close()
        return encoding  # had the download gone through

    tokens._tiktoken_counter.cache_clear()
    monkeypatch.setitem(sys.modules, "tiktoken", types.SimpleNamespace(encoding_for_model=downloads, get_encoding=downloads))
    counter = tokens.counter_for(judge, dry_run=False)
    assert not counter.exact and "not installed" in counter.basis
    assert counter.chat_tokens(messages) == round(len("be fair" "which is better here") / 4)
    listener.close()
    tokens._tiktoken_counter.cache_clear()


def test_vllm_models_use_their_own_tokenizer(monkeypatch):
    tokens._hf_counter.cache_clear()
    seen = {}

    class Tokenizer:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return list(range(100 + len(messages)))

        def encode(self, text, add_special_tokens=True):
            return text.split()

    def from_pretrained(name, local_files_only, trust_remote_code):
        seen.update(name=name, local=local_files_only)
        return Tokenizer()

    monkeypatch.setitem(sys.modules, "transformers",
                        types.SimpleNamespace(AutoTokenizer=types.SimpleNamespace(from_pretrained=from_pretrained)))
    judge = load_judge("vllm", "/models/judge-7b")
    counter = tokens.counter_for(judge, dry_run=False)
    assert counter.exact and counter.chat_tokens([{"role": "user", "content": "x"}]) == 101
    assert seen == {"name": "/models/judge-7b", "local": True}
    tokens._hf_counter.cache_clear()
    assert not tokens.counter_for(load_judge("anthropic", "claude-3-5-haiku-20241022"), dry_run=False).exact


def test_no_network_refuses_connections():
    import socket

    with tokens.no_network(), pytest.raises(OSError, match="no network"):
        socket.create_connection(("127.0.0.1", 9))
    assert socket.create_connection is not None and os.name


def load_judge(provider: str, model: str):
    from arena.config import JudgeConfig
    from arena.schema import build

    return build(JudgeConfig, {"name": "j", "provider": provider, "model": model, "mode": "pairwise-all"}, where="test")


def test_plan_of_answers_uses_recorded_lengths(tmp_path, write_config, capsys):
    """Before any answer, later turns and output are counted at max_tokens (an upper bound);
    with answers recorded, at their mean."""
    path = write_config(base_config(tmp_path / "run", stages=["answers"]))
    before = _plan_json(capsys, "-c", str(path))
    line = before["lines"][0]
    assert line["calls"] == 16 and line["output_tokens"] == 16 * 1024 and "upper bound" in line["output_basis"]
    prepared = plan_run(load_config(path), check_keys=False)
    # Half the questions answered: those are done, the rest estimated at the recorded mean.
    from arena.rundir import prepare_run_dir
    from arena.stages.answers import run_answers

    config = prepared.config
    run = prepare_run_dir(config)
    run_answers(config, prepared.questions[:4], run)
    run.release()
    after = build_plan(config, prepared.questions, prepared.templates).as_dict()["lines"][0]
    assert after["done"] == 8 and after["to_call"] == 8 and "mean of 8 recorded answer turns" in after["output_basis"]
    assert after["output_tokens"] < before["lines"][0]["output_tokens"] / 2
