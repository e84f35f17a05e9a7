"""relay.toml with its commented source examples switched on."""

from __future__ import annotations

import re

from tests.support.constants import ROOT

EXAMPLES_START = "# [sources.erlc]"
COMMENTED_KEY = re.compile(r"^# (\[[a-z0-9_.-]+\]|[a-z_]+ = .*)$")


def uncommented_relay_toml() -> str:
    text = (ROOT / "relay.toml").read_text(encoding="utf-8")
    head, _, tail = text.partition(EXAMPLES_START)
    lines = (EXAMPLES_START + tail).splitlines()
    return head + "\n".join(line[2:] if COMMENTED_KEY.match(line) else line for line in lines)
