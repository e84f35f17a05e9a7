"""Every signature scheme through the real ingress handler, with moto's SQS, Secrets Manager and DynamoDB.

The sources here all use the `units` adapter: the scheme, not the adapter, is under test. The
helpers (config, secrets, `post`) are shared by the other test_ingress_* modules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto import mock_aws

from relay.config import RelayConfig, parse_config
from relay.handlers.ingress import lambda_handler
from relay.ingress import IngressDeps
from relay.models import QueueMessage
from relay.queue import SqsPublisher
from relay.replay import DynamoReplayGuard, ReplayGuard
from relay.secrets import PowertoolsSecrets
from relay_devtools.apigw import api_gateway_v2_event
from relay_devtools.signing import SignedDelivery, sign
from tests.conftest import CAD_SECRET, NOW, FixedClock, base_config_data
from tests.integration.conftest import drain

ERLC_PUBLIC_KEY = "MCowBQYDK2VwAyEAjSICb9pp0kHizGQtdG8ySWsDChfGqi+gyFCttigBNOA="
SENDER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
SENDER_PRIVATE_HEX = bytes(range(7, 39)).hex()
SENDER_PUBLIC_SPKI = base64.b64encode(
    SENDER_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
OTHER_KEY_HEX = bytes(range(100, 132)).hex()

SECRETS: dict[str, str | list[str]] = {
    "relay/sources/cad2": "whsec_" + base64.b64encode(b"the second CAD's own 32-byte key").decode(),
    "relay/sources/github": "It's a Secret to Everybody",
    "relay/sources/typeform": "typeform-secret-0b1c",
    "relay/sources/tally": "tally-secret-77aa",
    "relay/sources/script": "apps-script-secret-19fe",
    # PRC's real key and the test sender's key: the published key must load beside it
    "relay/sources/erlc": [ERLC_PUBLIC_KEY, SENDER_PUBLIC_SPKI],
    "relay/sources/sonoran": "sonoran-community-api-key-5d2e",
    "relay/sources/snaily": "snaily-url-token-Q2x9vB7mK4",
}
SIGNATURES: dict[str, dict[str, Any]] = {
    "cad2": {"scheme": "standard-webhooks", "secret": "relay/sources/cad2"},
    "github": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/github",
        "header": "X-Hub-Signature-256",
        "prefix": "sha256=",
        "encoding": "hex",
        "delivery_id_header": "X-GitHub-Delivery",
    },
    "typeform": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/typeform",
        "header": "Typeform-Signature",
        "prefix": "sha256=",
        "encoding": "base64",
    },
    "tally": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/tally",
        "header": "Tally-Signature",
        "encoding": "base64",
    },
    "script": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/script",
        "header": "X-Relay-Signature",
        "encoding": "base64",
        "timestamp_header": "X-Relay-Timestamp",
    },
    "erlc": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
    "sonoran": {"scheme": "body-key", "secret": "relay/sources/sonoran"},
    "snaily": {"scheme": "url-token", "secret": "relay/sources/snaily"},
}
UNITS = {"units": [{"id": "ADAM-12", "officer_name": "B. Bubbleton", "status": "10-8"}]}
UNITS_BODY = json.dumps(UNITS).encode()


def scheme_config_data() -> dict[str, Any]:
    data = base_config_data()
    cad = data["sources"]["cad"]
    for name, signature in SIGNATURES.items():
        data["sources"][name] = {**cad, "signature": signature}
    return data


@pytest.fixture
def config() -> RelayConfig:
    return parse_config(scheme_config_data())


def secret_of(source: str) -> str:
    if source == "cad":
        return CAD_SECRET
    value = SECRETS[f"relay/sources/{source}"]
    return value[-1] if isinstance(value, list) else value


def create_relay_resources(aws: dict[str, Any]) -> dict[str, Any]:
    """Every source's secret and a replay table shaped like template.yaml's ReplayTable, beside `aws`."""
    for name, value in SECRETS.items():
        aws["secretsmanager"].create_secret(
            Name=name, SecretString=value if isinstance(value, str) else json.dumps(value)
        )
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="relay-replay",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {**aws, "dynamodb": dynamodb, "replay_table": "relay-replay"}


@pytest.fixture
def replay_table(aws: dict[str, Any]) -> dict[str, Any]:
    return create_relay_resources(aws)


@contextmanager
def relay_aws() -> Iterator[dict[str, Any]]:
    """The same resources in a moto context of their own, for module-scoped fixtures."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="relay-queue")["QueueUrl"]
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="relay/sources/cad", SecretString=CAD_SECRET)
        yield create_relay_resources({"sqs": sqs, "queue_url": queue_url, "secretsmanager": secrets})


@dataclass
class Stack:
    """The handler's dependencies on moto, and what a test needs to look at afterwards."""

    config: RelayConfig
    aws: dict[str, Any]
    lambda_context: Any
    clock: FixedClock = field(default_factory=FixedClock)
    replay: ReplayGuard | None = None
    publisher: Any = None

    def deps(self) -> IngressDeps:
        return IngressDeps(
            config=self.config,
            secrets=PowertoolsSecrets(),
            publisher=self.publisher or SqsPublisher(self.aws["queue_url"], self.aws["sqs"]),
            replay=self.replay or DynamoReplayGuard(self.aws["replay_table"], self.aws["dynamodb"]),
        )

    def invoke(self, event: dict[str, Any], deps: IngressDeps | None = None) -> tuple[int, dict[str, Any]]:
        answer = lambda_handler(event, self.lambda_context, deps=deps or self.deps(), now=self.clock)
        return answer["statusCode"], json.loads(answer["body"])

    def queued(self) -> list[QueueMessage]:
        return [
            QueueMessage.model_validate_json(m["Body"]) for m in drain(self.aws["sqs"], self.aws["queue_url"])
        ]

    def replay_records(self) -> list[str]:
        items = self.aws["dynamodb"].scan(TableName=self.aws["replay_table"])["Items"]
        return sorted(item["pk"]["S"] for item in items)


@pytest.fixture
def stack(config: RelayConfig, replay_table: dict[str, Any], lambda_context: Any) -> Stack:
    return Stack(config, replay_table, lambda_context)


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


ACCEPTED = ["cad", "cad2", "github", "typeform", "tally", "script", "erlc", "sonoran", "snaily"]


@pytest.mark.parametrize("source", ACCEPTED)
def test_ingress_each_scheme_accepts_a_genuine_delivery(stack: Stack, source: str) -> None:
    # Given a delivery signed the way the source's sender signs
    body = json.dumps({"key": secret_of(source), **UNITS}).encode() if source == "sonoran" else UNITS_BODY
    delivery = signed(stack.config, source, body)
    # When the real handler gets it
    status, answer = stack.invoke(event(source, delivery))
    # Then it is queued with the change
    assert (status, answer["ok"], answer["data"]["changes"]) == (202, True, 1)
    [message] = stack.queued()
    assert (message.source, [c.id for c in message.changes]) == (source, ["ADAM-12"])


def test_ingress_body_key_is_removed_before_the_adapter(stack: Stack) -> None:
    # Given a Sonoran-style body carrying the key next to the units; the units adapter forbids extra fields
    body = json.dumps({"key": secret_of("sonoran"), **UNITS}).encode()
    status, _ = stack.invoke(event("sonoran", signed(stack.config, "sonoran", body)))
    # Then it is accepted: the adapter never saw `key`, and the queue holds no trace of it
    assert status == 202
    [message] = stack.queued()
    assert secret_of("sonoran") not in message.to_json()


def test_ingress_header_names_in_any_case_are_accepted(stack: Stack) -> None:
    delivery = signed(stack.config, "cad")
    shouted = {name.upper(): value for name, value in delivery.headers.items()}
    mixed = api_gateway_v2_event(
        "POST", "/hooks/cad", "", list(shouted.items()), delivery.body, "203.0.113.9"
    )
    # API Gateway lower-cases names; a hand-made event may not, and the handler does it too
    mixed["headers"] = shouted
    assert stack.invoke(mixed)[0] == 202


def test_ingress_the_published_erlc_key_is_tried_and_the_sender_key_matches(stack: Stack) -> None:
    # The secret holds [PRC's published key, the test sender's]: the real key loads, then the second matches
    status, answer = stack.invoke(event("erlc", signed(stack.config, "erlc", delivery_id=None)))
    assert status == 202
    assert answer["data"]["webhook_id"] is None


def test_ingress_github_delivery_id_becomes_the_webhook_id(stack: Stack) -> None:
    delivery = signed(stack.config, "github", delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    status, answer = stack.invoke(event("github", delivery))
    assert (status, answer["data"]["webhook_id"]) == (202, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert stack.queued()[0].webhook_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_ingress_a_token_path_on_a_signed_source_still_needs_the_signature(stack: Stack) -> None:
    # A url-token path segment is not a credential for a source that signs
    delivery = signed(stack.config, "cad")
    forged = api_gateway_v2_event(
        "POST",
        "/hooks/cad/anything",
        "",
        [("content-type", "application/json")],
        delivery.body,
        "203.0.113.9",
    )
    assert stack.invoke(forged) == (401, {"ok": False, "error": "Unauthorized"})
    assert stack.queued() == []
