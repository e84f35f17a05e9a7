"""relay_devtools.deliveries: the relay's log lines joined into one record per delivery, with its
outcome and why (the feed of `relay local` and the listing of `relay deliveries`)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from relay.observability import logger
from relay_devtools.deliveries.feed import RecordBuffer, wait_for_outcome
from relay_devtools.deliveries.trail import build_deliveries, parse_log_message, read_trail, render_lines

MDT = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"


def line(second: float, message: str, request: str = "req-1", **keys: Any) -> dict[str, Any]:
    """A Powertools JSON log line as the relay writes it (only the keys the reader uses)."""
    whole, fraction = divmod(second, 1)
    stamp = f"2026-11-28 12:00:{int(whole):02d},{int(fraction * 1000):03d}+0000"
    return {"level": "INFO", "message": message, "timestamp": stamp, "function_request_id": request, **keys}


def accepted(
    second: float, webhook: str | None, *units: str, source: str = "cad", **keys: Any
) -> dict[str, Any]:
    return line(
        second,
        "webhook accepted",
        request=f"in-{second}",
        source=source,
        webhook_id=webhook,
        status=202,
        changes=len(units),
        messages=1,
        units=list(units),
        **keys,
    )


def outcome(second: float, webhooks: list[str], unit: str, result: str, **keys: Any) -> dict[str, Any]:
    data = {
        "webhook_ids": webhooks,
        "sources": ["cad"],
        "mdt_id": MDT,
        "unit_id": unit,
        "outcome": result,
        "detail": "",
        "fields": {},
        "written": {},
        "recheck": False,
    }
    # The consumer writes many units to a line; each test line carries one (a helper below, several).
    return line(second, "unit outcomes", request=f"consumer-{second}", units=[data | keys])


def only(records: list[dict[str, Any]]) -> dict[str, Any]:
    [delivery] = build_deliveries(records)
    return delivery.as_dict()


def test_deliveries_a_written_change_shows_the_put() -> None:
    # Given a webhook accepted for ADAM-12 and the consumer's line saying it was written
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(4, ["msg_1"], "ADAM-12", "written", fields={"status": "written"}, written={"status": "10-8"}),
    ]
    # Then the delivery is written, with the values the PUT changed
    delivery = only(records)
    assert (delivery["status"], delivery["webhook_id"], delivery["outcome"]) == (202, "msg_1", "written")
    assert delivery["fates"][0]["written"] == {"status": "10-8"}
    assert "status='10-8'" in delivery["why"]


def test_deliveries_an_accepted_webhook_waits_as_queued_until_the_consumer_says() -> None:
    delivery = only([accepted(1, "msg_1", "ADAM-12", "ADAM-13")])
    assert delivery["outcome"] == "queued"
    assert [fate["outcome"] for fate in delivery["fates"]] == ["queued", "queued"]


def test_deliveries_a_change_older_than_the_unit_holds_is_skipped_and_says_so() -> None:
    # Given a replayed sample with a past event time: the consumer kept what the unit holds
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(
            4,
            ["msg_1"],
            "ADAM-12",
            "unchanged",
            detail="the partner already holds it",
            fields={"status": "kept"},
        ),
    ]
    delivery = only(records)
    # Then the skip is visible, with why
    assert delivery["outcome"] == "skipped"
    assert (
        delivery["fates"][0]["why"]
        == "not newer than what the unit holds (an older event time, or the same change again)"
    )


def test_deliveries_another_writers_newer_value_skips_the_change() -> None:
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(4, ["msg_1"], "ADAM-12", "superseded", fields={"status": "superseded"}),
    ]
    delivery = only(records)
    assert (delivery["outcome"], delivery["fates"][0]["why"]) == (
        "skipped",
        "another writer's newer value is at the partner",
    )


def test_deliveries_a_unit_the_partner_refused_is_refused_then_dead_lettered_with_its_message() -> None:
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(4, ["msg_1"], "ADAM-12", "refused", detail="status: too long"),
        line(
            4.1,
            "message dead-lettered",
            request="c",
            message_id="m-1",
            webhook_id="msg_1",
            reason="status: too long",
        ),
    ]
    delivery = only(records)
    assert delivery["fates"][0]["why"] == "refused by the partner: status: too long"
    assert (delivery["outcome"], delivery["why"]) == ("dead-lettered", "status: too long")
    assert delivery["dead_letters"] == [
        {"message_id": "m-1", "reason": "status: too long", "at": "2026-11-28T12:00:04.099Z"}
    ]


def test_deliveries_a_unit_given_back_is_retrying_until_a_later_invocation_writes_it() -> None:
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(4, ["msg_1"], "ADAM-12", "given back", detail="partner throttles"),
    ]
    assert only(records)["outcome"] == "retrying"
    records.append(outcome(9, ["msg_1"], "ADAM-12", "written", written={"status": "10-8"}))
    delivery = only(records)
    assert (delivery["outcome"], delivery["fates"][0]["attempts"]) == ("written", 2)


def test_deliveries_a_redriven_delivery_leads_with_its_latest_outcome() -> None:
    # Given a delivery whose unit the partner refused, dead-lettered, then redriven once fixed and written
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(4, ["msg_1"], "ADAM-12", "refused", detail="status: too long"),
        line(
            4.1, "message dead-lettered", request="c", message_id="m-1", webhook_id="msg_1", reason="too long"
        ),
        outcome(30, ["msg_1"], "ADAM-12", "written", written={"status": "10-8"}),
    ]
    delivery = only(records)
    # Then it is written, and the dead letter is history after it (issue 21: it led, above "written")
    assert delivery["outcome"] == "written"
    assert (
        delivery["why"] == "ADAM-12: written status='10-8'; earlier dead-lettered (too long), then redriven"
    )
    # while one not redriven stays dead-lettered
    assert only(records[:3])["outcome"] == "dead-lettered"


def test_deliveries_wait_for_outcome_returns_a_delivery_the_consumer_gave_back_with_its_reason() -> None:
    # Given a feed where the consumer tried the delivery and gave it back (an MDT not linked)
    tried = {
        "source": "cad",
        "answer": "accepted",
        "webhook_id": "msg_1",
        "outcome": "retrying",
        "fates": [{"unit_id": "A", "outcome": "retrying", "attempts": 1, "why": "the partner refuses"}],
    }
    queued = tried | {"outcome": "queued", "fates": [{"unit_id": "A", "outcome": "queued", "attempts": 0}]}
    answers = iter([[queued], [tried]])
    clock = FakeClock()
    found = wait_for_outcome(
        lambda: next(answers), "msg_1", "cad", timeout=30, clock=clock, sleep=clock.sleep
    )
    # Then the wait ends there, with the reason, instead of "no outcome after 30 s"
    assert found is tried
    assert clock.now == 0.5


def test_deliveries_relay_tomls_cold_start_warnings_are_no_deliverys_notes() -> None:
    # Given the first request after a cold start, which logs relay.toml's warnings before its answer
    warning = line(
        0.5, "relay.toml: source without replay protection", request="in-1", warning="sources.x: ..."
    )
    warning["level"] = "WARNING"
    records = [warning, accepted(1, "msg_1", "ADAM-12")]
    # Then the delivery is not given them (issue 21: four of them hung on an unrelated delivery)
    assert only(records)["notes"] == []


def test_deliveries_a_unit_the_sender_spelt_otherwise_gets_the_consumers_outcome() -> None:
    # Found trying it as a new user: Typeform's sample names "adam-12", the consumer writes "ADAM-12"
    # (ids compare case-insensitively); the delivery stayed "queued" and relay sign --wait timed out
    records = [
        accepted(1, "msg_1", "adam-12", source="typeform"),
        outcome(
            4,
            ["msg_1"],
            "ADAM-12",
            "unchanged",
            detail="the partner already holds it; officer_name: cad's value wins this field",
            fields={"status": "not written", "officer_name": "owned"},
        ),
    ]
    delivery = only(records)
    assert delivery["outcome"] == "skipped"
    [fate] = delivery["fates"]
    assert fate["unit_id"] == "ADAM-12"
    # and the skip says which source wins which field
    assert fate["why"] == "the partner already holds it; officer_name: cad's value wins this field"


def test_deliveries_a_401_carries_the_log_only_reason() -> None:
    rejected = line(
        1, "webhook rejected", source="cad", status=401, kind="mismatch", reason="no signature matched"
    )
    delivery = only([rejected])
    assert (delivery["status"], delivery["outcome"]) == (401, "rejected")
    assert delivery["reason"] == "mismatch: no signature matched"


def test_deliveries_refused_not_queued_and_replayed_answers() -> None:
    records = [
        line(1, "webhook refused", request="a", source="cad", status=422, error="body: expected an object"),
        line(
            2,
            "webhook not queued, sender should retry",
            request="b",
            source="cad",
            status=503,
            error="queue down",
        ),
        line(
            3, "webhook replayed: already queued", request="c", source="cad", webhook_id="msg_1", status=200
        ),
    ]
    found = [(d.status, d.outcome, d.why) for d in build_deliveries(records)]
    assert found == [
        (200, "replayed", "already queued"),
        (503, "not queued", "queue down"),
        (422, "refused", "body: expected an object"),
    ]


def test_deliveries_no_change_is_skipped_with_the_adapters_reason() -> None:
    # Given an ER:LC command from a player the roster does not hold: the adapter logs why, then 202
    note = line(1, "erlc event: player is not an on-duty unit, command skipped", request="r", player="123")
    answer = line(
        1.01, "webhook accepted", request="r", source="erlc", status=202, changes=0, messages=0, units=[]
    )
    delivery = only([note, answer])
    assert delivery["outcome"] == "skipped"
    assert delivery["why"] == "erlc event: player is not an on-duty unit, command skipped (player=123)"


def test_deliveries_a_clamped_event_time_is_noted_on_the_unit() -> None:
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        line(
            4,
            "event time in the future clamped to the receive time",
            request="c",
            source="cad",
            webhook_id="msg_1",
            unit_id="ADAM-12",
        ),
        outcome(4.1, ["msg_1"], "ADAM-12", "written", written={"status": "10-8"}),
    ]
    fate = only(records)["fates"][0]
    assert fate["notes"] == ["event time in the future clamped to the receive time"]


def test_deliveries_a_webhook_without_an_id_is_joined_by_source_and_unit() -> None:
    records = [accepted(1, None, "ADAM-12"), outcome(4, [], "ADAM-12", "written", written={"status": "10-8"})]
    assert only(records)["outcome"] == "written"


def test_deliveries_changes_no_webhook_brought_are_a_roster_poll() -> None:
    records = [outcome(4, [], "1A-01", "written", sources=["erlc:main"], written={"status": "10-8"})]
    delivery = only(records)
    assert (delivery["answer"], delivery["source"], delivery["status"]) == ("polled", "erlc:main", None)
    assert delivery["outcome"] == "written"


def test_deliveries_a_roster_polls_changes_are_one_entry_named_by_its_id() -> None:
    records = [
        outcome(4, ["erlc-roster:main:1796000000"], "1A-01", "written", sources=["erlc:main"]),
        outcome(4, ["erlc-roster:main:1796000000"], "1A-02", "written", sources=["erlc:main"]),
    ]
    delivery = only(records)
    assert (delivery["answer"], delivery["webhook_id"], delivery["units"]) == (
        "polled",
        "erlc-roster:main:1796000000",
        ["1A-01", "1A-02"],
    )


def test_deliveries_a_webhook_whose_ingress_line_was_not_read_is_still_listed() -> None:
    delivery = only([outcome(4, ["msg_old"], "ADAM-12", "written", written={"status": "10-8"})])
    assert (delivery["answer"], delivery["webhook_id"], delivery["outcome"]) == (
        "unseen",
        "msg_old",
        "written",
    )


def test_deliveries_newest_first_one_source_and_a_limit() -> None:
    records = [accepted(1, "msg_1", "A"), accepted(2, "msg_2", "B", source="erlc"), accepted(3, "msg_3", "C")]
    assert [d.webhook_id for d in build_deliveries(records)] == ["msg_3", "msg_2", "msg_1"]
    assert [d.webhook_id for d in build_deliveries(records, source="cad")] == ["msg_3", "msg_1"]
    assert [d.webhook_id for d in build_deliveries(records, limit=1)] == ["msg_3"]


def test_deliveries_unknown_lines_and_metrics_are_ignored() -> None:
    records = [
        {"_aws": {"Timestamp": 1}},
        line(1, "partner throttles", request="x"),
        accepted(2, "msg_1", "A"),
    ]
    assert [d.webhook_id for d in build_deliveries(records)] == ["msg_1"]


def test_deliveries_cloudwatch_event_times_order_the_lines() -> None:
    # Given lines whose Powertools timestamps are missing but CloudWatch's event times are known
    first = accepted(0, "msg_1", "A") | {"timestamp": "", "@timestamp_ms": 1_000}
    second = accepted(0, "msg_2", "B") | {"timestamp": "", "@timestamp_ms": 2_000}
    assert [d.webhook_id for d in build_deliveries([second, first])] == ["msg_2", "msg_1"]


def test_deliveries_a_log_event_is_a_powertools_line_or_lambdas_json_around_one() -> None:
    plain = json.dumps({"level": "INFO", "message": "webhook accepted"})
    wrapped = json.dumps({"level": "INFO", "message": {"message": "webhook accepted", "status": 202}})
    assert parse_log_message(plain) == {"level": "INFO", "message": "webhook accepted"}
    assert parse_log_message(wrapped) == {"level": "INFO", "message": "webhook accepted", "status": 202}
    assert parse_log_message("START RequestId: x") is None


def test_deliveries_the_buffer_keeps_the_relay_loggers_lines_as_json() -> None:
    # Given a buffer on the relay's logger
    buffer = RecordBuffer(logger.registered_formatter, capacity=2)
    python_logger = logging.getLogger(logger.name)
    level = python_logger.level
    python_logger.setLevel(logging.INFO)
    python_logger.addHandler(buffer)
    try:
        # When three lines are logged
        for n in range(3):
            logger.info("webhook accepted", extra={"status": 202, "n": n})
    finally:
        python_logger.removeHandler(buffer)
        python_logger.setLevel(level)
    # Then the newest two are kept, as the dicts Powertools writes
    assert [(r["message"], r["n"]) for r in buffer.records()] == [
        ("webhook accepted", 1),
        ("webhook accepted", 2),
    ]


def test_deliveries_render_lines_one_block_per_delivery() -> None:
    text = render_lines(build_deliveries([accepted(1, "msg_1", "A")]))
    assert text == ["2026-11-28T12:00:01.000Z  cad  202  msg_1  queued", "    A: queued"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_deliveries_wait_for_outcome_returns_once_the_delivery_is_settled() -> None:
    # Given a feed that shows the delivery queued twice, then written
    answers = iter(
        [
            [{"source": "cad", "answer": "accepted", "webhook_id": "msg_1", "outcome": "queued"}],
            [{"source": "cad", "answer": "accepted", "webhook_id": "msg_1", "outcome": "queued"}],
            [{"source": "cad", "answer": "accepted", "webhook_id": "msg_1", "outcome": "written"}],
        ]
    )
    clock = FakeClock()
    found = wait_for_outcome(
        lambda: next(answers), "msg_1", "cad", timeout=30, clock=clock, sleep=clock.sleep
    )
    assert found is not None and found["outcome"] == "written"
    assert clock.now == 1.0


def test_deliveries_wait_for_outcome_gives_up_after_the_timeout() -> None:
    clock = FakeClock()
    found = wait_for_outcome(lambda: [], "msg_1", "cad", timeout=3, clock=clock, sleep=clock.sleep)
    assert found is None
    assert clock.now == 3.0


def test_deliveries_a_retried_unit_found_already_written_says_the_earlier_attempt_landed() -> None:
    # Given a PUT that timed out (given back, to be checked again), then a look that finds it there
    records = [
        accepted(1, "msg_1", "ADAM-12"),
        outcome(4, ["msg_1"], "ADAM-12", "given back", detail="partner unavailable", recheck=True),
        outcome(9, ["msg_1"], "ADAM-12", "unchanged", fields={"status": "kept"}),
    ]
    fate = only(records)["fates"][0]
    assert (fate["outcome"], fate["why"]) == ("skipped", "already at the partner (an earlier attempt landed)")


# ------------------------------------------------------------------ odd lines (issue 20, item 2)

ODD_LINES: dict[str, dict[str, Any]] = {
    "units-a-number": line(1, "webhook accepted", units=5, webhook_id="w-odd", status=202),
    "changes-a-word": line(1, "webhook accepted", changes="many", webhook_id="w-odd", status=202),
    "status-5000-digits": line(1, "webhook accepted", status="9" * 5000, webhook_id="w-odd"),
    "timestamp-ms-huge": {"message": "webhook accepted", "@timestamp_ms": 1e300, "status": 202},
    "timestamp-ms-nan": {"message": "webhook accepted", "@timestamp_ms": float("nan"), "status": 202},
    "timestamp-ms-bool": {"message": "webhook accepted", "@timestamp_ms": True, "status": 202},
    "outcome-webhook-ids-a-number": outcome(2, [], "A", "written", webhook_ids=7),
    "outcome-fields-a-list": outcome(2, ["w-1"], "A", "written", fields=["status"]),
    "outcome-written-a-string": outcome(2, ["w-1"], "A", "written", written="status"),
    "outcome-sources-a-number": line(
        2, "unit outcomes", units=[{"unit_id": "A", "webhook_ids": []}], sources=5
    ),
    "dead-letter-reason-a-list": line(3, "message dead-lettered", webhook_id="w-1", reason=["x"]),
    "units-a-string": line(2, "unit outcomes", units="abc"),
    "message-a-list": {"message": ["webhook accepted"], "status": 202},
}


def test_deliveries_the_reader_skips_and_counts_every_line_it_cannot_read() -> None:
    # Given a good delivery among lines of every odd shape
    good = [accepted(1, "w-1", "A"), outcome(2, ["w-1"], "A", "written", written={"status": "10-8"})]
    records = [*good, *ODD_LINES.values()]
    # When the trail is read
    trail = read_trail(records)
    # Then the good delivery is there, and every odd line is skipped or read for what it holds
    [delivery] = [d for d in trail.deliveries if d.webhook_id == "w-1"]
    assert delivery.outcome in ("written", "dead-lettered")
    assert trail.unreadable > 0
    assert render_lines(trail.deliveries)
    # And build_deliveries gives the same deliveries
    assert [d.webhook_id for d in build_deliveries(records)] == [d.webhook_id for d in trail.deliveries]


@pytest.mark.parametrize("odd", ODD_LINES.values(), ids=ODD_LINES.keys())
def test_deliveries_one_odd_line_never_crashes_the_reader_or_the_rendering(odd: dict[str, Any]) -> None:
    trail = read_trail([accepted(1, "w-1", "A"), odd])
    assert any(d.webhook_id == "w-1" for d in trail.deliveries)
    render_lines(trail.deliveries)
    json.dumps([d.as_dict() for d in trail.deliveries])


def test_deliveries_a_senders_text_is_printed_with_its_control_characters_written_out() -> None:
    # Given a delivery whose webhook id, source, unit and reason hold escape sequences
    records = [
        accepted(1, "\x1b[2Jw-1\x07", "A\x1b]0;title\x07", source="cad\u202e"),
        line(2, "webhook refused", request="r2", status=422, error="bad \x1b[31mred\x9b2J"),
    ]
    # When they are rendered for the terminal
    text = "\n".join(render_lines(build_deliveries(records)))
    # Then no control or format character reaches it, written out instead
    assert all(c == "\n" or c.isprintable() for c in text)
    assert "\\x1b[2Jw-1" in text and "\\u202e" in text and "\\x9b" in text
