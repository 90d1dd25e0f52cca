"""`arena import FORMAT PATH --run DIR`: bring results computed by other tools into a run folder,
so they show up beside the run's own ratings and scores.

Two kinds of formats:
- scores (FORMATS): a module under arena.imports with `import_scores(path, run_dir, model=None)
  -> int` (rows written) adds rows to an existing run's scores/summary.csv;
- judgments (RUN_IMPORTS): a reader of a tool's questions, answers and judgments into an
  ImportedRun, written as a new run folder (arena.imports.common; formats in docs/IMPORTS.md).
Adding a format is adding an entry to one of the two tables.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ConfigError
from arena.imports.alpaca_eval import read_alpaca_eval
from arena.imports.arena_hard import STRONG_WEIGHT, read_arena_hard
from arena.imports.common import ImportedRun, write_imported_run
from arena.imports.fastchat import read_fastchat

# format -> (module under arena.imports, what it reads)
FORMATS = {
    "lm-eval": ("lm_eval", "lm-evaluation-harness results file (results_*.json) or its output folder"),
    "evalscope": ("evalscope", "EvalScope report file (reports/<model>/<dataset>.json) or a folder of them"),
}




@dataclass
class RunImport:
    """A judgment format: what it reads, its reader, and its extra options."""

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


RUN_IMPORTS: dict[str, RunImport] = {
    "fastchat": RunImport(
        help="FastChat llm_judge bench folder: question.jsonl, reference_answer/, model_answer/, model_judgment/*_pair|_single.jsonl",
        read=lambda path, args: read_fastchat(path),
    ),
    "arena-hard": RunImport(
        help="arena-hard-auto bench folder: question.jsonl, model_answer/, model_judgment/<judge>/<model>.jsonl",
        read=lambda path, args: read_arena_hard(path, baseline=args.baseline, strong_weight=args.strong_weight),
        add_options=_arena_hard_options,
    ),
    "alpaca-eval": RunImport(
        help="AlpacaEval annotations.json files (one file, or a folder searched for .json files)",
        read=lambda path, args: read_alpaca_eval(path, annotator=args.annotator),
        add_options=_alpaca_options,
    ),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import other tools' judgments (FastChat, arena-hard, AlpacaEval) or scores (lm-eval, EvalScope)",
        description="Judgments: read a tool's questions, answers and judgments as published and write a new "
        "run folder (answers/, reviews/, battles.jsonl, run.json, summary.json with a bias report), ready for "
        "`arena rate DIR/battles.jsonl`, `arena agreement` and the dashboard (docs/IMPORTS.md). Scores: write "
        "another tool's scores into RUN/scores/summary.csv (style column '<tool>:<metric>', e.g. lm-eval:acc), "
        "replacing earlier imports of the same figures.",
    )
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, tool in RUN_IMPORTS.items():
        sub = formats.add_parser(name, help=tool.help, description=tool.help)
        sub.add_argument("path", metavar="PATH", help="the tool's folder (or file)")
        sub.add_argument("--run", required=True, metavar="DIR", help="run folder to create (must not hold files yet)")
        tool.add_options(sub)
        sub.set_defaults(handler=import_run_command)
    for name, (_, what) in FORMATS.items():
        sub = formats.add_parser(name, help=what, description=f"Import a {what}.")
        sub.add_argument("path", metavar="FILE", help=what)
        sub.add_argument("--run", metavar="DIR", help="the run folder to write into (default: the current folder, if it is one)")
        sub.add_argument("--model", metavar="NAME", help="the model's name in the run (default: from the file, last part of its id)")
        sub.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace) -> int:
    run_dir = Path(args.run) if args.run else Path(".")
    if not (run_dir / "run.json").exists():
        where = f"{run_dir} is" if args.run else "the current folder is"
        raise ConfigError(f"--run: {where} not a run folder (no run.json); name an existing run folder with --run DIR")
    if not Path(args.path).exists():
        raise ConfigError(f"{args.path}: file not found")
    module = importlib.import_module(f"arena.imports.{FORMATS[args.format][0]}")
    written = module.import_scores(args.path, run_dir, model=args.model)
    sys.stdout.write(f"imported {written} rows into {run_dir / 'scores'}\n")
    return 0


def import_run_command(args: argparse.Namespace) -> int:
    imported = RUN_IMPORTS[args.format].read(Path(args.path), args)
    summary = write_imported_run(imported, Path(args.run))
    out = sys.stdout
    out.write(f"imported {args.format} from {args.path} into {args.run}\n")
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
