"""`relay units SOURCE`: the units the (emulated) MDT of a source holds, as the partner lists them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from relay.config.loader import load_config
from relay_devtools.options import Subparsers, beside_local, chosen_source, printable

LOCAL_NORTHCA = "http://127.0.0.1:4010/v1"


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    units = subparsers.add_parser(
        "units", parents=parents, help="list the units the (emulated) MDT of a source holds"
    )
    units.add_argument("source")
    units.add_argument(
        "--northca-url",
        help=f"the partner API (default: the relay local running here's, else {LOCAL_NORTHCA})",
    )
    return units


def run(args: argparse.Namespace) -> int:
    from relay.errors import NorthcaError
    from relay.northca.client import NorthcaClient
    from relay_devtools.files.secrets_file import load_secrets_file

    local = beside_local(args)
    if not args.northca_url:
        args.northca_url = str(local["northca"]) if local else LOCAL_NORTHCA
    config = load_config(args.config)
    source = chosen_source(config, args.source, "units")
    key = load_secrets_file(Path(args.secrets)).newest(config.northca.partner_key_secret)
    client = NorthcaClient(args.northca_url, key)
    try:
        units = client.list_records(source.mdt_id, source.guild_id)
    except NorthcaError as exc:
        said = printable(f"relay units: {args.northca_url}: {exc}; is `relay local` running?")
        print(said, file=sys.stderr)
        return 1
    print(json.dumps(units, indent=2))
    return 0
