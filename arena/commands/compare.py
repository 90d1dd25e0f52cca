"""`arena compare RUN --models A B`: is A really better than B on these questions, or is it noise?"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from arena.battle_log import FORMATS, keep_judges, read_battle_log, read_run_battles, run_juries
from arena.errors import DataError
from arena.significance import compare_models, format_comparison
from arena.stages.ratings import read_single_scores

log = logging.getLogger(__name__)

DESCRIPTION = """\
A paired bootstrap over questions: every round resamples the questions with replacement and keeps
all battles of a drawn question together (both turns, both orders, every model), then refits
Bradley-Terry. Reports the rating gap A - B with its 95% interval and two-sided p-value, P(A beats
B), A's score in their direct battles, and for single grading the paired difference of mean
scores. Logs without question ids (Chatbot Arena's) resample battles. docs/RATINGS.md has the
details."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="paired significance test between two models (rating gap, win probability, p-value)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(parser)
    parser.add_argument("--models", nargs=2, required=True, metavar=("A", "B"), help="the two models to compare")
    add_bootstrap_arguments(parser, 1000, "bootstrap rounds")
    parser.set_defaults(handler=compare_command)


def add_bootstrap_arguments(parser: argparse.ArgumentParser, rounds: int, what: str) -> None:
    parser.add_argument("--rounds", type=int, default=rounds, metavar="N", help=f"{what} (default {rounds})")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=0, metavar="N", help="threads (default 0: every core)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run folder, or a battle log (our battles.jsonl, Chatbot Arena's, AlpacaEval's)")
    parser.add_argument("--judge", action="append", metavar="J",
                        help="only this judge's battles (repeatable; default: every judge pooled, or the run's jury where it has one)")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="format of a battle log given as RUN (default: guessed)")


def load_battles(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The battles (and single-mode grades, for a run folder) that RUN and --judge select."""
    source = Path(args.run)
    scores = None
    run_log = read_run_battles(source)
    if run_log is not None:
        battles = run_log.battles
        scores, _ = read_single_scores(source / "reviews", battles)
    else:
        battles = read_battle_log(source, args.format).battles
    judges = args.judge or (run_juries(source) if run_log is not None else None)
    if judges and not args.judge:
        log.info("%s: the jury's battles (%s); name judges with --judge to test others", source, ", ".join(judges))
    if judges:
        battles = keep_judges(battles, judges, source)
        if scores is not None:
            scores = scores[scores["judge"].isin(judges)]
    if len(battles) == 0:
        raise DataError(f"{source}: no battles")
    return battles, scores


def compare_command(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise DataError("--seed: expected an integer >= 0")
    battles, scores = load_battles(args)
    result = compare_models(
        battles, args.models[0], args.models[1], rounds=args.rounds, seed=args.seed, workers=args.workers, scores=scores
    )
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_comparison(result) + "\n")
    return 0
