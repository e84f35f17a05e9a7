"""Every signature scheme through the real ingress handler, with moto's SQS, Secrets Manager and DynamoDB.

The sources here all use the `units` adapter: the scheme, not the adapter, is under test
(tests/support/data.py: scheme_config_data).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay_devtools.local.apigw import api_gateway_v2_event
from tests.support.data import SCHEME_SOURCES, UNITS, UNITS_BODY, scheme_config_data, secret_of
from tests.support.ingress import Stack, event, signed


@pytest.fixture
def config_data() -> dict[str, Any]:
    return scheme_config_data()


@pytest.mark.parametrize("source", SCHEME_SOURCES)
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
    assert secret_of("sonoran") not in message.body()


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
    request = event("erlc", signed(stack.config, "erlc", delivery_id=None))
    status, answer = stack.invoke(request)
    assert status == 202
    # no id from the sender: API Gateway's request id names the delivery in the answer and the trail
    assert answer["data"]["webhook_id"] == f"request:{request['requestContext']['requestId']}"
    assert [m.webhook_id for m in stack.queued()] == [answer["data"]["webhook_id"]]


def test_ingress_an_id_less_delivery_with_an_odd_request_id_is_queued_without_a_name(stack: Stack) -> None:
    request = event("erlc", signed(stack.config, "erlc", delivery_id=None))
    request["requestContext"]["requestId"] = "x" * 5000
    status, answer = stack.invoke(request)
    assert (status, answer["data"]["webhook_id"]) == (202, None)
    assert [m.webhook_id for m in stack.queued()] == [None]


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
