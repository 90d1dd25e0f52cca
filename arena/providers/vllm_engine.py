"""vLLM candidates: the offline engine in this process, or vLLM's OpenAI-compatible server
(`vllm.mode: server`, in arena.providers.vllm_server).

Offline, vLLM's `LLM` renders each conversation with the model's own chat template (or
`vllm.chat_template`) and runs every request of a batch together; the answers stage hands it all
prompts of a turn at once. Each request carries its own SamplingParams (temperature differs per
question category). Results are reported as each request finishes, through the same engine loop
`LLM.chat` runs, so the stage can store answers while the rest of the batch is still generating.

Data parallelism (`data_parallel_size > 1`) runs one of two ways (`data_parallel_backend`):
replicas, one `LLM` per GPU group in a process of its own (arena.providers.vllm_replicas), or
vLLM's async engine (the one behind `vllm serve`; vLLM 0.26's `LLM` refuses data_parallel_size >
1), which starts one engine per replica and balances requests over them behind one front end.
By default judges run as replicas and candidates on the engine, each the faster measured for its
kind of work (docs/PERFORMANCE.md).

vLLM is imported here only, when a vLLM model actually runs: the package, dry runs and tests work
without it.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from arena.config import JudgeConfig, ModelConfig
from arena.errors import ProviderError
from arena.providers.base import (
    CONTINUATION,
    NEXT_TOKEN,
    ChatRequest,
    ChatResponse,
    OnResult,
    Provider,
    TokenLogprobs,
)

log = logging.getLogger(__name__)

# (index of the request in its batch, vLLM RequestOutput) -> None
OnOutput = Callable[[int, Any], None]


def scoring_abilities(cfg: ModelConfig) -> frozenset[str]:
    """Log-probabilities a vLLM model can return for the scores stage: offline through `LLM`
    (one engine, or one per replica), or through the server's completions endpoint. vLLM's async
    engine (data_parallel_backend engine) has no scoring path here."""
    if cfg.vllm.mode == "server" or data_parallel_backend(cfg) != "engine":
        return frozenset({CONTINUATION, NEXT_TOKEN})
    return frozenset()


def data_parallel_backend(cfg: ModelConfig | JudgeConfig) -> str:
    """How an offline model runs: "single" (one engine), "replicas" or "engine"; auto picks
    replicas for a judge (many requests, short replies: bound by the engine's front end) and
    vLLM's engine for a candidate (long generations: bound by the GPUs)."""
    v = cfg.vllm
    if v.data_parallel_size == 1:
        return "single"
    if v.data_parallel_backend != "auto":
        return v.data_parallel_backend
    return "replicas" if isinstance(cfg, JudgeConfig) else "engine"


def role(cfg: ModelConfig | JudgeConfig) -> str:
    """How messages name the configured model: a candidate or a judge."""
    return f"judge {cfg.name!r}" if isinstance(cfg, JudgeConfig) else f"model {cfg.name!r}"


def create(cfg: ModelConfig | JudgeConfig) -> Provider:
    if cfg.vllm.mode == "server":
        from arena.providers.vllm_server import VllmServerProvider

        return VllmServerProvider(cfg)
    if data_parallel_backend(cfg) == "replicas":
        from arena.providers.vllm_replicas import ReplicatedVllmProvider

        return ReplicatedVllmProvider(cfg)
    return OfflineVllmProvider(cfg)


class EngineFailure(Exception):
    """vLLM itself failed while generating (the engine died, ran out of memory...)."""


def import_vllm(cfg: ModelConfig | JudgeConfig) -> ModuleType:
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise ProviderError(
            f"{role(cfg)}: provider 'vllm' needs vLLM installed ({exc.msg}); "
            "install it with pip install 'arena[gpu]', or use --dry-run"
        ) from None


def engine_args(cfg: ModelConfig | JudgeConfig) -> dict[str, Any]:
    """Keyword arguments for vLLM's engine (`LLM(...)` or `AsyncEngineArgs(...)`) from the config."""
    v = cfg.vllm
    args: dict[str, Any] = {
        "model": cfg.model_id,
        "dtype": v.dtype,
        "gpu_memory_utilization": v.gpu_memory_utilization,
        "tensor_parallel_size": v.tensor_parallel_size,
        "trust_remote_code": v.trust_remote_code,
        "enforce_eager": v.enforce_eager,
    }
    if v.max_model_len is not None:
        args["max_model_len"] = v.max_model_len
    if v.data_parallel_size > 1:
        args["data_parallel_size"] = v.data_parallel_size
    if cfg.generation.seed is not None:
        args["seed"] = cfg.generation.seed
    return args


def sampling_args(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for one request's `SamplingParams`; unset options keep vLLM's defaults."""
    args: dict[str, Any] = {
        "n": request.n,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "ignore_eos": request.ignore_eos,
    }
    if request.top_p is not None:
        args["top_p"] = request.top_p
    if request.seed is not None:
        args["seed"] = request.seed
    if request.stop:
        args["stop"] = list(request.stop)
    return args


def read_chat_template(cfg: ModelConfig | JudgeConfig) -> str | None:
    """`vllm.chat_template`: a file holding a Jinja template, or the template itself; None keeps
    the model's own."""
    value = cfg.vllm.chat_template
    if value is None:
        return None
    path = Path(value)
    if "{" not in value and "\n" not in value:
        if not path.is_file():
            raise ProviderError(
                f"{role(cfg)}: vllm.chat_template: file {value!r} not found "
                "(give a path to a Jinja template, or the template text itself)"
            )
        return path.read_text(encoding="utf-8")
    return value


# What to change, by what vLLM said. The first match wins, so specific causes come first.
_HINTS = (
    (("free memory on device",),
     "another process holds GPU memory: lower vllm.gpu_memory_utilization, or free the GPU"),
    (("which is larger than the available kv cache", "larger than the maximum number of tokens"),
     "the context does not fit in the KV cache: lower vllm.max_model_len (or raise vllm.gpu_memory_utilization)"),
    (("no available memory for the cache blocks",),
     "the weights leave no room for the KV cache: raise vllm.gpu_memory_utilization, "
     "or raise vllm.tensor_parallel_size to spread the weights over more GPUs"),
    (("out of memory", "outofmemoryerror"),
     "out of GPU memory: raise vllm.tensor_parallel_size to spread the model over more GPUs, "
     "or lower vllm.max_model_len or vllm.gpu_memory_utilization"),
    (("max_model_len", "max_position_embeddings"),
     "vllm.max_model_len is longer than the model's context: lower it (or leave it out for the model's own)"),
    (("world size", "tensor parallel", "tensor_parallel_size", "data_parallel_size", "number of gpus",
      "not enough gpus", "no cuda gpus"),
     "vllm.tensor_parallel_size x vllm.data_parallel_size must not exceed the GPUs available"),
    (("trust_remote_code", "trust-remote-code"),
     "the model ships its own code: set vllm.trust_remote_code: true if you trust it"),
    (("chat template", "chat_template"),
     "set vllm.chat_template (a Jinja template file or text) for a tokenizer without one"),
    (("config.json", "repo id", "repository not found", "not a valid model identifier", "no such file",
      "does not exist", "not a local folder", "is not a directory"),
     "check the model's 'model' key: a Hugging Face model id or a local model folder"),
)
_DEFAULT_HINT = (
    "vLLM's log names the cause; if the GPU ran out of memory, lower vllm.gpu_memory_utilization "
    "or vllm.max_model_len, or raise vllm.tensor_parallel_size"
)


def diagnose(text: str) -> str:
    """The setting to change for a vLLM failure, from its message (or the tail of its log)."""
    lowered = text.lower()
    for needles, hint in _HINTS:
        if any(n in lowered for n in needles):
            return hint
    return _DEFAULT_HINT


def one_line(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def engine_error(cfg: ModelConfig | JudgeConfig, doing: str, exc: BaseException) -> ProviderError:
    """A one-line error naming the model (or judge), what failed, vLLM's reason and the setting to
    change."""
    cause = one_line(str(exc)) or type(exc).__name__
    return ProviderError(f"{role(cfg)} ({cfg.model_id}): vLLM {doing}: {cause}; {diagnose(str(exc))}")


def response_of(output: Any, latency_s: float, model: str = "") -> ChatResponse:
    """Our response from a finished vLLM RequestOutput. TTFT comes from vLLM's request metrics,
    which exist only when the engine records stats (the async engine does, `LLM` does not)."""
    choices = sorted(output.outputs, key=lambda c: c.index)
    metrics = getattr(output, "metrics", None)
    ttft = getattr(metrics, "first_token_latency", None) or None
    return ChatResponse(
        texts=[c.text for c in choices],
        prompt_tokens=len(output.prompt_token_ids or []),
        output_tokens=sum(len(c.token_ids) for c in choices),
        latency_s=latency_s,
        ttft_s=ttft,
        finish_reasons=[c.finish_reason for c in choices],
        model=model,
        token_logprobs=token_logprobs_of(choices[0]) if choices else None,
    )


def token_logprobs_of(choice: Any) -> list[TokenLogprobs] | None:
    """Each generated token's text and its alternatives, from vLLM's per-position
    {token id: Logprob} maps (None when the request asked for none). Alternatives the
    structured-output mask ruled out come back as -inf: they are left out."""
    positions = getattr(choice, "logprobs", None)
    if not positions:
        return None
    out = []
    for token_id, entry in zip(choice.token_ids, positions):
        chosen = entry.get(token_id)
        text = (chosen.decoded_token if chosen is not None else None) or ""
        top = [(lp.decoded_token or "", float(lp.logprob)) for lp in entry.values() if math.isfinite(lp.logprob)]
        out.append(TokenLogprobs(text, top))
    return out


class OfflineVllmProvider(Provider):
    """A model in this process's vLLM engine. The engine starts here (its start-up time is
    `startup_s`), so a model that cannot load fails before any work, with the setting to change."""

    def __init__(self, cfg: ModelConfig | JudgeConfig, *, runner: Any = None):
        self.cfg = cfg
        self.name = f"vllm:{cfg.name}"
        self.cache_identity = ("vllm", cfg.model_id)
        self.chat_template = read_chat_template(cfg)
        self.startup_s = 0.0
        if runner is None:
            vllm = import_vllm(cfg)
            start = time.perf_counter()
            try:
                if cfg.vllm.data_parallel_size > 1:
                    runner = AsyncEngineRunner(vllm, engine_args(cfg))
                else:
                    runner = LLMRunner(vllm, vllm.LLM(**engine_args(cfg)))
            except Exception as exc:
                raise engine_error(cfg, "could not start the engine", exc) from None
            self.startup_s = time.perf_counter() - start
        self._runner = runner
        self._sampling_params = runner.vllm.SamplingParams
        self._structured = getattr(importlib.import_module(f"{runner.vllm.__name__}.sampling_params"),
                                   "StructuredOutputsParams", None)
        self._lock = threading.Lock()
        self.logprob_abilities = scoring_abilities(cfg) if isinstance(runner, LLMRunner) else frozenset()
        self._scorer: Any = None

    def run_logprob_batch(self, requests: list[Any], on_result: Any, *, progress: Any = None) -> None:
        """Log-probability requests of the scores stage, batched in the same engine."""
        if not self.logprob_abilities:
            super().run_logprob_batch(requests, on_result, progress=progress)  # raises: cannot
            return
        from arena.scoring.vllm_logprobs import VllmLogprobs

        if self._scorer is None:
            self._scorer = VllmLogprobs(self._runner.llm)
        try:
            self._scorer.run(requests, on_result)
        except ProviderError:
            raise
        except Exception as exc:
            raise engine_error(self.cfg, "failed while scoring", exc) from None

    def params(self, request: ChatRequest) -> Any:
        """vLLM's SamplingParams for one request: its sampling, its verdict constraint (structured
        outputs' regex) and how many alternatives to return with each token."""
        args = sampling_args(request)
        if request.logprobs:
            args["logprobs"] = request.logprobs
        if request.regex is not None:
            if self._structured is None:
                raise ProviderError(
                    f"{role(self.cfg)}: this vLLM has no structured outputs (StructuredOutputsParams); "
                    "upgrade vLLM, or set verdict_constraint: none"
                )
            args["structured_outputs"] = self._structured(regex=request.regex)
        return self._sampling_params(**args)

    def run_batch(self, requests: list[ChatRequest], on_result: OnResult, *, progress: Any = None) -> None:
        """Every request as one vLLM batch; each result is reported the moment it finishes.
        Continuations of a started reply render differently (no new assistant turn), so they go
        in a batch of their own."""
        if not requests:
            return
        if self._runner is None:
            raise ProviderError(f"{role(self.cfg)}: the vLLM engine was already shut down")
        for continuing in (False, True):
            where = [i for i, r in enumerate(requests) if r.continue_final == continuing]
            if where:
                self._run_group([requests[i] for i in where], lambda j, result, where=where: on_result(where[j], result),
                                continuing)

    def _run_group(self, requests: list[ChatRequest], on_result: OnResult, continuing: bool) -> None:
        conversations = [r.messages for r in requests]
        params = [self.params(r) for r in requests]
        start = time.perf_counter()

        def on_output(index: int, output: Any) -> None:
            on_result(index, response_of(output, time.perf_counter() - start, self.cfg.model_id))

        try:
            self._runner.run(conversations, params, self.chat_template, on_output, continue_final=continuing)
        except EngineFailure as exc:
            raise engine_error(self.cfg, "failed while generating", exc.__cause__ or exc) from None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One request as a batch of one, off the event loop (the engine blocks while it runs).
        The stage uses run_batch; this serves callers that go through the shared runner."""
        results: list[Any] = []

        def run_one() -> None:
            with self._lock:  # the engine runs one batch at a time
                self.run_batch([request], lambda _, result: results.append(result))

        await asyncio.to_thread(run_one)
        return results[0]

    def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.shutdown()


class LLMRunner:
    """vLLM's offline `LLM`: requests go in through `enqueue_chat` and come out of the engine loop
    that `LLM.chat` itself runs, reported as each finishes rather than all at the end."""

    def __init__(self, vllm: ModuleType, llm: Any):
        self.vllm = vllm
        self.llm = llm

    def run(self, conversations: list[list[dict[str, str]]], params: list[Any], chat_template: str | None,
            on_output: OnOutput, *, continue_final: bool = False) -> None:
        llm = self.llm
        # Only a continuation passes the flags: the plain call stays the one every vLLM takes.
        render = {"add_generation_prompt": False, "continue_final_message": True} if continue_final else {}
        if not hasattr(llm, "enqueue_chat"):
            # vLLM without enqueue_chat: one chat() call, results when the whole batch is done.
            try:
                outputs = llm.chat(conversations, params, use_tqdm=False, chat_template=chat_template, **render)
            except Exception as exc:
                raise EngineFailure(str(exc)) from exc
            for index, output in enumerate(outputs):
                on_output(index, output)
            return
        try:
            ids = llm.enqueue_chat(conversations, params, use_tqdm=False, chat_template=chat_template, **render)
        except Exception as exc:
            raise EngineFailure(str(exc)) from exc
        # Outputs carry the id we gave (LLM's counter); enqueue_chat returns the engine's internal
        # form of it, "<id>-<random suffix>". Map both to the request's place in the batch.
        index_of: dict[str, int] = {}
        for index, rid in enumerate(ids):
            index_of[str(rid)] = index
            index_of[str(rid).split("-", 1)[0]] = index
        engine = llm.llm_engine
        remaining = len(ids)
        while remaining:
            try:
                if not engine.has_unfinished_requests():
                    raise EngineFailure(f"the engine stopped with {remaining} requests unfinished")
                outputs = engine.step()
            except EngineFailure:
                raise
            except Exception as exc:
                raise EngineFailure(str(exc)) from exc
            for output in outputs:
                index = index_of.get(str(output.request_id))
                if output.finished and index is not None:  # None: not this batch's request
                    remaining -= 1
                    on_output(index, output)

    def shutdown(self) -> None:
        # LLM has no shutdown of its own; its engine-core client stops the engine process and so
        # frees the GPU for the next model of the run.
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        try:
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        except Exception as exc:  # the engine may be dead already; nothing left to free then
            log.debug("vLLM engine shutdown: %s", exc)
        self.llm = None
        gc.collect()


class AsyncEngineRunner:
    """vLLM's async engine with data_parallel_size > 1: its client balances requests over the
    replicas. It lives on one event loop of its own for its whole life (its background tasks
    belong to that loop); each batch runs to completion on it."""

    def __init__(self, vllm: ModuleType, args: dict[str, Any]):
        self.vllm = vllm
        self._loop = asyncio.new_event_loop()
        self._batches = 0
        kind = importlib.import_module("vllm.sampling_params").RequestOutputKind
        self._final_only = kind.FINAL_ONLY
        try:
            self.engine = self._loop.run_until_complete(self._build(args))
            tokenizer = self.engine.get_tokenizer()
            if inspect.isawaitable(tokenizer):
                tokenizer = self._loop.run_until_complete(tokenizer)
        except BaseException:
            self._loop.close()
            raise
        self.tokenizer = tokenizer

    async def _build(self, args: dict[str, Any]) -> Any:
        # Built inside the loop so the engine's background tasks attach to it.
        return self.vllm.AsyncLLMEngine.from_engine_args(self.vllm.AsyncEngineArgs(**args))

    def _render(self, conversation: list[dict[str, str]], chat_template: str | None,
                continue_final: bool = False) -> dict[str, Any]:
        """The model's chat template applied as LLM.chat does: the template adds the special
        tokens, so tokenizing adds none."""
        render = {"add_generation_prompt": False, "continue_final_message": True} if continue_final else {
            "add_generation_prompt": True}
        text = self.tokenizer.apply_chat_template(conversation, chat_template=chat_template, tokenize=False, **render)
        return {"prompt_token_ids": list(self.tokenizer.encode(text, add_special_tokens=False))}

    def run(self, conversations: list[list[dict[str, str]]], params: list[Any], chat_template: str | None,
            on_output: OnOutput, *, continue_final: bool = False) -> None:
        self._batches += 1
        batch = self._batches
        engine = self.engine

        async def one(index: int) -> None:
            sampling = params[index]
            sampling.output_kind = self._final_only  # one output per request, not one per token
            final = None
            try:
                prompt = self._render(conversations[index], chat_template, continue_final)
                async for output in engine.generate(prompt, sampling, f"arena-{batch}-{index}"):
                    final = output
            except Exception as exc:
                raise EngineFailure(str(exc)) from exc
            if final is None:
                raise EngineFailure(f"request {index} ended without an output")
            on_output(index, final)

        async def all_requests() -> None:
            tasks = [asyncio.ensure_future(one(i)) for i in range(len(conversations))]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        self._loop.run_until_complete(all_requests())

    def shutdown(self) -> None:
        try:
            self.engine.shutdown()
        except Exception as exc:
            log.debug("vLLM async engine shutdown: %s", exc)
        finally:
            # The engine's background tasks (its output handler) end with the loop.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()
