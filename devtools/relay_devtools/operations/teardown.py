"""Removing a stack (docs/removing-a-stack.md): before `sam delete`, keep what it destroys; after it, list
what is still there and still billed.

`sam delete` destroys the queue (webhooks not yet written), both dead-letter queues (up to 14 days of
failed deliveries) and every log group (the trail `relay deliveries` reads), and schedules the alarm
topic's KMS key, if any, for deletion. It keeps the unit-state table (DeletionPolicy
RetainExceptOnCreate), and never touches the secrets `relay secrets push` created or SAM's artifact
bucket. So:

- `prepare`: refuses while the queue still holds messages (they would be lost), exports both DLQs'
  messages and the stack's relay log lines to a folder, writes a manifest of what will be left, and
  says what `sam delete` will do;
- `leftovers`: from that manifest, after the delete, what still exists: the table, the secrets, log
  groups that Lambda's late delivery recreated, with what each costs and the command that removes it.

Clients are passed in; nothing here deletes anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from relay.config.schema import RelayConfig
from relay_devtools.cost.prices import PRICES
from relay_devtools.deliveries.cloudwatch import read_records
from relay_devtools.operations.stack import StackError, StackInfo, describe_stack, log_groups

MANIFEST = "manifest.json"
# What a leftover secret costs a month (relay_devtools.cost.prices, cited in docs/cost.md).
SECRET_MONTHLY_USD = PRICES["secrets"].usd
# The queues whose messages are exported, by the stack output that names them.
DEAD_LETTER_OUTPUTS = ("WebhookDlqUrl", "ScheduleDlqUrl")
# SAM's managed stack (`resolve_s3 = true`): one per region, shared by every SAM application there.
SAM_MANAGED_STACK = "aws-sam-cli-managed-default"


class TeardownError(Exception):
    """The stack cannot be prepared for deletion as it is (messages still queued, no such stack)."""


@dataclass
class Manifest:
    """What a removal leaves, written beside the export (manifest.json)."""

    stack: str
    region: str
    exported_at: str
    state_table: str = ""
    secrets: list[str] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    log_lines: dict[str, int] = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Leftover:
    what: str
    name: str
    monthly_usd: float | None  # None: billed by use (storage), not by the month
    remove: str

    def line(self) -> str:
        cost = "billed by what it stores" if self.monthly_usd is None else f"${self.monthly_usd:.2f} a month"
        return f"{self.what} {self.name}: {cost}; remove: {self.remove}"


# ------------------------------------------------------------------ before sam delete


def queued(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def export_messages(sqs: Any, queue_url: str, path: Path) -> int:
    """Every message of the queue, one JSON line each (body, attributes, the relay's reason), left in the
    queue: each is made visible again once read."""
    handles: list[str] = []
    count = 0
    with path.open("w", encoding="utf-8") as out:
        try:
            while batch := sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=120,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", []):
                for message in batch:
                    handles.append(message["ReceiptHandle"])
                    record = {
                        "message_id": message["MessageId"],
                        "body": message["Body"],
                        "attributes": message.get("Attributes", {}),
                        "message_attributes": message.get("MessageAttributes", {}),
                    }
                    out.write(json.dumps(record) + "\n")
                    count += 1
        finally:
            for start in range(0, len(handles), 10):
                sqs.change_message_visibility_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for i, handle in enumerate(handles[start : start + 10])
                    ],
                )
    return count


def export_logs(logs: Any, groups: Mapping[str, str], since_ms: int, folder: Path) -> dict[str, int]:
    """The relay's log lines of each function's group since `since_ms`, one JSON line each."""
    counts = {}
    for function, group in groups.items():
        records = read_records(logs, [group], since_ms)
        with (folder / f"logs-{function}.jsonl").open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
        counts[function] = len(records)
    return counts


def secret_names(config: RelayConfig) -> list[str]:
    """The Secrets Manager secrets the config's relay reads (one with a bundle), each billed monthly."""
    return sorted(config.secret_ids())


def existing_secrets(secretsmanager: Any, names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            secretsmanager.describe_secret(SecretId=name)
        except ClientError:
            continue
        found.append(name)
    return found


def prepare(
    clients: Mapping[str, Any],
    stack_name: str,
    region: str,
    config: RelayConfig,
    folder: Path,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    force: bool = False,
) -> tuple[Manifest, StackInfo]:
    """Export what `sam delete` destroys into `folder` and write the manifest. Raises TeardownError while
    the webhook queue holds messages (unless `force`): they are webhooks not yet written to the MDT."""
    info = describe_stack(clients["cloudformation"], stack_name)
    sqs = clients["sqs"]
    waiting = queued(sqs, info.outputs["WebhookQueueUrl"]) if "WebhookQueueUrl" in info.outputs else 0
    if waiting and not force:
        raise TeardownError(
            f"{stack_name}: {waiting} messages are still in the webhook queue (changes not yet written to "
            "Northca): wait for the consumer, or run again with --force to lose them"
        )
    folder.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(stack=stack_name, region=region, exported_at=now().isoformat())
    for output in DEAD_LETTER_OUTPUTS:
        if output in info.outputs:
            manifest.dead_letters[output] = export_messages(
                sqs, info.outputs[output], folder / f"{output}.jsonl"
            )
    retention = int(info.parameters.get("LogRetentionDays", "30") or 30)
    since_ms = int((now() - timedelta(days=retention)).timestamp() * 1000)
    manifest.log_lines = export_logs(
        clients["logs"], log_groups(clients["cloudformation"], stack_name), since_ms, folder
    )
    manifest.state_table = info.outputs.get("UnitStateTableName", "")
    manifest.secrets = existing_secrets(clients["secretsmanager"], secret_names(config))
    # Their exact names: Lambda's late delivery recreates a group under the name it had (a prefix would
    # also match another stack whose name starts with this one's).
    manifest.log_groups = stack_log_groups(clients["cloudformation"], stack_name)
    manifest.write(folder)
    return manifest, info


def plan(manifest: Manifest) -> list[str]:
    """What `sam delete` will do, and what it will leave."""
    lines = [
        f"sam delete --stack-name {manifest.stack} --region {manifest.region} will delete: the API, the "
        "functions, the queue and both dead-letter queues, the replay table, every log group, the alarms, "
        "the dashboard, the saved queries; the alarm topic's KMS key, if any, is scheduled for deletion "
        "(7 to 30 days, not billed meanwhile), and the stack's artifacts in SAM's bucket",
        "it will leave (relay teardown --leftovers then checks each):",
    ]
    if manifest.state_table:
        lines.append(
            f"  the unit-state table {manifest.state_table} (kept on purpose: DeletionPolicy "
            "RetainExceptOnCreate), billed for storage and point-in-time recovery"
        )
    lines += [f"  the secret {name} (${SECRET_MONTHLY_USD:.2f} a month)" for name in manifest.secrets]
    lines.append(f"  SAM's artifact bucket (stack {SAM_MANAGED_STACK}, shared by every SAM application here)")
    return lines


# ------------------------------------------------------------------ after sam delete


def leftovers(clients: Mapping[str, Any], manifest: Manifest) -> list[Leftover]:
    """What still exists of what the manifest names, with what it costs and how to remove it."""
    region = manifest.region
    found: list[Leftover] = []
    try:
        status = describe_stack(clients["cloudformation"], manifest.stack).status
    except StackError:
        status = "DELETE_COMPLETE"
    if status != "DELETE_COMPLETE":
        found.append(
            Leftover(
                "stack", manifest.stack, None, f"sam delete --stack-name {manifest.stack} --region {region}"
            )
        )
    if manifest.state_table and _table_exists(clients["dynamodb"], manifest.state_table):
        table = manifest.state_table
        found.append(
            Leftover(
                "DynamoDB table",
                table,
                None,
                f"aws dynamodb update-table --table-name {table} --no-deletion-protection-enabled --region "
                f"{region}; aws dynamodb delete-table --table-name {table} --region {region}",
            )
        )
    for name in existing_secrets(clients["secretsmanager"], manifest.secrets):
        found.append(
            Leftover(
                "secret",
                name,
                SECRET_MONTHLY_USD,
                f"aws secretsmanager delete-secret --secret-id {name} --recovery-window-in-days 7 "
                f"--region {region}",
            )
        )
    for group in _existing_log_groups(clients["logs"], manifest.log_groups):
        found.append(
            Leftover(
                "log group",
                group,
                None,
                f"aws logs delete-log-group --log-group-name {group} --region {region}",
            )
        )
    return found


def _table_exists(dynamodb: Any, name: str) -> bool:
    try:
        dynamodb.describe_table(TableName=name)
    except ClientError:
        return False
    return True


def _existing_log_groups(logs: Any, names: list[str]) -> list[str]:
    found = []
    for name in names:
        pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
        if any(group["logGroupName"] == name for page in pages for group in page.get("logGroups", [])):
            found.append(name)
    return found


def stack_log_groups(cloudformation: Any, stack_name: str) -> list[str]:
    names = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page.get("StackResourceSummaries", []):
            if resource.get("ResourceType") == "AWS::Logs::LogGroup" and resource.get("PhysicalResourceId"):
                names.append(str(resource["PhysicalResourceId"]))
    return sorted(names)
