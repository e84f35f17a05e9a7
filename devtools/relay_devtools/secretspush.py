"""`relay secrets push --secrets FILE --stack NAME`: the secrets relay.toml names, from a local file into
Secrets Manager, created or updated; an existing different value is overwritten only when the operator
says so. No value is ever printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from relay.config import RelayConfig
from relay.sources.registry import load_config
from relay_devtools.doctor import PARTNER_KEY_PARAMETER, PREFIX_PARAMETERS, secret_name_checks, template_names
from relay_devtools.files.secrets_file import SecretsFile, load_secrets_file
from relay_devtools.stack import StackError, describe_stack

# relay local's generated values (relay_devtools.files.secrets_file): never meant for a deployed stack.
DEMO_PREFIXES = ("demo-",)

Ask = Callable[[str], bool]


@dataclass(frozen=True)
class Pushed:
    name: str
    action: str  # created | updated | unchanged | kept | refused | missing
    detail: str = ""

    def line(self) -> str:
        return f"{self.action:9} {self.name}" + (f"  ({self.detail})" if self.detail else "")


def is_demo(content: SecretsFile, name: str) -> bool:
    values = content.secrets[name]
    return any(str(v).startswith(DEMO_PREFIXES) for v in (values if isinstance(values, list) else [values]))


def push(config: RelayConfig, content: SecretsFile, client: Any, ask: Ask) -> list[Pushed]:
    results = []
    for name in sorted(config.secret_names()):
        if name not in content.secrets:
            results.append(Pushed(name, "missing", "not in the secrets file"))
            continue
        if is_demo(content, name):
            results.append(Pushed(name, "refused", "relay local's demo value: put the real one in the file"))
            continue
        value = content.as_secret_string(name)
        try:
            current = client.get_secret_value(SecretId=name).get("SecretString")
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=value)
            results.append(Pushed(name, "created"))
            continue
        if current == value:
            results.append(Pushed(name, "unchanged"))
        elif ask(f"{name} exists in Secrets Manager with another value: overwrite it? [y/N] "):
            client.put_secret_value(SecretId=name, SecretString=value)
            results.append(Pushed(name, "updated"))
        else:
            results.append(Pushed(name, "kept", "the value in Secrets Manager was left as it is"))
    return results


def terminal_ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{prompt}no (not a terminal: pass --yes to overwrite)")
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def cmd_push(args: argparse.Namespace) -> int:
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


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
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
    parser.set_defaults(func=cmd_push)
