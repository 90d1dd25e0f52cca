"""Data parallelism as replicas (arena.providers.vllm_replicas): real worker processes, each with
the stand-in vllm module (tests/providers/fake_vllm.py, installed by the worker's `setup`), so
dealing, GPU placement, streaming results back, failures and shutdown run as they do on a GPU
machine; only the engine is fake."""

from __future__ import annotations

import os
from typing import Any

import pytest

from arena.config import JudgeConfig, ModelConfig, VllmConfig
from arena.errors import ProviderError
from arena.providers.base import CONTINUATION, NEXT_TOKEN, ChatRequest, LogprobRequest
from arena.providers.vllm_engine import create, data_parallel_backend, scoring_abilities
from arena.providers.vllm_replicas import ReplicatedVllmProvider, deal, gpu_groups, visible_gpus
from tests.providers.fake_vllm import answer_text

SETUP = "tests.providers.fake_vllm:install_in_process"


def model(dp: int = 2, tp: int = 1, **vllm: Any) -> ModelConfig:
    return ModelConfig(name="m", provider="vllm", model="/m",
                       vllm=VllmConfig(data_parallel_size=dp, tensor_parallel_size=tp, startup_timeout_s=60, **vllm))


def chats(count: int) -> list[ChatRequest]:
    return [ChatRequest(messages=[{"role": "user", "content": f"question {i}"}], max_tokens=16, meta={"game": object()})
            for i in range(count)]


def run(provider: ReplicatedVllmProvider, requests: list[Any], kind: str = "chat") -> dict[int, Any]:
    results: dict[int, Any] = {}

    def on_result(index: int, result: Any) -> None:
        assert index not in results, f"request {index} reported twice"
        results[index] = result

    (provider.run_batch if kind == "chat" else provider.run_logprob_batch)(requests, on_result)
    return results


def test_gpu_groups_and_dealing():
    assert gpu_groups(["0", "1"], 2, 1) == [["0"], ["1"]]
    assert gpu_groups(["4", "5", "6", "7"], 2, 2) == [["4", "5"], ["6", "7"]]
    assert gpu_groups(["0", "1", "2"], 1, 2) == [["0", "1"]]
    assert deal(5, 2) == [[0, 2, 4], [1, 3]]
    assert deal(1, 3) == [[0], [], []]
    assert deal(0, 2) == [[], []]


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3,")
    assert visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_backend_defaults_judges_to_replicas_and_candidates_to_the_engine():
    judge = JudgeConfig(name="j", provider="vllm", model="/j", mode="pairwise-all", vllm=VllmConfig(data_parallel_size=2))
    assert data_parallel_backend(judge) == "replicas"
    assert data_parallel_backend(model()) == "engine"
    assert data_parallel_backend(model(data_parallel_backend="replicas")) == "replicas"
    assert data_parallel_backend(model(dp=1, data_parallel_backend="replicas")) == "single"
    both = frozenset({CONTINUATION, NEXT_TOKEN})
    assert scoring_abilities(model(data_parallel_backend="replicas")) == both  # each replica is an LLM
    assert scoring_abilities(model()) == frozenset()  # vLLM's async engine has no scoring path here


def test_each_replica_runs_its_share_on_its_own_gpus_and_results_come_back_by_index(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    provider = ReplicatedVllmProvider(model(), setup=(SETUP, {"tag_gpus": True, "step_size": 2}))
    processes = [p for p, _ in provider._workers]
    try:
        assert provider.gpus == [["3"], ["5"]] and provider.startup_s > 0
        requests = chats(7)
        results = run(provider, requests)
        assert sorted(results) == list(range(7))
        pids = set()
        for i, response in results.items():
            text = response.text
            expected = answer_text(requests[i].messages, 0)
            assert text.startswith(expected + f" [gpus {'3' if i % 2 == 0 else '5'} pid ")
            pids.add(text.rsplit("pid ", 1)[1].rstrip("]"))
        assert len(pids) == 2 and str(os.getpid()) not in pids
        # A second batch goes to the same engines.
        again = run(provider, requests[:3])
        assert [again[i].text for i in range(3)] == [results[i].text for i in range(3)]
    finally:
        provider.close()
    assert not any(p.is_alive() for p in processes)
    with pytest.raises(ProviderError, match="already shut down"):
        provider.run_batch(chats(1), lambda i, r: None)
    provider.close()  # closing twice is harmless


def test_tensor_parallel_replicas_get_consecutive_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    provider = ReplicatedVllmProvider(model(tp=2), setup=(SETUP, {"tag_gpus": True}))
    try:
        results = run(provider, chats(2))
        assert "[gpus 0,1 pid" in results[0].text and "[gpus 2,3 pid" in results[1].text
    finally:
        provider.close()


def test_too_few_gpus_is_one_line_naming_both_settings(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(ProviderError) as caught:
        ReplicatedVllmProvider(model(), setup=(SETUP, {}))
    message = str(caught.value)
    assert "\n" not in message
    assert "vllm.data_parallel_size 2 x vllm.tensor_parallel_size 1 needs 2 GPUs, and 1 are visible" in message


def test_a_replica_that_cannot_load_stops_the_others_with_its_reason(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    processes: list[Any] = []
    real_start = ReplicatedVllmProvider._await_ready

    def spy(self: ReplicatedVllmProvider, timeout_s: float, workers: list, first: int) -> None:
        processes.extend(p for p, _ in self._workers)
        real_start(self, timeout_s, workers, first)

    monkeypatch.setattr(ReplicatedVllmProvider, "_await_ready", spy)
    with pytest.raises(ProviderError) as caught:
        ReplicatedVllmProvider(model(), setup=(SETUP, {"init_error": "CUDA out of memory", "fail_on_gpus": "1"}))
    message = str(caught.value)
    assert "\n" not in message
    assert "vLLM could not start the engine: CUDA out of memory" in message
    assert "vllm.tensor_parallel_size" in message  # the setting to change
    assert "replica 2 of 2, CUDA_VISIBLE_DEVICES=1" in message
    assert len(processes) == 2 and not any(p.is_alive() for p in processes)


def test_an_engine_failure_mid_batch_names_the_replica_and_the_provider_stays_failed(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    provider = ReplicatedVllmProvider(model(), setup=(SETUP, {"fail_after": 2, "step_size": 1}))
    try:
        seen: list[int] = []
        with pytest.raises(ProviderError, match="failed while generating.*replica [12] of 2") as caught:
            provider.run_batch(chats(10), lambda i, r: seen.append(i))
        assert "\n" not in str(caught.value)
        assert 2 <= len(seen) <= 4  # what finished before the failure was reported
        with pytest.raises(ProviderError, match="failed earlier"):
            provider.run_batch(chats(2), lambda i, r: None)
    finally:
        provider.close()


def test_a_replica_process_that_dies_is_named_with_its_exit_code(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    provider = ReplicatedVllmProvider(model(), setup=(SETUP, {"exit_after": 1, "step_size": 1}))
    try:
        with pytest.raises(ProviderError, match=r"a vLLM replica process died \(exit code 9\) \(replica [12] of 2"):
            run(provider, chats(6))
    finally:
        provider.close()


def test_logprob_batches_are_dealt_out_like_chats(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    provider = ReplicatedVllmProvider(model(data_parallel_backend="replicas"), setup=(SETUP, {"echo_scorer": True}))
    try:
        assert provider.logprob_abilities == frozenset({CONTINUATION, NEXT_TOKEN})
        requests = [LogprobRequest(prompt=f"p{i}", continuations=["x" * i, "y" * (i + 1)]) for i in range(5)]
        results = run(provider, requests, kind="logprobs")
        assert {i: r.logprobs for i, r in results.items()} == {i: [-float(i), -float(i + 1)] for i in range(5)}
    finally:
        provider.close()


def test_create_picks_replicas_for_a_data_parallel_judge(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(ReplicatedVllmProvider, "worker_setup", (SETUP, {}))
    judge = JudgeConfig(name="j", provider="vllm", model="/j", mode="pairwise-all",
                        vllm=VllmConfig(data_parallel_size=2, startup_timeout_s=60))
    provider = create(judge)
    try:
        assert isinstance(provider, ReplicatedVllmProvider)
        assert len(run(provider, chats(3))) == 3
    finally:
        provider.close()


def test_replicas_placed_on_one_gpu_start_one_after_another(monkeypatch):
    starts: list[int] = []
    real_start = ReplicatedVllmProvider._await_ready

    def spy(self: ReplicatedVllmProvider, timeout_s: float, workers: list, first: int) -> None:
        starts.append(len(self._workers))  # how many processes were started when this wait began
        real_start(self, timeout_s, workers, first)

    monkeypatch.setattr(ReplicatedVllmProvider, "_await_ready", spy)
    provider = ReplicatedVllmProvider(model(dp=3), gpus=[["0"]] * 3, setup=(SETUP, {"tag_gpus": True}))
    try:
        assert starts == [1, 2, 3]
        assert len(run(provider, chats(5))) == 5
    finally:
        provider.close()
    starts.clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    ReplicatedVllmProvider(model(), setup=(SETUP, {})).close()
    assert starts == [2]  # GPUs of their own: side by side


def test_interrupted_mid_batch_the_replicas_shut_their_engines_down_promptly(monkeypatch, tmp_path):
    """The run stops while the replicas are still generating (here the caller's callback raises,
    as a stage does on SIGTERM): closing does not wait for the batch, and each replica still
    shuts its engine down, which is what frees its GPUs."""
    import time

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    marker = tmp_path / "shutdowns"
    provider = ReplicatedVllmProvider(model(), setup=(SETUP, {"step_size": 1, "step_s": 0.2,
                                                              "shutdown_marker": str(marker)}))
    processes = [p for p, _ in provider._workers]

    def stop_at_first(index: int, result: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        provider.run_batch(chats(100), stop_at_first)
    start = time.monotonic()
    provider.close()
    assert time.monotonic() - start < 10  # the batch had about 10 s to go
    assert not any(p.is_alive() for p in processes)
    assert sorted(marker.read_text().split()) == sorted(str(p.pid) for p in processes)
    assert {p.exitcode for p in processes} == {128 + 15}
