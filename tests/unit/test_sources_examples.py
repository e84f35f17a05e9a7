"""The commented source examples in relay.toml stay valid: uncommented, the file still loads."""

from __future__ import annotations

import re
import tomllib

from relay.sources.registry import KINDS, parse_config
from tests.support.constants import ROOT

EXAMPLES_START = "# [sources.erlc]"
COMMENTED_KEY = re.compile(r"^# (\[[a-z0-9_.-]+\]|[a-z_]+ = .*)$")


def uncommented_relay_toml() -> str:
    text = (ROOT / "relay.toml").read_text(encoding="utf-8")
    head, _, tail = text.partition(EXAMPLES_START)
    lines = (EXAMPLES_START + tail).splitlines()
    return head + "\n".join(line[2:] if COMMENTED_KEY.match(line) else line for line in lines)


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
