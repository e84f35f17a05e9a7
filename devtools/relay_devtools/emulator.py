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

import argparse
import contextlib
import copy
import json
import logging
import re
import signal
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final, Literal, cast
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

API_PREFIX: Final = "/v1"
CONTROL_PREFIX: Final = "/_emulator"
UNIT_FIELDS: Final = ("id", "officer_name", "officer_badge", "department", "rank", "status")
WRITABLE_FIELDS: Final = UNIT_FIELDS[1:]
MAX_LOGGED_REQUESTS: Final = 10_000
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
REDACTED: Final = "***"
SECRET_HEADERS: Final = frozenset({"x-partner-key"})

MSG_UNAUTHORIZED: Final = "Unauthorized"
MSG_NOT_LINKED: Final = "MDT not linked to this guild"
MSG_EXPECTED_UNITS: Final = "Expected { units: [...] }"
MSG_MISSING_ID: Final = "Each unit must include a non-empty id"
MSG_DUPLICATE_ID: Final = "Duplicate unit id in request body"
MSG_NOT_FOUND: Final = "Not found"
MSG_METHOD_NOT_ALLOWED: Final = "Method not allowed"

FaultKind = Literal["status", "throttle", "latency", "timeout", "drop", "apply_then_drop", "reject_units"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "status",
    "throttle",
    "latency",
    "timeout",
    "drop",
    "apply_then_drop",
    "reject_units",
)
_FAULT_KEYS: Final = frozenset({"kind", "count", "unit_ids", "status", "body", "retry_after", "seconds"})
# Kinds that answer with an error envelope instead of handling the request, and their default status.
_DEFAULT_STATUS: Final[Mapping[str, int]] = {"status": 500, "throttle": 429, "reject_units": 400}
_SLEEPING_KINDS: Final = frozenset({"latency", "timeout"})
_UNITS_PATH: Final = re.compile(r"^/v1/mdts/(?P<mdt>[^/]+)/units/active$")
_UNITS_METHODS: Final = ("GET", "PUT")


class InvalidBody(ValueError):
    """The upsert body breaks a rule; the message is the partner's verbatim 400 error."""


# --- faults --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault rule. As a dict (Python or `POST /_emulator/faults`), only `kind` is required:

    `{"kind": K, "count": 1, "unit_ids": ["ADAM-12"], "status": 503, "body": "msg",
    "retry_after": "2", "seconds": 1.0}`

    - `count`: how many matching upserts it hits (default 1); None/null = every one, forever.
    - `unit_ids`: only upserts whose body holds any of these unit ids match (default: every upsert).
    - `status` kind: answer `status` (default 500; 200-599 except 204/205/304) with error `body`
      (default: the status phrase) and `retry_after` if given; nothing is stored.
    - `throttle`: like `status` but 429 (default) or 503; `retry_after` is sent verbatim when given.
    - `latency`: wait `seconds`, then handle the request normally.
    - `timeout`: wait `seconds` (make it longer than the client's read timeout), then close without
      answering; nothing is stored.
    - `drop`: close the connection without answering; nothing is stored.
    - `apply_then_drop`: handle the request normally (so a valid upsert IS stored), then close without
      answering: the "applied but unknown" case.
    - `reject_units`: a permanent refusal of some units: 400 (default) with `body` (default
      `Each unit must include a non-empty id`); usually given `unit_ids` and count None.
    The first pending rule that matches a request is used (one fault per request) and its count spent.
    """

    kind: FaultKind
    count: int | None = 1
    unit_ids: frozenset[str] | None = None
    status: int | None = None
    body: str | None = None
    retry_after: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        _check_count(self.count)
        if self.unit_ids is not None:
            object.__setattr__(self, "unit_ids", _as_unit_ids(self.unit_ids))
        object.__setattr__(self, "status", _check_status(self.kind, self.status))
        if self.kind not in _DEFAULT_STATUS and (self.body is not None or self.retry_after is not None):
            raise ValueError(f"a {self.kind} fault sends no response: body and retry_after do not apply")
        _check_optional_str("body", self.body)
        _check_optional_str("retry_after", self.retry_after)
        object.__setattr__(self, "seconds", _check_seconds(self.kind, self.seconds))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        if not isinstance(data, Mapping):
            raise ValueError("a fault must be an object")
        unknown = set(data) - _FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(map(str, unknown)))}")
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise ValueError("a fault needs a string kind")
        unit_ids = data.get("unit_ids")
        return cls(
            kind=cast(FaultKind, kind),
            count=data.get("count", 1),
            unit_ids=None if unit_ids is None else _as_unit_ids(unit_ids),
            status=data.get("status"),
            body=data.get("body"),
            retry_after=data.get("retry_after"),
            seconds=data.get("seconds", 0.0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "unit_ids": None if self.unit_ids is None else sorted(self.unit_ids),
            "status": self.status,
            "body": self.body,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
        }

    def matches(self, unit_ids: frozenset[str]) -> bool:
        return self.unit_ids is None or not self.unit_ids.isdisjoint(unit_ids)

    def message(self) -> str:
        if self.body is not None:
            return self.body
        if self.kind == "reject_units":
            return MSG_MISSING_ID
        try:
            return HTTPStatus(self.status or 500).phrase
        except ValueError:
            return "Error"


def _check_count(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fault count must be a positive integer or None, not {value!r}")


def _as_unit_ids(value: object) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError("fault unit_ids must be a list of strings")
    ids = list(value)
    if not all(isinstance(uid, str) for uid in ids):
        raise ValueError("fault unit_ids must be a list of strings")
    return frozenset(ids)


def _check_status(kind: str, value: object) -> int | None:
    default = _DEFAULT_STATUS.get(kind)
    if default is None:
        if value is not None:
            raise ValueError(f"a {kind} fault sends no response: status does not apply")
        return None
    status = default if value is None else value
    if isinstance(status, bool) or not isinstance(status, int):
        raise ValueError(f"fault status must be an integer, not {status!r}")
    if kind == "throttle" and status not in (429, 503):
        raise ValueError("a throttle fault answers 429 or 503")
    if kind == "reject_units" and not 400 <= status <= 499:
        raise ValueError("a reject_units fault answers a 4xx status")
    if not 200 <= status <= 599 or status in (204, 205, 304):
        raise ValueError(f"fault status {status} cannot carry the error envelope")
    return status


def _check_optional_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"fault {name} must be a string, not {value!r}")


def _check_seconds(kind: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"fault seconds must be a non-negative number, not {value!r}")
    if kind not in _SLEEPING_KINDS and value != 0:
        raise ValueError(f"a {kind} fault does not wait: seconds does not apply")
    if kind == "timeout" and value == 0:
        raise ValueError("a timeout fault needs seconds > 0 (longer than the client's read timeout)")
    return float(value)


@dataclass
class _PendingFault:
    fault: Fault
    remaining: int | None


# --- the partner's rules -------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def validate_upsert_body(raw: bytes) -> list[dict[str, str | None]]:
    """The units of a valid upsert body; raises InvalidBody with the partner's message otherwise."""
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidBody(MSG_EXPECTED_UNITS) from None
    if not isinstance(body, dict) or set(body) != {"units"} or not isinstance(body["units"], list):
        raise InvalidBody(MSG_EXPECTED_UNITS)
    seen: set[str] = set()
    for unit in body["units"]:
        _check_unit(unit, seen)
    return cast(list[dict[str, str | None]], body["units"])


def _check_unit(unit: object, seen: set[str]) -> None:
    if not isinstance(unit, dict):
        raise InvalidBody(MSG_MISSING_ID)
    unit_id = unit.get("id")
    if not isinstance(unit_id, str) or not unit_id.strip():
        raise InvalidBody(MSG_MISSING_ID)
    if unit_id in seen:
        raise InvalidBody(MSG_DUPLICATE_ID)
    seen.add(unit_id)
    if not set(unit) <= set(UNIT_FIELDS):
        raise InvalidBody(MSG_EXPECTED_UNITS)
    if any(value is not None and not isinstance(value, str) for value in unit.values()):
        raise InvalidBody(MSG_EXPECTED_UNITS)


def request_unit_ids(raw: bytes) -> frozenset[str]:
    """The string unit ids in a body, however invalid the rest of it is (for fault matching)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return frozenset()
    units = body.get("units") if isinstance(body, dict) else None
    if not isinstance(units, list):
        return frozenset()
    return frozenset(u["id"] for u in units if isinstance(u, dict) and isinstance(u.get("id"), str))


def mdt_code(mdt_id: str) -> str:
    """A short display code for an MDT: its first six letters and digits, upper-cased."""
    return re.sub(r"[^0-9A-Za-z]", "", mdt_id)[:6].upper()


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as the partner writes timestamps (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
    ) -> None:
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
        self._faults: list[_PendingFault] = []
        self._fault_counts: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Set by stop(), so latency/timeout faults do not hold a stopping server.
        self._stopping = threading.Event()

    # lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the API base URL (ending in /v1)."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        server = _Server((host, port), self)
        self._server = server
        # A short poll makes stop() quick (tests start one emulator each); the cost is negligible.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="northca-emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        # Keep-alive connections would otherwise go on being served after stop().
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

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
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

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
            self._faults.extend(_PendingFault(f, f.count) for f in parsed)

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

    def link(self, mdt_id: str, guild_id: str) -> None:
        with self._lock:
            self._links.setdefault(mdt_id, set()).add(guild_id)

    # request handling (called from the server's threads)

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
        }
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
        if fault.kind in _DEFAULT_STATUS:
            extra = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
            return error(fault.status or 500, fault.message(), extra)
        if fault.kind == "latency":
            self._stopping.wait(fault.seconds)
            return self._api(method, match, headers, body)
        # apply_then_drop: the partner does the work, the answer is lost on the way back.
        self._api(method, match, headers, body)
        return None

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
            units = validate_upsert_body(body)
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
        return error(404, MSG_NOT_FOUND)

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


# --- HTTP transport ------------------------------------------------------------------------------


class _BadFraming(ValueError):
    """The request's body framing cannot be read, so the connection cannot be reused."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: NorthcaEmulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # OSError: the client closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts, drops) reset connections; that is expected, not an error.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "northca-emulator/1.0"
    # An idle keep-alive connection is closed after this many seconds.
    timeout = 30
    # Headers and body go out in two writes; with Nagle on, the body waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self._server().track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server().untrack(self.connection)

    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BadFraming as exc:
            self.close_connection = True
            self._send(error(exc.args[0], exc.args[1], (("Connection", "close"),)))
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        reply = self._server().emulator.serve(self.command, self.path, headers, body)
        if reply is None:
            # Close without a status line: the client sees the connection end with no answer.
            self.close_connection = True
            return
        self._send(reply)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _BadFraming(400, "Invalid Content-Length")
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise _BadFraming(413, "Payload too large")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadFraming(400, "Invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadFraming(413, "Payload too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.payload, separators=(",", ":")).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib calls this for malformed requests and unknown methods: answer in the envelope too,
        # and close, since the rest of such a request was not read.
        self.close_connection = True
        self._send(error(code, message or HTTPStatus(code).phrase, (("Connection", "close"),)))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


# --- command line --------------------------------------------------------------------------------


def _link_arg(value: str) -> tuple[str, str]:
    mdt_id, sep, guild_id = value.rpartition(":")
    if not sep or not mdt_id or not guild_id:
        raise argparse.ArgumentTypeError(f"expected MDT:GUILD, got {value!r}")
    return mdt_id, guild_id


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m relay_devtools.emulator",
        description="A local Northca Partner API (active units) with fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--partner-key", action="append", required=True, help="a valid key (repeatable)")
    parser.add_argument(
        "--link",
        action="append",
        type=_link_arg,
        default=[],
        help="MDT:GUILD, the MDT is linked to the guild",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    links: dict[str, list[str]] = {}
    for mdt_id, guild_id in args.link:
        links.setdefault(mdt_id, []).append(guild_id)
    emulator = NorthcaEmulator(args.partner_key, links)
    done = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    url = emulator.start(args.host, args.port)
    log.info("Northca emulator listening on %s", url)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
