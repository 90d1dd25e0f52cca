"""One lifetime for a command and the servers it starts: SIGTERM or SIGINT to the pid of
`arena dashboard` closes the port and leaves no process of its group behind; SIGTERM to
`run_arena` mid-stage stops the vLLM server it started and exits like Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from arena.providers.vllm_server import free_port, group_alive, port_in_use
from tests.providers.process_checks import alive, server_pids, wait_gone
from tests.providers.test_vllm_engine import write_config
from tests.providers.test_vllm_server import FAKE_SERVER, server_model

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process-group checks read /proc")


def wait_for(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_arena_dashboard_stops_its_server(tmp_path, sig):
    run = tmp_path / "run"
    run.mkdir()
    port = free_port()
    # A session of its own, so that afterwards "nothing left in its group" means no orphan.
    command = subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "dashboard", str(run), "--port", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert wait_for(lambda: port_in_use(port), 60.0), "the dashboard never opened its port"
        command.send_signal(sig)  # to the command's pid only, as a supervisor or `kill` sends it
        command.wait(timeout=10)
        assert wait_for(lambda: not port_in_use(port), 5.0), "the port is still served after the command exited"
        assert wait_for(lambda: not group_alive(command.pid), 5.0), "a process of the command outlived it"
    finally:
        if group_alive(command.pid):
            os.killpg(command.pid, signal.SIGKILL)
        if command.poll() is None:
            command.kill()
            command.wait()


def test_sigterm_to_run_arena_stops_the_vllm_server_it_started(tmp_path):
    """A slow stand-in server (tests/providers/fake_vllm_server.py) keeps the answers stage busy;
    SIGTERM mid-stage must stop it (and its child) in order, keep the finished answers and exit
    128 + 15 with the same resume hint as Ctrl-C."""
    config = write_config(tmp_path, [server_model(max_concurrency=1)])
    pidfile = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from arena.cli import main
        from arena.providers import vllm_server
        def command(cfg, port):
            return [sys.executable, {str(FAKE_SERVER)!r}, "--port", str(port), "--served-model-name", cfg.name,
                    "--pidfile", {str(pidfile)!r}, "--token-delay", "0.2"]
        vllm_server.server_command = command
        sys.exit(main(["run", "-c", {str(config)!r}]))
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2, 30.0)
        pids = server_pids(tmp_path)
        assert all(alive(p) for p in pids)
        time.sleep(0.5)  # into the stage
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 128 + signal.SIGTERM, err
        assert "stopped by SIGTERM: finished records are saved" in err.strip().splitlines()[-1]
        assert wait_gone(pids, 5.0), "the vLLM server outlived run_arena"
        assert not group_alive(run.pid)
    finally:
        if group_alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
