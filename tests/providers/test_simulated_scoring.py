"""The simulator answers every scoring style, seeded, with strength driving accuracy."""

from __future__ import annotations

import asyncio

from arena.providers.base import ChatRequest, LogprobRequest
from arena.providers.simulated import SimulatedProvider
from arena.scoring.normalize import exact_match, extract_short_answer
from arena.scoring.styles import (
    generated_letter_choice,
    letter_logprob_choice,
    letter_logprobs_from_top,
)


def sim(seed: int = 0) -> SimulatedProvider:
    return SimulatedProvider("m", seed=seed, strengths={"strong": 1250, "weak": 750})


def meta(model: str, item: int, style: str, gold: int = 2) -> dict:
    return {"kind": "score", "model": model, "benchmark": "b", "item_id": str(item), "style": style,
            "n_choices": 4, "gold": gold, "references": ["1000"]}


def letter_logprobs(p: SimulatedProvider, model: str, item: int) -> list[float]:
    request = LogprobRequest("Answer:", [" A", " B", " C", " D"], meta=meta(model, item, "letter_logprob"))
    return asyncio.run(p.continuation_logprobs(request)).logprobs


def test_seeded_and_strength_driven():
    assert letter_logprobs(sim(), "strong", 1) == letter_logprobs(sim(), "strong", 1)
    assert letter_logprobs(sim(1), "strong", 1) != letter_logprobs(sim(0), "strong", 1)
    accuracy = {}
    for model in ("strong", "weak"):
        picks = [letter_logprob_choice(letter_logprobs(sim(), model, i)) for i in range(400)]
        accuracy[model] = sum(p == 2 for p in picks) / 400
    assert accuracy["strong"] > 0.8 and 0.25 < accuracy["weak"] < 0.5


def test_letters_are_a_distribution_and_top_tokens_hold_them():
    p = sim()
    logprobs = letter_logprobs(p, "weak", 3)
    assert 0.85 < sum(2.718281828 ** x for x in logprobs) < 0.95  # a tenth left for other tokens
    top = asyncio.run(p.next_token_logprobs(LogprobRequest("Answer:", top_k=20, meta=meta("weak", 3, "letter_logprob")))).top
    assert letter_logprobs_from_top(top, 4) == [x for x in logprobs]
    assert len(asyncio.run(p.next_token_logprobs(LogprobRequest("Answer:", top_k=2, meta=meta("weak", 3, "x")))).top) == 2


def test_full_texts_pay_for_their_length():
    request = LogprobRequest("Answer:", [" ok", " a much longer option text here"], meta=meta("strong", 5, "text_logprob", gold=0))
    result = asyncio.run(sim().continuation_logprobs(request))
    assert result.token_counts == [1, 7]
    assert result.logprobs[1] < result.logprobs[0] - 3  # about a nat per token


def test_generations_parse_in_every_format_and_exact_answers_normalise():
    p = sim()
    letters = [asyncio.run(p.complete(ChatRequest([{"role": "user", "content": "Q"}], 8, meta=meta("strong", i, "generate_letter")))).text
               for i in range(200)]
    parsed = [generated_letter_choice(t, 4) for t in letters]
    assert sum(x is None for x in parsed) < 30  # a few unreadable answers, as real models give
    assert sum(x == 2 for x in parsed) > 140
    answers = [asyncio.run(p.complete(ChatRequest([{"role": "user", "content": "Q"}], 8, meta=meta("strong", i, "exact_match")))).text
               for i in range(200)]
    assert len(set(answers)) > 3  # "1000", "1,000", "$1000", "The answer is 1000." ...
    assert sum(exact_match(extract_short_answer(a), ["1000"]) for a in answers) > 140


def test_other_requests_still_get_stable_logprobs():
    request = LogprobRequest("free text", [" x", " yy zz"])
    first = asyncio.run(sim().continuation_logprobs(request))
    assert first == asyncio.run(sim().continuation_logprobs(request))
    assert all(x < 0 for x in first.logprobs)
