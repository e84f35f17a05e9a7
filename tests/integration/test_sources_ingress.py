"""Stateful presets through the real ingress handler, with their state in moto's DynamoDB.

The sources here are signed with Standard Webhooks so the test does not depend on the other schemes'
verifiers: the adapter, not the scheme, is under test (in production Sonoran uses `body-key` and the
ER:LC event webhook `ed25519`).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from relay.aws.dynamodb import DynamoSourceStateStore
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsPublisher
from relay.config.schema import RelayConfig
from relay.erlc.roster import ROSTER_SK, build_roster, dump_roster, parse_players
from relay.handlers.ingress import lambda_handler
from relay.ingress.pipeline import IngressDeps
from relay.messages import QueueMessage
from relay_devtools.local.apigw import api_gateway_v2_event
from relay_devtools.webhooks.signing import sign
from tests.support.aws import create_unit_state_table, drain
from tests.support.clocks import FixedClock
from tests.support.constants import CAD_SECRET, NOW
from tests.support.data import base_config_data, load_event

SIGNED = {"scheme": "standard-webhooks", "secret": "relay/sources/cad"}


@pytest.fixture
def config_data() -> dict[str, Any]:
    data = base_config_data()
    cad = data["sources"]["cad"]
    data["sources"]["sonoran"] = {**cad, "adapter": "sonoran", "signature": SIGNED}
    data["sources"]["erlc"] = {
        **cad,
        "adapter": "erlc-events",
        "signature": SIGNED,
        "options": {"server": "main"},
    }
    data["erlc"] = {
        "servers": {
            "main": {
                "server_key_secret": "relay/erlc/main",
                "mdt_id": cad["mdt_id"],
                "guild_id": cad["guild_id"],
            }
        }
    }
    return data


@pytest.fixture
def store(aws: dict[str, Any]) -> DynamoSourceStateStore:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_unit_state_table(dynamodb, "unit-state")
    return DynamoSourceStateStore("unit-state", dynamodb, clock=FixedClock())


def post(
    source: str, payload: Any, config: RelayConfig, aws: dict[str, Any], store: Any, lambda_context: Any
) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    delivery = sign(config.sources[source].signature, body, CAD_SECRET, now=NOW)
    event = api_gateway_v2_event(
        "POST", f"/hooks/{source}", "", list(delivery.headers.items()), delivery.body, "203.0.113.9"
    )
    deps = IngressDeps(
        config=config,
        secrets=PowertoolsSecrets(),
        publisher=SqsPublisher(aws["queue_url"], aws["sqs"]),
        source_state=store,
    )
    answer = lambda_handler(event, lambda_context, deps=deps, now=FixedClock())
    return answer["statusCode"], json.loads(answer["body"])


def queued(aws: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    messages = [QueueMessage.model_validate_json(m["Body"]) for m in drain(aws["sqs"], aws["queue_url"])]
    return [(c.id, dict(c.fields)) for m in messages for c in m.changes]


def test_sonoran_login_then_status_through_the_ingress(config, aws, store, lambda_context) -> None:
    # Given a Sonoran login, accepted and remembered in the state table
    status, body = post("sonoran", load_event("sonoran_unit_login.json"), config, aws, store, lambda_context)
    assert (status, body["data"]["changes"]) == (202, 1)
    assert store.get("cache#sonoran", "ident#17") == {"id": "A-10", "location": "Sandy Shores"}
    # When the unit's status changes (the event names only its identId)
    status, _ = post("sonoran", load_event("sonoran_unit_status.json"), config, aws, store, lambda_context)
    # Then both changes are queued for unit A-10
    assert status == 202
    assert queued(aws) == [
        ("A-10", {"officer_name": "B. Bubbleton", "department": "MCSO", "rank": "CPT", "status": "10-8"}),
        ("A-10", {"status": "10-76"}),
    ]


def test_sonoran_malformed_event_is_a_422_saying_where(config, aws, store, lambda_context) -> None:
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": 17}]}
    status, body = post("sonoran", payload, config, aws, store, lambda_context)
    assert (status, body) == (422, {"ok": False, "error": "data[0].status: missing"})
    assert queued(aws) == []


def test_erlc_command_through_the_ingress_uses_the_stored_roster(config, aws, store, lambda_context) -> None:
    # Given the roster the poller stored for server "main"
    roster = build_roster(parse_players(load_event("erlc_v2_server.json")), config.erlc.servers["main"])
    store.put("roster#main", ROSTER_SK, dump_roster(roster))
    # When the player types `;status 10-6`
    status, body = post("erlc", load_event("erlc_event_command.json"), config, aws, store, lambda_context)
    # Then the player's unit gets the status
    assert (status, body["data"]["changes"]) == (202, 1)
    assert queued(aws) == [("1A-12", {"status": "10-6"})]


def test_erlc_emergency_call_is_queued_as_the_servers_call(config, aws, store, lambda_context) -> None:
    status, body = post(
        "erlc", load_event("erlc_event_emergency_call.json"), config, aws, store, lambda_context
    )
    assert (status, body["data"]["changes"]) == (202, 0)
    # The call travels as the roster's voice (the poll names the same call), no unit change with it
    [message] = [QueueMessage.model_validate_json(m["Body"]) for m in drain(aws["sqs"], aws["queue_url"])]
    assert (message.source, [c.key for c in message.calls], message.changes) == (
        "erlc:main",
        ["42-1795867185"],
        [],
    )
    # And what it sent is kept, once queued, for the poll's first sight of the call
    assert "42-1795867185" in store.get("roster#main", "sent-calls")["calls"]
