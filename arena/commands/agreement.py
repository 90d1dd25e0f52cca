"""`arena agreement A [B]`: how often two sources of pairwise verdicts agree (MT-Bench's measure)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from arena.agreement import TIE_MODES, agreement_table, format_table, markdown_table
from arena.battle_log import FORMATS
from arena.errors import ConfigError
from arena.imports.votes import HUMAN_MODES, read_votes
from arena.store import write_atomic

log = logging.getLogger(__name__)

DESCRIPTION = """\
Agreement between judges on the same question, model pair and turn, as the MT-Bench paper defines
it: with ties, the share of comparisons where both gave the same verdict of model A wins, model B
wins, tie; without ties, only comparisons where neither said tie. Also Cohen's kappa and the
counts. With one source, its judges are compared with each other; with two, each judge of A with
each judge of B. Model pairs named in either order are matched (the verdict is flipped to match).

Several votes per item (human experts): every vote is a separate comparison, not a majority vote,
as in the paper's computation: a judge's verdict is compared with each human vote on the item,
and humans with each other over every pair of their votes on the item. A verdict judged in both
orders counts as the side preferred in both, a tie when the two orders disagree.

Sources: a run folder (its battles, and the people's blind votes of its human/votes.jsonl,
cast in the dashboard's Review view, as judge "human") or battles.jsonl or human/votes.jsonl; MT-Bench human judgments (question_id, model_a, model_b,
winner, judge, turn; JSON list or JSON lines) and Chatbot Arena logs; FastChat judgment files or
bench folders; arena-hard bench folders; AlpacaEval preferences.csv(.gz) (one judge per annotator)
and annotations.json files or folders.

With --reference: how well A's leaderboard reproduces a reference leaderboard, in arena-hard's
figures (separability, agreement with confidence, Spearman and Kendall, Brier score), on the
models both rank. A is a run folder or battle log, rated here (Bradley-Terry with a paired
bootstrap over questions), one row per judge and the judges pooled, or one per AlpacaEval
annotator. The reference is a leaderboard file as published (ours, arena-hard-auto's,
AlpacaEval's, FastChat's or Chatbot Arena's) or a second run or battle log. docs/AGREEMENT.md
has the definitions and AlpacaEval's annotators against their published leaderboard."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agreement",
        help="agreement (and Cohen's kappa) between judges, or judges and humans, on pairwise verdicts",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source_a", metavar="A", help="first source of verdicts (file or folder)")
    parser.add_argument("source_b", metavar="B", nargs="?", help="second source (default: compare A's judges with each other)")
    parser.add_argument(
        "--ties", choices=(*TIE_MODES, "both"), default="both",
        help="include: three-way match counting ties; exclude: only comparisons without a tie; both (default): a row of each",
    )
    parser.add_argument("--turn", type=int, metavar="N", help="only this turn (MT-Bench: 1 or 2); default: every turn, items still matched per turn")
    parser.add_argument("--judge", action="append", metavar="NAME", help="only judges of this name (repeatable)")
    parser.add_argument(
        "--humans", choices=HUMAN_MODES, default="pooled",
        help="people's votes: pooled (default, the paper's: MT-Bench's expert_* are all 'human', its author_* 'author', "
        "and a run's human/votes.jsonl reviewers all 'human') or each (every voter under its own id; a run's "
        "reviewers as human:NAME)",
    )
    ranking = parser.add_argument_group("leaderboard against a reference (--reference)")
    ranking.add_argument("--reference", metavar="REF", help="a reference leaderboard (CSV as published) or a run folder / battle log")
    ranking.add_argument("--reference-column", metavar="COL", help="the reference file's score column (default: the first of rating, score, win_rate, ...)")
    ranking.add_argument("--reference-judge", action="append", metavar="NAME", help="only this judge's battles of a reference run (repeatable)")
    ranking.add_argument("--alias", action="append", metavar="OURS=THEIRS", help="a model A names OURS is THEIRS in the reference (repeatable)")
    ranking.add_argument("--format", default="auto", choices=FORMATS, help="format of A (and of a reference log) where it is a battle log")
    ranking.add_argument("--annotator", help="only this AlpacaEval annotator of A (default: each annotator in turn)")
    ranking.add_argument("--rounds", type=int, default=1000, metavar="N", help="bootstrap rounds (default 1000)")
    ranking.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    ranking.add_argument("--workers", type=int, default=0, metavar="N", help="threads (default 0: every core)")
    ranking.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table in markdown instead of aligned text")
    parser.add_argument("--out", metavar="CSV", help="also write the table as CSV to this file ('-' for standard output)")
    parser.set_defaults(handler=agreement_command)


def agreement_command(args: argparse.Namespace) -> int:
    if args.reference is not None:
        return reference_command(args)
    for flag, value in (("--reference-column", args.reference_column), ("--reference-judge", args.reference_judge),
                        ("--annotator", args.annotator), ("--alias", args.alias), ("--json", args.json or None)):
        if value is not None:
            raise ConfigError(f"{flag}: applies with --reference only (a leaderboard against a reference)")
    if args.turn is not None and args.turn < 1:
        raise ConfigError("--turn: expected a turn number >= 1")
    votes_a, notes = read_votes(args.source_a, humans=args.humans)
    votes_b = None
    if args.source_b is not None:
        votes_b, more = read_votes(args.source_b, humans=args.humans)
        notes += more
    for note in notes:
        log.info("%s", note)
    ties = TIE_MODES if args.ties == "both" else (args.ties,)
    table = agreement_table(votes_a, votes_b, ties=ties, turn=args.turn, judges=args.judge)
    if args.out == "-":
        sys.stdout.write(table.to_csv(index=False))
        return 0
    sys.stdout.write((markdown_table(table) if args.markdown else format_table(table)) + "\n")
    if args.out:
        write_atomic(Path(args.out), table.to_csv(index=False))
        sys.stdout.write(f"wrote {args.out}\n")
    return 0


def reference_command(args: argparse.Namespace) -> int:
    from arena.benchmark_agreement import (
        benchmarks_of,
        compare_to_reference,
        format_report,
        reference_board,
    )
    from arena.store import write_atomic

    if args.source_b is not None:
        raise ConfigError("give a second source B (agreement of verdicts) or --reference (agreement of leaderboards), not both")
    if args.turn is not None:
        raise ConfigError("--turn: applies to the agreement of verdicts, not with --reference")
    if args.rounds < 1:
        raise ConfigError("--rounds: expected an integer >= 1")
    if args.seed < 0:
        raise ConfigError("--seed: expected an integer >= 0")
    reference, notes = reference_board(
        Path(args.reference), column=args.reference_column, judges=args.reference_judge, fmt=args.format,
        rounds=args.rounds, seed=args.seed, workers=args.workers,
    )
    benchmarks, more = benchmarks_of(Path(args.source_a), fmt=args.format, judges=args.judge, annotator=args.annotator)
    report = compare_to_reference(
        benchmarks, reference, args.reference, rounds=args.rounds, seed=args.seed, workers=args.workers,
        aliases=_aliases(args.alias or []),
    )
    report.notes[:0] = notes + more
    table = report.table()
    if args.json:
        payload = {"reference": report.reference, "reference_measure": report.measure, "rounds": report.rounds,
                   "seed": report.seed, "rows": json.loads(table.to_json(orient="records")), "notes": report.notes}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    elif args.out == "-":
        sys.stdout.write(table.to_csv(index=False))
        return 0
    else:
        sys.stdout.write(format_report(report, markdown=args.markdown) + "\n")
    if args.out and args.out != "-":
        write_atomic(Path(args.out), table.to_csv(index=False))
        if not args.json:
            sys.stdout.write(f"wrote {args.out}\n")
    return 0


def _aliases(pairs: list[str]) -> dict[str, str]:
    aliases = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ConfigError(f"--alias: expected OURS=THEIRS (a model name of A, then the reference's), got {pair!r}")
        aliases[ours.strip()] = theirs.strip()
    return aliases
