"""A stand-in for the `vllm` package: the parts of vLLM 0.26's API the vllm provider and the GPU
benchmark call (`LLM` with `enqueue_chat`/`chat` and its engine loop, `SamplingParams`,
`AsyncLLMEngine`/`AsyncEngineArgs`, `RequestOutputKind`), recording what they were asked.

Answers are deterministic text derived from the conversation and the choice, so a test can
check that turn 2 was built from turn 1's answers. Requests finish out of order, a few per
engine step, as in a real engine. `install(monkeypatch, engine)` puts the module in
sys.modules, where the provider's lazy `import vllm` finds it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import types
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tests.providers.fake_judge import judge_reply


@dataclass
class FakeEngine:
    """Knobs and records shared by every fake engine object of one test."""

    init_error: Exception | None = None  # raised by LLM(...) / from_engine_args
    fail_after: int | None = None  # the engine dies after this many finished requests
    step_size: int = 3  # requests finished per engine step
    engines: list[dict[str, Any]] = field(default_factory=list)  # constructor kwargs
    batches: list[list[tuple[list[dict[str, str]], Any]]] = field(default_factory=list)
    chat_templates: list[str | None] = field(default_factory=list)
    finished: int = 0
    shutdowns: int = 0
    stats: bool = False  # attach request metrics (TTFT) to outputs
    cut_first: bool = False  # constrained replies run out of tokens before the verdict (not continuations)
    render_flags: list[dict[str, Any]] = field(default_factory=list)  # chat()/enqueue_chat() rendering kwargs
    events: list[str] = field(default_factory=list)  # "start <model>" / "shutdown" in order
    tag: str = ""  # appended to every unconstrained answer (a replica names its process with it)
    exit_after: int | None = None  # the process dies (exit code 9) after this many finished requests
    step_s: float = 0.0  # how long each engine step takes
    shutdown_marker: str | None = None  # a file each engine shutdown appends its process id to


class RequestOutputKind(Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


class StructuredOutputsParams:
    def __init__(self, regex: str | None = None, **kwargs: Any):
        self.regex = regex


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


class SamplingParams:
    def __init__(self, **kwargs: Any):
        self.kwargs = dict(kwargs)
        self.n = kwargs.get("n", 1)
        self.temperature = kwargs.get("temperature", 1.0)
        self.max_tokens = kwargs.get("max_tokens", 16)
        self.seed = kwargs.get("seed")
        self.output_kind = RequestOutputKind.CUMULATIVE


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None
    logprobs: list[dict[int, Logprob]] | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True
    metrics: Any = None


def answer_text(conversation: list[dict[str, str]], choice: int) -> str:
    """The fake model's answer: names the choice and echoes the last user turn."""
    return f"answer {choice} after {len(conversation)} messages to: {conversation[-1]['content'][:30]}"


_VOCAB: dict[str, int] = {}


def _token_id(text: str) -> int:
    return _VOCAB.setdefault(text, 1000 + len(_VOCAB))


def _judge_output(state: FakeEngine, request_id: str, conversation: list[dict[str, str]], params: SamplingParams,
                  continuing: bool) -> RequestOutput:
    """A constrained judge request: a reply matching its regex (tests/providers/fake_judge.py)."""
    text, tokens, finish = judge_reply(conversation, params.kwargs["structured_outputs"].regex,
                                       continuing=continuing, cut=state.cut_first)
    if finish == "stop":  # like vLLM: the end-of-turn token is generated but not in the text
        tokens = [*tokens, ("<|im_end|>", [("<|im_end|>", 0.0)])]
    ids = [_token_id(t) for t, _ in tokens]
    logprobs = None
    if params.kwargs.get("logprobs"):
        logprobs = [{_token_id(alt): Logprob(lp, rank, alt) for rank, (alt, lp) in enumerate(top, 1)} for _, top in tokens]
    prompt_tokens = sum(len(m["content"].split()) for m in conversation)
    return RequestOutput(request_id, list(range(prompt_tokens)), [CompletionOutput(0, text, ids, finish, logprobs)])


def _output(state: FakeEngine, request_id: str, conversation: list[dict[str, str]], params: SamplingParams,
            continuing: bool = False) -> RequestOutput:
    if params.kwargs.get("structured_outputs") is not None:
        return _judge_output(state, request_id, conversation, params, continuing)
    prompt_tokens = sum(len(m["content"].split()) for m in conversation) + 3 * len(conversation)
    outs = []
    for choice in range(params.n):
        text = answer_text(conversation, choice) + state.tag
        tokens = params.max_tokens if params.kwargs.get("ignore_eos") else min(len(text.split()), params.max_tokens)
        outs.append(CompletionOutput(choice, text, list(range(tokens)), "length" if tokens == params.max_tokens else "stop"))
    metrics = types.SimpleNamespace(first_token_latency=0.05) if state.stats else None
    return RequestOutput(request_id, list(range(prompt_tokens)), list(reversed(outs)), metrics=metrics)


def _count_finished(state: FakeEngine) -> None:
    if state.exit_after is not None and state.finished >= state.exit_after:
        os._exit(9)
    if state.fail_after is not None and state.finished >= state.fail_after:
        raise RuntimeError("EngineCore encountered an issue: CUDA error: out of memory")
    state.finished += 1


class _EngineCore:
    def __init__(self, state: FakeEngine):
        self.state = state

    def shutdown(self) -> None:
        self.state.shutdowns += 1
        self.state.events.append("shutdown")
        if self.state.shutdown_marker:  # a replica's shutdown, seen from the test's process
            with open(self.state.shutdown_marker, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")


class _LLMEngine:
    """The engine loop LLM.chat runs: requests in, finished outputs out of step()."""

    def __init__(self, state: FakeEngine):
        self.state = state
        self.engine_core = _EngineCore(state)
        self.queue: list[tuple[str, list[dict[str, str]], SamplingParams, bool]] = []

    def has_unfinished_requests(self) -> bool:
        return bool(self.queue)

    def step(self) -> list[RequestOutput]:
        if self.state.step_s:
            time.sleep(self.state.step_s)
        # Finish the newest requests first: outputs arrive out of submission order.
        done, self.queue = self.queue[-self.state.step_size:], self.queue[: -self.state.step_size]
        outputs = []
        for request_id, conversation, params, continuing in reversed(done):
            _count_finished(self.state)
            outputs.append(_output(self.state, request_id, conversation, params, continuing))
        return outputs


class LLMWithoutEnqueue:
    """An older vLLM's LLM: chat() only, results when the whole batch is done."""

    def __init__(self, model: str, **kwargs: Any):
        self.state: FakeEngine = self.__class__.state
        self.state.engines.append({"model": model, **kwargs})
        self.state.events.append(f"start {model}")
        if self.state.init_error is not None:
            raise self.state.init_error
        self.llm_engine = _LLMEngine(self.state)
        self._counter = 0

    def _record(self, messages: list[list[dict[str, str]]], params: list[SamplingParams], chat_template: str | None) -> None:
        assert isinstance(params, list) and len(params) == len(messages), "one SamplingParams per conversation"
        self.state.batches.append(list(zip(messages, params)))
        self.state.chat_templates.append(chat_template)

    def chat(self, messages, sampling_params, use_tqdm=True, chat_template=None, **kwargs: Any) -> list[RequestOutput]:
        self._record(messages, sampling_params, chat_template)
        self.state.render_flags.append(dict(kwargs))
        continuing = _continuing(messages, kwargs)
        outputs = []
        for conversation, params in zip(messages, sampling_params):
            self._counter += 1
            _count_finished(self.state)
            outputs.append(_output(self.state, str(self._counter), conversation, params, continuing))
        return outputs

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    def reset_prefix_cache(self) -> bool:
        return True


class LLM(LLMWithoutEnqueue):
    """vLLM 0.26's LLM: enqueue_chat() adds requests; the engine loop finishes them."""

    def enqueue_chat(self, messages, sampling_params, use_tqdm=True, chat_template=None, **kwargs: Any) -> list[str]:
        self._record(messages, sampling_params, chat_template)
        self.state.render_flags.append(dict(kwargs))
        continuing = _continuing(messages, kwargs)
        ids = []
        for conversation, params in zip(messages, sampling_params):
            self._counter += 1
            self.llm_engine.queue.append((str(self._counter), conversation, params, continuing))
            ids.append(f"{self._counter}-1a2b3c4d")  # vLLM's internal id: ours plus a random suffix
        return ids


def _continuing(messages: list[list[dict[str, str]]], kwargs: dict[str, Any]) -> bool:
    """vLLM's rule: continue_final_message renders the last (assistant) message open, and
    excludes add_generation_prompt."""
    if not kwargs.get("continue_final_message"):
        return False
    assert kwargs.get("add_generation_prompt") is False, "continue_final_message needs add_generation_prompt=False"
    assert all(m[-1]["role"] == "assistant" for m in messages), "only an assistant message can be continued"
    return True


class FakeTokenizer:
    """Renders a chat as text; token ids are the characters, so the engine can read it back."""

    def apply_chat_template(self, conversation, chat_template=None, tokenize=False, add_generation_prompt=True,
                            continue_final_message=False):
        assert tokenize is False and add_generation_prompt != continue_final_message
        text = "\n".join(f"<{m['role']}>{m['content']}" for m in conversation)
        # A continued reply stays open: marked so the engine can tell (a real template leaves
        # out the end-of-turn token).
        return text + ("\n<continue>" if continue_final_message else "\n<assistant>")

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        assert add_special_tokens is False, "the chat template already holds the special tokens"
        return [ord(c) for c in text]


def _parse(text: str) -> list[dict[str, str]]:
    messages = []
    for line in text.split("\n<")[:-1]:
        role, content = line.lstrip("<").split(">", 1)
        messages.append({"role": role, "content": content})
    return messages


class AsyncEngineArgs:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs


class AsyncLLMEngine:
    """The async engine behind vLLM's server: one generate() stream per request."""

    def __init__(self, state: FakeEngine):
        self.state = state
        self.loop = asyncio.get_running_loop()  # the provider must build it inside its loop
        self.batch_index: dict[str, int] = {}
        # Like vLLM's output handler: a task that lives on the engine's loop until shutdown.
        self.output_handler = asyncio.ensure_future(asyncio.sleep(3600))

    @classmethod
    def from_engine_args(cls, args: AsyncEngineArgs) -> AsyncLLMEngine:
        state: FakeEngine = cls.state
        state.engines.append(dict(args.kwargs))
        state.events.append(f"start {args.kwargs.get('model')}")
        if state.init_error is not None:
            raise state.init_error
        return cls(state)

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    async def generate(self, prompt: dict[str, Any], sampling_params: SamplingParams, request_id: str):
        assert asyncio.get_running_loop() is self.loop, "every batch must run on the engine's loop"
        assert sampling_params.output_kind is RequestOutputKind.FINAL_ONLY
        rendered = "".join(chr(i) for i in prompt["prompt_token_ids"])
        continuing = rendered.endswith("\n<continue>")
        conversation = _parse(rendered)
        batch = request_id.rsplit("-", 1)[0]  # "arena-<batch>-<index>"
        if batch not in self.batch_index:
            self.batch_index[batch] = len(self.state.batches)
            self.state.batches.append([])
        self.state.batches[self.batch_index[batch]].append((conversation, sampling_params))
        await asyncio.sleep(0)
        _count_finished(self.state)
        yield _output(self.state, request_id, conversation, sampling_params, continuing)

    def shutdown(self) -> None:
        self.state.shutdowns += 1
        self.state.events.append("shutdown")


def install(monkeypatch: Any, engine: FakeEngine, *, enqueue: bool = True) -> types.ModuleType:
    """Make `import vllm` return a fake module backed by `engine`."""
    module = types.ModuleType("vllm")
    module.__version__ = "0.26.0-fake"
    llm_class = LLM if enqueue else LLMWithoutEnqueue
    module.LLM = type("LLM", (llm_class,), {"state": engine})
    module.AsyncLLMEngine = type("AsyncLLMEngine", (AsyncLLMEngine,), {"state": engine})
    module.AsyncEngineArgs = AsyncEngineArgs
    module.SamplingParams = SamplingParams
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.RequestOutputKind = RequestOutputKind
    sampling.SamplingParams = SamplingParams
    sampling.StructuredOutputsParams = StructuredOutputsParams
    module.sampling_params = sampling
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return module


class _Modules:
    """monkeypatch's setitem, for a process that ends with the test's worker."""

    def setitem(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        mapping[key] = value


class EchoScorer:
    """Stands in for arena.scoring.vllm_logprobs.VllmLogprobs: each continuation's
    log-probability is minus its length, so a result reported under the wrong index shows."""

    def __init__(self, llm: Any):
        self.llm = llm

    def run(self, requests: list[Any], on_result: Any) -> None:
        from arena.providers.base import LogprobResponse

        for i, request in enumerate(requests):
            on_result(i, LogprobResponse(logprobs=[-float(len(c)) for c in request.continuations],
                                         token_counts=[len(c.split()) for c in request.continuations]))


def install_in_process(*, init_error: str | None = None, fail_on_gpus: str | None = None, tag_gpus: bool = False,
                       echo_scorer: bool = False, **knobs: Any) -> None:
    """The fake module in a spawned vLLM replica (arena.providers.vllm_replicas' `setup`). Knobs
    are FakeEngine's; init_error is raised by LLM(...) on the replica whose CUDA_VISIBLE_DEVICES
    is fail_on_gpus (every replica when None); tag_gpus ends each answer with the replica's GPUs
    and process id; echo_scorer puts EchoScorer in place of vLLM's scorer."""
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if echo_scorer:
        import arena.scoring.vllm_logprobs

        arena.scoring.vllm_logprobs.VllmLogprobs = EchoScorer  # type: ignore[misc]
    engine = FakeEngine(**knobs)
    if init_error is not None and fail_on_gpus in (None, gpus):
        engine.init_error = RuntimeError(init_error)
    if tag_gpus:
        engine.tag = f" [gpus {gpus} pid {os.getpid()}]"
    install(_Modules(), engine)
