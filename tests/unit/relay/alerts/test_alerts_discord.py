"""An alarm topic's SNS record as a Discord message (relay.alerts.discord): pure, within Discord's limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay.alerts.discord import (
    COLOURS,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    NEUTRAL,
    TITLE_LIMIT,
    discord_message,
    embed_length,
    parse_alarm,
    truncate,
)
from tests.support.alerts import alarm_event, alarm_message, sns_record


def message_for(**overrides: Any) -> dict[str, Any]:
    [record] = alarm_event(**overrides)["Records"]
    return discord_message(record)


def within_limits(payload: dict[str, Any]) -> None:
    assert len(payload["content"]) <= CONTENT_LIMIT
    assert 1 <= len(payload["embeds"]) <= 10
    for embed in payload["embeds"]:
        assert len(embed["title"]) <= TITLE_LIMIT
        assert len(embed["description"]) <= DESCRIPTION_LIMIT
        for field in embed.get("fields", []):
            assert len(field["name"]) <= FIELD_NAME_LIMIT
            assert 0 < len(field["value"]) <= FIELD_VALUE_LIMIT
    assert sum(embed_length(e) for e in payload["embeds"]) <= EMBED_TOTAL_LIMIT
    # Nothing in an alarm's text may ping anyone.
    assert payload["allowed_mentions"] == {"parse": []}
    json.dumps(payload)  # Discord takes JSON


def test_alerts_an_alarm_is_one_red_embed_with_what_happened_and_where() -> None:
    payload = message_for()
    within_limits(payload)
    [embed] = payload["embeds"]
    assert payload["content"] == "**ALARM**: northca-relay-consumer-errors"
    assert embed["title"] == "ALARM: northca-relay-consumer-errors"
    assert embed["color"] == COLOURS["ALARM"]
    assert embed["description"].startswith(
        "The consumer function failed (Lambda Errors).\n\nThreshold Crossed"
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "State": "OK → ALARM",
        "Metric": "AWS/Lambda Errors (FunctionName=northca-relay-consumer)",
        "Threshold": "> 0 (sum over 300 s)",
        "Region": "EU (Ireland)",
    }
    assert embed["timestamp"] == "2026-11-28T12:00:00.123000+00:00"
    assert embed["url"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#alarmsV2:alarm/northca-relay-consumer-errors"
    )


@pytest.mark.parametrize(
    ("new", "old", "colour"),
    [("OK", "ALARM", COLOURS["OK"]), ("INSUFFICIENT_DATA", "OK", COLOURS["INSUFFICIENT_DATA"])],
)
def test_alerts_the_colour_follows_the_new_state(new: str, old: str, colour: int) -> None:
    payload = message_for(NewStateValue=new, OldStateValue=old)
    within_limits(payload)
    [embed] = payload["embeds"]
    assert (embed["color"], embed["title"]) == (colour, f"{new}: northca-relay-consumer-errors")
    assert {"name": "State", "value": f"{old} → {new}", "inline": True} in embed["fields"]
    assert len(set(COLOURS.values()) | {NEUTRAL}) == 4  # each state, and other messages, look different


def test_alerts_an_unknown_state_is_neutral() -> None:
    [embed] = message_for(NewStateValue="SOMETHING_NEW")["embeds"]
    assert embed["color"] == NEUTRAL


def test_alerts_long_texts_are_cut_to_discords_limits() -> None:
    payload = message_for(
        AlarmName="n" * 400,
        AlarmDescription="d" * 3000,
        NewStateReason="r" * 9000,
        Trigger={"MetricName": "m" * 2000, "Namespace": "NorthcaRelay", "Dimensions": []},
    )
    within_limits(payload)
    [embed] = payload["embeds"]
    assert embed["title"].endswith("…") and len(embed["title"]) == TITLE_LIMIT
    assert embed["description"].startswith("d" * 3000) and embed["description"].endswith("…")
    assert len(embed["description"]) == DESCRIPTION_LIMIT
    metric = next(f for f in embed["fields"] if f["name"] == "Metric")
    assert len(metric["value"]) == FIELD_VALUE_LIMIT and metric["value"].endswith("…")


def test_alerts_the_whole_embed_stays_within_the_total() -> None:
    # Long title, fields and description together pass 6,000: the description gives way.
    payload = message_for(
        AlarmName="a" * 300,
        NewStateReason="r" * 5000,
        Region="x" * 2000,
        Trigger={"MetricName": "m" * 2000, "Namespace": "NorthcaRelay"},
    )
    within_limits(payload)
    [embed] = payload["embeds"]
    assert embed_length(embed) == EMBED_TOTAL_LIMIT
    assert embed["description"].endswith("…")


def test_alerts_a_metric_math_alarm_shows_its_expression() -> None:
    trigger = {
        "Metrics": [
            {"Id": "failures", "Label": "Ingress dependency failures", "Expression": "FILL(a, 0)"},
            {"Id": "a", "ReturnData": False, "MetricStat": {"Metric": {"MetricName": "EnqueueFailed"}}},
        ],
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0,
    }
    [embed] = message_for(Trigger=trigger)["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Metric"] == "Ingress dependency failures"
    assert fields["Threshold"] == "> 0"


def test_alerts_a_message_that_is_not_an_alarm_is_posted_as_it_is() -> None:
    # e.g. a test publish from the console, or another service sharing the topic
    payload = discord_message(sns_record("Deploy finished: @everyone look", subject="Hello"))
    within_limits(payload)
    [embed] = payload["embeds"]
    assert (payload["content"], embed["title"]) == ("Hello", "Hello")
    assert embed["description"] == "Deploy finished: @everyone look"
    assert embed["color"] == NEUTRAL
    assert embed["timestamp"] == "2026-11-28T12:00:00.456000+00:00"


@pytest.mark.parametrize(
    "message",
    [
        "",
        "not json",
        "[1, 2]",
        json.dumps({"AlarmName": "x"}),  # no state: not an alarm notification
        json.dumps({"NewStateValue": "ALARM"}),
        "x" * 10_000,
    ],
)
def test_alerts_any_other_message_still_gives_a_valid_payload(message: str) -> None:
    assert parse_alarm(message) is None
    payload = discord_message(sns_record(message))
    within_limits(payload)
    assert payload["embeds"][0]["title"] == "Notification from the alarm topic"


def test_alerts_a_record_without_its_sns_part_gives_a_valid_payload() -> None:
    within_limits(discord_message({}))


def test_alerts_odd_values_in_an_alarm_are_tolerated() -> None:
    payload = message_for(
        StateChangeTime="yesterday",
        AlarmArn="arn:aws-cn:cloudwatch:cn-north-1:1:alarm:x",
        Trigger="not a mapping",
        AlarmDescription=None,
        NewStateReason=None,
        OldStateValue=None,
    )
    within_limits(payload)
    [embed] = payload["embeds"]
    assert "timestamp" not in embed and "url" not in embed
    assert embed["description"] == "(no reason given)"
    assert {f["name"] for f in embed["fields"]} == {"State", "Region"}


def test_alerts_truncate() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
    assert len(truncate("x" * 5000, 1024)) == 1024


def test_alerts_parse_alarm_reads_the_notification() -> None:
    alarm = parse_alarm(json.dumps(alarm_message()))
    assert alarm is not None
    assert (alarm.name, alarm.old_state, alarm.new_state) == ("northca-relay-consumer-errors", "OK", "ALARM")
    assert alarm.changed_at is not None and alarm.changed_at.utcoffset() is not None
