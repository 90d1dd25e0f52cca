"""Judging against vLLM's OpenAI server: our reviews stage vs a bare async OpenAI client.

Both send the same judge requests (the single-rating template rendered over synthetic answers,
about --prompt-tokens tokens each, --max-tokens verdict tokens with ignore_eos so every request
generates the same length) to the same server with the same number in flight. Printed and
written to --out: judgments per second of each and the ratio stage / bare (target >= 0.9).

  bare:  one AsyncOpenAI client, an asyncio semaphore, chat.completions.create per request.
  stage: arena.stages.reviews.run_reviews with an openai_compatible judge at the server's URL
         (our runner, cache (a fresh, empty folder per pass), verdict parsing, records, battles).

Passes alternate bare, stage, stage, bare... (--passes rounds); each path's best pass counts. A
random-weights model writes no verdict: verdict_retries is 0, so each game is one call in both
paths (error rows in the stage, which is what it does with such answers).

usage (GPU machine, after `. /tmp/vllm-env.sh`; the script starts and stops the server):
    python3 bench/bench_vllm_judge_server.py --model /tmp/model --out $OUT/vllm_judge.json
against a running server (also how the plumbing is tested without a GPU):
    python3 bench/bench_vllm_judge_server.py --base-url http://127.0.0.1:8000/v1 --served-name judge --n 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the project need not be installed on the GPU machine

from arena.config import (  # noqa: E402
    ClientConfig,
    GenerationConfig,
    JudgeConfig,
    ModelConfig,
    RunConfig,
    VllmConfig,
)
from arena.judging.pairing import games_for  # noqa: E402
from arena.judging.prompts import judge_messages  # noqa: E402
from arena.judging.templates import load_template  # noqa: E402
from arena.records import Answer, Choice, Question  # noqa: E402
from arena.rundir import RunDir  # noqa: E402
from arena.store import write_records_atomic  # noqa: E402

MODELS = 8  # single grading: one judgment per model and question
WORDS = ("judge answer careful reasoning detail example method result value table list step check "
         "number answer helpful accurate concise context source claim evidence summary").split()


def synthetic_run(n: int, prompt_tokens: int) -> tuple[list[Question], dict[str, dict[str, Answer]]]:
    """Questions and answers giving `n` single-grading games of about `prompt_tokens` tokens."""
    questions = [Question(question_id=f"q{i}", category="writing", turns=[f"Question {i}: explain item {i}."])
                 for i in range(max(1, -(-n // MODELS)))]
    answer_words = max(1, prompt_tokens * 3 // 4 - 200)  # ~1.3 tokens a word; the template adds ~200
    answers: dict[str, dict[str, Answer]] = {}
    for m in range(MODELS):
        model = f"m{m}"
        answers[model] = {}
        for q in questions:
            i = int(str(q.question_id)[1:])
            text = " ".join(WORDS[(i * 7 + m * 3 + k) % len(WORDS)] for k in range(answer_words))
            answers[model][str(q.question_id)] = Answer(
                question_id=q.question_id, answer_id=f"{model}-{i}", model_id=model,
                choices=[Choice(index=0, turns=[f"{model} on {i}: {text}"])], tstamp=0.0)
    return questions, answers


def run_config(url: str, served: str, args: argparse.Namespace, cache: Path) -> RunConfig:
    judge = JudgeConfig(
        name="judge", provider="openai_compatible", mode="single", model=served, template="single-rating",
        verdict_retries=0, reference_categories=[],
        generation=GenerationConfig(max_tokens=args.max_tokens, temperature=0.0, ignore_eos=True),
        client=ClientConfig(base_url=url, max_concurrency=args.concurrency, timeout_s=900, max_retries=3),
    )
    models = [ModelConfig(name=f"m{m}", provider="simulated") for m in range(MODELS)]
    return RunConfig(name="bench-judge", models=models, judges=[judge], stages=["reviews"], cache_dir=str(cache))


def judge_requests(config: RunConfig, questions: list[Question], answers: dict[str, dict[str, Answer]], n: int) -> list:
    judge = config.judges[0]
    template = load_template(judge.template_name, where="bench", key="template")
    games = games_for(judge, [m.name for m in config.models], questions, config.seed)[:n]
    return [judge_messages(template, judge, g, {g.model_a: answers[g.model_a][str(g.question.question_id)]}) for g in games]


async def bare_pass(url: str, served: str, messages: list, args: argparse.Namespace) -> dict:
    import openai

    client = openai.AsyncOpenAI(api_key="EMPTY", base_url=url, max_retries=0, timeout=900)
    limit = asyncio.Semaphore(args.concurrency)
    prompt_tokens = []

    async def one(msgs: list) -> None:
        async with limit:
            r = await client.chat.completions.create(
                model=served, messages=msgs, max_tokens=args.max_tokens, temperature=0.0,
                extra_body={"ignore_eos": True})
            if r.usage is not None:
                prompt_tokens.append(r.usage.prompt_tokens)

    start = time.perf_counter()
    await asyncio.gather(*(one(m) for m in messages))
    wall = time.perf_counter() - start
    await client.close()
    mean_prompt = sum(prompt_tokens) / len(prompt_tokens) if prompt_tokens else None
    return {"wall_s": wall, "judgments_per_s": len(messages) / wall, "mean_prompt_tokens": mean_prompt}


def stage_pass(url: str, served: str, questions: list, answers: dict, args: argparse.Namespace, n: int) -> dict:
    from arena.stages.reviews import run_reviews

    tmp = Path(tempfile.mkdtemp(prefix="bench-vllm-judge-"))
    config = run_config(url, served, args, tmp / "cache")
    run = RunDir(tmp / "run")
    for model, by_q in answers.items():
        write_records_atomic(run.answers(model), list(by_q.values()))
    games = MODELS * len(questions)
    start = time.perf_counter()
    summary = run_reviews(config, questions, run)
    wall = time.perf_counter() - start
    judge = summary["judge"]
    assert judge["calls_paid_this_run"] == games, judge  # nothing came from a cache
    return {"wall_s": wall, "judgments_per_s": games / wall, "reviews": judge["reviews"], "errors": judge["errors"],
            "failed": judge["failed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder for vLLM to serve (started and stopped here)")
    parser.add_argument("--base-url", help="use the OpenAI-compatible server running there instead")
    parser.add_argument("--served-name", default="judge")
    parser.add_argument("--n", type=int, default=2048, help="judgments per pass (a multiple of 8)")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2, help="rounds of (bare, stage) / (stage, bare)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--startup-timeout", type=float, default=900)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not args.model and not args.base_url:
        parser.error("give --model (a server is started) or --base-url (a running server)")
    n = max(MODELS, args.n // MODELS * MODELS)

    server = None
    if args.base_url:
        url, served = args.base_url.rstrip("/"), args.served_name
    else:
        from arena.providers.vllm_server import VllmServer

        cfg = ModelConfig(name=args.served_name, provider="vllm", model=args.model, vllm=VllmConfig(
            mode="server", port=0, dtype=args.dtype, max_model_len=args.max_model_len,
            gpu_memory_utilization=args.gpu_memory_utilization, startup_timeout_s=args.startup_timeout))
        server = VllmServer(cfg)
        started = time.perf_counter()
        server.start()
        print(f"vLLM server up in {time.perf_counter() - started:.1f} s at {server.root}", flush=True)
        url, served = server.root + "/v1", server.model_name
    result: dict = {"n": n, "concurrency": args.concurrency, "max_tokens": args.max_tokens, "url": url, "passes": []}
    try:
        questions, answers = synthetic_run(n, args.prompt_tokens)
        config = run_config(url, served, args, Path(tempfile.mkdtemp()))
        messages = judge_requests(config, questions, answers, n)
        warm = asyncio.run(bare_pass(url, served, messages[: min(len(messages), args.concurrency)], args))
        print(f"warm-up: {warm['judgments_per_s']:.1f} judgments/s, prompt ~{warm['mean_prompt_tokens']} tokens", flush=True)
        result["mean_prompt_tokens"] = warm["mean_prompt_tokens"]
        order = []
        for r in range(args.passes):
            order += ["bare", "stage"] if r % 2 == 0 else ["stage", "bare"]
        for path in order:
            if path == "bare":
                p = asyncio.run(bare_pass(url, served, messages, args))
            else:
                p = stage_pass(url, served, questions, answers, args, n)
            p["path"] = path
            result["passes"].append(p)
            print(f"{path:>5}: {p['judgments_per_s']:8.1f} judgments/s ({p['wall_s']:.1f} s)", flush=True)
            if args.out:
                args.out.write_text(json.dumps(result, indent=2) + "\n")
    except BaseException:
        if server is not None:
            print("vLLM server log, last lines:\n" + server.log_tail(6000), file=sys.stderr)
        raise
    finally:
        if server is not None:
            server.stop()
    best = {path: max(p["judgments_per_s"] for p in result["passes"] if p["path"] == path) for path in ("bare", "stage")}
    result.update(bare_judgments_per_s=round(best["bare"], 2), stage_judgments_per_s=round(best["stage"], 2),
                  ratio=round(best["stage"] / best["bare"], 3))
    print(f"stage {best['stage']:.1f} / bare {best['bare']:.1f} judgments/s = {result['ratio']:.3f} (target >= 0.9)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
