"""Serving metrics of the answers stage (EvalScope's performance view, free with every run).

Token totals cover every answer of the model. Throughput, latency and TTFT describe one serving
session: the answers generated in one invocation over that invocation's wall time. A resumed
answer was timed by an earlier invocation under other conditions, so it is not mixed in; an
invocation that generates nothing keeps the figures of the last one that did.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from arena.records import Answer

# The keys of one serving session's figures (carried over by a run that generates nothing).
SESSION_KEYS = (
    "measured_answers", "requests", "measured_output_tokens", "generation_wall_s", "requests_per_s",
    "output_tokens_per_s", "latency_p50_s", "latency_p99_s", "ttft_p50_s", "ttft_p99_s",
    "ttft_source", "engine_start_s", "measured_at",
)


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def request_count(answer: Answer) -> int:
    """Requests behind one answer: turn 1 samples every choice in one request, later turns
    continue each choice with a request of its own."""
    turns = len(answer.choices[0].turns) if answer.choices else 0
    return 0 if turns == 0 else 1 + (turns - 1) * len(answer.choices)


def answer_totals(answers: list[Answer]) -> dict[str, Any]:
    """Token totals over every answer of a model, whenever it was generated."""
    output_tokens = sum(sum(a.output_tokens) for a in answers)
    return {
        "answers": len(answers),
        "prompt_tokens": sum(sum(a.prompt_tokens) for a in answers),
        "output_tokens": output_tokens,
        "mean_output_tokens": output_tokens / len(answers) if answers else None,
    }


def session_figures(
    generated: list[Answer], wall_s: float, engine_start_s: float | None = None,
    server_ttft: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Throughput and latency of one invocation: `generated` are the answers it produced over
    `wall_s` seconds of generation (engine start-up excluded, reported beside it). Latency and
    TTFT percentiles are per turn request (the slowest choice where a turn had several). Where
    no answer was streamed, TTFT comes from the server's own histogram (`server_ttft`) if given."""
    latencies = [x for a in generated for x in a.latency_s]
    ttfts = [x for a in generated for x in a.ttft_s if x is not None]
    requests = sum(request_count(a) for a in generated)
    output_tokens = sum(sum(a.output_tokens) for a in generated)
    timed = wall_s > 0 and bool(generated)
    figures = {
        "measured_answers": len(generated),
        "requests": requests,
        "measured_output_tokens": output_tokens,
        "generation_wall_s": round(wall_s, 3),
        "requests_per_s": requests / wall_s if timed else None,
        "output_tokens_per_s": output_tokens / wall_s if timed else None,
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p99_s": _percentile(latencies, 99),
        "ttft_p50_s": _percentile(ttfts, 50),
        "ttft_p99_s": _percentile(ttfts, 99),
        "ttft_source": "client" if ttfts else None,
        "engine_start_s": round(engine_start_s, 3) if engine_start_s is not None else None,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if not ttfts and server_ttft and generated:
        figures.update(ttft_p50_s=server_ttft.get("ttft_p50_s"), ttft_p99_s=server_ttft.get("ttft_p99_s"),
                       ttft_source="server histogram")
    return figures


def serving_summary(
    answers: list[Answer], generated: list[Answer], wall_s: float, *,
    engine_start_s: float | None = None, previous: dict[str, Any] | None = None,
    server_ttft: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A model's section of summary.json: totals over `answers` (all of them), session figures
    over `generated` (this invocation's); with nothing generated now, the previous session's."""
    summary = answer_totals(answers)
    if generated or not previous:
        summary.update(session_figures(generated, wall_s, engine_start_s, server_ttft))
    else:
        summary.update({key: previous.get(key) for key in SESSION_KEYS})
    return summary
