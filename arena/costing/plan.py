"""What a run will cost before it starts: per stage and per model or judge, the calls the config
needs, how many the run folder and the response cache already hold, the tokens still to pay for,
and their price at standard and at batch rates.

Reads only: the run folder's records (never repaired), the response cache (opened read-only) and
the registry; it makes no call and writes nothing. Counts are of first asks: a judge's re-asks
for a missing verdict are not foreseen (their rate is in the last run's summary.json).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.config import JudgeConfig, ModelConfig, RunConfig
from arena.costing.tokens import counter_for
from arena.judging.pairing import Game, games_for
from arena.judging.prompts import judge_messages
from arena.judging.templates import Template, prompt_hash
from arena.pricing import cost_usd, price_for
from arena.providers import cache_identity
from arena.providers.cache import DEFAULT_CACHE_DIR, ResponseCache, cache_key
from arena.records import Answer, Choice, Question, Review
from arena.rundir import RunDir
from arena.store import read_records

#: Providers whose calls go to a paid API; the others run here (vLLM) or are simulated.
API_PROVIDERS = ("openai", "anthropic", "openai_compatible")


@dataclass
class PlanLine:
    """One model's or judge's part of one stage."""

    stage: str
    name: str
    model: str
    provider: str
    calls: int = 0  # the calls the config needs, first asks
    done: int = 0  # held in the run folder
    cached: int = 0  # not in the run folder, but answered in the response cache
    prompt_tokens: int = 0  # of the calls still to make
    output_tokens: int = 0
    prompt_basis: str = ""
    output_basis: str = ""
    exact: bool = False  # prompt tokens counted by the model's own tokenizer
    price: tuple[float, float] | None = None
    batch_price: tuple[float, float] | None = None
    batch: bool = False  # the config sends these calls through a batch API
    billed: bool = True  # a paid API (vLLM and simulated models cost nothing here)

    @property
    def to_call(self) -> int:
        return max(0, self.calls - self.done - self.cached)

    @property
    def cost_usd(self) -> float | None:
        return cost_usd(self.price, self.prompt_tokens, self.output_tokens) if self.price is not None else None

    @property
    def batch_cost_usd(self) -> float | None:
        return cost_usd(self.batch_price, self.prompt_tokens, self.output_tokens) if self.batch_price is not None else None

    @property
    def expected_usd(self) -> float | None:
        """What this run will pay: at batch rates where the config batches these calls."""
        return self.batch_cost_usd if self.batch else self.cost_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage, "name": self.name, "model": self.model, "provider": self.provider,
            "calls": self.calls, "done": self.done, "cached": self.cached, "to_call": self.to_call,
            "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
            "prompt_tokens_exact": self.exact, "prompt_basis": self.prompt_basis, "output_basis": self.output_basis,
            "billed": self.billed, "batch": self.batch,
            "price_per_mtok": list(self.price) if self.price else None,
            "batch_price_per_mtok": list(self.batch_price) if self.batch_price else None,
            "cost_usd": _round(self.cost_usd), "batch_cost_usd": _round(self.batch_cost_usd),
            "expected_usd": _round(self.expected_usd),
        }


@dataclass
class CostPlan:
    config: str
    run_dir: str
    dry_run: bool
    lines: list[PlanLine] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(line, attr) for line in self.lines)

    def usd(self, attr: str) -> float:
        return sum(getattr(line, attr) or 0.0 for line in self.lines)

    @property
    def unpriced(self) -> list[str]:
        """Paid-API lines with calls to make whose price is not in the registry or the config."""
        return [f"{line.stage} {line.name} ({line.model})" for line in self.lines
                if line.billed and line.price is None and line.to_call]

    @property
    def exact(self) -> bool:
        return all(line.exact for line in self.lines if line.to_call)

    def one_line(self) -> str:
        """The plan's total in one line (run_arena prints it first)."""
        calls, done, cached = self.total("to_call"), self.total("done"), self.total("cached")
        tokens = (f"{_n(self.total('prompt_tokens'))} prompt + {_n(self.total('output_tokens'))} output tokens"
                  + ("" if self.exact else " (estimated)"))
        if self.dry_run:
            money = "no cost (dry run: every model and judge simulated)"
        elif not any(line.billed for line in self.lines if line.to_call):
            money = "no API cost (local or simulated models only)"
        else:
            unpriced = self.unpriced
            priced = [line for line in self.lines if line.billed and line.price is not None and line.to_call]
            money = (f"${self.usd('cost_usd'):.2f} at standard rates, ${self.usd('batch_cost_usd'):.2f} at batch rates, "
                     f"${self.usd('expected_usd'):.2f} as configured") if priced else ""
            if unpriced:
                money += ("; " if money else "") + (
                    f"price unknown for {len(unpriced)} ({', '.join(unpriced[:2])}{', ...' if len(unpriced) > 2 else ''}): "
                    "add it to registry/prices.yaml or set price: on the judge")
        return f"plan: {_n(calls)} calls to make ({_n(done)} done, {_n(cached)} cached), {tokens}, {money}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "run_dir": self.run_dir, "dry_run": self.dry_run,
            "lines": [line.as_dict() for line in self.lines],
            "total": {
                "calls": self.total("calls"), "done": self.total("done"), "cached": self.total("cached"),
                "to_call": self.total("to_call"), "prompt_tokens": self.total("prompt_tokens"),
                "output_tokens": self.total("output_tokens"), "prompt_tokens_exact": self.exact,
                "cost_usd": round(self.usd("cost_usd"), 6), "batch_cost_usd": round(self.usd("batch_cost_usd"), 6),
                "expected_usd": round(self.usd("expected_usd"), 6), "unpriced": self.unpriced,
            },
            "summary": self.one_line(),
        }

    def table_text(self) -> str:
        header = ("stage", "name", "model", "calls", "done", "cached", "to call", "prompt tok", "output tok",
                  "standard $", "batch $")
        rows = [header]
        for line in self.lines:
            rows.append((
                line.stage, line.name, line.model, _n(line.calls), _n(line.done), _n(line.cached), _n(line.to_call),
                _n(line.prompt_tokens) + ("" if line.exact or not line.to_call else "~"), _n(line.output_tokens),
                _usd(line.cost_usd, line), _usd(line.batch_cost_usd, line) + (" *" if line.batch else ""),
            ))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
        text = ["  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        notes = ["~ estimated token counts; * batched as configured (client.batch)"]
        for line in self.lines:
            if line.to_call:
                notes.append(f"{line.stage} {line.name}: prompt tokens {line.prompt_basis}; output tokens {line.output_basis}")
        return "\n".join(text + [""] + notes + ["", self.one_line()])


def build_plan(config: RunConfig, questions: list[Question], templates: dict[str, Template],
               benchmarks: Iterable[Any] = ()) -> CostPlan:
    """The plan of `config`'s stages over its run folder and response cache, as they are now."""
    run = RunDir(config.out_dir)
    plan = CostPlan(config=str(config.source_path), run_dir=str(run.root), dry_run=config.dry_run)
    cache = _open_cache(config)
    try:
        answers = {m.name: _read(run.answers(m.name), Answer, lambda a: str(a.question_id)) for m in config.models}
        if "answers" in config.stages:
            for model in config.models:
                plan.lines.append(_answers_line(config, model, questions, answers[model.name]))
        if "reviews" in config.stages:
            for judge in config.judges:
                plan.lines.append(_reviews_line(config, judge, templates[judge.name], questions, answers, run, cache))
        if "scores" in config.stages:
            from arena.scoring.rows import ScoreRow

            scored: dict[str, dict[str, Any]] = {}  # each model's rows, read once for all its benchmarks
            for bench in benchmarks:
                for model in config.models:
                    if bench.styles_by_model.get(model.name):
                        if model.name not in scored:
                            scored[model.name] = _read(run.scores / f"{model.name}.jsonl", ScoreRow, lambda r: r.key)
                        plan.lines.append(_scores_line(config, model, bench, scored[model.name]))
    finally:
        if cache is not None:
            cache.close()
    return plan


def _open_cache(config: RunConfig) -> ResponseCache | None:
    if config.dry_run:
        return None
    root = Path(config.cache_dir) if config.cache_dir else DEFAULT_CACHE_DIR
    return ResponseCache(root, read_only=True) if root.is_dir() else None


def _read(path: Path, cls: type, key: Any) -> dict[str, Any]:
    """A store's records by key, first one winning as in RecordStore; a torn last line is left
    out here, not repaired (the stage repairs it)."""
    records: dict[str, Any] = {}
    for record in read_records(path, cls):
        records.setdefault(key(record), record)
    return records


def _line(stage: str, cfg: ModelConfig | JudgeConfig, config: RunConfig) -> PlanLine:
    billed = not config.dry_run and cfg.provider in API_PROVIDERS
    override = cfg.price if isinstance(cfg, JudgeConfig) else None
    return PlanLine(
        stage=stage, name=cfg.name, model=cfg.model_id if not config.dry_run else f"{cfg.model_id} (simulated)",
        provider="simulated" if config.dry_run else cfg.provider,
        price=price_for(cfg.model_id, override) if billed else None,
        batch_price=price_for(cfg.model_id, override, batch=True) if billed else None,
        batch=billed and bool(getattr(cfg.client, "batch", False)), billed=billed,
    )


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def answer_tokens_per_turn(model: ModelConfig, stored: dict[str, Answer]) -> tuple[float, str]:
    """The tokens one choice's answer to one turn takes: the mean of the model's recorded answers,
    or its max_tokens (an upper bound) before it has any."""
    n = max(1, model.generation.n)
    recorded = [t / n for a in stored.values() for t in a.output_tokens if t]
    mean = _mean(recorded)  # type: ignore[arg-type]
    if mean is not None:
        return mean, f"mean of {len(recorded)} recorded answer turns"
    return float(model.generation.max_tokens), "max_tokens (no recorded answers yet: an upper bound)"


def _answers_line(config: RunConfig, model: ModelConfig, questions: list[Question], stored: dict[str, Answer]) -> PlanLine:
    from arena.stages.answers import build_messages

    line = _line("answers", model, config)
    counter = counter_for(model, config.dry_run)
    per_turn, line.output_basis = answer_tokens_per_turn(model, stored)
    n = max(1, model.generation.n)
    later_turns = False
    for question in questions:
        calls = 1 + (len(question.turns) - 1) * n
        line.calls += calls
        if str(question.question_id) in stored:
            line.done += calls
            continue
        for turn in range(1, len(question.turns) + 1):
            # Earlier answers are not written yet: counted at their expected length.
            messages = build_messages(model, question, [""] * (turn - 1))
            asks = 1 if turn == 1 else n
            line.prompt_tokens += asks * (counter.chat_tokens(messages) + round(per_turn * (turn - 1)))
            line.output_tokens += round(per_turn * n)
            later_turns = later_turns or turn > 1
    line.exact = counter.exact and not later_turns
    line.prompt_basis = counter.basis + ("; earlier turns' answers at their expected length" if later_turns else "")
    return line


def _reviews_line(config: RunConfig, judge: JudgeConfig, template: Template, questions: list[Question],
                  answers: dict[str, dict[str, Answer]], run: RunDir, cache: ResponseCache | None) -> PlanLine:
    from arena.stages.reviews import first_request, judge_identity

    line = _line("reviews", judge, config)
    games = games_for(judge, [m.name for m in config.models], questions, config.seed)
    line.calls = len(games)
    stored = _read(run.reviews(judge.name), Review, lambda r: r.key)
    identity = judge_identity(judge, config)
    cache_id = cache_identity(judge, config)
    models = {m.name: m for m in config.models}
    expected = {name: answer_tokens_per_turn(m, answers[name])[0] for name, m in models.items()}
    counter = counter_for(judge, config.dry_run)
    todo: list[tuple[int, int]] = []  # (chars or exact tokens, tokens of answers not written yet)
    recorded_in: list[int] = []
    recorded_chars: list[int] = []
    recorded_out = [r.output_tokens for r in stored.values()
                    if r.attempts == 1 and r.template == template.name and r.output_tokens]
    missing_answers = False
    for game in games:
        shown, unwritten = _shown_answers(game, answers, expected)
        messages = judge_messages(template, judge, game, shown)
        chars = sum(len(m.get("content", "")) for m in messages)
        if not unwritten:
            review = stored.get(game.key)
            if (review is not None and review.status == "ok" and review.prompt_hash == prompt_hash(messages)
                    and (review.judge_id is None or review.judge_id == identity)):
                line.done += 1
                if review.attempts == 1 and review.prompt_tokens:
                    recorded_in.append(review.prompt_tokens)
                    recorded_chars.append(chars)
                continue
            if cache is not None and cache_id:
                hit = cache.get(cache_key(cache_id, first_request(judge, template, game, messages, answers)))
                if hit is not None:
                    line.cached += 1
                    if hit.prompt_tokens:
                        recorded_in.append(hit.prompt_tokens)
                        recorded_chars.append(chars)
                    if hit.output_tokens:
                        recorded_out.append(hit.output_tokens)
                    continue
        missing_answers = missing_answers or bool(unwritten)
        todo.append((counter.chat_tokens(messages) if counter.exact else chars, unwritten))
    counter = counter.calibrated(sum(recorded_in), sum(recorded_chars), len(recorded_in))
    for size, unwritten in todo:
        line.prompt_tokens += (size if counter.exact else counter.chars_tokens(size)) + unwritten
    mean_out = _mean(recorded_out)
    if mean_out is not None:
        line.output_tokens = round(mean_out * len(todo))
        line.output_basis = f"mean of {len(recorded_out)} recorded calls of this judge and template"
    else:
        line.output_tokens = judge.generation.max_tokens * len(todo)
        line.output_basis = "max_tokens (no recorded calls yet: an upper bound)"
    line.exact = counter.exact and not missing_answers
    line.prompt_basis = counter.basis + ("; answers not written yet at their expected length" if missing_answers else "")
    return line


def _shown_answers(game: Game, answers: dict[str, dict[str, Answer]], expected: dict[str, float]) -> tuple[dict[str, Answer], int]:
    """The answers a game shows, with empty stand-ins where one is not written yet, and the
    tokens those stand-ins are expected to take (one answer per turn shown)."""
    shown: dict[str, Answer] = {}
    unwritten = 0
    qid = str(game.question.question_id)
    for model in (game.first, game.second):
        if model is None:
            continue
        answer = answers.get(model, {}).get(qid)
        if answer is None or not answer.choices or len(answer.choices[0].turns) < game.turn:
            answer = Answer(question_id=game.question.question_id, answer_id="", model_id=model,
                            choices=[Choice(index=0, turns=[""] * len(game.question.turns))], tstamp=0.0)
            unwritten += round(expected.get(model, 0.0) * game.turn)
        shown[model] = answer
    return shown, unwritten


def _scores_line(config: RunConfig, model: ModelConfig, bench: Any, stored: dict[str, Any]) -> PlanLine:
    from arena.scoring.rows import score_key
    from arena.scoring.tasks import LOGPROB_STYLES, Task

    line = _line("scores", model, config)
    line.name = f"{model.name} / {bench.config.name}"
    counter = counter_for(model, config.dry_run)
    generated = 0
    for style in bench.styles_by_model.get(model.name, []):
        for item in bench.items:
            line.calls += 1
            if score_key(bench.config.name, style, item.item_id, bench.setting) in stored:
                line.done += 1
                continue
            line.prompt_tokens += counter.text_tokens(Task(bench, style, item).prompt)
            if style not in LOGPROB_STYLES:
                generated += 1
    line.output_tokens = generated * bench.config.max_tokens
    line.exact = counter.exact
    line.prompt_basis = counter.basis
    line.output_basis = "max_tokens for generated answers; log-probability calls generate nothing"
    return line


def _n(value: int) -> str:
    return f"{value:,}"


def _usd(value: float | None, line: PlanLine) -> str:
    if not line.billed:
        return "-"
    return "unknown" if value is None else f"{value:.2f}"


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None
