"""Log-probabilities through OpenAI-compatible APIs, against a stand-in server speaking the wire
format (an httpx mock transport under the official client): echoed prompts on the completions
endpoint, top next tokens on completions and chat, and faults."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from types import SimpleNamespace

import pytest

from arena.config import ClientConfig, ModelConfig
from arena.errors import ProviderError
from arena.providers.base import CallFailed, LogprobRequest
from arena.providers.openai_logprobs import (
    OpenAILogprobsProvider,
    continuation_from_echo,
    scoring_abilities,
)

# The HTTP library the installed openai client is built on (newer releases use httpx2).
httpx = importlib.import_module("httpx2" if importlib.util.find_spec("httpx2") else "httpx")
TOKEN = re.compile(r" ?[^ ]+| +")


def tokens(text: str) -> list[str]:
    """The stand-in server's tokenizer: words with their leading space."""
    return TOKEN.findall(text)


def token_logprob(token: str) -> float:
    return -0.25 * len(token)


class Server:
    """Answers /completions and /chat/completions like an OpenAI-compatible server."""

    def __init__(self, faults: list[int] | None = None):
        self.faults = list(faults or [])  # HTTP statuses to answer with, one per request, first
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.faults:
            status = self.faults.pop(0)
            return httpx.Response(status, headers={"retry-after": "0"}, json={"error": {"message": f"fault {status}"}})
        if request.url.path.endswith("/chat/completions"):
            top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in (("B", -0.3), ("The", -1.6), ("A", -2.0))]
            content = [{"token": "B", "logprob": -0.3, "bytes": None, "top_logprobs": top[: body["top_logprobs"]]}]
            return httpx.Response(200, json={
                "id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "B"}, "finish_reason": "length",
                             "logprobs": {"content": content}}],
            })
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = []
        for i, prompt in enumerate(prompts):
            if body.get("echo"):
                toks = tokens(prompt) + [" X"]  # the prompt, then one generated token
                offsets, at = [], 0
                for tok in toks:
                    offsets.append(at)
                    at += len(tok)
                values = [None] + [token_logprob(t) for t in toks[1:]]
                logprobs = {"tokens": toks, "token_logprobs": values, "text_offset": offsets,
                            "top_logprobs": [None] + [{t: token_logprob(t)} for t in toks[1:]]}
                text = prompt + " X"
            else:
                logprobs = {"tokens": [" A"], "token_logprobs": [-0.7], "text_offset": [len(prompt)],
                            "top_logprobs": [{" A": -0.7, " B": -0.9, " C": -2.5}]}
                text = " A"
            choices.append({"index": i, "text": text, "finish_reason": "length", "logprobs": logprobs})
        choices.reverse()  # servers need not answer in order
        return httpx.Response(200, json={"id": "x", "object": "text_completion", "created": 0, "model": body["model"], "choices": choices})


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def provider(server: Server, kind: str = "openai_compatible") -> OpenAILogprobsProvider:
    cfg = ModelConfig(name="m", provider=kind, model="served-model",  # type: ignore[arg-type]
                      client=ClientConfig(base_url="http://stand-in/v1", max_retries=3, timeout_s=5))
    return OpenAILogprobsProvider(cfg, chat=SimpleNamespace(name="m", cache_identity=("x",), close=lambda: None),  # type: ignore[arg-type]
                                  http_client=lambda: httpx.AsyncClient(transport=httpx.MockTransport(server)))


def run(p: OpenAILogprobsProvider, requests: list[LogprobRequest]) -> list:
    results: dict[int, object] = {}
    p.run_logprob_batch(requests, lambda i, r: results.__setitem__(i, r))
    return [results[i] for i in range(len(requests))]


def test_continuations_from_echoed_prompts(monkeypatch):
    server = Server()
    prompt = "Which ocean is largest?\nA. Atlantic\nB. Pacific\nAnswer:"
    (result,) = run(provider(server), [LogprobRequest(prompt, [" B", " The Pacific Ocean"])])
    assert result.logprobs == pytest.approx([token_logprob(" B"), sum(token_logprob(t) for t in (" The", " Pacific", " Ocean"))])
    assert result.token_counts == [1, 3]
    sent = server.requests[0]
    assert sent["echo"] is True and sent["logprobs"] == 1 and sent["prompt"] == [prompt + " B", prompt + " The Pacific Ocean"]
    assert sent["model"] == "served-model" and sent["temperature"] == 0.0


def test_top_next_tokens_from_completions_and_chat():
    (completion,) = run(provider(Server()), [LogprobRequest("Answer:", top_k=5)])
    assert completion.top == {" A": -0.7, " B": -0.9, " C": -2.5}
    chat_server = Server()
    (chat,) = run(provider(chat_server, "openai"), [LogprobRequest("Answer:", top_k=50)])
    assert chat.top == {"B": -0.3, "The": -1.6, "A": -2.0}
    assert chat_server.requests[0]["top_logprobs"] == 20  # the API's maximum
    assert chat_server.requests[0]["messages"] == [{"role": "user", "content": "Answer:"}]


def test_chat_api_cannot_score_given_text():
    assert scoring_abilities(ModelConfig(name="m", provider="openai", model="x")) == {"next_token"}
    assert scoring_abilities(ModelConfig(name="m", provider="openai_compatible", model="x")) == {"next_token", "continuation"}
    with pytest.raises(ProviderError, match="cannot return the log-probability of given text"):
        run(provider(Server(), "openai"), [LogprobRequest("p", [" A"])])


def test_retryable_faults_are_retried_and_others_fail_for_good():
    server = Server(faults=[429, 503])
    (result,) = run(provider(server), [LogprobRequest("Answer:", [" A"])])
    assert result.logprobs == [token_logprob(" A")] and len(server.requests) == 3
    (failed,) = run(provider(Server(faults=[400])), [LogprobRequest("Answer:", [" A"])])
    assert isinstance(failed, CallFailed) and "HTTP 400" in str(failed) and "fault 400" in str(failed)


def test_echo_boundary_token_straddling_the_prompt_counts_for_the_continuation():
    logprobs = SimpleNamespace(tokens=["Ans", "wer", ":B", "!"], token_logprobs=[None, -1.0, -2.0, -0.5], text_offset=[0, 3, 6, 8])
    assert continuation_from_echo(logprobs, len("Answer:"), len("Answer:B")) == (-2.0, 1)
    with pytest.raises(CallFailed, match="no prompt log-probabilities"):
        continuation_from_echo(SimpleNamespace(tokens=[], token_logprobs=None, text_offset=None), 1, 2)
