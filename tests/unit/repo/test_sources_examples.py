"""The commented source examples in relay.toml stay valid: uncommented, the file still loads."""

from __future__ import annotations

import tomllib

from relay.config.loader import parse_config
from relay.sources.registry import KINDS
from tests.support.constants import ROOT
from tests.support.examples import uncommented_relay_toml


def test_relay_toml_examples_uncommented_are_a_valid_config() -> None:
    # Given relay.toml with every commented example switched on
    config = parse_config(tomllib.loads(uncommented_relay_toml()))
    # Then every adapter has an example, the demo source is still there, and the ER:LC server too
    assert {source.adapter for source in config.sources.values()} == set(KINDS)
    assert config.sources["cad"].adapter == "units"
    assert list(config.erlc.servers) == ["main"]
    assert "relay/erlc/main" in config.secret_names()


def test_relay_toml_as_shipped_has_only_the_demo_source() -> None:
    config = parse_config(tomllib.loads((ROOT / "relay.toml").read_text(encoding="utf-8")))
    assert list(config.sources) == ["cad"]
    assert config.erlc.servers == {}
