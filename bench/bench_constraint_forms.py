"""Free-text forms of a verdict constraint, timed side by side in one vLLM engine.

A constrained judge's reply is free text then the verdict; the free text's regex decides how
hard vLLM's grammar engine works at each token. This times `LLM.chat` over the same prompts with
each form (`--prompts` of them, and 4 first), in one engine, each call under --limit seconds
(a form past it is reported as such and the rest skipped: a stalled batch cannot be cancelled),
and prints each form's time against the shipped form's (arena.judging.grammar).

usage (GPU machine, after `. /tmp/vllm-env.sh`):
    python3 bench/bench_constraint_forms.py --model /tmp/judge --out $OUT/constraint_forms.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.judging.grammar import grammar  # noqa: E402

VERDICT = r"\[\[(?:A|B|C)\]\]"


def forms(bound: int) -> dict[str, str]:
    return {
        "shipped": grammar("abc").constraint(bound),
        "group_short": r"(?:[^\[]|\[[^\[]){0,20}" + VERDICT,
        "group": r"(?:[^\[]|\[[^\[]){0," + str(bound) + "}" + VERDICT,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--limit", type=float, default=100.0, help="seconds one call may take")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    llm = LLM(model=args.model, dtype="bfloat16", max_model_len=4096, gpu_memory_utilization=0.5, seed=0)
    messages = [[{"role": "user", "content": f"Question {i}: which answer is better? " + "word " * 300
                  + "End with [[A]], [[B]] or [[C]]."}] for i in range(args.prompts)]
    g = grammar("abc")
    result: dict = {"bound": args.max_tokens - g.longest - 8, "calls": []}
    for name, regex in forms(result["bound"]).items():
        for n in (4, args.prompts):
            params = [SamplingParams(temperature=0, max_tokens=args.max_tokens,
                                     structured_outputs=StructuredOutputsParams(regex=regex)) for _ in range(n)]
            done: list = []
            start = time.perf_counter()
            worker = threading.Thread(target=lambda m=messages[:n], p=params, d=done: d.append(llm.chat(m, p, use_tqdm=False)),
                                      daemon=True)
            worker.start()
            worker.join(args.limit)
            wall = time.perf_counter() - start
            call = {"form": name, "regex": regex, "requests": n, "wall_s": round(wall, 2), "finished": bool(done)}
            if done:
                call["with_verdict"] = sum(o.outputs[0].text.endswith("]]") for o in done[0])
            result["calls"].append(call)
            print(json.dumps(call), flush=True)
            if args.out:
                args.out.write_text(json.dumps(result, indent=2) + "\n")
            if not done:
                print(f"{name}: not done after {args.limit:g} s; stopping here (the engine is still busy)", flush=True)
                os._exit(0)  # the stalled batch holds the engine: nothing to wait for
    shipped = {c["requests"]: c["wall_s"] for c in result["calls"] if c["form"] == "shipped"}
    for call in result["calls"]:
        print(f"{call['form']:>12} x{call['requests']:<3} {call['wall_s']:7.2f} s  "
              f"{call['wall_s'] / shipped[call['requests']]:6.1f}x shipped")
    return result


if __name__ == "__main__":
    main()
