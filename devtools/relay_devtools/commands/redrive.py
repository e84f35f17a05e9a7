"""`relay redrive`: move the dead-letter queue's messages back to the queue they came from (`--list`
first, to read why each one is there). The queues come from the flags, the environment, or the state
file of the `relay local` running here; the moves themselves are relay_devtools.operations.redrive's."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

from relay_devtools.deliveries.cloudwatch import parse_since
from relay_devtools.local.state import DEFAULT_STATE_FILE, read_local_state
from relay_devtools.operations.redrive import (
    MAX_PANIC_AGE,
    RedriveError,
    age_text,
    list_dead_letters,
    redrive,
)
from relay_devtools.options import Subparsers, aws_hint, printable, region_of_url


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "redrive", parents=parents, help="move the dead-letter queue's messages back to their queue"
    )
    parser.add_argument("--dlq-url", help="the DLQ (default: $DLQ_URL)")
    parser.add_argument(
        "--queue-url", help="the source queue (default: $QUEUE_URL, else the DLQ's only source)"
    )
    parser.add_argument(
        "--max", type=positive_int, default=None, help="move (fallback) or list at most this many"
    )
    parser.add_argument(
        "--list", action="store_true", help="print each dead letter and why it is there; move nothing"
    )
    parser.add_argument(
        "--panic-max-age",
        type=duration,
        default=MAX_PANIC_AGE,
        help=f"leave in the DLQ each panic received longer ago than this (default {age_text(MAX_PANIC_AGE)}):"
        " sent late it alarms a dispatcher for nothing",
    )
    parser.add_argument(
        "--old-panics", action="store_true", help="send every panic whatever its age (see --list)"
    )
    parser.add_argument("--endpoint-url", help="an SQS endpoint other than AWS's (e.g. relay local's moto)")
    parser.add_argument(
        "--fallback", action="store_true", help="move the messages here instead of starting a move task"
    )
    parser.add_argument(
        "--local-state",
        default=str(DEFAULT_STATE_FILE),
        help="without --dlq-url: the state file of the `relay local` whose queues to use",
    )
    return parser


@dataclass(frozen=True)
class Target:
    dlq_url: str
    queue_url: str | None
    client_options: dict[str, str]
    local: bool = False


def target(args: argparse.Namespace) -> Target | None:
    """The queues named by the flags or the environment, else the ones of the `relay local` that runs
    in this folder (with its endpoint, region and placeholder credentials: no AWS set-up needed)."""
    dlq_url = args.dlq_url or os.environ.get("DLQ_URL")
    queue_url = args.queue_url or os.environ.get("QUEUE_URL")
    if dlq_url:
        options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
        region = region_of_url(dlq_url)
        if region:  # the queue can be reached in its own region only, whatever the configuration says
            options["region_name"] = region
        return Target(dlq_url, queue_url, options)
    state = read_local_state(Path(args.local_state))
    if state is None:
        return None
    options = {
        "endpoint_url": args.endpoint_url or str(state["aws_endpoint"]),
        "region_name": str(state["region"]),
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    return Target(str(state["dlq_url"]), queue_url or str(state["queue_url"]), options, local=True)


def run(args: argparse.Namespace) -> int:
    found = target(args)
    if found is None:
        print(
            "relay redrive: give --dlq-url (or set DLQ_URL),"
            " or run it in the folder where `relay local` runs",
            file=sys.stderr,
        )
        return 2
    sqs = boto3.client("sqs", **found.client_options)  # type: ignore[call-overload]
    try:
        return redrive_or_list(args, sqs, found)
    except NoRegionError:
        print("relay redrive: no AWS region: set AWS_REGION, or give the DLQ's URL", file=sys.stderr)
    except NoCredentialsError:
        print(f"relay redrive: {aws_hint(NoCredentialsError())}", file=sys.stderr)
    except EndpointConnectionError as exc:
        hint = f"; is `relay local` still running? ({args.local_state} says so)" if found.local else ""
        print(f"relay redrive: cannot reach {exc.kwargs.get('endpoint_url')}{hint}", file=sys.stderr)
    return 1


def redrive_or_list(args: argparse.Namespace, sqs: Any, found: Target) -> int:
    if args.list:
        letters = list_dead_letters(sqs, found.dlq_url, args.max)
        old = 0
        for letter in letters:
            print(printable(f"{letter.sent_at}  {letter.source}  {letter.webhook_id}  {letter.message_id}"))
            print(f"    {printable(letter.reason)}")
            if letter.panic_age is not None:
                stale = not args.old_panics and letter.panic_age > args.panic_max_age
                old += stale
                print(
                    f"    a panic received {age_text(letter.panic_age)} ago"
                    + (f": older than {age_text(args.panic_max_age)}, redrive leaves it out" if stale else "")
                )
        print(f"relay redrive: {len(letters)} messages in the DLQ; nothing moved")
        if old:
            print(f"relay redrive: a redrive would leave out {old} old panics (--old-panics sends them)")
        return 0
    try:
        # relay local's moto has no message move tasks: move the messages here, as the fallback does.
        use_move_task = not args.fallback and not found.local
        result = redrive(
            sqs,
            found.dlq_url,
            found.queue_url,
            limit=args.max,
            use_move_task=use_move_task,
            max_panic_age=None if args.old_panics else args.panic_max_age,
        )
    except RedriveError as exc:
        print(f"relay redrive: {exc}")
        return 1
    if result.mode == "skipped":
        print(f"relay redrive: a move task is already running ({result.task_handle}); nothing started")
    elif result.mode == "move-task":
        print(f"relay redrive: started message move task {result.task_handle}")
    else:
        print(f"relay redrive: {result.moved} messages {result.detail}")
    if result.left_out:
        print(
            f"relay redrive: left {len(result.left_out)} panics older than {age_text(args.panic_max_age)}"
            " in the DLQ (sent now, each would alarm a dispatcher long after the unit needed help):"
        )
        for message_id, age in result.left_out:
            print(f"    {message_id}  received {age_text(age)} ago")
        print("relay redrive: --old-panics sends them anyway; --list shows them")
    return 0


def duration(text: str) -> timedelta:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a count (1 or more)")
    return value
