"""Where the recovery commands act: the `relay local` running in this folder (its state file names its
endpoints, tables, secrets file and partner), or a deployed stack (`--stack NAME`: CloudFormation's
outputs, Secrets Manager and relay.toml's partner, with the operator's AWS credentials)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from relay.aws.archive import DynamoArchive
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsPublisher
from relay.aws.unit_state import DynamoUnitStateStore
from relay.config.loader import load_config
from relay.config.schema import RelayConfig
from relay.northca.client import NorthcaClient
from relay.ports.secrets import SecretsSource
from relay_devtools.local.state import DEFAULT_STATE_FILE, read_local_state
from relay_devtools.operations.stack import describe_stack, log_groups


class TargetError(Exception):
    """No relay to act on as asked (no stack, no relay local here, an output missing)."""


@dataclass
class Target:
    name: str  # "relay local" or "stack NAME"
    config: RelayConfig
    dynamodb: Any
    sqs: Any
    queue_url: str
    state_table: str
    archive_table: str
    secrets: SecretsSource
    partner_url: str
    # relay local's deliveries feed (its JSON); a stack's trail is in CloudWatch Logs
    feed_url: str | None = None
    logs: Any = None
    log_groups: dict[str, str] | None = None

    def archive(self) -> DynamoArchive:
        return DynamoArchive(self.archive_table, self.dynamodb)

    def unit_state(self) -> DynamoUnitStateStore:
        # TTL days matter only to writes, which the commands never make to unit state.
        return DynamoUnitStateStore(self.state_table, self.dynamodb)

    def publisher(self) -> SqsPublisher:
        return SqsPublisher(self.queue_url, self.sqs)

    def partner(self) -> NorthcaClient:
        """The partner as the consumer reads it, with the newest partner key (the dry runs read only)."""
        keys = self.secrets.get(self.config.northca.partner_key_secret)
        if not keys:
            raise TargetError(f"no partner key in secret {self.config.northca.partner_key_secret!r}")
        northca = self.config.northca
        return NorthcaClient(
            self.partner_url,
            keys[-1],
            connect_timeout=northca.connect_timeout,
            read_timeout=northca.read_timeout,
        )


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="a deployed stack's name (default: the relay local running here)")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    parser.add_argument(
        "--local-state",
        default=str(DEFAULT_STATE_FILE),
        help="without --stack: the state file of the relay local to act on",
    )


def resolve(args: argparse.Namespace) -> Target:
    """The stack `--stack` names, else the relay local running in this folder."""
    if getattr(args, "stack", None):
        return _stack(args.stack, args.region, Path(getattr(args, "config", None) or "relay.toml"))
    state = read_local_state(Path(args.local_state))
    if state is None:
        raise TargetError("give --stack NAME, or run it in the folder where `relay local` runs")
    return _local(state)


def _local(state: dict[str, Any]) -> Target:
    options = {
        "endpoint_url": str(state["aws_endpoint"]),
        "region_name": str(state["region"]),
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    config = load_config(Path(str(state["config"])))
    # The secrets relay local serves with (its moto Secrets Manager, seeded from its secrets file and
    # changed there since, as a fixed key is), read as the functions read them.
    secrets = PowertoolsSecrets(
        make_client=lambda: boto3.client("secretsmanager", **options),  # type: ignore[call-overload]
        bundle=config.secrets.bundle,
    )
    missing = [key for key in ("state_table", "archive_table") if not state.get(key)]
    if missing:
        raise TargetError(
            f"the relay local running here is older than this command (no {missing[0]}): restart it"
        )
    return Target(
        name="relay local",
        config=config,
        dynamodb=boto3.client("dynamodb", **options),  # type: ignore[call-overload]
        sqs=boto3.client("sqs", **options),  # type: ignore[call-overload]
        queue_url=str(state["queue_url"]),
        state_table=str(state["state_table"]),
        archive_table=str(state["archive_table"]),
        secrets=secrets,
        partner_url=str(state["northca"]),
        feed_url=str(state["feed"]) + "/deliveries" if state.get("feed") else None,
    )


OUTPUTS = {
    "queue_url": "WebhookQueueUrl",
    "state_table": "UnitStateTableName",
    "archive_table": "ArchiveTableName",
}


def _stack(name: str, region: str | None, config_path: Path) -> Target:
    options = {"region_name": region} if region else {}
    client: Callable[[str], Any] = lambda service: boto3.client(service, **options)  # type: ignore[call-overload]  # noqa: E731
    cloudformation = client("cloudformation")
    info = describe_stack(cloudformation, name)
    missing = [output for output in OUTPUTS.values() if not info.outputs.get(output)]
    if missing:
        raise TargetError(
            f"stack {name!r} has no output {missing[0]}: deploy this version first (make deploy)"
        )
    config = load_config(config_path)
    return Target(
        name=f"stack {name}",
        config=config,
        dynamodb=client("dynamodb"),
        sqs=client("sqs"),
        queue_url=info.outputs[OUTPUTS["queue_url"]],
        state_table=info.outputs[OUTPUTS["state_table"]],
        archive_table=info.outputs[OUTPUTS["archive_table"]],
        secrets=PowertoolsSecrets(make_client=lambda: client("secretsmanager"), bundle=config.secrets.bundle),
        partner_url=str(config.northca.base_url),
        logs=client("logs"),
        log_groups=log_groups(cloudformation, name),
    )
