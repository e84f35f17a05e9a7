"""`relay ship-config --config FILE`: after `sam build`, FILE becomes every function's relay.toml
(relay_devtools.operations.deploy.ship_config)."""

from __future__ import annotations

import argparse
from pathlib import Path

from relay_devtools.operations.deploy import BUILD_DIR, ship_config
from relay_devtools.options import Subparsers


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    ship = subparsers.add_parser(
        "ship-config", parents=parents, help="after sam build: the config becomes every function's relay.toml"
    )
    ship.add_argument("--build-dir", default=str(BUILD_DIR))
    ship.add_argument("--template", default="template.yaml")
    return ship


def run(args: argparse.Namespace) -> int:
    written = ship_config(Path(args.config), Path(args.build_dir), Path(args.template))
    print(
        f"relay ship-config: {args.config} ships as relay.toml in {', '.join(str(p.parent) for p in written)}"
    )
    return 0
