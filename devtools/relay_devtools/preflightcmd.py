"""`relay preflight [--config FILE] [--config-env default] [--parameter K=V ...]`: what the account and the
stack allow, before `sam deploy` (relay deploy runs the same first). One line per check, as relay doctor."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

from relay.sources.registry import load_config
from relay_devtools.preflight import RESERVATION_PARAMETER, Preflight, Situation, evaluate, read_situation
from relay_devtools.template import load_template

DEFAULT_STACK = "northca-relay"


def samconfig_value(samconfig: Path, env: str, key: str) -> str | None:
    """A setting of `env` in samconfig.toml: its deploy parameters', else its global parameters'."""
    data = tomllib.loads(samconfig.read_text(encoding="utf-8")) if samconfig.exists() else {}
    environment = data.get(env, {})
    for command in ("deploy", "global"):
        value = environment.get(command, {}).get("parameters", {}).get(key)
        if value is not None:
            return str(value)
    return None


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"relay preflight: --parameter {pair!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def run_preflight(
    config_path: Path,
    samconfig: Path,
    env: str,
    template: Path,
    parameters: Mapping[str, str],
    *,
    region: str | None = None,
    stack_name: str | None = None,
    allow_second_stack: bool = False,
    clients: Mapping[str, Any] | None = None,
) -> Preflight:
    """`clients` (cloudformation, lambda, acm) default to the AWS configuration's, in `region`."""
    config = load_config(config_path)
    name = stack_name or samconfig_value(samconfig, env, "stack_name") or DEFAULT_STACK
    session = boto3.session.Session(region_name=region)
    resolved = session.region_name
    choices = [int(v) for v in load_template(template)["Parameters"][RESERVATION_PARAMETER]["AllowedValues"]]
    if resolved:
        if clients is None:
            clients = {service: session.client(service) for service in ("cloudformation", "lambda", "acm")}
        situation = read_situation(clients, resolved, name, parameters.get("CertificateArn", ""))
    else:  # nothing to read without a region: the region check says so
        situation = Situation(None, name, None, None)
    return evaluate(
        situation,
        config,
        parameters,
        choices,
        pinned_region=samconfig_value(samconfig, env, "region"),
        allow_second_stack=allow_second_stack,
    )


def print_preflight(result: Preflight, out: Any = None) -> None:
    out = out or sys.stdout  # looked up at each call: a caller may have redirected it
    for check in result.checks:
        print(check.line(), file=out)
    for key, value in result.derived.items():
        print(f"adds  {key}={value}", file=out)
    failed = sum(not check.ok for check in result.checks)
    print(f"relay preflight: {len(result.checks) - failed} passed, {failed} failed", file=out, flush=True)


def cmd_preflight(args: argparse.Namespace) -> int:
    from relay_devtools.deploy import parameter_overrides

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


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options `relay deploy` shares."""
    parser.add_argument("--allow-second-stack", action="store_true", help="deploy beside another relay stack")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
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
    add_options(parser)
    parser.set_defaults(func=cmd_preflight)
