"""A stand-in for vLLM's offline `LLM` as the scoring code uses it: `generate` over token-id
prompts with `prompt_logprobs`, `logprobs` and `logprob_token_ids`, a tokenizer, and the engine's
`max_model_len`. The "model" gives every token a log-probability that depends on the token
before it, so a test can work out every expected figure by hand (`model_logprob`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

WORD = re.compile(r" ?[^ ]+| +")
BOS = 0


def model_logprob(previous: int, token: int) -> float:
    """log P(token | previous token) of the fake model."""
    return -(1.0 + ((previous * 31 + token * 17) % 7) * 0.5)


class FakeTokenizer:
    """Words with their leading space are tokens; ids are handed out as words are first seen.
    A BOS token starts every text encoded with special tokens."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"<s>": BOS}
        self.words: dict[int, str] = {BOS: "<s>"}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        out = [BOS] if add_special_tokens else []
        for word in WORD.findall(text):
            if word not in self.ids:
                self.ids[word] = len(self.ids)
                self.words[self.ids[word]] = word
            out.append(self.ids[word])
        return out

    def decode(self, ids: list[int]) -> str:
        return "".join(self.words[i] for i in ids)


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


class SamplingParams:
    """Accepts the options of vLLM 0.26's SamplingParams that the scoring code uses."""

    OPTIONS = {"max_tokens", "temperature", "logprobs", "prompt_logprobs", "detokenize", "logprob_token_ids", "flat_logprobs"}

    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - self.OPTIONS
        if unknown:
            raise TypeError(f"Unexpected keyword argument {sorted(unknown)[0]!r}")
        self.kwargs = kwargs

    def __getattr__(self, name: str) -> Any:
        if name in SamplingParams.OPTIONS:
            return self.__dict__["kwargs"].get(name)
        raise AttributeError(name)


class OldSamplingParams(SamplingParams):
    """A vLLM from before `logprob_token_ids` and `flat_logprobs`."""

    OPTIONS = SamplingParams.OPTIONS - {"logprob_token_ids", "flat_logprobs"}


@dataclass
class FakeLLM:
    max_model_len: int = 64
    calls: list[list[tuple[list[int], SamplingParams]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokenizer = FakeTokenizer()
        self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=self.max_model_len))

    def get_tokenizer(self) -> FakeTokenizer:
        return self.tokenizer

    def generate(self, prompts: list[dict[str, list[int]]], params: list[SamplingParams], use_tqdm: bool = True) -> list[Any]:
        assert use_tqdm is False and len(prompts) == len(params)
        batch = [(p["prompt_token_ids"], sp) for p, sp in zip(prompts, params)]
        self.calls.append(batch)
        return [self._output(ids, sp) for ids, sp in batch]

    def _output(self, ids: list[int], params: SamplingParams) -> Any:
        assert len(ids) + (params.max_tokens or 0) <= self.max_model_len, "prompt longer than the context"
        prompt_logprobs = None
        if params.prompt_logprobs is not None:
            prompt_logprobs = [None] + [{ids[p]: Logprob(model_logprob(ids[p - 1], ids[p]))} for p in range(1, len(ids))]
        last = ids[-1]
        vocab = list(self.tokenizer.words)
        greedy = max(vocab, key=lambda t: model_logprob(last, t))
        position: dict[int, Logprob] = {greedy: Logprob(model_logprob(last, greedy), decoded_token=self.tokenizer.words[greedy])}
        if params.logprob_token_ids:
            position.update({t: Logprob(model_logprob(last, t)) for t in params.logprob_token_ids})
        if params.logprobs:
            for t in sorted(vocab, key=lambda t: -model_logprob(last, t))[: params.logprobs]:
                position[t] = Logprob(model_logprob(last, t), decoded_token=self.tokenizer.words[t])
        sample = [position] if (params.logprobs or params.logprob_token_ids) else None
        return SimpleNamespace(prompt_logprobs=prompt_logprobs, outputs=[SimpleNamespace(logprobs=sample, token_ids=[greedy])])
