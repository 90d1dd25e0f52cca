"""`arena diff RUN_A RUN_B`: what changed between two runs, and which rating changes are real."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from arena.battle_log import keep_judges, read_run_battles, run_juries
from arena.commands.compare import add_bootstrap_arguments
from arena.errors import DataError
from arena.run_diff import diff_runs, format_diff, read_manifest

DESCRIPTION = """\
First what changed, from each run.json's provenance: config keys (models and judges by name),
package versions, the model ids the APIs answered as, judge template contents, the question set
(which questions were added, removed or reworded) and the GPU. Then each model's rank and rating
in both runs with the change B - A, its 95% interval and p-value from a paired bootstrap over
the questions both runs rated (drawn once for both; each run's own questions drawn apart), and
the Holm-adjusted p-value across models. Ratings are Bradley-Terry on the Elo scale, centred on
the models both runs rate. docs/RATINGS.md has the details."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff", help="what changed between two runs (config, versions, judge ids, templates, questions) and which "
        "rating changes are significant", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_a", metavar="RUN_A", help="the earlier run folder")
    parser.add_argument("run_b", metavar="RUN_B", help="the later run folder")
    parser.add_argument("--judge", action="append", metavar="J",
                        help="only this judge's battles in both runs (repeatable; default: every judge pooled, or a run's jury, as the leaderboards)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level marked with * (default 0.05)")
    parser.add_argument("--out", metavar="FILE", help="also write the diff as JSON to FILE")
    add_bootstrap_arguments(parser, 1000, "bootstrap rounds")
    parser.set_defaults(handler=diff_command)


def run_battles(root: Path, judges: list[str] | None) -> pd.DataFrame:
    """A run folder's battles, narrowed to `judges` where given."""
    read_manifest(root)  # a clear error where ROOT is not a run folder
    log = read_run_battles(root)
    battles = log.battles if log is not None else None
    if battles is None or len(battles) == 0:
        raise DataError(f"{root / 'battles.jsonl'}: no battles; run the reviews stage first")
    judges = judges or run_juries(root)
    return keep_judges(battles, judges, root) if judges else battles


def diff_command(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise DataError("--seed: expected an integer >= 0")
    root_a, root_b = Path(args.run_a), Path(args.run_b)
    result = diff_runs(
        root_a, root_b, run_battles(root_a, args.judge), run_battles(root_b, args.judge),
        rounds=args.rounds, seed=args.seed, workers=args.workers, alpha=args.alpha,
    )
    text = json.dumps(result.to_dict(), indent=2, default=float)
    if args.out:
        from arena.store import write_atomic

        write_atomic(Path(args.out), text + "\n")
    sys.stdout.write((text if args.json else format_diff(result)) + "\n")
    return 0
