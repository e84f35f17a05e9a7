"""`relay secrets push --secrets FILE --stack NAME`: the secrets relay.toml names, from the local file into
Secrets Manager (operations/secrets_push.py), after checking the stack's functions may read them; an
existing different value is overwritten only when the operator says so (--yes, or y at the prompt).

It registers the `secrets` group with its one subcommand, `push`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from relay.config.loader import load_config
from relay_devtools.files.secrets_file import load_secrets_file
from relay_devtools.operations.doctor import (
    PARTNER_KEY_PARAMETER,
    PREFIX_PARAMETERS,
    secret_name_checks,
    template_names,
)
from relay_devtools.operations.secrets_push import Ask, push, unready
from relay_devtools.operations.stack import StackError, describe_stack
from relay_devtools.options import Subparsers


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    secrets = subparsers.add_parser("secrets", help="the config's secrets in Secrets Manager")
    commands = secrets.add_subparsers(dest="secrets_command", required=True)
    parser = commands.add_parser(
        "push",
        parents=parents,
        help="create or update the config's secrets from the local file (asks before overwriting)",
    )
    parser.add_argument("--stack", required=True, help="the stack whose functions read them")
    parser.add_argument("--yes", action="store_true", help="overwrite different values without asking")
    parser.add_argument("--template", default="template.yaml", help="where the secret prefixes are declared")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    return parser


def terminal_ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{prompt}no (not a terminal: pass --yes to overwrite)")
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    content = load_secrets_file(Path(args.secrets))
    options = {"region_name": args.region} if args.region else {}
    names = template_names(Path(args.template))
    try:
        info = describe_stack(boto3.client("cloudformation", **options), args.stack)
    except StackError as exc:
        print(f"relay secrets push: {exc}", file=sys.stderr)
        return 1
    wanted = [PARTNER_KEY_PARAMETER, *PREFIX_PARAMETERS.values()]
    names |= {key: value for key, value in info.parameters.items() if key in wanted}
    # A secret the stack's functions may not read is worth nothing there: stop before writing any.
    wrong = [check for check in secret_name_checks(config, names, stack=True) if not check.ok]
    if wrong:
        for check in wrong:
            print(check.line(), file=sys.stderr)
        return 1
    # Every value is checked before any is written: a push stops whole, never half-way.
    problems = unready(config, content)
    if problems:
        for problem in problems:
            print(problem.line())
        print(f"relay secrets push: nothing written: {len(problems)} secrets not ready (fix the file first)")
        return 1
    ask: Ask = (lambda _prompt: True) if args.yes else terminal_ask
    try:
        results = push(config, content, boto3.client("secretsmanager", **options), ask)
    except (BotoCoreError, ClientError) as exc:
        print(f"relay secrets push: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(result.line())
    bad = [r for r in results if r.action in ("missing", "refused")]
    print(
        f"relay secrets push: {len(results) - len(bad)} of {len(results)} secrets in place for {args.stack}"
    )
    return 1 if bad else 0
