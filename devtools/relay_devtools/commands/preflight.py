"""`relay preflight [--config FILE] [--config-env default] [--parameter K=V ...]`: what the account and the
stack allow, before `sam deploy` (relay deploy runs the same first). One line per check, as relay doctor;
the checks are operations/preflight.py's."""

from __future__ import annotations

import argparse
from pathlib import Path

from relay_devtools.operations.deploy import parameter_overrides
from relay_devtools.operations.preflight import print_preflight, run_preflight
from relay_devtools.options import Subparsers, preflight_options


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"relay preflight: --parameter {pair!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def run(args: argparse.Namespace) -> int:
    parameters = parameter_overrides(Path(args.samconfig), args.config_env) | parse_parameters(args.parameter)
    result = run_preflight(
        Path(args.config),
        Path(args.samconfig),
        args.config_env,
        Path(args.template),
        parameters,
        region=args.region,
        stack_name=args.stack,
        allow_second_stack=args.allow_second_stack,
    )
    print_preflight(result)
    return 0 if result.passed else 1


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "preflight",
        parents=parents,
        help="what the account and the stack allow, before sam deploy (relay deploy runs it first)",
    )
    parser.add_argument("--stack", help="the stack's name (default: samconfig.toml's)")
    parser.add_argument("--config-env", default="default", help="samconfig.toml's environment (e.g. prod)")
    parser.add_argument("--samconfig", default="samconfig.toml")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument(
        "--parameter", action="append", default=[], help="KEY=VALUE the deploy will pass (repeatable)"
    )
    preflight_options(parser)
    return parser
