"""`relay deliveries --stack NAME [--source S] [--since 1h]`: every delivery of a deployed stack, its
outcome and why, read from its CloudWatch Logs with the reader `relay local`'s feed uses."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from relay_devtools.deliveries.cloudwatch import parse_since, read_records
from relay_devtools.deliveries.trail import read_trail, render_lines
from relay_devtools.operations.stack import StackError, log_groups
from relay_devtools.options import Subparsers, aws_problem


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "deliveries",
        parents=parents,
        help="a deployed stack's deliveries, their outcome and why (CloudWatch)",
    )
    parser.add_argument("--stack", required=True, help="the stack's name (samconfig.toml: northca-relay)")
    parser.add_argument("--source", help="one source's deliveries only")
    parser.add_argument("--since", default="1h", help="how far back: 30m, 1h, 2d (default 1h)")
    parser.add_argument("--limit", type=_count, default=300, help="at most this many, newest first")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    parser.add_argument("--json", action="store_true", help="print JSON, as relay local's feed serves it")
    return parser


def _count(text: str) -> int:
    """A positive count (argparse names the flag when this raises)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"relay deliveries: --since {exc}", file=sys.stderr)
        return 2
    options = {"region_name": args.region} if args.region else {}
    try:
        cloudformation: Any = boto3.client("cloudformation", **options)
        logs: Any = boto3.client("logs", **options)
        groups = log_groups(cloudformation, args.stack)
        start_ms = int((time.time() - since.total_seconds()) * 1000)
        records = read_records(logs, [groups["ingress"], groups["consumer"]], start_ms)
    except StackError as exc:
        print(f"relay deliveries: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"relay deliveries: {args.stack}: {aws_problem(exc)}", file=sys.stderr)
        return 1
    trail = read_trail(records, source=args.source, limit=args.limit)
    deliveries = trail.deliveries
    if args.json:
        print(json.dumps([d.as_dict() for d in deliveries], indent=2))
    else:
        for line in render_lines(deliveries):
            print(line)
        skipped = f"; {trail.unreadable} log lines skipped (unreadable)" if trail.unreadable else ""
        listed = f"{len(deliveries)} in the last {args.since} ({args.stack}), newest first"
        print(f"relay deliveries: {listed}{skipped}")
    if trail.unreadable and args.json:
        print(f"relay deliveries: {trail.unreadable} log lines skipped (unreadable)", file=sys.stderr)
    return 0
