"""`relay doctor --config FILE [--secrets FILE] [--northca-url URL] [--stack NAME] [--offline]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import boto3

from relay.northca.client import NorthcaClient
from relay_devtools.doctor import (
    PARTNER_KEY_PARAMETER,
    PREFIX_PARAMETERS,
    Check,
    SecretLookup,
    id_checks,
    load,
    partner_checks,
    passed,
    secret_checks,
    secret_name_checks,
    signature_checks,
    stack_checks,
    template_names,
)
from relay_devtools.options import given
from relay_devtools.stack import StackError, StackInfo, describe_stack


def file_lookup(path: Path) -> SecretLookup:
    from relay_devtools.files.secrets_file import load_secrets_file

    content = load_secrets_file(path)
    return lambda name: content.as_secret_string(name) if name in content.secrets else None


def secrets_manager_lookup(client: Any) -> SecretLookup:
    def lookup(name: str) -> str | None:
        try:
            answer = client.get_secret_value(SecretId=name)
        except client.exceptions.ResourceNotFoundException:
            return None
        return str(answer.get("SecretString") or "")

    return lookup


def _newest(lookup: SecretLookup, name: str) -> str | None:
    from relay.models import parse_secret_value

    try:
        raw = lookup(name)
        return parse_secret_value(raw)[-1] if raw else None
    except Exception:  # noqa: BLE001 - the secret check has already said why
        return None


def run(args: argparse.Namespace) -> list[Check]:
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
    checks += id_checks(config)
    if args.offline:
        return checks
    if given(args.secrets):
        lookup, where = file_lookup(Path(args.secrets)), str(args.secrets)
    else:
        lookup, where = secrets_manager_lookup(boto3.client("secretsmanager", **options)), "Secrets Manager"
    checks += secret_checks(config, lookup, where)
    base_url = (args.northca_url or str(config.northca.base_url)).rstrip("/")
    key = _newest(lookup, config.northca.partner_key_secret)
    if key is None:
        checks.append(Check("partner", False, f"no partner key to try against {base_url}"))
    else:
        client = NorthcaClient(base_url, key, connect_timeout=5, read_timeout=10)
        checks += partner_checks(config, client, base_url)
    if info is not None:
        checks += stack_checks(info.outputs, info.status, args.stack, boto3.client("sqs", **options))
    return checks


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run(args)
    for check in checks:
        print(check.line())
    failed = sum(not check.ok for check in checks)
    print(f"relay doctor: {len(checks) - failed} passed, {failed} failed")
    return 0 if passed(checks) else 1


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
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
    parser.set_defaults(func=cmd_doctor)
