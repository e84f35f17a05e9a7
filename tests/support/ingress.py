"""The ingress under test: the real handler on moto (the `Stack`), signed deliveries, and the faults
the ingress suites inject (a failing SQS, a replay store that is down)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relay.aws.dynamodb import DynamoReplayGuard
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsPublisher
from relay.config.schema import RelayConfig
from relay.errors import ReplayStoreUnavailableError
from relay.handlers.ingress import lambda_handler
from relay.ingress.pipeline import IngressDeps
from relay.messages import QueueMessage
from relay.ports.stores import ReplayGuard, SourceStateStore
from relay_devtools.local.apigw import api_gateway_v2_event
from relay_devtools.webhooks.signing import SignedDelivery, sign
from tests.support.aws import drain
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.data import SENDER_PRIVATE_HEX, UNITS_BODY, secret_of


@dataclass
class Stack:
    """The handler's dependencies on moto, and what a test needs to look at afterwards."""

    config: RelayConfig
    aws: dict[str, Any]
    lambda_context: Any
    clock: FixedClock = field(default_factory=FixedClock)
    replay: ReplayGuard | None = None
    publisher: Any = None
    source_state: SourceStateStore | None = None

    def deps(self) -> IngressDeps:
        return IngressDeps(
            config=self.config,
            secrets=PowertoolsSecrets(),
            publisher=self.publisher or SqsPublisher(self.aws["queue_url"], self.aws["sqs"]),
            replay=self.replay or DynamoReplayGuard(self.aws["replay_table"], self.aws["dynamodb"]),
            source_state=self.source_state,
        )

    def invoke(self, event: dict[str, Any], deps: IngressDeps | None = None) -> tuple[int, dict[str, Any]]:
        answer = lambda_handler(event, self.lambda_context, deps=deps or self.deps(), now=self.clock)
        return answer["statusCode"], json.loads(answer["body"])

    def queued(self) -> list[QueueMessage]:
        """The queued messages, received once and left in flight: for a stack that lives for one test
        (a module-scoped one uses taken(): these come back after the queue's 30 s visibility timeout,
        which a loaded machine reaches between two examples)."""
        return [
            QueueMessage.model_validate_json(m["Body"]) for m in drain(self.aws["sqs"], self.aws["queue_url"])
        ]

    def taken(self) -> list[QueueMessage]:
        """The queued messages, received and deleted: none comes back when its visibility timeout ends
        (queued()'s do, in a module-scoped stack that runs longer than that)."""
        sqs, url = self.aws["sqs"], self.aws["queue_url"]
        received = drain(sqs, url)
        for start in range(0, len(received), 10):
            batch = received[start : start + 10]
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        return [QueueMessage.model_validate_json(m["Body"]) for m in received]

    def replay_records(self) -> list[str]:
        items = self.aws["dynamodb"].scan(TableName=self.aws["replay_table"])["Items"]
        return sorted(item["pk"]["S"] for item in items)


def signed(
    config: RelayConfig,
    source: str,
    body: bytes = UNITS_BODY,
    *,
    secret: str | None = None,
    at: datetime = NOW,
    delivery_id: str | None = "delivery-1",
    private_key: str = SENDER_PRIVATE_HEX,
) -> SignedDelivery:
    """A delivery signed the way the source's sender signs it."""
    return sign(
        config.sources[source].signature,
        body,
        secret if secret is not None else secret_of(source),
        now=at,
        private_key=private_key,
        delivery_id=delivery_id,
    )


def event(
    source: str,
    delivery: SignedDelivery,
    *,
    headers: dict[str, str | None] | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    """The HTTP API event for a delivery, with headers overridden (None removes one) or the body replaced."""
    merged: dict[str, str | None] = {**delivery.headers, **(headers or {})}
    path = f"/hooks/{source}" + (f"/{delivery.path_token}" if delivery.path_token else "")
    pairs = [(name, value) for name, value in merged.items() if value is not None]
    return api_gateway_v2_event(
        "POST", path, "", pairs, delivery.body if body is None else body, "203.0.113.9"
    )


class FailingThenWorkingSqs:
    """SendMessageBatch fails every entry for the first `failures` calls, then hands over to moto."""

    def __init__(self, sqs: Any, failures: int) -> None:
        self.sqs, self.failures = sqs, failures

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            return {
                "Successful": [],
                "Failed": [
                    {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in kwargs["Entries"]
                ],
            }
        return self.sqs.send_message_batch(**kwargs)


class DownReplayStore:
    """A replay store that is unreachable."""

    def seen(self, key: str, now: datetime) -> bool:
        raise ReplayStoreUnavailableError("GetItem: EndpointConnectionError")

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        raise ReplayStoreUnavailableError("PutItem: EndpointConnectionError")
