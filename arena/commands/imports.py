"""`arena import TOOL PATH --run DIR`: another tool's published files as an arena run folder.

Each tool is one entry of IMPORT_TOOLS: its help text, its extra options and the reader (a
module of arena.imports) that turns PATH into an ImportedRun; the run folder is written the same
way for all of them (arena.imports.common). To add a tool, add an entry.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arena.imports.alpaca_eval import read_alpaca_eval
from arena.imports.arena_hard import STRONG_WEIGHT, read_arena_hard
from arena.imports.common import ImportedRun, write_imported_run
from arena.imports.fastchat import read_fastchat


@dataclass
class ImportTool:
    help: str
    read: Callable[[Path, argparse.Namespace], ImportedRun]
    add_options: Callable[[argparse.ArgumentParser], None] = field(default=lambda parser: None)


def _arena_hard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", metavar="MODEL", help="the baseline of judgment rows that do not name one (older releases; v0.1 used gpt-4-0314)")
    parser.add_argument(
        "--strong-weight", type=float, default=STRONG_WEIGHT, metavar="W",
        help=f"weight of a strong verdict (A>>B) against a plain one in the battles (default {STRONG_WEIGHT:g}, as arena-hard counts it)",
    )


def _alpaca_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotator", metavar="NAME", help="judge name for annotation rows that carry no 'annotator'")


IMPORT_TOOLS: dict[str, ImportTool] = {
    "fastchat": ImportTool(
        help="a FastChat llm_judge bench folder: question.jsonl, reference_answer/, model_answer/, model_judgment/*_pair|_single.jsonl",
        read=lambda path, args: read_fastchat(path),
    ),
    "arena-hard": ImportTool(
        help="an arena-hard-auto bench folder: question.jsonl, model_answer/, model_judgment/<judge>/<model>.jsonl",
        read=lambda path, args: read_arena_hard(path, baseline=args.baseline, strong_weight=args.strong_weight),
        add_options=_arena_hard_options,
    ),
    "alpaca-eval": ImportTool(
        help="AlpacaEval annotations.json files (one file, or a folder searched for .json files)",
        read=lambda path, args: read_alpaca_eval(path, annotator=args.annotator),
        add_options=_alpaca_options,
    ),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import FastChat, arena-hard or AlpacaEval files into a run folder",
        description="Read another tool's questions, answers and judgments as published and write an arena run "
        "folder (answers/, reviews/, battles.jsonl, run.json, summary.json with a bias report), ready for "
        "`arena rate DIR/battles.jsonl`, `arena agreement` and the dashboard. Formats: docs/IMPORTS.md.",
    )
    tools = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    for name, tool in IMPORT_TOOLS.items():
        sub = tools.add_parser(name, help=tool.help, description=tool.help)
        sub.add_argument("path", metavar="PATH", help="the tool's folder (or file)")
        sub.add_argument("--run", required=True, metavar="DIR", help="run folder to create (must not hold files yet)")
        tool.add_options(sub)
        sub.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace) -> int:
    imported = IMPORT_TOOLS[args.tool].read(Path(args.path), args)
    summary = write_imported_run(imported, Path(args.run))
    out = sys.stdout
    out.write(f"imported {args.tool} from {args.path} into {args.run}\n")
    out.write(f"  questions: {summary['questions']}  reference answers: {summary['references']}  battles: {summary['battles']}\n")
    for model, count in summary["answers"].items():
        out.write(f"  answers/{model}.jsonl: {count}\n")
    for judge, counts in summary["reviews"].items():
        out.write(f"  reviews/{judge}.jsonl: {counts['reviews']} ({counts['errors']} without a verdict)\n")
    for note in summary["notes"]:
        out.write(f"  note: {note}\n")
    if summary["battles"]:
        out.write(f"rate them with: arena rate {Path(args.run) / 'battles.jsonl'} --out {Path(args.run) / 'ratings'}\n")
    return 0
