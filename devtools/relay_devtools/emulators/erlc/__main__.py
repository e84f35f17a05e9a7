"""`python -m relay_devtools.emulators.erlc`: the ER:LC emulator on a port of your choice (players and
emergency calls are changed at runtime through `/_emulator/players` and `/_emulator/calls`, as under
`relay local`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from relay_devtools.emulators.erlc.calls import EMPTY_CALLS
from relay_devtools.emulators.erlc.contract import player
from relay_devtools.emulators.erlc.server import ErlcEmulator
from relay_devtools.emulators.standalone import serve_until_stopped


def _player_arg(value: str) -> dict[str, Any]:
    name, _, rest = value.partition(":")
    user_id, _, rest = rest.partition(":")
    team, _, callsign = rest.partition(":")
    if not name or not user_id.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME:USERID[:TEAM[:CALLSIGN]], got {value!r}")
    return player(name, user_id, team or "Police", callsign or None)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m relay_devtools.emulators.erlc",
        description="A local ER:LC API (the server's players) with its rate limit and fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4020)
    parser.add_argument("--server-key", action="append", required=True, help="a valid key (repeatable)")
    parser.add_argument(
        "--player",
        action="append",
        type=_player_arg,
        default=[],
        help="NAME:USERID[:TEAM[:CALLSIGN]], a player on the server at start (repeatable)",
    )
    parser.add_argument("--v1-only", action="store_true", help="serve no /v2/server (PRC's older API)")
    parser.add_argument(
        "--empty-calls",
        choices=EMPTY_CALLS,
        default="list",
        help="with no emergency call open: send EmergencyCalls as [] (list) or leave it out (omitted)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = ErlcEmulator(
        args.server_key, args.player, v2_enabled=not args.v1_only, empty_calls=args.empty_calls
    )
    return serve_until_stopped("ER:LC emulator", lambda: emulator.start(args.host, args.port), emulator.stop)


if __name__ == "__main__":
    raise SystemExit(main())
