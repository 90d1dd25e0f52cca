"""`arena dashboard RUN`: open the Streamlit dashboard on a run folder (or a battle log)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from arena.errors import ConfigError
from arena.human_votes import reviewer_name


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
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only; "
                        "any other needs --allow-remote)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--allow-remote", action="store_true",
                        help="let --host be an address other machines reach: anyone who reaches the port can read the run "
                        "and vote under any name (docs/DASHBOARD.md: an authenticating proxy instead)")
    parser.add_argument("--reviewer", metavar="NAME", help="the name the Review view stores with this dashboard's votes "
                        "(default: each browser session is asked once)")
    parser.add_argument("--reviewer-header", metavar="HEADER",
                        help="take each reviewer's name from this request header, set by an authenticating proxy "
                        "(e.g. X-Forwarded-User); docs/DASHBOARD.md")
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
    if args.reviewer is not None:
        try:
            args.reviewer = reviewer_name(args.reviewer)
        except ValueError as exc:
            raise ConfigError(f"--reviewer: {exc}") from None
    for option in ("questions", "compare", "reviewer", "reviewer_header"):
        value = getattr(args, option)
        if value:
            page += [f"--{option.replace('_', '-')}", str(value)]
    if args.reviewer and args.reviewer_header:
        raise ConfigError("--reviewer and --reviewer-header: give one (a fixed name, or the proxy's header)")
    if not is_local(args.host):
        if not args.allow_remote:
            raise ConfigError(
                f"--host {args.host}: other machines could reach the dashboard, read the run and vote under any name; "
                "add --allow-remote to mean it, or keep 127.0.0.1 behind an authenticating proxy (docs/DASHBOARD.md)"
            )
        page.append("--allow-remote")
    entry = Path(__file__).resolve().parents[1] / "dashboard" / "entry.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.address", args.host, "--server.port", str(args.port),
        "--browser.gatherUsageStats", "false",
        "--", *page,
    ]


def is_local(host: str) -> bool:
    """Whether an address to serve on is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name (or "", every interface): may resolve to anything


def dashboard_command(args: argparse.Namespace) -> int:
    """Become the Streamlit server (exec), so the command and its server have one lifetime: a
    SIGTERM or Ctrl-C to this pid reaches Streamlit itself, which shuts down as it does under
    `streamlit run`, and no server is left behind to hold the port."""
    argv = streamlit_command(args)
    if args.allow_remote and not is_local(args.host):
        sys.stderr.write(
            f"warning: serving on {args.host}:{args.port}: anyone who can reach this port can read the run and cast "
            "votes under any reviewer name (docs/DASHBOARD.md: put it behind an authenticating proxy instead)\n"
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # not reached: execv replaces this process or raises OSError
