"""`relay inspect WEBHOOK_ID [--stack NAME]`: what a webhook sent (when its source keeps bodies), what it
became, and what was written and why (relay_devtools.recovery.inspect)."""

from __future__ import annotations

import argparse
import sys

from relay.errors import ArchiveUnavailableError
from relay_devtools.operations.stack import StackError
from relay_devtools.options import Subparsers
from relay_devtools.recovery.inspect import inspect, render
from relay_devtools.recovery.target import TargetError, add_target_options, resolve


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inspect", parents=parents, help="what a webhook sent, what it became, what was written and why"
    )
    parser.add_argument(
        "webhook_id", help="the webhook id (the answer's webhook_id; request:<id> without one)"
    )
    add_target_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        target = resolve(args)
        found = inspect(target, args.webhook_id)
    except (TargetError, StackError, ArchiveUnavailableError) as exc:
        print(f"relay inspect: {exc}", file=sys.stderr)
        return 1
    for line in render(found, target):
        print(line)
    return 0 if found.records or found.trail else 1
