"""`arena rate FILE... --out DIR`: rate any battle log: ours, Chatbot Arena's, AlpacaEval's
annotations (a file or its results folder), or a preferences table.

Writes the same files as the pipeline's ratings stage (arena.leaderboard does both).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from arena.battle_log import FORMATS, concat_logs, read_battle_log, run_juries
from arena.config import AnchorConfig, RatingConfig
from arena.errors import ConfigError, DataError
from arena.leaderboard import compute_ratings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rate",
        help="rate a battle log (ours, Chatbot Arena's, AlpacaEval's annotations) into a leaderboard",
        description="Bradley-Terry (or online Elo) ratings with bootstrap intervals from battle logs; "
        "writes DIR/leaderboard.csv, DIR/summary.json and the tables described in docs/RATINGS.md.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="battle logs (several are pooled); a folder is read as AlpacaEval's results folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for leaderboard.csv, summary.json and tables")
    parser.add_argument(
        "--format", default="auto", choices=FORMATS,
        help="battles: our battles.jsonl; arena: Chatbot Arena's JSON/JSONL rows; alpaca-eval: AlpacaEval's "
        "annotations.json files or its results/ folder (results/<model>/<annotator>/annotations.json); "
        "preferences-csv: a table of judgments with columns annotator, instruction_index, generator_1, "
        "generator_2, preference (one row per judgment, e.g. ../shared/data/alpaca-eval/preferences.csv.gz); "
        "human-votes: a run's human/votes.jsonl (the dashboard's blind votes; each reviewer's latest vote "
        "per battle counts, judge 'human'); auto (default) guesses from the file",
    )
    parser.add_argument("--annotator", help="AlpacaEval annotator to read (needed when the files hold several)")
    parser.add_argument(
        "--method", default="bt",
        help="bt (Bradley-Terry, default), elo (online Elo), or bt,elo (BT with online Elo beside it)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap rounds (default 1000; 0: no intervals)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the bootstrap (default 0)")
    parser.add_argument("--anchor", metavar="MODEL=RATING", help="pin one model's rating (default: centre ratings on 1000)")
    parser.add_argument("--category", action="append", metavar="C", help="rate only battles of this category (repeatable)")
    parser.add_argument("--judge", action="append", metavar="J", help="rate only battles of this judge (repeatable)")
    parser.add_argument(
        "--baseline", metavar="MODEL",
        help="rate only battles against MODEL (logs that mix baselines, e.g. AlpacaEval's, otherwise split into groups that never met)",
    )
    parser.add_argument("--anonymous-only", action="store_true", help="Chatbot Arena logs: only battles with anony=true")
    parser.add_argument("--elo-k", type=float, default=4.0, metavar="K", help="online Elo's K factor (default 4)")
    parser.add_argument("--no-style-control", action="store_true", help="skip the style-controlled ratings")
    parser.add_argument("--no-per-category", action="store_true", help="skip the per-category leaderboards")
    parser.add_argument("--workers", type=int, default=0, metavar="N", help="threads for bootstrap rounds (default 0: every core)")
    parser.set_defaults(handler=rate_command)


def rating_settings(args: argparse.Namespace) -> RatingConfig:
    """The RatingConfig the command line asks for (errors name the option)."""
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    if not methods or any(m not in ("bt", "elo") for m in methods):
        raise ConfigError(f"--method: {args.method!r}; expected bt, elo or bt,elo")
    if args.bootstrap < 0:
        raise ConfigError("--bootstrap: expected an integer >= 0 (0 turns intervals off)")
    if args.elo_k <= 0:
        raise ConfigError("--elo-k: expected a number > 0")
    if args.workers < 0:
        raise ConfigError("--workers: expected an integer >= 0 (0 means every core)")
    if args.seed < 0:
        raise ConfigError("--seed: expected an integer >= 0")
    anchor = None
    if args.anchor is not None:
        model, sep, value = args.anchor.rpartition("=")
        try:
            rating = float(value)
        except ValueError:
            rating = None
        if not sep or not model or rating is None:
            raise ConfigError(f"--anchor: {args.anchor!r}; expected MODEL=RATING, e.g. gpt-4-0314=1000")
        anchor = AnchorConfig(model=model, rating=rating)
    return RatingConfig(
        methods=methods, bootstrap=args.bootstrap, seed=args.seed, anchor=anchor, elo_k=args.elo_k,
        style_control=not args.no_style_control, per_category=not args.no_per_category, workers=args.workers,
    )


def check_out_dir(out: str) -> None:
    """--out must be a folder of its own: never a run's root, whose summary.json holds the other
    stages' figures (the pipeline writes ratings to RUN/ratings)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out: {out} is a file; give a folder")
    if (path / "run.json").exists():
        raise ConfigError(f"--out: {out} is a run folder; write to {path / 'ratings'} or another folder")


def jury_of(files: list[str]) -> list[str] | None:
    """The jury of the run folder a lone battles.jsonl sits in: its battles repeat its members'
    verdicts, so they alone make the leaderboard, as in the run's own ratings."""
    if len(files) != 1:
        return None
    path = Path(files[0])
    return run_juries(path.parent) if path.is_file() and path.name == "battles.jsonl" else None


def rate_command(args: argparse.Namespace) -> int:
    settings = rating_settings(args)
    check_out_dir(args.out)
    logs = [read_battle_log(path, args.format, annotator=args.annotator) for path in args.files]
    battle_log = concat_logs(logs)
    battles = battle_log.battles
    notes = list(battle_log.notes)
    for column, wanted in (("category", args.category), ("judge", args.judge)):
        if wanted:
            kept = battles[battles[column].isin(wanted)]
            if len(kept) == 0:
                present = ", ".join(sorted(map(str, battles[column].unique()))[:20])
                raise DataError(f"--{column}: no battles with {column} {', '.join(wanted)}; the logs have: {present}")
            notes.append(f"kept the {len(kept)} of {len(battles)} battles with {column} {', '.join(wanted)}")
            battles = kept
    if args.baseline:
        kept = battles[(battles["model_a"] == args.baseline) | (battles["model_b"] == args.baseline)]
        if len(kept) == 0:
            raise DataError(f"--baseline: no battles against {args.baseline!r}")
        notes.append(f"kept the {len(kept)} of {len(battles)} battles against the baseline {args.baseline}")
        battles = kept
    if args.anonymous_only:
        if "anony" not in battles:
            raise DataError("--anonymous-only: these logs have no 'anony' field (Chatbot Arena logs do)")
        kept = battles[battles["anony"].fillna(False).astype(bool)]
        notes.append(f"kept the {len(kept)} of {len(battles)} battles with anony=true")
        battles = kept
    if len(battles) == 0:
        raise DataError(f"{', '.join(args.files)}: no battles to rate")
    for note in notes:
        log.info("%s", note)
    result = compute_ratings(battles, settings, notes=notes, baseline=args.baseline or battle_log.baseline,
                             main_judges=None if args.judge else jury_of(args.files))
    for warning in result.warnings:
        log.warning("%s", warning)
    written = result.write(args.out)
    sys.stdout.write(result.table_text() + "\n")
    sys.stdout.write(f"wrote {len(written)} files to {args.out}\n")
    return 0
