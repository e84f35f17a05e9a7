"""`relay map SOURCE PAYLOAD...`: what the relay would enqueue for a payload, or the precise error
(the dry run itself is relay_devtools.webhooks.dry_run)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.config.loader import load_config
from relay.config.schema import replay_warning
from relay.errors import RelayError
from relay.memory import InMemorySourceStateStore
from relay_devtools.options import Subparsers
from relay_devtools.webhooks.dry_run import (
    MapError,
    load_roster_file,
    map_payload,
    parse_headers,
    roster_hint,
    source_config,
)


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "map",
        parents=parents,
        help="dry run: print the unit changes, calls and panics a payload becomes (no signature check)",
    )
    parser.add_argument("source", help="a source name from relay.toml")
    parser.add_argument("payloads", nargs="+", metavar="PAYLOAD", help="JSON body files, run in order")
    parser.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="a request header"
    )
    parser.add_argument(
        "--roster", action="append", default=[], metavar="SERVER=FILE", help="ER:LC players for a roster"
    )
    parser.add_argument("--received-at", help="receive time (ISO 8601), default now")
    return parser


def run(args: argparse.Namespace) -> int:
    from relay.observability import logger
    from relay_devtools.local.terminal import TerminalLines

    # The adapter's log lines (why a change was skipped or held) as sentences on stderr, not JSON.
    notes = TerminalLines.instead_of_json(
        logging.getLogger(logger.name), logger.registered_formatter, sys.stderr
    )
    try:
        return _run(args)
    finally:
        notes.remove()


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        warning = replay_warning(args.source, source_config(config, args.source))
        if warning:
            print(f"relay map: warning: {warning}", file=sys.stderr)
        store = InMemorySourceStateStore()
        for spec in args.roster:
            load_roster_file(config, store, spec)
        hint = roster_hint(config, args.source, args.roster)
        if hint:
            print(f"relay map: {hint}", file=sys.stderr)
        headers = parse_headers(args.header)
        try:
            received_at = datetime.fromisoformat(args.received_at) if args.received_at else None
        except ValueError:
            raise MapError(f"--received-at {args.received_at!r}: not an ISO 8601 time") from None
        for name in args.payloads:
            try:
                body = Path(name).read_bytes()
            except OSError as exc:
                raise MapError(f"{name}: {exc.strerror}") from None
            try:
                messages = map_payload(
                    config, args.source, body, headers=headers, store=store, received_at=received_at
                )
            except RelayError as exc:
                print(f"relay map: {name}: {exc.status} {exc.message}", file=sys.stderr)
                return 1
            result: dict[str, Any] = {
                "payload": name,
                "messages": [json.loads(m.body()) for m in messages],
            }
            print(json.dumps(result, indent=2))
    except MapError as exc:
        print(f"relay map: {exc}", file=sys.stderr)
        return 2
    return 0
