"""A progress line per stage on stderr: done / total, rate, retries, errors and cost so far.

On a terminal the line redraws in place; elsewhere (CI, logs) it prints a plain line every few
seconds and at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24


class Progress:
    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, interval_s: float | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.retries = 0
        self.errors = 0
        self.cached = 0
        self.calls = 0  # API calls sent (retries and re-asks included; cache hits not)
        self.cost_usd = 0.0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.1 if self.tty else 5.0)
        self._start = time.perf_counter()
        self._last_draw = self._start
        self._closed = False
        self._base: int | None = None  # units already done when this run started (resumed)

    def advance(self, n: int = 1, *, error: bool = False, cost_usd: float = 0.0, cached: bool = False) -> None:
        if self._base is None:
            self._base = self.done
        self.done += n
        self.errors += int(error)
        self.cached += int(cached)
        self.cost_usd += cost_usd
        self._maybe_draw()

    def note_call(self) -> None:
        self.calls += 1
        self._maybe_draw()

    def note_retry(self) -> None:
        self.retries += 1
        self._maybe_draw()

    def _maybe_draw(self) -> None:
        now = time.perf_counter()
        if now - self._last_draw >= self.interval_s:
            self._last_draw = now
            self._draw(final=False)

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        done_now = self.done - (self._base if self._base is not None else self.done)
        parts = [f"{self.label:<8} [{bar}] {self.done}/{self.total}", f"{done_now / elapsed:.1f}/s", f"{elapsed:.0f}s"]
        if self.calls and self.calls != done_now:  # re-asks and retries: calls outnumber units
            parts.append(f"{self.calls / elapsed:.1f} calls/s")
        if self.retries:
            parts.append(f"retries {self.retries}")
        if self.errors:
            parts.append(f"errors {self.errors}")
        if self.cached:
            parts.append(f"cached {self.cached}")
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.4f}")
        return "  ".join(parts)

    def _draw(self, final: bool) -> None:
        text = self.line()
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._draw(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
