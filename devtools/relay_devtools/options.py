"""The options every `relay` subcommand shares, and the handling of arguments more than one reads."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import MutableMapping
from typing import Any

from relay.config.schema import RelayConfig, SourceConfig
from relay_devtools.local.state import running_local_state
from relay_devtools.webhooks.dry_run import MapError, source_config

# --config and --secrets when not given: the repository's files.
DEFAULTS = {"config": "relay.toml", "secrets": "relay.secrets.toml"}

# What a command module's `register` adds its subcommand to (argparse names the type privately).
type Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


class Default(str):
    """A default value, told apart from the same text typed by the user (`relay doctor` reads the
    secrets from Secrets Manager unless --secrets names a file)."""

    __slots__ = ()


def given(value: object) -> bool:
    return not isinstance(value, Default)


def common_options() -> argparse.ArgumentParser:
    """--config and --secrets, accepted before or after any subcommand (the later one wins).

    The subcommands' copies default to SUPPRESS, so a value given before the subcommand is kept
    unless the subcommand is given its own.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="relay.toml to use (default: relay.toml)")
    common.add_argument(
        "--secrets", default=argparse.SUPPRESS, help="local secrets file (default: relay.secrets.toml)"
    )
    return common


def beside_local(args: argparse.Namespace) -> dict[str, Any] | None:
    """The `relay local` running in this folder (its state file), if any; --config and --secrets not
    given are taken from it, so `relay sign`/`units`/`doctor` talk to the stack as it was started
    (`make run ARGS="--port 3100"`, `relay local --config community.toml`)."""
    state = running_local_state()
    if state is None:
        return None
    for name in DEFAULTS:
        if not given(getattr(args, name, None)) and state.get(name):
            setattr(args, name, Default(str(state[name])))
    return state


def printable(text: object) -> str:
    """Text from elsewhere (a partner's error, a dead letter's reason) safe to print to a terminal:
    control characters are written out (an ESC must not recolour or move the operator's screen)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def chosen_source(config: RelayConfig, name: str, command: str) -> SourceConfig:
    """The source a command's SOURCE argument names; else `relay COMMAND` exits saying which exist."""
    try:
        return source_config(config, name)
    except MapError as exc:
        raise SystemExit(f"relay {command}: {exc}") from None


def preflight_options(parser: argparse.ArgumentParser) -> None:
    """The options `relay preflight` and `relay deploy` share."""
    parser.add_argument("--allow-second-stack", action="store_true", help="deploy beside another relay stack")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")


def honour_aws_region(environ: MutableMapping[str, str] = os.environ) -> bool:
    """AWS_REGION counts as AWS_DEFAULT_REGION. The boto3 the relay locks reads only the latter, while
    Lambda, the other SDKs and the docs' hints set the former: an operator who set either is heard
    (and SAM, run from `relay deploy`, inherits the same). True when it set AWS_DEFAULT_REGION."""
    if environ.get("AWS_REGION") and not environ.get("AWS_DEFAULT_REGION"):
        environ["AWS_DEFAULT_REGION"] = environ["AWS_REGION"]
        return True
    return False


# https://sqs.eu-west-1.amazonaws.com/123/q, https://sqs.cn-north-1.amazonaws.com.cn/..., and SQS's legacy
# https://eu-west-1.queue.amazonaws.com/123/q.
_REGION_IN_URL = re.compile(
    r"^https://(?:sqs\.(?P<a>[a-z]{2}(?:-[a-z]+)+-\d+)|(?P<b>[a-z]{2}(?:-[a-z]+)+-\d+)\.queue)"
    r"\.amazonaws\.com(?:\.cn)?(?::443)?(?:/|$)"
)


def region_of_url(url: str) -> str | None:
    """The region an AWS URL names (an SQS queue's), or None when it names none."""
    match = _REGION_IN_URL.match(url)
    return (match["a"] or match["b"]) if match else None


def aws_hint(exc: BaseException) -> str | None:
    """What to do about the AWS errors an operator meets (no region, no credentials, no endpoint)."""
    kind = type(exc).__name__
    if kind == "NoRegionError":
        return "no AWS region: set AWS_REGION (or AWS_PROFILE with a region, or pass --region)"
    if kind in ("NoCredentialsError", "PartialCredentialsError"):
        return (
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (an IAM user's access key), "
            "or AWS_PROFILE naming a profile of ~/.aws/config"
        )
    if kind == "EndpointConnectionError":
        return f"cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')}"
    if kind in ("ExpiredTokenException", "ExpiredToken") or "ExpiredToken" in str(exc):
        return "your AWS session has expired: sign in again (a new session for AWS_PROFILE, or new keys)"
    return None


def aws_problem(exc: BaseException) -> str:
    """An AWS error in one line: the hint when there is one, else AWS's own words."""
    return aws_hint(exc) or str(exc)
