"""An acknowledged panic no unit can be found for (a Sonoran identId no login made known) is never only a
log line: the ingress puts it in the DLQ with its reason, or answers 503 so the sender retries; redriven,
the consumer acknowledges it and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from relay.config.schema import RelayConfig
from relay.errors import QueueUnavailableError
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.memory import InMemorySourceStateStore, StaticSecrets
from relay.messages import QueueMessage
from relay.models import Panic
from relay_devtools.webhooks.signing import sign
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.consumer import Harness, RecordingDeadLetters, record
from tests.support.data import SECRETS, load_event, scheme_config_data, secret_of
from tests.support.logs import captured_logs, log_records

KEY = secret_of("sonoran")


class Queue:
    def __init__(self) -> None:
        self.sent: list[QueueMessage] = []

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        self.sent += messages
        return len(messages)


def ingress(dlq: RecordingDeadLetters | None) -> tuple[IngressDeps, InMemorySourceStateStore]:
    state = InMemorySourceStateStore(FixedClock(NOW))
    data = scheme_config_data()
    data["sources"]["sonoran"]["adapter"] = "sonoran"
    deps = IngressDeps(
        config=RelayConfig.model_validate(data),
        secrets=StaticSecrets(SECRETS),
        publisher=Queue(),
        source_state=state,
        dead_letters=dlq,
    )
    return deps, state


def request(deps: IngressDeps, payload: dict[str, Any]) -> InboundRequest:
    body = json.dumps({"key": KEY, **payload}).encode()
    signed = sign(deps.config.sources["sonoran"].signature, body, KEY, now=NOW)
    return InboundRequest("sonoran", signed.headers, signed.body, NOW, token=signed.path_token)


def panic_of(*idents: int) -> dict[str, Any]:
    return {"type": "EVENT_UNIT_PANIC", "data": [{"identIds": list(idents), "isPanic": True}]}


def test_undelivered_a_panic_of_an_unknown_identid_is_in_the_dlq_with_who_when_why_and_the_fix() -> None:
    # Given a Sonoran source whose identId cache knows nobody, and a DLQ
    dlq = RecordingDeadLetters()
    deps, _ = ingress(dlq)
    # When a panic of identId 5 is accepted
    with captured_logs() as text:
        accepted = accept_webhook(request(deps, panic_of(5)), deps)
    # Then it is acknowledged, nothing is queued, and the DLQ holds it with a reason an admin can act on
    assert accepted.panics == 0 and deps.publisher.sent == []  # type: ignore[attr-defined]
    [letter] = dlq.letters
    assert letter.reason.startswith("panic of Sonoran identId 5 (source sonoran) pressed 2026-")
    assert "the unit must log in (or be updated) in Sonoran again" in letter.reason
    body = QueueMessage.model_validate_json(letter.body)
    assert [item.who for item in body.undelivered] == ["Sonoran identId 5"]
    assert body.undelivered[0].at == NOW and not body.panics and not body.changes
    # And the at-once alarm's line is still logged
    assert any(r["message"] == "EMERGENCY NOT DELIVERED" for r in log_records(text))


def test_undelivered_only_the_unknown_identids_of_an_event_are_dead_lettered_each_once() -> None:
    # Given a unit that logged in (identId 17) and one nobody knows (identId 9), named twice
    dlq = RecordingDeadLetters()
    deps, _ = ingress(dlq)
    accept_webhook(request(deps, load_event("sonoran_unit_login.json")), deps)
    deps.publisher.sent.clear()  # type: ignore[attr-defined]
    # When one panic names them both (and 9 again), and a cleared panic names 8
    payload = panic_of(17, 9, 9)
    payload["data"].append({"identIds": [8], "isPanic": False})
    accept_webhook(request(deps, payload), deps)
    # Then the known unit's panic is queued and only identId 9 is dead-lettered, once
    [message] = deps.publisher.sent  # type: ignore[attr-defined]
    assert [p.unit for p in message.panics] == ["A-10"]
    assert [QueueMessage.model_validate_json(x.body).undelivered[0].who for x in dlq.letters] == [
        "Sonoran identId 9"
    ]


def test_undelivered_a_dlq_that_refuses_is_a_503_and_the_senders_retry_dead_letters_it() -> None:
    # Given a DLQ that refuses everything
    dlq = RecordingDeadLetters()
    deps, _ = ingress(dlq)
    dlq.refuse = {"undelivered:2026-11-28T12:00:00.000Z:0"}
    # When the panic of an unknown identId arrives
    # Then the ingress answers 503 (QueueUnavailableError), so the sender retries
    with pytest.raises(QueueUnavailableError):
        accept_webhook(request(deps, panic_of(5)), deps)
    assert dlq.letters == []
    # And once the DLQ takes it again, the retry is acknowledged and dead-lettered
    dlq.refuse = set()
    accept_webhook(request(deps, panic_of(5)), deps)
    assert len(dlq.letters) == 1


def test_undelivered_without_a_dlq_port_it_is_still_acknowledged_and_logged() -> None:
    # Given an ingress with no DLQ (relay replay runs the pipeline so)
    deps, _ = ingress(None)
    # When the panic of an unknown identId is accepted, then it is answered and only logged
    with captured_logs() as text:
        accept_webhook(request(deps, panic_of(5)), deps)
    messages = [r["message"] for r in log_records(text)]
    assert "EMERGENCY NOT DELIVERED" in messages
    assert "no DLQ here: undelivered emergencies only logged" in messages


def test_undelivered_redriven_to_the_consumer_is_acknowledged_and_writes_nothing() -> None:
    # Given the dead letter of an unknown identId's panic
    dlq = RecordingDeadLetters()
    deps, _ = ingress(dlq)
    accept_webhook(request(deps, panic_of(5)), deps)
    [letter] = dlq.letters
    # When `relay redrive` sends its body back and the consumer reads it
    consumer = Harness()
    consumer.dead_letters = RecordingDeadLetters()
    with captured_logs() as text:
        failed = consumer.run(record("m-1", letter.body))
    # Then it is acknowledged: not failed, not dead-lettered again, and nothing reached the partner
    assert failed == set() and consumer.dead_letters.letters == []
    assert consumer.partner.requests == [] and consumer.partner.lists == []
    assert "undelivered emergency redriven: acknowledged, nothing written" in [
        r["message"] for r in log_records(text)
    ]


def test_undelivered_a_message_carrying_nothing_at_all_is_still_refused() -> None:
    # The new list must not make an empty message valid
    with pytest.raises(ValueError, match="at least one unit change"):
        QueueMessage(source="s", mdt_id="m", guild_id="g", received_at=NOW)
    assert Panic(unit="A-10", at=NOW).unit == "A-10"
