"""The `discord` preset: Discord-format webhooks whose embeds describe units field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from relay.config.loader import parse_config
from relay.errors import ConfigError, InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind
from tests.support.constants import NOW
from tests.support.data import base_config_data, load_event

CONTEXT = AdapterContext(source="discord", received_at=NOW)
LABELS = {"labels": {"officer_name": "Officer"}}


def run(payload: Any, options: dict[str, Any] | None = None) -> list[UnitChange]:
    kind = adapter_kind("discord")
    return kind.build(kind.options_model.model_validate(options or {})).normalise(payload, CONTEXT)


def test_discord_an_embed_with_a_callsign_is_a_unit_and_markdown_is_dropped() -> None:
    # Given a status embed and a summary embed without a Callsign field
    payload = load_event("discord_embed.json")
    # When it is normalised with the community's label for the officer's name
    changes = run(payload, LABELS)
    # Then only the status embed is a unit, its **bold** and `code` values are plain text
    assert changes == [
        UnitChange(
            id="ADAM-12",
            at=datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC),
            fields={"officer_name": "B. Bubbleton", "status": "10-8", "department": "Patrol"},
        )
    ]


def test_discord_labels_match_whatever_the_case_and_spacing() -> None:
    payload = {
        "embeds": [{"fields": [{"name": " CALLSIGN ", "value": "L-3"}, {"name": "status", "value": "10-6"}]}]
    }
    assert run(payload) == [UnitChange(id="L-3", at=NOW, fields={"status": "10-6"})]


def test_discord_value_maps_apply_to_embed_values() -> None:
    payload = {
        "embeds": [{"fields": [{"name": "Callsign", "value": "L-3"}, {"name": "Status", "value": "Busy"}]}]
    }
    assert run(payload, {"value_maps": {"status": {"Busy": "10-6"}}})[0].fields == {"status": "10-6"}


def test_discord_a_message_without_unit_embeds_maps_to_nothing() -> None:
    assert run({"content": "hello", "embeds": [{"title": "news", "fields": []}]}) == []


@pytest.mark.parametrize(
    "payload",
    [
        # Discord accepts a message with content and no embed (discord/discord-api-docs
        # developers/resources/webhook.mdx, Execute Webhook: "at least one of content, embeds, ...")
        {"content": "ADAM-12 is 10-8"},
        {"content": "ADAM-12 is 10-8", "embeds": []},
        {"content": "ADAM-12 is 10-8", "embeds": None},
        {"username": "CAD", "content": "ADAM-12 is 10-8", "tts": False, "allowed_mentions": {"parse": []}},
    ],
)
def test_discord_a_content_only_message_describes_no_unit_and_is_acknowledged(payload: Any) -> None:
    # It was a 422 ("embeds: expected a list of embed objects"); docs/sources/README.md promises a 202
    # with changes: 0 for an authentic message that describes no unit
    assert run(payload) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"embeds": {"fields": []}}, "embeds: expected a list of embed objects"),
        ({"embeds": ["Callsign: A-12"]}, "embeds: expected a list of embed objects"),
        ({"embeds": [{"fields": "Callsign: A-12"}]}, "embeds[0].fields: expected a list of {name, value}"),
        (
            {
                "embeds": [
                    {"fields": [{"name": "Callsign", "value": "A-12"}, {"name": "Status", "value": ["x"]}]}
                ]
            },
            "units[0].status: expression \"plain(fields[?lower(trim(name))=='status'] | [0].value)\" failed: "
            "In function plain(), invalid type for value: ['x'], expected one of: ['string', 'null'], "
            'received: "array"',
        ),
    ],
)
def test_discord_malformed_payloads_get_a_precise_422(payload: Any, message: str) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        run(payload)
    assert caught.value.message == message


def test_discord_the_id_label_cannot_be_blank() -> None:
    data = base_config_data()
    data["sources"]["discord"] = {
        **data["sources"]["cad"],
        "adapter": "discord",
        "options": {"labels": {"id": ""}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == (
        "relay.toml: sources.discord.options.labels: Value error, a label for the unit id (`id`) is required"
    )
