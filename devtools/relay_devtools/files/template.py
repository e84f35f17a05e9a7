"""Reads the settings the local stack must share with template.yaml, so both stay one truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


def _any_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)

DEFAULT_TEMPLATE = "template.yaml"
# The checkout's template: what `--template`'s default means when the command runs in another folder
# (`relay doctor --config /abs/community.toml` from the community's own folder).
CHECKOUT_TEMPLATE = Path(__file__).resolve().parents[3] / DEFAULT_TEMPLATE


def template_path(given: str | Path = DEFAULT_TEMPLATE) -> Path:
    """The template a `--template` flag names; its default, when this folder has none, the checkout's."""
    path = Path(given)
    if str(given) == DEFAULT_TEMPLATE and not path.exists() and CHECKOUT_TEMPLATE.is_file():
        return CHECKOUT_TEMPLATE
    return path


def load_template(path: str | Path) -> dict[str, Any]:
    if Path(path).exists() and not Path(path).is_file():
        raise ValueError(f"{path}: not a regular file (a pipe or a device is never a template)")
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a CloudFormation template")
    return data


def create_table(client: Any, template: dict[str, Any], logical_id: str, name: str) -> None:
    """A DynamoDB table with the keys template.yaml declares for `logical_id`, on demand as deployed."""
    props = template["Resources"][logical_id]["Properties"]
    client.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )


def create_queue_with_dlq(
    sqs: Any, prefix: str, *, visibility_timeout: int, max_receive_count: int
) -> tuple[str, str]:
    """`PREFIX-queue` and its DLQ `PREFIX-dlq`, joined by a redrive policy. Returns both URLs."""
    dlq_url = str(sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"])
    queue_url = create_queue_into(
        sqs,
        f"{prefix}-queue",
        dlq_url,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )
    return queue_url, dlq_url


def create_queue_into(
    sqs: Any, name: str, dlq_url: str, *, visibility_timeout: int, max_receive_count: int
) -> str:
    """A queue whose dead letters go to `dlq_url` (the emergency queue shares the webhooks' DLQ)."""
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return str(
        sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
                ),
            },
        )["QueueUrl"]
    )


@dataclass(frozen=True)
class QueueSettings:
    batch_size: int
    window_seconds: int
    max_receive_count: int
    visibility_timeout: int
    consumer_timeout: int
    roster_poll_seconds: int
    # The calls' and panics' event source mapping (template.yaml: ConsumerFunction.Events.Emergencies).
    emergency_batch_size: int = 10
    emergency_window_seconds: int = 0


def _parameter_default(template: dict[str, Any], name: str) -> Any:
    return template["Parameters"][name]["Default"]


def _resolve(template: dict[str, Any], value: Any) -> Any:
    """A literal, a `!Ref` to a parameter (its default) or a `!FindInMap` with literal keys."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return _parameter_default(template, value["Ref"])
    if isinstance(value, dict) and set(value) == {"FindInMap"}:
        mapping, top, second = value["FindInMap"]
        return template["Mappings"][mapping][top][second]
    return value


def _rate_seconds(expression: str) -> int:
    """`rate(1 minute)` / `rate(5 minutes)` / `rate(30 seconds)` in seconds."""
    inner = expression.strip().removeprefix("rate(").removesuffix(")").split()
    amount, unit = int(inner[0]), inner[1].rstrip("s")
    return amount * {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit]


def queue_settings(path: str | Path = "template.yaml") -> QueueSettings:
    template = load_template(path)
    resources = template["Resources"]
    consumer = resources["ConsumerFunction"]["Properties"]
    event = consumer["Events"]["Queue"]["Properties"]
    urgent = consumer["Events"]["Emergencies"]["Properties"]
    queue = resources["WebhookQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    timeout = _resolve(template, consumer.get("Timeout", template["Globals"]["Function"].get("Timeout", 3)))
    return QueueSettings(
        batch_size=int(_resolve(template, event["BatchSize"])),
        window_seconds=int(_resolve(template, event["MaximumBatchingWindowInSeconds"])),
        max_receive_count=int(_resolve(template, redrive["maxReceiveCount"])),
        visibility_timeout=int(_resolve(template, queue["VisibilityTimeout"])),
        consumer_timeout=int(timeout),
        roster_poll_seconds=_rate_seconds(str(_parameter_default(template, "RosterPollSchedule"))),
        emergency_batch_size=int(_resolve(template, urgent["BatchSize"])),
        emergency_window_seconds=int(_resolve(template, urgent["MaximumBatchingWindowInSeconds"])),
    )
