"""The dry-run simulator: seeded stand-ins for candidate models and judges.

Candidates write deterministic text of varied length (with some markdown), so the answers stage,
style features and the dashboard have something realistic to chew on. Judges draw verdicts from a
Bradley-Terry model over latent strengths on the Elo scale, with a known position bias, ties,
optional length bias and optional missing verdicts, and write a short reasoning that ends in the
verdict format their template asks for, so the real verdict parser runs on it. A dry run is
therefore a real test: ratings must recover the latent order and the bias report the known bias.

The simulator reads who is who from `ChatRequest.meta` (which real providers ignore); everything
else it sees is the real prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time

from arena.config import ClientConfig, SimulatedJudgeConfig
from arena.providers.base import ChatRequest, ChatResponse, Provider

_WORDS = (
    "answer approach careful clear concrete consider context detail direct effective evidence example "
    "explain first focus general helpful idea important key method note option outcome point practical "
    "precise question reason relevant result review simple solution specific step summary therefore "
    "useful value way work main further case check common compare"
).split()
_QUALITY = ("thorough and accurate", "mostly correct", "clear but thin", "partly off target", "vague")


def derived_strength(name: str) -> float:
    """A stable latent strength for a model with none configured: 1000 +- 200 from its name."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return 800.0 + (int.from_bytes(digest[:4], "big") / 2**32) * 400.0


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _tokens(text: str) -> int:
    # Simulated token counts: about four characters a token, as for English with BPE vocabularies.
    return max(1, len(text) // 4)


class SimulatedProvider(Provider):
    """One simulated model or judge. `strengths` holds every candidate's latent Elo strength."""

    def __init__(
        self,
        name: str,
        *,
        seed: int,
        strengths: dict[str, float],
        verbosity: float = 1.0,
        judge: SimulatedJudgeConfig | None = None,
        latency_s: float = 0.0,
        client: ClientConfig | None = None,
    ):
        self.name = f"simulated:{name}"
        self.cache_identity = ("simulated", name)
        self.seed = seed
        self.strengths = strengths
        self.verbosity = verbosity
        self.judge = judge
        self.latency_s = latency_s
        # Concurrency limits apply to the simulator too, so a dry run exercises the real runner.
        self.client = client or ClientConfig()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        meta = request.meta
        if meta.get("kind") == "judge":
            texts = [self._judge_text(meta)]
        else:
            texts = [self._answer_text(meta, request, i) for i in range(request.n)]
        prompt_tokens = sum(_tokens(m["content"]) for m in request.messages)
        return ChatResponse(
            texts=texts,
            prompt_tokens=prompt_tokens,
            output_tokens=sum(_tokens(t) for t in texts),
            latency_s=time.perf_counter() - start,
            finish_reasons=["stop"] * len(texts),
            model=self.name,
        )

    # -- candidates ---------------------------------------------------------------------------

    def _answer_text(self, meta: dict, request: ChatRequest, choice: int) -> str:
        model = meta.get("model", self.name)
        rng = _rng(self.seed, "answer", model, meta.get("question_id"), meta.get("turn"), choice + meta.get("choice", 0))
        question = request.messages[-1]["content"]
        topic = " ".join(question.split()[:8]).rstrip(".,;:?!")
        n_sentences = max(1, round(rng.lognormvariate(math.log(6.0 * self.verbosity), 0.6)))
        parts = []
        if rng.random() < 0.3:
            parts.append(f"## {topic.capitalize()}")
        parts.append(f"Regarding \"{topic}\": here is {'a detailed' if n_sentences > 8 else 'a short'} answer.")
        body = [self._sentence(rng) for _ in range(n_sentences)]
        if rng.random() < 0.4 and n_sentences >= 3:
            cut = rng.randint(1, n_sentences - 1)
            parts.append(" ".join(body[:cut]))
            parts.append("\n".join(f"- {s}" for s in body[cut:]))
        else:
            parts.append(" ".join(body))
        return "\n\n".join(parts)

    @staticmethod
    def _sentence(rng: random.Random) -> str:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
        if rng.random() < 0.15:
            k = rng.randrange(len(words))
            words[k] = f"**{words[k]}**"
        return " ".join(words).capitalize() + "."

    # -- judges -------------------------------------------------------------------------------

    def _strength(self, model: str | None) -> float:
        if model is None:
            return 1000.0
        return self.strengths.get(model, derived_strength(model))

    def _judge_text(self, meta: dict) -> str:
        cfg = self.judge or SimulatedJudgeConfig()
        fmt = meta["verdict"]
        rng = _rng(
            self.seed, "judge", meta.get("judge"), meta.get("question_id"), meta.get("turn"),
            meta.get("first"), meta.get("second"), meta.get("attempt", 1),
        )
        if rng.random() < cfg.no_verdict_rate:
            return "Both responses address the request. I need more context to compare them fairly."
        if fmt == "rating":
            return self._rating_text(rng, cfg, meta)
        return self._pairwise_text(rng, cfg, meta, fmt)

    def _rating_text(self, rng: random.Random, cfg: SimulatedJudgeConfig, meta: dict) -> str:
        strength = self._strength(meta.get("first"))
        raw = 5.5 + (strength - 1000.0) / 80.0 + rng.gauss(0.0, cfg.score_noise)
        score = int(min(10, max(1, round(raw))))
        quality = _QUALITY[min(len(_QUALITY) - 1, max(0, (10 - score) // 2))]
        return f"The response is {quality}. It addresses the main point of the request. Rating: [[{score}]]"

    def _pairwise_text(self, rng: random.Random, cfg: SimulatedJudgeConfig, meta: dict, fmt: str) -> str:
        first, second = meta.get("first"), meta.get("second")
        diff = self._strength(first) - self._strength(second) + cfg.position_bias
        len_first, len_second = meta.get("len_first", 1), meta.get("len_second", 1)
        if cfg.length_bias and len_first > 0 and len_second > 0:
            diff += cfg.length_bias * math.log2(len_first / len_second)
        p_first = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
        # Ties are drawn so that the expected score of the first answer stays p_first: a tie
        # counts half a win, so Bradley-Terry with half-win ties recovers the latent strengths.
        tie = min(cfg.tie_rate + cfg.bothbad_rate, 2.0 * min(p_first, 1.0 - p_first))
        if rng.random() < tie:
            outcome = "tie"
        else:
            outcome = "A" if rng.random() < (p_first - tie / 2.0) / (1.0 - tie) else "B"
        reasoning = (
            f"Assistant A's response is {rng.choice(_QUALITY)}; assistant B's is {rng.choice(_QUALITY)}. "
            "Comparing accuracy and helpfulness point by point:"
        )
        if fmt == "abc":
            verdict = {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}[outcome]
        else:
            if outcome == "tie":
                verdict = "[[A=B]]"
            else:
                favourite = "A" if diff >= 0 else "B"
                p_strong = min(0.8, abs(diff) / 400.0) if outcome == favourite else 0.1
                op = ">>" if rng.random() < p_strong else ">"
                loser = "B" if outcome == "A" else "A"
                verdict = f"[[{outcome}{op}{loser}]]"
        return f"{reasoning} overall the better one is clear.\n\nMy final verdict is: {verdict}"
