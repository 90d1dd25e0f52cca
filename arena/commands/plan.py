"""`arena plan -c CONFIG`: what a run will cost before it starts (arena.costing.plan)."""

from __future__ import annotations

import argparse
import json
import sys

from arena.commands.run import config_of
from arena.costing.plan import build_plan
from arena.pipeline import plan_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="what a run will cost: calls, tokens and price, before any call",
        description="Per stage, model and judge: the calls the config needs, how many the run folder and the "
        "response cache already hold, the prompt and output tokens still to pay for, and their price at "
        "standard and at batch rates. Makes no call and writes nothing.",
    )
    parser.add_argument("-c", "--config", required=True, help="run config (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="plan the config's dry run (everything simulated)")
    parser.add_argument("--stages", help="comma-separated subset of answers,reviews,ratings,scores (default: the config's)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(handler=plan_command)


def plan_command(args: argparse.Namespace) -> int:
    config = config_of(args)
    prepared = plan_run(config, check_keys=False)
    plan = build_plan(config, prepared.questions, prepared.templates, prepared.benchmarks)
    if args.json:
        sys.stdout.write(json.dumps(plan.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(plan.table_text() + "\n")
    return 0
