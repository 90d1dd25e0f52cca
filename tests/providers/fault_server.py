"""A loopback judge API that fails on demand: OpenAI chat completions (POST /v1/chat/completions)
and Anthropic messages (POST /v1/messages), plain JSON or SSE streams, on 127.0.0.1.

It answers like a judge: the verdict is a pure function of the first user message (so a re-ask,
a retry or another run gets the same verdict) in the format the prompt asks for ([[A]]/[[B]]/[[C]],
[[A>>B]]..., or "Rating: [[N]]"). With `fault_rate` > 0, the first arrival of a request (keyed by
model, messages and sampling) fails with that probability, drawn from a hash of the seed and the
key, with one of `kinds`:

  429         429 with Retry-After (every worker should pause)
  500         500 without Retry-After (backoff)
  503         503 with Retry-After
  529         Anthropic's "overloaded" (messages API only; a 500 on the OpenAI route)
  hang        no answer until well past the client's timeout, then the connection drops
  truncated   a 200 whose body (or stream) stops half way
  no_verdict  a complete answer without a verdict (only for first asks, never for re-asks)
  wrong_model a complete answer, with another verdict, from a model other than the one asked

With `verdictless_rate` > 0, that share of games (drawn from the first user message) never gets a
verdict, re-asks included: the judge answers in a format of its own, quoting the API key it was
sent, as a judge behind a careless gateway might (the stage must mask it wherever it shows one).

A request counts as *done* when the full, correct answer was written; `done[key]` counts those,
so a test can check that every call was paid exactly once. `rpm` makes it enforce a requests per
minute limit with 429s (a token bucket with one second of burst). A request for model
`reject-me` gets a 401 whose message echoes the API key, as careless gateways do.

Log-probabilities: an OpenAI chat request with `"logprobs": true` (not streamed) gets
`choices[0].logprobs.content` in OpenAI's shape for its reply: the words as tokens, a verdict
`[[X]]` as the tokens "[[", "X", "]]", each token with `token`, `logprob`, `bytes` and up to
`top_logprobs` alternatives (the generated token among them). At an [[A]]/[[B]]/[[C]] letter the
alternatives are `letter_probs(written letter)`: the written letter .6, the other two letters .25
and .1 in ABC order, and " The" (no option) .05. With `no_logprobs_rate` > 0, that share of
requests (drawn from the request key) is answered with `"logprobs": null` although it asked.
`stats.sent` lists, per request, the key and the body's fields of WATCHED that it carried.

Run standalone (the benchmarks do, to keep it off the client's core):
    python -m tests.providers.fault_server --latency 0.2 [--rpm 1200]
prints `PORT <n>` and serves until killed; GET /stats returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("429", "500", "503", "529", "hang", "truncated", "no_verdict", "wrong_model")
WRONG_MODEL = "impostor-model"
#: Request fields recorded per request in `Stats.sent` (when the body carries them).
WATCHED = ("logprobs", "top_logprobs", "structured_outputs", "continue_final_message", "add_generation_prompt", "stream")
#: At an [[A]]/[[B]]/[[C]] verdict's letter: the written letter, then the other two in ABC order.
LETTER_PROBS = (0.6, 0.25, 0.1)
OFF_OPTION = (" The", 0.05)  # an alternative that begins no option
_WORD = re.compile(r" ?[^ ]+| +")
_VERDICT = re.compile(r"\[\[([^\[\]]+)\]\]")


@dataclass
class Plan:
    seed: int = 0
    fault_rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    retry_after_s: float = 0.1
    hang_s: float = 1.5
    latency_s: float = 0.0
    rpm: float | None = None
    verdictless_rate: float = 0.0
    no_logprobs_rate: float = 0.0
    #: Appended to the model id in answers, as an API serving an alias from a dated snapshot does.
    snapshot: str = ""


@dataclass
class Stats:
    done: Counter = field(default_factory=Counter)
    done_at: dict = field(default_factory=dict)  # key -> monotonic times of its completions
    arrivals: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    requests: int = 0
    rate_limited: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    auth: set = field(default_factory=set)
    bodies: dict = field(default_factory=dict)
    sent: list = field(default_factory=list)  # per request: {"key": ..., WATCHED fields it carried}
    logprobs_withheld: int = 0  # requests that asked for logprobs and got null (no_logprobs_rate)


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:12], 16) / float(1 << 48)


def request_key(model: str, messages: list[dict[str, Any]], max_tokens: Any, temperature: Any) -> str:
    blob = json.dumps([model, messages, max_tokens, temperature], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def verdict_text(messages: list[dict[str, Any]], *, reask: bool, flip: bool = False) -> str:
    """The judge's answer: a verdict in the asked format, fixed by the first user message."""
    prompt = " ".join(str(m.get("content", "")) for m in messages)
    first_user = next(str(m["content"]) for m in messages if m["role"] == "user")
    u = _unit("verdict", first_user, flip)
    if "[[A>>B]]" in prompt or "A>>B" in prompt:
        verdict = "[[" + ["A>>B", "A>B", "A=B", "B>A", "B>>A"][int(u * 5)] + "]]"
    elif "[[A]]" in prompt:
        verdict = "[[" + "ABC"[int(u * 3)] + "]]"
    else:
        verdict = f"Rating: [[{1 + int(u * 10)}]]"
    if reask:
        return verdict
    return f"Both answers address the question; weighing accuracy and helpfulness.\n\nMy final verdict is: {verdict}"


def reply_tokens(text: str) -> tuple[list[str], int | None]:
    """The reply as tokens (words with their leading space; the last `[[X]]` as "[[", "X", "]]"),
    and the index of the verdict's value token (None without a verdict)."""
    match = next(reversed(list(_VERDICT.finditer(text))), None)
    if match is None:
        return _WORD.findall(text), None
    head = _WORD.findall(text[:match.start()])
    return head + ["[[", match.group(1), "]]"] + _WORD.findall(text[match.end():]), len(head) + 1


def letter_probs(letter: str) -> dict[str, float]:
    """The alternatives (token -> probability) at a written verdict letter A, B or C."""
    others = [c for c in "ABC" if c != letter]
    return {**dict(zip([letter, *others], LETTER_PROBS)), OFF_OPTION[0]: OFF_OPTION[1]}


def openai_logprobs(text: str, top_n: int) -> dict[str, Any]:
    """A chat choice's `logprobs` for `text`, as OpenAI sends it."""
    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}

    tokens, at = reply_tokens(text)
    content = []
    for i, token in enumerate(tokens):
        if i == at and token in ("A", "B", "C"):
            alternatives = {t: math.log(p) for t, p in letter_probs(token).items()}
        else:
            alternatives = {token: -0.01, (" a" if token == " the" else " the"): -4.6}
        top = sorted(alternatives.items(), key=lambda kv: -kv[1])[:top_n]
        content.append({**entry(token, alternatives[token]), "top_logprobs": [entry(t, lp) for t, lp in top]})
    return {"content": content, "refusal": None}


class FaultServer:
    """The server in a background thread of this process (tests); `stop()` shuts it down."""

    def __init__(self, plan: Plan | None = None, port: int = 0):
        self.plan = plan or Plan()
        self.stats = Stats()
        self.lock = threading.Lock()
        self._bucket = (self.plan.rpm / 60.0, time.monotonic()) if self.plan.rpm else None
        handler = type("BoundHandler", (Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault_for(self, key: str, first_arrival: bool, reask: bool, anthropic: bool) -> str | None:
        plan = self.plan
        if not first_arrival or plan.fault_rate <= 0 or _unit(plan.seed, "fault", key) >= plan.fault_rate:
            return None
        kinds = [k for k in plan.kinds if not (reask and k == "no_verdict")]
        kind = kinds[int(_unit(plan.seed, "kind", key) * len(kinds))]
        return "500" if kind == "529" and not anthropic else kind

    def over_rate(self) -> float | None:
        """Seconds until the next request is allowed, or None if this one may pass."""
        if self.plan.rpm is None:
            return None
        rate = self.plan.rpm / 60.0
        capacity = max(1.0, rate)
        level, stamp = self._bucket  # type: ignore[misc]
        now = time.monotonic()
        level = min(capacity, level + (now - stamp) * rate)
        if level < 1.0:
            self._bucket = (level, now)
            return (1.0 - level) / rate
        self._bucket = (level - 1.0, now)
        return None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            s = self.stats
            return {
                "requests": s.requests, "done_total": sum(s.done.values()), "distinct_done": len(s.done),
                "max_done_per_key": max(s.done.values(), default=0), "faults": dict(s.faults),
                "rate_limited": s.rate_limited, "max_in_flight": s.max_in_flight,
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FaultServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _truncated(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # streams end by closing, as SSE without length does
        self.end_headers()
        self.close_connection = True

    def _event(self, data: dict[str, Any] | str, event: str | None = None) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        text = (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"
        self.wfile.write(text.encode())
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path == "/stats":
            self._send(200, self.server_state.snapshot())
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if len(raw) < length:
            # The client died between sending the headers and the body (a SIGKILL test): no
            # request arrived, so none is counted.
            self.close_connection = True
            return
        body = json.loads(raw or b"{}")
        state = self.server_state
        anthropic = self.path.rstrip("/").endswith("/messages")
        if not anthropic and not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        auth = self.headers.get("x-api-key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        messages = list(body.get("messages", []))
        if anthropic and body.get("system"):
            messages = [{"role": "system", "content": body["system"]}] + messages
        model = str(body.get("model", ""))
        key = request_key(model, messages, body.get("max_tokens"), body.get("temperature"))
        reask = sum(m["role"] == "user" for m in messages) > 1
        with state.lock:
            s = state.stats
            s.requests += 1
            s.auth.add(auth)
            first = s.arrivals[key] == 0
            s.arrivals[key] += 1
            s.bodies.setdefault(key, body)
            s.sent.append({"key": key, **{name: body[name] for name in WATCHED if name in body}})
            wait = state.over_rate()
            if wait is not None:
                s.rate_limited += 1
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
        try:
            if wait is not None:
                self._error(429, anthropic, "rate_limit_error", {"Retry-After": f"{wait:.3f}"})
                return
            if model == "reject-me":
                self._error(401, anthropic, "authentication_error", message=f"Incorrect API key provided: {auth}")
                return
            self._answer(body, messages, model, key, state.fault_for(key, first, reask, anthropic), anthropic, reask)
        finally:
            with state.lock:
                state.stats.in_flight -= 1

    def _error(self, code: int, anthropic: bool, kind: str, headers: dict[str, str] | None = None, message: str = "fault") -> None:
        if anthropic:
            body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            body = {"error": {"message": message, "type": kind, "code": None}}
        self._send(code, body, headers)

    # -- answers ----------------------------------------------------------------------------
    def _answer(self, body: dict[str, Any], messages: list[dict[str, Any]], model: str, key: str,
                fault: str | None, anthropic: bool, reask: bool) -> None:
        state = self.server_state
        plan = state.plan
        if fault is not None:
            with state.lock:
                state.stats.faults[fault] += 1
        if fault == "hang":
            time.sleep(plan.hang_s)
            self.close_connection = True
            return
        if plan.latency_s:
            time.sleep(plan.latency_s)
        retry_after = {"Retry-After": f"{plan.retry_after_s:g}"}
        if fault == "429":
            self._error(429, anthropic, "rate_limit_error", retry_after)
            return
        if fault == "500":
            self._error(500, anthropic, "api_error")
            return
        if fault == "503":
            self._error(503, anthropic, "api_error", retry_after)
            return
        if fault == "529":
            self._error(529, anthropic, "overloaded_error", message="Overloaded")
            return
        text = verdict_text(messages, reask=reask, flip=fault == "wrong_model")
        if fault == "no_verdict":
            text = "Both answers have merits and flaws; it is hard to say which is better overall."
        first_user = next((str(m["content"]) for m in messages if m["role"] == "user"), "")
        if plan.verdictless_rate > 0 and _unit(plan.seed, "verdictless", first_user) < plan.verdictless_rate:
            auth = self.headers.get("x-api-key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            text = f"Verdict: Assistant A is somewhat better. (request signed with {auth})"
        answered_by = WRONG_MODEL if fault == "wrong_model" else model + plan.snapshot
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
        output_tokens = max(1, len(text) // 4)
        if body.get("max_tokens") and body.get("ignore_eos"):
            output_tokens = int(body["max_tokens"])
        if body.get("stream"):
            complete = self._stream(anthropic, answered_by, text, prompt_tokens, output_tokens, truncate=fault == "truncated")
        else:
            payload = _anthropic_message(answered_by, text, prompt_tokens, output_tokens) if anthropic else \
                _openai_completion(answered_by, text, prompt_tokens, output_tokens)
            if not anthropic and body.get("logprobs"):
                logprobs = None
                if plan.no_logprobs_rate > 0 and _unit(plan.seed, "no_logprobs", key) < plan.no_logprobs_rate:
                    with state.lock:
                        state.stats.logprobs_withheld += 1
                else:
                    logprobs = openai_logprobs(text, int(body.get("top_logprobs") or 0))
                payload["choices"][0]["logprobs"] = logprobs
            if fault == "truncated":
                self._truncated(payload)
                complete = False
            else:
                self._send(200, payload)
                complete = True
        if complete and fault != "wrong_model":
            with state.lock:
                state.stats.done[key] += 1
                state.stats.done_at.setdefault(key, []).append(time.monotonic())

    def _stream(self, anthropic: bool, model: str, text: str, prompt_tokens: int, output_tokens: int, *, truncate: bool) -> bool:
        pieces = [text[i:i + 16] for i in range(0, len(text), 16)] or [""]
        if truncate:
            pieces = pieces[: max(1, len(pieces) // 2)]
        self._start_stream()
        if anthropic:
            self._event({"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}},
                "message_start")
            self._event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start")
            for piece in pieces:
                self._event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
            if truncate:
                return False
            self._event({"type": "content_block_stop", "index": 0}, "content_block_stop")
            self._event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": {"output_tokens": output_tokens}}, "message_delta")
            self._event({"type": "message_stop"}, "message_stop")
            return True
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model}
        for i, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            self._event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        if truncate:
            return False
        self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self._event({**base, "choices": [], "usage": {
            "prompt_tokens": prompt_tokens, "completion_tokens": output_tokens, "total_tokens": prompt_tokens + output_tokens}})
        self._event("[DONE]")
        return True


def _openai_completion(model: str, text: str, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": output_tokens, "total_tokens": prompt_tokens + output_tokens},
    }


def _anthropic_message(model: str, text: str, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": output_tokens},
    }


ThreadingHTTPServer.request_queue_size = 1024  # many clients connect at once; a short backlog stalls them


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rpm", type=float, default=None)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = FaultServer(Plan(seed=args.seed, fault_rate=args.fault_rate, latency_s=args.latency, rpm=args.rpm), port=args.port)
    print(f"PORT {server.port}", flush=True)
    try:
        server.httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
