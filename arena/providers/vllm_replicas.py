"""Data parallelism as independent replicas: one vLLM `LLM` per GPU group, each in its own process.

`vllm.data_parallel_size: N` with `vllm.data_parallel_backend: replicas` starts N worker
processes. Worker r sees only GPUs r*tp .. (r+1)*tp-1 (`CUDA_VISIBLE_DEVICES`, tp being
`tensor_parallel_size`) and runs the single-engine offline provider on them; every batch is dealt
out over the workers, each runs its share as one engine batch, and results come back the moment
they finish.

Why processes and not vLLM's own data parallelism (its async engine, `backend: engine`): that
engine has one front end for all replicas. Rendering chat templates, tokenizing, checking each
request's structured-output grammar and detokenizing all happen there, on one Python thread. A
judge's requests are long prompts with short, constrained replies, so that front end is its
bottleneck: on two GPUs vLLM's engine judged at 0.8x one GPU (docs/PERFORMANCE.md). Replicas each
have their own front end, so the per-request CPU work is split too; they share nothing. Being the
offline provider, each replica also scores (the scores stage's log-probabilities), which the async
engine path cannot.

Workers are spawned (CUDA does not survive fork) and not daemonic (vLLM starts its own engine
process under each). A worker shuts its engine down and exits when its pipe closes (the parent
died) or on SIGTERM (the parent stopping it mid-batch), so GPUs are not left held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from arena.config import JudgeConfig, ModelConfig
from arena.errors import ProviderError
from arena.providers.base import ChatRequest, ChatResponse, OnResult, Provider
from arena.providers.vllm_engine import read_chat_template, role, scoring_abilities

log = logging.getLogger(__name__)

_STOP_WAIT_S = 60.0  # a worker's engine shutdown; after that it is terminated


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA names them: `CUDA_VISIBLE_DEVICES` where set,
    else every device torch counts."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


def gpu_groups(gpus: Sequence[str], replicas: int, per_replica: int) -> list[list[str]]:
    """Replica r's GPUs: the r-th run of `per_replica` consecutive visible GPUs."""
    return [list(gpus[r * per_replica:(r + 1) * per_replica]) for r in range(replicas)]


def deal(count: int, replicas: int) -> list[list[int]]:
    """Which requests of a batch each replica runs: every replica-th one, so each gets a like mix
    of short and long prompts (batches come grouped by question and turn)."""
    return [list(range(r, count, replicas)) for r in range(replicas)]


def _single_engine(cfg: ModelConfig | JudgeConfig) -> ModelConfig | JudgeConfig:
    """The config one replica runs: the same engine with data parallelism left to us."""
    return dataclasses.replace(cfg, vllm=dataclasses.replace(cfg.vllm, data_parallel_size=1))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # An exception, not the default death: the engine is shut down on the way out (finally).
    raise SystemExit(128 + signum)


def _worker(conn: Connection, cfg: ModelConfig | JudgeConfig, gpus: list[str],
            setup: tuple[str, dict[str, Any]] | None) -> None:
    """One replica: build the engine on its GPUs, then run what the parent sends until told to
    stop or until the pipe closes. Messages out: ("ready", startup_s) or ("failed", line) once,
    then per batch ("result", batch, index, response)... and ("done", batch) or ("failed", line)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)  # before vLLM (and torch) is imported
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if setup is not None:  # tests: a stand-in vllm module in this process
        target, kwargs = setup
        module, name = target.rsplit(":", 1)
        getattr(importlib.import_module(module), name)(**kwargs)
    from arena.providers.vllm_engine import OfflineVllmProvider

    try:
        provider = OfflineVllmProvider(cfg)
    except ProviderError as exc:
        conn.send(("failed", str(exc)))
        return
    conn.send(("ready", provider.startup_s))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break  # the parent is gone
            if message[0] == "stop":
                break
            kind, batch, requests = message
            run = provider.run_batch if kind == "chat" else provider.run_logprob_batch
            try:
                run(requests, lambda index, result, batch=batch: conn.send(("result", batch, index, result)))
            except ProviderError as exc:
                conn.send(("failed", str(exc)))
                continue
            conn.send(("done", batch))
    finally:
        provider.close()


class ReplicatedVllmProvider(Provider):
    """`data_parallel_size` offline replicas of one model, each on its own GPUs, in worker
    processes; see the module's docstring. `gpus` places replicas by hand (a benchmark putting two
    on one GPU); `setup` is a "module:function" run first in each worker (tests install a stand-in
    vllm with it; tests set `worker_setup` to do so for the providers a run makes)."""

    worker_setup: tuple[str, dict[str, Any]] | None = None

    def __init__(self, cfg: ModelConfig | JudgeConfig, *, gpus: list[list[str]] | None = None,
                 setup: tuple[str, dict[str, Any]] | None = None):
        self.cfg = cfg
        self.name = f"vllm:{cfg.name}"
        self.cache_identity = ("vllm", cfg.model_id)
        setup = setup if setup is not None else self.worker_setup
        read_chat_template(cfg)  # a missing template file fails here, before any engine starts
        v = cfg.vllm
        replicas = v.data_parallel_size
        if gpus is None:
            seen = visible_gpus()
            needed = replicas * v.tensor_parallel_size
            if len(seen) < needed:
                raise ProviderError(
                    f"{role(cfg)}: vllm.data_parallel_size {replicas} x vllm.tensor_parallel_size "
                    f"{v.tensor_parallel_size} needs {needed} GPUs, and {len(seen)} are visible"
                    f"{' (CUDA_VISIBLE_DEVICES=' + os.environ['CUDA_VISIBLE_DEVICES'] + ')' if 'CUDA_VISIBLE_DEVICES' in os.environ else ''}; "
                    "lower vllm.data_parallel_size"
                )
            gpus = gpu_groups(seen, replicas, v.tensor_parallel_size)
        self.gpus = gpus
        self.logprob_abilities = scoring_abilities(_single_engine(cfg))  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._batches = 0
        self._broken = False  # a replica failed mid-batch: the others' outputs of it are stale
        self._busy: set[int] = set()  # replicas with a batch not reported done
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        context = multiprocessing.get_context("spawn")
        start = time.perf_counter()
        # Replicas sharing a GPU start one after another: vLLM sizes its KV cache by profiling
        # the GPU's memory, which another engine loading at the same time would upset.
        shared = len({g for group in gpus for g in group}) < sum(len(group) for group in gpus)
        try:
            for group in gpus:
                ours, theirs = context.Pipe()
                process = context.Process(target=_worker, args=(theirs, _single_engine(cfg), group, setup),
                                          name=f"arena-vllm-replica-{len(self._workers)}")
                process.start()
                theirs.close()
                self._workers.append((process, ours))
                if shared:
                    self._await_ready(v.startup_timeout_s, self._workers[-1:], len(self._workers) - 1)
            if not shared:
                self._await_ready(v.startup_timeout_s, self._workers, 0)
        except BaseException:
            self.close()
            raise
        self.startup_s = time.perf_counter() - start

    def _where(self, replica: int) -> str:
        return f"replica {replica + 1} of {len(self.gpus)}, CUDA_VISIBLE_DEVICES={','.join(self.gpus[replica])}"

    def _await_ready(self, timeout_s: float, workers: list[tuple[Any, Connection]], first: int) -> None:
        """Wait for these workers' engines (replicas first, first+1...) to start; the first that
        fails stops the rest, with its reason."""
        waiting = {first + i: worker for i, worker in enumerate(workers)}
        deadline = time.monotonic() + timeout_s
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProviderError(
                    f"{role(self.cfg)} ({self.cfg.model_id}): vLLM replicas did not start within {timeout_s:g} s "
                    f"({len(waiting)} of {len(self._workers)} still loading); raise vllm.startup_timeout_s"
                )
            for replica, message in self._receive(waiting, left):
                del waiting[replica]
                if message[0] == "failed":
                    raise ProviderError(f"{message[1]} ({self._where(replica)})")

    def _receive(self, workers: dict[int, tuple[Any, Connection]], timeout_s: float | None):
        """(replica, message) for each worker with a message within the timeout; a worker that
        died instead is an error naming it and its exit code."""
        by_handle: dict[Any, int] = {}
        for replica, (process, conn) in workers.items():
            by_handle[conn] = replica
            by_handle[process.sentinel] = replica
        ready = wait(list(by_handle), timeout_s)
        out = []
        for replica in sorted({by_handle[h] for h in ready}):
            process, conn = workers[replica]
            try:
                if conn.poll():
                    out.append((replica, conn.recv()))
                    continue
            except (EOFError, OSError):
                pass
            process.join(5)
            raise ProviderError(
                f"{role(self.cfg)} ({self.cfg.model_id}): a vLLM replica process died (exit code "
                f"{process.exitcode}) ({self._where(replica)}); its log above names the cause"
            )
        return out

    def _run(self, kind: str, requests: list[Any], on_result: Callable[[int, Any], None]) -> None:
        """Deal the batch out, then report each result as it arrives until every replica is done."""
        if not requests:
            return
        if not self._workers:
            raise ProviderError(f"{role(self.cfg)}: the vLLM replicas were already shut down")
        self._batches += 1
        batch = self._batches
        shares = deal(len(requests), len(self._workers))
        busy = {}
        for replica, share in enumerate(shares):
            if share:
                # meta is context for our logs, never sent to an engine: it need not travel
                sent = [dataclasses.replace(requests[i], meta={}) for i in share]
                self._workers[replica][1].send((kind, batch, sent))
                busy[replica] = self._workers[replica]
                self._busy.add(replica)
        while busy:
            for replica, message in self._receive(busy, None):
                if message[0] == "result" and message[1] == batch:
                    on_result(shares[replica][message[2]], message[3])
                elif message[0] == "done" and message[1] == batch:
                    del busy[replica]
                    self._busy.discard(replica)
                elif message[0] == "failed":
                    self._broken = True
                    raise ProviderError(f"{message[1]} ({self._where(replica)})")

    def run_batch(self, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
        if self._broken:
            raise ProviderError(f"{role(self.cfg)}: a vLLM replica failed earlier in this run")
        self._run("chat", requests, on_result)

    def run_logprob_batch(self, requests: list[Any], on_result: Any, *, progress: Any = None) -> None:
        if self._broken:
            raise ProviderError(f"{role(self.cfg)}: a vLLM replica failed earlier in this run")
        if not self.logprob_abilities:
            super().run_logprob_batch(requests, on_result, progress=progress)  # raises: cannot
            return
        self._run("logprobs", requests, on_result)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One request as a batch of one, off the event loop."""
        results: list[Any] = []

        def run_one() -> None:
            with self._lock:
                self.run_batch([request], lambda _, result: results.append(result))

        await asyncio.to_thread(run_one)
        return results[0]

    def close(self) -> None:
        """Stop every replica and wait for its engine to free the GPUs: the next model of the
        run loads only after. An idle replica is told to stop; one still in a batch (the run was
        interrupted, or another replica failed) gets SIGTERM, and shuts its engine down on it.
        One that does not stop in time is terminated, then killed."""
        workers, self._workers = self._workers, []
        for replica, (process, conn) in enumerate(workers):
            try:
                if replica in self._busy:
                    process.terminate()
                else:
                    conn.send(("stop",))
            except (OSError, ValueError):
                pass
        self._busy.clear()
        deadline = time.monotonic() + _STOP_WAIT_S
        for process, conn in workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("vLLM replica %s did not stop in %g s: terminating it", process.name, _STOP_WAIT_S)
                process.terminate()
                process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
