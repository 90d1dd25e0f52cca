"""The scores stage on the GPU machine: MMLU in all three styles with vLLM offline, accuracy and
items per second per style, beside bare vLLM doing the same engine work.

One vLLM engine is started once (its start-up timed apart). For each style, our scores stage
(`run_scores`, the same code `arena score` runs) scores every item into a fresh run folder: it
builds the MMLU prompts (5-shot by default, from the dev split), asks the engine, parses, and
writes scores/<model>.jsonl and summary.csv. Then bare vLLM gets the same engine requests, built
beforehand, as one `LLM.generate` (letter_logprob, text_logprob) or `LLM.chat` (generate_letter)
call: the engine's own time, so stage/bare shows what our code adds. The prefix cache is reset
before each pass.

A model with random weights must score near chance (0.25 on four options) in every style; the
interval printed beside each accuracy should contain 0.25 most of the time.

How vLLM is wired here is how the vllm provider exposes log-probabilities (docs/SCORES.md):
generation through OfflineVllmProvider, log-probabilities through
arena.scoring.vllm_logprobs.VllmLogprobs on the same `LLM`.

usage (on the GPU machine, after `. /tmp/vllm-env.sh`; MMLU's data/test and data/dev under --mmlu):
    python3 bench/bench_scores_gpu.py --model /tmp/model --mmlu bench/data/mmlu --out $OUT/scores_mmlu.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the project need not be installed on the GPU machine

from arena.config import BenchmarkConfig, GenerationConfig, ModelConfig, RunConfig, VllmConfig  # noqa: E402
from arena.errors import ArenaError, IncompleteStage  # noqa: E402
from arena.providers.base import CONTINUATION, NEXT_TOKEN, CallFailed, Provider  # noqa: E402
from arena.providers.vllm_engine import LLMRunner, OfflineVllmProvider, engine_args, engine_error  # noqa: E402
from arena.rundir import RunDir  # noqa: E402
from arena.scoring.datasets import load_items  # noqa: E402
from arena.scoring.plan import PreparedBenchmark, benchmark_setting  # noqa: E402
from arena.scoring.rows import read_summary  # noqa: E402
from arena.scoring.tasks import Task, chat_request, logprob_request  # noqa: E402
from arena.scoring.vllm_logprobs import VllmLogprobs  # noqa: E402
from arena.stages.scores import run_scores  # noqa: E402
from arena.store import write_json_atomic  # noqa: E402

STYLES = ("letter_logprob", "text_logprob", "generate_letter")
# About 1000 questions whose 5-shot prompts stay under ~2,200 characters (well inside a 4096-token
# context even for a tokenizer trained on code), across STEM, medicine and social science.
DEFAULT_SUBJECTS = ("abstract_algebra", "anatomy", "college_physics", "conceptual_physics",
                    "electrical_engineering", "high_school_geography", "management")
CHANCE = 0.25
WARMUP_ITEMS = 64


class BenchError(Exception):
    """A setup problem the person running the benchmark can fix; printed as one line."""


class OfflineScoringProvider(Provider):
    """An offline vLLM model for the scores stage: generation through the vllm provider,
    log-probabilities through VllmLogprobs on the same engine. The bench owns the engine, so
    closing this provider leaves it running."""

    logprob_abilities = frozenset({CONTINUATION, NEXT_TOKEN})

    def __init__(self, cfg: ModelConfig, vllm: Any, llm: Any):
        self.chat = OfflineVllmProvider(cfg, runner=LLMRunner(vllm, llm))
        self.scorer = VllmLogprobs(llm, sampling_params=vllm.SamplingParams)
        self.name = self.chat.name

    async def complete(self, request):  # type: ignore[no-untyped-def]
        return await self.chat.complete(request)

    def run_batch(self, requests, on_result, *, progress=None) -> None:  # type: ignore[no-untyped-def]
        self.chat.run_batch(requests, on_result, progress=progress)

    def run_logprob_batch(self, requests, on_result, *, progress=None) -> None:  # type: ignore[no-untyped-def]
        self.scorer.run(requests, on_result)

    def close(self) -> None:
        pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder (e.g. from make_model.py)")
    parser.add_argument("--mmlu", help="folder with MMLU's test/ and dev/ (default: ../shared/data/mmlu, then bench/data/mmlu)")
    parser.add_argument("--out", required=True, help="results JSON file")
    parser.add_argument("--subjects", default=",".join(DEFAULT_SUBJECTS), help="comma-separated MMLU subjects, or 'all'")
    parser.add_argument("--limit", type=int, default=None, help="at most this many questions")
    parser.add_argument("--k-shot", type=int, default=5, help="few-shot examples from the dev split (default 5, as MMLU)")
    parser.add_argument("--styles", default=",".join(STYLES), help="comma-separated styles to run")
    parser.add_argument("--max-tokens", type=int, default=8, help="generate_letter: tokens to generate")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per path and style (best counts)")
    parser.add_argument("--dtype", default="auto")
    return parser.parse_args(argv)


def find_mmlu(arg: str | None) -> Path:
    candidates = [Path(arg)] if arg else [
        Path(os.environ.get("ARENA_SHARED_DATA", REPO / ".." / "shared" / "data")) / "mmlu",
        REPO / "bench" / "data" / "mmlu",
    ]
    for folder in candidates:
        if (folder / "test").is_dir() and (folder / "dev").is_dir():
            return folder
    raise BenchError(f"MMLU not found at {', '.join(map(str, candidates))}: copy its data/test and data/dev folders there, or pass --mmlu")


def prepare(args: argparse.Namespace, mmlu: Path, model: str) -> PreparedBenchmark:
    subjects = None if args.subjects == "all" else [s.strip() for s in args.subjects.split(",") if s.strip()]
    bench = BenchmarkConfig(name="mmlu", source=str(mmlu / "test"), dev=str(mmlu / "dev"), k_shot=args.k_shot,
                            subjects=subjects, limit=args.limit, max_tokens=args.max_tokens)
    items = load_items(bench, mmlu / "test", where="--subjects", key="bench")
    dev = load_items(bench, mmlu / "dev", apply_filters=False) if args.k_shot else []
    return PreparedBenchmark(config=bench, items=items, dev_items=dev, setting=benchmark_setting(bench),
                             styles_by_model={model: []})


def model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        name="bench-model", provider="vllm", model=args.model, generation=GenerationConfig(seed=0),
        vllm=VllmConfig(dtype=args.dtype, max_model_len=args.max_model_len, gpu_memory_utilization=args.gpu_memory_utilization),
    )


def stage_pass(config: RunConfig, bench: PreparedBenchmark, provider: Provider, style: str, work: Path) -> dict[str, Any]:
    """The scores stage for one style into a fresh run folder; wall time is the whole stage."""
    folder = work / style
    shutil.rmtree(folder, ignore_errors=True)
    bench.styles_by_model = {config.models[0].name: [style]}
    start = time.perf_counter()
    try:
        run_scores(config, [bench], RunDir(folder), provider_factory=lambda m, c: provider)
    except IncompleteStage as exc:  # prompts too long for the context: reported, the rest counts
        print(f"  {style}: {exc}")
    wall = time.perf_counter() - start
    row = next((r for r in read_summary(folder / "scores" / "summary.csv") if r.metric == "accuracy"), None)
    if row is None or not row.n:
        raise BenchError(f"{style}: the stage scored no items")
    return {"accuracy": row.value, "ci_low": row.ci_low, "ci_high": row.ci_high, "n": row.n,
            "failed": len(bench.items) - row.n, "stage_s": wall, "stage_items_per_s": row.n / wall}


def bare_pass(vllm: Any, llm: Any, scorer: VllmLogprobs, model: ModelConfig, bench: PreparedBenchmark, style: str) -> dict[str, Any]:
    """The same engine work as the stage's, built beforehand, in one vLLM call."""
    tasks = [Task(bench, style, item) for item in bench.items]
    if style == "generate_letter":
        requests = [chat_request(t, model) for t in tasks]
        conversations = [r.messages for r in requests]
        params = [vllm.SamplingParams(n=1, temperature=0.0, max_tokens=r.max_tokens) for r in requests]
        start = time.perf_counter()
        llm.chat(conversations, params, use_tqdm=False)
        wall = time.perf_counter() - start
        done = len(tasks)
    else:
        jobs = []
        done = 0
        for i, task in enumerate(tasks):
            try:
                jobs += scorer.engine_requests(i, logprob_request(task, model.name, OfflineScoringProvider.logprob_abilities))
            except CallFailed:
                continue  # a prompt longer than the context: the stage skips it too
            done += 1
        start = time.perf_counter()
        llm.generate([{"prompt_token_ids": j.prompt_ids} for j in jobs], [j.params for j in jobs], use_tqdm=False)
        wall = time.perf_counter() - start
    return {"bare_s": wall, "bare_items_per_s": done / wall, "engine_requests": len(tasks) if style == "generate_letter" else len(jobs)}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        import torch

        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or no GPU: the figures say so
        info["gpus"] = []
    try:
        import vllm

        info["vllm"] = getattr(vllm, "__version__", "unknown")
    except ImportError:
        info["vllm"] = None
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    try:
        unknown = [s for s in styles if s not in STYLES]
        if unknown:
            raise BenchError(f"--styles: unknown {', '.join(unknown)}; expected some of {', '.join(STYLES)}")
        if not Path(args.model).is_dir():
            raise BenchError(f"--model {args.model}: no such folder; make one with python3 .gpu-kit/bin/make_model.py /tmp/model qwen2-0.5b")
        mmlu = find_mmlu(args.mmlu)
        model = model_config(args)
        bench = prepare(args, mmlu, model.name)
        print(f"MMLU from {mmlu}: {len(bench.items)} questions, {len({i.subject for i in bench.items})} subjects, {args.k_shot}-shot")
        try:
            import vllm
        except ImportError as exc:
            raise BenchError(f"vLLM is not importable ({exc}); on the GPU machine run `. /tmp/vllm-env.sh` first") from None
        start = time.perf_counter()
        try:
            llm = vllm.LLM(**engine_args(model))
        except Exception as exc:
            raise engine_error(model, "could not start the engine", exc) from None
        engine_start = time.perf_counter() - start
        print(f"engine started in {engine_start:.1f} s")
        provider = OfflineScoringProvider(model, vllm, llm)
        config = RunConfig(name="bench", models=[model], questions="tiny", stages=["scores"], seed=0)
        work = Path(tempfile.mkdtemp(prefix="arena-scores-bench-"))
        results: dict[str, Any] = {
            "benchmark": "scores stage: MMLU accuracy and items/s per style, stage vs bare vLLM",
            "machine": machine(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else " ".join(argv),
            "settings": {"items": len(bench.items), "subjects": sorted({i.subject for i in bench.items}),
                         "k_shot": args.k_shot, "max_tokens": args.max_tokens, "max_model_len": args.max_model_len},
            "engine_start_s": engine_start,
            "styles": {},
        }
        try:
            reset = getattr(llm, "reset_prefix_cache", None) or (lambda: None)
            for style in styles:
                # Untimed warm-up of both paths: vLLM compiles some Triton kernels (log-probability
                # gathering, top-k) on their first use, which would otherwise land in whichever
                # path runs first.
                warm = replace(bench, items=bench.items[:WARMUP_ITEMS])
                stage_pass(config, warm, provider, style, work)
                bare_pass(vllm, llm, provider.scorer, model, warm, style)
                stages, bares = [], []
                for _ in range(args.rounds):  # alternate, so drift in the machine hits both paths
                    reset()
                    stages.append(stage_pass(config, bench, provider, style, work))
                    reset()
                    bares.append(bare_pass(vllm, llm, provider.scorer, model, bench, style))
                figures = max(stages, key=lambda f: f["stage_items_per_s"])
                figures.update(max(bares, key=lambda f: f["bare_items_per_s"]))
                figures["stage_items_per_s_per_round"] = [f["stage_items_per_s"] for f in stages]
                figures["bare_items_per_s_per_round"] = [f["bare_items_per_s"] for f in bares]
                figures["ratio"] = figures["stage_items_per_s"] / figures["bare_items_per_s"]
                results["styles"][style] = figures
                write_json_atomic(out, results)
                print(f"  {style}: accuracy {figures['accuracy']:.3f}, {figures['stage_items_per_s']:.1f} items/s")
        finally:
            shutil.rmtree(work, ignore_errors=True)
            LLMRunner(vllm, llm).shutdown()
        report(results)
        write_json_atomic(out, results)
        print(f"results: {out}")
    except (BenchError, ArenaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def report(results: dict[str, Any]) -> None:
    settings = results["settings"]
    print(f"\nMMLU, {settings['items']} questions, {settings['k_shot']}-shot; engine start {results['engine_start_s']:.1f} s")
    print(f"{'style':<16} {'accuracy':>8}  {'95% CI':<16} {'n':>5} {'failed':>6}  {'stage items/s':>13} {'bare items/s':>12} {'stage/bare':>10}")
    for style, f in results["styles"].items():
        ci = f"[{f['ci_low']:.3f}, {f['ci_high']:.3f}]"
        print(f"{style:<16} {f['accuracy']:>8.3f}  {ci:<16} {f['n']:>5} {f['failed']:>6}  {f['stage_items_per_s']:>13.1f} "
              f"{f['bare_items_per_s']:>12.1f} {f['ratio']:>10.2f}")
    inside = [s for s, f in results["styles"].items() if f["ci_low"] <= CHANCE <= f["ci_high"]]
    print(f"chance is {CHANCE}: inside the interval for {len(inside)} of {len(results['styles'])} styles "
          "(random weights must score near chance)")


if __name__ == "__main__":
    sys.exit(main())
