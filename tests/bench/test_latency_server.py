"""The judging bench's lean loopback server speaks the OpenAI wire format our provider reads."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

import pytest

from arena.config import ClientConfig, JudgeConfig
from arena.providers.base import ChatRequest, ChatResponse, TransientError
from arena.providers.openai_api import ModelGuard, OpenAIProvider, chat_response
from tests.providers.latency_server import serve


@pytest.fixture
def server_port():
    ready = threading.Event()
    state: dict = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        state["loop"] = loop

        def on_ready(port: int) -> None:
            state["port"] = port
            ready.set()

        state["task"] = loop.create_task(serve(0.01, ready=on_ready))
        try:
            loop.run_until_complete(state["task"])
        except asyncio.CancelledError:
            pass
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state["port"]
    state["loop"].call_soon_threadsafe(state["task"].cancel)
    thread.join(10)


def test_provider_gets_verdicts_over_keep_alive(server_port):
    cfg = JudgeConfig(name="j", provider="openai_compatible", mode="pairwise-all", model="judge-model",
                      client=ClientConfig(base_url=f"http://127.0.0.1:{server_port}/v1", max_concurrency=8, timeout_s=10))
    results: dict[int, object] = {}
    requests = [ChatRequest(messages=[{"role": "user", "content": f"Q{i}? end with [[A]], [[B]] or [[C]]"}], max_tokens=16)
                for i in range(20)]
    OpenAIProvider(cfg).run_batch(requests, results.__setitem__)
    assert sorted(results) == list(range(20))
    assert all(isinstance(r, ChatResponse) and r.model == "judge-model" and "[[" in r.text for r in results.values())
    with urllib.request.urlopen(f"http://127.0.0.1:{server_port}/stats") as response:
        stats = json.loads(response.read())
    assert stats["requests"] == 20 and 1 <= stats["max_in_flight"] <= 8


def test_body_without_choices_is_transient():
    with pytest.raises(TransientError):
        chat_response(ModelGuard("t", "m"), {"error": "gateway page"}, 0.1)
    with pytest.raises(TransientError):
        chat_response(ModelGuard("t", "m"), {"choices": [{"message": None}]}, 0.1)
    with pytest.raises(TransientError, match="not the 'm' asked for"):
        chat_response(ModelGuard("t", "m"), {"model": "other", "choices": [{"message": {"content": "x"}}]}, 0.1)
    ok = chat_response(ModelGuard("t", "m"), {"model": "m", "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}, 0.1)
    assert ok.texts == ["x"] and ok.prompt_tokens == 3 and ok.output_tokens == 1 and ok.finish_reasons == ["stop"]
