"""An offline vLLM judge: our reviews stage against a bare `LLM.chat` with the same constraint.

Both judge the same pairwise games (MT-Bench's questions, synthetic answers of about
--answer-words words each, so prompts are MT-Bench length) with the same engine, in one process:

  bare:     llm.chat(all prompts, one SamplingParams each: temperature 0, --max-tokens, and the
            template's verdict regex through vLLM's structured outputs).
  stage:    arena.stages.reviews.judge_all with a `provider: vllm` judge on that engine (prompt
            rendering, one engine batch, verdict parsing, records; a fresh response cache per pass).
  plain:    the bare call without the constraint: a random-weight judge then writes no verdict and
            runs to --max-tokens.
  matched:  the bare call without the constraint, cut (ignore_eos) at the constrained replies'
            mean length: the cost of the constraint is bare / matched, same prompts, same tokens.
  weighted: the bare constrained call asking 20 alternatives per token, plus reading the verdict's
            distribution from them (the cost of verdict_weighting: probability).

Passes alternate bare, stage, stage, bare... (--passes rounds); each path's best pass counts.
Printed and written to --out: judgments/s of each, stage / bare (target >= 0.95), the constraint's
and the weighting's costs as ratios against the plain call, and how many replies hold a verdict.

--data-parallel-size N: the stage alone, with one GPU and then with data_parallel_size N
(--dp-backend replicas or engine), each in a fresh process of its own, side by side in one run:
judgments/s of each and their ratio (target >= 1.7 for 2). --same-gpu puts all N replicas on the
first GPU, each with 1/N of --gpu-memory-utilization: on a one-GPU machine it shows how much of a
judge's time is the engine's front end (CPU), which replicas split and one engine cannot.

usage (GPU machine, after `. /tmp/vllm-env.sh`):
    python3 bench/bench_vllm_judge.py --model /tmp/model-1.5b --out $OUT/vllm_judge_offline.json
    python3 bench/bench_vllm_judge.py --model /tmp/model-1.5b --data-parallel-size 2 --out $OUT/judge_dp2.json
The plumbing runs without a GPU against the fake engine (tests/bench/test_bench_vllm_judge.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the project need not be installed on the GPU machine

from arena.config import (  # noqa: E402
    GenerationConfig,
    JudgeConfig,
    ModelConfig,
    QuestionsConfig,
    RunConfig,
    VllmConfig,
)
from arena.judging.grammar import grammar  # noqa: E402
from arena.judging.pairing import games_for  # noqa: E402
from arena.judging.prompts import judge_messages  # noqa: E402
from arena.judging.templates import load_template  # noqa: E402
from arena.judging.verdicts import parse_verdict  # noqa: E402
from arena.judging.weighting import weigh  # noqa: E402
from arena.questions import load_questions  # noqa: E402
from arena.records import Answer, Choice  # noqa: E402
from arena.rundir import RunDir  # noqa: E402

MODELS = 4  # pairwise-all: 6 pairs, both orders: 12 games a question
DP_TARGET = 1.7  # data_parallel_size 2 against one GPU
WORDS = ("judge answer careful reasoning detail example method result value table list step check "
         "number answer helpful accurate concise context source claim evidence summary").split()


def synthetic_answers(questions: list, answer_words: int) -> dict[str, dict[str, Answer]]:
    answers: dict[str, dict[str, Answer]] = {}
    for m in range(MODELS):
        model = f"m{m}"
        answers[model] = {}
        for i, q in enumerate(questions):
            turns = [f"{model} on {i}.{t}: " + " ".join(WORDS[(i * 7 + m * 3 + t + k) % len(WORDS)] for k in range(answer_words))
                     for t in range(len(q.turns))]
            answers[model][str(q.question_id)] = Answer(
                question_id=q.question_id, answer_id=f"{model}-{i}", model_id=model,
                choices=[Choice(index=0, turns=turns)], tstamp=0.0)
    return answers


def judge_config(args: argparse.Namespace, weighting: str = "argmax") -> JudgeConfig:
    return JudgeConfig(
        name="judge", provider="vllm", mode="pairwise-all", model=args.model, template=args.template, turns=[1],
        reference_categories=[], verdict_weighting=weighting,  # type: ignore[arg-type]
        generation=GenerationConfig(max_tokens=args.max_tokens, temperature=0.0, seed=0),
        vllm=VllmConfig(dtype=args.dtype, max_model_len=args.max_model_len,
                        gpu_memory_utilization=args.gpu_memory_utilization, enforce_eager=args.enforce_eager),
    )


def run_config(judge: JudgeConfig, cache: Path) -> RunConfig:
    models = [ModelConfig(name=f"m{m}", provider="simulated") for m in range(MODELS)]
    return RunConfig(name="bench-vllm-judge", models=models, judges=[judge], stages=["reviews"], cache_dir=str(cache))


def bare_pass(provider, messages: list, args: argparse.Namespace, *, regex: str | None, logprobs: int = 0,
              max_tokens: int | None = None) -> dict:
    """LLM.chat over every prompt, as a user of vLLM would write it."""
    vllm = provider._runner.vllm
    from vllm.sampling_params import StructuredOutputsParams

    kwargs: dict = {"temperature": 0.0, "max_tokens": max_tokens or args.max_tokens, "seed": 0}
    if max_tokens is not None:
        kwargs["ignore_eos"] = True
    if regex is not None:
        kwargs["structured_outputs"] = StructuredOutputsParams(regex=regex)
    if logprobs:
        kwargs["logprobs"] = logprobs
    params = [vllm.SamplingParams(**kwargs) for _ in messages]
    llm = provider._runner.llm
    start = time.perf_counter()
    outputs = llm.chat(messages, params, use_tqdm=False)
    g = grammar(load_template(args.template, where="bench", key="template").verdict)
    verdicts = weighted = 0
    if logprobs:  # reading the distributions is part of the weighting's cost
        from arena.providers.vllm_engine import token_logprobs_of

        for out in outputs:
            choice = out.outputs[0]
            found = parse_verdict(choice.text, g.name)
            if found is not None and weigh(g, token_logprobs_of(choice), choice.text, found.starts) is not None:
                weighted += 1
    wall = time.perf_counter() - start
    verdicts = sum(parse_verdict(o.outputs[0].text, g.name) is not None for o in outputs)
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return {"wall_s": wall, "judgments_per_s": len(messages) / wall, "output_tokens_per_s": tokens / wall,
            "mean_output_tokens": tokens / len(messages), "with_verdict": verdicts, "weighted": weighted,
            "mean_prompt_tokens": sum(len(o.prompt_token_ids) for o in outputs) / len(outputs)}


def stage_pass(provider, judge: JudgeConfig, questions: list, answers: dict) -> dict:
    from arena.judging.templates import load_template as load
    from arena.stages.reviews import judge_all
    from arena.store import write_records_atomic

    with tempfile.TemporaryDirectory(prefix="bench-vllm-judge-") as folder:
        tmp = Path(folder)
        config = run_config(judge, tmp / "cache")
        run = RunDir(tmp / "run")
        for model, by_q in answers.items():
            write_records_atomic(run.answers(model), list(by_q.values()))
        template = load(judge.template_name, where="bench", key="template")
        start, cpu = time.perf_counter(), time.process_time()
        summary = judge_all(config, judge, template, questions, answers, run, provider=provider)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert summary["calls_paid_this_run"] >= summary["games"], summary  # nothing came from a cache
    return {"wall_s": wall, "judgments_per_s": summary["games"] / wall, "reviews": summary["reviews"],
            "errors": summary["errors"], "reasks": summary["reasks_this_run"],
            # CPU time of this process (with LLM, the engine's front end) per second of the pass
            "this_process_cpu_share": round(cpu / wall, 3)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the judge's model folder (or Hugging Face id)")
    parser.add_argument("--template", default="pairwise-abc")
    parser.add_argument("--questions", default="mt_bench")
    parser.add_argument("--answer-words", type=int, default=180, help="words per synthetic answer")
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2, help="rounds of (bare, stage) / (stage, bare)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    parser.add_argument("--data-parallel-size", type=int, default=1)
    parser.add_argument("--dp-backend", choices=["replicas", "engine"], default="replicas")
    parser.add_argument("--same-gpu", action="store_true", help="every replica on the first GPU (a one-GPU probe)")
    parser.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs: faster start-up, slower decoding")
    parser.add_argument("--child-dp", type=int, default=0,
                        help="the stage alone with this data_parallel_size (what each side of --data-parallel-size runs)")
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def prepared(args: argparse.Namespace) -> tuple[list, dict, list]:
    """MT-Bench's questions, the synthetic answers and every game's judge messages."""
    questions = load_questions(QuestionsConfig(source=args.questions))
    answers = synthetic_answers(questions, args.answer_words)
    judge = judge_config(args)
    template = load_template(args.template, where="bench", key="template")
    games = games_for(judge, [f"m{m}" for m in range(MODELS)], questions, 0)
    messages = [judge_messages(template, judge, game, {m: answers[m][str(game.question.question_id)]
                                                        for m in (game.model_a, game.model_b)}) for game in games]
    return questions, answers, messages


def stage_only(args: argparse.Namespace, dp: int) -> dict:
    """The stage alone on `dp` GPUs (or `dp` replicas on one, --same-gpu): start-up, a warm-up on
    a few questions, then --passes timed passes over all."""
    from arena.providers import vllm_engine
    from arena.providers.vllm_replicas import ReplicatedVllmProvider, visible_gpus

    questions, answers, _ = prepared(args)
    judge = judge_config(args)
    judge.vllm.data_parallel_size = dp
    judge.vllm.data_parallel_backend = args.dp_backend
    started = time.perf_counter()
    if args.same_gpu and dp > 1:
        judge.vllm.gpu_memory_utilization = args.gpu_memory_utilization / dp
        provider = ReplicatedVllmProvider(judge, gpus=[visible_gpus()[:1]] * dp)
    else:
        provider = vllm_engine.create(judge)
    result: dict = {"data_parallel_size": dp, "backend": args.dp_backend if dp > 1 else "single",
                    "same_gpu": bool(args.same_gpu and dp > 1), "startup_s": round(time.perf_counter() - started, 1),
                    "passes": []}
    try:
        stage_pass(provider, judge, questions[:8], answers)  # warm-up: grammar compiled, kernels loaded
        for _ in range(args.passes):
            result["passes"].append(stage_pass(provider, judge, questions, answers))
            last = result["passes"][-1]
            print(f"dp={dp}: {last['judgments_per_s']:8.1f} judgments/s, {last['reviews']} reviews, "
                  f"{last['errors']} errors, this process's CPU {last['this_process_cpu_share']:.2f} s/s", flush=True)
    finally:
        provider.close()
    result["judgments_per_s"] = max(p["judgments_per_s"] for p in result["passes"])
    return result


def in_child(args: argparse.Namespace, dp: int) -> dict:
    """`stage_only` in a fresh process, so each engine gets the GPUs to itself."""
    from bench.bench_answers_gpu import BenchError, json_from_child

    argv = [sys.executable, __file__, "--child-dp", str(dp)]
    for flag in ("model", "template", "questions", "answer_words", "max_tokens", "passes", "dtype", "max_model_len",
                 "gpu_memory_utilization", "dp_backend"):
        argv += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    for flag in ("same_gpu", "enforce_eager"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    try:
        return json_from_child(argv, f"data_parallel_size={dp}")
    except BenchError as exc:
        raise SystemExit(str(exc)) from None


def dp_compare(args: argparse.Namespace, run_child: Callable[[argparse.Namespace, int], dict]) -> dict:
    one = run_child(args, 1)
    many = run_child(args, args.data_parallel_size)
    scaling = many["judgments_per_s"] / one["judgments_per_s"]
    where = "replicas on one GPU" if args.same_gpu else f"{args.data_parallel_size} GPUs"
    print(f"judge data parallel ({args.dp_backend}, {where}): one engine {one['judgments_per_s']:.1f} judgments/s, "
          f"dp={args.data_parallel_size} {many['judgments_per_s']:.1f}: {scaling:.2f}x"
          + (f" (target >= {DP_TARGET})" if args.data_parallel_size == 2 and not args.same_gpu else ""), flush=True)
    result = {"dp1": one, f"dp{args.data_parallel_size}": many, "scaling": round(scaling, 3),
              "target": DP_TARGET if args.data_parallel_size == 2 and not args.same_gpu else None}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None, *, run_child: Callable[[argparse.Namespace, int], dict] = in_child) -> dict:
    args = parse_args(argv)
    if args.child_dp:
        result = stage_only(args, args.child_dp)
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        return result
    if args.data_parallel_size > 1:
        return dp_compare(args, run_child)
    from arena.providers.vllm_engine import OfflineVllmProvider

    questions, answers, messages = prepared(args)
    judge = judge_config(args)
    template = load_template(args.template, where="bench", key="template")
    g = grammar(template.verdict)
    regex = g.constraint(args.max_tokens - g.longest - 8)
    started = time.perf_counter()
    provider = OfflineVllmProvider(judge)
    result: dict = {"games": len(messages), "max_tokens": args.max_tokens, "template": args.template,
                    "engine_start_s": round(time.perf_counter() - started, 1), "regex_chars": len(regex), "passes": []}
    print(f"engine up in {result['engine_start_s']} s; {len(messages)} games", flush=True)

    def record(path: str, p: dict) -> None:
        p["path"] = path
        result["passes"].append(p)
        print(f"{path:>8}: {p['judgments_per_s']:8.1f} judgments/s ({p['wall_s']:.2f} s)"
              + (f", {p['with_verdict']}/{len(messages)} with a verdict, {p['mean_output_tokens']:.0f} tokens" if "with_verdict" in p else ""),
              flush=True)
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")

    try:
        record("warm-up", bare_pass(provider, messages[:64], args, regex=regex))  # compiles the grammar once
        order = []
        for r in range(args.passes):
            order += ["bare", "stage"] if r % 2 == 0 else ["stage", "bare"]
        order += ["plain", "matched", "weighted"]
        for path in order:
            if path == "bare":
                record(path, bare_pass(provider, messages, args, regex=regex))
            elif path == "stage":
                record(path, stage_pass(provider, judge, questions, answers))
            elif path == "plain":
                record(path, bare_pass(provider, messages, args, regex=None))
            elif path == "matched":
                constrained = [p for p in result["passes"] if p["path"] == "bare"]
                length = max(1, round(sum(p["mean_output_tokens"] for p in constrained) / len(constrained)))
                record(path, bare_pass(provider, messages, args, regex=None, max_tokens=length))
            else:
                record(path, bare_pass(provider, messages, args, regex=regex, logprobs=20))
    finally:
        provider.close()
    best = {}
    for path in ("bare", "stage", "plain", "matched", "weighted"):
        runs = [p for p in result["passes"] if p["path"] == path]
        if runs:
            best[path] = max(runs, key=lambda p: p["judgments_per_s"])
    summary = {f"{k}_judgments_per_s": round(v["judgments_per_s"], 2) for k, v in best.items()}
    if "bare" in best:
        summary["stage_over_bare"] = round(best["stage"]["judgments_per_s"] / best["bare"]["judgments_per_s"], 3)
        # Same prompts, same number of output tokens, with and without the regex.
        summary["constraint_cost"] = round(best["bare"]["wall_s"] / best["matched"]["wall_s"], 3)
        summary["weighting_cost"] = round(best["weighted"]["wall_s"] / best["bare"]["wall_s"], 3)
        summary["with_verdict"] = {k: best[k]["with_verdict"] for k in ("bare", "plain", "weighted")}
        summary["weighted_replies"] = best["weighted"]["weighted"]
    result.update(summary)
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
