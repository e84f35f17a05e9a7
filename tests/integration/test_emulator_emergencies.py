"""The partner's calls and panics over loopback HTTP: the relay's client against the emulator, every
answer one typed result, each undocumented answer as a mode, the faults aimed at calls and panics, and
the consumer's whole path (the real client, the partner key's life cycle) under every mode."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from relay.errors import (
    NorthcaAuthError,
    NorthcaConnectionError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaServerError,
    NorthcaUnexpectedStatusError,
)
from relay.memory import StaticSecrets
from relay.northca.client import NorthcaClient
from relay.northca.writer import PartnerWriter
from relay.ports.partner import NewCall
from relay_devtools.emulators.northca import Fault, NorthcaEmulator
from relay_devtools.emulators.northca.__main__ import parse_args
from tests.support.constants import ACTOR, GUILD, MDT, PARTNER_KEY
from tests.support.consumer import RecordingDeadLetters, record
from tests.support.emergencies import EmergencyHarness, call_message, panic_message

OTHER_GUILD = "999999999999999999"


@pytest.fixture
def emulator() -> Iterator[NorthcaEmulator]:
    with NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]}) as running:
        yield running


@pytest.fixture
def client(emulator: NorthcaEmulator) -> NorthcaClient:
    return NorthcaClient(emulator.base_url, PARTNER_KEY, connect_timeout=5.0, read_timeout=10.0)


CALL = NewCall("cad-7", {"location": "1 Main St", "units_assigned": ("ADAM-12",)}, created_by="John Doe")


def test_a_call_is_created_patched_and_read_as_typed_records(
    client: NorthcaClient, emulator: NorthcaEmulator
) -> None:
    created = client.create_call(MDT, GUILD, CALL, ACTOR)
    assert created is not None and created.call_id == "cad-7"
    assert created.fields["units_assigned"] == ("ADAM-12",) and created.fields["status"] == "open"
    patched = client.update_call(MDT, GUILD, "cad-7", {"status": "closed", "ignored": "x"}, ACTOR)
    assert patched is not None and patched.fields["status"] == "closed"
    read = client.update_call(MDT, GUILD, "cad-7", {})
    assert read is not None and read.fields["location"] == "1 Main St" and read.updated_at is not None
    [stored] = emulator.calls(MDT)
    assert stored["created_by"] == "John Doe" and stored["created_by_discord_id"] == ACTOR
    assert "ignored" not in stored  # "others are ignored"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("conflict", NorthcaUnexpectedStatusError), ("upsert", None), ("duplicate", None)],
)
def test_a_repeated_call_id_is_answered_as_the_mode_says(
    client: NorthcaClient, emulator: NorthcaEmulator, mode: str, expected: type[Exception] | None
) -> None:
    emulator.set_modes(repeated_call_id=mode)
    client.create_call(MDT, GUILD, CALL)
    if expected is not None:
        with pytest.raises(expected) as caught:
            client.create_call(MDT, GUILD, CALL)
        assert getattr(caught.value, "status", None) == 409
        assert len(emulator.calls(MDT)) == 1
        return
    again = client.create_call(MDT, GUILD, NewCall("cad-7", {"location": "2 Elm St"}))
    assert again is not None
    calls = emulator.calls(MDT)
    if mode == "upsert":
        assert len(calls) == 1 and calls[0]["location"] == "2 Elm St"
    else:
        assert len(calls) == 2 and again.call_id != "cad-7"


def test_unknown_calls_empty_patches_and_bodies_get_typed_errors(
    client: NorthcaClient, emulator: NorthcaEmulator
) -> None:
    with pytest.raises(NorthcaNotFoundError) as missing:
        client.update_call(MDT, GUILD, "nobody", {"status": "closed"})
    assert missing.value.status == 404
    client.create_call(MDT, GUILD, CALL)
    emulator.set_modes(empty_patch="refused")
    with pytest.raises(NorthcaInvalidRequestError):
        client.update_call(MDT, GUILD, "cad-7", {})
    with pytest.raises(NorthcaInvalidRequestError):
        client.create_call(MDT, GUILD, NewCall("cad-8", {"units_assigned": "ADAM-12"}))  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("not-found", NorthcaNotFoundError), ("bad-request", NorthcaInvalidRequestError), ("accept", None)],
)
def test_a_panic_for_a_unit_the_mdt_does_not_hold_is_answered_as_the_mode_says(
    client: NorthcaClient, emulator: NorthcaEmulator, mode: str, expected: type[Exception] | None
) -> None:
    emulator.set_modes(panic_inactive=mode)
    if expected is not None:
        with pytest.raises(expected):
            client.trigger_panic(MDT, GUILD, "ADAM-12", "Route 68")
        assert emulator.panics(MDT) == []
    else:
        assert client.trigger_panic(MDT, GUILD, "ADAM-12", "Route 68").unit_id == "ADAM-12"
    emulator.edit(MDT, "ADAM-12", {"status": "10-8"})
    answer = client.trigger_panic(MDT, GUILD, "ADAM-12", None)
    assert answer.unit_id == "ADAM-12" and answer.at is not None
    assert emulator.panics(MDT)[-1]["address"] is None


def test_calls_and_panics_keep_the_units_auth_rules(emulator: NorthcaEmulator) -> None:
    wrong = NorthcaClient(emulator.base_url, "not-the-key")
    with pytest.raises(NorthcaAuthError):
        wrong.create_call(MDT, GUILD, CALL)
    right = NorthcaClient(emulator.base_url, PARTNER_KEY)
    with pytest.raises(NorthcaForbiddenError):
        right.trigger_panic(MDT, OTHER_GUILD, "ADAM-12", None)


def test_faults_aim_at_calls_or_panics_and_leave_the_units_alone(
    client: NorthcaClient, emulator: NorthcaEmulator
) -> None:
    emulator.add_faults([Fault("status", status=500, target="calls", methods=frozenset({"POST"}))])
    emulator.edit(MDT, "ADAM-12", {"status": "10-8"})
    client.trigger_panic(MDT, GUILD, "ADAM-12", None)  # not a call: not hit
    with pytest.raises(NorthcaServerError):
        client.create_call(MDT, GUILD, CALL)
    emulator.add_faults([{"kind": "apply_then_drop", "target": "panics", "unit_ids": ["ADAM-12"]}])
    with pytest.raises(NorthcaConnectionError):  # the answer dropped
        client.trigger_panic(MDT, GUILD, "ADAM-12", None)
    assert len(emulator.panics(MDT)) == 2  # applied all the same
    emulator.add_faults([{"kind": "apply_late", "target": "calls", "call_ids": ["cad-7"]}])
    with pytest.raises(NorthcaConnectionError):  # no answer now; the create lands later
        client.create_call(MDT, GUILD, CALL)
    assert emulator.calls(MDT) == [] and emulator.land_late() == 1
    assert [c["id"] for c in emulator.calls(MDT)] == ["cad-7"]


def test_the_control_routes_list_calls_and_panics_edit_delete_and_set_modes(
    emulator: NorthcaEmulator,
) -> None:
    def control(method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(emulator.root_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]

    assert control("POST", "/_emulator/modes", {"repeated_call_id": "upsert"})["repeated_call_id"] == "upsert"
    NorthcaClient(emulator.base_url, PARTNER_KEY).create_call(MDT, GUILD, CALL)
    assert [c["id"] for c in control("GET", f"/_emulator/calls/{MDT}")] == ["cad-7"]
    assert control("PATCH", f"/_emulator/calls/{MDT}/cad-7", {"priority": "high"})[0]["priority"] == "high"
    assert control("DELETE", f"/_emulator/calls/{MDT}/cad-7") == {"deleted": 1}
    assert control("GET", f"/_emulator/panics/{MDT}") == []


def test_the_command_line_takes_each_mode() -> None:
    args = parse_args(["--partner-key", "k", "--repeated-call-id", "duplicate", "--panic-inactive", "accept"])
    assert (args.repeated_call_id, args.empty_patch, args.panic_inactive) == ("duplicate", "record", "accept")


# ------------------------------------------------------------------ the consumer, end to end over HTTP


def consumer(emulator: NorthcaEmulator) -> tuple[EmergencyHarness, PartnerWriter]:
    """The consumer with in-memory stores and the real partner writer and client, over HTTP."""
    h = EmergencyHarness()
    h.dead_letters = RecordingDeadLetters()
    writer = PartnerWriter(
        StaticSecrets({"northca/partner-key": PARTNER_KEY}),
        "northca/partner-key",
        lambda key: NorthcaClient(emulator.base_url, key, connect_timeout=5.0, read_timeout=3.0),
    )
    return h, writer


@pytest.mark.parametrize("mode", ["conflict", "upsert", "duplicate"])
def test_a_create_the_partner_made_before_its_answer_was_lost_is_one_call_over_http(
    emulator: NorthcaEmulator, mode: str
) -> None:
    emulator.set_modes(repeated_call_id=mode)
    emulator.add_faults([{"kind": "apply_then_drop", "target": "calls", "methods": ["POST"]}])
    h, writer = consumer(emulator)
    msg = call_message("wh-1", "7", location="1 Main St")
    assert h.run(record("m1", msg), writer=writer) == {"m1"}
    assert h.run(record("m1", msg, 2), record("m2", msg), writer=writer) == set()
    assert [c["id"] for c in emulator.calls(MDT)] == ["cad.7"]


@pytest.mark.parametrize("mode", ["not-found", "bad-request", "accept"])
def test_a_panic_lands_over_http_whatever_the_partner_says_of_an_inactive_unit(
    emulator: NorthcaEmulator, mode: str
) -> None:
    emulator.set_modes(panic_inactive=mode)
    h, writer = consumer(emulator)
    assert h.run(record("m1", panic_message("wh-1", "ADAM-12", address="Route 68")), writer=writer) == set()
    [panic] = emulator.panics(MDT)
    assert panic["unit_id"] == "ADAM-12" and panic["address"] == "Route 68"
