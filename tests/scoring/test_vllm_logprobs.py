"""Log-probabilities with vLLM's offline engine, on a stand-in LLM whose every figure can be
worked out by hand: which engine requests are made, and what comes back."""

from __future__ import annotations

import pytest

from arena.providers.base import CallFailed, LogprobRequest
from arena.scoring.vllm_logprobs import VllmLogprobs, continuation_ids
from tests.scoring.fake_vllm_logprobs import (
    BOS,
    FakeLLM,
    OldSamplingParams,
    SamplingParams,
    model_logprob,
)

PROMPT = "Which is largest?\nA. Nile\nB. Amazon\nAnswer:"
LETTERS = [" A", " B", " C", " D"]
TEXTS = [" the Nile", " the Amazon river", " a lake", " none"]


def run(scorer: VllmLogprobs, requests: list[LogprobRequest]) -> list:
    got: list[tuple[int, object]] = []
    scorer.run(requests, lambda i, r: got.append((i, r)))
    assert [i for i, _ in got] == list(range(len(requests)))
    return [r for _, r in got]


def expected_sum(llm: FakeLLM, prompt: str, continuation: str) -> float:
    ids = llm.tokenizer.encode(prompt + continuation)
    start = len(llm.tokenizer.encode(prompt))
    return sum(model_logprob(ids[p - 1], ids[p]) for p in range(start, len(ids)))


def test_letters_take_one_engine_request_per_item_with_logprob_token_ids():
    llm = FakeLLM()
    scorer = VllmLogprobs(llm, sampling_params=SamplingParams)
    (result,) = run(scorer, [LogprobRequest(PROMPT, LETTERS)])
    (batch,) = llm.calls
    assert len(batch) == 1
    ids, params = batch[0]
    assert ids == llm.tokenizer.encode(PROMPT) and ids[0] == BOS
    letter_ids = [llm.tokenizer.ids[x] for x in LETTERS]
    assert params.logprob_token_ids == sorted(letter_ids) and params.max_tokens == 1 and params.temperature == 0.0
    assert result.logprobs == [model_logprob(ids[-1], t) for t in letter_ids]
    assert result.token_counts == [1, 1, 1, 1]


def test_texts_sum_prompt_logprobs_of_their_tokens():
    llm = FakeLLM()
    (result,) = run(VllmLogprobs(llm, sampling_params=SamplingParams), [LogprobRequest(PROMPT, TEXTS)])
    (batch,) = llm.calls
    assert len(batch) == 4  # one per option
    assert all(p.prompt_logprobs == 0 and p.detokenize is False and p.flat_logprobs for _, p in batch)
    assert result.logprobs == pytest.approx([expected_sum(llm, PROMPT, t) for t in TEXTS])
    assert result.token_counts == [2, 3, 2, 1]


def test_both_ways_of_scoring_letters_agree():
    """logprob_token_ids (one request) and prompt_logprobs (one per letter, older vLLM) must
    give the same numbers: they read the same distribution."""
    new, old = FakeLLM(), FakeLLM()
    (fast,) = run(VllmLogprobs(new, sampling_params=SamplingParams), [LogprobRequest(PROMPT, LETTERS)])
    scorer = VllmLogprobs(old, sampling_params=OldSamplingParams)
    assert scorer.token_ids_supported is False
    (slow,) = run(scorer, [LogprobRequest(PROMPT, LETTERS)])
    assert len(old.calls[0]) == 4 and all(p.prompt_logprobs == 0 for _, p in old.calls[0])
    assert slow.logprobs == pytest.approx(fast.logprobs)


def test_top_next_tokens_with_their_text():
    llm = FakeLLM()
    llm.tokenizer.encode(" ".join(f"w{i}" for i in range(30)))  # a vocabulary to choose from
    (result,) = run(VllmLogprobs(llm, sampling_params=SamplingParams), [LogprobRequest(PROMPT, top_k=50)])
    ids = llm.tokenizer.encode(PROMPT)
    assert llm.calls[0][0][1].logprobs == 20  # clamped to vLLM's default max_logprobs
    assert len(result.top) >= 20
    for text, value in result.top.items():
        assert value == model_logprob(ids[-1], llm.tokenizer.ids[text])


def test_prompts_too_long_for_the_context_fail_alone():
    llm = FakeLLM(max_model_len=12)
    short = LogprobRequest("Answer:", [" A", " B"])
    long = LogprobRequest(" ".join(["word"] * 20), [" A", " B"])
    results = run(VllmLogprobs(llm, sampling_params=SamplingParams), [short, long, short])
    assert isinstance(results[1], CallFailed) and "does not fit max_model_len 12" in str(results[1])
    assert results[0].logprobs == results[2].logprobs and len(llm.calls[0]) == 2


def test_results_arrive_chunk_by_chunk():
    llm = FakeLLM()
    scorer = VllmLogprobs(llm, sampling_params=SamplingParams, chunk_size=2)
    results = run(scorer, [LogprobRequest(f"Q{i} Answer:", LETTERS) for i in range(5)])
    assert [len(batch) for batch in llm.calls] == [2, 2, 1]
    assert len(results) == 5


def test_continuation_tokens_fall_back_when_the_prompt_tokens_change():
    class Merging:
        """Merges ':' and a following word into one token, as BPE can across the boundary."""

        def encode(self, text, add_special_tokens=True):
            return [ord(c) for c in text.replace(": A", "@")]

    assert continuation_ids(Merging(), "Q:", " B") == [ord(" "), ord("B")]  # prefix kept: the tail
    assert continuation_ids(Merging(), "Q:", " A") == [ord(" "), ord("A")]  # prefix broken: alone


def test_a_vllm_failing_on_logprob_token_ids_falls_back_to_prompt_logprobs():
    class Refusing(FakeLLM):
        def generate(self, prompts, params, use_tqdm=True):
            if any(p.logprob_token_ids for p in params):
                raise RuntimeError("logprob_token_ids not supported by this sampler")
            return super().generate(prompts, params, use_tqdm=use_tqdm)

    llm = Refusing()
    scorer = VllmLogprobs(llm, sampling_params=SamplingParams)
    first, second = run(scorer, [LogprobRequest(PROMPT, LETTERS), LogprobRequest(PROMPT, LETTERS)])
    assert scorer.token_ids_supported is False
    assert first.logprobs == second.logprobs
    assert first.logprobs == pytest.approx([expected_sum(llm, PROMPT, x) for x in LETTERS])


class BatchTokenizer:
    """A Hugging Face-style tokenizer: `tokenizer(texts)["input_ids"]` encodes a batch."""

    def __init__(self, inner):
        self.inner = inner
        self.batches: list[int] = []
        self.single = 0

    def __call__(self, texts):
        self.batches.append(len(texts))
        return {"input_ids": [self.inner.encode(t) for t in texts]}

    def encode(self, text, add_special_tokens=True):
        self.single += 1
        return self.inner.encode(text, add_special_tokens=add_special_tokens)

    def decode(self, ids):
        return self.inner.decode(ids)

    @property
    def words(self):  # the fake engine reads its vocabulary here
        return self.inner.words


def test_a_batch_tokenizer_encodes_every_text_of_a_chunk_in_one_call_with_the_same_results():
    requests = [LogprobRequest(PROMPT, TEXTS), LogprobRequest(PROMPT, LETTERS), LogprobRequest(PROMPT, TEXTS)]
    plain_llm = FakeLLM()
    plain = run(VllmLogprobs(plain_llm, sampling_params=SamplingParams), requests)
    llm = FakeLLM()
    tokenizer = BatchTokenizer(llm.tokenizer)
    llm.tokenizer = tokenizer
    batched = run(VllmLogprobs(llm, sampling_params=SamplingParams), requests)
    # Distinct texts: the prompt + 4 + 4 prompt+continuation texts (the third request repeats the first).
    assert tokenizer.batches == [9] and tokenizer.single == 0
    assert [r.logprobs for r in batched] == [r.logprobs for r in plain]
    assert [r.token_counts for r in batched] == [r.token_counts for r in plain]
