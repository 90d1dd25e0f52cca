"""Judge-call throughput against a loopback server, side by side with the alternatives.

1. Fixed latency (default 200 ms per call), concurrency C (64), N calls (2000). Ideal wall time
   is N x latency / C; printed is wall / ideal for
     - runner: our runner (arena.providers.calls) driving the openai_compatible provider,
     - stage:  the whole reviews stage (prompts, verdict parsing, records, battles) for N games,
     - bare:   one AsyncOpenAI client and an asyncio semaphore (the floor for this client),
     - pool:   a ThreadPoolExecutor of C threads with the sync client, as arena-hard-auto judges.
   Target for runner and stage: <= 1.15.
   Then the provider's ways of sending a plain call, each through our runner, same server, same run:
     - post:    what the provider does: the client's documented `post("/chat/completions",
                body=..., cast_to=<http Response>)`, the answer parsed with json.loads;
     - private: the path the provider used before: `post(content=<our JSON bytes>, cast_to=bytes,
                options=...)`, whose options schema came from the private `openai._types`;
     - create:  `chat.completions.create(...)`, the answer as pydantic models (`model_dump`);
     - raw:     `chat.completions.with_raw_response.create(...)`, the raw body parsed with json.loads.
   The rule (issue 13): a private path stays only if it saves >= 20% of the client's CPU per call
   against the best public one.
2. A server that allows R requests per minute and answers the excess with 429 + Retry-After: the
   reviews stage with `requests_per_minute: R` runs N games. Target: done within 1.2 x N / R
   minutes, no call failed for good.

The servers run in their own process so they do not share the client's interpreter. Part 1
uses tests/providers/latency_server.py (one asyncio loop, a timer per reply: ~0.1 ms of CPU per
call); part 2 the fault server (a thread per connection), whose rate limiter it needs and whose
CPU does not matter at R per minute. Each phase prints the CPU milliseconds per call spent by the
client (this process) and by the server, so a slow figure says which side ran out of CPU.

usage: python bench/bench_judging.py [--n 2000] [--concurrency 64] [--latency 0.2]
                                     [--rate-n 600] [--rpm 1200] [--skip-rate] [--skip-paths]
                                     [--rounds 3] [--out result.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.config import ClientConfig, JudgeConfig  # noqa: E402
from arena.providers.base import CallFailed, ChatRequest  # noqa: E402
from arena.providers.openai_api import OpenAIProvider  # noqa: E402
from tests.providers.judge_runs import KEY_ENV, judge_config, write_questions  # noqa: E402


def start_server(*args: str, module: str = "tests.providers.fault_server") -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[1])


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Judge the answers; end with [[A]], [[B]] or [[C]]."},
            {"role": "user", "content": f"Question {i}: which answer is better? A: yes. B: no."}]


def time_runner(url: str, n: int, c: int) -> tuple[float, float, int]:
    return time_path(url, n, c, OpenAIProvider)


class PrivatePost(OpenAIProvider):
    """The provider's old path: our own JSON bytes through post(content=...), with request
    options whose schema comes from the client's private `openai._types`."""

    async def _send(self, kwargs):  # type: ignore[no-untyped-def]
        from openai._types import RequestOptions  # private: the reason this path was measured

        options = {"security": {"bearer_auth": True}} if "security" in getattr(RequestOptions, "__annotations__", {}) else {}
        body = json.dumps(kwargs, ensure_ascii=False).encode("utf-8")
        raw = await self._client().post("/chat/completions", content=body, cast_to=bytes, options=options)
        return json.loads(raw)


class TypedCreate(OpenAIProvider):
    async def _send(self, kwargs):  # type: ignore[no-untyped-def]
        from arena.providers.openai_api import with_extra_body

        return (await self._client().chat.completions.create(**with_extra_body(kwargs))).model_dump()


class RawCreate(OpenAIProvider):
    async def _send(self, kwargs):  # type: ignore[no-untyped-def]
        from arena.providers.openai_api import with_extra_body

        raw = await self._client().chat.completions.with_raw_response.create(**with_extra_body(kwargs))
        return json.loads(raw.http_response.content)


PATHS = {"post": OpenAIProvider, "private": PrivatePost, "create": TypedCreate, "raw": RawCreate}


def time_path(url: str, n: int, c: int, cls: type) -> tuple[float, float, int]:
    """Our runner over n calls with the provider class `cls` (one way of sending a call)."""
    cfg = JudgeConfig(name="bench", provider="openai_compatible", mode="pairwise-all", model="judge-model",
                      client=ClientConfig(base_url=url, max_concurrency=c, timeout_s=60))
    provider = cls(cfg)
    failed = []
    requests = [ChatRequest(messages=messages(i), max_tokens=32) for i in range(n)]
    start, cpu = time.perf_counter(), time.process_time()
    provider.run_batch(requests, lambda i, r: failed.append(i) if isinstance(r, CallFailed) else None)
    return time.perf_counter() - start, time.process_time() - cpu, len(failed)


def compare_paths(url: str, n: int, c: int, rounds: int, ideal: float) -> dict:
    """Each way of sending, `rounds` times interleaved (a noisy machine's drift hits all alike);
    the median client CPU per call and wall / ideal of each."""
    import statistics

    cpu: dict[str, list[float]] = {name: [] for name in PATHS}
    wall: dict[str, list[float]] = {name: [] for name in PATHS}
    for _ in range(rounds):
        for name, cls in PATHS.items():
            seconds, client_cpu, failed = time_path(url, n, c, cls)
            assert failed == 0, f"{name}: {failed} calls failed"
            cpu[name].append(client_cpu / n * 1e3)
            wall[name].append(seconds / ideal)
    out = {name: {"client_cpu_ms_per_call": round(statistics.median(cpu[name]), 3),
                  "cpu_runs": [round(x, 3) for x in cpu[name]],
                  "wall_ratio": round(statistics.median(wall[name]), 3),
                  "wall_runs": [round(x, 3) for x in wall[name]]} for name in PATHS}
    best_public = min((name for name in PATHS if name != "private"), key=lambda k: out[k]["client_cpu_ms_per_call"])
    saving = 1 - out["private"]["client_cpu_ms_per_call"] / out[best_public]["client_cpu_ms_per_call"]
    out["best_public"] = best_public
    out["private_saving_vs_best_public"] = round(saving, 3)
    for name in PATHS:
        print(f"{name:>8}: client CPU {out[name]['client_cpu_ms_per_call']:.3f} ms/call (runs {cpu[name]}), "
              f"wall {out[name]['wall_ratio']:.3f} x ideal", flush=True)
    print(f"private path saves {100 * saving:.1f}% of the client's CPU per call against {best_public} "
          f"(the rule keeps it only at >= 20%)")
    return out


def time_bare(url: str, n: int, c: int) -> tuple[float, float]:
    import openai

    async def go() -> tuple[float, float]:
        client = openai.AsyncOpenAI(api_key="bench", base_url=url, max_retries=0)
        limit = asyncio.Semaphore(c)

        async def one(i: int) -> None:
            async with limit:
                await client.chat.completions.create(model="judge-model", messages=messages(i), max_tokens=32)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        await client.close()
        return wall, cpu

    return asyncio.run(go())


def time_pool(url: str, n: int, c: int) -> tuple[float, float]:
    import openai

    client = openai.OpenAI(api_key="bench", base_url=url, max_retries=0)

    def one(i: int) -> None:
        client.chat.completions.create(model="judge-model", messages=messages(i), max_tokens=32)

    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=c) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - start, time.process_time() - cpu


def time_stage(url: str, n: int, c: int, *, rpm: float | None = None) -> tuple[float, float, dict]:
    """The reviews stage over n games (20 per question), answers made beforehand (simulated)."""
    import yaml

    from arena.cli import main

    os.environ.setdefault(KEY_ENV, "bench")
    tmp = Path(tempfile.mkdtemp(prefix="bench-judging-"))
    questions = write_questions(tmp, count=max(1, n // 20))
    client = {"max_concurrency": c, "timeout_s": 60}
    if rpm:
        client["requests_per_minute"] = rpm
    config = judge_config(tmp / "run", questions, tmp / "cache", provider="openai_compatible", url=url, stream=False, **client)
    config["judges"][0]["client"]["max_retries"] = 20
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path), "--stages", "answers"]) == 0
    start, cpu = time.perf_counter(), time.process_time()
    code = main(["run", "-c", str(path), "--stages", "reviews"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    summary = json.loads((tmp / "run" / "summary.json").read_text())["reviews"]["judge"]
    summary["exit_code"] = code
    return wall, cpu, summary


def stats(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rate-n", type=int, default=600)
    parser.add_argument("--rpm", type=float, default=1200)
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-paths", action="store_true", help="skip the comparison of ways to send a call")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the path comparison")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    n, c, lat = args.n, args.concurrency, args.latency
    ideal = n * lat / c
    result: dict = {"n": n, "concurrency": c, "latency_s": lat, "ideal_s": ideal, "cpus": os.cpu_count()}

    proc, port = start_server("--latency", str(lat), module="tests.providers.latency_server")
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for name, fn in (("runner", None), ("stage", None), ("bare", time_bare), ("pool", time_pool)):
            server_cpu = cpu_s(proc.pid)
            if name == "runner":
                wall, client_cpu, failed = time_runner(url, n, c)
                result["runner_failed"] = failed
            elif name == "stage":
                wall, client_cpu, summary = time_stage(url, n, c)
                result["stage_failed"] = summary["failed"]
            else:
                wall, client_cpu = fn(url, n, c)  # type: ignore[misc]
            result[f"{name}_s"] = round(wall, 3)
            result[f"{name}_ratio"] = round(wall / ideal, 3)
            # CPU seconds per call on each side: on a small machine the two processes share the
            # cores, so a busy server slows the client and the other way round.
            client_ms = client_cpu / n * 1e3
            server_now = cpu_s(proc.pid)
            server_ms = (server_now - server_cpu) / n * 1e3 if server_now is not None and server_cpu is not None else float("nan")
            result[f"{name}_cpu_ms_per_call"] = {"client": round(client_ms, 3), "server": round(server_ms, 3)}
            print(f"{name:>7}: {wall:7.2f} s  = {wall / ideal:.3f} x ideal ({ideal:.2f} s)   "
                  f"CPU per call: client {client_ms:.2f} ms, server {server_ms:.2f} ms", flush=True)
        if not args.skip_paths:
            result["paths"] = compare_paths(url, n, c, args.rounds, ideal)
    finally:
        proc.kill()
        proc.wait()
    print(f"runner vs thread pool: {result['pool_s'] / result['runner_s']:.2f}x faster; "
          f"vs bare async client: {result['runner_s'] / result['bare_s']:.3f} of its time")

    if not args.skip_rate:
        proc, port = start_server("--latency", str(lat), "--rpm", str(args.rpm))
        try:
            wall, _, summary = time_stage(f"http://127.0.0.1:{port}/v1", args.rate_n, c, rpm=args.rpm)
            server = stats(port)
        finally:
            proc.kill()
            proc.wait()
        limit = 1.2 * args.rate_n / args.rpm * 60
        result["rate"] = {"n": args.rate_n, "rpm": args.rpm, "wall_s": round(wall, 2), "limit_s": round(limit, 2),
                          "ideal_s": round(args.rate_n / args.rpm * 60, 2), "failed": summary["failed"],
                          "server_429": server["rate_limited"], "exit_code": summary["exit_code"]}
        print(f"rate-limited: {args.rate_n} calls at {args.rpm:g}/min in {wall:.1f} s (limit {limit:.1f} s, "
              f"ideal {args.rate_n / args.rpm * 60:.1f} s); 429s from server: {server['rate_limited']}; "
              f"failed for good: {summary['failed']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
