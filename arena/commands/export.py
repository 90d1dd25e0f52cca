"""`arena export fastchat --run DIR [--out FOLDER]`: a run folder in FastChat's llm_judge formats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arena.imports.fastchat import export_fastchat


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a run folder in another tool's formats (FastChat)",
        description="Write a run's questions, reference answers, answers and judgments in FastChat's "
        "llm_judge formats (question.jsonl, reference_answer/, model_answer/<model>.jsonl, "
        "model_judgment/<judge>_pair.jsonl or _single.jsonl). Judges' user prompts are not written "
        "(runs keep only their hash); five-level and fractional verdicts become win/tie/loss.",
    )
    tools = parser.add_subparsers(dest="tool", required=True, metavar="TOOL")
    sub = tools.add_parser("fastchat", help="FastChat's llm_judge folder layout")
    sub.add_argument("--run", required=True, metavar="DIR", help="the run folder to export")
    sub.add_argument("--out", metavar="FOLDER", help="where to write (default: DIR/fastchat); files of the same name are replaced")
    sub.add_argument(
        "--questions", metavar="FILE",
        help="the run's question file, where the run folder has no question.jsonl and its config cannot be read",
    )
    sub.set_defaults(handler=export_command)


def export_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.run) / "fastchat"
    written = export_fastchat(Path(args.run), out, questions=Path(args.questions) if args.questions else None)
    for name, count in written.items():
        sys.stdout.write(f"  {out / name}: {count} rows\n")
    sys.stdout.write(f"exported {args.run} to {out} in FastChat's formats\n")
    return 0
