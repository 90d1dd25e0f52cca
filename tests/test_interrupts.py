"""SIGTERM/SIGHUP raise `Stopped` (a KeyboardInterrupt) only inside a command, and handlers that
were there before, ours or an embedding program's, are left as they were."""

from __future__ import annotations

import os
import signal

import pytest

from arena.interrupts import Stopped, stop_signals_interrupt


def test_sigterm_raises_stopped_inside_and_the_default_comes_back():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Stopped) as caught, stop_signals_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.signum == signal.SIGTERM and str(caught.value) == "SIGTERM"
    assert isinstance(caught.value, KeyboardInterrupt)  # every Ctrl-C clean-up path applies
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_handler_already_installed_is_left_alone():
    seen: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        with stop_signals_interrupt():
            os.kill(os.getpid(), signal.SIGHUP)
        assert seen == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)
