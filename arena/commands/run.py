"""`arena run -c CONFIG` (also `run_arena -c CONFIG`): the whole pipeline."""

from __future__ import annotations

import argparse
import sys

from arena.config import load_config
from arena.errors import ConfigError
from arena.pipeline import plan_run, run_pipeline
from arena.scoring.versus_ratings import scores_beside_ratings, summary_frame


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
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages is not None else None
    if stages is not None and not stages:
        raise ConfigError("--stages: expected a comma-separated list of stages, e.g. reviews,ratings")
    config = load_config(args.config, dry_run=args.dry_run, stages=stages)
    plan = plan_run(config)
    results = run_pipeline(plan)
    out = sys.stdout
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
