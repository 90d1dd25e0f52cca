"""`arena dashboard RUN`: open the Streamlit dashboard on a run folder (or a battle log)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from arena.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="open the dashboard on a run folder",
        description="Start the Streamlit dashboard (leaderboard, heatmaps, battle browser, ...) on a run "
        "folder, or on a bare battle log with --review-file. Same as: streamlit run viz.py -- --run RUN",
    )
    parser.add_argument("run", nargs="?", help="run folder (data/runs/NAME)")
    parser.add_argument("--review-file", help="a battle log instead of a run folder (battles.jsonl, Chatbot Arena's, AlpacaEval's)")
    parser.add_argument("--questions", help="question file for the battle browser (default: the run config's)")
    parser.add_argument("--compare", help="another run folder to compare ratings with")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8501)
    parser.set_defaults(handler=dashboard_command)


def streamlit_command(args: argparse.Namespace) -> list[str]:
    """The `streamlit run` command line for these arguments (checked first: a wrong path is one
    line here, not a page that opens on an error)."""
    if bool(args.run) == bool(args.review_file):
        raise ConfigError("arena dashboard: give a run folder or --review-file FILE (one of them)")
    page: list[str] = []
    if args.run:
        if not Path(args.run).is_dir():
            raise ConfigError(f"{args.run}: run folder not found")
        page += ["--run", str(args.run)]
    else:
        if not Path(args.review_file).is_file():
            raise ConfigError(f"{args.review_file}: battle log not found")
        page += ["--review-file", str(args.review_file)]
    for option in ("questions", "compare"):
        value = getattr(args, option)
        if value:
            page += [f"--{option}", str(value)]
    entry = Path(__file__).resolve().parents[1] / "dashboard" / "entry.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.address", args.host, "--server.port", str(args.port),
        "--browser.gatherUsageStats", "false",
        "--", *page,
    ]


def dashboard_command(args: argparse.Namespace) -> int:
    """Become the Streamlit server (exec), so the command and its server have one lifetime: a
    SIGTERM or Ctrl-C to this pid reaches Streamlit itself, which shuts down as it does under
    `streamlit run`, and no server is left behind to hold the port."""
    argv = streamlit_command(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # not reached: execv replaces this process or raises OSError
