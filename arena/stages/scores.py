"""The scores stage: rule-based benchmarks for every candidate, in every configured style.

For each model, each benchmark and each style the model runs (arena.scoring.plan decided which,
before the run), every item not yet scored becomes one request: log-probabilities for
letter_logprob/text_logprob, a greedy generation for generate_letter/exact_match. Each answer is
turned into a `ScoreRow` and appended to `scores/<model>.jsonl` the moment it arrives, so a crash
loses only calls in flight and a re-run asks only for what is missing. Rows carry a fingerprint of
the benchmark's settings; rows made under other settings stay in the file but do not count.

Then `scores/summary.csv` (`model,benchmark,style,metric,value,n,ci_low,ci_high,n_shot,setting`,
accuracy with a 95% Wilson interval, the benchmark's k_shot as n_shot) and `scores/subjects.csv` (the same per subject, benchmark `name/subject`,
for benchmarks with several subjects) are rewritten atomically, keeping rows of other models and
imported scores; the run's summary.json gets a `scores` section.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.config import ModelConfig, RunConfig
from arena.errors import ArenaError, IncompleteStage
from arena.progress import Progress
from arena.providers.base import CallFailed, ChatResponse, LogprobResponse, Provider
from arena.rundir import RunDir
from arena.scoring.plan import PreparedBenchmark, scoring_provider
from arena.scoring.rows import ScoreRow, SummaryRow, merge_summary, score_key
from arena.scoring.tasks import (
    LOGPROB_STYLES,
    Task,
    accuracy_rows,
    chat_request,
    logprob_request,
    row_from_logprobs,
    row_from_text,
)
from arena.store import RecordStore

log = logging.getLogger(__name__)

ProviderFactory = Callable[[ModelConfig, RunConfig], Provider]


@dataclass
class ScoresResult:
    rows: list[SummaryRow] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def table_text(self) -> str:
        """The accuracies as a small table for the terminal."""
        lines = [f"{'model':<20} {'benchmark':<16} {'style':<16} {'metric':<20} {'value':>7}  {'95% CI':<15} {'n':>6}  {'shots':>5}"]
        for r in sorted(self.rows, key=lambda r: r.key):
            ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if r.ci_low is not None and r.ci_high is not None else ""
            shots = "" if r.n_shot is None else r.n_shot
            lines.append(f"{r.model:<20} {r.benchmark:<16} {r.style:<16} {r.metric:<20} {r.value:>7.3f}  {ci:<15} {r.n or '':>6}  {shots:>5}")
        return "\n".join(lines)


def scores_path(run: RunDir, model: str) -> Any:
    return run.scores / f"{model}.jsonl"


def open_scores(run: RunDir, model: str) -> RecordStore[ScoreRow]:
    return RecordStore(scores_path(run, model), ScoreRow, key=lambda r: r.key)


def run_scores(config: RunConfig, benchmarks: list[PreparedBenchmark], run: RunDir, *,
               provider_factory: ProviderFactory = scoring_provider) -> ScoresResult:
    """Score every model on every benchmark; write the scores folder; return the accuracies."""
    failures: list[str] = []
    totals: list[SummaryRow] = []
    by_subject: list[SummaryRow] = []
    summary: dict[str, Any] = {}
    for model in config.models:
        store = open_scores(run, model.name)
        try:
            error = _score_model(config, model, benchmarks, store, provider_factory)
            if error is not None:
                message = str(error) if model.name in str(error) else f"{model.name}: {error}"
                log.error("scores: %s", message)
                failures.append(message)
            model_rows, model_subjects, model_summary = _summarize(model.name, benchmarks, store)
        finally:
            store.close()
        totals += model_rows
        by_subject += model_subjects
        summary[model.name] = model_summary
    # This stage's own rows are replaced whatever setting they were made under: the config says
    # how they are scored now (the per-item rows keep the old settings' items apart).
    rows = merge_summary(run.scores / "summary.csv", totals, any_setting=True)
    if by_subject:
        merge_summary(run.scores / "subjects.csv", by_subject, any_setting=True)
    run.update_summary("scores", summary)
    if failures:
        raise IncompleteStage("scores: " + "; ".join(failures))
    return ScoresResult(rows=[r for r in rows if r.model in {m.name for m in config.models}], summary=summary)


def _score_model(config: RunConfig, model: ModelConfig, benchmarks: list[PreparedBenchmark],
                 store: RecordStore[ScoreRow], provider_factory: ProviderFactory) -> ArenaError | None:
    """Run the model's missing items, group by group (benchmark and style). Returns the error
    that stopped it, or None; rows stored before an error count."""
    groups = []
    for bench in benchmarks:
        for style in bench.styles_by_model.get(model.name, []):
            tasks = [Task(bench, style, item) for item in bench.items]
            todo = [t for t in tasks if _key(t) not in store]
            if todo:
                groups.append(todo)
    if not groups:
        return None
    progress = Progress(f"scores {model.name}", sum(len(g) for g in groups))
    failed: list[str] = []
    provider: Provider | None = None
    try:
        provider = provider_factory(model, config)
        for tasks in groups:
            _run_group(provider, model, tasks, store, progress, failed)
    except ArenaError as exc:
        return exc
    finally:
        if provider is not None:
            provider.close()
        progress.close()
    if failed:
        return IncompleteStage(
            f"{len(failed)} items failed after retries (first: {failed[0]}); run again to retry only those"
        )
    return None


def _key(task: Task) -> str:
    return score_key(task.bench.config.name, task.style, task.item.item_id, task.bench.setting)


def _run_group(provider: Provider, model: ModelConfig, tasks: list[Task], store: RecordStore[ScoreRow],
               progress: Progress, failed: list[str]) -> None:
    """One benchmark and style: all its requests as one batch, each row stored as it lands."""
    style = tasks[0].style

    def on_result(index: int, result: LogprobResponse | ChatResponse | CallFailed) -> None:
        if isinstance(result, CallFailed):
            failed.append(str(result))
            progress.advance(error=True)
            return
        task = tasks[index]
        if isinstance(result, LogprobResponse):
            row = row_from_logprobs(task, model.name, result)
        else:
            row = row_from_text(task, model.name, result)
        store.append(row)
        progress.advance()

    if style in LOGPROB_STYLES:
        requests = [logprob_request(t, model.name, provider.logprob_abilities) for t in tasks]
        provider.run_logprob_batch(requests, on_result, progress=progress)  # type: ignore[arg-type]
    else:
        provider.run_batch([chat_request(t, model) for t in tasks], on_result, progress=progress)  # type: ignore[arg-type]


def _summarize(model: str, benchmarks: list[PreparedBenchmark], store: RecordStore[ScoreRow]
               ) -> tuple[list[SummaryRow], list[SummaryRow], dict[str, Any]]:
    """Accuracies over the rows of the current settings and items: overall, per subject, and the
    model's section of summary.json."""
    totals: list[SummaryRow] = []
    subjects: list[SummaryRow] = []
    section: dict[str, Any] = {}
    for bench in benchmarks:
        name = bench.config.name
        unit = bench.config.length_normalization
        entry: dict[str, Any] = {}
        for style in bench.styles_by_model.get(model, []):
            rows = [store.get(_key(Task(bench, style, item))) for item in bench.items]
            done = [r for r in rows if r is not None]
            shots = bench.config.k_shot
            totals += accuracy_rows(model, name, style, done, unit, shots)
            names = sorted({r.subject for r in done})
            if len(names) > 1:
                for subject in names:
                    subjects += accuracy_rows(model, f"{name}/{subject}", style, [r for r in done if r.subject == subject], unit, shots)
            entry[style] = {
                "scored": len(done),
                "missing": len(rows) - len(done),
                "accuracy": sum(r.correct for r in done) / len(done) if done else None,
                "no_answer": sum(r.prediction is None for r in done),
            }
        if bench.skipped.get(model):
            entry["skipped_styles"] = bench.skipped[model]
        section[name] = entry
    return totals, subjects, section
