"""Checks on processes for the server-mode tests: a zombie counts as gone (it holds nothing)."""

from __future__ import annotations

import time
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> bool:
    """True once none of `pids` is alive, False if some still is after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def server_pids(folder: Path) -> list[int]:
    """The stand-in server's pid and its child's, from the pidfile it writes in `folder`."""
    return [int(x) for x in (folder / "pids").read_text().split()]
