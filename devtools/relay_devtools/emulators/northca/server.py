"""A local Northca Partner API: the active-units endpoints of contracts/northca-partner-api.yaml, with faults.

It follows the contract where the contract speaks, and the partner's observed behaviour where it does not:
an upsert REPLACES every writable field, so a field the request leaves out is stored as "" (the relay
must send the full record). Routes, all answering `{"ok": true, "data": ...}` or `{"ok": false, "error"}`:

- `PUT /v1/mdts/{mdtId}/units/active`: bulk upsert (auth: `x-partner-key`, `x-discord-guild`; the MDT
  must be linked to that guild; `x-discord-actor` is optional and only feeds `created_by_discord_id`);
- `GET /v1/mdts/{mdtId}/units/active`: the stored records, sorted by id (same auth and link check);
- `GET|DELETE /_emulator/requests`: the log of API requests (partner key redacted) / clear it;
- `GET|POST|DELETE /_emulator/faults`: pending faults and per-kind counters / add a JSON list / clear;
- `GET /_emulator/health`.

Checks run in the order 404/405, 401, 403, 400, and the whole body is validated before anything is
stored, so a refused request changes nothing. Body validation (choices where the contract is silent):
- not JSON (NaN/Infinity included, as JavaScript's JSON.parse), not an object, a key besides `units`,
  or `units` not an array: `Expected { units: [...] }`;
- then unit by unit, first error wins: a unit that is not an object, or whose `id` is missing, not a
  string, empty or only whitespace: `Each unit must include a non-empty id`; an id already seen in this
  body: `Duplicate unit id in request body`; a key outside UNIT_FIELDS or a field value that is neither
  a string nor null: `Expected { units: [...] }` (the items schema has additionalProperties: false).

Faults (see `Fault`) apply only to upserts (PUT on the units path) and are checked before anything else,
as a proxy or overloaded partner in front of the API would be. Control routes are never logged or faulted.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast
from urllib.parse import unquote, urlsplit

from relay_devtools.emulators.loopback import LoopbackServer, Request
from relay_devtools.emulators.loopback import Reply as LoopbackReply
from relay_devtools.emulators.northca.contract import (
    MSG_METHOD_NOT_ALLOWED,
    MSG_NOT_FOUND,
    MSG_NOT_LINKED,
    MSG_UNAUTHORIZED,
    WRITABLE_FIELDS,
    InvalidBody,
    iso_utc,
    mdt_code,
    request_unit_ids,
    validate_upsert_body,
)
from relay_devtools.emulators.northca.faults import DEFAULT_STATUS, FAULT_KINDS, Fault, PendingFault

API_PREFIX: Final = "/v1"
CONTROL_PREFIX: Final = "/_emulator"
MAX_LOGGED_REQUESTS: Final = 10_000
REDACTED: Final = "***"
SECRET_HEADERS: Final = frozenset({"x-partner-key"})
_UNITS_PATH: Final = re.compile(r"^/v1/mdts/(?P<mdt>[^/]+)/units/active$")
_UNITS_METHODS: Final = ("GET", "PUT")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _log_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", errors="replace")


def _redacted(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: REDACTED if name in SECRET_HEADERS else value for name, value in headers.items()}


# --- replies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    payload: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def ok(data: Any) -> Reply:
    return Reply(200, {"ok": True, "data": data})


def error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, {"ok": False, "error": message}, headers)


def _error_reply(status: int, message: str) -> LoopbackReply:
    return LoopbackReply.json(status, {"ok": False, "error": message})


def _not_allowed(allowed: Sequence[str]) -> Reply:
    return error(405, MSG_METHOD_NOT_ALLOWED, (("Allow", ", ".join(allowed)),))


# --- the emulator --------------------------------------------------------------------------------


class NorthcaEmulator:
    """The partner API on a loopback port. Thread-safe: every state change happens under one lock."""

    def __init__(
        self,
        partner_keys: Iterable[str],
        links: Mapping[str, Iterable[str]],
        clock: Callable[[], datetime] | None = None,
        *,
        max_logged_requests: int = MAX_LOGGED_REQUESTS,
        refuse_nulls: bool = False,
    ) -> None:
        # refuse_nulls: read the contract as the OpenAPI 3.1 it says it is (no `nullable`): a partner
        # validating that way answers 400 to any null.
        self.refuse_nulls = refuse_nulls
        self._lock = threading.Lock()
        self._clock = clock or _utc_now
        self._partner_keys = frozenset(partner_keys)
        self._links: dict[str, set[str]] = {}
        for mdt_id, guilds in links.items():
            # A lone string is one guild, not a set of characters.
            self._links[mdt_id] = {guilds} if isinstance(guilds, str) else set(guilds)
        self._units: dict[str, dict[str, dict[str, Any]]] = {}
        # Bounded: soak tests send far more requests than anyone reads back.
        self._log: deque[dict[str, Any]] = deque(maxlen=max_logged_requests)
        self._faults: list[PendingFault] = []
        # Requests an apply_late fault holds back, to be handled later.
        self._late: list[tuple[str, re.Match[str] | None, dict[str, str], bytes]] = []
        self._fault_counts: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        self._server: LoopbackServer | None = None
        # Set by stop(), so latency/timeout faults do not hold a stopping server.
        self._stopping = threading.Event()

    # lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the API base URL (ending in /v1)."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        self._server = LoopbackServer((host, port), self._serve_request, error_reply=_error_reply)
        self._server.start("northca-emulator")
        return self.base_url

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.stop()
        self._server = None

    def __enter__(self) -> NorthcaEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.url

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    # state, from Python

    def units(self, mdt_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {uid: dict(record) for uid, record in self._units.get(mdt_id, {}).items()}

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._log))

    def clear_requests(self) -> int:
        with self._lock:
            cleared = len(self._log)
            self._log.clear()
        return cleared

    def add_faults(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        # Parse every rule first, so one bad rule adds none.
        parsed = [f if isinstance(f, Fault) else Fault.from_dict(f) for f in faults]
        with self._lock:
            self._faults.extend(PendingFault(f, f.count) for f in parsed)

    def clear_faults(self) -> None:
        """Drop pending faults; `fault_counts` keeps counting for the emulator's whole life."""
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**p.fault.to_dict(), "remaining": p.remaining} for p in self._faults]

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many requests each fault kind was applied to."""
        with self._lock:
            return dict(self._fault_counts)

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

    def link(self, mdt_id: str, guild_id: str) -> None:
        with self._lock:
            self._links.setdefault(mdt_id, set()).add(guild_id)

    # request handling (called from the server's threads)

    def _serve_request(self, request: Request) -> LoopbackReply | None:
        reply = self.serve(request.method, request.path, request.headers, request.body)
        return None if reply is None else LoopbackReply.json(reply.status, reply.payload, reply.headers)

    def serve(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply | None:
        """The reply to one request, or None to close the connection without answering."""
        path = urlsplit(raw_path).path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self._control(method, path, body)
        match = _UNITS_PATH.match(path)
        fault = self._take_fault(body) if match and method == "PUT" else None
        entry = {
            "method": method,
            "path": raw_path,
            "headers": _redacted(headers),
            "body": _log_body(body),
            "status": None,
            "fault": fault.kind if fault else None,
            "at": iso_utc(self._clock()),
        }
        if fault is not None and fault.kind == "apply_late":
            self._record(entry)
            self._hold(fault, method, match, headers, body)
            return None
        if fault is not None and fault.kind in ("timeout", "drop"):
            # Logged before waiting: the client has given up long before the wait ends.
            self._record(entry)
            if fault.kind == "timeout":
                self._stopping.wait(fault.seconds)
            return None
        reply = self._faulted(fault, method, match, headers, body)
        entry["status"] = None if reply is None else reply.status
        self._record(entry)
        return reply

    def _faulted(
        self,
        fault: Fault | None,
        method: str,
        match: re.Match[str] | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply | None:
        if fault is None:
            return self._api(method, match, headers, body)
        if fault.kind in DEFAULT_STATUS:
            extra = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
            return error(fault.status or 500, fault.message(), extra)
        if fault.kind == "latency":
            self._stopping.wait(fault.seconds)
            return self._api(method, match, headers, body)
        # apply_then_drop: the partner does the work, the answer is lost on the way back.
        self._api(method, match, headers, body)
        return None

    def _hold(
        self, fault: Fault, method: str, match: re.Match[str] | None, headers: Mapping[str, str], body: bytes
    ) -> None:
        """Keep a request to handle later (apply_late): after `seconds`, or at `land_late()`."""
        late = (method, match, dict(headers), body)
        with self._lock:
            self._late.append(late)
        if fault.seconds:
            timer = threading.Timer(fault.seconds, self._land, args=(late,))
            timer.daemon = True
            timer.start()

    def land_late(self) -> int:
        """Handle every request held by an `apply_late` fault now; returns how many landed."""
        with self._lock:
            held, self._late = self._late, []
        for late in held:
            self._land(late, taken=True)
        return len(held)

    @property
    def late_pending(self) -> int:
        with self._lock:
            return len(self._late)

    def _land(
        self, late: tuple[str, re.Match[str] | None, dict[str, str], bytes], taken: bool = False
    ) -> None:
        if not taken:
            with self._lock:
                if late not in self._late:
                    return  # landed already
                self._late.remove(late)
        method, match, headers, body = late
        reply = self._api(method, match, headers, body)
        self._record(
            {
                "method": method,
                "path": match.string if match else "",
                "headers": _redacted(headers),
                "body": _log_body(body),
                "status": reply.status,
                "fault": "landed_late",
                "at": iso_utc(self._clock()),
            }
        )

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def _take_fault(self, body: bytes) -> Fault | None:
        unit_ids = request_unit_ids(body)
        with self._lock:
            for index, pending in enumerate(self._faults):
                if not pending.fault.matches(unit_ids):
                    continue
                if pending.remaining is not None:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        del self._faults[index]
                self._fault_counts[pending.fault.kind] += 1
                return pending.fault
        return None

    def _api(
        self, method: str, match: re.Match[str] | None, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        if match is None:
            return error(404, MSG_NOT_FOUND)
        if method not in _UNITS_METHODS:
            return _not_allowed(_UNITS_METHODS)
        mdt_id = unquote(match["mdt"])
        denied = self._check_access(mdt_id, headers)
        if denied is not None:
            return denied
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

    # control routes

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        route = path.removeprefix(CONTROL_PREFIX)
        if route == "/health":
            return ok({"status": "ok"}) if method == "GET" else _not_allowed(("GET",))
        if route == "/requests":
            return self._control_requests(method)
        if route == "/faults":
            return self._control_faults(method, body)
        if route.startswith("/units/"):
            return self._control_edit(method, route.removeprefix("/units/"), body)
        return error(404, MSG_NOT_FOUND)

    def _control_edit(self, method: str, rest: str, body: bytes) -> Reply:
        """`PATCH /_emulator/units/{mdtId}/{unitId}` with `{"status": "10-6"}`: another writer's edit."""
        if method != "PATCH":
            return _not_allowed(("PATCH",))
        mdt_id, _, unit_id = rest.partition("/")
        try:
            fields = json.loads(body or b"null")
            if not isinstance(fields, dict) or not mdt_id or not unit_id:
                raise ValueError("expected PATCH /_emulator/units/{mdtId}/{unitId} with a JSON object")
            return ok(self.edit(unquote(mdt_id), unquote(unit_id), fields))
        except (ValueError, RecursionError) as exc:
            return error(400, f"Invalid edit: {exc}")

    def _control_requests(self, method: str) -> Reply:
        if method == "GET":
            return ok(self.requests())
        if method == "DELETE":
            return ok({"cleared": self.clear_requests()})
        return _not_allowed(("GET", "DELETE"))

    def _control_faults(self, method: str, body: bytes) -> Reply:
        if method == "POST":
            try:
                specs = json.loads(body)
                if not isinstance(specs, list):
                    raise ValueError("expected a JSON list of faults")
                self.add_faults(specs)
            except (ValueError, RecursionError) as exc:
                return error(400, f"Invalid faults: {exc}")
        elif method == "DELETE":
            self.clear_faults()
        elif method != "GET":
            return _not_allowed(("GET", "POST", "DELETE"))
        return ok({"pending": self.pending_faults(), "counts": self.fault_counts})
