"""`relay doctor --config FILE [--secrets FILE] [--northca-url URL] [--stack NAME] [--offline]`: the
checks (relay_devtools.operations.doctor) the flags ask for, one line each; exit 0 when all pass. With
neither --stack nor --secrets, the `relay local` running in this folder is checked."""

from __future__ import annotations

import argparse
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from relay.config.schema import RelayConfig
from relay.northca.client import NorthcaClient
from relay_devtools.files.template import DEFAULT_TEMPLATE, template_path
from relay_devtools.local.state import local_client_options
from relay_devtools.operations.doctor import (
    PARTNER_KEY_PARAMETER,
    PREFIX_PARAMETERS,
    Check,
    SecretLookup,
    file_lookup,
    id_checks,
    load,
    newest_value,
    passed,
    queue_checks,
    secret_checks,
    secret_name_checks,
    secrets_manager_lookup,
    signature_checks,
    stack_checks,
    status_checks,
    template_names,
)
from relay_devtools.operations.partner_checks import emergency_checks, emergency_sources, partner_checks
from relay_devtools.operations.setup_checks import local_summary, secret_value_checks, secrets_file_checks
from relay_devtools.operations.stack import StackError, StackInfo, describe_stack
from relay_devtools.options import Subparsers, aws_problem, beside_local, given


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
    parser.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        help="where the secret prefixes are declared (default: the checkout's)",
    )
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    return parser


def checks_for(args: argparse.Namespace) -> list[Check]:
    """The checks the flags ask for, in order: config, secret names, signatures and ids (always, even
    when AWS cannot be reached); then (unless --offline) the secrets, the partner and the stack. With
    no --stack, a `relay local` running in this folder is what is checked (its secrets file, its
    Northca, its queues), as `relay redrive` finds it."""
    # The local stack is what is checked only when nothing names another setup (a secrets file of the
    # real values, a partner URL, a stack).
    elsewhere = args.stack or args.offline or args.northca_url or given(args.secrets)
    local = None if elsewhere else beside_local(args)
    config, loaded = load(Path(args.config))
    checks = [loaded]
    if config is None:
        return checks
    names = template_names(template_path(args.template))
    options = {"region_name": args.region} if args.region else {}
    info, aws_down = _stack(args, options, checks)
    if info is not None:
        wanted = [PARTNER_KEY_PARAMETER, *PREFIX_PARAMETERS.values()]
        names |= {key: value for key, value in info.parameters.items() if key in wanted}
    checks += [*secret_name_checks(config, names, stack=info is not None), *signature_checks(config)]
    checks += [*id_checks(config), *status_checks(config), *secret_value_checks(config)]
    secrets_file = Path(args.secrets) if given(args.secrets) or local is not None else None
    checks += secrets_file_checks(Path(args.config).resolve().parent, secrets_file)
    if args.offline:
        return checks
    if local is not None:
        checks.append(Check("relay local", True, f"{local_summary(local)} (--stack NAME: a deployed one)"))
    if given(args.secrets) or local is not None:
        lookup, where = file_lookup(Path(args.secrets)), str(args.secrets)
    elif aws_down:
        return [*checks, Check("secret", False, f"not read from Secrets Manager: {aws_down}")]
    else:
        secretsmanager = boto3.client("secretsmanager", **options)
        lookup, where = secrets_manager_lookup(secretsmanager, config.secrets.bundle), "Secrets Manager"
    checks += secret_checks(config, lookup, where)
    base_url = args.northca_url or (local and str(local["northca"])) or str(config.northca.base_url)
    checks += _partner(config, lookup, base_url.rstrip("/"))
    if info is not None:
        sqs = boto3.client("sqs", **options)
        checks += stack_checks(info.outputs, info.status, args.stack, sqs, emergency_sources(config))
    elif local is not None:
        sqs = boto3.client("sqs", **local_client_options(local))  # type: ignore[call-overload]
        urgent = str(local.get("emergency_queue_url") or "") or None
        checks += queue_checks(str(local["queue_url"]), str(local["dlq_url"]), urgent, sqs)
    return checks


def _stack(
    args: argparse.Namespace, options: dict[str, str], checks: list[Check]
) -> tuple[StackInfo | None, str]:
    """The stack --stack names, or None with a failed check; and why AWS could not be asked, if so."""
    if not args.stack:
        return None, ""
    try:
        cloudformation = boto3.client("cloudformation", **options)  # type: ignore[call-overload]
        return describe_stack(cloudformation, args.stack), ""
    except StackError as exc:
        checks.append(Check("stack", False, str(exc)))
        return None, ""
    except (BotoCoreError, ClientError) as exc:  # no credentials, no region: the offline checks still run
        checks.append(
            Check("stack", False, f"{args.stack}: {aws_problem(exc)} (the offline checks still ran)")
        )
        return None, aws_problem(exc)


def _partner(config: RelayConfig, lookup: SecretLookup, base_url: str) -> list[Check]:
    key = newest_value(lookup, config.northca.partner_key_secret)
    if key is None:
        return [Check("partner", False, f"no partner key to try against {base_url}")]
    client = NorthcaClient(base_url, key, connect_timeout=5, read_timeout=10)
    return partner_checks(config, client, base_url) + emergency_checks(config, client, base_url)


def run(args: argparse.Namespace) -> int:
    checks = checks_for(args)
    for check in checks:
        print(check.line())
    failed = sum(not check.ok for check in checks)
    print(f"relay doctor: {len(checks) - failed} passed, {failed} failed")
    return 0 if passed(checks) else 1
