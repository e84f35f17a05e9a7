"""The cases of issue #10 that broke a promise of docs/security.md, each through the real handler (moto
for AWS): what the tester sent, and the answer the relay now gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.data import scheme_config_data
from tests.support.ingress import Stack, event, signed


@pytest.fixture
def config_data() -> dict[str, Any]:
    return scheme_config_data()


def units_body(**unit: Any) -> bytes:
    return json.dumps({"units": [{"id": "ADAM-12", "status": "10-8", **unit}]}).encode()


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_event_time_outside_utc_is_a_422_naming_the_field_not_a_500(stack: Stack, at: str) -> None:
    # Given an authentic delivery whose event time has no UTC form
    delivery = signed(stack.config, "cad", units_body(at=at))
    # When the handler gets it / Then the sender learns which field, and nothing is queued
    status, answer = stack.invoke(event("cad", delivery))
    assert (status, answer["ok"]) == (422, False)
    assert answer["error"] == f"units.0.at: Value error, {at} is outside the range of UTC times"
    assert stack.queued() == []


@pytest.mark.parametrize("unit_id", ["\x1c", "\x1f\x1e\x1d\x1c"], ids=["1c", "1f1e1d1c"])
def test_an_id_the_partner_refuses_is_a_422_at_the_door_not_a_dead_letter(stack: Stack, unit_id: str) -> None:
    # Given an id that Python's str.strip() (the partner's rule) leaves empty
    delivery = signed(stack.config, "cad", units_body(id=unit_id))
    status, answer = stack.invoke(event("cad", delivery))
    # Then it is refused with where it is, and never queued
    assert (status, answer) == (
        422,
        {"ok": False, "error": "units.0.id: Value error, empty once surrounding blanks are trimmed"},
    )
    assert stack.queued() == []
