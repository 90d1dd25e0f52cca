"""The answers stage: every candidate answers every question, turn by turn.

All prompts of a turn go to the provider as one batch (a batching engine such as vLLM then runs
them together); turn t+1 is built from each conversation's turn-t answer. An answer is appended to
`answers/<model>.jsonl` the moment its last turn is done, so a crash loses at most unfinished
conversations, and a re-run asks only for the answers that are missing. One model failing (bad
settings, out of memory) does not stop the others; the stage reports it at the end. Each model's
section of summary.json holds its token totals and the serving figures of the answers generated
in this invocation (arena.stages.serving).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.config import ModelConfig, RunConfig
from arena.errors import ArenaError, BatchesPending, IncompleteStage
from arena.progress import Progress
from arena.provenance import answered_as
from arena.providers import make_provider
from arena.providers.base import CallFailed, ChatRequest, ChatResponse, Provider
from arena.providers.batch import BatchProvider, batching
from arena.records import Answer, Choice, Question
from arena.registry import default_temperature
from arena.rundir import RunDir
from arena.stages.serving import serving_summary
from arena.store import RecordStore

log = logging.getLogger(__name__)


@dataclass
class _Conversation:
    """One question being answered: each choice's turns so far, and per-turn measurements."""

    question: Question
    n_choices: int
    turns: list[list[str]] = field(default_factory=list)  # [choice][turn]
    prompt_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    ttft_s: list[float | None] = field(default_factory=list)
    finish_reasons: list[str | None] = field(default_factory=list)
    served_model: str = ""  # the model id the API named in its last reply
    failed: str | None = None
    #: Its turn is still in a batch job (--no-wait): later turns wait for the next run.
    waiting: bool = False

    def __post_init__(self) -> None:
        self.turns = [[] for _ in range(self.n_choices)]


def answers_store(run: RunDir, model: str) -> RecordStore[Answer]:
    return RecordStore(run.answers(model), Answer, key=lambda a: str(a.question_id))


def build_messages(model: ModelConfig, question: Question, previous: list[str]) -> list[dict[str, str]]:
    """The chat for the next turn: optional system prompt, earlier turns with this choice's own
    answers, then the next user turn."""
    messages = [{"role": "system", "content": model.system_prompt}] if model.system_prompt else []
    for user, assistant in zip(question.turns, previous):
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": question.turns[len(previous)]})
    return messages


def sampling_for(model: ModelConfig, question: Question) -> dict[str, Any]:
    """Generation settings for one question: the model's, with the registry's per-category
    temperature where the model sets none."""
    gen = model.generation
    temperature = gen.temperature if gen.temperature is not None else default_temperature(question.category)
    return {
        "max_tokens": gen.max_tokens,
        "temperature": temperature,
        "top_p": gen.top_p,
        "seed": gen.seed,
        "stop": gen.stop,
        "ignore_eos": gen.ignore_eos,
    }


def answer_id(model: str, question: Question, turns: list[list[str]]) -> str:
    """Deterministic id: the same answer text gets the same id, so re-runs compare equal."""
    digest = hashlib.sha256(repr((model, question.question_id, turns)).encode("utf-8")).hexdigest()
    return digest[:22]


ProviderFactory = Callable[[ModelConfig, RunConfig], Provider]


def run_answers(
    config: RunConfig, questions: list[Question], run: RunDir, *, provider_factory: ProviderFactory = make_provider
) -> dict[str, Any]:
    """Answer every question with every candidate; return the stage summary. `provider_factory`
    builds each model's provider (a benchmark passes one holding an engine it already started)."""
    previous = run.read_summary().get("answers") or {}
    summary: dict[str, Any] = {}
    failures: list[str] = []
    errors: list[ArenaError] = []
    for model in config.models:
        result, error = answer_with_model(config, model, questions, run, provider_factory, previous.get(model.name))
        summary[model.name] = result
        if error is not None:
            # One model's bad setting must not cost the others their answers.
            message = str(error) if str(error).startswith(f"model {model.name!r}") else f"{model.name}: {error}"
            if isinstance(error, BatchesPending):
                log.info("answers: %s", message)
            else:
                log.error("answers: %s", message)
            failures.append(message)
            errors.append(error)
    run.update_summary("answers", summary)
    if failures:
        waiting = any(isinstance(e, BatchesPending) for e in errors)
        raise (BatchesPending if waiting else IncompleteStage)("answers: " + "; ".join(failures))
    return summary


def answer_with_model(
    config: RunConfig, model: ModelConfig, questions: list[Question], run: RunDir,
    provider_factory: ProviderFactory = make_provider, previous: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], ArenaError | None]:
    """Generate the model's missing answers. Returns its summary, and the error that stopped it
    (or None); answers finished before an error are stored and count."""
    store = answers_store(run, model.name)
    pending = [q for q in questions if str(q.question_id) not in store]
    progress = Progress(f"answers {model.name}", len(questions))
    progress.done = len(questions) - len(pending)
    generated: list[Answer] = []
    conversations: list[_Conversation] = []
    wall_s = 0.0
    engine_start_s: float | None = None
    server_ttft: dict[str, Any] | None = None
    error: ArenaError | None = None
    batcher: BatchProvider | None = None
    try:
        if pending:
            provider = provider_factory(model, config)  # starts the engine or server
            engine_start_s = getattr(provider, "startup_s", None)
            start = time.perf_counter()
            try:
                batcher = batching(provider, model, config, run.batch_journal("answers", model.name))
                conversations = [_Conversation(q, model.generation.n) for q in pending]
                max_turns = max(len(q.turns) for q in pending)
                for turn in range(1, max_turns + 1):
                    _run_turn(batcher or provider, model, conversations, turn, store, progress, generated)
            finally:
                wall_s = time.perf_counter() - start
                if batcher is not None:
                    batcher.close()
                provider.close()
                server_ttft = provider.server_ttft() if hasattr(provider, "server_ttft") else None
    except ArenaError as exc:
        error = exc
    finally:
        store.close()
        progress.close()
    failed = [c.failed for c in conversations if c.failed]
    waiting = sum(c.waiting for c in conversations)
    if error is None and waiting:
        error = BatchesPending(
            f"{waiting} answers wait in submitted batches (results within 24 hours; {run.root / 'batches'} names "
            "them); run the same command again to collect them"
        )
    if error is None and failed:
        error = IncompleteStage(
            f"{len(failed)} of {len(questions)} answers failed after retries (first: {failed[0]}); "
            "run again to retry only those"
        )
    wanted = {str(q.question_id) for q in questions}
    # The store already holds every record of the file (read at open, appended since).
    answers = [a for a in store.records.values() if str(a.question_id) in wanted]
    result = serving_summary(
        answers, generated, wall_s, engine_start_s=engine_start_s, previous=previous, server_ttft=server_ttft
    )
    result["answered"] = len(answers)
    result["answered_as"] = answered_as(a.generation.get("served_model") for a in answers)
    result["failed"] = len(failed)
    result["missing"] = len(questions) - len(answers)
    if batcher is not None:
        result["calls_batch_this_run"] = batcher.answered
        result["batches_this_run"] = batcher.used
        result["batch_pending"] = waiting
    if error is not None:
        result["error"] = str(error)
    return result, error


def _run_turn(provider: Provider, model: ModelConfig, conversations: list[_Conversation], turn: int,
              store: RecordStore[Answer], progress: Progress, generated: list[Answer]) -> None:
    """Submit turn `turn` of every live conversation as one batch."""
    requests: list[ChatRequest] = []
    owners: list[tuple[_Conversation, int | None]] = []  # (conversation, choice or None = all)
    for conv in conversations:
        if conv.failed or conv.waiting or len(conv.question.turns) < turn:
            continue
        settings = sampling_for(model, conv.question)
        meta = {"kind": "answer", "model": model.name, "question_id": conv.question.question_id,
                "turn": turn, "category": conv.question.category}
        if turn == 1:
            # One request samples every choice; later turns continue each choice on its own.
            messages = build_messages(model, conv.question, [])
            requests.append(ChatRequest(messages=messages, n=conv.n_choices, meta=meta, **settings))
            owners.append((conv, None))
        else:
            for choice in range(conv.n_choices):
                messages = build_messages(model, conv.question, conv.turns[choice])
                requests.append(ChatRequest(messages=messages, n=1, meta={**meta, "choice": choice}, **settings))
                owners.append((conv, choice))
        conv.prompt_tokens.append(0)
        conv.output_tokens.append(0)
        conv.latency_s.append(0.0)
        conv.ttft_s.append(None)
        conv.finish_reasons.append(None)
    remaining = {id(conv): 0 for conv, _ in owners}
    for conv, _ in owners:
        remaining[id(conv)] += 1

    def on_result(index: int, result: ChatResponse | CallFailed) -> None:
        conv, choice = owners[index]
        remaining[id(conv)] -= 1
        if isinstance(result, CallFailed):
            conv.failed = conv.failed or str(result)
        elif not conv.failed:
            _record_turn(conv, choice, result)
        if remaining[id(conv)] == 0 and not conv.failed and len(conv.question.turns) == turn:
            answer = _answer_of(model, conv)
            if store.append(answer):
                generated.append(answer)
            progress.advance()
        elif remaining[id(conv)] == 0 and conv.failed:
            progress.advance(error=True)

    if requests:
        provider.run_batch(requests, on_result, progress=progress)
    for conv, _ in owners:
        if remaining[id(conv)] > 0 and not conv.failed:
            conv.waiting = True  # a batch still holds this turn (--no-wait)


def _record_turn(conv: _Conversation, choice: int | None, response: ChatResponse) -> None:
    texts = response.texts
    if choice is None:
        if len(texts) != conv.n_choices:
            conv.failed = f"asked for {conv.n_choices} choices, got {len(texts)}"
            return
        for i, text in enumerate(texts):
            conv.turns[i].append(text)
    else:
        conv.turns[choice].append(texts[0] if texts else "")
    conv.prompt_tokens[-1] += response.prompt_tokens
    conv.output_tokens[-1] += response.output_tokens
    conv.latency_s[-1] = max(conv.latency_s[-1], response.latency_s)
    if response.ttft_s is not None:
        conv.ttft_s[-1] = max(conv.ttft_s[-1] or 0.0, response.ttft_s)
    conv.finish_reasons[-1] = response.finish_reasons[0] if response.finish_reasons else None
    conv.served_model = response.model or conv.served_model


def _answer_of(model: ModelConfig, conv: _Conversation) -> Answer:
    return Answer(
        question_id=conv.question.question_id,
        answer_id=answer_id(model.name, conv.question, conv.turns),
        model_id=model.name,
        choices=[Choice(index=i, turns=list(turns)) for i, turns in enumerate(conv.turns)],
        tstamp=time.time(),
        prompt_tokens=conv.prompt_tokens,
        output_tokens=conv.output_tokens,
        latency_s=[round(x, 6) for x in conv.latency_s],
        ttft_s=conv.ttft_s,
        finish_reasons=conv.finish_reasons,
        generation={"provider": model.provider, "model": model.model_id, **sampling_for(model, conv.question),
                    **({"served_model": conv.served_model} if conv.served_model else {})},
    )
