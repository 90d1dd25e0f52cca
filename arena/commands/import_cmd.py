"""`arena import FORMAT FILE [--run DIR] [--model NAME]`: bring results computed by other tools
into a run folder, so they show up beside the run's own ratings and scores.

Each format is a module under arena.imports with `import_scores(path, run_dir, model=None) -> int`
(rows written); adding a format is adding a line to FORMATS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from arena.errors import ConfigError

# format -> (module under arena.imports, what it reads)
FORMATS = {
    "lm-eval": ("lm_eval", "lm-evaluation-harness results file (results_*.json) or its output folder"),
    "evalscope": ("evalscope", "EvalScope report file (reports/<model>/<dataset>.json) or a folder of them"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import scores computed elsewhere (lm-evaluation-harness, EvalScope) into a run folder",
        description="Write another tool's scores into RUN/scores/summary.csv (style column "
        "'<tool>:<metric>', e.g. lm-eval:acc), replacing earlier imports of the same figures.",
    )
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, (_, what) in FORMATS.items():
        sub = formats.add_parser(name, help=what, description=f"Import a {what}.")
        sub.add_argument("path", metavar="FILE", help=what)
        sub.add_argument("--run", metavar="DIR", help="the run folder to write into (default: the current folder, if it is one)")
        sub.add_argument("--model", metavar="NAME", help="the model's name in the run (default: from the file, last part of its id)")
        sub.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace) -> int:
    run_dir = Path(args.run) if args.run else Path(".")
    if args.run is None and not (run_dir / "run.json").exists():
        raise ConfigError("--run: the current folder is not a run folder (no run.json); name the run folder with --run DIR")
    if not Path(args.path).exists():
        raise ConfigError(f"{args.path}: file not found")
    module = importlib.import_module(f"arena.imports.{FORMATS[args.format][0]}")
    written = module.import_scores(args.path, run_dir, model=args.model)
    sys.stdout.write(f"imported {written} rows into {run_dir / 'scores'}\n")
    return 0
