"""Every preset that can be written as a mapping is: docs/sources/mappings/*.toml hold both, side by side.

Each file has `[sources.X]` (the preset) and `[sources.X-as-mapping]` (adapter = "mapping"); both must
turn the sample payload into the same unit changes.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from relay.config.loader import build_adapter, parse_config
from relay.memory import InMemorySourceStateStore
from relay.models import UnitChange
from relay.sources import AdapterContext
from tests.support.constants import NOW, ROOT
from tests.support.data import base_config_data, load_event

MAPPINGS = ROOT / "docs" / "sources" / "mappings"


def text_answers_only(payload: dict[str, Any]) -> dict[str, Any]:
    """Tally's choice answers are option ids, which only the preset can read back: drop them."""
    fields = [f for f in payload["data"]["fields"] if not isinstance(f.get("value"), list)]
    return {**payload, "data": {**payload["data"], "fields": fields}}


CASES = {
    "snailycad": ("snailycad_unit_status.json", None),
    "discord": ("discord_embed.json", None),
    "google-forms": ("google_forms_submission.json", None),
    "typeform": ("typeform_response.json", None),
    "tally": ("tally_response.json", text_answers_only),
    "sonoran": ("sonoran_unit_login.json", None),
}


def normalise(data: dict[str, Any], name: str, payload: dict[str, Any]) -> list[UnitChange]:
    config = parse_config(data, origin=name)
    adapter, _ = build_adapter(name, config.sources[name])
    context = AdapterContext(source=name, received_at=NOW, state=InMemorySourceStateStore())
    return adapter.normalise(payload, context)


def test_every_mapping_file_has_a_case() -> None:
    assert {path.stem for path in MAPPINGS.glob("*.toml")} == set(CASES)


@pytest.mark.parametrize("preset", sorted(CASES))
def test_mapping_reproduces_the_preset(preset: str) -> None:
    # Given the preset and its mapping twin from the docs, loaded as relay.toml would be
    path: Path = MAPPINGS / f"{preset}.toml"
    data = base_config_data()
    data["sources"].update(tomllib.loads(path.read_text(encoding="utf-8"))["sources"])
    event, prepare = CASES[preset]
    payload = load_event(event)
    if prepare:
        payload = prepare(payload)
    # When both normalise the same real-shaped payload
    from_preset = normalise(data, preset, payload)
    from_mapping = normalise(data, f"{preset}-as-mapping", payload)
    # Then they give the same, non-empty, unit changes
    assert from_preset
    assert from_mapping == from_preset


def test_the_snailycad_mapping_reproduces_the_preset_on_every_real_unit_status_body() -> None:
    # Given every UNIT_STATUS body in tests/payloads/snailycad (officers, a deputy, combined units)
    data = base_config_data()
    data["sources"].update(
        tomllib.loads((MAPPINGS / "snailycad.toml").read_text(encoding="utf-8"))["sources"]
    )
    bodies = sorted((ROOT / "tests" / "payloads" / "snailycad").glob("unit_status_*.json"))
    assert len(bodies) >= 5
    for path in bodies:
        payload = json.loads(path.read_text(encoding="utf-8"))
        # Then the mapping written in the docs gives the preset's units
        assert normalise(data, "snailycad-as-mapping", payload) == normalise(data, "snailycad", payload), (
            path.name
        )
