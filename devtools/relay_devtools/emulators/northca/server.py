"""A local Northca Partner API: the active-units endpoints of contracts/northca-partner-api.yaml (the
partner itself is `partner.Partner`), with faults. Routes, all answering `{"ok": true, "data": ...}` or
`{"ok": false, "error"}`:

- `PUT|GET /v1/mdts/{mdtId}/units/active`: the partner's (partner.py says how it answers);
- `GET|DELETE /_emulator/requests`: the log of API requests (partner key redacted) / clear it;
- `GET|POST|DELETE /_emulator/faults`: pending faults and per-kind counters / add a JSON list / clear;
- `PATCH /_emulator/units/{mdtId}/{unitId}`: another writer's edit; `DELETE` of it: another writer
  removes the unit; `DELETE /_emulator/units/{mdtId}`: the MDT lost or reset (every active unit gone);
- `GET|POST /_emulator/modes`: the answers chosen where Northca documents none (desk.py);
- `GET /_emulator/calls/{mdtId}`, `GET /_emulator/panics/{mdtId}`: the calls and panics it holds;
  `PATCH|DELETE /_emulator/calls/{mdtId}/{callId}`: a dispatcher's edit of a call, or its deletion;
- `GET /_emulator/health`.

Faults (see `Fault`) apply to upserts (PUT on the units path), or with their `target` to calls and
panics, and are checked before anything else, as a proxy or overloaded partner in front of the API
would be. Control routes are never logged or faulted.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from relay_devtools.emulators.loopback import LoopbackServer, Request
from relay_devtools.emulators.loopback import Reply as LoopbackReply
from relay_devtools.emulators.northca.contract import (
    MSG_NOT_FOUND,
    Reply,
    error,
    iso_utc,
    log_body,
    not_allowed,
    ok,
    redacted_headers,
    request_call_id,
    request_unit_ids,
)
from relay_devtools.emulators.northca.desk import control_emergencies
from relay_devtools.emulators.northca.faults import DEFAULT_STATUS, FAULT_KINDS, Fault, PendingFault
from relay_devtools.emulators.northca.partner import Partner, route_of

API_PREFIX: Final = "/v1"
CONTROL_PREFIX: Final = "/_emulator"
MAX_LOGGED_REQUESTS: Final = 10_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _error_reply(status: int, message: str) -> LoopbackReply:
    return LoopbackReply.json(status, {"ok": False, "error": message})


# --- the emulator --------------------------------------------------------------------------------


class NorthcaEmulator:
    """The partner API on a loopback port, with faults in front of it. Thread-safe."""

    def __init__(
        self,
        partner_keys: Iterable[str],
        links: Mapping[str, Iterable[str]],
        clock: Callable[[], datetime] | None = None,
        *,
        max_logged_requests: int = MAX_LOGGED_REQUESTS,
        refuse_nulls: bool = False,
    ) -> None:
        self._clock = clock or _utc_now
        self._partner = Partner(partner_keys, links, self._clock, refuse_nulls=refuse_nulls)
        # The request log, the faults and the held requests (the partner has a lock of its own).
        self._lock = threading.Lock()
        # Bounded: soak tests send far more requests than anyone reads back.
        self._log: deque[dict[str, Any]] = deque(maxlen=max_logged_requests)
        self._faults: list[PendingFault] = []
        # Requests an apply_late fault holds back, to be handled later.
        self._late: list[tuple[str, re.Match[str] | None, dict[str, str], bytes, str]] = []
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

    @property
    def refuse_nulls(self) -> bool:
        return self._partner.refuse_nulls

    @refuse_nulls.setter
    def refuse_nulls(self, value: bool) -> None:
        self._partner.refuse_nulls = value

    def units(self, mdt_id: str) -> dict[str, dict[str, Any]]:
        return self._partner.units(mdt_id)

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
        self._partner.set_partner_keys(keys)

    def edit(self, mdt_id: str, unit_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """Another writer (a dispatcher in Northca's UI): see `Partner.edit`."""
        return self._partner.edit(mdt_id, unit_id, fields)

    def remove(self, mdt_id: str, unit_id: str | None = None) -> int:
        """Another writer removes a unit, or (no id) the MDT is wiped: see `Partner.remove`."""
        return self._partner.remove(mdt_id, unit_id)

    def link(self, mdt_id: str, guild_id: str) -> None:
        self._partner.link(mdt_id, guild_id)

    # calls and panics, from Python (desk.Desk): what it holds, a dispatcher's edit or delete, the modes

    def calls(self, mdt_id: str) -> list[dict[str, Any]]:
        return self._partner.desk.calls(mdt_id)  # every record, two under one id in the duplicate mode

    def panics(self, mdt_id: str) -> list[dict[str, Any]]:
        return self._partner.desk.panics(mdt_id)

    def edit_call(self, mdt_id: str, call_id: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self._partner.desk.edit_call(mdt_id, call_id, fields)

    def delete_call(self, mdt_id: str, call_id: str) -> int:
        return self._partner.desk.delete_call(mdt_id, call_id)

    @property
    def modes(self) -> dict[str, str]:
        return self._partner.desk.modes.as_dict()

    def set_modes(self, **modes: str) -> None:
        self._partner.desk.modes.update(modes)

    # request handling (called from the server's threads)

    def _serve_request(self, request: Request) -> LoopbackReply | None:
        reply = self.serve(request.method, request.path, request.headers, request.body)
        return None if reply is None else LoopbackReply.json(reply.status, reply.payload, reply.headers)

    def serve(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply | None:
        """The reply to one request, or None to close the connection without answering."""
        path = urlsplit(raw_path).path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self._control(method, path, body)
        found = route_of(path)
        route, match = found if found is not None else ("units", None)
        fault = self._take_fault(route, method, match, body) if match else None
        entry = {
            "method": method,
            "path": raw_path,
            "headers": redacted_headers(headers),
            "body": log_body(body),
            "status": None,
            "fault": fault.kind if fault else None,
            "at": iso_utc(self._clock()),
        }
        if fault is not None and fault.kind == "apply_late":
            self._record(entry)
            self._hold(fault, method, match, headers, body, route)
            return None
        if fault is not None and fault.kind in ("timeout", "drop"):
            # Logged before waiting: the client has given up long before the wait ends.
            self._record(entry)
            if fault.kind == "timeout":
                self._stopping.wait(fault.seconds)
            return None
        reply = self._faulted(fault, method, match, headers, body, route)
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
        route: str = "units",
    ) -> Reply | None:
        if fault is None:
            return self._partner.answer(method, match, headers, body, route)
        if fault.kind in DEFAULT_STATUS:
            extra = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
            return error(fault.status or 500, fault.message(), extra)
        if fault.kind == "latency":
            self._stopping.wait(fault.seconds)
            return self._partner.answer(method, match, headers, body, route)
        # apply_then_drop: the partner does the work, the answer is lost on the way back.
        self._partner.answer(method, match, headers, body, route)
        return None

    def _hold(
        self,
        fault: Fault,
        method: str,
        match: re.Match[str] | None,
        headers: Mapping[str, str],
        body: bytes,
        route: str = "units",
    ) -> None:
        """Keep a request to handle later (apply_late): after `seconds`, or at `land_late()`."""
        late = (method, match, dict(headers), body, route)
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
        self, late: tuple[str, re.Match[str] | None, dict[str, str], bytes, str], taken: bool = False
    ) -> None:
        if not taken:
            with self._lock:
                if late not in self._late:
                    return  # landed already
                self._late.remove(late)
        method, match, headers, body, route = late
        reply = self._partner.answer(method, match, headers, body, route)
        self._record(
            {
                "method": method,
                "path": match.string if match else "",
                "headers": redacted_headers(headers),
                "body": log_body(body),
                "status": reply.status,
                "fault": "landed_late",
                "at": iso_utc(self._clock()),
            }
        )

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def _take_fault(self, route: str, method: str, match: re.Match[str], body: bytes) -> Fault | None:
        unit_ids = request_unit_ids(body)
        if route == "panic":
            unit_ids = frozenset({unquote(match["unit"])})
        call_ids = frozenset({unquote(match["call"])}) if route == "call" else request_call_id(body)
        with self._lock:
            for index, pending in enumerate(self._faults):
                if not pending.fault.matches(unit_ids, route, method, call_ids):
                    continue
                if pending.remaining is not None:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        del self._faults[index]
                self._fault_counts[pending.fault.kind] += 1
                return pending.fault
        return None

    # control routes

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        route = path.removeprefix(CONTROL_PREFIX)
        if route == "/health":
            return ok({"status": "ok"}) if method == "GET" else not_allowed(("GET",))
        if route == "/requests":
            return self._control_requests(method)
        if route == "/faults":
            return self._control_faults(method, body)
        if route.startswith("/units/"):
            return self._control_edit(method, route.removeprefix("/units/"), body)
        if route == "/modes" or route.startswith(("/calls/", "/panics/")):
            return control_emergencies(self, method, route, body)
        return error(404, MSG_NOT_FOUND)

    def _control_edit(self, method: str, rest: str, body: bytes) -> Reply:
        """`PATCH /_emulator/units/{mdtId}/{unitId}` with `{"status": "10-6"}`: another writer's edit;
        `DELETE` of a unit, or of `/_emulator/units/{mdtId}` (the MDT wiped)."""
        mdt_id, _, unit_id = rest.partition("/")
        if method == "DELETE" and mdt_id:
            return ok({"removed": self.remove(unquote(mdt_id), unquote(unit_id) if unit_id else None)})
        if method != "PATCH":
            return not_allowed(("PATCH", "DELETE"))
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
        return not_allowed(("GET", "DELETE"))

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
            return not_allowed(("GET", "POST", "DELETE"))
        return ok({"pending": self.pending_faults(), "counts": self.fault_counts})
