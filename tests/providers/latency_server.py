"""A lean loopback judge for throughput benchmarks: OpenAI chat completions (POST
/v1/chat/completions, plain JSON, HTTP/1.1 keep-alive) answered after a fixed latency, on one
asyncio loop.

The fault server (tests/providers/fault_server.py) is a ThreadingHTTPServer: a thread per
connection, each sleeping out the latency and then contending for the GIL. That costs ~0.6 ms of
CPU per call and delays replies by the GIL's switch interval whenever many threads wake at once,
which on a 2-core machine the client under test pays for. Here a reply is a timer callback on
the loop (no thread, no task per request), so the server stays a small, steady cost. It answers
like the fault server's judge (same verdicts for the same prompts) and fails nothing.

Run standalone (the benchmarks do, to keep it off the client's core):
    python -m tests.providers.latency_server --latency 0.2
prints `PORT <n>` and serves until killed; GET /stats returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from tests.providers.fault_server import _openai_completion, verdict_text


class Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0


class Connection(asyncio.Protocol):
    """One client connection. Clients send a request only after the previous reply (no
    pipelining); with one fixed latency, replies scheduled in arrival order also leave in it."""

    def __init__(self, latency_s: float, counters: Counters):
        self.latency_s = latency_s
        self.counters = counters
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := self._next_request()) is not None:
            self._handle(*request)

    def _next_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if len(self.buffer) < end + 4 + length:
            return None
        body = self.buffer[end + 4:end + 4 + length]
        self.buffer = self.buffer[end + 4 + length:]
        return method, path, headers, body

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        close = headers.get("connection", "").lower() == "close"
        if method == "GET" and path == "/stats":
            c = self.counters
            self._reply(200, {"requests": c.requests, "max_in_flight": c.max_in_flight}, close)
            return
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self._reply(404, {"error": {"message": f"no route {path}"}}, close)
            return
        if "chunked" in headers.get("transfer-encoding", ""):
            self._reply(411, {"error": {"message": "send a Content-Length"}}, close)
            return
        request = json.loads(body or b"{}")
        messages = list(request.get("messages", []))
        text = verdict_text(messages, reask=sum(m.get("role") == "user" for m in messages) > 1)
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
        payload = _openai_completion(str(request.get("model", "")), text, prompt_tokens, max(1, len(text) // 4))
        c = self.counters
        c.requests += 1
        c.in_flight += 1
        c.max_in_flight = max(c.max_in_flight, c.in_flight)
        asyncio.get_running_loop().call_later(self.latency_s, self._answer, payload, close)

    def _answer(self, payload: dict[str, Any], close: bool) -> None:
        self.counters.in_flight -= 1
        self._reply(200, payload, close)

    def _reply(self, status: int, payload: dict[str, Any], close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        data = json.dumps(payload).encode()
        reason = {200: "OK", 404: "Not Found", 411: "Length Required"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n")
        self.transport.write(head.encode("latin-1") + data)
        if close:
            self.transport.close()


async def serve(latency_s: float, port: int = 0, ready: Any = None) -> None:
    """Serve until cancelled; `ready(port)` is called once listening (or the port is printed)."""
    counters = Counters()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(latency_s, counters), "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    else:
        print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.latency, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
