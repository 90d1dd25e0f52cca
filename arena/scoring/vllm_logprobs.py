"""Log-probabilities from vLLM's offline engine (`vllm.LLM`), for rule-based scoring.

`VllmLogprobs(llm).run(requests, on_result)` answers `LogprobRequest`s (arena.providers.base)
in batches, each batch one `LLM.generate` call over token-id prompts:

- Continuations of one token each (the letters ` A`..` D`): ONE engine request per item, the
  prompt alone with `max_tokens=1` and `logprob_token_ids` = the letters' ids, so vLLM returns
  exactly those tokens' log-probabilities for the next position, and the prompt's KV cache can
  be shared with other requests (prefix caching). Without `logprob_token_ids` (vLLM before it
  had it) the letters go the general way below.
- Other continuations (full option texts): one engine request per continuation, prompt and
  continuation together with `prompt_logprobs=0`, which returns the log-probability of every
  prompt token given the ones before it; the continuation's tokens are summed. vLLM skips the
  prefix cache for such requests (every position's logits are needed).
- Top next tokens: `max_tokens=1, logprobs=k`.

Tokenisation: the prompt is encoded as vLLM encodes a text prompt (special tokens included);
the continuation's tokens are those of prompt+continuation past the prompt's own, so a word is
split as it would be in running text. Greedy (`temperature=0`) throughout: only the
log-probabilities are read, and they are the model's own, before any sampling settings.

vLLM is not imported here: the module works on the `llm` object it is given (and the
`SamplingParams` class of the same vLLM), so the provider that owns the engine decides when to
load it. The vllm provider exposes this through `Provider.run_logprob_batch` (docs/SCORES.md).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arena.providers.base import CallFailed, LogprobRequest, LogprobResponse, OnLogprobs

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 512  # LogprobRequests per LLM.generate call: results are reported after each
MAX_TOP_K = 20  # vLLM's default max_logprobs


@dataclass
class EngineRequest:
    """One engine request: which LogprobRequest it serves, and how to read its output."""

    owner: int
    kind: str  # "letters" | "continuation" | "top"
    prompt_ids: list[int]
    params: Any
    slot: int = 0  # continuation index (kind "continuation")
    start: int = 0  # first continuation token's position in prompt_ids
    token_ids: tuple[int, ...] = ()  # kind "letters": one id per continuation


class VllmLogprobs:
    def __init__(self, llm: Any, *, sampling_params: Any = None, chunk_size: int = DEFAULT_CHUNK):
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()
        self.SamplingParams = sampling_params or importlib.import_module("vllm").SamplingParams
        self.chunk_size = chunk_size
        self.max_model_len = _max_model_len(llm)
        self.token_ids_supported = self._accepts(logprob_token_ids=[0])
        self._flat = {"flat_logprobs": True} if self._accepts(flat_logprobs=True) else {}

    def _accepts(self, **kwargs: Any) -> bool:
        """Whether this vLLM's SamplingParams has the given option."""
        try:
            self.SamplingParams(max_tokens=1, **kwargs)
        except TypeError:
            return False
        return True

    def run(self, requests: list[LogprobRequest], on_result: OnLogprobs) -> None:
        """Answer every request, reporting each through `on_result` after its batch finishes.
        A request whose prompt does not fit the model's context is reported as CallFailed."""
        for begin in range(0, len(requests), self.chunk_size):
            chunk = range(begin, min(begin + self.chunk_size, len(requests)))
            jobs: list[EngineRequest] = []
            failed: dict[int, CallFailed] = {}
            encoded = self.encode_all([requests[i] for i in chunk])
            for index in chunk:
                try:
                    jobs += self.engine_requests(index, requests[index], encoded)
                except CallFailed as exc:
                    failed[index] = exc
            start = time.perf_counter()
            try:
                outputs = self._generate(jobs)
            except Exception as exc:
                if not any(j.kind == "letters" for j in jobs):
                    raise
                # A vLLM that takes logprob_token_ids but fails on it: score the letters the
                # general way (prompt_logprobs) from here on; a dead engine fails again, for real.
                log.warning("vLLM failed on logprob_token_ids (%s); scoring single tokens through prompt_logprobs", exc)
                self.token_ids_supported = False
                jobs = [j for index in chunk if index not in failed for j in self.engine_requests(index, requests[index])]
                outputs = self._generate(jobs)
            latency = time.perf_counter() - start
            results = {i: LogprobResponse(latency_s=latency) for i in chunk if i not in failed}
            for index in results:
                n = len(requests[index].continuations)
                results[index].logprobs = [0.0] * n
                results[index].token_counts = [0] * n
            for job, output in zip(jobs, outputs):
                _read(job, output, results[job.owner], self._token_text)
            for index in chunk:
                on_result(index, failed.get(index) or results[index])

    def _generate(self, jobs: list[EngineRequest]) -> list[Any]:
        if not jobs:
            return []
        return self.llm.generate([{"prompt_token_ids": j.prompt_ids} for j in jobs], [j.params for j in jobs], use_tqdm=False)

    def encode_all(self, requests: list[LogprobRequest]) -> dict[str, list[int]]:
        """Token ids of every text the requests need (each prompt, and prompt + continuation),
        in one batch call: a fast tokenizer encodes a batch on every core, where one call per
        text kept the engine waiting on 3 ms of tokenising per 5-shot MMLU question (5 texts
        of ~700 tokens each) on an H200 machine."""
        texts = list(dict.fromkeys(t for r in requests for t in (r.prompt, *(r.prompt + c for c in r.continuations))))
        if not texts:
            return {}
        ids = None
        if callable(self.tokenizer):  # Hugging Face tokenizers: batch encoding
            try:
                ids = self.tokenizer(texts)["input_ids"]
            except (TypeError, KeyError, AttributeError, ValueError):
                ids = None  # another kind of tokenizer: one text at a time
        if ids is None or len(ids) != len(texts):
            ids = [self.tokenizer.encode(t) for t in texts]
        return {text: list(token_ids) for text, token_ids in zip(texts, ids)}

    def engine_requests(self, owner: int, request: LogprobRequest,
                        encoded: dict[str, list[int]] | None = None) -> list[EngineRequest]:
        """The engine requests that answer `request` (see the module docstring); CallFailed where
        its prompt does not fit the context. `encoded`: token ids from `encode_all`."""
        def encode(text: str) -> list[int]:
            found = encoded.get(text) if encoded is not None else None
            return found if found is not None else list(self.tokenizer.encode(text))

        prompt_ids = encode(request.prompt)
        if not request.continuations:
            self._check_fits(len(prompt_ids) + 1)
            k = max(1, min(request.top_k, MAX_TOP_K))
            return [EngineRequest(owner, "top", prompt_ids, self.SamplingParams(max_tokens=1, temperature=0.0, logprobs=k))]
        splits = [continuation_ids(self.tokenizer, request.prompt, c, prompt_ids, encode(request.prompt + c))
                  for c in request.continuations]
        if self.token_ids_supported and all(len(ids) == 1 for ids in splits):
            ids = tuple(s[0] for s in splits)
            self._check_fits(len(prompt_ids) + 1)
            params = self.SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=sorted(set(ids)))
            return [EngineRequest(owner, "letters", prompt_ids, params, token_ids=ids)]
        jobs = []
        for slot, ids in enumerate(splits):
            self._check_fits(len(prompt_ids) + len(ids) + 1)
            params = self.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False, **self._flat)
            jobs.append(EngineRequest(owner, "continuation", prompt_ids + ids, params, slot=slot, start=len(prompt_ids)))
        return jobs

    def _check_fits(self, tokens: int) -> None:
        if self.max_model_len is not None and tokens > self.max_model_len:
            raise CallFailed(f"prompt of {tokens} tokens does not fit max_model_len {self.max_model_len}")

    def _token_text(self, token_id: int, logprob: Any) -> str:
        text = getattr(logprob, "decoded_token", None)
        return text if text is not None else self.tokenizer.decode([token_id])


def continuation_ids(tokenizer: Any, prompt: str, continuation: str, prompt_ids: Sequence[int] | None = None,
                     whole_ids: Sequence[int] | None = None) -> list[int]:
    """The continuation's tokens as they fall after the prompt: those of prompt+continuation past
    the prompt's own tokens where the prompt's tokens are a prefix, else the continuation alone."""
    prompt_ids = list(prompt_ids) if prompt_ids is not None else list(tokenizer.encode(prompt))
    whole = list(whole_ids) if whole_ids is not None else list(tokenizer.encode(prompt + continuation))
    if len(whole) > len(prompt_ids) and whole[: len(prompt_ids)] == prompt_ids:
        return whole[len(prompt_ids):]
    return list(tokenizer.encode(continuation, add_special_tokens=False))


def _read(job: EngineRequest, output: Any, result: LogprobResponse, token_text: Callable[[int, Any], str]) -> None:
    if job.kind == "top":
        position = output.outputs[0].logprobs[0]
        result.top = {token_text(tid, lp): float(lp.logprob) for tid, lp in position.items()}
    elif job.kind == "letters":
        position = output.outputs[0].logprobs[0]
        result.logprobs = [float(position[tid].logprob) for tid in job.token_ids]
        result.token_counts = [1] * len(job.token_ids)
    else:
        prompt_logprobs = output.prompt_logprobs
        total = 0.0
        for pos in range(job.start, len(job.prompt_ids)):
            total += float(prompt_logprobs[pos][job.prompt_ids[pos]].logprob)
        result.logprobs[job.slot] = total
        result.token_counts[job.slot] = len(job.prompt_ids) - job.start


def _max_model_len(llm: Any) -> int | None:
    for path in (("llm_engine", "model_config", "max_model_len"), ("model_config", "max_model_len")):
        node = llm
        for name in path:
            node = getattr(node, name, None)
        if isinstance(node, int):
            return node
    return None
