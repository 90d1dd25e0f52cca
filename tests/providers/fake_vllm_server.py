"""A stand-in for vLLM's OpenAI-compatible server, for the server-mode tests: /health,
/v1/models and /v1/chat/completions (plain and streamed, with usage) on 127.0.0.1.

Like vLLM it starts a child process (its "engine") in its own process group and stops it on
SIGTERM. Flags make it misbehave the ways a real server does: exit at start-up with an
out-of-memory message, never become healthy, die mid-run, or leave a child that ignores SIGTERM.
GET /stats reports the most requests it had in flight at once; GET /metrics serves a TTFT
histogram in vLLM's Prometheus format (each request's first token comes one token delay in).

usage: python fake_vllm_server.py --port N --served-model-name NAME [options]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fake_judge import judge_reply  # beside this file: run as a script, its folder is on sys.path

STATE = {"in_flight": 0, "max_in_flight": 0, "completions": 0, "requests": []}
TTFT_BOUNDS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
TTFT_COUNTS = [0] * (len(TTFT_BOUNDS) + 1)  # the last is +Inf
LOCK = threading.Lock()


def reply_text(messages: list[dict[str, str]], choice: int) -> str:
    return f"reply {choice} to: {messages[-1]['content'][:30]}"


class Handler(BaseHTTPRequestHandler):
    args: argparse.Namespace
    started: float

    def log_message(self, format: str, *args: object) -> None:  # keep the log for errors
        pass

    def _json(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            ready = not self.args.never_healthy and time.monotonic() - self.started >= self.args.startup_delay
            self._json(200 if ready else 503, {})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.args.served_model_name, "object": "model"}]})
        elif self.path == "/metrics":
            self._metrics()
        elif self.path == "/stats":
            with LOCK:
                self._json(200, dict(STATE))
        else:
            self._json(404, {"message": "not found"})

    def _metrics(self) -> None:
        lines = ["# TYPE vllm:time_to_first_token_seconds histogram"]
        with LOCK:
            cumulative = 0
            for bound, count in zip([*map(str, TTFT_BOUNDS), "+Inf"], TTFT_COUNTS):
                cumulative += count
                lines.append(f'vllm:time_to_first_token_seconds_bucket{{engine="0",le="{bound}",model_name="{self.args.served_model_name}"}} {float(cumulative)}')
            lines.append(f'vllm:time_to_first_token_seconds_count{{engine="0",model_name="{self.args.served_model_name}"}} {float(cumulative)}')
        data = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self._json(404, {"message": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("model") != self.args.served_model_name:
            self._json(404, {"message": f"model {body.get('model')} does not exist"})
            return
        with LOCK:
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
            STATE["requests"].append({k: body.get(k) for k in ("max_tokens", "temperature", "n", "seed", "ignore_eos", "stream",
                                                                  "structured_outputs", "continue_final_message", "logprobs")})
        try:
            deadline = time.monotonic() + 2.0
            while self.args.hold_until and STATE["in_flight"] < self.args.hold_until and time.monotonic() < deadline:
                time.sleep(0.005)  # let the client show how many requests it keeps in flight
            self._complete(body)
        finally:
            with LOCK:
                STATE["in_flight"] -= 1
                STATE["completions"] += 1
                done = STATE["completions"]
            if self.args.die_after is not None and done >= self.args.die_after:
                print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB", flush=True)
                os._exit(1)

    def _judge(self, body: dict) -> None:
        """A constrained judge request: a reply that matches its regex (fake_judge.py), with the
        tokens' log-probabilities in OpenAI's shape when asked for."""
        continuing = bool(body.get("continue_final_message"))
        if continuing and body.get("add_generation_prompt") is not False:
            self._json(400, {"message": "continue_final_message needs add_generation_prompt false"})
            return
        text, tokens, finish = judge_reply(body["messages"], body["structured_outputs"]["regex"], continuing=continuing)
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        if body.get("logprobs"):
            k = body.get("top_logprobs") or 0
            choice["logprobs"] = {"content": [
                {"token": t, "logprob": dict(top).get(t, 0.0),
                 "top_logprobs": [{"token": a, "logprob": lp} for a, lp in top[:k]]} for t, top in tokens]}
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens), "total_tokens": prompt_tokens + len(tokens)}
        self._json(200, {"id": "chatcmpl-fake", "created": int(time.time()), "model": body["model"],
                         "object": "chat.completion", "choices": [choice], "usage": usage})

    def _complete(self, body: dict) -> None:
        if (body.get("structured_outputs") or {}).get("regex"):
            self._judge(body)
            return
        n = body.get("n", 1)
        max_tokens = body.get("max_tokens", 16)
        texts = [reply_text(body["messages"], i) for i in range(n)]
        counts = [max_tokens if body.get("ignore_eos") else min(len(t.split()), max_tokens) for t in texts]
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sum(counts), "total_tokens": prompt_tokens + sum(counts)}
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body["model"]}
        ttft = self.args.token_delay
        with LOCK:
            TTFT_COUNTS[next((i for i, b in enumerate(TTFT_BOUNDS) if ttft <= b), len(TTFT_BOUNDS))] += 1
        if not body.get("stream"):
            time.sleep(self.args.token_delay * 3)
            choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "length"}
                       for i, t in enumerate(texts)]
            self._json(200, {**base, "object": "chat.completion", "choices": choices, "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def send(chunk: object) -> None:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        for i, text in enumerate(texts):
            for word in text.split(" "):
                time.sleep(self.args.token_delay)
                send({**base, "object": "chat.completion.chunk",
                      "choices": [{"index": i, "delta": {"content": word + " "}, "finish_reason": None}]})
        for i in range(n):
            send({**base, "object": "chat.completion.chunk",
                  "choices": [{"index": i, "delta": {}, "finish_reason": "length"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            send({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--startup-delay", type=float, default=0.0)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--fail-start", help="print this and exit 1 instead of serving")
    parser.add_argument("--never-healthy", action="store_true")
    parser.add_argument("--die-after", type=int, help="exit 1 after this many completions")
    parser.add_argument("--hold-until", type=int, default=0, help="hold each request until this many are in flight (2 s at most)")
    parser.add_argument("--stubborn-child", action="store_true", help="the child ignores SIGTERM")
    parser.add_argument("--pidfile", help="write 'server_pid child_pid' here")
    args, _ = parser.parse_known_args()
    print(f"fake vLLM server starting on port {args.port}", flush=True)
    # vLLM prints its settings first: names of settings in the log are not errors.
    print(f"INFO non-default args: {{'model': '{args.served_model_name}', 'trust_remote_code': False, "
          "'chat_template': None, 'tensor_parallel_size': 1}", flush=True)
    if args.fail_start:
        print("Traceback (most recent call last):", flush=True)
        print(args.fail_start, flush=True)
        sys.exit(1)
    ignore = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " if args.stubborn_child else ""
    child = subprocess.Popen([sys.executable, "-c", ignore + "import time; time.sleep(600)"])
    if args.pidfile:
        with open(args.pidfile + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
        os.replace(args.pidfile + ".tmp", args.pidfile)
    Handler.args = args
    Handler.started = time.monotonic()
    server = Server(("127.0.0.1", args.port), Handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    server.shutdown()
    if not args.stubborn_child:
        child.terminate()
        child.wait()
    print("fake vLLM server stopped", flush=True)


if __name__ == "__main__":
    main()
