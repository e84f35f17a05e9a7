"""Replay protection through the real handler, with moto's DynamoDB replay table and an injected clock.

A delivery is queued once however often it arrives within the window; after the window it is new
again; a failed enqueue leaves no record, so the sender's retry goes through; a replay-store outage
lets deliveries through (fail open) rather than refusing them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from relay.errors import ReplayStoreUnavailableError
from relay.memory import InMemoryReplayGuard
from tests.support.constants import NOW
from tests.support.data import UNITS_BODY, load_event, scheme_config_data, secret_of
from tests.support.ingress import FailingThenWorkingSqs, Stack, event, signed

TTL = 900


@pytest.fixture
def config_data() -> dict[str, Any]:
    data = scheme_config_data()
    cad = data["sources"]["cad"]
    # Senders that put their delivery id in the body: a form posted with a URL token or a body key,
    # and Tally (signed, but with no id header)
    forms = {**cad, "adapter": "google-forms", "delivery_id_path": "response_id"}
    data["sources"]["forms-token"] = {**forms, "signature": data["sources"]["snaily"]["signature"]}
    data["sources"]["forms-key"] = {**forms, "signature": data["sources"]["sonoran"]["signature"]}
    data["sources"]["tally-forms"] = {
        **cad,
        "adapter": "tally",
        "delivery_id_path": "eventId",
        "signature": data["sources"]["tally"]["signature"],
    }
    # relay.toml's own-bot example: a signed timestamp, and a delivery id header the signature does not cover
    data["sources"]["own-bot"] = {
        **cad,
        "signature": {**data["sources"]["script"]["signature"], "delivery_id_header": "X-Delivery-Id"},
    }
    return data


def form_body(**extra: Any) -> bytes:
    return json.dumps({**extra, **load_event("google_forms_submission.json")}).encode()


def test_ingress_replay_the_same_delivery_twice_is_queued_once(stack: Stack) -> None:
    # Given a genuine delivery, accepted and queued
    delivery = signed(stack.config, "cad", delivery_id="msg_replayed")
    assert stack.invoke(event("cad", delivery))[0] == 202
    # When exactly the same request arrives again a minute later
    stack.clock.advance(60)
    status, answer = stack.invoke(event("cad", delivery))
    # Then it is answered 2xx as a replay, and only one message is in the queue
    assert (status, answer) == (
        200,
        {"ok": True, "data": {"source": "cad", "webhook_id": "msg_replayed", "changes": 0, "replayed": True}},
    )
    assert len(stack.queued()) == 1
    # And the record lives for the configured window
    item = stack.aws["dynamodb"].get_item(TableName="relay-replay", Key={"pk": {"S": "cad#msg_replayed"}})[
        "Item"
    ]
    assert int(item["expires_at"]["N"]) == int(NOW.timestamp()) + TTL


def test_ingress_replay_a_sender_retry_with_a_fresh_timestamp_is_recognised_by_its_id(stack: Stack) -> None:
    # Standard Webhooks senders re-sign retries with a new timestamp and the same webhook-id
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_retry")))[0] == 202
    stack.clock.advance(240)
    retry = signed(stack.config, "cad", delivery_id="msg_retry", at=stack.clock.now)
    assert stack.invoke(event("cad", retry))[0] == 200
    assert len(stack.queued()) == 1


def test_ingress_replay_window_boundary_with_an_injected_clock(stack: Stack) -> None:
    # Given a GitHub delivery (no signed timestamp: only the delivery id protects it)
    delivery = signed(stack.config, "github", delivery_id="gh-1")
    assert stack.invoke(event("github", delivery))[0] == 202
    # One second before the window closes it is a replay; when it closes, it is accepted again
    stack.clock.advance(TTL - 1)
    assert stack.invoke(event("github", delivery))[0] == 200
    stack.clock.advance(1)
    assert stack.invoke(event("github", delivery))[0] == 202
    assert len(stack.queued()) == 2


def test_ingress_replay_a_redelivery_after_the_window_with_the_same_id_is_new(stack: Stack) -> None:
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_late")))[0] == 202
    stack.clock.advance(TTL)
    later = signed(stack.config, "cad", delivery_id="msg_late", at=stack.clock.now)
    assert stack.invoke(event("cad", later))[0] == 202
    assert len(stack.queued()) == 2


def test_ingress_replay_ids_are_per_source(stack: Stack) -> None:
    # The same id from two sources is two deliveries: one source cannot suppress another's
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="same-id")))[0] == 202
    assert stack.invoke(event("cad2", signed(stack.config, "cad2", delivery_id="same-id")))[0] == 202
    assert stack.replay_records() == ["cad#same-id", "cad2#same-id"]


def test_ingress_replay_an_exact_ed25519_replay_is_caught_by_its_signed_digest(stack: Stack) -> None:
    # ER:LC sends no id: the digest of timestamp + body identifies an exact replay
    delivery = signed(stack.config, "erlc", delivery_id=None)
    assert stack.invoke(event("erlc", delivery))[0] == 202
    assert stack.invoke(event("erlc", delivery))[0] == 200
    # The same body signed a second later is a new event
    stack.clock.advance(1)
    assert (
        stack.invoke(event("erlc", signed(stack.config, "erlc", delivery_id=None, at=stack.clock.now)))[0]
        == 202
    )
    assert len(stack.queued()) == 2


def test_ingress_replay_an_id_in_the_body_protects_unsigned_senders(stack: Stack) -> None:
    # Given a form response posted to a url-token source whose delivery id is `response_id`
    by_token = signed(stack.config, "forms-token", form_body(), secret=secret_of("snaily"))
    assert stack.invoke(event("forms-token", by_token))[0] == 202
    assert stack.invoke(event("forms-token", by_token))[0] == 200
    # And to a body-key source: the id is read after the key was checked and removed
    by_key = signed(
        stack.config, "forms-key", form_body(key=secret_of("sonoran")), secret=secret_of("sonoran")
    )
    assert stack.invoke(event("forms-key", by_key))[0] == 202
    assert stack.invoke(event("forms-key", by_key))[0] == 200
    assert len(stack.queued()) == 2
    assert stack.replay_records() == [
        "forms-key#2_ABaOnud8Zq1cWm3vT5yR7uI9oP",
        "forms-token#2_ABaOnud8Zq1cWm3vT5yR7uI9oP",
    ]


def test_ingress_replay_a_failed_enqueue_leaves_no_record_so_the_retry_is_accepted(stack: Stack) -> None:
    from relay.aws.sqs import SqsPublisher

    # Given SQS failing the delivery's every attempt (3), then recovering
    sqs = FailingThenWorkingSqs(stack.aws["sqs"], failures=3)
    stack.publisher = SqsPublisher(stack.aws["queue_url"], sqs, sleep=lambda _: None)  # type: ignore[arg-type]
    delivery = signed(stack.config, "cad", delivery_id="msg_503")
    # When it arrives: 503, nothing queued and nothing remembered
    assert stack.invoke(event("cad", delivery))[0] == 503
    assert stack.replay_records() == []
    # Then the sender's retry of the same delivery is accepted and queued once
    stack.clock.advance(30)
    assert stack.invoke(event("cad", delivery))[0] == 202
    assert len(stack.queued()) == 1
    assert stack.replay_records() == ["cad#msg_503"]


class DownReplayStore:
    def seen(self, key: str, now: datetime) -> bool:
        raise ReplayStoreUnavailableError("GetItem: EndpointConnectionError")

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        raise ReplayStoreUnavailableError("PutItem: EndpointConnectionError")


def test_ingress_replay_store_outage_fails_open(stack: Stack) -> None:
    # Given the replay store down
    stack.replay = DownReplayStore()
    delivery = signed(stack.config, "cad", delivery_id="msg_outage")
    # Then genuine deliveries are still accepted and queued (a replay may be queued twice: idempotent merge)
    assert stack.invoke(event("cad", delivery))[0] == 202
    assert stack.invoke(event("cad", delivery))[0] == 202
    assert len(stack.queued()) == 2


class RecordFailsAfterEnqueue(InMemoryReplayGuard):
    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        raise ReplayStoreUnavailableError("PutItem: ProvisionedThroughputExceededException")


def test_ingress_replay_a_record_that_cannot_be_written_after_the_enqueue_is_still_a_202(
    stack: Stack,
) -> None:
    # The messages are in SQS: answering 5xx now would only make the sender send a duplicate
    stack.replay = RecordFailsAfterEnqueue()
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_2")))[0] == 202
    assert len(stack.queued()) == 1


class ConcurrentCopyWon(InMemoryReplayGuard):
    """A copy of the delivery was recorded between this request's check and its own record."""

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        super().remember(key, now, ttl_seconds)
        return False


def test_ingress_replay_losing_the_record_race_is_still_accepted(stack: Stack) -> None:
    stack.replay = ConcurrentCopyWon()
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_race")))[0] == 202
    assert len(stack.queued()) == 1


def test_ingress_replay_a_delivery_without_changes_is_remembered_too(stack: Stack) -> None:
    # Given a Tally event the adapter ignores (no change), identified by its eventId
    body = json.dumps({"eventId": "evt-ping-1", "eventType": "FORM_CREATED", "data": {}}).encode()
    delivery = signed(stack.config, "tally-forms", body, secret=secret_of("tally"))
    assert stack.invoke(event("tally-forms", delivery)) == (
        202,
        {"ok": True, "data": {"source": "tally-forms", "webhook_id": "evt-ping-1", "changes": 0}},
    )
    # Then its replay is recognised too, so an adapter with side effects never runs twice for it
    assert stack.invoke(event("tally-forms", delivery))[0] == 200
    assert stack.queued() == []


def test_ingress_replay_a_refused_payload_is_not_remembered(stack: Stack) -> None:
    # A 422 is not an accepted delivery: once the sender fixes the body, the same id is accepted
    bad = signed(stack.config, "cad", b'{"units": [{"status": "10-8"}]}', delivery_id="msg_fixed")
    assert stack.invoke(event("cad", bad))[0] == 422
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_fixed")))[0] == 202


def test_ingress_replay_unsigned_garbage_never_touches_the_store(stack: Stack) -> None:
    # A forged request is refused before the replay store is asked anything
    stack.replay = DownReplayStore()
    forged = event("cad", signed(stack.config, "cad"), body=UNITS_BODY + b" ")
    assert stack.invoke(forged)[0] == 401


@pytest.mark.parametrize("fresh_id", ["delivery-2", None], ids=["new-id", "id-removed"])
def test_ingress_replay_a_captured_request_with_a_fresh_unsigned_id_is_still_a_replay(
    stack: Stack, fresh_id: str | None
) -> None:
    # Given an own-bot delivery (signed timestamp + body, unsigned X-Delivery-Id), queued
    delivery = signed(stack.config, "own-bot", secret=secret_of("script"), delivery_id="delivery-1")
    assert stack.invoke(event("own-bot", delivery))[0] == 202
    # When someone resends the captured request within the tolerance, with a new X-Delivery-Id or none
    stack.clock.advance(60)
    status, answer = stack.invoke(event("own-bot", delivery, headers={"x-delivery-id": fresh_id}))
    # Then it is recognised by what was signed, and not queued again
    assert (status, answer["data"]["replayed"]) == (200, True)
    assert len(stack.queued()) == 1


def test_ingress_replay_the_unsigned_id_still_names_the_delivery(stack: Stack) -> None:
    delivery = signed(stack.config, "own-bot", secret=secret_of("script"), delivery_id="delivery-7")
    status, answer = stack.invoke(event("own-bot", delivery))
    assert (status, answer["data"]["webhook_id"]) == (202, "delivery-7")
    assert [m.webhook_id for m in stack.queued()] == ["delivery-7"]


def test_ingress_replay_without_a_signed_timestamp_an_unsigned_id_recognises_only_the_senders_own_retry(
    stack: Stack,
) -> None:
    # Given a GitHub delivery (body signed, no timestamp, X-GitHub-Delivery unsigned), queued
    delivery = signed(stack.config, "github", delivery_id="gh-7")
    assert stack.invoke(event("github", delivery))[0] == 202
    # When GitHub redelivers it (same id, same body) / Then it is a replay
    assert stack.invoke(event("github", delivery))[0] == 200
    # But the same signed body with another id cannot be told from a new delivery: nothing signed says
    # it is not one (docs/security.md says what this does and does not protect)
    assert stack.invoke(event("github", delivery, headers={"x-github-delivery": "gh-8"}))[0] == 202
    assert len(stack.queued()) == 2
