"""The reviews stage: judges grade or compare the candidates' answers, then battles are derived.

Each judge call is appended to `reviews/<judge>.jsonl` as soon as it is final: with a verdict
(status "ok"), or after `verdict_retries` re-asks without one (status "error", never a silent tie).
Calls that fail for good at the transport level (retries exhausted) are not written, so the next
run retries exactly those; the stage then ends with IncompleteStage. Finally `battles.jsonl` is
rebuilt from every judge's reviews in one atomic write.

An error row is not a result: the next run asks those games again (through the response cache an
unchanged prompt costs nothing), so a fixed template or judge only re-asks them. After every
judge, a judge with errors gets one warning (its error rate and its first reply without a
verdict); one whose error rate exceeds its `max_error_rate` fails the stage (exit 1) once
everything parsed is stored, so a run whose verdicts are mostly errors never looks like a
success.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arena.battle_columns import write_columnar
from arena.battle_log import battles_frame
from arena.config import JudgeConfig, RunConfig, api_key_env
from arena.errors import BatchesPending, DataError, IncompleteStage
from arena.judging.battles import battles_from_reviews
from arena.judging.grammar import VerdictGrammar, grammar
from arena.judging.interjudge import judge_agreement
from arena.judging.jury import JuryResult, combine_jury
from arena.judging.pairing import Game, games_for, judged_turns
from arena.judging.prompts import judge_messages, reask_messages
from arena.judging.templates import Template, load_template, prompt_hash
from arena.judging.verdicts import Verdict, parse_verdict
from arena.judging.weighting import Weighted, weigh
from arena.pricing import cost_usd, price_for
from arena.progress import Progress
from arena.provenance import answered_as
from arena.providers import latent_strengths, make_provider
from arena.providers.base import CallFailed, ChatRequest, ChatResponse, Provider, redact
from arena.providers.batch import BatchProvider, batching
from arena.providers.cache import DEFAULT_CACHE_DIR, ResponseCache, run_batch_cached
from arena.records import Answer, Battle, Question, Review
from arena.rundir import RunDir
from arena.stages.bias import read_reviews, run_bias
from arena.store import RecordStore, read_records, write_records_atomic

log = logging.getLogger(__name__)

#: Between the replies of one game in a review's `raw` text, where the judge was asked again.
REASK_SEPARATOR = "\n\n[re-asked for a verdict]\n\n"
#: Alternatives asked for with each token of a probability-weighted judge (OpenAI's maximum).
TOP_LOGPROBS = 20


def constrained(judge: JudgeConfig) -> bool:
    """Whether the judge's replies are forced to end with a verdict: vLLM judges (offline or
    server), unless verdict_constraint is none. Hosted APIs cannot take a regex."""
    return judge.provider == "vllm" and judge.verdict_constraint == "auto"


def turns_needed(judges: list[JudgeConfig], questions: list[Question]) -> dict[str, int]:
    """The last turn any judge grades, by question id: answers must reach at least that far."""
    return {str(q.question_id): max((max(judged_turns(j, q), default=0) for j in judges), default=0) for q in questions}


def load_answers(run: RunDir, models: list[str], questions: list[Question],
                 turns: dict[str, int] | None = None) -> dict[str, dict[str, Answer]]:
    """Every needed answer, by model and question id; a gap is an error that says what to run.
    With `turns` (question id -> last judged turn), an answer with fewer turns is an error too:
    the judge's prompt would lack the answer it grades."""
    wanted = {str(q.question_id) for q in questions}
    by_model: dict[str, dict[str, Answer]] = {}
    for model in models:
        path = run.answers(model)
        if not path.exists():
            raise DataError(f"{path}: no answers for model {model!r}; run the answers stage first (--stages answers)")
        answers = {str(a.question_id): a for a in read_records(path, Answer)}
        missing = sorted(wanted - answers.keys())
        if missing:
            raise DataError(
                f"{path}: {len(missing)} of {len(wanted)} questions have no answer (first: {missing[0]}); "
                "run the answers stage to finish them"
            )
        for qid, need in (turns or {}).items():
            answer = answers.get(qid)
            have = len(answer.choices[0].turns) if answer is not None and answer.choices else 0
            if answer is not None and have < need:
                raise DataError(
                    f"{path}: the answer to question {qid} has {have} turn(s) but the judges grade turn {need}; "
                    "delete that line and run the answers stage again"
                )
        by_model[model] = answers
    return by_model


def reviews_store(run: RunDir, judge: str) -> RecordStore[Review]:
    return RecordStore(run.reviews(judge), Review, key=lambda r: r.key)


@dataclass
class _Pending:
    game: Game
    messages: list[dict[str, str]]
    first_hash: str
    texts: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    output_tokens: int = 0
    paid_cost_usd: float = 0.0  # calls paid for now (not from the cache), each at its rate
    latency_s: float = 0.0
    cached: bool = True
    #: A constrained reply that ended without a verdict (cut at max_tokens): the next attempt
    #: continues it with the verdict alone.
    partial: str | None = None
    weighted: Weighted | None = None
    served_model: str | None = None  # the model id the last reply came from, as the API named it
    calls: int = 0  # calls made for this game, continuations included
    reasks: int = 0  # re-asks for a verdict (verdict_retries bounds these; continuations are not re-asks)


def response_cache(config: RunConfig, judge: JudgeConfig, shared: ResponseCache | None = None) -> ResponseCache | None:
    """The run's response cache (`shared` when given); none for simulated judges (free, and
    seeded anyway)."""
    if config.dry_run or judge.provider == "simulated":
        return None
    return shared or ResponseCache(Path(config.cache_dir) if config.cache_dir else DEFAULT_CACHE_DIR)


def run_reviews(config: RunConfig, questions: list[Question], run: RunDir, templates: dict[str, Template] | None = None) -> dict[str, Any]:
    """Run every judge, then rebuild battles.jsonl; return the stage summary."""
    model_names = [m.name for m in config.models]
    answers = load_answers(run, model_names, questions, turns_needed(config.judges, questions))
    templates = dict(templates or {})
    for i, judge in enumerate(config.judges):
        if judge.name not in templates:
            templates[judge.name] = load_template(
                judge.template_name, where=str(config.source_path), key=f"judges[{i}].template",
                base_dir=config.source_path.parent,
            )
    # Every judge's provider is built (and its key checked) before the first call of any.
    providers = {}
    # One cache for every judge of the run: its index is read once, and it writes one shard.
    cache = ResponseCache(Path(config.cache_dir) if config.cache_dir else DEFAULT_CACHE_DIR)
    try:
        summary: dict[str, Any] = {}
        reviews: dict[str, list[Review]] = {}  # every judge's reviews, as its store holds them at the end
        failed_total = pending_total = 0
        for judge in config.judges:
            # A vLLM judge loads its engine (or server) when its turn comes, and gives the GPU
            # back before the next: one model on the GPU at a time.
            if not config.dry_run and judge.provider not in ("simulated", "vllm"):
                providers[judge.name] = make_provider(judge, config)
        for judge in config.judges:
            summary[judge.name] = judge_all(
                config, judge, templates[judge.name], questions, answers, run, provider=providers.get(judge.name),
                cache=cache, reviews_out=reviews,
            )
            failed_total += summary[judge.name]["failed"]
            pending_total += summary[judge.name]["batch_pending"]
    finally:
        for provider in providers.values():
            provider.close()
        cache.close()
    # The stores' records serve battles and bias: at thousands of reviews, reading the files back
    # was a noticeable share of the stage.
    built = write_battles(config, questions, answers, run, templates, reviews=reviews)
    battles, jury = built.battles, built.jury
    if jury is not None and config.jury is not None:
        summary[config.jury.name] = jury.summary(config.jury.method, list(config.jury.judges), config.jury.min_agreement)
        summary[config.jury.name].update(battle_summary([b for b in battles if b.judge == config.jury.name]))
        summary[config.jury.name]["mode"] = next(j.mode for j in config.judges if j.name == config.jury.judges[0])
        reviews[config.jury.name] = jury.reviews
        if jury.contested:
            log.info("reviews %s: %d of %d games contested (members' agreement below %g) and left out of its battles",
                     config.jury.name, jury.contested, jury.games, config.jury.min_agreement)
    run_bias(config, run, battles, reviews)  # summary.json "bias": position, length, ties, parse failures
    run.update_summary("judge_agreement", judge_agreement(built.current))
    too_many = []
    for judge in config.judges:
        entry = summary[judge.name]
        entry.update(battle_summary([b for b in battles if b.judge == judge.name]))
        entry["max_error_rate"] = judge.max_error_rate
        entry["status"] = "ok"
        if entry["errors"]:
            log.warning("%s", error_warning(judge, entry))
        if entry["error_rate"] > judge.max_error_rate:
            entry["status"] = (
                f"failed: {entry['error_rate']:.1%} of its reviews have no verdict, above max_error_rate "
                f"{judge.max_error_rate:g}"
            )
            too_many.append(f"judge {judge.name}: {entry['errors']} of {entry['reviews']} reviews "
                            f"({entry['error_rate']:.1%}) have no verdict, above max_error_rate {judge.max_error_rate:g}")
    run.update_summary("reviews", summary)
    problems = []
    if failed_total:
        problems.append(f"{failed_total} judge calls failed after retries and were not recorded; "
                        "run again to retry only those (battles.jsonl holds what finished)")
    if too_many:
        problems.append("; ".join(too_many) + ". Every parsed verdict is stored; fix the template (or the judge) "
                        "and run again: only the games without a verdict are asked again (raise max_error_rate to accept them)")
    if pending_total:
        raise BatchesPending(
            f"reviews: {pending_total} judge calls wait in submitted batches (results within 24 hours; "
            f"{run.root / 'batches'} names them); run the same command again to collect them"
            + (". Also: " + " ".join(problems) if problems else "")
        )
    if problems:
        raise IncompleteStage("reviews: " + " ".join(problems))
    return summary


def error_warning(judge: JudgeConfig, entry: dict[str, Any]) -> str:
    """One line on a judge's reviews without a verdict: the rate, the count, and its first reply
    that had none (shortened, the judge's key masked)."""
    return (
        f"reviews {judge.name}: {entry['errors']} of {entry['reviews']} reviews ({entry['error_rate']:.1%}) have no "
        f"verdict in the {entry['template']!r} template's format after {judge.verdict_retries} re-asks; first such "
        f"reply: {entry['first_no_verdict']!r}"
    )


def shown_reply(text: str, judge: JudgeConfig, limit: int = 160) -> str:
    """A judge's reply as a message may show it: the judge's API key masked, one line, cut."""
    env = api_key_env(judge.provider, judge.client)
    key = os.environ.get(env) if env else None
    flat = " ".join(redact(text, key, limit=len(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def judge_identity(judge: JudgeConfig, config: RunConfig) -> str:
    """Who answers and how: the same prompt sent to another model, endpoint or sampling is
    another review, even under the same judge name. A simulated judge's verdicts also follow
    its bias settings, the run's seed and the candidates' latent strengths."""
    gen = judge.generation
    parts: list[Any] = [judge.provider, judge.model_id, judge.client.base_url or "", gen.max_tokens,
                        gen.temperature, gen.top_p, gen.seed, gen.stop, gen.ignore_eos]
    if config.dry_run or judge.provider == "simulated":
        simulated = asdict(judge.simulated)
        if not simulated["belief_noise"]:
            del simulated["belief_noise"]  # keyed only when set: reviews from before it keep their identity
        parts += ["simulated", simulated, config.seed, sorted(latent_strengths(config).items())]
    # Added only when on, so reviews stored before these settings existed keep their identity.
    if constrained(judge):
        parts.append("constrained")
    if judge.verdict_weighting != "argmax":
        parts.append(f"weighting:{judge.verdict_weighting}")
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _drop_stale(store: RecordStore[Review], hashes: dict[str, str], judge: str, identity: str) -> RecordStore[Review]:
    """Reviews whose prompt differs from the one rendered now (an answer, the template or the
    question changed), or that another model or setting answered, are judged again: rewrite the
    file without them and reopen it."""
    stale = {
        k for k, r in store.records.items()
        if k in hashes and (r.prompt_hash != hashes[k] or (r.judge_id is not None and r.judge_id != identity))
    }
    if not stale:
        return store
    log.warning("reviews %s: %d stored reviews were of a different prompt or judge model/settings (changed "
                "answers, template, questions, model or sampling); judging them again", judge, len(stale))
    store.close()
    path = store.path
    write_records_atomic(path, [r for k, r in store.records.items() if k not in stale])
    return RecordStore(path, Review, key=lambda r: r.key)


def _drop_errors(store: RecordStore[Review], wanted: set[str], judge: str) -> RecordStore[Review]:
    """Error rows of the games asked for are asked again: rewrite the file without them."""
    errors = {k for k, r in store.records.items() if r.status == "error" and k in wanted}
    if not errors:
        return store
    log.info("reviews %s: asking again the %d games that had no verdict", judge, len(errors))
    store.close()
    path = store.path
    write_records_atomic(path, [r for k, r in store.records.items() if k not in errors])
    return RecordStore(path, Review, key=lambda r: r.key)


def judge_all(config: RunConfig, judge: JudgeConfig, template: Template, questions: list[Question],
              answers: dict[str, dict[str, Answer]], run: RunDir, *, provider: Provider | None = None,
              cache: ResponseCache | None = None, reviews_out: dict[str, list[Review]] | None = None) -> dict[str, Any]:
    """Play every game of one judge that is not in its reviews file yet (or was of another prompt).
    With `reviews_out`, the judge's reviews (all of its file's, in file order) are put there."""
    games = games_for(judge, [m.name for m in config.models], questions, config.seed)
    rendered = {}
    for game in games:
        shown = {m: answers[m][str(game.question.question_id)] for m in (game.model_a, game.model_b) if m}
        messages = judge_messages(template, judge, game, shown)
        rendered[game.key] = (messages, prompt_hash(messages))
    identity = judge_identity(judge, config)
    store = _drop_stale(reviews_store(run, judge.name), {k: h for k, (_, h) in rendered.items()}, judge.name, identity)
    store = _drop_errors(store, set(rendered), judge.name)
    pending = [g for g in games if g.key not in store]
    price = price_for(judge.model_id, judge.price)
    progress = Progress(f"reviews {judge.name}", len(games))
    progress.done = len(games) - len(pending)
    stats = {"calls": 0, "paid": 0, "cached_calls": 0, "reasks": 0, "failed": 0, "cost_usd": 0.0, "cached": 0, "weighted": 0,
             "continuations": 0, "batch_calls": 0, "batch_cost_usd": 0.0}
    first_error: str | None = None
    own_provider = provider is None and bool(pending)
    shared_cache = cache
    batcher: BatchProvider | None = None
    batch_price = price_for(judge.model_id, judge.price, batch=True)
    try:
        if pending:
            provider = provider or make_provider(judge, config)
            batcher = batching(provider, judge, config, run.batch_journal("reviews", judge.name))
            cache = response_cache(config, judge, shared_cache)
            batch = [_Pending(g, *rendered[g.key]) for g in pending]
            verdict_grammar = grammar(template.verdict)
            while batch:
                retry: list[_Pending] = []

                def on_result(index: int, result: ChatResponse | CallFailed, batch=batch, retry=retry) -> None:
                    nonlocal first_error
                    item = batch[index]
                    stats["calls"] += 1
                    if isinstance(result, CallFailed):
                        stats["failed"] += 1
                        first_error = first_error or str(result)
                        progress.advance(error=True)
                        return
                    continued = item.partial
                    if continued is not None:  # the same reply, completed with its verdict
                        item.texts[-1] = continued + result.text
                        item.partial = None
                    else:
                        item.texts.append(result.text)
                    item.calls += 1
                    item.prompt_tokens += result.prompt_tokens
                    item.output_tokens += result.output_tokens
                    if result.cached:
                        stats["cached_calls"] += 1
                    else:
                        stats["paid"] += 1
                        stats["batch_calls"] += result.batch
                        call_cost = cost_usd(batch_price if result.batch else price, result.prompt_tokens, result.output_tokens)
                        item.paid_cost_usd += call_cost
                        stats["batch_cost_usd"] += call_cost if result.batch else 0.0
                    item.latency_s += result.latency_s
                    item.cached = item.cached and result.cached
                    item.served_model = result.model or item.served_model
                    reply = item.texts[-1]
                    verdict = parse_verdict(reply, template.verdict)
                    if verdict is None and constrained(judge) and verdict_grammar.at == "end" and continued is None:
                        # Cut at max_tokens before its verdict: complete this reply (not a re-ask).
                        item.partial = reply
                        retry.append(item)
                        stats["continuations"] += 1
                        return
                    if verdict is None and item.reasks < judge.verdict_retries:
                        item.messages = reask_messages(item.messages, reply, template.verdict)
                        item.reasks += 1
                        retry.append(item)
                        stats["reasks"] += 1
                        return
                    if verdict is not None and judge.verdict_weighting == "probability":
                        # The tokens are this call's: a continuation's start after the text it continued.
                        shift = len(continued) if continued is not None else 0
                        item.weighted = weigh(verdict_grammar, result.token_logprobs, result.text,
                                              tuple(at - shift for at in verdict.starts))
                        stats["weighted"] += item.weighted is not None
                    review = _review_of(judge, template, item, verdict, item.calls, identity)
                    store.append(review)
                    stats["cost_usd"] += review.cost_usd
                    stats["cached"] += int(review.cached)
                    progress.advance(error=review.status == "error", cost_usd=review.cost_usd, cached=review.cached)

                requests = [judge_request(judge, template, verdict_grammar, item, item.calls + 1, answers) for item in batch]
                run_batch_cached(batcher or provider, requests, on_result, cache, progress=progress)
                batch = retry
    finally:
        if batcher is not None:
            batcher.close()
        if own_provider and provider is not None:
            provider.close()
        if cache is not None and cache is not shared_cache:
            cache.close()
        store.close()
        progress.close()
    reviews = list(store.records.values())
    if reviews_out is not None:
        reviews_out[judge.name] = reviews
    errors = sum(r.status == "error" for r in reviews)
    # The first reply of the first game without a verdict (its re-asks follow in `raw`).
    first_error_reply = next((r.raw.split(REASK_SEPARATOR)[0] for r in reviews if r.status == "error"), None)
    return {
        "template": template.name,
        "mode": judge.mode,
        "model": judge.model_id,
        "games": len(games),
        "reviews": len(reviews),
        "errors": errors,
        "error_rate": errors / len(reviews) if reviews else 0.0,
        "failed": stats["failed"],
        "first_failure": first_error,
        "first_no_verdict": shown_reply(first_error_reply, judge) if first_error_reply is not None else None,
        "calls_this_run": stats["calls"],
        "calls_paid_this_run": stats["paid"],
        "calls_cached_this_run": stats["cached_calls"],
        "reasks_this_run": stats["reasks"],
        # Constrained replies cut at max_tokens, completed with their verdict by one more call.
        "continuations_this_run": stats["continuations"],
        "cached_this_run": stats["cached"],
        "cost_usd_this_run": round(stats["cost_usd"], 6),
        # client.batch: the calls answered by batch (billed at batch prices), the batches used,
        # and the requests left waiting in them (--no-wait).
        "calls_batch_this_run": stats["batch_calls"],
        "cost_usd_batch_this_run": round(stats["batch_cost_usd"], 6),
        "batches_this_run": batcher.used if batcher is not None else [],
        "batch_pending": batcher.pending if batcher is not None else 0,
        "cost_usd_total": round(sum(r.cost_usd for r in reviews), 6),
        "prompt_tokens_total": sum(r.prompt_tokens for r in reviews),
        "output_tokens_total": sum(r.output_tokens for r in reviews),
        "price_known": price is not None,
        "verdict_constraint": "grammar" if constrained(judge) else "none",
        "verdict_weighting": judge.verdict_weighting,
        # Reviews with a probability-weighted outcome; the rest (no log-probabilities at the
        # verdict) count by their written verdict.
        "weighted_reviews": sum(r.weighted is not None for r in reviews),
        # Which model answered, as the API named it (run.json's provenance reads this).
        "answered_as": answered_as(r.served_model for r in reviews),
    }


def first_request(judge: JudgeConfig, template: Template, game: Game, messages: list[dict[str, str]],
                  answers: dict[str, dict[str, Answer]]) -> ChatRequest:
    """The first call of a game, as the stage sends it (what `arena plan` looks up in the cache)."""
    return judge_request(judge, template, grammar(template.verdict), _Pending(game, messages, ""), 1, answers)


def judge_request(judge: JudgeConfig, template: Template, verdict_grammar: VerdictGrammar, item: _Pending, attempt: int,
             answers: dict[str, dict[str, Answer]]) -> ChatRequest:
    game = item.game
    qid = str(game.question.question_id)
    gen = judge.generation
    meta: dict[str, Any] = {
        "kind": "judge", "judge": judge.name, "verdict": template.verdict, "question_id": game.question.question_id,
        "turn": game.turn, "first": game.first, "second": game.second, "attempt": attempt,
        "len_first": len(answers[game.first][qid].choices[0].turns[game.turn - 1]),
    }
    if game.second is not None:
        meta["len_second"] = len(answers[game.second][qid].choices[0].turns[game.turn - 1])
    messages, max_tokens, regex, continuing = item.messages, gen.max_tokens, None, False
    if constrained(judge):
        if item.partial is not None:
            # Complete the reply that was cut short: the verdict alone, a few tokens.
            messages = item.messages + [{"role": "assistant", "content": item.partial}]
            regex, continuing = verdict_grammar.continuation(), True
            max_tokens = verdict_grammar.longest + 8
            meta["continue"] = True
        else:
            # Free text bounded in characters, so the verdict fits in max_tokens (see grammar).
            regex = verdict_grammar.constraint(gen.max_tokens - verdict_grammar.longest - 8)
    return ChatRequest(
        messages=messages, max_tokens=max_tokens, temperature=gen.temperature or 0.0, top_p=gen.top_p,
        seed=gen.seed, stop=gen.stop, ignore_eos=gen.ignore_eos and not continuing, meta=meta, regex=regex,
        logprobs=TOP_LOGPROBS if judge.verdict_weighting == "probability" else 0, continue_final=continuing,
    )


def _review_of(judge: JudgeConfig, template: Template, item: _Pending, verdict: Verdict | None, attempt: int,
               identity: str) -> Review:
    game = item.game
    winner = None
    weighted = item.weighted.value if item.weighted is not None else None
    if verdict is not None and verdict.first_score is not None:
        score_a = verdict.first_score if game.first == game.model_a else 1.0 - verdict.first_score
        winner = {1.0: "model_a", 0.0: "model_b", 0.5: "tie"}[score_a]
        if weighted is not None and game.first != game.model_a:
            weighted = 1.0 - weighted  # stored in model terms: model_a's outcome
    return Review(
        judge=judge.name,
        template=template.name,
        mode=judge.mode,
        question_id=game.question.question_id,
        turn=game.turn,
        model_a=game.model_a,
        model_b=game.model_b,
        first=game.first,
        prompt_hash=item.first_hash,
        raw=REASK_SEPARATOR.join(item.texts),
        status="ok" if verdict is not None else "error",
        verdict=verdict.label if verdict is not None else None,
        winner=winner,  # type: ignore[arg-type]
        score=verdict.rating if verdict is not None else None,
        weighted=round(weighted, 6) if weighted is not None else None,
        verdict_probs=[{k: round(v, 6) for k, v in d.items()} for d in item.weighted.probs] if item.weighted else None,
        error=None if verdict is not None else f"no verdict in the {template.verdict!r} format after {attempt} attempts",
        attempts=attempt,
        prompt_tokens=item.prompt_tokens,
        output_tokens=item.output_tokens,
        # What this call cost: answers taken from the response cache were paid for before.
        cost_usd=round(item.paid_cost_usd, 8),
        latency_s=round(item.latency_s, 6),
        cached=item.cached,
        tstamp=time.time(),
        judge_id=identity,
        served_model=item.served_model,
    )


@dataclass
class BuiltBattles:
    battles: list[Battle]
    jury: JuryResult | None
    #: Each configured judge's reviews of the games the config asks for now.
    current: dict[str, list[Review]]


def write_battles(config: RunConfig, questions: list[Question], answers: dict[str, dict[str, Answer]], run: RunDir,
                  templates: dict[str, Template] | None = None,
                  reviews: dict[str, list[Review]] | None = None) -> BuiltBattles:
    """Rebuild battles.jsonl from the configured judges' reviews (atomic replace; `reviews` by
    judge when the caller has read the files already), and the jury's, where the config has one,
    from its members' (its reviews file is rewritten too: it is derived, never asked). Only
    reviews of games the config asks for now count: a reviews file may still hold games of
    models, modes or templates since removed from the config."""
    by_id = {str(q.question_id): q for q in questions}
    model_names = [m.name for m in config.models]
    battles: list[Battle] = []
    wanted_by_judge: dict[str, list[Review]] = {}
    for judge in config.judges:
        judged = reviews[judge.name] if reviews is not None else read_reviews(run, judge.name)
        wanted_keys = {g.key for g in games_for(judge, model_names, questions, config.seed)}
        template = (templates or {}).get(judge.name)
        template_name = template.name if template is not None else judge.template_name
        wanted = [r for r in judged if r.key in wanted_keys and r.mode == judge.mode and r.template == template_name]
        if len(wanted) < len(judged):
            log.info("reviews %s: %d stale reviews ignored (games no longer configured)", judge.name, len(judged) - len(wanted))
        battles += battles_from_reviews(wanted, by_id, answers, strong_weight=judge.strong_verdict_weight)
        wanted_by_judge[judge.name] = wanted
    jury = None
    if config.jury is not None:
        jury = combine_jury(config.jury.name, config.jury.method, {m: wanted_by_judge[m] for m in config.jury.judges},
                            min_agreement=config.jury.min_agreement)
        write_records_atomic(run.reviews(config.jury.name), jury.reviews)
        battles += battles_from_reviews(jury.reviews, by_id, answers)
    write_records_atomic(run.battles, battles)
    # The columnar copy, so the run's ratings and dashboard read battles by column (a stale or
    # missing one falls back to the JSONL and is rebuilt).
    write_columnar(run.battles, battles_frame(battles))
    return BuiltBattles(battles, jury, wanted_by_judge)


def battle_summary(battles: list[Battle]) -> dict[str, Any]:
    """Position consistency: the share of two-order battles whose orders agree."""
    both = [b for b in battles if b.consistent is not None]
    return {
        "battles": len(battles),
        "battles_one_order": sum(1 for b in battles if b.mode != "single" and len(b.games) == 1),
        "position_consistency": (sum(b.consistent for b in both) / len(both)) if both else None,
        "battle_tie_rate": (sum(b.winner.startswith("tie") for b in battles) / len(battles)) if battles else None,
    }
