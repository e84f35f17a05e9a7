"""`relay doctor --config FILE [--secrets FILE] [--northca-url URL] [--stack NAME] [--offline]`: the
checks (relay_devtools.operations.doctor) the flags ask for, one line each; exit 0 when all pass."""

from __future__ import annotations

import argparse
from pathlib import Path

import boto3

from relay.northca.client import NorthcaClient
from relay_devtools.operations.doctor import (
    PARTNER_KEY_PARAMETER,
    PREFIX_PARAMETERS,
    Check,
    file_lookup,
    id_checks,
    load,
    newest_value,
    partner_checks,
    passed,
    secret_checks,
    secret_name_checks,
    secrets_manager_lookup,
    signature_checks,
    stack_checks,
    status_checks,
    template_names,
)
from relay_devtools.operations.stack import StackError, StackInfo, describe_stack
from relay_devtools.options import Subparsers, given


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "doctor",
        parents=parents,
        help="check a config, its secrets, the partner and a stack before they fail (one line per check)",
    )
    parser.add_argument("--northca-url", help="the partner API to check (default: northca.base_url)")
    parser.add_argument("--stack", help="a deployed stack to check (and whose parameters to check against)")
    parser.add_argument(
        "--offline", action="store_true", help="the config's rules only (what make build runs)"
    )
    parser.add_argument("--template", default="template.yaml", help="where the secret prefixes are declared")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    return parser


def checks_for(args: argparse.Namespace) -> list[Check]:
    """The checks the flags ask for, in order: config, secret names, signatures and ids; then (unless
    --offline) the secrets, the partner and the stack."""
    config, loaded = load(Path(args.config))
    checks = [loaded]
    if config is None:
        return checks
    names = template_names(Path(args.template))
    options = {"region_name": args.region} if args.region else {}
    info: StackInfo | None = None
    if args.stack:
        try:
            info = describe_stack(boto3.client("cloudformation", **options), args.stack)
        except StackError as exc:
            checks.append(Check("stack", False, str(exc)))
        if info is not None:
            wanted = [PARTNER_KEY_PARAMETER, *PREFIX_PARAMETERS.values()]
            names |= {key: value for key, value in info.parameters.items() if key in wanted}
    checks += [*secret_name_checks(config, names, stack=info is not None), *signature_checks(config)]
    checks += [*id_checks(config), *status_checks(config)]
    if args.offline:
        return checks
    if given(args.secrets):
        lookup, where = file_lookup(Path(args.secrets)), str(args.secrets)
    else:
        secretsmanager = boto3.client("secretsmanager", **options)
        lookup, where = secrets_manager_lookup(secretsmanager, config.secrets.bundle), "Secrets Manager"
    checks += secret_checks(config, lookup, where)
    base_url = (args.northca_url or str(config.northca.base_url)).rstrip("/")
    key = newest_value(lookup, config.northca.partner_key_secret)
    if key is None:
        checks.append(Check("partner", False, f"no partner key to try against {base_url}"))
    else:
        client = NorthcaClient(base_url, key, connect_timeout=5, read_timeout=10)
        checks += partner_checks(config, client, base_url)
    if info is not None:
        checks += stack_checks(info.outputs, info.status, args.stack, boto3.client("sqs", **options))
    return checks


def run(args: argparse.Namespace) -> int:
    checks = checks_for(args)
    for check in checks:
        print(check.line())
    failed = sum(not check.ok for check in checks)
    print(f"relay doctor: {len(checks) - failed} passed, {failed} failed")
    return 0 if passed(checks) else 1
