"""The feed names deliveries: the adapter's short label for an ER:LC command or a Sonoran event, in the
ingress's "webhook accepted" line and on relay local's page (`relay deliveries` too)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay.handlers.ingress import lambda_handler
from relay.memory import InMemorySourceStateStore
from relay.sources import MAX_LABEL_LENGTH, AdapterContext, printable_label
from relay.sources.registry import adapter_kind
from relay_devtools.deliveries.trail import build_deliveries, render_lines
from relay_devtools.local.apigw import api_gateway_v2_event
from relay_devtools.webhooks.signing import sign
from tests.support.constants import NOW
from tests.support.data import SENDER_PRIVATE_HEX, load_event
from tests.support.logs import captured_logs, log_records
from tests.support.night import Night


def test_label_a_command_names_server_player_command_and_unit() -> None:
    night = Night()
    cop = night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    assert night.command(cop, ";10-6").label == "main: Lindqvist_30 ;10-6 -> 1A-07"


def test_label_a_held_command_and_one_that_sets_nothing_say_so() -> None:
    night = Night()
    night.poll()
    night.claims.remember("erlc-lookup#main", night.clock(), 5)
    assert night.command("77", ";10-6").label == "main: Civ ;10-6 -> held"
    assert (
        night.command("77", ";ban someone").label
        == "main: Civ ;ban someone (ignored: another integration's command)"
    )


def test_label_control_characters_are_written_out_and_the_label_is_bounded() -> None:
    night = Night()
    night.poll()
    label = night.command("77", ";h \x1b[31mred\nnew line\u202e" + "x" * 300).label
    assert label is not None
    assert "\\x1b[31mred\\nnew line\\u202e" in label
    assert len(label) == MAX_LABEL_LENGTH and label.endswith("…")
    assert label.isprintable()


@pytest.mark.parametrize(
    ("text", "shown"),
    [("plain", "plain"), ("tab\there", "tab\\there"), ("\x00", "\\x00"), ("Ünïcödé ✓", "Ünïcödé ✓")],
)
def test_label_printable_label(text: str, shown: str) -> None:
    assert printable_label(text) == shown


def test_label_sonoran_events_name_the_identids_and_units() -> None:
    kind = adapter_kind("sonoran")
    adapter = kind.build(kind.options_model.model_validate({}))
    store = InMemorySourceStateStore()
    labels = []
    for sample in ("sonoran_unit_login.json", "sonoran_unit_status.json", "sonoran_unit_logout.json"):
        context = AdapterContext(source="sonoran", received_at=NOW, state=store)
        adapter.normalise(load_event(sample), context)
        labels.append(context.notes.label)
    login = load_event("sonoran_unit_login.json")
    unit = login["data"][0]["unit"] if isinstance(login["data"], list) else login["data"]["unit"]
    ident, unit_num = str(unit["id"]), unit["data"]["unitNum"]
    assert labels == [
        f"EVENT_UNIT_LOGIN {ident} -> {unit_num}",
        f"EVENT_UNIT_STATUS {ident} -> {unit_num}",
        f"EVENT_UNIT_LOGOUT {ident} -> {unit_num}",
    ]


def test_label_in_the_accepted_line_and_on_the_feed(lambda_context: Any) -> None:
    # Given a command through the real handler
    night = Night()
    night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    body = json.dumps(
        {
            "Type": "CustomCommand",
            "Timestamp": night.clock().timestamp(),
            "Data": {"Player": "Lindqvist_30:30", "Command": ";10-6"},
        }
    ).encode()
    signature = night.config.sources["erlc"].signature
    delivery = sign(signature, body, "", now=night.clock(), private_key=SENDER_PRIVATE_HEX)
    event = api_gateway_v2_event(
        "POST", "/hooks/erlc", "", list(delivery.headers.items()), delivery.body, "203.0.113.9"
    )
    with captured_logs() as logs:
        answer = lambda_handler(event, lambda_context, deps=night.ingress, now=night.clock)
    assert answer["statusCode"] == 202
    records = log_records(logs)
    [line] = [r for r in records if r["message"] == "webhook accepted"]
    assert line["label"] == "main: Lindqvist_30 ;10-6 -> 1A-07"
    # Then the feed shows it beside the delivery's id
    [shown] = build_deliveries(records)
    assert shown.label == "main: Lindqvist_30 ;10-6 -> 1A-07"
    assert render_lines([shown])[1] == "    main: Lindqvist_30 ;10-6 -> 1A-07"


def test_label_a_held_command_later_sent_by_the_poll_shows_its_fate() -> None:
    # Given a command held (202, no change) and later written by the poll in the delivery's name
    held = {
        "level": "INFO",
        "message": "webhook accepted",
        "timestamp": "2026-11-28 12:00:01,000+0000",
        "function_request_id": "in-1",
        "source": "erlc",
        "webhook_id": "request:abc",
        "status": 202,
        "changes": 0,
        "messages": 0,
        "units": [],
        "label": "main: Rossi ;10-6 -> held",
    }
    written = {
        "level": "INFO",
        "message": "unit outcomes",
        "timestamp": "2026-11-28 12:01:05,000+0000",
        "function_request_id": "consumer-1",
        "units": [
            {
                "unit_id": "1A-31",
                "webhook_ids": ["request:abc"],
                "sources": ["erlc"],
                "outcome": "written",
                "fields": {"status": "written"},
                "written": {"status": "10-6"},
            }
        ],
    }
    [delivery] = build_deliveries([held, written])
    # Then the feed shows the command written, not skipped
    assert (delivery.outcome, delivery.label, delivery.units) == (
        "written",
        "main: Rossi ;10-6 -> held",
        ["1A-31"],
    )
