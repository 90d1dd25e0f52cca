"""`arena score -c CONFIG`: only the scores stage (rule-based benchmarks) of a run config."""

from __future__ import annotations

import argparse
import sys

from arena.config import load_config
from arena.pipeline import plan_run, run_pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score the candidates on the config's rule-based benchmarks (multiple choice, exact match)",
        description="Run only the scores stage: every candidate on every benchmark in the config's "
        "'benchmarks' list, in each configured style; writes scores/<model>.jsonl and scores/summary.csv. "
        "Re-running the same command resumes where it stopped.",
    )
    parser.add_argument("-c", "--config", required=True, help="run config (YAML) with a 'benchmarks' list")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="replace every model by the seeded simulator (no GPU, key or network); "
        "writes to <output_dir>-dryrun unless the config is itself a dry run",
    )
    parser.set_defaults(handler=score_command)


def score_command(args: argparse.Namespace) -> int:
    config = load_config(args.config, dry_run=args.dry_run, stages=["scores"])
    results = run_pipeline(plan_run(config))
    sys.stdout.write(results["scores"].table_text() + "\n")
    sys.stdout.write(f"run folder: {results['run_dir']}\n")
    return 0
