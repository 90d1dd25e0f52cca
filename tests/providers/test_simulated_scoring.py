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


def test_items_are_hard_for_everyone_so_accuracy_follows_strength():
    """Every item has one difficulty for all models: a stronger model knows every item a weaker
    one knows, and a model that does not know an item leans to the same distractors as the
    others. So over the same items accuracy ranks models by strength in every style."""
    p = SimulatedProvider("m", seed=0, strengths={f"s{s}": s for s in (850, 920, 980, 1020, 1080, 1150)})
    models = [f"s{s}" for s in (850, 920, 980, 1020, 1080, 1150)]
    known = {m: {i for i in range(200) if p._item_logits(meta(m, i, "x"))[0]} for m in models}
    for weaker, stronger in zip(models, models[1:]):
        assert known[weaker] <= known[stronger] and len(known[weaker]) < len(known[stronger])
    accuracy = [sum(letter_logprob_choice(letter_logprobs(p, m, i)) == 2 for i in range(200)) for m in models]
    # Up to the models' own guessing noise (40 Elo apart is a few items): in order, and far apart
    # at the ends.
    assert all(b >= a - 3 for a, b in zip(accuracy, accuracy[1:])) and accuracy[-1] - accuracy[0] > 60, accuracy
    # Models that know nothing of an item mostly pick the same option.
    weakest = [letter_logprob_choice(letter_logprobs(p, "s850", i)) for i in range(200) if i not in known["s1150"]]
    next_weakest = [letter_logprob_choice(letter_logprobs(p, "s920", i)) for i in range(200) if i not in known["s1150"]]
    assert sum(a == b for a, b in zip(weakest, next_weakest)) / len(weakest) > 0.4  # chance: about 0.25
