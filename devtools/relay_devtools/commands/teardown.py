"""`relay teardown --stack NAME [--export-dir DIR]` before `sam delete`, `relay teardown --leftovers DIR`
after it (docs/removing-a-stack.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from relay.config.loader import load_config
from relay_devtools.operations.stack import StackError
from relay_devtools.operations.teardown import MANIFEST, Manifest, TeardownError, leftovers, plan, prepare
from relay_devtools.options import Subparsers


def clients(region: str | None) -> tuple[dict[str, Any], str]:
    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        raise SystemExit("relay teardown: no AWS region: set AWS_REGION (or AWS_PROFILE), or give --region")
    aws: dict[str, Any] = {
        "cloudformation": session.client("cloudformation"),
        "sqs": session.client("sqs"),
        "logs": session.client("logs"),
        "secretsmanager": session.client("secretsmanager"),
        "dynamodb": session.client("dynamodb"),
    }
    return aws, session.region_name


def run(args: argparse.Namespace) -> int:
    try:
        if args.leftovers:
            return _after(args)
        if not args.stack:
            print(
                "relay teardown: give --stack NAME (before sam delete) or --leftovers DIR (after)",
                file=sys.stderr,
            )
            return 2
        return _before(args)
    except (StackError, TeardownError) as exc:
        print(f"relay teardown: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"relay teardown: {exc}", file=sys.stderr)
        return 1


def _before(args: argparse.Namespace) -> int:
    aws, region = clients(args.region)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(args.export_dir or f"teardown-{args.stack}-{stamp}")
    manifest, info = prepare(
        aws, args.stack, region, load_config(Path(args.config)), folder, force=args.force
    )
    print(f"relay teardown: {args.stack} ({info.status}) exported to {folder}/")
    for output, count in manifest.dead_letters.items():
        print(f"  {output}: {count} dead letters ({output}.jsonl)")
    for function, count in manifest.log_lines.items():
        print(f"  {function}: {count} log lines (logs-{function}.jsonl)")
    for line in plan(manifest):
        print(line)
    print(f"\nWhen ready: sam delete --stack-name {args.stack} --region {region}")
    print(f"Then: relay teardown --leftovers {folder}")
    return 0


def _after(args: argparse.Namespace) -> int:
    folder = Path(args.leftovers)
    manifest = Manifest.read(folder / MANIFEST if folder.is_dir() else folder)
    aws, _ = clients(args.region or manifest.region)
    found = leftovers(aws, manifest)
    if not found:
        print(f"relay teardown: nothing of {manifest.stack} is left in {manifest.region}")
        return 0
    print(f"relay teardown: what is left of {manifest.stack} in {manifest.region}:")
    for item in found:
        print(f"  {item.line()}")
    return 0


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "teardown",
        parents=parents,
        help="before sam delete: export the DLQs and logs it destroys; after: what is left and billed",
    )
    parser.add_argument("--stack", help="the stack to prepare for deletion")
    parser.add_argument("--export-dir", help="where to export (default: teardown-<stack>-<time>)")
    parser.add_argument("--force", action="store_true", help="even with messages still in the queue")
    parser.add_argument(
        "--leftovers", metavar="DIR", help="after sam delete: the export's folder (its manifest)"
    )
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    return parser
