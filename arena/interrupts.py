"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

Python's default for SIGTERM is to die on the spot: no `finally`, no `close()`. Children we
started (a vLLM server, an engine's workers) would then outlive us, and a record half-written
would be left to the store's repair. Raising `Stopped` (a KeyboardInterrupt, so every path that
already cleans up after Ctrl-C cleans up after it too) gives a supervisor's SIGTERM, a closed
terminal's SIGHUP and Ctrl-C one orderly way out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which, for the exit code (128 + signum)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Stopped` in the main thread. Handlers someone
    else installed (an embedding program's) are left alone, and the old ones come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {}
    for signum in SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, _raise_stopped)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
