"""The scores GPU benchmark's plumbing on the CPU, with stand-ins for vLLM's `LLM` (chat from
the vllm provider's fake, generate with log-probabilities from the scoring fake): every style
runs through the stage and bare, and the figures land in the JSON. (The numbers themselves only
mean something on the GPU machine.)"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from arena.registry import registry_dir
from tests.providers import fake_vllm
from tests.scoring.fake_vllm_logprobs import FakeLLM

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_scores_gpu.py"
SCORING_OPTIONS = ("prompt_logprobs", "logprobs", "logprob_token_ids", "detokenize", "flat_logprobs")


class AnySamplingParams(fake_vllm.SamplingParams):
    """Both fakes' options on one class, as vLLM has one SamplingParams."""

    def __getattr__(self, name):
        if name in SCORING_OPTIONS:
            return self.__dict__["kwargs"].get(name)
        raise AttributeError(name)


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("bench_scores_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def mmlu(tmp_path):
    """The registry's tiny set in MMLU's folder layout (test/ and dev/)."""
    folder = tmp_path / "mmlu"
    shutil.copytree(registry_dir() / "benchmarks" / "tiny_mc", folder / "test")
    shutil.copytree(registry_dir() / "benchmarks" / "tiny_mc_dev", folder / "dev")
    return folder


def install(monkeypatch) -> fake_vllm.FakeEngine:
    engine = fake_vllm.FakeEngine()
    module = fake_vllm.install(monkeypatch, engine)
    chat_llm = module.LLM

    class ScoringLLM(chat_llm):
        def __init__(self, model, **kwargs):
            super().__init__(model, **kwargs)
            self.scoring = FakeLLM(max_model_len=kwargs["max_model_len"])
            self.llm_engine.model_config = self.scoring.llm_engine.model_config

        def get_tokenizer(self):
            return self.scoring.tokenizer

        def generate(self, prompts, params, use_tqdm=True):
            return self.scoring.generate(prompts, params, use_tqdm=use_tqdm)

    module.LLM = ScoringLLM
    module.SamplingParams = AnySamplingParams
    return engine


def test_all_three_styles_stage_and_bare(bench, mmlu, tmp_path, monkeypatch, capsys):
    engine = install(monkeypatch)
    model = tmp_path / "model"
    model.mkdir()
    out = tmp_path / "scores.json"
    argv = ["--model", str(model), "--mmlu", str(mmlu), "--out", str(out), "--subjects", "arithmetic,geography", "--k-shot", "2"]
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    assert len(engine.engines) == 1 and engine.engines[0]["max_model_len"] == 4096 and engine.shutdowns == 1
    assert result["settings"]["items"] == 12 and result["settings"]["k_shot"] == 2
    assert set(result["styles"]) == {"letter_logprob", "text_logprob", "generate_letter"}
    for figures in result["styles"].values():
        assert figures["n"] == 12 and figures["failed"] == 0
        assert 0.0 <= figures["accuracy"] <= 1.0 and figures["ci_low"] <= figures["accuracy"] <= figures["ci_high"]
        assert figures["stage_items_per_s"] > 0 and figures["ratio"] > 0
    assert result["styles"]["letter_logprob"]["engine_requests"] == 12  # one per item (logprob_token_ids)
    # One per option, except where every option is one token (the arithmetic answers "54", "56"...):
    # then one per item, as for letters. 6 items x 1 + 6 items x 4.
    assert result["styles"]["text_logprob"]["engine_requests"] == 6 + 24
    printed = capsys.readouterr().out
    assert "stage/bare" in printed and "chance is 0.25" in printed


def test_setup_errors_are_one_line(bench, tmp_path, capsys):
    assert bench.main(["--model", str(tmp_path / "none"), "--out", str(tmp_path / "o.json")]) == 2
    assert "--model" in capsys.readouterr().err
    (tmp_path / "model").mkdir()
    assert bench.main(["--model", str(tmp_path / "model"), "--mmlu", str(tmp_path), "--out", str(tmp_path / "o.json")]) == 2
    assert "MMLU not found" in capsys.readouterr().err
    assert bench.main(["--model", str(tmp_path / "model"), "--out", str(tmp_path / "o.json"), "--styles", "guess"]) == 2
