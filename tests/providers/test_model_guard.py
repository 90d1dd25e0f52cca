"""Answers from another model than the one asked: snapshots pass, other models are retried, and
an endpoint that never answers as the asked model stops the stage with the setting to change."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from arena.cli import main
from arena.errors import ProviderError
from arena.providers.base import TransientError
from arena.providers.openai_api import ModelGuard, check_model
from tests.conftest import base_config


@pytest.mark.parametrize("asked, answered", [
    ("gpt-4o", "gpt-4o"), ("gpt-4o", "gpt-4o-2024-08-06"), ("gpt-4o", ""),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"), ("claude-3-5-sonnet", "claude-3-5-sonnet@20240620"),
    ("gpt-4", "gpt-4-0613"), ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
])
def test_the_model_or_a_dated_snapshot_of_it_passes(asked, answered):
    check_model(asked, answered)


@pytest.mark.parametrize("asked, answered", [
    ("gpt-4o", "gpt-4o-mini-2024-07-18"), ("gpt-4o", "gpt-4"), ("claude-3-5-sonnet", "claude-3-5-sonnet-v2-x"),
    ("my-deployment", "gpt-4o-2024-08-06"), ("gpt-4", "gpt-4-32k"), ("gpt-3.5-turbo", "gpt-3.5-turbo-16k"),
    ("gpt-4", "gpt-4-1106-preview"),
])
def test_another_model_is_a_transient_fault(asked, answered):
    with pytest.raises(TransientError, match="not the"):
        check_model(asked, answered)


def test_guard_stops_only_an_endpoint_that_never_answers_as_the_model_asked():
    guard = ModelGuard("openai:j", "my-deployment")
    for _ in range(ModelGuard.WRONG_LIMIT - 1):
        with pytest.raises(TransientError):
            guard("gpt-4o-2024-08-06")
    with pytest.raises(ProviderError, match="client.check_model: false"):
        guard("gpt-4o-2024-08-06")
    # One right answer first: wrong ones stay transient faults, however many (a flaky router).
    flaky = ModelGuard("openai:j", "gpt-4o")
    flaky("gpt-4o")
    for _ in range(3 * ModelGuard.WRONG_LIMIT):
        with pytest.raises(TransientError):
            flaky("llama-3")
    ModelGuard("openai:j", "my-deployment", enabled=False)("gpt-4o-2024-08-06")  # check off: passes


class RenamingGateway(BaseHTTPRequestHandler):
    """Answers every chat completion as gpt-4o-2024-08-06, whatever model was asked (Azure-style)."""

    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        body = json.dumps({
            "id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "A is better. [[A]]"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def gateway():
    RenamingGateway.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), RenamingGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _config(tmp_path, url, **client):
    config = base_config(tmp_path / "run", dry_run=False, cache_dir=str(tmp_path / "cache"))
    config["judges"] = [{"name": "j", "provider": "openai_compatible", "model": "my-deployment", "mode": "pairwise-all",
                         "client": {"base_url": url, "max_concurrency": 1, "max_retries": 1, **client}}]
    return config


def test_a_renaming_gateway_stops_the_stage_in_one_line_instead_of_paying_forever(tmp_path, gateway, write_config, capsys):
    assert main(["run", "-c", str(write_config(_config(tmp_path, gateway)))]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "answers came from model 'gpt-4o-2024-08-06' and none from 'my-deployment'" in err
    assert "client.check_model: false" in err
    assert RenamingGateway.calls <= ModelGuard.WRONG_LIMIT + 1  # one call in flight at most beyond the limit


def test_check_model_false_accepts_the_gateway(tmp_path, gateway, write_config):
    assert main(["run", "-c", str(write_config(_config(tmp_path, gateway, check_model=False)))]) == 0
    assert (tmp_path / "run" / "battles.jsonl").stat().st_size > 0
