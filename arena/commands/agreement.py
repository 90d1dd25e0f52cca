"""`arena agreement A [B]`: how often two sources of pairwise verdicts agree (MT-Bench's measure)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from arena.agreement import TIE_MODES, agreement_table, format_table, markdown_table
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

Sources: a run folder or battles.jsonl; MT-Bench human judgments (question_id, model_a, model_b,
winner, judge, turn; JSON list or JSON lines) and Chatbot Arena logs; FastChat judgment files or
bench folders; arena-hard bench folders; AlpacaEval preferences.csv(.gz) (one judge per annotator)
and annotations.json files or folders."""


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
        help="MT-Bench human judgments: pooled (default, the paper's: every expert_* is 'human', every author_* 'author') "
        "or each (every voter under its own id)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table in markdown instead of aligned text")
    parser.add_argument("--out", metavar="CSV", help="also write the table as CSV to this file ('-' for standard output)")
    parser.set_defaults(handler=agreement_command)


def agreement_command(args: argparse.Namespace) -> int:
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
