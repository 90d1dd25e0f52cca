"""Command-line entry points: argument parsing only; the work lives in arena.commands.*."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from arena import __version__
from arena.errors import ArenaError
from arena.interrupts import Stopped, stop_signals_interrupt

# Each module under arena/commands/ adds one subcommand through register(subparsers).
COMMANDS = ("run", "plan", "rate", "compare", "power", "diff", "score", "import_cmd", "export", "agreement", "dashboard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arena", description="LLM-as-judge arena: answers, judge reviews, ratings.")
    parser.add_argument("--version", action="version", version=f"arena {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"arena.commands.{name}").register(sub)
    # -v works after the subcommand too (`run_arena -c x.yaml -v`); SUPPRESS keeps a -v given
    # before the subcommand from being reset by the subparser's default.
    for subparser in sub.choices.values():
        subparser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return _dispatch(args)


def run_arena_main(argv: Sequence[str] | None = None) -> int:
    """`run_arena ...` is `arena run ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["run", *argv])


def _dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        with stop_signals_interrupt():
            return int(args.handler(args) or 0)
    except ArenaError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Stopped) else 2
        how = f"stopped by {exc}" if isinstance(exc, Stopped) else "interrupted"
        print(f"{how}: finished records are saved; run the same command again to resume", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
