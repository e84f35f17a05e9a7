"""The partner API itself, as the emulator serves it when no fault stands in the way: the partner keys,
the MDTs linked to guilds, the stored units, and the answer to each `/v1` request.

It follows the contract where the contract speaks, and the partner's observed behaviour where it does not:
an upsert REPLACES every writable field, so a field the request leaves out is stored as "" (the relay
must send the full record).

- `PUT /v1/mdts/{mdtId}/units/active`: bulk upsert (auth: `x-partner-key`, `x-discord-guild`; the MDT
  must be linked to that guild; `x-discord-actor` is optional and only feeds `created_by_discord_id`);
- `GET /v1/mdts/{mdtId}/units/active`: the stored records, sorted by id (same auth and link check);
- `POST /v1/mdts/{mdtId}/calls`, `PATCH /v1/mdts/{mdtId}/calls/{callId}`,
  `POST /v1/mdts/{mdtId}/units/active/{unitId}/panic`: calls and panics (desk.py), same auth and link.

Checks run in the order 404/405, 401, 403, 400, and the whole body is validated before anything is
stored, so a refused request changes nothing. Body validation (choices where the contract is silent):
- not JSON (NaN/Infinity included, as JavaScript's JSON.parse), not an object, a key besides `units`,
  or `units` not an array: `Expected { units: [...] }`;
- then unit by unit, first error wins: a unit that is not an object, or whose `id` is missing, not a
  string, empty or only whitespace: `Each unit must include a non-empty id`; an id already seen in this
  body: `Duplicate unit id in request body`; a key outside UNIT_FIELDS or a field value that is neither
  a string nor null: `Expected { units: [...] }` (the items schema has additionalProperties: false).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, cast
from urllib.parse import unquote

from relay_devtools.emulators.northca.contract import (
    MSG_EXPECTED_UNITS,
    MSG_NOT_FOUND,
    MSG_NOT_LINKED,
    MSG_UNAUTHORIZED,
    WRITABLE_FIELDS,
    InvalidBody,
    Reply,
    error,
    is_json_media_type,
    iso_utc,
    mdt_code,
    not_allowed,
    ok,
    validate_upsert_body,
)
from relay_devtools.emulators.northca.desk import CALL_PATH, CALLS_PATH, PANIC_PATH, Desk

UNITS_PATH: Final = re.compile(r"^/v1/mdts/(?P<mdt>[^/]+)/units/active$")
_UNITS_METHODS: Final = ("GET", "PUT")
# Each API route: its path, and the methods it answers.
ROUTES: Final = (
    ("units", UNITS_PATH, _UNITS_METHODS),
    ("calls", CALLS_PATH, ("POST",)),
    ("call", CALL_PATH, ("PATCH",)),
    ("panic", PANIC_PATH, ("POST",)),
)


def route_of(path: str) -> tuple[str, re.Match[str]] | None:
    """The API route a path is (its name and match), or None."""
    for name, pattern, _ in ROUTES:
        match = pattern.match(path)
        if match:
            return name, match
    return None


class Partner:
    """The partner's state and rules. Thread-safe: every state change happens under one lock."""

    def __init__(
        self,
        partner_keys: Iterable[str],
        links: Mapping[str, Iterable[str]],
        clock: Callable[[], datetime],
        *,
        refuse_nulls: bool = False,
    ) -> None:
        # refuse_nulls: read the contract as the OpenAPI 3.1 it says it is (no `nullable`): a partner
        # validating that way answers 400 to any null.
        self.refuse_nulls = refuse_nulls
        self._lock = threading.Lock()
        self._clock = clock
        self._partner_keys = frozenset(partner_keys)
        self._links: dict[str, set[str]] = {}
        for mdt_id, guilds in links.items():
            # A lone string is one guild, not a set of characters.
            self._links[mdt_id] = {guilds} if isinstance(guilds, str) else set(guilds)
        self._units: dict[str, dict[str, dict[str, Any]]] = {}
        self.desk = Desk(clock, self._holds)

    def _holds(self, mdt_id: str, unit_id: str) -> bool:
        with self._lock:
            return unit_id in self._units.get(mdt_id, {})

    # state, from Python

    def units(self, mdt_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {uid: dict(record) for uid, record in self._units.get(mdt_id, {}).items()}

    def set_partner_keys(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._partner_keys = frozenset(keys)

    def edit(self, mdt_id: str, unit_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """Another writer (a dispatcher in Northca's UI): these fields change, the others stay, and
        `updated_at` moves. Creates the unit when it is missing. Returns the stored record."""
        unknown = set(fields) - set(WRITABLE_FIELDS)
        if unknown or not all(isinstance(v, str) for v in fields.values()):
            raise ValueError(f"expected text values for {', '.join(WRITABLE_FIELDS)}")
        with self._lock:
            now = iso_utc(self._clock())
            stored = self._units.setdefault(mdt_id, {})
            previous = stored.get(unit_id) or dict.fromkeys(WRITABLE_FIELDS, "")
            unit = {"id": unit_id, **{name: previous[name] for name in WRITABLE_FIELDS}, **fields}
            return self._store(stored, mdt_id, unit, previous.get("created_by_discord_id"), now)

    def remove(self, mdt_id: str, unit_id: str | None = None) -> int:
        """Another writer removes a unit, or (no id) Northca loses or resets the MDT: every active unit
        gone. Returns how many were removed."""
        with self._lock:
            stored = self._units.get(mdt_id, {})
            if unit_id is None:
                removed = len(stored)
                stored.clear()
                return removed
            return 1 if stored.pop(unit_id, None) is not None else 0

    def link(self, mdt_id: str, guild_id: str) -> None:
        with self._lock:
            self._links.setdefault(mdt_id, set()).add(guild_id)

    # the API

    def answer(
        self,
        method: str,
        match: re.Match[str] | None,
        headers: Mapping[str, str],
        body: bytes,
        route: str = "units",
    ) -> Reply:
        """The reply to a request on the API route `route` whose path matched (`match`), or did not
        (None: 404)."""
        if match is None:
            return error(404, MSG_NOT_FOUND)
        allowed = next(methods for name, _, methods in ROUTES if name == route)
        if method not in allowed:
            return not_allowed(allowed)
        mdt_id = unquote(match["mdt"])
        denied = self._check_access(mdt_id, headers)
        if denied is not None:
            return denied
        if route == "calls":
            return self.desk.create(mdt_id, body, headers.get("x-discord-actor") or None)
        if route == "call":
            return self.desk.update(mdt_id, unquote(match["call"]), body)
        if route == "panic":
            return self.desk.panic(mdt_id, unquote(match["unit"]), body)
        if method == "GET":
            return self._list(mdt_id)
        return self._upsert(mdt_id, headers, body)

    def _check_access(self, mdt_id: str, headers: Mapping[str, str]) -> Reply | None:
        key = headers.get("x-partner-key")
        guild = headers.get("x-discord-guild")
        with self._lock:
            known_key = bool(key) and key in self._partner_keys
            linked = guild in self._links.get(mdt_id, set())
        if not known_key or not guild:
            return error(401, MSG_UNAUTHORIZED)
        if not linked:
            return error(403, MSG_NOT_LINKED)
        return None

    def _list(self, mdt_id: str) -> Reply:
        with self._lock:
            records = [dict(r) for _, r in sorted(self._units.get(mdt_id, {}).items())]
        return ok(records)

    def _upsert(self, mdt_id: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if not is_json_media_type(headers.get("content-type", "")):
            # The contract's body is application/json only. ASSUMED: the partner's JSON body parser leaves
            # another type unread, so the units are missing (its own 400), never taken as JSON anyway.
            return error(400, MSG_EXPECTED_UNITS)
        try:
            units = validate_upsert_body(body, nulls=not self.refuse_nulls)
        except InvalidBody as exc:
            return error(400, str(exc))
        actor = headers.get("x-discord-actor") or None
        with self._lock:
            now = iso_utc(self._clock())
            stored = self._units.setdefault(mdt_id, {})
            records = [self._store(stored, mdt_id, unit, actor, now) for unit in units]
        return ok(records)

    @staticmethod
    def _store(
        stored: dict[str, dict[str, Any]],
        mdt_id: str,
        unit: Mapping[str, str | None],
        actor: str | None,
        now: str,
    ) -> dict[str, Any]:
        unit_id = cast(str, unit["id"])
        previous = stored.get(unit_id)
        record: dict[str, Any] = {"id": unit_id, "mdt_code": mdt_code(mdt_id)}
        # The partner's quirk: a writable field left out of the upsert is overwritten with "".
        record.update({name: unit.get(name, "") for name in WRITABLE_FIELDS})
        record.update(
            {
                "last_seen": now,
                "created_by_discord_id": previous["created_by_discord_id"] if previous else actor,
                "updated_at": now,
                "created_at": previous["created_at"] if previous else now,
            }
        )
        stored[unit_id] = record
        return dict(record)
