"""`relay calls SOURCE`: the dispatch calls and panics the emulated MDT of a source holds.

Northca documents no GET of calls or panics, so this reads the Northca emulator's own control routes
(`/_emulator/calls/{mdtId}`, `/_emulator/panics/{mdtId}`): it works against `relay local`, not a
real partner. Every call record is listed, so a second call under one id (the emulator's `duplicate`
mode) shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from relay.config.loader import load_config
from relay_devtools.options import Subparsers, beside_local, chosen_source


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    calls = subparsers.add_parser(
        "calls", parents=parents, help="list the calls and panics the emulated MDT of a source holds"
    )
    calls.add_argument("source")
    calls.add_argument(
        "--northca-url",
        help="the Northca emulator (default: the relay local running here, else http://127.0.0.1:4010/v1)",
    )
    return calls


LOCAL_NORTHCA = "http://127.0.0.1:4010/v1"


def _control(root: str, path: str) -> Any:
    with urllib.request.urlopen(f"{root}{path}", timeout=10) as response:  # noqa: S310 - the local emulator
        return json.loads(response.read())["data"]


def run(args: argparse.Namespace) -> int:
    local = beside_local(args)  # its config and its Northca, as relay units finds them
    if not args.northca_url:
        args.northca_url = str(local["northca"]) if local else LOCAL_NORTHCA
    config = load_config(args.config)
    source = chosen_source(config, args.source, "calls")
    root = args.northca_url.rstrip("/").removesuffix("/v1")
    mdt = quote(source.mdt_id, safe="")
    try:
        held = {
            "calls": _control(root, f"/_emulator/calls/{mdt}"),
            "panics": _control(root, f"/_emulator/panics/{mdt}"),
        }
    except (urllib.error.URLError, ValueError, KeyError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"relay calls: {args.northca_url}: {reason}; is `relay local` (its Northca emulator) running?",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(held, indent=2))
    return 0
