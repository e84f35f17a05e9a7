"""The partner's dispatch calls and panics, as the emulator serves them: the three documented endpoints,
and a mode for each answer Northca does not document.

Documented (docs.northca.dev, contracts/northca-partner-api.yaml):
- `POST /v1/mdts/{mdtId}/calls`: create; every field optional, `id` ("if not provided, the server
  generates an ID"), `status` defaults to "open"; answers the call record;
- `PATCH /v1/mdts/{mdtId}/calls/{callId}`: "Only these fields are applied (others are ignored):
  classification, description, location, status, call_type, priority, units_assigned"; answers the
  record;
- `POST /v1/mdts/{mdtId}/units/active/{unitId}/panic`: body `{"address": string|null}`; answers
  `{"panicked": true, "unit_id", "ts"}`.

Not documented, so each plausible answer is a mode (`Modes`): a second create with an id that exists
(`repeated_call_id`: "conflict" answers 409, "upsert" overwrites the call with the body, "duplicate"
makes a second call under an id of its own); an empty PATCH (`empty_patch`: "record" applies nothing
and answers the record, "refused" answers 400); a panic for a unit the MDT does not hold as active
(`panic_inactive`: "not-found" 404, "bad-request" 400, "accept" panics it anyway). Also chosen here:
a PATCH of an unknown call is a 404 `Call not found`; a create body that is not an object of the
documented fields with text values (`units_assigned` a list of text) is a 400 `Invalid call body`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol
from urllib.parse import unquote

from relay_devtools.emulators.northca.contract import (
    MSG_NOT_FOUND,
    Reply,
    error,
    iso_utc,
    mdt_code,
    not_allowed,
    ok,
)

CALLS_PATH: Final = re.compile(r"^/v1/mdts/(?P<mdt>[^/]+)/calls$")
CALL_PATH: Final = re.compile(r"^/v1/mdts/(?P<mdt>[^/]+)/calls/(?P<call>[^/]+)$")
PANIC_PATH: Final = re.compile(r"^/v1/mdts/(?P<mdt>[^/]+)/units/active/(?P<unit>[^/]+)/panic$")

CALL_FIELDS: Final = (
    "classification",
    "description",
    "location",
    "status",
    "call_type",
    "priority",
    "units_assigned",
)
CREATE_KEYS: Final = frozenset({"id", "created_by", *CALL_FIELDS})
MSG_INVALID_CALL: Final = "Invalid call body"
MSG_CALL_EXISTS: Final = "Call already exists"
MSG_CALL_NOT_FOUND: Final = "Call not found"
MSG_NOTHING_TO_UPDATE: Final = "No fields to update"
MSG_UNIT_NOT_FOUND: Final = "Unit not found"
MSG_UNIT_NOT_ACTIVE: Final = "Unit is not active"
MSG_INVALID_PANIC: Final = "Invalid panic body"

RepeatedCallId = Literal["conflict", "upsert", "duplicate"]
EmptyPatch = Literal["record", "refused"]
PanicInactive = Literal["not-found", "bad-request", "accept"]
MODE_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "repeated_call_id": ("conflict", "upsert", "duplicate"),
    "empty_patch": ("record", "refused"),
    "panic_inactive": ("not-found", "bad-request", "accept"),
}


@dataclass
class Modes:
    repeated_call_id: RepeatedCallId = "conflict"
    empty_patch: EmptyPatch = "record"
    panic_inactive: PanicInactive = "not-found"

    def update(self, changes: Mapping[str, Any]) -> None:
        for name, value in changes.items():
            if name not in MODE_CHOICES:
                raise ValueError(f"unknown mode {name!r}; expected one of {', '.join(MODE_CHOICES)}")
            if value not in MODE_CHOICES[name]:
                raise ValueError(f"{name}: expected one of {', '.join(MODE_CHOICES[name])}, not {value!r}")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in MODE_CHOICES}


def _valid_value(name: str, value: Any) -> bool:
    if name == "units_assigned":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return value is None or isinstance(value, str)


def _object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


class Desk:
    """The calls and panics of every MDT. Thread-safe: every change happens under one lock."""

    def __init__(self, clock: Callable[[], datetime], active: Callable[[str, str], bool]) -> None:
        self.modes = Modes()
        self._clock = clock
        self._active = active  # whether the MDT holds a unit as active
        self._lock = threading.Lock()
        self._calls: dict[str, list[dict[str, Any]]] = {}  # per MDT, in creation order
        self._panics: dict[str, list[dict[str, Any]]] = {}
        self._generated = 0

    # state, from Python

    def calls(self, mdt_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._calls.get(mdt_id, [])]

    def panics(self, mdt_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(panic) for panic in self._panics.get(mdt_id, [])]

    def edit_call(self, mdt_id: str, call_id: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Another writer (a dispatcher): these fields of every call under this id change."""
        if not all(name in CALL_FIELDS and _valid_value(name, v) for name, v in fields.items()):
            raise ValueError(f"expected {', '.join(CALL_FIELDS)} with text values (units_assigned a list)")
        with self._lock:
            found = [r for r in self._calls.get(mdt_id, []) if r["id"] == call_id]
            for record in found:
                record.update(fields, updated_at=iso_utc(self._clock()))
            return [dict(r) for r in found]

    def delete_call(self, mdt_id: str, call_id: str) -> int:
        """A dispatcher deletes a call; returns how many records went."""
        with self._lock:
            kept = [r for r in self._calls.get(mdt_id, []) if r["id"] != call_id]
            gone = len(self._calls.get(mdt_id, [])) - len(kept)
            self._calls[mdt_id] = kept
            return gone

    # the API (access already checked)

    def create(self, mdt_id: str, body: bytes, actor: str | None) -> Reply:
        call = _object(body)
        if call is None or not set(call) <= CREATE_KEYS:
            return error(400, MSG_INVALID_CALL)
        given = call.get("id")
        if given is not None and (not isinstance(given, str) or not given.strip()):
            return error(400, MSG_INVALID_CALL)
        if not all(_valid_value(name, v) for name, v in call.items() if name in CALL_FIELDS):
            return error(400, MSG_INVALID_CALL)
        if call.get("created_by") is not None and not isinstance(call["created_by"], str):
            return error(400, MSG_INVALID_CALL)
        with self._lock:
            now = iso_utc(self._clock())
            stored = self._calls.setdefault(mdt_id, [])
            existing = [r for r in stored if given is not None and r["id"] == given]
            if existing and self.modes.repeated_call_id == "conflict":
                return error(409, MSG_CALL_EXISTS)
            if existing and self.modes.repeated_call_id == "upsert":
                existing[0].update({k: v for k, v in call.items() if k != "id"}, updated_at=now)
                return ok(dict(existing[0]))
            if given is None or existing:  # no id, or a second call (duplicate): the server's own id
                self._generated += 1
                given = f"call-{self._generated:06d}"
            record: dict[str, Any] = {
                "id": given,
                "mdt_code": mdt_code(mdt_id),
                **{name: [] if name == "units_assigned" else None for name in CALL_FIELDS},
                "status": "open",
                **{k: v for k, v in call.items() if k in CALL_FIELDS and v is not None},
                "created_by": call.get("created_by"),
                "created_by_discord_id": actor,
                "created_at": now,
                "updated_at": now,
            }
            stored.append(record)
            return ok(dict(record))

    def update(self, mdt_id: str, call_id: str, body: bytes) -> Reply:
        patch = _object(body)
        if patch is None:
            return error(400, MSG_INVALID_CALL)
        applied = {k: v for k, v in patch.items() if k in CALL_FIELDS}  # the others are ignored
        if not all(_valid_value(name, v) for name, v in applied.items()):
            return error(400, MSG_INVALID_CALL)
        with self._lock:
            found = [r for r in self._calls.get(mdt_id, []) if r["id"] == call_id]
            if not found:
                return error(404, MSG_CALL_NOT_FOUND)
            if not applied and self.modes.empty_patch == "refused":
                return error(400, MSG_NOTHING_TO_UPDATE)
            if applied:
                now = iso_utc(self._clock())
                for record in found:
                    record.update(applied, updated_at=now)
            return ok(dict(found[0]))

    def panic(self, mdt_id: str, unit_id: str, body: bytes) -> Reply:
        request = _object(body)
        address = request.get("address") if request is not None else None
        if (
            request is None
            or not set(request) <= {"address"}
            or not (address is None or isinstance(address, str))
        ):
            return error(400, MSG_INVALID_PANIC)
        if not self._active(mdt_id, unit_id):
            if self.modes.panic_inactive == "not-found":
                return error(404, MSG_UNIT_NOT_FOUND)
            if self.modes.panic_inactive == "bad-request":
                return error(400, MSG_UNIT_NOT_ACTIVE)
        with self._lock:
            ts = iso_utc(self._clock())
            self._panics.setdefault(mdt_id, []).append({"unit_id": unit_id, "address": address, "ts": ts})
        return ok({"panicked": True, "unit_id": unit_id, "ts": ts})


class _Emulator(Protocol):
    def calls(self, mdt_id: str) -> list[dict[str, Any]]: ...
    def panics(self, mdt_id: str) -> list[dict[str, Any]]: ...
    def edit_call(self, mdt_id: str, call_id: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]: ...
    def delete_call(self, mdt_id: str, call_id: str) -> int: ...
    @property
    def modes(self) -> dict[str, str]: ...
    def set_modes(self, **modes: str) -> None: ...


def control_emergencies(emulator: _Emulator, method: str, route: str, body: bytes) -> Reply:
    """`GET|POST /_emulator/modes` (a JSON object of modes to change); `GET /_emulator/calls/{mdtId}` and
    `/_emulator/panics/{mdtId}`; `PATCH` (a dispatcher's edit) and `DELETE` of
    `/_emulator/calls/{mdtId}/{callId}`."""
    if route == "/modes":
        return _control_modes(emulator, method, body)
    kind, _, rest = route.strip("/").partition("/")
    mdt_id, _, call_id = (unquote(part) for part in rest.partition("/"))
    if not mdt_id:
        return error(404, MSG_NOT_FOUND)
    if not call_id:
        if method != "GET":
            return not_allowed(("GET",))
        return ok(emulator.calls(mdt_id) if kind == "calls" else emulator.panics(mdt_id))
    if kind != "calls":
        return error(404, MSG_NOT_FOUND)
    if method == "DELETE":
        return ok({"deleted": emulator.delete_call(mdt_id, call_id)})
    if method != "PATCH":
        return not_allowed(("PATCH", "DELETE"))
    try:
        fields = json.loads(body or b"null")
        if not isinstance(fields, dict):
            raise ValueError("expected a JSON object of call fields")
        return ok(emulator.edit_call(mdt_id, call_id, fields))
    except (ValueError, RecursionError) as exc:
        return error(400, f"Invalid edit: {exc}")


def _control_modes(emulator: _Emulator, method: str, body: bytes) -> Reply:
    if method not in ("GET", "POST"):
        return not_allowed(("GET", "POST"))
    try:
        changes = json.loads(body or b"{}") if method == "POST" else {}
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of modes")
        emulator.set_modes(**changes)
    except (ValueError, RecursionError) as exc:
        return error(400, f"Invalid modes: {exc}")
    return ok(emulator.modes)
