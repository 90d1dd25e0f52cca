"""The dry-run simulator: seeded stand-ins for candidate models and judges.

Candidates write deterministic text of varied length (with some markdown), so the answers stage,
style features and the dashboard have something realistic to chew on. Judges draw verdicts from a
Bradley-Terry model over latent strengths on the Elo scale, with a known position bias, ties,
optional length bias and optional missing verdicts, and write a short reasoning that ends in the
verdict format their template asks for, so the real verdict parser runs on it. A dry run is
therefore a real test: ratings must recover the latent order and the bias report the known bias.

Rule-based benchmarks (arena.scoring) get log-probabilities and generations from the same
latent strengths: each item has a difficulty shared by every model, a model "knows" the items
below a threshold that rises with its strength, and then puts most of its probability on the
right option; otherwise it guesses, drawn (like the others) to the item's plausible distractors.
So a dry run's scores rank the models as its arena ratings do, as real models' mostly would. Each style adds its
own noise, and full option texts pay for their length, so the three styles disagree on some items
as they do for real models, while stronger models score higher in every style.

The simulator reads who is who from `ChatRequest.meta` / `LogprobRequest.meta` (which real
providers ignore); everything else it sees is the real prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import time
from collections.abc import Callable

from arena.config import ClientConfig, SimulatedJudgeConfig
from arena.judging.grammar import Option, VerdictGrammar, grammar
from arena.providers.base import (
    CONTINUATION,
    NEXT_TOKEN,
    CallFailed,
    ChatRequest,
    ChatResponse,
    LogprobRequest,
    LogprobResponse,
    Provider,
    TokenLogprobs,
)
from arena.seeding import keyed_rng

_WORDS = (
    "answer approach careful clear concrete consider context detail direct effective evidence example "
    "explain first focus general helpful idea important key method note option outcome point practical "
    "precise question reason relevant result review simple solution specific step summary therefore "
    "useful value way work main further case check common compare"
).split()
_QUALITY = ("thorough and accurate", "mostly correct", "clear but thin", "partly off target", "vague")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Scoring: the Elo-scale spread over which the share of known items goes from 27% to 73%, and
# how much a known item's right option stands out (in logits).
_KNOW_SCALE = 120.0
_KNOW_BOOST = 4.0
# Each model's own preference noise on top of an item's shared one (logits).
_MODEL_NOISE = 0.4


def derived_strength(name: str) -> float:
    """A stable latent strength for a model with none configured: 1000 +- 200 from its name."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return 800.0 + (int.from_bytes(digest[:4], "big") / 2**32) * 400.0


def _tokens(text: str) -> int:
    # Simulated token counts: about four characters a token, as for English with BPE vocabularies.
    return max(1, len(text) // 4)


class SimulatedProvider(Provider):
    """One simulated model or judge. `strengths` holds every candidate's latent Elo strength."""

    logprob_abilities = frozenset({CONTINUATION, NEXT_TOKEN})
    metered = False  # no API behind it: per-minute limits of the config do not apply

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
        logprobs, finish = None, "stop"
        if meta.get("kind") == "judge":
            text, logprobs, finish = self._judge_reply(request)
            texts = [text]
        elif meta.get("kind") == "score":
            texts = [self._score_text(meta)]
        else:
            texts = [self._answer_text(meta, request, i) for i in range(request.n)]
        prompt_tokens = sum(_tokens(m["content"]) for m in request.messages)
        return ChatResponse(
            texts=texts,
            prompt_tokens=prompt_tokens,
            output_tokens=sum(_tokens(t) for t in texts),
            latency_s=time.perf_counter() - start,
            finish_reasons=[finish] * len(texts),
            model=self.name,
            token_logprobs=logprobs,
        )

    # -- candidates ---------------------------------------------------------------------------

    def _answer_text(self, meta: dict, request: ChatRequest, choice: int) -> str:
        model = meta.get("model", self.name)
        rng = keyed_rng(self.seed, "answer", model, meta.get("question_id"), meta.get("turn"), choice + meta.get("choice", 0))
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

    # -- rule-based benchmarks ----------------------------------------------------------------

    def _item_logits(self, meta: dict) -> tuple[bool, list[float]]:
        """Whether the model knows this item, and its latent preference for each option.

        As for real models, items are easy or hard for everyone, and a model that does not
        know an item is drawn to the same plausible distractors as the others: each item has one
        difficulty and one set of option preferences shared by every model. A model knows the
        items whose difficulty is below its p_know, so a stronger model knows every item a weaker
        one knows, and accuracy follows the latent strengths the judge's verdicts come from (up
        to the small model and style noise on top)."""
        model = meta.get("model", self.name)
        p_know = 1.0 / (1.0 + math.exp(-(self._strength(model) - 1000.0) / _KNOW_SCALE))
        item = keyed_rng(self.seed, "item", meta.get("benchmark"), meta.get("item_id"))
        knows = item.random() < p_know
        own = keyed_rng(self.seed, "score", model, meta.get("benchmark"), meta.get("item_id"))
        logits = [item.gauss(0.0, 1.0) + own.gauss(0.0, _MODEL_NOISE) for _ in range(int(meta.get("n_choices", 4)))]
        gold = meta.get("gold")
        if knows and isinstance(gold, int) and 0 <= gold < len(logits):
            logits[gold] += _KNOW_BOOST
        return knows, logits

    def _style_logits(self, meta: dict, style: str) -> list[float]:
        """The item's option preferences with the style's own noise on top."""
        _, logits = self._item_logits(meta)
        rng = keyed_rng(self.seed, "style", meta.get("model"), meta.get("benchmark"), meta.get("item_id"), style)
        return [x + rng.gauss(0.0, 0.8) for x in logits]

    async def continuation_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        meta = request.meta
        counts = [_tokens(c) for c in request.continuations]
        if meta.get("kind") != "score":
            # No item behind it: a stable pseudo-probability per token of each continuation.
            logprobs = [-sum(1.0 + keyed_rng(request.prompt, c, t).random() * 4.0 for t in range(n))
                        for c, n in zip(request.continuations, counts)]
            return LogprobResponse(logprobs=logprobs, token_counts=counts)
        logits = self._style_logits(meta, meta.get("style", "letter_logprob"))[: len(request.continuations)]
        if meta.get("style") == "text_logprob":
            # A full answer costs about a nat per token on top of the preference for it, so
            # long options lose unless the score is normalised by length.
            logprobs = [x - 1.0 * n - 2.0 for x, n in zip(logits, counts)]
        else:
            # Letters: a softmax over the options, with a tenth of the mass on other tokens.
            top = max(logits)
            log_z = top + math.log(sum(math.exp(x - top) for x in logits))
            logprobs = [x - log_z + math.log(0.9) for x in logits]
        return LogprobResponse(logprobs=logprobs, token_counts=counts)

    async def next_token_logprobs(self, request: LogprobRequest) -> LogprobResponse:
        meta = dict(request.meta, style="letter_logprob")
        n = int(meta.get("n_choices", 4))
        letters = [f" {_LETTERS[i]}" for i in range(n)]
        scored = await self.continuation_logprobs(LogprobRequest(request.prompt, letters, meta=meta))
        top = dict(zip(letters, scored.logprobs))
        top.update({" The": math.log(0.06), "\n": math.log(0.03), " I": math.log(0.01)})
        kept = sorted(top.items(), key=lambda kv: -kv[1])[: max(1, request.top_k)]
        return LogprobResponse(top=dict(kept))

    def _score_text(self, meta: dict) -> str:
        """A generation for a benchmark item: a letter in one of several formats (now and then
        none at all), or a short answer in one of several equivalent forms."""
        rng = keyed_rng(self.seed, "generate", meta.get("model"), meta.get("benchmark"), meta.get("item_id"))
        if meta.get("style") == "exact_match":
            knows, _ = self._item_logits(meta)
            return _short_answer(rng, str((meta.get("references") or [""])[0]), knows)
        logits = self._style_logits(meta, "generate_letter")
        letter = _LETTERS[max(range(len(logits)), key=logits.__getitem__)]
        if rng.random() < 0.06:
            return "I am not certain; several of these options look plausible."
        return rng.choice((f"{letter}", f" {letter}.", f"The answer is ({letter}).", f"Answer: {letter}"))

    # -- judges -------------------------------------------------------------------------------

    def _strength(self, model: str | None) -> float:
        if model is None:
            return 1000.0
        return self.strengths.get(model, derived_strength(model))

    def _judge_reply(self, request: ChatRequest) -> tuple[str, list[TokenLogprobs] | None, str]:
        """A judge's reply (reasoning, then the verdict in the template's format), its tokens with
        the judge's probabilities at the verdict when asked for, and the finish reason.

        The judge's belief over the verdict's options comes from the latent strengths (plus
        `belief_noise`); the written verdict is drawn from it. A constrained request (vLLM's regex)
        always gets a verdict, as vLLM would give; a reply longer than max_tokens is cut there."""
        meta = request.meta
        cfg = self.judge or SimulatedJudgeConfig()
        g = grammar(meta["verdict"])
        rng = keyed_rng(
            self.seed, "judge", meta.get("judge"), meta.get("question_id"), meta.get("turn"),
            meta.get("first"), meta.get("second"), meta.get("attempt", 1),
        )
        forgets = rng.random() < cfg.no_verdict_rate
        if forgets and request.regex is None:
            return "Both responses address the request. I need more context to compare them fairly.", None, "stop"
        beliefs, chosen, reasoning = self._verdict_belief(rng, cfg, meta, g)
        verdict = g.write(chosen)
        if request.continue_final:
            text, parts = "\n" + verdict, [("\n", None)]
        elif g.at == "start":
            text, parts = f"{verdict}\n{reasoning}", []
        else:
            text, parts = f"{reasoning}\n\nMy final verdict is: {verdict}", [(f"{reasoning}\n\nMy final verdict is: ", None)]
        if request.regex is not None and re.fullmatch(request.regex, text) is None and not request.continue_final:
            # Structured outputs bound the free text: as vLLM would, end it where the bound is.
            if g.at == "start":
                keep = _fit(request.regex, lambda k: f"{verdict}\n{reasoning[:k]}", len(reasoning))
                reasoning = reasoning[:keep]
                text = f"{verdict}\n{reasoning}"
            else:
                prefix = parts[0][0]
                prefix = prefix[:_fit(request.regex, lambda k: prefix[:k] + verdict, len(prefix))]
                parts, text = [(prefix, None)], prefix + verdict
        if not request.continue_final and _tokens(text) > request.max_tokens:
            cut = text[: request.max_tokens * 4]
            return cut, _word_tokens(cut) if request.logprobs else None, "length"
        if request.regex is not None and re.fullmatch(request.regex, text) is None:
            raise CallFailed(f"{self.name}: the simulated reply does not match the request's verdict constraint")
        if not request.logprobs:
            return text, None, "stop"
        form = g.forms[0]
        pieces: list[TokenLogprobs] = []
        for prefix, _ in parts:
            pieces += _word_tokens(prefix)
        if form.open_text:
            pieces.append(TokenLogprobs(form.open_text, [(form.open_text, 0.0)]))
        for slot, (belief, option) in enumerate(zip(beliefs, chosen)):
            if slot:
                pieces.append(TokenLogprobs(form.sep_text, [(form.sep_text, 0.0)]))
            # 5% of the mass on tokens that are no option, as real judges leave some.
            top = [(o.text, math.log(max(p, 1e-12) * 0.95)) for o, p in belief] + [(" The", math.log(0.05))]
            pieces.append(TokenLogprobs(option.text, top))
        if form.close_text:
            pieces.append(TokenLogprobs(form.close_text, [(form.close_text, 0.0)]))
        if g.at == "start":
            pieces += _word_tokens("\n" + reasoning)
        return text, pieces, "stop"

    def _verdict_belief(self, rng: random.Random, cfg: SimulatedJudgeConfig, meta: dict,
                        g: VerdictGrammar) -> tuple[list[list[tuple[Option, float]]], list[Option], str]:
        """Per slot, the judge's probability of each option and the option it writes; and a
        reasoning that agrees with the verdict."""
        belief_rng = keyed_rng(self.seed, "belief", meta.get("judge"), meta.get("question_id"), meta.get("turn"),
                               meta.get("first"), meta.get("second"))
        if g.kind == "single":
            belief, option = self._grade(rng, belief_rng, cfg, meta.get("first"), g, 0.0)
            quality = _QUALITY[min(len(_QUALITY) - 1, max(0, round((1.0 - _scaled(option.value, g)) * 4.5)))]
            return [belief], [option], f"The response is {quality}. It addresses the main point of the request."
        if g.slots == 2:
            bias = cfg.position_bias / 80.0  # the Elo-scale bias as grade points in the first's favour
            first, a = self._grade(rng, belief_rng, cfg, meta.get("first"), g, bias)
            second, b = self._grade(rng, belief_rng, cfg, meta.get("second"), g, 0.0)
            reasoning = f"Assistant 1's answer earns {a.text} and assistant 2's earns {b.text}, weighing accuracy and helpfulness."
            return [first, second], [a, b], reasoning
        return self._pairwise_belief(rng, belief_rng, cfg, meta, g)

    def _grade(self, rng: random.Random, belief_rng: random.Random, cfg: SimulatedJudgeConfig, model: str | None,
               g: VerdictGrammar, shift: float) -> tuple[list[tuple[Option, float]], Option]:
        """A grade on the format's scale: the judge believes a normal around the model's level
        (discretised to the scale's options), and writes a draw from it."""
        values = [o.value for o in g.options]
        low, high = min(values), max(values)
        span = (high - low) / 9.0  # the 1-10 scale's units carried to this scale
        mean = (low + high) / 2.0 + ((self._strength(model) - 1000.0) / 80.0 + shift) * span
        if cfg.belief_noise:
            mean += belief_rng.gauss(0.0, cfg.belief_noise) * span
        sd = max(cfg.score_noise * span, 1e-6)
        raw = mean + rng.gauss(0.0, cfg.score_noise) * span
        drawn = min(high, max(low, round(raw)))
        option = min(g.options, key=lambda o: abs(o.value - drawn))
        belief = []
        for o in g.options:
            lo = -math.inf if o.value == low else (o.value - 0.5 - mean) / sd
            hi = math.inf if o.value == high else (o.value + 0.5 - mean) / sd
            belief.append((o, _phi(hi) - _phi(lo)))
        return belief, option

    def _pairwise_belief(self, rng: random.Random, belief_rng: random.Random, cfg: SimulatedJudgeConfig, meta: dict,
                         g: VerdictGrammar) -> tuple[list[list[tuple[Option, float]]], list[Option], str]:
        first, second = meta.get("first"), meta.get("second")
        diff = self._strength(first) - self._strength(second) + cfg.position_bias
        len_first, len_second = meta.get("len_first", 1), meta.get("len_second", 1)
        if cfg.length_bias and len_first > 0 and len_second > 0:
            diff += cfg.length_bias * math.log2(len_first / len_second)
        if cfg.belief_noise:
            diff += belief_rng.gauss(0.0, cfg.belief_noise) * 400.0 / math.log(10.0)  # logits to Elo points
        p_first = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
        labels = {o.label for o in g.options}
        # Ties are drawn so that the expected score of the first answer stays p_first: a tie
        # counts half a win, so Bradley-Terry with half-win ties recovers the latent strengths.
        tie = min(cfg.tie_rate, 2.0 * min(p_first, 1.0 - p_first)) if ("tie" in labels or "A=B" in labels) else 0.0
        if rng.random() < tie:
            outcome = "tie"
        else:
            outcome = "A" if rng.random() < (p_first - tie / 2.0) / (1.0 - tie) else "B"
        # The reasoning agrees with the verdict (the battle browser shows both side by side):
        # the winner gets the better of two drawn qualities (_QUALITY runs best first).
        better, worse = sorted((rng.randrange(len(_QUALITY)), rng.randrange(len(_QUALITY))))
        if outcome == "tie":
            worse = better
        quality_a, quality_b = (_QUALITY[better], _QUALITY[worse]) if outcome != "B" else (_QUALITY[worse], _QUALITY[better])
        closing = "they are about equally good" if outcome == "tie" else "the better one is clear"
        reasoning = (
            f"Assistant A's response is {quality_a}; assistant B's is {quality_b}. "
            f"Comparing accuracy and helpfulness point by point, {closing}."
        )
        p = {"A": p_first - tie / 2.0, "tie": tie, "B": 1.0 - p_first - tie / 2.0}
        by_label = {o.label: o for o in g.options}
        if "A>>B" in by_label:  # five levels: a win is strong or slight
            favourite = "A" if diff >= 0 else "B"
            strong = {side: (min(0.8, abs(diff) / 400.0) if side == favourite else 0.1) for side in "AB"}
            belief = [(by_label["A>>B"], p["A"] * strong["A"]), (by_label["A>B"], p["A"] * (1 - strong["A"])),
                      (by_label["A=B"], p["tie"]), (by_label["B>A"], p["B"] * (1 - strong["B"])),
                      (by_label["B>>A"], p["B"] * strong["B"])]
            if outcome == "tie":
                chosen = by_label["A=B"]
            else:
                loser = "B" if outcome == "A" else "A"
                op = ">>" if rng.random() < strong[outcome] else ">"
                chosen = by_label[f"{outcome}{op}{loser}"]
            return [belief], [chosen], reasoning
        belief = [(o, p["tie"] if o.label == "tie" else p[o.label]) for o in g.options]
        return [belief], [by_label[outcome]], reasoning


def _fit(regex: str, text_with: Callable[[int], str], longest: int) -> int:
    """The longest cut (in characters) of a reply's free text for which the reply matches `regex`
    in full (the constraint bounds the free text's length, so a cut either fits or is too long)."""
    low, high = 0, longest
    while low < high:
        mid = (low + high + 1) // 2
        if re.fullmatch(regex, text_with(mid)):
            low = mid
        else:
            high = mid - 1
    return low


def _scaled(value: float, g: VerdictGrammar) -> float:
    values = [o.value for o in g.options]
    return (value - min(values)) / (max(values) - min(values))


def _phi(z: float) -> float:
    if math.isinf(z):
        return 1.0 if z > 0 else 0.0
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _word_tokens(text: str) -> list[TokenLogprobs]:
    """Text as simulated tokens: words with their leading space, each certain."""
    return [TokenLogprobs(w, [(w, 0.0)]) for w in re.findall(r"\s*\S+|\s+", text)]


def _short_answer(rng: random.Random, gold: str, knows: bool) -> str:
    """The gold answer in one of the forms a grader accepts ("1,000", "$1000", "1000.0", with
    "The answer is"), or, when the model does not know, a near miss."""
    number = gold.replace(",", "").strip()
    is_int = number.lstrip("-").isdigit()
    if not knows:
        return str(int(number) + rng.randint(1, 9)) if is_int else "I do not know"
    forms = [gold, f"The answer is {gold}."]
    if is_int:
        forms += [f"{int(number):,}", f"{number}.0", f"${number}"]
    else:
        forms += [gold.upper(), f"the {gold}"]
    return rng.choice(forms)
