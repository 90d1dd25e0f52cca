"""`arena power RUN`: how many questions separate a given rating gap, measured on a run."""

from __future__ import annotations

import argparse
import json
import sys

from arena.commands.compare import add_bootstrap_arguments, add_source_arguments, load_battles
from arena.errors import DataError
from arena.significance import DEFAULT_GAPS, format_power, power_analysis


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "power", help="questions needed to separate a rating gap (default 20, 50, 100 Elo) at 95%% with 80%% power",
        description="Measures by resampling the run's questions (at half, as many and twice as many as it has) how the "
        "standard error of rating gaps shrinks with the number of questions, and from it the questions needed to "
        "separate each gap at the given confidence and power with the paired test of `arena compare`. Useful before "
        "paying for a bigger question set; assumes new questions come with the run's design (models, pairs, turns, judges).",
    )
    add_source_arguments(parser)
    parser.add_argument("--gaps", type=float, nargs="+", default=list(DEFAULT_GAPS), metavar="ELO", help="rating gaps in Elo points (default 20 50 100)")
    parser.add_argument("--models", nargs=2, metavar=("A", "B"), help="measure on this pair (default: every pair adjacent in the ranking)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the two-sided test (default 0.05)")
    parser.add_argument("--power", type=float, default=0.8, help="power wanted (default 0.8)")
    add_bootstrap_arguments(parser, 300, "bootstrap rounds per question count")
    parser.set_defaults(handler=power_command)


def power_command(args: argparse.Namespace) -> int:
    if args.rounds < 2:
        raise DataError("--rounds: expected an integer >= 2")
    if args.seed < 0:
        raise DataError("--seed: expected an integer >= 0")
    battles, _ = load_battles(args)
    report = power_analysis(
        battles, gaps=tuple(args.gaps), models=tuple(args.models) if args.models else None, alpha=args.alpha,
        power=args.power, rounds=args.rounds, seed=args.seed, workers=args.workers,
    )
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_power(report) + "\n")
    return 0
