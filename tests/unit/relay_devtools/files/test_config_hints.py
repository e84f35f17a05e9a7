"""Config errors say which keys are allowed where the mistake is, and the nearest one to a typo."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config.loader import parse_config
from relay.errors import ConfigError
from relay_devtools.files.config_hints import allowed_keys, explain
from tests.support.data import base_config_data


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return explain(str(raised.value))


def test_config_hints_a_misspelt_table_gets_the_top_level_keys_and_the_nearest() -> None:
    # Given `[source.cad]` instead of `[sources.cad]`
    data = base_config_data()
    data["source"] = data.pop("sources")
    # Then the error names the allowed keys and suggests `sources`
    assert error_of(data) == (
        "relay.toml: source: Extra inputs are not permitted\n"
        "    allowed in the top level: archive, consumer, emergencies, erlc, ingress, mdts, northca, "
        "secrets, sources, units; "
        "did you mean 'sources'?"
    )


def test_config_hints_a_misspelt_key_in_a_source() -> None:
    data = base_config_data()
    data["sources"]["cad"]["adaptor"] = data["sources"]["cad"].pop("adapter")
    text = error_of(data)
    assert (
        "allowed in sources.cad: actor, adapter, archive_body, delivery_id_path, expect_every, guild_id, "
        "mdt_id, options, replay_protection, signature" in text
    )
    assert "did you mean 'sources.cad.adapter'?" in text


def test_config_hints_a_signature_option_is_looked_up_in_its_schemes_model() -> None:
    data = base_config_data()
    data["sources"]["cad"]["signature"]["tolerance"] = 300
    text = error_of(data)
    assert "allowed in sources.cad.signature: scheme, secret, tolerance_seconds" in text
    assert "did you mean 'sources.cad.signature.tolerance_seconds'?" in text


def test_config_hints_an_unknown_adapter_gets_the_nearest_name() -> None:
    data = base_config_data()
    data["sources"]["cad"]["adapter"] = "typefrom"
    assert error_of(data).endswith("\n    did you mean 'typeform'?")


def test_config_hints_other_errors_are_left_as_they_are() -> None:
    data = base_config_data()
    data["sources"]["cad"]["guild_id"] = "not-a-snowflake"
    text = error_of(data)
    assert "\n" not in text and "sources.cad.guild_id" in text


def test_config_hints_free_form_tables_have_no_allowed_list() -> None:
    assert allowed_keys(["sources", "cad", "options"]) is None
    assert allowed_keys(["northca"]) == [
        "base_url",
        "burst",
        "connect_timeout",
        "max_requests_per_second",
        "max_units_per_request",
        "partner_key_secret",
        "read_timeout",
        "throttle_alarm_after",
    ]
