"""`relay urls [--stack NAME] [--show-tokens]`: each source's full webhook URL, to paste into its sender:
the deployed stack's (its custom domain's when it has one), or the relay local's running here. A
url-token source's URL holds its secret: it is shown only with --show-tokens."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from relay.config.loader import load_config
from relay.config.schema import RelayConfig
from relay.sources.registry import KINDS, adapter_kind
from relay_devtools.options import Subparsers, beside_local


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "urls", parents=parents, help="each source's webhook URL to paste into its sender"
    )
    parser.add_argument("--stack", help="a deployed stack (default: the relay local running here)")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    parser.add_argument(
        "--show-tokens", action="store_true", help="print url-token sources' URLs whole (their secret)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    local = None if args.stack else beside_local(args)
    config = load_config(args.config)
    if args.stack:
        base, token = _stack(args, config)
        where = args.stack
    elif local is not None:
        base, token = str(local["ingress"]).removesuffix("/hooks"), _file_token(args)
        where = "the relay local running here"
    else:
        raise SystemExit("relay urls: give --stack NAME, or run it where `relay local` runs (make run)")
    for name, source in config.sources.items():
        url = f"{base}/hooks/{name}"
        if source.signature.scheme == "url-token":
            url += f"/{token(source.signature.secret)}" if args.show_tokens else "/<token: --show-tokens>"
        page = adapter_kind(source.adapter).sender.docs if source.adapter in KINDS else ""
        print(f"{name:16} {url}" + (f"   ({page})" if page else ""))
    print(f"relay urls: {len(config.sources)} sources of {args.config} at {where}")
    return 0


def _file_token(args: argparse.Namespace) -> Callable[[str], str]:
    from relay_devtools.files.secrets_file import load_secrets_file

    secrets = load_secrets_file(Path(args.secrets))
    return secrets.newest


def _stack(args: argparse.Namespace, config: RelayConfig) -> tuple[str, Callable[[str], str]]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from relay_devtools.operations.doctor import newest_value, secrets_manager_lookup
    from relay_devtools.operations.stack import StackError, describe_stack, webhook_base
    from relay_devtools.options import aws_problem

    options = {"region_name": args.region} if args.region else {}
    try:
        info = describe_stack(boto3.client("cloudformation", **options), args.stack)
    except StackError as exc:
        raise SystemExit(f"relay urls: {exc}") from None
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"relay urls: {args.stack}: {aws_problem(exc)}") from None
    base = webhook_base(info.outputs)
    if base is None:
        raise SystemExit(f"relay urls: {args.stack} has no WebhookUrl output (is it the relay's stack?)")
    lookup = secrets_manager_lookup(boto3.client("secretsmanager", **options), config.secrets.bundle)

    def token(name: str) -> str:
        try:
            value = newest_value(lookup, name)
        except (BotoCoreError, ClientError) as exc:
            raise SystemExit(f"relay urls: {name}: {aws_problem(exc)}") from None
        if value is None:
            raise SystemExit(f"relay urls: {name!r} is not in Secrets Manager (relay secrets push)")
        return value

    return base, token
