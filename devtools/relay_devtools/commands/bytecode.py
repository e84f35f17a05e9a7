"""`relay bytecode`: after `sam build`, Python 3.13 bytecode for every built function and layer, as
Lambda's read-only filesystem needs it (relay_devtools.operations.bytecode says how and why)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay_devtools.operations.bytecode import BytecodeError, compile_build
from relay_devtools.operations.deploy import BUILD_DIR
from relay_devtools.options import Subparsers


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bytecode", parents=parents, help="after sam build: python3.13 bytecode in every function and layer"
    )
    parser.add_argument("--build-dir", default=str(BUILD_DIR))
    parser.add_argument("--template", default="template.yaml")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        compiled = compile_build(Path(args.build_dir), Path(args.template))
    except BytecodeError as exc:
        print(f"relay bytecode: {exc}", file=sys.stderr)
        return 1
    for result in compiled:
        skipped = f" ({result.skipped} files that do not compile left as they are)" if result.skipped else ""
        print(f"relay bytecode: {result.folder}: {result.modules} modules{skipped}")
    return 0
