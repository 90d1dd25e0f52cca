"""`arena run -c CONFIG` (also `run_arena -c CONFIG`): the whole pipeline."""

from __future__ import annotations

import argparse
import logging
import sys

from arena.config import RunConfig, load_config
from arena.costing.plan import build_plan
from arena.errors import ArenaError, ConfigError
from arena.pipeline import RunPlan, plan_run, run_pipeline
from arena.scoring.versus_ratings import scores_beside_ratings, summary_frame

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the pipeline: answers, reviews, ratings",
        description="Run a config's stages. Re-running the same command resumes where it stopped.",
    )
    parser.add_argument("-c", "--config", required=True, help="run config (YAML)")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="replace every model and judge by the seeded simulator (no GPU, key or network); "
        "writes to <output_dir>-dryrun unless the config is itself a dry run",
    )
    parser.add_argument("--stages", help="comma-separated subset of answers,reviews,ratings,scores (default: the config's)")
    parser.add_argument(
        "--no-wait", action="store_true",
        help="with client.batch: submit the batch jobs, collect those already ended, and exit (status 3 while "
        "any is still running); the same command later collects the rest",
    )
    parser.set_defaults(handler=run_command)


def config_of(args: argparse.Namespace) -> RunConfig:
    """The config named by -c, with --dry-run and --stages applied (run and plan take both)."""
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages is not None else None
    if stages is not None and not stages:
        raise ConfigError("--stages: expected a comma-separated list of stages, e.g. reviews,ratings")
    config = load_config(args.config, dry_run=args.dry_run, stages=stages)
    config.no_wait = bool(getattr(args, "no_wait", False))
    return config


def run_command(args: argparse.Namespace) -> int:
    config = config_of(args)
    plan = plan_run(config)
    out = sys.stdout
    out.write(_plan_total(plan) + "\n")
    out.flush()
    results = run_pipeline(plan)
    ratings = results.get("ratings")
    if ratings is not None:
        out.write(ratings.table_text() + "\n")
    scores = results.get("scores")
    if scores is not None:
        beside = ""
        if ratings is not None and len(ratings.leaderboard):
            beside = scores_beside_ratings(ratings.leaderboard, summary_frame(scores.rows))
        out.write((beside or scores.table_text()) + "\n")
    out.write(f"run folder: {results['run_dir']}\n")
    return 0


def _plan_total(plan: RunPlan) -> str:
    """`arena plan`'s one-line total. The plan only reads; a record it cannot read (the stage
    will name it) costs the line its figures, never the run."""
    try:
        return build_plan(plan.config, plan.questions, plan.templates, plan.benchmarks).one_line()
    except (ArenaError, OSError) as exc:
        return f"plan: not available ({exc})"
    except Exception as exc:  # a fault of the plan itself must not stop a run
        log.warning("plan: could not be made (%s: %s); running anyway", type(exc).__name__, exc)
        return "plan: not available"
