"""The Northca emulator over real loopback HTTP, and its contract test against the partner's OpenAPI file.

The relay's tests trust the emulator to behave like the partner, so it is held to the contract here:
messages are read from contracts/northca-partner-api.yaml, and every response is checked against the
spec's schemas with a small structural checker.
"""

from __future__ import annotations

import contextlib
import http.client
import inspect
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from relay_devtools.emulators.northca import (
    FAULT_KINDS,
    MAX_LOGGED_REQUESTS,
    UNIT_FIELDS,
    Fault,
    NorthcaEmulator,
)
from relay_devtools.emulators.northca.__main__ import parse_args
from tests.support.clocks import FixedClock
from tests.support.constants import ACTOR, GUILD, MDT, PARTNER_KEY
from tests.support.standalone import standalone_emulator

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "contracts" / "northca-partner-api.yaml"
UNITS_PATH = "/mdts/{mdtId}/units/active"
OTHER_GUILD = "999999999999999999"
OTHER_MDT = "5d1e8a4b-0000-4000-8000-000000000000"
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ADAM = {
    "id": "ADAM-12",
    "officer_name": "B. Bubbleton",
    "officer_badge": "512",
    "department": "Patrol",
    "rank": "PO",
    "status": "10-8",
}


# --- a small client ------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    json: Any


class Api:
    """Requests to one emulator, with the partner's auth headers unless a test overrides them."""

    def __init__(self, emulator: NorthcaEmulator, pool: urllib3.PoolManager) -> None:
        self.emulator = emulator
        self.pool = pool

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: Mapping[str, str | None] | None = None,
        read_timeout: float = 5.0,
        root: bool = False,
    ) -> Answer:
        """`headers` are merged over the auth headers; a None value removes one. `root`: no /v1."""
        merged: dict[str, str | None] = {
            "x-partner-key": PARTNER_KEY,
            "x-discord-guild": GUILD,
            "content-type": "application/json",
        }
        merged.update(headers or {})
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        base = self.emulator.root_url if root else self.emulator.base_url
        response = self.pool.request(
            method,
            base + path,
            body=payload,
            headers={k: v for k, v in merged.items() if v is not None},
            timeout=urllib3.Timeout(connect=2.0, read=read_timeout),
            retries=False,
        )
        return Answer(response.status, response.headers, json.loads(response.data))

    def upsert(self, units: Any, mdt: str = MDT, **kwargs: Any) -> Answer:
        return self.request("PUT", f"/mdts/{mdt}/units/active", body={"units": units}, **kwargs)

    def list(self, mdt: str = MDT, **kwargs: Any) -> Answer:
        return self.request("GET", f"/mdts/{mdt}/units/active", **kwargs)

    def control(self, method: str, route: str, body: Any = None) -> Answer:
        return self.request(method, f"/_emulator/{route}", body=body, root=True)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def emulator(clock: FixedClock) -> Iterator[NorthcaEmulator]:
    with NorthcaEmulator([PARTNER_KEY], {MDT: [GUILD]}, clock=clock) as running:
        yield running


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    manager = urllib3.PoolManager(retries=False)
    yield manager
    manager.clear()


@pytest.fixture
def api(emulator: NorthcaEmulator, pool: urllib3.PoolManager) -> Api:
    return Api(emulator, pool)


def error_of(answer: Answer) -> str:
    assert answer.json["ok"] is False
    message: str = answer.json["error"]
    return message


# --- authentication and links --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"x-partner-key": None}, id="no-key"),
        pytest.param({"x-partner-key": ""}, id="empty-key"),
        pytest.param({"x-partner-key": "not-the-key"}, id="wrong-key"),
        pytest.param({"x-discord-guild": None}, id="no-guild"),
        pytest.param({"x-discord-guild": ""}, id="empty-guild"),
    ],
)
def test_upsert_without_valid_key_or_guild_is_unauthorized(
    api: Api, emulator: NorthcaEmulator, headers: dict[str, str | None]
) -> None:
    # Given a request missing a valid partner key or the required guild header
    # When it upserts a unit
    answer = api.upsert([ADAM], headers=headers)
    # Then it is refused with 401 Unauthorized and nothing is stored
    assert (answer.status, error_of(answer)) == (401, "Unauthorized")
    assert emulator.units(MDT) == {}


@pytest.mark.parametrize(
    "mdt, guild", [(MDT, OTHER_GUILD), (OTHER_MDT, GUILD)], ids=["other-guild", "other-mdt"]
)
def test_upsert_for_unlinked_mdt_and_guild_is_forbidden(
    api: Api, emulator: NorthcaEmulator, mdt: str, guild: str
) -> None:
    # Given an MDT that is not linked to the guild named in x-discord-guild
    # When a correctly keyed request upserts to it
    answer = api.upsert([ADAM], mdt=mdt, headers={"x-discord-guild": guild})
    # Then it is refused with 403 and nothing is stored
    assert (answer.status, error_of(answer)) == (403, "MDT not linked to this guild")
    assert emulator.units(mdt) == {}


def test_link_grants_a_new_guild_access(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a guild refused at first
    assert api.upsert([ADAM], headers={"x-discord-guild": OTHER_GUILD}).status == 403
    # When the MDT is linked to it at runtime
    emulator.link(MDT, OTHER_GUILD)
    # Then the same request succeeds
    assert api.upsert([ADAM], headers={"x-discord-guild": OTHER_GUILD}).status == 200


def test_set_partner_keys_rotates_the_accepted_keys(api: Api, emulator: NorthcaEmulator) -> None:
    # Given the emulator accepts the current key
    assert api.upsert([ADAM]).status == 200
    # When the partner rotates to a new key
    emulator.set_partner_keys(["rotated-key"])
    # Then the old key is unauthorized and the new one works
    assert api.upsert([ADAM]).status == 401
    assert api.upsert([ADAM], headers={"x-partner-key": "rotated-key"}).status == 200


def test_constructor_takes_a_lone_string_as_one_guild(pool: urllib3.PoolManager) -> None:
    # Given links whose guild is given as a bare string rather than a list
    with NorthcaEmulator([PARTNER_KEY], {MDT: GUILD}) as emulator:
        # When a request for that guild arrives
        answer = Api(emulator, pool).upsert([ADAM])
    # Then the string is one guild id, not a set of characters
    assert answer.status == 200


# --- body validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b'{"units": [{"id": "A", "rank": NaN}]}', id="nan-is-not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"units"', id="string"),
        pytest.param(b"{}", id="no-units"),
        pytest.param(b'{"units": {"id": "A"}}', id="units-object"),
        pytest.param(b'{"units": null}', id="units-null"),
        pytest.param(b'{"units": [], "mdt": "x"}', id="extra-top-level-key"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_upsert_body_without_units_array_is_rejected(api: Api, raw: bytes) -> None:
    # Given a body that is not exactly { "units": [...] }
    # When it is sent
    answer = api.request("PUT", f"/mdts/{MDT}/units/active", raw=raw)
    # Then the partner's verbatim message comes back with 400
    assert (answer.status, error_of(answer)) == (400, "Expected { units: [...] }")


@pytest.mark.parametrize(
    "unit",
    [
        pytest.param({"status": "10-8"}, id="missing"),
        pytest.param({"id": ""}, id="empty"),
        pytest.param({"id": "   "}, id="blank"),
        pytest.param({"id": None}, id="null"),
        pytest.param({"id": 12}, id="number"),
        pytest.param("ADAM-12", id="unit-not-object"),
    ],
)
def test_upsert_unit_without_valid_id_is_rejected(api: Api, emulator: NorthcaEmulator, unit: Any) -> None:
    # Given a valid unit followed by one without a usable id
    # When both are upserted together
    answer = api.upsert([ADAM, unit])
    # Then the whole request is refused with the verbatim message, and the valid unit is not stored
    assert (answer.status, error_of(answer)) == (400, "Each unit must include a non-empty id")
    assert emulator.units(MDT) == {}


def test_upsert_duplicate_ids_are_rejected(api: Api, emulator: NorthcaEmulator) -> None:
    # Given two units with the same id in one request
    # When they are upserted
    answer = api.upsert([ADAM, {"id": "LINCOLN-3"}, {**ADAM, "status": "10-7"}])
    # Then the request is refused verbatim and nothing is stored (the check is atomic)
    assert (answer.status, error_of(answer)) == (400, "Duplicate unit id in request body")
    assert emulator.units(MDT) == {}


@pytest.mark.parametrize(
    "unit",
    [
        pytest.param({**ADAM, "callsign": "A12"}, id="unknown-field"),
        pytest.param({**ADAM, "mdt_code": "0C7F6A"}, id="read-only-field"),
        pytest.param({**ADAM, "officer_badge": 512}, id="number"),
        pytest.param({**ADAM, "status": True}, id="boolean"),
        pytest.param({**ADAM, "rank": ["PO"]}, id="array"),
        pytest.param({**ADAM, "department": {"name": "Patrol"}}, id="object"),
    ],
)
def test_upsert_unit_with_unknown_or_non_string_field_is_rejected(
    api: Api, emulator: NorthcaEmulator, unit: dict[str, Any]
) -> None:
    # Given a unit with a field outside the schema or a value that is neither string nor null
    # When it is upserted
    answer = api.upsert([unit])
    # Then the emulator refuses the shape (items have additionalProperties: false) and stores nothing
    assert (answer.status, error_of(answer)) == (400, "Expected { units: [...] }")
    assert emulator.units(MDT) == {}


def test_upsert_reports_the_first_broken_unit(api: Api) -> None:
    # Given a duplicate id (second unit) before a unit with no id (third unit)
    # When they are upserted
    answer = api.upsert([{"id": "A"}, {"id": "A"}, {"status": "10-8"}])
    # Then units are checked in order and the first error wins
    assert error_of(answer) == "Duplicate unit id in request body"


# --- storage -------------------------------------------------------------------------------------


def test_upsert_stores_missing_fields_as_empty_strings(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a unit that only sets its status
    # When it is upserted
    answer = api.upsert([{"id": "ADAM-12", "status": "10-8"}])
    # Then every writable field it left out is stored as "" (the partner's quirk)
    record = emulator.units(MDT)["ADAM-12"]
    assert {name: record[name] for name in UNIT_FIELDS} == {
        "id": "ADAM-12",
        "officer_name": "",
        "officer_badge": "",
        "department": "",
        "rank": "",
        "status": "10-8",
    }
    assert answer.json["data"] == [record]


def test_upsert_replaces_every_writable_field(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a fully populated unit
    api.upsert([ADAM])
    # When a later upsert sends only the new status
    api.upsert([{"id": "ADAM-12", "status": "10-7"}])
    # Then the fields it left out are wiped to "", not kept
    record = emulator.units(MDT)["ADAM-12"]
    assert (record["officer_name"], record["department"], record["status"]) == ("", "", "10-7")


def test_upsert_stores_explicit_null_as_null(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a unit with explicit nulls
    # When it is upserted
    api.upsert([{"id": "ADAM-12", "officer_name": None, "rank": None, "status": "10-8"}])
    # Then null is kept as null, distinct from the "" of an omitted field
    record = emulator.units(MDT)["ADAM-12"]
    assert (record["officer_name"], record["rank"], record["department"]) == (None, None, "")


def test_upsert_sets_audit_times_from_the_injected_clock(
    api: Api, emulator: NorthcaEmulator, clock: FixedClock
) -> None:
    # Given a unit created at the clock's time
    api.upsert([ADAM])
    created = emulator.units(MDT)["ADAM-12"]
    # When it is upserted again 1.5 s later
    clock.advance(1.5)
    api.upsert([ADAM])
    updated = emulator.units(MDT)["ADAM-12"]
    # Then created_at stays, updated_at and last_seen move; all are UTC with milliseconds and Z
    assert (
        created["created_at"] == created["updated_at"] == created["last_seen"] == "2026-11-28T12:00:00.000Z"
    )
    assert updated["created_at"] == "2026-11-28T12:00:00.000Z"
    assert updated["updated_at"] == updated["last_seen"] == "2026-11-28T12:00:01.500Z"
    assert all(ISO_MS_Z.match(updated[name]) for name in ("created_at", "updated_at", "last_seen"))


def test_upsert_records_the_creating_actor_and_keeps_it(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a unit created by one actor
    api.upsert([ADAM], headers={"x-discord-actor": ACTOR})
    # When another actor, then no actor, upserts it
    api.upsert([ADAM], headers={"x-discord-actor": "333333333333333333"})
    api.upsert([ADAM])
    # Then created_by_discord_id is still the creator
    assert emulator.units(MDT)["ADAM-12"]["created_by_discord_id"] == ACTOR


def test_upsert_without_actor_leaves_creator_null(api: Api, emulator: NorthcaEmulator) -> None:
    # Given no x-discord-actor header (it is optional)
    # When a unit is created
    answer = api.upsert([ADAM])
    # Then the upsert succeeds and the creator is null
    assert answer.status == 200
    assert emulator.units(MDT)["ADAM-12"]["created_by_discord_id"] is None


def test_upsert_derives_mdt_code_from_the_mdt_id(api: Api, emulator: NorthcaEmulator) -> None:
    # Given the MDT 0c7f6a0c-...
    # When a unit is upserted
    api.upsert([ADAM])
    # Then its mdt_code is a short upper-case code taken from the id
    assert emulator.units(MDT)["ADAM-12"]["mdt_code"] == "0C7F6A"


def test_upsert_answers_the_upserted_records_in_request_order(api: Api, emulator: NorthcaEmulator) -> None:
    # Given an existing unit that will not be in the next request
    api.upsert([{"id": "ZULU-1"}])
    # When two units are upserted, the later id first
    answer = api.upsert([{"id": "LINCOLN-3"}, ADAM])
    # Then 200 carries exactly those records, in request order, equal to what is stored
    assert answer.status == 200
    assert answer.json["ok"] is True
    stored = emulator.units(MDT)
    assert answer.json["data"] == [stored["LINCOLN-3"], stored["ADAM-12"]]


def test_upsert_of_empty_units_list_succeeds(api: Api, emulator: NorthcaEmulator) -> None:
    # Given an empty units array
    # When it is upserted
    answer = api.upsert([])
    # Then it is a valid no-op
    assert (answer.status, answer.json) == (200, {"ok": True, "data": []})
    assert emulator.units(MDT) == {}


def test_upsert_keeps_each_mdt_separate(api: Api, emulator: NorthcaEmulator) -> None:
    # Given two MDTs linked to the same guild
    emulator.link(OTHER_MDT, GUILD)
    # When the same unit id is upserted to each
    api.upsert([ADAM])
    api.upsert([{"id": "ADAM-12", "status": "10-6"}], mdt=OTHER_MDT)
    # Then each MDT has its own record
    assert emulator.units(MDT)["ADAM-12"]["status"] == "10-8"
    assert emulator.units(OTHER_MDT)["ADAM-12"]["status"] == "10-6"


def test_upsert_accepts_a_percent_encoded_mdt_id(api: Api, emulator: NorthcaEmulator) -> None:
    # Given an MDT id with a character a client must percent-encode
    emulator.link("mdt one", GUILD)
    # When the path carries it encoded
    answer = api.upsert([ADAM], mdt="mdt%20one")
    # Then the unit is stored under the decoded id
    assert answer.status == 200
    assert list(emulator.units("mdt one")) == ["ADAM-12"]


def test_units_returns_a_copy(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a stored unit
    api.upsert([ADAM])
    # When a test mutates what units() returned
    emulator.units(MDT)["ADAM-12"]["status"] = "tampered"
    # Then the emulator's state is unchanged
    assert emulator.units(MDT)["ADAM-12"]["status"] == "10-8"


def test_upsert_from_many_threads_loses_nothing(emulator: NorthcaEmulator) -> None:
    # Given eight clients upserting distinct units at the same time
    def worker(n: int) -> None:
        client = Api(emulator, urllib3.PoolManager(retries=False))
        for i in range(10):
            assert client.upsert([{"id": f"U-{n}-{i}"}]).status == 200

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    # When they all finish
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then every unit and every request is there
    assert len(emulator.units(MDT)) == 80
    assert len(emulator.requests()) == 80


# --- list ----------------------------------------------------------------------------------------


def test_list_returns_records_sorted_by_id(api: Api, emulator: NorthcaEmulator) -> None:
    # Given units upserted out of order
    api.upsert([{"id": "LINCOLN-3"}, ADAM])
    api.upsert([{"id": "BOY-1"}])
    # When the active units are listed
    answer = api.list()
    # Then all records come back sorted by id
    assert answer.status == 200
    assert [r["id"] for r in answer.json["data"]] == ["ADAM-12", "BOY-1", "LINCOLN-3"]
    assert answer.json["data"][0] == emulator.units(MDT)["ADAM-12"]


def test_list_of_an_empty_mdt_is_an_empty_array(api: Api) -> None:
    # Given no units yet
    # When they are listed
    answer = api.list()
    # Then data is []
    assert (answer.status, answer.json) == (200, {"ok": True, "data": []})


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"x-partner-key": "wrong"}, 401),
        ({"x-discord-guild": None}, 401),
        ({"x-discord-guild": OTHER_GUILD}, 403),
    ],
    ids=["wrong-key", "no-guild", "unlinked-guild"],
)
def test_list_checks_key_guild_and_link(api: Api, headers: dict[str, str | None], status: int) -> None:
    # Given a stored unit
    api.upsert([ADAM])
    # When it is listed with bad credentials or an unlinked guild
    answer = api.list(headers=headers)
    # Then the same 401/403 as the upsert come back
    assert answer.status == status
    assert answer.json["ok"] is False


# --- request log ---------------------------------------------------------------------------------


def test_request_log_redacts_the_partner_key(api: Api, emulator: NorthcaEmulator) -> None:
    # Given an upsert with an actor
    api.upsert([ADAM], headers={"X-Discord-Actor": ACTOR})
    # When the log is read over HTTP
    answer = api.control("GET", "requests")
    # Then the entry has the method, path, lower-case headers with the key masked, parsed body, status
    (entry,) = answer.json["data"]
    assert entry["method"] == "PUT"
    assert entry["path"] == f"/v1/mdts/{MDT}/units/active"
    assert entry["headers"]["x-partner-key"] == "***"
    assert entry["headers"]["x-discord-actor"] == ACTOR
    assert entry["headers"]["x-discord-guild"] == GUILD
    assert all(name == name.lower() for name in entry["headers"])
    assert PARTNER_KEY not in json.dumps(answer.json)
    assert entry["body"] == {"units": [ADAM]}
    assert (entry["status"], entry["fault"]) == (200, None)
    assert emulator.requests() == [entry]


def test_request_log_keeps_raw_text_of_a_non_json_body(api: Api) -> None:
    # Given a body that is not JSON
    api.request("PUT", f"/mdts/{MDT}/units/active", raw=b"units=ADAM-12")
    # When the log is read
    (entry,) = api.control("GET", "requests").json["data"]
    # Then the raw text and the 400 are logged
    assert (entry["body"], entry["status"]) == ("units=ADAM-12", 400)


def test_request_log_leaves_out_control_routes(api: Api) -> None:
    # Given an API request, a 404 and some control calls
    api.list()
    api.request("GET", "/nope")
    api.control("GET", "health")
    api.control("GET", "faults")
    # When the log is read
    entries = api.control("GET", "requests").json["data"]
    # Then only the API requests are there, unknown routes included
    assert [(e["method"], e["status"]) for e in entries] == [("GET", 200), ("GET", 404)]


def test_request_log_is_cleared_over_http(api: Api, emulator: NorthcaEmulator) -> None:
    # Given two logged requests
    api.upsert([ADAM])
    api.list()
    # When DELETE /_emulator/requests is called
    answer = api.control("DELETE", "requests")
    # Then the log is empty
    assert (answer.status, answer.json["data"]) == (200, {"cleared": 2})
    assert emulator.requests() == []


def test_request_log_keeps_only_the_latest_entries(pool: urllib3.PoolManager) -> None:
    # Given an emulator whose log holds three entries
    with NorthcaEmulator([PARTNER_KEY], {MDT: [GUILD]}, max_logged_requests=3) as emulator:
        api = Api(emulator, pool)
        # When five requests are sent
        for n in range(5):
            api.upsert([{"id": f"U-{n}"}])
        entries = emulator.requests()
    # Then only the last three are kept; the default bound is 10,000
    assert [e["body"]["units"][0]["id"] for e in entries] == ["U-2", "U-3", "U-4"]
    assert MAX_LOGGED_REQUESTS == 10_000
    assert inspect.signature(NorthcaEmulator).parameters["max_logged_requests"].default == 10_000


# --- routing and HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, root",
    [
        ("GET", "/mdts", False),
        ("PUT", f"/mdts/{MDT}/units/active/", False),
        ("GET", f"/mdts/{MDT}/units", False),
        ("GET", "/", True),
        ("GET", "/_emulator/nope", True),
    ],
)
def test_unknown_route_is_not_found(api: Api, method: str, path: str, root: bool) -> None:
    # Given a path the API does not have
    # When it is requested
    answer = api.request(method, path, root=root)
    # Then 404 in the error envelope
    assert (answer.status, answer.json) == (404, {"ok": False, "error": "Not found"})


@pytest.mark.parametrize(
    "method, path, root, allow",
    [
        ("POST", f"/mdts/{MDT}/units/active", False, "GET, PUT"),
        ("DELETE", f"/mdts/{MDT}/units/active", False, "GET, PUT"),
        ("PATCH", f"/mdts/{MDT}/units/active", False, "GET, PUT"),
        ("PUT", "/_emulator/health", True, "GET"),
        ("PUT", "/_emulator/requests", True, "GET, DELETE"),
        ("PUT", "/_emulator/faults", True, "GET, POST, DELETE"),
    ],
)
def test_wrong_method_is_not_allowed(api: Api, method: str, path: str, root: bool, allow: str) -> None:
    # Given a known route
    # When it is called with a method it does not take
    answer = api.request(method, path, root=root, body={"units": []})
    # Then 405 in the envelope, with Allow
    assert (answer.status, answer.json["ok"]) == (405, False)
    assert answer.headers["allow"] == allow


def test_health_is_ok(api: Api) -> None:
    # Given a running emulator
    # When its health is checked
    answer = api.control("GET", "health")
    # Then it answers 200
    assert (answer.status, answer.json) == (200, {"ok": True, "data": {"status": "ok"}})


def test_server_answers_json_with_content_length_on_a_kept_alive_connection(
    emulator: NorthcaEmulator,
) -> None:
    # Given one HTTP/1.1 connection
    host, port = emulator.root_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"x-partner-key": PARTNER_KEY, "x-discord-guild": GUILD, "content-type": "application/json"}
    try:
        # When three requests (ok, refused, unknown) go over it
        answers = []
        sockets = []
        for method, path, body in [
            ("PUT", f"/v1/mdts/{MDT}/units/active", json.dumps({"units": [ADAM]})),
            ("PUT", f"/v1/mdts/{MDT}/units/active", "{"),
            ("GET", "/v1/nope", None),
        ]:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            sockets.append(conn.sock)
            answers.append(
                (
                    response.status,
                    response.getheader("content-type"),
                    response.getheader("content-length"),
                    data,
                )
            )
    finally:
        conn.close()
    # Then each is JSON with an exact Content-Length, and the connection was reused throughout
    assert [a[0] for a in answers] == [200, 400, 404]
    for _, content_type, length, data in answers:
        assert content_type is not None and content_type.startswith("application/json")
        assert length == str(len(data))
        json.loads(data)
    assert sockets[0] is not None and all(s is sockets[0] for s in sockets)


def test_server_reads_a_chunked_body(emulator: NorthcaEmulator) -> None:
    # Given a client that streams the body with chunked transfer encoding
    host, port = emulator.root_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"x-partner-key": PARTNER_KEY, "x-discord-guild": GUILD, "content-type": "application/json"}
    try:
        # When it upserts
        conn.request(
            "PUT",
            f"/v1/mdts/{MDT}/units/active",
            body=iter([b'{"units": [', json.dumps(ADAM).encode(), b"]}"]),
            headers=headers,
            encode_chunked=True,
        )
        status = conn.getresponse().status
    finally:
        conn.close()
    # Then the body is read whole and stored
    assert status == 200
    assert emulator.units(MDT)["ADAM-12"] == {**emulator.units(MDT)["ADAM-12"], **ADAM}


def raw_exchange(emulator: NorthcaEmulator, request: bytes) -> tuple[int, dict[str, Any]]:
    host, port = emulator.root_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def test_server_refuses_an_unreadable_content_length_in_the_envelope(emulator: NorthcaEmulator) -> None:
    # Given a request whose Content-Length is not a number
    request = b"PUT /v1/mdts/x/units/active HTTP/1.1\r\nHost: h\r\nContent-Length: ten\r\n\r\n"
    # When it is sent
    status, body = raw_exchange(emulator, request)
    # Then 400 comes back in the error envelope
    assert (status, body) == (400, {"ok": False, "error": "Invalid Content-Length"})


def test_server_answers_an_unknown_http_method_in_the_envelope(emulator: NorthcaEmulator) -> None:
    # Given a method the server has no handler for
    # When it is sent
    status, body = raw_exchange(emulator, b"BREW /v1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
    # Then the stdlib's 501 is still JSON in the envelope
    assert status == 501
    assert body["ok"] is False and "BREW" in body["error"]


# --- faults --------------------------------------------------------------------------------------


def test_status_fault_answers_without_storing(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a 500 fault with a message
    emulator.add_faults([{"kind": "status", "status": 500, "body": "Internal error"}])
    # When a unit is upserted
    answer = api.upsert([ADAM])
    # Then the fault's answer comes back and nothing is stored; the log names the fault
    assert (answer.status, answer.json) == (500, {"ok": False, "error": "Internal error"})
    assert emulator.units(MDT) == {}
    assert (emulator.requests()[-1]["status"], emulator.requests()[-1]["fault"]) == (500, "status")


def test_status_fault_defaults_to_500_with_the_status_phrase(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a status fault with nothing but its kind
    emulator.add_faults([{"kind": "status"}])
    # When a unit is upserted
    answer = api.upsert([ADAM])
    # Then 500 with the standard phrase
    assert (answer.status, error_of(answer)) == (500, "Internal Server Error")


def test_fault_count_limits_how_many_upserts_it_hits(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a 502 fault for two requests
    emulator.add_faults([Fault(kind="status", status=502, count=2)])
    # When three upserts are sent
    statuses = [api.upsert([ADAM]).status for _ in range(3)]
    # Then the first two fail and the third is stored
    assert statuses == [502, 502, 200]
    assert "ADAM-12" in emulator.units(MDT)


def test_permanent_fault_hits_every_upsert(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a status fault with count None
    emulator.add_faults([{"kind": "status", "status": 503, "count": None}])
    # When several upserts are sent
    statuses = [api.upsert([ADAM]).status for _ in range(4)]
    # Then every one fails and the fault is still pending
    assert statuses == [503] * 4
    assert emulator.pending_faults()[0]["remaining"] is None


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("retry_after", ["2", "1.5", "Sat, 28 Nov 2026 12:00:05 GMT", "garbage"])
def test_throttle_fault_sends_retry_after_verbatim(
    api: Api, emulator: NorthcaEmulator, status: int, retry_after: str
) -> None:
    # Given a throttle fault with a Retry-After value, sane or not
    emulator.add_faults([{"kind": "throttle", "status": status, "retry_after": retry_after}])
    # When a unit is upserted
    answer = api.upsert([ADAM])
    # Then the status and the header come back exactly as given, and nothing is stored
    assert answer.status == status
    assert answer.headers["retry-after"] == retry_after
    assert answer.json["ok"] is False
    assert emulator.units(MDT) == {}


def test_throttle_fault_without_retry_after_sends_no_header(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a bare throttle fault
    emulator.add_faults([{"kind": "throttle"}])
    # When a unit is upserted
    answer = api.upsert([ADAM])
    # Then 429 without Retry-After
    assert answer.status == 429
    assert "retry-after" not in answer.headers


def test_latency_fault_delays_then_handles_normally(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a 0.3 s latency fault
    emulator.add_faults([{"kind": "latency", "seconds": 0.3}])
    # When a unit is upserted
    started = time.monotonic()
    answer = api.upsert([ADAM])
    elapsed = time.monotonic() - started
    # Then the answer is late but normal, and the unit is stored
    assert elapsed >= 0.3
    assert answer.status == 200
    assert "ADAM-12" in emulator.units(MDT)


def test_timeout_fault_outlasts_the_read_timeout_and_stores_nothing(
    api: Api, emulator: NorthcaEmulator
) -> None:
    # Given a fault that waits longer than the client's 0.5 s read timeout
    emulator.add_faults([{"kind": "timeout", "seconds": 1.0}])
    # When a unit is upserted
    with pytest.raises(ReadTimeoutError):
        api.upsert([ADAM], read_timeout=0.5)
    # Then nothing is stored, the request is logged unanswered, and the next upsert works
    assert emulator.units(MDT) == {}
    assert (emulator.requests()[-1]["status"], emulator.requests()[-1]["fault"]) == (None, "timeout")
    assert api.upsert([ADAM]).status == 200


def test_drop_fault_closes_without_answering_and_stores_nothing(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a drop fault
    emulator.add_faults([{"kind": "drop"}])
    # When a unit is upserted
    with pytest.raises(ProtocolError):
        api.upsert([ADAM], read_timeout=0.5)
    # Then the connection ended with no response and nothing is stored
    assert emulator.units(MDT) == {}
    assert emulator.requests()[-1]["fault"] == "drop"


def test_apply_then_drop_fault_stores_but_never_answers(api: Api, emulator: NorthcaEmulator) -> None:
    # Given an apply_then_drop fault
    emulator.add_faults([{"kind": "apply_then_drop"}])
    # When a unit is upserted
    with pytest.raises(ProtocolError):
        api.upsert([ADAM], read_timeout=0.5)
    # Then the client got no answer although the unit was stored
    assert emulator.units(MDT)["ADAM-12"]["status"] == "10-8"
    assert (emulator.requests()[-1]["status"], emulator.requests()[-1]["fault"]) == (None, "apply_then_drop")


def test_reject_units_fault_refuses_those_units_forever(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a permanent refusal of LINCOLN-3
    emulator.add_faults([{"kind": "reject_units", "unit_ids": ["LINCOLN-3"], "count": None}])
    # When requests with and without that unit are sent, repeatedly
    with_it = [api.upsert([ADAM, {"id": "LINCOLN-3"}]) for _ in range(3)]
    without_it = api.upsert([ADAM])
    # Then every request holding it gets the 400 and stores nothing from that request; others succeed
    assert [(a.status, error_of(a)) for a in with_it] == [(400, "Each unit must include a non-empty id")] * 3
    assert without_it.status == 200
    assert list(emulator.units(MDT)) == ["ADAM-12"]
    assert emulator.fault_counts["reject_units"] == 3


def test_reject_units_fault_sends_its_own_message(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a refusal with a custom message
    emulator.add_faults([{"kind": "reject_units", "unit_ids": ["ADAM-12"], "body": "Unit is locked"}])
    # When the unit is upserted
    answer = api.upsert([ADAM])
    # Then that message comes back with 400
    assert (answer.status, error_of(answer)) == (400, "Unit is locked")


def test_fault_unit_ids_filter_skips_other_requests(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a one-shot drop that only applies to LINCOLN-3
    emulator.add_faults([{"kind": "drop", "unit_ids": ["LINCOLN-3"]}])
    # When ADAM-12 is upserted, then LINCOLN-3
    first = api.upsert([ADAM])
    with pytest.raises(ProtocolError):
        api.upsert([{"id": "LINCOLN-3"}])
    # Then the first was untouched, the second dropped, and the fault is spent
    assert first.status == 200
    assert emulator.pending_faults() == []
    assert api.upsert([{"id": "LINCOLN-3"}]).status == 200


def test_faults_apply_in_order_one_per_request(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a 503 then a 500 fault
    emulator.add_faults([{"kind": "throttle", "status": 503}, {"kind": "status", "status": 500}])
    # When three upserts are sent
    statuses = [api.upsert([ADAM]).status for _ in range(3)]
    # Then each fault hits one request, in order
    assert statuses == [503, 500, 200]


def test_faults_only_apply_to_upserts(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a pending fault
    emulator.add_faults([{"kind": "status", "status": 500}])
    # When the units are listed and an unknown route is called
    listed = api.list()
    missing = api.request("PUT", "/elsewhere", body={"units": []})
    # Then neither is faulted, and the fault is still waiting for an upsert
    assert (listed.status, missing.status) == (200, 404)
    assert api.upsert([ADAM]).status == 500


def test_faults_apply_before_authentication(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a throttle fault (the partner's edge throttles before checking keys)
    emulator.add_faults([{"kind": "throttle"}])
    # When an upsert with a wrong key is sent
    answer = api.upsert([ADAM], headers={"x-partner-key": "wrong"})
    # Then it is throttled rather than refused
    assert answer.status == 429


def test_fault_counts_tally_each_kind(api: Api, emulator: NorthcaEmulator) -> None:
    # Given one fault of several kinds
    emulator.add_faults(
        [
            {"kind": "status", "status": 500},
            {"kind": "throttle", "status": 429},
            {"kind": "latency", "seconds": 0.01},
            {"kind": "drop"},
            {"kind": "apply_then_drop"},
            {"kind": "timeout", "seconds": 1.0},
        ]
    )
    # When six upserts are sent
    for _ in range(6):
        # The drops and the timeout raise; that is their point.
        with contextlib.suppress(ProtocolError, ReadTimeoutError):
            api.upsert([ADAM], read_timeout=0.5)
    # Then each kind was counted once, from Python and over HTTP
    expected = dict.fromkeys(FAULT_KINDS, 1) | {"reject_units": 0, "apply_late": 0}
    assert emulator.fault_counts == expected
    assert api.control("GET", "faults").json["data"]["counts"] == expected


def test_faults_over_http_are_added_listed_and_cleared(api: Api, emulator: NorthcaEmulator) -> None:
    # Given faults posted as a JSON list
    posted = api.control(
        "POST", "faults", [{"kind": "throttle", "status": 503, "retry_after": "1", "count": 2}]
    )
    assert posted.status == 200
    # When one upsert uses one of them
    assert api.upsert([ADAM]).status == 503
    # Then GET shows the rule with what remains; DELETE clears it and upserts work again
    (pending,) = api.control("GET", "faults").json["data"]["pending"]
    assert (pending["kind"], pending["status"], pending["retry_after"], pending["remaining"]) == (
        "throttle",
        503,
        "1",
        1,
    )
    cleared = api.control("DELETE", "faults")
    assert (cleared.status, cleared.json["data"]["pending"]) == (200, [])
    assert api.upsert([ADAM]).status == 200


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"kind": "drop"}, id="not-a-list"),
        pytest.param([{"kind": "explode"}], id="unknown-kind"),
        pytest.param([{"kind": "drop"}, {"kind": "status", "count": 0}], id="one-bad-rule"),
    ],
)
def test_faults_post_with_an_invalid_spec_is_refused(
    api: Api, emulator: NorthcaEmulator, payload: Any
) -> None:
    # Given an invalid fault list
    # When it is posted
    answer = api.control("POST", "faults", payload)
    # Then 400, and no rule was added (not even the valid one)
    assert answer.status == 400
    assert error_of(answer).startswith("Invalid faults:")
    assert emulator.pending_faults() == []


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"kind": "explode"}, id="unknown-kind"),
        pytest.param({"status": 500}, id="no-kind"),
        pytest.param({"kind": "status", "colour": "red"}, id="unknown-key"),
        pytest.param({"kind": "status", "count": 0}, id="zero-count"),
        pytest.param({"kind": "status", "count": True}, id="bool-count"),
        pytest.param({"kind": "status", "status": 204}, id="bodiless-status"),
        pytest.param({"kind": "throttle", "status": 500}, id="throttle-not-429-or-503"),
        pytest.param({"kind": "reject_units", "status": 500}, id="reject-not-4xx"),
        pytest.param({"kind": "drop", "status": 500}, id="drop-with-status"),
        pytest.param({"kind": "drop", "body": "x"}, id="drop-with-body"),
        pytest.param({"kind": "status", "retry_after": 2}, id="retry-after-not-string"),
        pytest.param({"kind": "status", "unit_ids": "ADAM-12"}, id="unit-ids-string"),
        pytest.param({"kind": "status", "unit_ids": [12]}, id="unit-ids-not-strings"),
        pytest.param({"kind": "timeout"}, id="timeout-without-seconds"),
        pytest.param({"kind": "latency", "seconds": -1}, id="negative-seconds"),
        pytest.param({"kind": "drop", "seconds": 1}, id="drop-with-seconds"),
    ],
)
def test_fault_from_dict_rejects_invalid_specs(spec: dict[str, Any]) -> None:
    # Given an invalid fault dict
    # When it is parsed
    # Then a ValueError names the problem
    with pytest.raises(ValueError, match=r"\w"):
        Fault.from_dict(spec)


def test_fault_from_dict_reads_the_documented_shape() -> None:
    # Given the documented dict shape, with null count
    spec = {"kind": "reject_units", "count": None, "unit_ids": ["B", "A"], "body": "no"}
    # When it is parsed and written back
    fault = Fault.from_dict(spec)
    # Then every field is kept and defaults are filled in
    assert fault == Fault(
        kind="reject_units", count=None, unit_ids=frozenset({"A", "B"}), status=400, body="no"
    )
    assert fault.to_dict() == {
        "kind": "reject_units",
        "count": None,
        "unit_ids": ["A", "B"],
        "status": 400,
        "body": "no",
        "retry_after": None,
        "seconds": 0.0,
        "target": "units",
        "call_ids": None,
        "methods": None,
    }
    assert Fault.from_dict({"kind": "drop"}).count == 1


# --- lifecycle and command line ------------------------------------------------------------------


def test_start_returns_the_v1_base_url() -> None:
    # Given an emulator on an ephemeral port
    emulator = NorthcaEmulator([PARTNER_KEY], {MDT: [GUILD]})
    # When it starts
    url = emulator.start()
    try:
        # Then the URL is the loopback root plus /v1, and a second start is refused
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        assert url == emulator.base_url == emulator.root_url + "/v1"
        with pytest.raises(RuntimeError):
            emulator.start()
    finally:
        emulator.stop()
    emulator.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = emulator.base_url


def test_stop_refuses_new_and_kept_alive_connections(pool: urllib3.PoolManager) -> None:
    # Given a running emulator with an open keep-alive connection
    emulator = NorthcaEmulator([PARTNER_KEY], {MDT: [GUILD]}).__enter__()
    host, port = emulator.root_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    conn.request("GET", "/_emulator/health")
    conn.getresponse().read()
    url = emulator.root_url
    # When it stops
    emulator.__exit__(None, None, None)
    # Then the open connection is closed and new ones are refused
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/_emulator/health")
        conn.getresponse()
    conn.close()
    with pytest.raises(NewConnectionError):
        pool.request("GET", url + "/_emulator/health", retries=False, timeout=1.0)


def test_stop_does_not_wait_for_a_pending_timeout_fault(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a request held by a long timeout fault
    emulator.add_faults([{"kind": "timeout", "seconds": 30}])
    with pytest.raises(ReadTimeoutError):
        api.upsert([ADAM], read_timeout=0.2)
    # When the emulator stops
    started = time.monotonic()
    emulator.stop()
    # Then it does not sit out the fault's 30 s
    assert time.monotonic() - started < 5


def test_parse_args_reads_keys_and_links() -> None:
    # Given the documented command line
    argv = ["--port", "4010", "--partner-key", "K1", "--partner-key", "K2", "--link", f"{MDT}:{GUILD}"]
    # When it is parsed
    args = parse_args(argv)
    # Then keys and links are read
    assert (args.host, args.port, args.partner_key, args.link) == (
        "127.0.0.1",
        4010,
        ["K1", "K2"],
        [(MDT, GUILD)],
    )
    # And a link without a guild is refused
    with pytest.raises(SystemExit):
        parse_args(["--partner-key", "K", "--link", MDT])


def test_main_serves_standalone_until_terminated(pool: urllib3.PoolManager) -> None:
    # Given `python -m relay_devtools.emulators.northca` on an ephemeral port
    args = ["--port", "0", "--partner-key", "K", "--link", f"{MDT}:{GUILD}"]
    with standalone_emulator("relay_devtools.emulators.northca", *args) as (proc, url):
        assert url.endswith("/v1"), url
        # When a keyed upsert is sent to it
        response = pool.request(
            "PUT",
            f"{url}/mdts/{MDT}/units/active",
            body=json.dumps({"units": [ADAM]}).encode(),
            headers={"x-partner-key": "K", "x-discord-guild": GUILD, "content-type": "application/json"},
        )
        # Then it answers, and SIGTERM stops it cleanly
        assert response.status == 200
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# --- contract: contracts/northca-partner-api.yaml ------------------------------------------------


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def resolve(node: Any) -> Any:
    """Follow local $refs (`#/components/...`) until a real node."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def upsert_operation() -> dict[str, Any]:
    operation: dict[str, Any] = spec()["paths"][UNITS_PATH]["put"]
    return operation


def response_of(status: int) -> dict[str, Any]:
    response: dict[str, Any] = resolve(upsert_operation()["responses"][str(status)])
    return response


def response_schema(status: int) -> dict[str, Any]:
    schema: dict[str, Any] = response_of(status)["content"]["application/json"]["schema"]
    return schema


def schema_named(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec()["components"]["schemas"][name]
    return schema


def merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """allOf merged with later parts winning per property (the upsert's 200 is OkEnvelope, whose `data`
    is any payload, and `data` as an array of ActiveUnit; tests/integration/test_contract_openapi.py
    checks the same with a JSON Schema 2020-12 validator)."""
    merged: dict[str, Any] = {"properties": {}, "required": []}
    for part in map(resolve, schema["allOf"]):
        part = merge_all_of(part) if "allOf" in part else part
        merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += [name for name in part.get("required", []) if name not in merged["required"]]
    return merged


TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def schema_errors(schema: Any, value: Any, where: str = "$") -> list[str]:
    """A structural check of the OpenAPI subset the spec uses: type (a null among 3.1's types), const,
    required, properties, additionalProperties: false, items, allOf, $ref and format: date-time."""
    schema = resolve(schema)
    if "allOf" in schema:
        return schema_errors(merge_all_of(schema), value, where)
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types  # OpenAPI 3.1: ["string", "null"]
    if value is None:
        return [] if types is None or "null" in types else [f"{where}: null not allowed"]
    if types is not None and not any(t != "null" and TYPES[t](value) for t in types):
        return [
            f"{where}: {value!r} is not {schema['type'] if isinstance(schema['type'], str) else types[0]}"
        ]
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != const {schema['const']!r}")
    if schema.get("format") == "date-time" and not _is_date_time(value):
        errors.append(f"{where}: {value!r} is not a date-time")
    if isinstance(value, dict):
        errors += _object_errors(schema, value, where)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(schema["items"], item, f"{where}[{index}]")
    return errors


def _object_errors(schema: dict[str, Any], value: dict[str, Any], where: str) -> list[str]:
    properties = schema.get("properties", {})
    errors = [f"{where}: missing {name}" for name in schema.get("required", []) if name not in value]
    if schema.get("additionalProperties") is False:
        errors += [f"{where}: unexpected {name}" for name in value if name not in properties]
    for name, sub in properties.items():
        if name in value:
            errors += schema_errors(sub, value[name], f"{where}.{name}")
    return errors


def _is_date_time(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def example_error(status: int, name: str | None = None) -> str:
    """An example's error message: a named example of the response, or its single example."""
    content = response_of(status)["content"]["application/json"]
    example = content["examples"][name]["value"] if name else content["example"]
    message: str = example["error"]
    return message


# Bodies that break each rule the spec gives a 400 example for, by example name.
BAD_BODIES: dict[str, Any] = {
    "expectedUnits": {"units": "ADAM-12"},
    "missingId": {"units": [{"officer_name": "A. Smith"}]},
    "duplicateId": {"units": [{"id": "ADAM-12"}, {"id": "ADAM-12"}]},
}


def test_contract_schema_checker_finds_violations() -> None:
    # Given envelopes that break the spec in different ways
    ok_schema, error_schema = response_schema(200), schema_named("ErrorEnvelope")
    # When they are checked
    # Then each violation is reported, and a valid envelope passes
    assert (
        schema_errors(
            ok_schema, {"ok": True, "data": [{"id": "A", "updated_at": "2026-11-28T12:00:00.000Z"}]}
        )
        == []
    )
    assert schema_errors(ok_schema, {"ok": True}) == ["$: missing data"]
    assert schema_errors(ok_schema, {"ok": False, "data": []}) == ["$.ok: False != const True"]
    assert schema_errors(ok_schema, {"ok": True, "data": [{"id": 5}]}) == ["$.data[0].id: 5 is not string"]
    assert schema_errors(ok_schema, {"ok": True, "data": [{"id": "A", "created_at": "yesterday"}]})
    assert schema_errors(ok_schema, {"ok": True, "data": {"id": "A"}})
    assert schema_errors(error_schema, {"ok": False}) == ["$: missing error"]
    assert schema_errors(schema_named("UpsertActiveUnitsBody"), {"units": [], "x": 1}) == ["$: unexpected x"]


def test_contract_base_path_and_auth_header_match_the_spec(api: Api, emulator: NorthcaEmulator) -> None:
    # Given the spec's server URL, path template and security scheme
    server_path = "/" + spec()["servers"][0]["url"].split("://", 1)[1].split("/", 1)[1]
    key_header = spec()["components"]["securitySchemes"]["PartnerKey"]["name"]
    # When the emulator is addressed the same way
    answer = api.upsert([ADAM], headers={"x-partner-key": None, key_header: PARTNER_KEY})
    # Then its base URL ends in the server path and the spec's header authenticates
    assert emulator.base_url.endswith(server_path)
    assert UNITS_PATH in spec()["paths"]
    assert answer.status == 200


def test_contract_spec_example_body_is_accepted(api: Api, emulator: NorthcaEmulator) -> None:
    # Given the spec's example upsert body
    example = schema_named("UpsertActiveUnitsBody")["example"]
    assert schema_errors(schema_named("UpsertActiveUnitsBody"), example) == []
    # When it is sent as is
    answer = api.request("PUT", f"/mdts/{MDT}/units/active", body=example)
    # Then it is stored and the answer matches the 200 schema, echoing each unit
    assert answer.status == 200
    assert schema_errors(response_schema(200), answer.json) == []
    for sent, record in zip(example["units"], answer.json["data"], strict=True):
        assert {name: record[name] for name in sent} == sent
    assert set(emulator.units(MDT)) == {u["id"] for u in example["units"]}


def test_contract_400_examples_cover_the_emulator_cases() -> None:
    # Given the spec's named 400 examples
    examples = response_of(400)["content"]["application/json"]["examples"]
    # When they are compared with the cases this test exercises
    # Then there is exactly one bad body per example
    assert set(examples) == set(BAD_BODIES)


@pytest.mark.parametrize("example", sorted(BAD_BODIES))
def test_contract_400_messages_match_the_spec_examples(api: Api, example: str) -> None:
    # Given a body breaking the rule the spec's example names
    # When it is upserted
    answer = api.request("PUT", f"/mdts/{MDT}/units/active", body=BAD_BODIES[example])
    # Then the message is the example's, verbatim, in a valid error envelope
    assert answer.status == 400
    assert answer.json == {"ok": False, "error": example_error(400, example)}
    assert schema_errors(response_schema(400), answer.json) == []


def test_contract_writable_unit_properties_match_the_emulator(api: Api, emulator: NorthcaEmulator) -> None:
    # Given the spec's unit item schema
    items = schema_named("UpsertActiveUnitsBody")["properties"]["units"]["items"]
    # When a unit with every spec property is upserted
    unit = {name: f"value-{name}" for name in items["properties"]}
    answer = api.upsert([unit])
    # Then the emulator accepts exactly those fields, id required, others rejected
    assert set(items["properties"]) == set(UNIT_FIELDS)
    assert items["required"] == ["id"]
    assert items["additionalProperties"] is False
    assert answer.status == 200
    assert {name: answer.json["data"][0][name] for name in unit} == unit
    assert api.upsert([{**unit, "extra": "x"}]).status == 400


def test_contract_records_have_exactly_the_active_unit_properties(
    api: Api, emulator: NorthcaEmulator
) -> None:
    # Given the spec's ActiveUnit schema
    properties = schema_named("ActiveUnit")["properties"]
    # When a unit is upserted with an actor
    api.upsert([ADAM], headers={"x-discord-actor": ACTOR})
    # Then the stored record has every ActiveUnit property and no other, and validates
    record = emulator.units(MDT)["ADAM-12"]
    assert set(record) == set(properties)
    assert schema_errors(schema_named("ActiveUnit"), record) == []


def test_contract_401_and_403_messages_come_from_the_spec(api: Api) -> None:
    # Given the spec's Unauthorized and Forbidden examples
    unauthorized, forbidden = example_error(401), example_error(403)
    # When a request lacks the key, then lacks the guild, then names an unlinked guild
    no_key = api.upsert([ADAM], headers={"x-partner-key": None})
    no_guild = api.upsert([ADAM], headers={"x-discord-guild": None})
    unlinked = api.upsert([ADAM], headers={"x-discord-guild": OTHER_GUILD})
    # Then the messages are the examples', in valid error envelopes
    assert [(a.status, error_of(a)) for a in (no_key, no_guild, unlinked)] == [
        (401, unauthorized),
        (401, unauthorized),
        (403, forbidden),
    ]
    assert all(schema_errors(response_schema(a.status), a.json) == [] for a in (no_key, no_guild, unlinked))


def test_contract_required_headers_follow_the_spec_parameters(api: Api) -> None:
    # Given the upsert's header parameters in the spec
    headers = {
        p["name"]: p["required"]
        for p in map(resolve, upsert_operation()["parameters"])
        if p["in"] == "header"
    }
    # When each optional header is left out
    answer = api.upsert(
        [ADAM], headers=dict.fromkeys((n for n, required in headers.items() if not required), None)
    )
    # Then the upsert still succeeds, while each required one is enforced (401)
    assert headers == {"x-discord-guild": True, "x-discord-actor": False}
    assert answer.status == 200
    for name in (n for n, required in headers.items() if required):
        assert api.upsert([ADAM], headers={name: None}).status == 401


SCENARIOS: dict[str, Callable[[Api], Answer]] = {
    "upsert-200": lambda api: api.upsert([ADAM, {"id": "LINCOLN-3", "rank": None}]),
    "list-200": lambda api: (api.upsert([ADAM]), api.list())[1],
    "expected-units-400": lambda api: api.upsert("x"),
    "missing-id-400": lambda api: api.upsert([{"id": ""}]),
    "duplicate-400": lambda api: api.upsert([ADAM, ADAM]),
    "no-key-401": lambda api: api.upsert([ADAM], headers={"x-partner-key": None}),
    "unlinked-403": lambda api: api.upsert([ADAM], headers={"x-discord-guild": OTHER_GUILD}),
    "not-found-404": lambda api: api.request("GET", "/mdts"),
    "method-405": lambda api: api.request("POST", f"/mdts/{MDT}/units/active"),
    "fault-500": lambda api: (api.emulator.add_faults([{"kind": "status"}]), api.upsert([ADAM]))[1],
    "fault-429": lambda api: (
        api.emulator.add_faults([{"kind": "throttle", "retry_after": "1"}]),
        api.upsert([ADAM]),
    )[1],
    "fault-503": lambda api: (
        api.emulator.add_faults([{"kind": "throttle", "status": 503}]),
        api.upsert([ADAM]),
    )[1],
    "reject-400": lambda api: (
        api.emulator.add_faults([{"kind": "reject_units", "unit_ids": ["ADAM-12"]}]),
        api.upsert([ADAM]),
    )[1],
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_contract_every_response_matches_the_envelope_schemas(api: Api, scenario: str) -> None:
    # Given one of the emulator's answers
    # When it is produced
    answer = SCENARIOS[scenario](api)
    # Then it validates against the spec: the operation's own schema for each status it documents,
    # else the error envelope every error shares
    assert answer.headers["content-type"].startswith("application/json")
    documented = str(answer.status) in upsert_operation()["responses"]
    schema = response_schema(answer.status) if documented else schema_named("ErrorEnvelope")
    assert answer.status == 200 or not 200 <= answer.status < 300
    assert schema_errors(schema, answer.json) == []
    assert answer.json["ok"] is (answer.status == 200)


# ------------------------------------------------------------------ other writers and late landings


def test_emulator_another_writer_changes_some_fields_and_the_time(
    emulator: NorthcaEmulator, clock: FixedClock
) -> None:
    # Given a unit stored at 12:00
    emulator.edit(MDT, "ADAM-12", {"officer_name": "B. Bubbleton", "status": "10-8"})
    clock.advance(60)
    # When another writer (a dispatcher in Northca's UI) sets only the status
    record = emulator.edit(MDT, "ADAM-12", {"status": "10-6"})
    # Then the other fields stay, `updated_at` moves and `created_at` does not
    assert (record["officer_name"], record["status"]) == ("B. Bubbleton", "10-6")
    assert record["updated_at"] == "2026-11-28T12:01:00.000Z"
    assert record["created_at"] == "2026-11-28T12:00:00.000Z"


def test_emulator_another_writer_over_http(api: Api, emulator: NorthcaEmulator) -> None:
    answer = api.control("PATCH", f"units/{MDT}/ADAM-12", {"rank": "SGT"})
    assert answer.status == 200
    assert emulator.units(MDT)["ADAM-12"]["rank"] == "SGT"
    refused = api.control("PATCH", f"units/{MDT}/ADAM-12", {"rank": None})
    assert refused.status == 400


def test_emulator_another_writer_removes_a_unit_and_the_mdt_is_wiped_over_http(
    api: Api, emulator: NorthcaEmulator
) -> None:
    # Given two units
    api.upsert([ADAM, {**ADAM, "id": "T-1"}])
    # When another writer removes one, then the MDT is wiped (relay resync's bad day)
    assert api.control("DELETE", f"units/{MDT}/T-1").json == {"ok": True, "data": {"removed": 1}}
    assert set(emulator.units(MDT)) == {"ADAM-12"}
    assert api.control("DELETE", f"units/{MDT}").json == {"ok": True, "data": {"removed": 1}}
    # Then the list is empty, and removing again removes nothing
    assert emulator.units(MDT) == {}
    assert api.control("DELETE", f"units/{MDT}/T-1").json["data"] == {"removed": 0}
    assert api.control("GET", f"units/{MDT}/T-1").status == 405


def test_emulator_apply_late_lands_after_the_puts_sent_after_it(api: Api, emulator: NorthcaEmulator) -> None:
    # Given a PUT held back by an apply_late fault (its client sees the connection close)
    emulator.add_faults([{"kind": "apply_late"}])
    with contextlib.suppress(ProtocolError, ReadTimeoutError):
        api.upsert([{**ADAM, "status": "10-8"}], read_timeout=0.5)
    assert emulator.late_pending == 1
    # When a later PUT is applied, and then the held one lands
    api.upsert([{**ADAM, "status": "10-6"}])
    assert emulator.land_late() == 1
    # Then the partner holds the older value, and the log shows the landing
    assert emulator.units(MDT)["ADAM-12"]["status"] == "10-8"
    assert [e["fault"] for e in emulator.requests()][-1] == "landed_late"


def test_emulator_refusing_nulls_is_a_mode_the_relay_never_meets(pool: urllib3.PoolManager) -> None:
    # The contract allows a null field (it once said 3.0's `nullable` in a 3.1 file, which 3.1 ignores):
    # a partner that refuses one is a mode, and the relay never sends null
    with NorthcaEmulator([PARTNER_KEY], {MDT: [GUILD]}, refuse_nulls=True) as strict:
        api = Api(strict, pool)
        assert api.upsert([{"id": "ADAM-12", "status": None}]).json == {
            "ok": False,
            "error": "Expected { units: [...] }",
        }
        assert api.upsert([{"id": "ADAM-12", "status": ""}]).status == 200


# --- contract: calls and panics (issue 18) -------------------------------------------------------


def operation_response(path: str, method: str, status: int) -> dict[str, Any]:
    schema: dict[str, Any] = spec()["paths"][path][method]["responses"][str(status)]
    return resolve(schema)["content"]["application/json"]["schema"]


def test_contract_a_created_call_and_its_patch_answer_the_call_record(
    emulator: NorthcaEmulator, pool: Any
) -> None:
    api = Api(emulator, pool)
    body = {"id": "cad-7", "location": "1 Main St", "units_assigned": ["ADAM-12"], "created_by": "Ann"}
    created = api.request("POST", f"/mdts/{MDT}/calls", body=body, headers={"x-discord-actor": ACTOR})
    assert created.status == 200
    assert schema_errors(operation_response("/mdts/{mdtId}/calls", "post", 200), created.json) == []
    patched = api.request("PATCH", f"/mdts/{MDT}/calls/cad-7", body={"status": "closed", "colour": "x"})
    assert patched.status == 200 and patched.json["data"]["status"] == "closed"
    assert schema_errors(operation_response("/mdts/{mdtId}/calls/{callId}", "patch", 200), patched.json) == []
    # The example the docs give for a PATCH applies as it says
    example = spec()["components"]["schemas"]["UpdateCallBody"]["example"]
    assert api.request("PATCH", f"/mdts/{MDT}/calls/cad-7", body=example).json["data"]["priority"] == "high"


def test_contract_a_panic_answers_as_documented_and_its_errors_are_envelopes(
    emulator: NorthcaEmulator, pool: Any
) -> None:
    api = Api(emulator, pool)
    api.upsert([ADAM])
    panic = api.request("POST", f"/mdts/{MDT}/units/active/ADAM-12/panic", body={"address": "Route 68"})
    assert panic.status == 200
    path = "/mdts/{mdtId}/units/active/{unitId}/panic"
    assert schema_errors(operation_response(path, "post", 200), panic.json) == []
    for status, answer in [
        (404, api.request("POST", f"/mdts/{MDT}/units/active/NOBODY/panic", body={"address": None})),
        (400, api.request("POST", f"/mdts/{MDT}/units/active/ADAM-12/panic", body={"address": 7})),
        (404, api.request("PATCH", f"/mdts/{MDT}/calls/nobody", body={})),
        (405, api.request("GET", f"/mdts/{MDT}/calls")),
    ]:
        assert answer.status == status
        assert schema_errors(schema_named("ErrorEnvelope"), answer.json) == []
