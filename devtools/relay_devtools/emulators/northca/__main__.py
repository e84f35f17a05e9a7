"""`python -m relay_devtools.emulators.northca`: the Northca emulator on a port of your choice."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from relay_devtools.emulators.northca.desk import MODE_CHOICES
from relay_devtools.emulators.northca.server import NorthcaEmulator
from relay_devtools.emulators.standalone import serve_until_stopped


def _link_arg(value: str) -> tuple[str, str]:
    mdt_id, sep, guild_id = value.rpartition(":")
    if not sep or not mdt_id or not guild_id:
        raise argparse.ArgumentTypeError(f"expected MDT:GUILD, got {value!r}")
    return mdt_id, guild_id


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m relay_devtools.emulators.northca",
        description="A local Northca Partner API (active units, calls, panics) with fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--partner-key", action="append", required=True, help="a valid key (repeatable)")
    parser.add_argument(
        "--link",
        action="append",
        type=_link_arg,
        default=[],
        help="MDT:GUILD, the MDT is linked to the guild",
    )
    # Northca documents no answer for these: each plausible one is a mode (desk.py).
    for name, choices in MODE_CHOICES.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            choices=choices,
            default=choices[0],
            help=f"the answer Northca does not document (default {choices[0]})",
        )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    links: dict[str, list[str]] = {}
    for mdt_id, guild_id in args.link:
        links.setdefault(mdt_id, []).append(guild_id)
    emulator = NorthcaEmulator(args.partner_key, links)
    emulator.set_modes(**{name: getattr(args, name) for name in MODE_CHOICES})
    return serve_until_stopped(
        "Northca emulator", lambda: emulator.start(args.host, args.port), emulator.stop
    )


if __name__ == "__main__":
    raise SystemExit(main())
