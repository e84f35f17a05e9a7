"""Enqueueing: message splitting, SQS batches, and SendMessageBatch's partial failures (a fake SQS client)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.aws.sqs import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES, SqsPublisher, batches
from relay.errors import QueueUnavailableError
from relay.messages import MAX_MESSAGE_BYTES, QueueMessage, split_messages
from relay.models import MAX_FIELD_LENGTH, UnitChange
from tests.support.constants import GUILD, MDT, NOW


def message(changes: list[UnitChange]) -> QueueMessage:
    return QueueMessage(
        source="cad", mdt_id=MDT, guild_id=GUILD, webhook_id="msg_1", received_at=NOW, changes=changes
    )


def unit(i: int, status: str = "10-8", name: str = "B. Bubbleton") -> UnitChange:
    return UnitChange(
        id=f"UNIT-{i}", at=NOW + timedelta(milliseconds=i), fields={"status": status, "officer_name": name}
    )


def test_queue_body_is_ascii_json_that_round_trips() -> None:
    # Given values SQS would refuse raw (U+FFFF) and non-ASCII text
    original = message([unit(1, status="\uffff", name="Zoë 🚓")])
    # When serialised for the queue
    body = original.body()
    # Then it is pure ASCII, and the consumer reads back the same message
    assert body.isascii()
    assert QueueMessage.model_validate_json(body) == original


def test_split_messages_leaves_a_small_message_whole() -> None:
    original = message([unit(i) for i in range(10)])
    assert split_messages(original) == [original]


def test_split_messages_with_many_units_keeps_every_change_in_order_under_the_limit() -> None:
    # Given 5,000 units with long fields: far more than one message holds
    changes = [unit(i, status="S" * MAX_FIELD_LENGTH, name="é" * MAX_FIELD_LENGTH) for i in range(5000)]
    # When split
    pieces = split_messages(message(changes))
    # Then no body exceeds the limit, nothing is lost or reordered, and each piece is full
    sizes = [len(p.body()) for p in pieces]
    assert max(sizes) <= MAX_MESSAGE_BYTES
    assert [c for p in pieces for c in p.changes] == changes
    for piece, following in itertools.pairwise(pieces):
        assert len(message([*piece.changes, following.changes[0]]).body()) > MAX_MESSAGE_BYTES
    assert {(p.source, p.webhook_id, p.received_at) for p in pieces} == {("cad", "msg_1", NOW)}


changes_strategy = st.lists(
    st.builds(
        UnitChange,
        id=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20).filter(
            str.strip
        ),
        at=st.just(NOW),
        fields=st.fixed_dictionaries({}, optional={"status": st.text(max_size=60) | st.none()}),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(changes=changes_strategy, limit=st.integers(min_value=600, max_value=4000))
def test_split_messages_property_exact_sizes_and_no_loss(changes: list[UnitChange], limit: int) -> None:
    pieces = split_messages(message(changes), max_bytes=limit)
    assert [c for p in pieces for c in p.changes] == changes
    for piece in pieces:
        # The linear size sum is exact: a piece is over the limit only when one change alone is
        assert len(piece.body()) <= limit or len(piece.changes) == 1


def test_batches_respect_sqs_count_and_size_limits() -> None:
    bodies = ["x" * 100] * 25 + ["y" * (MAX_MESSAGE_BYTES - 10)] * 12
    groups = batches(bodies)
    assert [body for group in groups for _, body in group] == bodies
    for group in groups:
        assert len(group) <= SQS_MAX_BATCH_ENTRIES
        assert sum(len(body) for _, body in group) <= SQS_MAX_BATCH_BYTES
        assert len({entry_id for entry_id, _ in group}) == len(group)


class FakeSqs:
    """Answers SendMessageBatch from a script: per call, the entry ids to fail, or an exception to raise."""

    def __init__(self, script: list[set[str] | Exception] | None = None) -> None:
        self.script = list(script or [])
        self.calls: list[list[dict[str, str]]] = []
        self.queued: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert QueueUrl == "https://sqs.local/queue"
        self.calls.append(Entries)
        step = self.script.pop(0) if self.script else set()
        if isinstance(step, Exception):
            raise step
        failed = [e for e in Entries if e["Id"] in step]
        ok = [e for e in Entries if e["Id"] not in step]
        self.queued.extend(e["MessageBody"] for e in ok)
        return {
            "Successful": [{"Id": e["Id"], "MessageId": "m", "MD5OfMessageBody": "x"} for e in ok],
            "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in failed],
        }


def publisher(sqs: FakeSqs, sleeps: list[float]) -> SqsPublisher:
    return SqsPublisher("https://sqs.local/queue", sqs, attempts=3, sleep=sleeps.append)  # type: ignore[arg-type]


def messages(n: int) -> list[QueueMessage]:
    return [message([unit(i)]) for i in range(n)]


def test_publisher_retries_exactly_the_entries_that_failed_with_a_200() -> None:
    # Given SQS failing two of ten entries in its first answer
    sqs, sleeps = FakeSqs([{"m3", "m7"}]), []
    # When ten messages are sent
    assert publisher(sqs, sleeps).send(messages(10)) == 10
    # Then the second call carries only the two failed entries, and every message is queued once
    assert [len(call) for call in sqs.calls] == [10, 2]
    assert [e["Id"] for e in sqs.calls[1]] == ["m3", "m7"]
    assert sorted(sqs.queued) == sorted(m.body() for m in messages(10))
    assert sleeps == [0.1]


def test_publisher_answers_503_when_entries_keep_failing() -> None:
    sqs, sleeps = FakeSqs([{"m0"}, {"m0"}, {"m0"}]), []
    with pytest.raises(QueueUnavailableError) as caught:
        publisher(sqs, sleeps).send(messages(3))
    assert caught.value.status == 503
    assert [len(call) for call in sqs.calls] == [3, 1, 1]
    assert sleeps == [0.1, 0.2]


def test_publisher_a_client_exception_mid_batch_is_retried() -> None:
    # Given 25 messages (three batches) and a throttling error on the second batch's first try
    sqs, sleeps = FakeSqs([set(), ConnectionError("reset"), set(), set()]), []
    # When sent / Then everything is queued exactly once
    assert publisher(sqs, sleeps).send(messages(25)) == 25
    assert [len(call) for call in sqs.calls] == [10, 10, 10, 5]
    assert len(sqs.queued) == 25


def test_publisher_a_batch_that_never_goes_through_is_a_503_even_after_earlier_ones_did() -> None:
    # Given the second of three batches failing every attempt
    boom = RuntimeError("throttled")
    sqs, sleeps = FakeSqs([set(), boom, boom, boom]), []
    # Then the request is a 503: the sender retries, and the first batch's copies are merged idempotently
    with pytest.raises(QueueUnavailableError):
        publisher(sqs, sleeps).send(messages(25))
    assert len(sqs.queued) == 10


def test_publisher_sends_ascii_bodies_the_consumer_can_read() -> None:
    sqs = FakeSqs()
    original = message([unit(1, status="\ufffe")])
    publisher(sqs, []).send([original])
    assert [QueueMessage.model_validate_json(body) for body in sqs.queued] == [original]
    assert all(json.loads(body)["v"] == 1 and body.isascii() for body in sqs.queued)
