"""The whole run: check everything up front, then run the chosen stages in order.

`plan_run` does every check that can fail on the user's input (config, question set, templates,
API keys) before any stage writes a byte; `run_pipeline` then runs the stages. Each stage reads
and writes files in the run folder only, so any stage can run alone.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from arena.config import RunConfig, check_api_keys, check_cache_dir
from arena.errors import ArenaError, ConfigError
from arena.judging.templates import Template, load_template
from arena.provenance import build_provenance
from arena.questions import load_questions
from arena.records import Question
from arena.rundir import RunDir, prepare_run_dir, record_provenance

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    config: RunConfig
    questions: list[Question]
    templates: dict[str, Template]
    benchmarks: list[Any] = field(default_factory=list)  # arena.scoring.plan.PreparedBenchmark


def plan_run(config: RunConfig, *, check_keys: bool = True) -> RunPlan:
    """Every check on the user's input, before any work: raises ConfigError/DataError. Without
    `check_keys` (`arena plan`, which makes no call) API keys and the cache folder are not
    checked."""
    where = str(config.source_path)
    base_dir = config.source_path.parent
    questions = load_questions(config.questions_config, base_dir, where) if config.needs_questions else []
    max_turns = max((len(q.turns) for q in questions), default=None)
    templates: dict[str, Template] = {}
    for i, judge in enumerate(config.judges):
        key = f"judges[{i}]"
        template = load_template(judge.template_name, where=where, key=f"{key}.template", base_dir=base_dir)
        wants = "single" if judge.mode == "single" else "pairwise"
        if template.kind != wants:
            raise ConfigError(
                f"{where}: {key}.template: {template.name!r} is a {template.kind} template, "
                f"but mode {judge.mode!r} needs a {wants} one"
            )
        if judge.turns and max_turns is not None and max(judge.turns) > max_turns:
            raise ConfigError(f"{where}: {key}.turns: turn {max(judge.turns)} asked, but no question has more than {max_turns} turns")
        templates[judge.name] = template
    benchmarks = []
    if "scores" in config.stages:
        from arena.scoring.plan import prepare_benchmarks

        benchmarks = prepare_benchmarks(config)
    if check_keys:
        check_api_keys(config)
        check_cache_dir(config)
    return RunPlan(config=config, questions=questions, templates=templates, benchmarks=benchmarks)


def run_pipeline(plan: RunPlan) -> dict[str, Any]:
    """Run the configured stages; return what each produced (the ratings result included)."""
    config = plan.config
    run = prepare_run_dir(config)
    results: dict[str, Any] = {"run_dir": run.root}
    status = "stopped"
    try:
        _provenance(plan, run, "started")
        for stage in config.stages:
            log.info("stage %s: %s", stage, run.root)
            results[stage] = STAGES[stage](plan, run)
        status = "finished"
    except ArenaError as exc:
        status = f"failed: {type(exc).__name__}"
        raise
    finally:
        try:
            _provenance(plan, run, status)
        except Exception as exc:  # bookkeeping must not hide the run's own outcome
            log.warning("run.json: could not record the run's provenance: %s", exc)
        run.release()
    return results


def _provenance(plan: RunPlan, run: RunDir, status: str) -> None:
    """Record what made the numbers in run.json (see arena.provenance). The GPU is looked up
    once the stages end, where a vLLM engine or server ran."""
    config = plan.config
    ran = set(config.stages)
    local = ([m.provider for m in config.models] if ran & {"answers", "scores"} else []) + \
        ([j.provider for j in config.judges] if "reviews" in ran else [])
    used_gpu = status != "started" and not config.dry_run and "vllm" in local
    block = build_provenance(config, questions=plan.questions, templates=plan.templates, summary=run.read_summary(),
                             stages=list(config.stages), used_gpu=used_gpu)
    record_provenance(run, block, status)


def _answers(plan: RunPlan, run: RunDir) -> Any:
    from arena.stages.answers import run_answers

    return run_answers(plan.config, plan.questions, run)


def _reviews(plan: RunPlan, run: RunDir) -> Any:
    from arena.stages.reviews import run_reviews

    return run_reviews(plan.config, plan.questions, run, plan.templates)


def _ratings(plan: RunPlan, run: RunDir) -> Any:
    ratings = importlib.import_module("arena.stages.ratings")
    return ratings.run_ratings(run.root, plan.config.ratings)


def _scores(plan: RunPlan, run: RunDir) -> Any:
    from arena.stages.scores import run_scores

    return run_scores(plan.config, plan.benchmarks, run)


STAGES = {"answers": _answers, "reviews": _reviews, "ratings": _ratings, "scores": _scores}
