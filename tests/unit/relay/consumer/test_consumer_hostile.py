"""The consumer against what nobody listed: poison bodies beside good ones, a partner that answers
oddly, a partner that echoes its key. Whatever comes, the invocation never fails: good messages are
delivered, bad ones dead-lettered with a reason."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config.schema import ConsumerConfig
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.consumer.unit_state import InMemoryUnitStateStore
from relay.errors import NorthcaAuthError
from relay.memory import StaticSecrets
from relay.models import UNIT_FIELDS
from relay.northca.client import NorthcaClient
from relay.northca.writer import PartnerWriter
from relay.observability import logger
from tests.support.clocks import FixedClock
from tests.support.consumer import MemoryPartner, RecordingDeadLetters, change, message, record

GOOD = message("w-good", change("GOOD-1", 1, status="10-8"))
EXTREME_INSTANTS = [
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
]


def deps(partner: Any, dead_letters: RecordingDeadLetters) -> ConsumerDeps:
    clock = FixedClock()
    return ConsumerDeps(
        writer=partner,
        state=InMemoryUnitStateStore(),
        dead_letters=dead_letters,
        settings=ConsumerConfig(min_remaining_ms=0),
        sleep=lambda _: None,
        clock=clock,
    )


def with_instant(where: str, value: str) -> str:
    body = json.loads(GOOD.body())
    if where == "received_at":
        body["received_at"] = value
    else:
        body["changes"][0]["at"] = value
    return json.dumps(body)


@pytest.mark.parametrize("where", ["received_at", "changes.at"])
@pytest.mark.parametrize("instant", EXTREME_INSTANTS)
def test_consumer_a_message_dated_at_the_end_of_the_calendar_is_dead_lettered_alone(
    where: str, instant: str
) -> None:
    # Given a poison message beside a good one
    partner, letters = MemoryPartner(), RecordingDeadLetters()
    records = [record("m-bad", with_instant(where, instant)), record("m-good", GOOD)]
    # When consumed
    outcome = process_batch(records, deps(partner, letters))
    # Then the good one is written, the bad one is in the DLQ with why, and nothing is given back
    assert partner.unit("GOOD-1")["status"] == "10-8"
    assert list(letters.reasons()) == ["m-bad"]
    assert letters.reasons()["m-bad"]
    assert outcome.failed_message_ids == set()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
message_keys = st.sampled_from(
    ["v", "source", "mdt_id", "guild_id", "actor", "webhook_id", "received_at", "changes"]
)
poison_bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    # A message with one key replaced by anything: the nearest misses of a real one
    st.tuples(message_keys, json_values).map(
        lambda kv: json.dumps({**json.loads(GOOD.body()), kv[0]: kv[1]})
    ),
    st.sampled_from(EXTREME_INSTANTS).flatmap(
        lambda instant: st.sampled_from([with_instant("received_at", instant), with_instant("at", instant)])
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(poison_bodies, min_size=1, max_size=8), position=st.integers(0, 8))
def test_consumer_property_any_mix_of_bodies_delivers_the_good_and_dead_letters_the_rest(
    bodies: list[str], position: int
) -> None:
    # Given arbitrary bodies, and one good message among them
    partner, letters = MemoryPartner(), RecordingDeadLetters()
    records = [record(f"m{i}", body) for i, body in enumerate(bodies)]
    records.insert(min(position, len(records)), record("m-good", GOOD))
    # When consumed (it must not raise: a raise would fail the whole batch)
    outcome = process_batch(records, deps(partner, letters))
    # Then the good message is written, and every other one is either readable or dead-lettered with a reason
    assert partner.unit("GOOD-1")["status"] == "10-8"
    assert outcome.failed_message_ids == set()
    assert all(reason for reason in letters.reasons().values())
    assert "m-good" not in letters.reasons()


class OddPartner(MemoryPartner):
    """A partner whose list answer is whatever the test says."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.list_answer = answer

    def list_records(self, mdt_id: str, guild_id: str) -> Any:
        return self.list_answer


def listed(**fields: Any) -> list[dict[str, Any]]:
    return [{"id": "GOOD-1", **dict.fromkeys(UNIT_FIELDS, ""), **fields}]


@pytest.mark.parametrize(
    "answer",
    [
        listed(status="10-6", rank=None, updated_at="not a time"),
        listed(status="10-6", updated_at="0001-01-01T00:00:00Z"),
        listed(status="10-6", updated_at="9999-12-31T23:59:59.999Z"),
        listed(status="10-6", updated_at="2026-11-28T12:00:00"),
    ],
    ids=["null-and-garbage-time", "dawn-of-time", "end-of-time", "naive-time"],
)
def test_consumer_a_list_answer_with_odd_times_never_fails_the_invocation(answer: Any) -> None:
    # (A list the relay cannot read, junk or wrong types: tests/unit/relay/northca/test_partner_list.py.)
    partner, letters = OddPartner(answer), RecordingDeadLetters()
    outcome = process_batch([record("m1", GOOD)], deps(partner, letters))
    assert outcome.failed_message_ids == set()
    assert partner.violations == []
    assert all(value is not None for unit in partner.puts() for value in unit.values())


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("INFO")
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


class EchoingPool:
    """A connection pool whose partner answers 401 quoting the key it was sent."""

    def request(
        self, method: str, url: str, *, headers: dict[str, str], **kwargs: Any
    ) -> urllib3.BaseHTTPResponse:
        text = f"Unauthorized: {headers['x-partner-key']} is not a key"
        body = json.dumps({"ok": False, "error": text}).encode()
        return urllib3.HTTPResponse(body=body, status=401, preload_content=True)


def test_consumer_never_logs_the_partner_key_a_partner_echoes(log_text: io.StringIO) -> None:
    # Given a partner whose 401 text quotes the key it refused
    key = "pk_live_0123456789abcdef"
    writer = PartnerWriter(
        StaticSecrets({"northca/partner-key": key}),
        "northca/partner-key",
        lambda k: NorthcaClient("http://partner.invalid", k, pool=EchoingPool()),  # type: ignore[arg-type]
    )
    # When the consumer is refused and logs it
    process_batch([record("m1", GOOD)], deps(writer, RecordingDeadLetters()))
    # Then the refusal is logged, and no log line carries the key
    assert "PARTNER KEY REFUSED" in log_text.getvalue()
    assert key not in log_text.getvalue()


def test_the_client_redacts_the_key_from_the_partners_error_text() -> None:
    key = "pk_live_0123456789abcdef"
    client = NorthcaClient("http://partner.invalid", key)
    response = urllib3.HTTPResponse(
        body=json.dumps({"ok": False, "error": f"key {key} revoked"}).encode(),
        status=401,
        preload_content=True,
    )
    with pytest.raises(NorthcaAuthError) as caught:
        client._interpret(response)
    assert key not in caught.value.message
    assert caught.value.message == "key *** revoked"


def test_consumer_a_deeply_nested_poison_body_is_dead_lettered_alone_and_the_handler_never_raises() -> None:
    # Given a good message beside a body nested deeper than json's recursion allows
    from relay.handlers.consumer import lambda_handler
    from relay_devtools.local.lambda_context import LocalLambdaContext

    partner, letters = MemoryPartner(), RecordingDeadLetters()
    event = {"Records": [record("good", GOOD), record("poison", "[" * 100_000)]}
    # When the handler runs the batch
    answer = lambda_handler(
        event, LocalLambdaContext(function_name="c", timeout_seconds=60), deps=deps(partner, letters)
    )
    # Then the good unit is written, the poison dead-lettered with its reason, nothing reported failed
    assert answer == {"batchItemFailures": []}
    assert partner.unit("GOOD-1")["status"] == "10-8"
    assert list(letters.reasons()) == ["poison"]


@pytest.mark.parametrize("status", [200, 401, 500])
def test_the_client_reads_a_deeply_nested_partner_answer_as_garbage(status: int) -> None:
    client = NorthcaClient("http://partner.invalid", "pk_live_x")
    response = urllib3.HTTPResponse(body=b"[" * 100_000, status=status, preload_content=True)
    try:
        client._interpret(response)
    except RecursionError:  # pragma: no cover - the failure this test exists for
        pytest.fail("a deep answer escaped as RecursionError")
    except Exception as exc:  # noqa: BLE001 - a typed outcome is what the client gives for garbage
        assert type(exc).__module__ == "relay.errors"


class RespellingPartner(MemoryPartner):
    """The in-memory partner, its list answer passed through `respell` (an odd but possible partner)."""

    def __init__(self, respell: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.respell = respell

    def list_records(self, mdt_id: str, guild_id: str) -> Any:
        return self.respell(super().list_records(mdt_id, guild_id))


def respelled(key: str, value: Any) -> Any:
    def change_record(unit: dict[str, Any]) -> dict[str, Any]:
        unit[key] = value(unit.get(key)) if callable(value) else value
        return unit

    return lambda units: [change_record(dict(unit)) for unit in units]


@pytest.mark.parametrize(
    "respell",
    [
        respelled("updated_at", lambda t: t.replace("T", "t").replace("Z", "z")),
        respelled("updated_at", lambda t: t.replace("Z", "")),
        respelled("updated_at", None),
        respelled("updated_at", 1796174054000),
        lambda units: [{k: v for k, v in unit.items() if k != "updated_at"} for unit in units],
    ],
    ids=["lowercase-t-z", "naive", "null", "epoch-number", "missing"],
)
@pytest.mark.parametrize("relay_created_it", [True, False])
def test_consumer_an_older_change_never_reverts_a_dispatcher_edit_whatever_the_updated_at(
    respell: Any, relay_created_it: bool
) -> None:
    # Given a dispatcher's edit at T+100, and a partner whose updated_at is odd or absent
    clock = FixedClock()
    partner = RespellingPartner(respell, clock=clock)
    state = InMemoryUnitStateStore()
    consumer = ConsumerDeps(
        writer=partner,
        state=state,
        dead_letters=RecordingDeadLetters(),
        settings=ConsumerConfig(min_remaining_ms=0),
        sleep=lambda _: None,
        clock=clock,
    )
    if relay_created_it:
        process_batch(
            [record("m0", message("w0", change("U-1", 0, status="10-8", officer_name="A")))], consumer
        )
    clock.advance(100)
    partner.edit("U-1", status="10-6")
    clock.advance(100)
    # When an older change of the relay's (T+50) arrives late
    outcome = process_batch(
        [record("m1", message("w1", change("U-1", 50, status="10-7"), received=60))], consumer
    )
    # Then the dispatcher's edit stays (dated by the read when the partner gives no usable time)
    assert partner.unit("U-1")["status"] == "10-6"
    assert outcome.failed_message_ids == set()
    # And a change the relay gets after that read is written over it
    clock.advance(10)
    later = message("w2", change("U-1", 300, status="10-97"), received=300)
    process_batch([record("m2", later)], consumer)
    assert partner.unit("U-1")["status"] == "10-97"


@pytest.mark.parametrize(
    ("listed", "kept"),
    [(5, "5"), (5.0, "5.0"), (True, "true"), (["5"], '["5"]'), ({"v": "5"}, '{"v": "5"}')],
    ids=["int", "float", "bool", "list", "object"],
)
def test_consumer_a_value_the_list_gives_as_no_string_fails_the_read_and_is_never_blanked(
    listed: Any, kept: str
) -> None:
    # Given a dispatcher's rank, listed by an odd partner as a JSON value that is not a string
    partner = RespellingPartner(respelled("rank", listed))
    partner.edit("U-1", officer_name="A", rank=kept)
    # When a change of another field comes
    outcome = process_batch(
        [record("m1", message("w1", change("U-1", 1, status="10-8")))], deps(partner, RecordingDeadLetters())
    )
    # Then nothing is written from a list the relay cannot read: the message comes back, the unit stands
    assert partner.requests == []
    assert outcome.failed_message_ids == {"m1"}
    assert partner.unit("U-1") == {**dict.fromkeys(UNIT_FIELDS, ""), "officer_name": "A", "rank": kept}


def test_consumer_an_id_listed_with_blanks_around_it_is_the_same_unit() -> None:
    partner = RespellingPartner(lambda units: [dict(unit, id=f"  {unit['id']} ") for unit in units])
    partner.edit("U-1", officer_name="X", rank="R")
    process_batch(
        [record("m1", message("w1", change("U-1", 1, status="10-6")))], deps(partner, RecordingDeadLetters())
    )
    assert (partner.unit("U-1")["officer_name"], partner.unit("U-1")["rank"]) == ("X", "R")
    assert partner.unit("U-1")["status"] == "10-6"


def test_consumer_an_outcome_line_stays_under_cloudwatchs_event_size_for_one_busy_unit() -> None:
    # Given a thousand messages about one unit, each with the longest webhook id the ingress takes
    from relay.consumer.pipeline import MAX_OUTCOME_LINE_BYTES

    records = [
        record(f"m{i}", message(f"{i:04d}" + "w" * 1020, change("BUSY-1", i, status=f"10-{i}")))
        for i in range(1000)
    ]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)  # the JSON lines CloudWatch gets
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        process_batch(records, deps(MemoryPartner(), RecordingDeadLetters()))
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    lines = [line for line in buffer.getvalue().splitlines() if '"unit outcomes"' in line]
    # Then its outcome is one line under the bound, naming what fits and counting the rest
    assert len(lines) == 1
    assert len(lines[0].encode()) < MAX_OUTCOME_LINE_BYTES
    [row] = json.loads(lines[0])["units"]
    assert row["unit_id"] == "BUSY-1" and row["outcome"] == "written"
    assert len(row["webhook_ids"]) + row["webhook_ids_omitted"] == 1000
    assert row["webhook_ids_omitted"] > 0
