"""`relay replay --source S --since 2h [--until T] [--dry-run]` and `relay replay WEBHOOK_ID`: archived
deliveries queued again as they were (a refused one taken through the ingress if it verifies now); the
dry run says what the consumer would write at the partner now (relay_devtools.recovery.replay)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from relay.aws.dynamodb import DynamoSourceStateStore
from relay.consumer.policy import UnitPolicy
from relay.errors import ArchiveUnavailableError, NorthcaError, QueueUnavailableError
from relay.models import utc_now
from relay.ports.archive import ArchivedDelivery
from relay_devtools.deliveries.cloudwatch import parse_since
from relay_devtools.operations.stack import StackError
from relay_devtools.options import Subparsers, printable
from relay_devtools.recovery import replay as recovery
from relay_devtools.recovery.render import preview_lines, replay_lines, summary
from relay_devtools.recovery.target import Target, TargetError, add_target_options, resolve


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "replay", parents=parents, help="queue archived webhooks again (a window of a source, or one id)"
    )
    parser.add_argument("webhook_id", nargs="?", help="one delivery (else --source and --since)")
    parser.add_argument("--source", help="the source whose deliveries to replay")
    parser.add_argument("--since", help="from this long ago: 30m, 2h, 1d")
    parser.add_argument("--until", help="up to this long ago (30m) or this time (ISO 8601); default now")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change at the partner; queue nothing"
    )
    add_target_options(parser)
    return parser


def instant(text: str, now: datetime) -> datetime:
    """`30m` ago, or an ISO 8601 time (UTC when it names no zone)."""
    try:
        return now - parse_since(text)
    except OverflowError:
        raise ValueError(f"{text!r} reaches back before any date") from None
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (30m, 2h, 1d) nor a time (2026-12-06T10:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    if args.webhook_id is None and not (args.source and args.since):
        print("relay replay: name a webhook id, or --source and --since", file=sys.stderr)
        return 2
    now = utc_now()
    try:
        since = instant(args.since, now) if args.since else None
        until = instant(args.until, now) if args.until else now
    except ValueError as exc:
        print(f"relay replay: {exc}", file=sys.stderr)
        return 2
    if since is not None and until < since:
        print(
            f"relay replay: --until {args.until} is before --since {args.since}: the window is empty",
            file=sys.stderr,
        )
        return 2
    try:
        target = resolve(args)
        records = recovery.select(
            target.archive(), webhook_id=args.webhook_id, source=args.source, since=since, until=until
        )
        return _replay(args, target, records)
    except (TargetError, StackError, ArchiveUnavailableError) as exc:
        print(f"relay replay: {exc}", file=sys.stderr)
        return 1


def _replay(args: argparse.Namespace, target: Target, records: list[ArchivedDelivery]) -> int:
    state = target.unit_state()
    source_state = DynamoSourceStateStore(target.state_table, target.dynamodb)
    built = recovery.build(records, target.config, target.secrets, source_state, dry_run=args.dry_run)
    what = args.webhook_id or f"{args.source} since {args.since}" + (
        f" until {args.until}" if args.until else ""
    )
    print(
        printable(
            f"relay replay {what} ({target.name}): {len(records)} archived, "
            f"{len(built.taken)} accepted then, "
            f"{len(built.verified)} refused then that verify now, {len(built.still_refused)} still refused; "
            f"{len(built.messages)} messages"
        )
    )
    for line in replay_lines(built):
        print(line)
    if not records and args.source and args.source not in target.config.sources:
        known = ", ".join(sorted(target.config.sources))
        print(f"relay replay: no source {args.source!r} in {target.name}'s config (sources: {known})")
    if args.dry_run:
        keys = recovery.unit_keys(built.messages, UnitPolicy.from_config(target.config))
        try:
            rows = recovery.dry_run(built.messages, state.read_many(keys), target.partner(), target.config)
        except NorthcaError as exc:
            print(f"relay replay: the partner's list cannot be read ({exc.message}): nothing is written now")
            return 1
        for line in preview_lines(rows):
            print(line)
        print(f"relay replay: dry run: {summary(rows)}; nothing queued")
        return 0
    if not built.messages:
        print("relay replay: nothing to queue")
        return 0
    try:
        target.publisher().send(built.messages)
    except QueueUnavailableError:
        print(
            "relay replay: the queue refused the messages; nothing (or part) was queued: run it again",
            file=sys.stderr,
        )
        return 1
    print(f"relay replay: {len(built.messages)} messages queued; `relay inspect ID` shows what each wrote")
    return 0
