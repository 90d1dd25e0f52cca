"""Time to first token from vLLM's Prometheus histogram, for requests that were not streamed.

Streaming every answer costs the client one parsed event per token: with 256 requests in flight
the client's CPU, not the GPU, sets the pace (on an H200: 7,000 output tokens/s streamed against
29,800 plain, same server). vLLM's server already times the first token of every request in
`vllm:time_to_first_token_seconds`, so the stage sends plain requests and reads the TTFT
percentiles of its own session from the difference of two scrapes of `/metrics`.
"""

from __future__ import annotations

import math
import re
import urllib.request
from collections import defaultdict

TTFT_METRIC = "vllm:time_to_first_token_seconds"

_BUCKET = re.compile(r'^(?P<name>[^\s{]+)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)')
_LE = re.compile(r'(?:^|,)\s*le="(?P<le>[^"]+)"')


def scrape(root: str, timeout_s: float = 5.0) -> str | None:
    """The server's metrics page, or None where it has none (a server that is not vLLM's)."""
    try:
        with urllib.request.urlopen(f"{root}/metrics", timeout=timeout_s) as response:
            return response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative counts by upper bound (`le`), summed over label sets (engines, models)."""
    counts: dict[float, float] = defaultdict(float)
    for line in text.splitlines():
        match = _BUCKET.match(line)
        if not match or match["name"] != name:
            continue
        le = _LE.search(match["labels"])
        if le is None:
            continue
        try:
            counts[float(le["le"])] += float(match["value"])
        except ValueError:
            continue
    return dict(counts)


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile (0..1) of the observations made between two scrapes, interpolated linearly
    inside its bucket as Prometheus' histogram_quantile does; None when nothing was observed."""
    bounds = sorted(after)
    delta = [after[b] - before.get(b, 0.0) for b in bounds]
    if not bounds or not delta or delta[-1] <= 0:
        return None
    rank = q * delta[-1]
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, delta):
        if cumulative >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all we know
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = bound, cumulative
    return lower


class TtftWindow:
    """TTFT percentiles over one serving session: scrape at `start`, again at `stop`."""

    def __init__(self, root: str):
        self.root = root
        self._before: dict[float, float] | None = None
        self.figures: dict[str, float | None] | None = None

    def start(self) -> None:
        text = scrape(self.root)
        self._before = histogram(text, TTFT_METRIC) if text else None

    def stop(self) -> dict[str, float | None] | None:
        if self._before is None or self.figures is not None:
            return self.figures
        text = scrape(self.root)
        after = histogram(text, TTFT_METRIC) if text else {}
        if after:
            p50, p99 = quantile(self._before, after, 0.5), quantile(self._before, after, 0.99)
            if p50 is not None:
                self.figures = {"ttft_p50_s": p50, "ttft_p99_s": p99}
        return self.figures
