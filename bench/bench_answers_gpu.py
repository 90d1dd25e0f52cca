"""Answers stage vs bare vLLM on the GPU machine: output tokens per second, side by side, one run.

Offline (default): one vLLM engine is started once and shared by both paths, so both run on the
same warm engine and GPU: (a) bare `LLM.chat` over all prompts in one call, as a hand-written
script would; (b) our answers stage (`run_answers` with the offline vllm provider) over the same
prompts with the same per-prompt sampling settings, writing its answers file and summary as in a
real run. Passes alternate (bare, stage, stage, bare, ...) with the prefix cache reset before
each, and each path's best pass counts; the ratio stage/bare is the figure (target >= 0.9).
Engine start-up is timed once and reported apart: it is the same for both paths.

--server: the same against vLLM's OpenAI-compatible server, started once by our server code:
a bare async OpenAI client vs the stage in server mode, plain requests, the same number in
flight (the figure); then each once streamed, which per-answer TTFT costs in client CPU.

--dp N: the stage alone with data_parallel_size=N vs 1, each in a child process of its own (so
each gets a clean GPU), for the scaling figure (target >= 1.7 for N=2; needs N GPUs).

Prompts are synthetic and deterministic (single-turn, categories cycling through MT-Bench's, so
temperatures differ per prompt as in a real run). Every output ignores EOS, so every request
generates exactly --max-tokens tokens. Results go to --out as JSON after each phase.

usage (on the GPU machine, after `. /tmp/vllm-env.sh`):
    python3 bench/bench_answers_gpu.py --model /tmp/model --out $OUT/answers_offline.json
    python3 bench/bench_answers_gpu.py --model /tmp/model --out $OUT/answers_server.json --no-offline --server
    python3 bench/bench_answers_gpu.py --model /tmp/model --out $OUT/answers_dp.json --no-offline --dp 2
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the project need not be installed on the GPU machine

from arena.config import GenerationConfig, ModelConfig, RunConfig, VllmConfig  # noqa: E402
from arena.errors import ArenaError  # noqa: E402
from arena.providers import vllm_engine  # noqa: E402
from arena.providers.base import ChatRequest, Provider  # noqa: E402
from arena.providers.vllm_engine import LLMRunner, OfflineVllmProvider, engine_args, engine_error  # noqa: E402
from arena.providers.vllm_server import VllmServer, VllmServerProvider  # noqa: E402
from arena.records import Answer, Question  # noqa: E402
from arena.registry import default_temperature  # noqa: E402
from arena.rundir import RunDir  # noqa: E402
from arena.stages.answers import run_answers  # noqa: E402
from arena.store import read_records, write_json_atomic  # noqa: E402

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
WORDS = (
    "explain compare describe the a of why how model energy history river market language proof "
    "function system light memory city policy network theory example detail cost risk design change "
    "careful simple clear short long first second steps reasons evidence summary table list"
).split()
OFFLINE_TARGET = 0.9
DP_TARGET = 1.7


class BenchError(Exception):
    """A setup problem the person running the benchmark can fix; printed as one line."""


def synthetic_questions(count: int, seed: int = 0) -> list[Question]:
    """Deterministic single-turn questions of 20-100 words, categories in rotation."""
    questions = []
    for i in range(count):
        rng = random.Random(seed * 1_000_003 + i)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 100)))
        category = CATEGORIES[i % len(CATEGORIES)]
        questions.append(Question(question_id=f"b{i:05d}", category=category, turns=[f"Question {i} ({category}): {words}?"]))
    return questions


def model_config(args: argparse.Namespace, *, dp: int = 1, mode: str = "offline", url: str | None = None) -> ModelConfig:
    return ModelConfig(
        name="bench-model", provider="vllm", model=args.model,
        generation=GenerationConfig(max_tokens=args.max_tokens, ignore_eos=True),
        vllm=VllmConfig(
            mode=mode, url=url, port=0, dtype=args.dtype, max_model_len=args.max_model_len,
            gpu_memory_utilization=args.gpu_memory_utilization, data_parallel_size=dp,
            data_parallel_backend=args.dp_backend,
            max_concurrency=args.concurrency, startup_timeout_s=args.startup_timeout,
        ),
    )


def run_config(model: ModelConfig) -> RunConfig:
    return RunConfig(name="bench", models=[model], questions="synthetic", stages=["answers"])


class Borrowed(Provider):
    """A provider the stage may use but not close: the engine or server outlives each pass."""

    def __init__(self, inner: Provider):
        self.inner = inner
        self.name = inner.name
        self.client = getattr(inner, "client", None)
        self.startup_s = getattr(inner, "startup_s", None)

    async def complete(self, request: ChatRequest):  # type: ignore[override]
        return await self.inner.complete(request)

    def run_batch(self, requests, on_result, *, progress=None) -> None:  # type: ignore[override]
        self.inner.run_batch(requests, on_result, progress=progress)

    def close(self) -> None:
        pass


def stage_pass(model: ModelConfig, questions: list[Question], provider: Provider, work: Path, label: str) -> dict[str, Any]:
    """One run of the answers stage into a fresh run folder; wall time is the whole stage."""
    folder = work / label
    shutil.rmtree(folder, ignore_errors=True)
    config = run_config(model)
    profiler = cProfile.Profile() if os.environ.get("ARENA_BENCH_PROFILE") else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    summary = run_answers(config, questions, RunDir(folder), provider_factory=lambda m, c: Borrowed(provider))
    wall = time.perf_counter() - start
    if profiler is not None:
        # Where the stage's own time goes, beside the engine's (ARENA_BENCH_PROFILE=1).
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    answers = read_records(folder / "answers" / f"{model.name}.jsonl", Answer)
    if len(answers) != len(questions):
        raise BenchError(f"stage pass {label}: {len(answers)} answers for {len(questions)} questions")
    tokens = sum(sum(a.output_tokens) for a in answers)
    shutil.rmtree(folder, ignore_errors=True)
    return {"path": "stage", "output_tokens": tokens, "wall_s": wall, "output_tokens_per_s": tokens / wall,
            "stage_summary": summary[model.name]}


def best(passes: list[dict[str, Any]], path: str) -> float:
    return max(p["output_tokens_per_s"] for p in passes if p["path"] == path)


def paired_ratios(passes: list[dict[str, Any]], path: str, baseline: str) -> list[float]:
    """stage/bare within each round (passes of one round ran back to back)."""
    rounds: dict[int, dict[str, float]] = {}
    for p in passes:
        rounds.setdefault(p["round"], {})[p["path"]] = p["output_tokens_per_s"]
    return [r[path] / r[baseline] for r in rounds.values() if path in r and baseline in r]


def alternate(rounds: int, paths: list[str]) -> list[tuple[int, str]]:
    """Pass order: each round runs every path, in reversed order every other round."""
    order = []
    for r in range(rounds):
        order += [(r, p) for p in (paths if r % 2 == 0 else list(reversed(paths)))]
    return order


def report(name: str, passes: list[dict[str, Any]]) -> None:
    print(f"\n{name}: output tokens/s per pass")
    for p in passes:
        print(f"  round {p['round']}  {p['path']:<12} {p['output_tokens']:>9} tokens  {p['wall_s']:8.2f} s  {p['output_tokens_per_s']:>10,.0f} tok/s")


# --- offline ---------------------------------------------------------------------------------


def offline_phase(args: argparse.Namespace, questions: list[Question], work: Path) -> dict[str, Any]:
    model = model_config(args)
    vllm = require_vllm()
    start = time.perf_counter()
    try:
        llm = vllm.LLM(**engine_args(model))
    except Exception as exc:
        raise engine_error(model, "could not start the engine", exc) from None
    engine_start = time.perf_counter() - start
    print(f"offline engine started in {engine_start:.1f} s")
    provider = OfflineVllmProvider(model, runner=LLMRunner(vllm, llm))
    conversations = [[{"role": "user", "content": q.turns[0]}] for q in questions]

    def bare_params() -> list[Any]:
        # What a hand-written script passes: the same per-category temperatures, same budget.
        return [vllm.SamplingParams(n=1, temperature=default_temperature(q.category), max_tokens=args.max_tokens,
                                    ignore_eos=True) for q in questions]

    def bare_pass() -> dict[str, Any]:
        params = bare_params()
        start = time.perf_counter()
        outputs = llm.chat(conversations, params, use_tqdm=False)
        wall = time.perf_counter() - start
        tokens = sum(len(c.token_ids) for o in outputs for c in o.outputs)
        return {"path": "bare", "output_tokens": tokens, "wall_s": wall, "output_tokens_per_s": tokens / wall}

    try:
        warm = questions[: min(64, len(questions))]
        llm.chat(conversations[: len(warm)], bare_params()[: len(warm)], use_tqdm=False)
        stage_pass(model, warm, provider, work, "warmup")
        passes = []
        for r, path in alternate(args.rounds, ["bare", "stage"]):
            reset = getattr(llm, "reset_prefix_cache", None)
            if reset is not None:
                reset()  # no pass reuses the previous pass's prompts from the cache
            result = bare_pass() if path == "bare" else stage_pass(model, questions, provider, work, f"stage-{r}")
            passes.append({"round": r, **result})
            print(f"  {path}: {result['output_tokens_per_s']:,.0f} output tok/s")
    finally:
        provider.close()
    bare, stage = best(passes, "bare"), best(passes, "stage")
    ratios = paired_ratios(passes, "stage", "bare")
    report("offline", passes)
    result = {
        "engine_start_s": engine_start,
        "passes": passes,
        "bare_output_tokens_per_s": bare,
        "stage_output_tokens_per_s": stage,
        "ratio": stage / bare,
        "ratio_per_round": ratios,
        "ratio_median": statistics.median(ratios),
        "target": OFFLINE_TARGET,
        "met": stage / bare >= OFFLINE_TARGET,
        "engine_shared": "one engine built once; bare LLM.chat and the stage run on it in turn",
    }
    print(f"offline: stage {stage:,.0f} / bare {bare:,.0f} tok/s = {stage / bare:.3f} (target >= {OFFLINE_TARGET})")
    return result


# --- server ----------------------------------------------------------------------------------


async def bare_client_pass(url: str, served: str, questions: list[Question], args: argparse.Namespace, stream: bool) -> dict[str, Any]:
    """A hand-written async OpenAI client: every prompt, `concurrency` in flight."""
    import openai

    # The client's own defaults (two retries on connection faults), as a hand-written script has
    # them: with none, one refused connect among 1000 sank a whole pass on the H100.
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="bench", timeout=3600)
    limit = asyncio.Semaphore(args.concurrency)

    async def one(q: Question) -> int:
        kwargs = dict(model=served, messages=[{"role": "user", "content": q.turns[0]}], max_tokens=args.max_tokens,
                      temperature=default_temperature(q.category), extra_body={"ignore_eos": True})
        async with limit:
            if not stream:
                response = await client.chat.completions.create(**kwargs)
                return response.usage.completion_tokens
            tokens = 0
            chunks = await client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
            async for chunk in chunks:
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            return tokens

    start = time.perf_counter()
    counts = await asyncio.gather(*(one(q) for q in questions))
    wall = time.perf_counter() - start
    await client.close()
    tokens = sum(counts)
    return {"path": "bare-stream" if stream else "bare-plain", "output_tokens": tokens, "wall_s": wall,
            "output_tokens_per_s": tokens / wall}


def server_phase(args: argparse.Namespace, questions: list[Question], work: Path) -> dict[str, Any]:
    owner = model_config(args, mode="server")
    server = VllmServer(owner)
    start = time.perf_counter()
    server.start()
    server_start = time.perf_counter() - start
    print(f"vLLM server started in {server_start:.1f} s at {server.root}")
    try:
        # The stage reaches the same server by URL, as a user with a running server would.
        model = model_config(args, mode="server", url=server.root)
        model.model = server.model_name
        provider = VllmServerProvider(model)
        streamed = replace(model, client=replace(model.client, stream=True))
        stream_provider = VllmServerProvider(streamed)
        warm = questions[: min(64, len(questions))]
        asyncio.run(bare_client_pass(server.root, server.model_name, warm, args, stream=False))
        stage_pass(model, warm, provider, work, "warmup")
        passes = []
        for r, path in alternate(args.rounds, ["bare-plain", "stage"]):
            if path == "stage":
                result = stage_pass(model, questions, provider, work, f"stage-{r}")
            else:
                result = asyncio.run(bare_client_pass(server.root, server.model_name, questions, args, stream=False))
            passes.append({"round": r, **result})
            print(f"  {path}: {result['output_tokens_per_s']:,.0f} output tok/s")
        # Streaming, once each, for the record: what per-answer TTFT costs a client.
        result = asyncio.run(bare_client_pass(server.root, server.model_name, questions, args, stream=True))
        passes.append({"round": 0, **result})
        result = {**stage_pass(streamed, questions, stream_provider, work, "stage-stream"), "path": "stage-stream"}
        passes.append({"round": 0, **result})
        print(f"  streamed: bare {passes[-2]['output_tokens_per_s']:,.0f}, stage {result['output_tokens_per_s']:,.0f} output tok/s")
        provider.close()
        stream_provider.close()
    except BaseException:
        print("vLLM server log, last lines:\n" + server.log_tail(6000), file=sys.stderr)
        raise
    finally:
        server.stop()
    stage, plain = best(passes, "stage"), best(passes, "bare-plain")
    stream, stage_stream = best(passes, "bare-stream"), best(passes, "stage-stream")
    report("server", passes)
    print(f"server: stage {stage:,.0f} / bare {plain:,.0f} tok/s = {stage / plain:.3f} (target >= {OFFLINE_TARGET}); "
          f"streamed for per-answer TTFT: stage {stage_stream:,.0f} / bare {stream:,.0f} tok/s = {stage_stream / stream:.3f}")
    return {
        "server_start_s": server_start,
        "concurrency": args.concurrency,
        "passes": passes,
        "stage_output_tokens_per_s": stage,
        "bare_plain_output_tokens_per_s": plain,
        "ratio": stage / plain,
        "ratio_per_round": paired_ratios(passes, "stage", "bare-plain"),
        "target": OFFLINE_TARGET,
        "met": stage / plain >= OFFLINE_TARGET,
        "stage_stream_output_tokens_per_s": stage_stream,
        "bare_stream_output_tokens_per_s": stream,
        "ratio_streamed": stage_stream / stream,
    }


# --- data parallel ---------------------------------------------------------------------------


def stage_only(args: argparse.Namespace, questions: list[Question], work: Path, dp: int, mode: str) -> dict[str, Any]:
    """The stage alone with `dp` replicas: start-up, then `rounds` timed passes."""
    model = model_config(args, dp=dp, mode=mode)
    provider = vllm_engine.create(model)  # builds the engine or starts the server
    try:
        stage_pass(model, questions[: min(64, len(questions))], provider, work, "warmup")
        passes = [{"round": r, **stage_pass(model, questions, provider, work, f"stage-{r}")} for r in range(args.rounds)]
    finally:
        provider.close()
    return {"data_parallel_size": dp, "mode": mode, "startup_s": provider.startup_s, "passes": passes,
            "stage_output_tokens_per_s": best(passes, "stage")}


def json_from_child(argv: list[str], what: str) -> dict[str, Any]:
    """Run `argv` (a bench script and its flags) in a fresh process with `--out` a temporary
    file, and return the JSON it wrote there."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        code = subprocess.call([*argv, "--out", str(out)])
        if code != 0:
            raise BenchError(f"{what} run failed with exit code {code} (its output is above)")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def in_child(args: argparse.Namespace, dp: int) -> dict[str, Any]:
    """`stage_only` in a fresh process, so each engine gets the GPUs to itself."""
    argv = [sys.executable, __file__, "--model", args.model, "--child-dp", str(dp),
            "--dp-mode", args.dp_mode, "--dp-backend", args.dp_backend, "--prompts", str(args.prompts), "--max-tokens", str(args.max_tokens),
            "--rounds", str(args.rounds), "--concurrency", str(args.concurrency), "--dtype", args.dtype,
            "--gpu-memory-utilization", str(args.gpu_memory_utilization), "--startup-timeout", str(args.startup_timeout)]
    if args.max_model_len:
        argv += ["--max-model-len", str(args.max_model_len)]
    return json_from_child(argv, f"data_parallel_size={dp}")


def dp_phase(args: argparse.Namespace, run_child: Callable[[argparse.Namespace, int], dict[str, Any]]) -> dict[str, Any]:
    gpus = gpu_count()
    if gpus is not None and gpus < args.dp:
        raise BenchError(f"--dp {args.dp} needs {args.dp} GPUs; this machine has {gpus} (use the nvidia-h200-x2 machine)")
    one = run_child(args, 1)
    many = run_child(args, args.dp)
    scaling = many["stage_output_tokens_per_s"] / one["stage_output_tokens_per_s"]
    print(f"data parallel ({args.dp_mode}, {args.dp_backend}): dp=1 {one['stage_output_tokens_per_s']:,.0f} tok/s, "
          f"dp={args.dp} {many['stage_output_tokens_per_s']:,.0f} tok/s: {scaling:.2f}x (target >= {DP_TARGET} for 2)")
    return {"dp1": one, f"dp{args.dp}": many, "backend": args.dp_backend, "scaling": scaling, "target": DP_TARGET if args.dp == 2 else None}


# --- machine and main ------------------------------------------------------------------------


def gpu_names() -> list[str]:
    # nvidia-smi, not torch: initialising CUDA here would change how vLLM starts its workers.
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def gpu_count() -> int | None:
    names = gpu_names()
    return len(names) if names else None


def require_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BenchError(f"vLLM is not importable ({exc}); on the GPU machine run `. /tmp/vllm-env.sh` first") from None
    return vllm


def machine() -> dict[str, Any]:
    try:
        import vllm

        version = getattr(vllm, "__version__", "unknown")
    except ImportError:
        version = None
    return {"gpus": gpu_names(), "cpus": os.cpu_count(), "python": sys.version.split()[0], "vllm": version}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder (e.g. from make_model.py)")
    parser.add_argument("--out", required=True, help="results JSON file")
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per path")
    parser.add_argument("--concurrency", type=int, default=256, help="requests in flight in server mode")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("--no-offline", dest="offline", action="store_false", help="skip the offline comparison")
    parser.add_argument("--server", action="store_true", help="also compare in server mode")
    parser.add_argument("--dp", type=int, default=0, help="also measure data_parallel_size=N vs 1 (needs N GPUs)")
    parser.add_argument("--dp-mode", choices=["offline", "server"], default="offline")
    parser.add_argument("--dp-backend", choices=["auto", "replicas", "engine"], default="auto",
                        help="offline data parallelism: auto (vLLM's engine for candidates), replicas or engine")
    parser.add_argument("--child-dp", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def raise_open_file_limit() -> None:
    """Hundreds of connections in flight, client and server on one machine, need more than the
    common soft limit of 1024 open files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def main(argv: list[str] | None = None, *, run_child: Callable[[argparse.Namespace, int], dict[str, Any]] = in_child) -> int:
    args = parse_args(argv)
    raise_open_file_limit()
    out = Path(args.out)
    try:
        if not Path(args.model).is_dir():
            raise BenchError(f"--model {args.model}: no such folder; make one with "
                             "python3 .gpu-kit/bin/make_model.py /tmp/model qwen2-0.5b")
        questions = synthetic_questions(args.prompts)
        work = Path(tempfile.mkdtemp(prefix="arena-bench-"))
        try:
            require_vllm()  # every phase runs vLLM (the server mode's server too)
            if args.child_dp:
                write_json_atomic(out, stage_only(args, questions, work, args.child_dp, args.dp_mode))
                return 0
            results: dict[str, Any] = {
                "benchmark": "answers stage vs bare vLLM, output tokens per second",
                "machine": machine(),
                "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else " ".join(argv),
                "settings": {"prompts": args.prompts, "max_tokens": args.max_tokens, "ignore_eos": True,
                             "rounds": args.rounds, "max_model_len": args.max_model_len,
                             "gpu_memory_utilization": args.gpu_memory_utilization, "concurrency": args.concurrency},
            }
            if args.offline:
                results["offline"] = offline_phase(args, questions, work)
                write_json_atomic(out, results)
            if args.server:
                results["server"] = server_phase(args, questions, work)
                write_json_atomic(out, results)
            if args.dp:
                results["data_parallel"] = dp_phase(args, run_child)
            write_json_atomic(out, results)
            print(f"results: {out}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except (BenchError, ArenaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
