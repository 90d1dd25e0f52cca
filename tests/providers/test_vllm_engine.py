"""The offline vLLM provider through the answers stage, with a fake `vllm` module: engine and
sampling settings from the config, one batch per turn, n choices, chat templates, token counts,
resume after a crash, and the one-line errors for a model that cannot load or runs out of memory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.cli import main
from arena.config import ModelConfig, VllmConfig
from arena.errors import ProviderError
from arena.providers.base import ChatRequest
from arena.providers.vllm_engine import OfflineVllmProvider, diagnose, engine_args, sampling_args
from arena.records import Answer
from arena.store import read_records
from tests.providers.fake_vllm import FakeEngine, answer_text, install

TINY_TEMPERATURES = {"t1": 0.7, "t2": 0.0, "t3": 0.0, "t4": 0.0, "t5": 0.7, "t6": 0.0, "t7": 0.1, "t8": 0.1}


def write_config(tmp_path: Path, models: list[dict[str, Any]], questions: str = "tiny") -> Path:
    config = {
        "name": "gpu",
        "output_dir": str(tmp_path / "run"),
        "questions": questions,
        "stages": ["answers"],
        "models": models,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def vllm_model(name: str = "qwen", **settings: Any) -> dict[str, Any]:
    return {"name": name, "provider": "vllm", "model": f"/models/{name}", **settings}


def single_turn_questions(tmp_path: Path, count: int) -> str:
    path = tmp_path / "questions.jsonl"
    categories = ["writing", "math", "stem"]
    rows = [{"question_id": f"q{i}", "category": categories[i % 3], "turns": [f"question number {i}"]} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def answers_of(tmp_path: Path, model: str = "qwen") -> dict[str, Answer]:
    return {str(a.question_id): a for a in read_records(tmp_path / "run" / "answers" / f"{model}.jsonl", Answer)}


def summary_of(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "run" / "summary.json").read_text())


def test_engine_gets_the_configured_settings(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    vllm = {"dtype": "bfloat16", "max_model_len": 4096, "gpu_memory_utilization": 0.8,
            "tensor_parallel_size": 2, "enforce_eager": True}
    config = write_config(tmp_path, [vllm_model(vllm=vllm, generation={"seed": 7, "max_tokens": 64})])
    assert main(["run", "-c", str(config)]) == 0
    assert engine.engines == [{
        "model": "/models/qwen", "dtype": "bfloat16", "gpu_memory_utilization": 0.8,
        "tensor_parallel_size": 2, "trust_remote_code": False, "enforce_eager": True,
        "max_model_len": 4096, "seed": 7,
    }]
    assert engine.shutdowns == 1  # the engine is released for the next model


def test_one_batch_per_turn_with_turn_two_built_from_turn_one(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model(system_prompt="Be brief.")])
    assert main(["run", "-c", str(config)]) == 0
    assert [len(b) for b in engine.batches] == [8, 8]  # 8 two-turn questions: two batches
    first, second = engine.batches
    for (conv1, _), (conv2, _) in zip(first, second):
        assert conv1[0] == {"role": "system", "content": "Be brief."}
        assert [m["role"] for m in conv2] == ["system", "user", "assistant", "user"]
        assert conv2[:2] == conv1
        assert conv2[2]["content"] == answer_text(conv1, 0)
    answers = answers_of(tmp_path)
    assert len(answers) == 8
    t1 = answers["t1"]
    assert t1.choices[0].turns == [answer_text(first[0][0], 0), answer_text(second[0][0], 0)]


def test_per_category_temperature_and_sampling_settings(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    generation = {"max_tokens": 32, "seed": 3, "top_p": 0.9, "stop": ["###"], "ignore_eos": True}
    config = write_config(tmp_path, [vllm_model(generation=generation)])
    assert main(["run", "-c", str(config)]) == 0
    by_question = {}
    for conversation, params in engine.batches[0]:
        qid = next(a for a in answers_of(tmp_path).values()
                   if a.choices[0].turns[0] == answer_text(conversation, 0)).question_id
        by_question[qid] = params.kwargs
    assert {q: k["temperature"] for q, k in by_question.items()} == TINY_TEMPERATURES
    for kwargs in by_question.values():
        assert kwargs["max_tokens"] == 32 and kwargs["seed"] == 3 and kwargs["top_p"] == 0.9
        assert kwargs["stop"] == ["###"] and kwargs["ignore_eos"] is True and kwargs["n"] == 1
    # The settings used are recorded with each answer.
    assert answers_of(tmp_path)["t1"].generation["temperature"] == 0.7


def test_a_configured_temperature_overrides_the_category_default(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model(generation={"temperature": 0.3})])
    assert main(["run", "-c", str(config)]) == 0
    assert {p.kwargs["temperature"] for _, p in engine.batches[0]} == {0.3}


def test_unset_options_keep_vllms_defaults():
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.0)
    assert sampling_args(request) == {"n": 1, "temperature": 0.0, "max_tokens": 8, "ignore_eos": False}


def test_n_choices_sample_once_then_continue_each_choice(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model(generation={"n": 3})])
    assert main(["run", "-c", str(config)]) == 0
    first, second = engine.batches
    assert len(first) == 8 and {p.kwargs["n"] for _, p in first} == {3}
    assert len(second) == 24 and {p.kwargs["n"] for _, p in second} == {1}
    answer = answers_of(tmp_path)["t1"]
    assert [c.index for c in answer.choices] == [0, 1, 2]
    # Each choice's second turn continues that choice's own first answer.
    for choice in answer.choices:
        continued = [conv for conv, _ in second if conv[1]["content"] == choice.turns[0]]
        assert len(continued) == 1 and choice.turns[1] == answer_text(continued[0], 0)
    summary = summary_of(tmp_path)["answers"]["qwen"]
    assert summary["requests"] == 8 * (1 + 3)


def test_token_counts_latency_and_finish_reasons_per_turn(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model(generation={"max_tokens": 16, "ignore_eos": True})])
    assert main(["run", "-c", str(config)]) == 0
    for answer in answers_of(tmp_path).values():
        assert answer.output_tokens == [16, 16]
        assert all(p > 0 for p in answer.prompt_tokens) and answer.prompt_tokens[1] > answer.prompt_tokens[0]
        assert len(answer.latency_s) == 2 and all(x >= 0 for x in answer.latency_s)
        assert answer.ttft_s == [None, None]  # LLM records no request metrics: no TTFT offline
        assert answer.finish_reasons == ["length", "length"]
    summary = summary_of(tmp_path)["answers"]["qwen"]
    assert summary["output_tokens"] == summary["measured_output_tokens"] == 8 * 2 * 16
    assert summary["output_tokens_per_s"] > 0 and summary["engine_start_s"] is not None


def test_chat_template_from_a_file_or_text(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    template = tmp_path / "chatml.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    models = [vllm_model("a", vllm={"chat_template": str(template)}),
              vllm_model("b", vllm={"chat_template": "{{ messages[0]['content'] }}"}),
              vllm_model("c")]
    config = write_config(tmp_path, models)
    assert main(["run", "-c", str(config)]) == 0
    assert engine.chat_templates == [template.read_text()] * 2 + ["{{ messages[0]['content'] }}"] * 2 + [None] * 2


def test_missing_chat_template_file_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    install(monkeypatch, FakeEngine())
    config = write_config(tmp_path, [vllm_model(vllm={"chat_template": "missing.jinja"})])
    assert main(["run", "-c", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "qwen" in err and "vllm.chat_template" in err and "missing.jinja" in err


def test_older_vllm_without_enqueue_chat_uses_chat(tmp_path, monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine, enqueue=False)
    config = write_config(tmp_path, [vllm_model()])
    assert main(["run", "-c", str(config)]) == 0
    assert [len(b) for b in engine.batches] == [8, 8]
    assert len(answers_of(tmp_path)) == 8


def test_crash_mid_batch_keeps_finished_answers_and_rerun_asks_only_the_rest(tmp_path, monkeypatch, capsys):
    engine = FakeEngine(fail_after=6)
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model()], questions=single_turn_questions(tmp_path, 20))
    assert main(["run", "-c", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "qwen" in err and "out of memory" in err and "vllm.tensor_parallel_size" in err
    kept = answers_of(tmp_path)
    assert len(kept) == 6  # stored as each finished (two engine steps), before the engine died
    summary = summary_of(tmp_path)["answers"]["qwen"]
    assert summary["answered"] == 6 and summary["missing"] == 14 and "out of memory" in summary["error"]

    engine.fail_after = None
    assert main(["run", "-c", str(config)]) == 0
    assert len(engine.batches[-1]) == 14  # only the missing ones were asked
    asked = {conv[-1]["content"] for conv, _ in engine.batches[-1]}
    assert asked.isdisjoint({a.choices[0].turns[0].split("to: ")[1] for a in kept.values()})
    after = answers_of(tmp_path)
    assert len(after) == 20
    assert all(after[q] == a for q, a in kept.items())  # finished answers are never rewritten
    summary = summary_of(tmp_path)["answers"]["qwen"]
    assert summary["answers"] == 20 and summary["measured_answers"] == 14 and "error" not in summary


@pytest.mark.parametrize(
    ("message", "setting"),
    [
        ("CUDA out of memory. Tried to allocate 2.00 GiB", "vllm.tensor_parallel_size"),
        ("Free memory on device cuda:0 (10.1/79.2 GiB) on startup is less than desired GPU memory "
         "utilization (0.9, 71.3 GiB).", "vllm.gpu_memory_utilization"),
        ("To serve at least one request with the model's max seq len (131072), (16.0 GiB KV cache is "
         "needed, which is larger than the available KV cache memory (9.1 GiB).", "vllm.max_model_len"),
        ("No available memory for the cache blocks. Try increasing `gpu_memory_utilization`",
         "raise vllm.gpu_memory_utilization"),
        ("Engine core initialization failed. See root cause above. Failed core proc(s): {}",
         "lower vllm.gpu_memory_utilization or vllm.max_model_len"),
        ("/models/x does not appear to have a file named config.json", "'model' key"),
    ],
)
def test_load_failure_names_model_and_setting_and_other_models_keep_their_answers(
    tmp_path, monkeypatch, capsys, message, setting
):
    engine = FakeEngine(init_error=RuntimeError(message + "\nTraceback line two"))
    install(monkeypatch, engine)
    models = [vllm_model("big"), {"name": "api", "provider": "simulated"}]
    config = write_config(tmp_path, models)
    assert main(["run", "-c", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("error:")]) == 1
    line = err[-1]
    assert line.startswith("error: answers: model 'big' (/models/big): vLLM could not start the engine")
    assert setting in line and "Traceback line two" in line  # one line, cause kept
    assert len(answers_of(tmp_path, "api")) == 8
    assert not (tmp_path / "run" / "answers" / "big.jsonl").exists() or not answers_of(tmp_path, "big")
    summary = summary_of(tmp_path)["answers"]
    assert summary["api"]["answered"] == 8 and "error" not in summary["api"]
    assert summary["big"]["answered"] == 0 and setting in summary["big"]["error"]


def test_missing_vllm_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    config = write_config(tmp_path, [vllm_model()])
    assert main(["run", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "pip install 'arena[gpu]'" in err and "--dry-run" in err


def test_dry_run_never_imports_vllm(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    config = write_config(tmp_path, [vllm_model(vllm={"data_parallel_size": 2})])
    assert main(["run", "-c", str(config), "--dry-run"]) == 0
    assert "vllm" not in sys.modules
    assert len(read_records(tmp_path / "run-dryrun" / "answers" / "qwen.jsonl", Answer)) == 8


def test_data_parallel_runs_on_vllms_async_engine(tmp_path, monkeypatch):
    engine = FakeEngine(stats=True)
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model(vllm={"data_parallel_size": 2}, generation={"n": 2})])
    assert main(["run", "-c", str(config)]) == 0
    assert engine.engines[0]["data_parallel_size"] == 2
    assert [len(b) for b in engine.batches] == [8, 16]
    # The chat was rendered with the model's template, turn 2 from turn 1's answers.
    conv2 = engine.batches[1][0][0]
    assert [m["role"] for m in conv2] == ["user", "assistant", "user"]
    answers = answers_of(tmp_path)
    assert all(a.ttft_s == [0.05, 0.05] for a in answers.values())  # the async engine's metrics
    assert {tuple(a.choices[1].turns) != tuple(a.choices[0].turns) for a in answers.values()} == {True}
    assert engine.shutdowns == 1


def test_data_parallel_candidates_as_replicas_answer_every_turn_on_both_gpus(tmp_path, monkeypatch):
    from arena.providers.vllm_replicas import ReplicatedVllmProvider

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    monkeypatch.setattr(ReplicatedVllmProvider, "worker_setup",
                        ("tests.providers.fake_vllm:install_in_process", {"tag_gpus": True}))
    config = write_config(tmp_path, [vllm_model(vllm={"data_parallel_size": 2, "data_parallel_backend": "replicas"},
                                                generation={"n": 2, "max_tokens": 64})])
    assert main(["run", "-c", str(config)]) == 0
    answers = answers_of(tmp_path)
    assert len(answers) == 8
    gpus = set()
    for answer in answers.values():
        for choice in answer.choices:
            assert len(choice.turns) == 2
            # Turn 2 was asked after turn 1's own answer (the fake echoes the conversation's length).
            assert "after 1 messages" in choice.turns[0] and "after 3 messages" in choice.turns[1]
            gpus |= {t.split("[gpus ", 1)[1].split(" ", 1)[0] for t in choice.turns}
    assert gpus == {"6", "7"}
    assert summary_of(tmp_path)["answers"]["qwen"]["engine_start_s"] > 0


def test_data_parallel_engine_failure_is_one_line(tmp_path, monkeypatch, capsys):
    engine = FakeEngine(fail_after=3)
    install(monkeypatch, engine)
    config = write_config(tmp_path, [vllm_model(vllm={"data_parallel_size": 2})])
    assert main(["run", "-c", str(config)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "failed while generating" in line and "vllm.tensor_parallel_size" in line
    assert engine.shutdowns == 1


def test_provider_used_directly_reports_results_by_batch_index(monkeypatch):
    engine = FakeEngine(step_size=2)
    install(monkeypatch, engine)
    provider = OfflineVllmProvider(ModelConfig(name="m", provider="vllm", model="/m"))
    requests = [ChatRequest(messages=[{"role": "user", "content": f"q{i}"}], max_tokens=4) for i in range(5)]
    results: dict[int, Any] = {}
    provider.run_batch(requests, lambda i, r: results.__setitem__(i, r))
    assert sorted(results) == list(range(5))
    for i, response in results.items():
        assert response.text == answer_text(requests[i].messages, 0)
    provider.close()
    provider.close()  # closing twice is harmless
    assert engine.shutdowns == 1
    with pytest.raises(ProviderError, match="already shut down"):
        provider.run_batch(requests, lambda i, r: None)


def test_engine_args_leave_out_unset_options():
    cfg = ModelConfig(name="m", provider="vllm", model="/m", vllm=VllmConfig())
    args = engine_args(cfg)
    assert "max_model_len" not in args and "seed" not in args and "data_parallel_size" not in args


def test_diagnose_falls_back_to_the_memory_settings():
    assert "vllm.gpu_memory_utilization" in diagnose("something unexpected")


def test_scoring_abilities_follow_the_engine():
    from arena.providers.base import CONTINUATION, NEXT_TOKEN
    from arena.providers.vllm_engine import scoring_abilities

    both = frozenset({CONTINUATION, NEXT_TOKEN})
    assert scoring_abilities(ModelConfig(name="m", provider="vllm", model="/m")) == both
    assert scoring_abilities(ModelConfig(name="m", provider="vllm", model="/m", vllm=VllmConfig(mode="server"))) == both
    assert scoring_abilities(ModelConfig(name="m", provider="vllm", model="/m", vllm=VllmConfig(data_parallel_size=2))) == frozenset()


def test_logprob_batches_go_to_the_same_llm(monkeypatch):
    engine = FakeEngine()
    install(monkeypatch, engine)
    seen: dict[str, Any] = {}

    class FakeScorer:
        def __init__(self, llm: Any):
            seen["llm"] = llm

        def run(self, requests: list[Any], on_result: Any) -> None:
            for i, _ in enumerate(requests):
                on_result(i, f"scored {i}")

    monkeypatch.setattr("arena.scoring.vllm_logprobs.VllmLogprobs", FakeScorer)
    provider = OfflineVllmProvider(ModelConfig(name="m", provider="vllm", model="/m"))
    assert provider.logprob_abilities
    results: dict[int, Any] = {}
    provider.run_logprob_batch(["a", "b"], lambda i, r: results.__setitem__(i, r))
    assert results == {0: "scored 0", 1: "scored 1"}
    assert seen["llm"] is provider._runner.llm
    provider.close()
