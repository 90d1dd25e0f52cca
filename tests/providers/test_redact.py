"""A server that echoes the refused key back: no client path lets it (or its start) through."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from arena.config import ClientConfig, ModelConfig
from arena.providers import openai_api, openai_logprobs
from arena.providers.base import CallFailed, ChatRequest, LogprobRequest, redact

KEY = "sk-proj-CANARY0123456789abcdefghijklmnopqrstuvwxyz"


def test_masking_comes_before_the_cut():
    text = "x" * 190 + KEY + " was refused"  # the key straddles the 200-character limit
    out = redact(text, KEY)
    assert KEY[:8] not in out and "***" in out and len(out) <= 200


class Echo401(BaseHTTPRequestHandler):
    """A 401 whose message repeats the bearer key after a long preamble, on every route."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"message": "p" * 160 + f" Incorrect API key provided: {key}",
                           "error": {"message": "p" * 160 + f" Incorrect API key provided: {key}"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def url(monkeypatch):
    monkeypatch.setenv("REDACT_TEST_KEY", KEY)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo401)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _model(url: str) -> ModelConfig:
    return ModelConfig(name="m", provider="openai_compatible", model="m",
                       client=ClientConfig(base_url=url, api_key_env="REDACT_TEST_KEY", max_retries=0))


@pytest.mark.parametrize("stream", [False, True])
def test_chat_calls_never_show_the_key(url, stream):
    model = _model(url)
    model.client.stream = stream
    provider = openai_api.create(model)
    with pytest.raises(CallFailed) as failed:
        asyncio.run(provider.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=4)))
    assert "401" in str(failed.value) and KEY[:8] not in str(failed.value)


def test_log_probability_calls_never_show_the_key(url):
    provider = openai_logprobs.create(_model(url))
    with pytest.raises(CallFailed) as failed:
        asyncio.run(provider.continuation_logprobs(LogprobRequest(prompt="2+2=", continuations=["4"])))
    assert "401" in str(failed.value) and KEY[:8] not in str(failed.value)
