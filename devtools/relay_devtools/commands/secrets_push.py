"""`relay secrets push --secrets FILE --stack NAME`: the secrets relay.toml names, from the local file into
Secrets Manager (operations/secrets_push.py), after checking the stack's functions may read them; an
existing different value is overwritten only when the operator says so (--yes, or y at the prompt).
`--local` instead of `--stack` rehearses it against the `relay local` running in this folder (its moto's
Secrets Manager, the template's names): the same checks and writes, no AWS account.

It registers the `secrets` group with its one subcommand, `push`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from relay.config.loader import load_config
from relay.config.schema import RelayConfig
from relay_devtools.files.secrets_file import load_secrets_file
from relay_devtools.files.template import DEFAULT_TEMPLATE, template_path
from relay_devtools.local.state import local_client_options
from relay_devtools.operations.deploy import secret_parameters
from relay_devtools.operations.doctor import (
    PARTNER_KEY_PARAMETER,
    PREFIX_PARAMETERS,
    secret_name_checks,
    template_names,
)
from relay_devtools.operations.secrets_push import Ask, discord_webhook_problem, push, push_one, unready
from relay_devtools.operations.stack import StackError, describe_stack
from relay_devtools.options import Subparsers, aws_problem, beside_local


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    secrets = subparsers.add_parser("secrets", help="the config's secrets in Secrets Manager")
    commands = secrets.add_subparsers(dest="secrets_command", required=True)
    parser = commands.add_parser(
        "push",
        parents=parents,
        help="create or update the config's secrets from the local file (asks before overwriting)",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the stack whose functions read them")
    where.add_argument(
        "--local", action="store_true", help="rehearse it: push to the relay local running in this folder"
    )
    parser.add_argument("--yes", action="store_true", help="overwrite different values without asking")
    parser.add_argument(
        "--discord-webhook-secret",
        metavar="NAME",
        help="also push NAME, the Discord webhook URL the alarms post to (a secret of its own)",
    )
    parser.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        help="where the secret prefixes are declared (default: the checkout's)",
    )
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    return parser


def terminal_ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{prompt}no (not a terminal: pass --yes to overwrite)")
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def _where(
    args: argparse.Namespace, config: RelayConfig, local: dict[str, Any] | None
) -> tuple[dict[str, str], dict[str, str], str]:
    """The secret names the target grants, the client options that reach it, and what to call it;
    SystemExit saying why when it cannot be reached."""
    names = template_names(template_path(args.template))
    if args.local:
        if local is None:
            raise SystemExit("relay secrets push: no relay local runs in this folder (start it: make run)")
        return names, local_client_options(local), "the relay local running here"
    options: dict[str, str] = {"region_name": args.region} if args.region else {}
    try:
        cloudformation = boto3.client("cloudformation", **options)  # type: ignore[call-overload]
        info = describe_stack(cloudformation, args.stack)
    except StackError as exc:
        if not exc.missing:
            raise SystemExit(f"relay secrets push: {exc}") from None
        # Before the first deploy: the names make deploy will grant, from the config (the secrets are then
        # in place when the stack's functions first run).
        print(
            f"relay secrets push: {args.stack} is not deployed yet: checked against what make deploy grants"
        )
        return names | secret_parameters(config), options, args.stack
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"relay secrets push: {args.stack}: {aws_problem(exc)}") from None
    wanted = [PARTNER_KEY_PARAMETER, *PREFIX_PARAMETERS.values()]
    return names | {k: v for k, v in info.parameters.items() if k in wanted}, options, args.stack


def run(args: argparse.Namespace) -> int:
    local = beside_local(args) if args.local else None  # its config, unless --config names another
    config = load_config(args.config)
    content = load_secrets_file(Path(args.secrets))
    names, options, target = _where(args, config, local)
    # A secret the stack's functions may not read is worth nothing there: stop before writing any.
    wrong = [check for check in secret_name_checks(config, names, stack=not args.local) if not check.ok]
    if wrong:
        for check in wrong:
            print(check.line(), file=sys.stderr)
        return 1
    # Every value is checked before any is written: a push stops whole, never half-way.
    problems = unready(config, content)
    discord = args.discord_webhook_secret
    if discord and (problem := discord_webhook_problem(content, discord)) is not None:
        problems.append(problem)
    if problems:
        for problem in problems:
            print(problem.line())
        print(f"relay secrets push: nothing written: {len(problems)} secrets not ready (fix the file first)")
        return 1
    ask: Ask = (lambda _prompt: True) if args.yes else terminal_ask
    try:
        client = boto3.client("secretsmanager", **options)  # type: ignore[call-overload]
        results = push(config, content, client, ask)
        if discord:
            results.append(push_one(discord, content, client, ask))
    except (BotoCoreError, ClientError) as exc:
        print(f"relay secrets push: {aws_problem(exc)}", file=sys.stderr)
        return 1
    for result in results:
        print(result.line())
    bad = [r for r in results if r.action in ("missing", "refused")]
    print(f"relay secrets push: {len(results) - len(bad)} of {len(results)} secrets in place for {target}")
    if args.local and not bad:
        print(
            "relay secrets push: relay local's functions read them at their next cold start (or when a "
            "signature matches none of their values); sign with them: "
            f"relay sign SOURCE --secrets {args.secrets}"
        )
    return 1 if bad else 0
