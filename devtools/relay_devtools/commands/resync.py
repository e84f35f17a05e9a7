"""`relay resync --mdt M [--source S] [--dry-run]`: put back every unit the relay knows in an MDT that
the partner no longer lists (Northca lost or reset it), with every value the relay knows, through the
normal consumer; other writers' newer values stand (relay_devtools.recovery.resync)."""

from __future__ import annotations

import argparse
import sys

from relay.consumer.preview import resync_messages
from relay.errors import NorthcaError, QueueUnavailableError
from relay.models import utc_now
from relay_devtools.operations.stack import StackError
from relay_devtools.options import Subparsers, printable
from relay_devtools.recovery import replay as recovery
from relay_devtools.recovery.render import preview_lines, summary
from relay_devtools.recovery.resync import guilds_of, known_units
from relay_devtools.recovery.target import TargetError, add_target_options, resolve


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "resync", parents=parents, help="put an MDT's units back as the relay knows them (after a wipe)"
    )
    parser.add_argument("--mdt", required=True, help="the MDT's id (relay.toml's mdt_id)")
    parser.add_argument("--source", help="only the units this source spoke of")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change at the partner; queue nothing"
    )
    add_target_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        target = resolve(args)
    except (TargetError, StackError) as exc:
        print(f"relay resync: {exc}", file=sys.stderr)
        return 1
    guilds = guilds_of(target.config, args.mdt)
    if not guilds:
        print(
            f"relay resync: no source or ER:LC server of relay.toml writes MDT {args.mdt!r}", file=sys.stderr
        )
        return 2
    states = known_units(target.dynamodb, target.state_table, args.mdt, guilds)
    messages = resync_messages(states, utc_now(), source=args.source)
    units = sum(len(m.changes) for m in messages)
    print(
        printable(
            f"relay resync {args.mdt} ({target.name}): {units} units the relay knows"
            + (f" of {args.source}" if args.source else "")
        )
    )
    if args.dry_run:
        try:
            rows = recovery.dry_run(messages, {s.key: s for s in states}, target.partner(), target.config)
        except NorthcaError as exc:
            print(f"relay resync: the partner's list cannot be read ({exc.message}): nothing is written now")
            return 1
        for line in preview_lines(rows):
            print(line)
        print(f"relay resync: dry run: {summary(rows)}; nothing queued")
        return 0
    if not messages:
        print("relay resync: nothing to put back")
        return 0
    try:
        target.publisher().send(messages)
    except QueueUnavailableError:
        print("relay resync: the queue refused the messages: run it again", file=sys.stderr)
        return 1
    print(f"relay resync: {units} units queued as relay:resync; the feed shows each unit's outcome")
    return 0
