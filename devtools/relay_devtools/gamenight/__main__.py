"""`python -m relay_devtools.gamenight` (`make gamenight`): a game night against `relay local`.

python -m relay_devtools.gamenight [--tree CHECKOUT] [--seed N] [--json] [--out FILE] ...
python -m relay_devtools.gamenight --compare BEFORE.json AFTER.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from relay_devtools.gamenight.mix import TINY, Size
from relay_devtools.gamenight.relay_process import RelayStartError
from relay_devtools.gamenight.report import compare, render
from relay_devtools.gamenight.run import Options, remeasure, run_evening

REPOSITORY = Path(__file__).resolve().parents[3]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m relay_devtools.gamenight", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--tree", type=Path, default=REPOSITORY, help="the checkout whose relay local is tested (its .venv)"
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--players", type=int, default=Size.players)
    parser.add_argument("--commands", type=int, default=Size.commands)
    parser.add_argument("--cad", type=int, default=Size.cad_officers, help="CAD officers (also in game)")
    parser.add_argument("--edits", type=int, default=Size.edits)
    parser.add_argument("--duration", type=float, default=Size.duration, help="seconds of evening")
    parser.add_argument(
        "--poll-seconds", type=int, default=int(Size.poll_seconds), help="the roster poll period"
    )
    parser.add_argument("--settle", type=float, default=330.0, help="longest wait for the MDT afterwards")
    parser.add_argument(
        "--no-fault-routes",
        action="store_true",
        help="make the ER:LC 429 and offline answer as for an emulator without fault routes (an older relay)",
    )
    parser.add_argument("--tiny", action="store_true", help="a handful of players and commands, no faults")
    parser.add_argument("--workdir", type=Path, help="where relay local runs and logs (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the text")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    parser.add_argument(
        "--remeasure", type=Path, metavar="WORKDIR", help="measure a saved evening again, with no relay"
    )
    parser.add_argument(
        "--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="two JSON reports side by side"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        before, after = (json.loads(path.read_text(encoding="utf-8")) for path in args.compare)
        print(compare(before, after))
        return 0
    if args.remeasure:
        report = remeasure(args.remeasure)
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(report, indent=2) if args.json else render(report))
        return 0
    size = TINY if args.tiny else Size(
        players=args.players, commands=args.commands, cad_officers=args.cad, edits=args.edits,
        duration=args.duration, poll_seconds=args.poll_seconds,
    )  # fmt: skip
    if args.tiny:
        size = dataclasses.replace(
            size,
            poll_seconds=args.poll_seconds if args.poll_seconds != Size.poll_seconds else TINY.poll_seconds,
        )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gamenight-"))
    log = (lambda _: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        report = run_evening(
            Options(
                tree=args.tree.resolve(),
                workdir=workdir,
                size=size,
                seed=args.seed,
                settle_seconds=args.settle,
                erlc_fault_routes=not args.no_fault_routes,
                log=log,
            )
        )
    except RelayStartError as exc:
        print(f"gamenight: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
