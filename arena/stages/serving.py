"""Serving metrics of the answers stage (EvalScope's performance view, free with every run)."""

from __future__ import annotations

from typing import Any

import numpy as np

from arena.records import Answer


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def serving_summary(answers: list[Answer], wall_s: float) -> dict[str, Any]:
    """Per-model figures: token totals, latency and TTFT percentiles per turn request, and the
    throughput of this invocation's generation (`wall_s` is 0 when nothing was generated now)."""
    latencies = [x for a in answers for x in a.latency_s]
    ttfts = [x for a in answers for x in a.ttft_s if x is not None]
    output_tokens = sum(sum(a.output_tokens) for a in answers)
    prompt_tokens = sum(sum(a.prompt_tokens) for a in answers)
    requests = sum(len(a.latency_s) for a in answers)
    return {
        "answers": len(answers),
        "requests": requests,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "mean_output_tokens": output_tokens / len(answers) if answers else None,
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p99_s": _percentile(latencies, 99),
        "ttft_p50_s": _percentile(ttfts, 50),
        "ttft_p99_s": _percentile(ttfts, 99),
        "generation_wall_s": round(wall_s, 3),
        "requests_per_s": requests / wall_s if wall_s > 0 else None,
        "output_tokens_per_s": output_tokens / wall_s if wall_s > 0 else None,
    }
