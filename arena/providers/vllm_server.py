"""vLLM's OpenAI-compatible server as a candidate (`vllm.mode: server`).

The provider starts `python -m vllm.entrypoints.openai.api_server` as a child process (or uses the
running server at `vllm.url`), waits until `/health` answers, and sends the stage's requests
through the OpenAI provider (arena.providers.openai_api), at most `vllm.max_concurrency` in flight.
Requests are plain (streamed only with `client.stream: true`, which gives each answer its own time
to first token at a cost in client CPU); the session's TTFT percentiles come from the server's
metrics either way.

A server we started is ours to stop, whatever happens: it runs in a process group of its own
(so Ctrl-C reaches us first, and we stop it in order), `close()` stops the whole group (SIGTERM,
then SIGKILL for whatever outlives the grace period), a failed or interrupted start-up stops it
before the error goes on, and on Linux the kernel sends it SIGTERM should this process die
without cleaning up (SIGKILL included). Its output goes to a temporary log file: an error names
it (and keeps it), its tail tells `diagnose` which setting to suggest; a clean run removes it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from arena.config import ModelConfig
from arena.errors import ProviderError
from arena.providers import openai_logprobs
from arena.providers.base import (
    CallFailed,
    ChatRequest,
    ChatResponse,
    LogprobRequest,
    LogprobResponse,
    Provider,
    TransientError,
)
from arena.providers.server_metrics import TtftWindow
from arena.providers.vllm_engine import diagnose, one_line

log = logging.getLogger(__name__)

SERVER_MODULE = "vllm.entrypoints.openai.api_server"
HOST = "127.0.0.1"
STOP_GRACE_S = 30.0
POLL_S = 0.5

_ERROR_WORDS = re.compile(r"error|exception|out of memory|traceback", re.IGNORECASE)

# argv of the server for a port; tests swap in a stand-in server.
CommandFor = Callable[[int], list[str]]


def server_command(cfg: ModelConfig, port: int) -> list[str]:
    """The vLLM server's command line for this model's settings."""
    v = cfg.vllm
    argv = [
        sys.executable, "-m", SERVER_MODULE,
        "--model", cfg.model_id,
        "--served-model-name", cfg.name,
        "--host", HOST,
        "--port", str(port),
        "--dtype", v.dtype,
        "--gpu-memory-utilization", str(v.gpu_memory_utilization),
        "--tensor-parallel-size", str(v.tensor_parallel_size),
        "--disable-uvicorn-access-log",  # one log line per request only slows a batch down
    ]
    if v.data_parallel_size > 1:
        argv += ["--data-parallel-size", str(v.data_parallel_size)]
    if v.max_model_len is not None:
        argv += ["--max-model-len", str(v.max_model_len)]
    if cfg.generation.seed is not None:
        argv += ["--seed", str(cfg.generation.seed)]
    if v.chat_template is not None:
        argv += ["--chat-template", v.chat_template]  # a file or the template text; vLLM takes both
    if v.trust_remote_code:
        argv.append("--trust-remote-code")
    if v.enforce_eager:
        argv.append("--enforce-eager")
    return argv + list(v.extra_args)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def server_root(url: str) -> str:
    """`http://host:port` from a server address given with or without `/v1`."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def healthy(root: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=timeout_s) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def served_models(root: str, timeout_s: float = 10.0) -> list[str] | None:
    """Model ids the server lists at /v1/models, or None where it lists none we can read."""
    try:
        with urllib.request.urlopen(f"{root}/v1/models", timeout=timeout_s) as reply:
            data = json.loads(reply.read())
        return [str(m["id"]) for m in data.get("data", [])]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


_PR_SET_PDEATHSIG = 1
# Loaded in the parent: a forked child of a threaded process must not load libraries.
_LIBC = _libc() if sys.platform.startswith("linux") else None


def _die_with_parent(parent: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the parent died before the line above took effect
                os._exit(1)

    return setup


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the process group."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # fields after the command name: state, ppid, pgrp, ...
            fields = stat[stat.rfind(")") + 2:].split()
            if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
        return False
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class VllmServer:
    """One vLLM server: started here (and stopped here), or a running one at `vllm.url`."""

    def __init__(self, cfg: ModelConfig, *, command_for: CommandFor | None = None):
        self.cfg = cfg
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._log: Any = None
        self._keep_log = False
        self._command_for = command_for or (lambda port: server_command(cfg, port))
        if cfg.vllm.url is not None:
            self.root = server_root(cfg.vllm.url)
            self.model_name = cfg.model_id
        else:
            self.port = cfg.vllm.port or free_port()
            self.root = f"http://{HOST}:{self.port}"
            self.model_name = cfg.name

    @property
    def owned(self) -> bool:
        return self.cfg.vllm.url is None

    def error(self, text: str) -> ProviderError:
        if self.log_path is not None and str(self.log_path) in text:
            self._keep_log = True  # the message sends the user there
        return ProviderError(f"model {self.cfg.name!r} ({self.cfg.model_id}): {text}")

    def start(self) -> None:
        """Start (or reach) the server and wait until it is healthy. Any failure, Ctrl-C
        included, stops a server started here before the error goes on."""
        if not self.owned:
            self._attach()
            return
        if port_in_use(self.port):
            raise self.error(
                f"port {self.port} is already in use; set vllm.port (0 picks a free one), "
                f"or vllm.url to use the server running there"
            )
        fd, name = tempfile.mkstemp(prefix=f"arena-vllm-{self.cfg.name}-", suffix=".log")
        self.log_path = Path(name)
        self._log = os.fdopen(fd, "wb")
        argv = self._command_for(self.port)
        log.info("starting vLLM server for %s on port %d (log: %s)", self.cfg.name, self.port, self.log_path)
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent(os.getpid()),
            )
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _attach(self) -> None:
        if not healthy(self.root, timeout_s=10.0):
            raise self.error(f"no vLLM server answers at {self.root}/health (vllm.url); start it, or leave vllm.url out to have one started")
        served = served_models(self.root)
        if served is not None and self.model_name not in served:
            raise self.error(
                f"the server at {self.root} serves {', '.join(served) or 'no model'}, not "
                f"{self.model_name!r}; set the model's 'model' key to the served name"
            )

    def _wait_healthy(self) -> None:
        assert self.process is not None
        timeout = self.cfg.vllm.startup_timeout_s
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                errors = self.error_lines()
                raise self.error(
                    f"the vLLM server exited with code {code} while starting: {one_line(errors[-1])}; "
                    f"{diagnose(' '.join(errors))} (log: {self.log_path})"
                )
            if healthy(self.root):
                return
            if time.monotonic() > deadline:
                raise self.error(
                    f"the vLLM server was not healthy within {timeout:g} s; raise vllm.startup_timeout_s "
                    f"if it is still loading (log: {self.log_path})"
                )
            time.sleep(POLL_S)

    def log_tail(self, size: int = 8000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        if self._log is not None:
            self._log.flush()
        data = self.log_path.read_bytes()[-size:]
        return data.decode("utf-8", errors="replace")

    def error_lines(self) -> list[str]:
        """The lines of the log's tail that report errors (vLLM's settings dump at start-up
        names every setting, so only these lines may choose the hint); else its last line."""
        lines = [line for line in self.log_tail().splitlines() if line.strip()]
        errors = [line for line in lines if _ERROR_WORDS.search(line)]
        return errors or lines[-1:] or ["no output"]

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop a server started here: SIGTERM to its whole process group, then SIGKILL to
        whatever is left after `grace_s`. A server at vllm.url is left running."""
        process, self.process = self.process, None
        if process is not None:
            pgid = process.pid  # the session leader: its pid names the group
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if group_alive(pgid):
                log.warning("vLLM server for %s did not stop within %.0f s; killing it", self.cfg.name, grace_s)
                _signal_group(pgid, signal.SIGKILL)
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
            if not self._keep_log and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)  # nothing went wrong: nothing to read there


class VllmServerProvider(Provider):
    """Requests to a vLLM server through the OpenAI provider, with bounded concurrency."""

    def __init__(self, cfg: ModelConfig, *, command_for: CommandFor | None = None):
        self.name = f"vllm-server:{cfg.name}"
        self.server = VllmServer(cfg, command_for=command_for)
        start = time.perf_counter()
        self.server.start()
        self.startup_s = time.perf_counter() - start
        try:
            # Plain requests unless the config asks for streaming: the server's own histogram
            # gives the session's TTFT (arena.providers.server_metrics) without the client cost.
            client = replace(
                cfg.client, base_url=f"{self.server.root}/v1", max_concurrency=cfg.vllm.max_concurrency,
            )
            api_cfg = replace(cfg, provider="openai_compatible", model=self.server.model_name, client=client)
            # The log-probability client generates through openai_api and adds the completions
            # endpoint's log-probabilities, which the scores stage uses.
            self._api = openai_logprobs.create(api_cfg)
        except BaseException:
            self.server.stop()
            raise
        self.client = client  # the shared runner reads concurrency, retries and timeout here
        self.ttft_window = TtftWindow(self.server.root)
        self.ttft_window.start()
        self.cache_identity = ("vllm-server", cfg.model_id)
        self.logprob_abilities = self._api.logprob_abilities

    async def continuation_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        self._check_alive()
        return await self._api.continuation_logprobs(request)

    async def next_token_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        self._check_alive()
        return await self._api.next_token_logprobs(request)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._check_alive()
        try:
            return await self._api.complete(request)
        except (TransientError, CallFailed):
            # A dead server fails every request: stop the batch with its cause instead of
            # retrying each request against nothing.
            self._check_alive()
            raise

    def _check_alive(self) -> None:
        process = self.server.process
        code = process.poll() if process is not None else None
        if code is not None:
            errors = self.server.error_lines()
            raise self.server.error(
                f"the vLLM server exited with code {code} while generating: {one_line(errors[-1])}; "
                f"{diagnose(' '.join(errors))} (log: {self.server.log_path})"
            )

    def server_ttft(self) -> dict[str, float | None] | None:
        """TTFT p50/p99 of the requests since start-up, from the server's histogram."""
        return self.ttft_window.stop()

    def close(self) -> None:
        try:
            self.ttft_window.stop()  # before the server goes
            self._api.close()
        finally:
            self.server.stop()
