"""A small ER:LC API on loopback: a private server whose players a test (or a person) changes at runtime.

Serves what the roster poller reads, in PRC's shapes:
- `GET /v2/server?Players=true&EmergencyCalls=true` -> the server object with `Players` and the
  emergency calls (calls.py: an empty list sent, or left out in the `omitted` mode);
  `GET /v1/server/players` -> the list (v1 has no calls);
- the `server-key` header (missing -> 403 code 2000, wrong -> 403 code 2002);
- `X-RateLimit-Bucket/Limit/Remaining/Reset` on every answer, and 429 with `retry_after` in the body
  once the bucket is empty;
- faults queued by tests or over HTTP (any status and body, a dropped connection, PRC's "server
  offline" answer, an empty rate-limit bucket for some seconds: faults.py).

Control endpoints for `relay local` users (no key needed, loopback only):
- `GET /_emulator/players`, `PUT /_emulator/players` (a JSON list), `POST /_emulator/players` (one player),
  `DELETE /_emulator/players/{userId}`; `GET /_emulator/requests`;
- `GET /_emulator/faults` (pending faults, and until when the bucket is empty), `POST /_emulator/faults`
  (a JSON list of faults), `DELETE /_emulator/faults` (clear them all, the empty bucket included);
- `/_emulator/calls` (calls.py: open, change, end, restart the numbering); `POST /_emulator/modes`
  (`{"empty_calls": "list" | "omitted"}`).
A player is PRC's object: `{"Player": "Name:UserId", "Team": "Police", "Callsign": "1A-12"}`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from relay_devtools.emulators.erlc.calls import EMPTY_CALLS, CallBoard, EmptyCalls
from relay_devtools.emulators.erlc.contract import (
    METHOD_NOT_ALLOWED,
    NO_KEY,
    NOT_FOUND,
    RATE_BUCKET,
    RATE_LIMITED,
    WRONG_KEY,
    is_player,
    rate_headers,
    server_object,
    user_id_of,
)
from relay_devtools.emulators.erlc.faults import ErlcFault, fault_from_dict
from relay_devtools.emulators.loopback import LoopbackServer, Reply, Request


class ErlcEmulator:
    def __init__(
        self,
        server_keys: Iterable[str],
        players: Iterable[dict[str, Any]] = (),
        *,
        rate_limit: int = 35,
        rate_window_seconds: float = 60.0,
        v2_enabled: bool = True,
        empty_calls: EmptyCalls = "list",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server_keys = set(server_keys)
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.v2_enabled = v2_enabled
        self.clock = clock
        self._players = [dict(p) for p in players]
        self.calls = CallBoard(clock, empty_calls)
        self._faults: list[ErlcFault] = []
        self._requests: list[dict[str, Any]] = []
        self._window_start = clock()
        self._used = 0
        # A `rate_limited` fault: every request is a 429 until this instant (the clock's seconds).
        self._empty_until: float | None = None
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    # ------------------------------------------------------------ runtime control

    def set_players(self, players: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._players = [dict(p) for p in players]

    def add_player(self, entry: dict[str, Any]) -> None:
        user_id = user_id_of(entry)
        with self._lock:
            self._players = [p for p in self._players if user_id_of(p) != user_id]
            self._players.append(dict(entry))

    def remove_player(self, user_id: int | str) -> None:
        with self._lock:
            self._players = [p for p in self._players if user_id_of(p) != str(user_id)]

    def players(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._players]

    def add_faults(self, faults: Iterable[ErlcFault]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def empty_bucket(self, seconds: float) -> None:
        """Every API request in the next `seconds` is a 429, as when PRC's bucket is spent."""
        with self._lock:
            self._empty_until = self.clock() + seconds

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._empty_until = None

    def pending_faults(self) -> dict[str, Any]:
        with self._lock:
            empty = self._empty_until if self._empty_until and self._empty_until > self.clock() else None
            return {"pending": [fault.to_dict() for fault in self._faults], "bucket_empty_until": empty}

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    # ------------------------------------------------------------ the API

    def _rate_headers(self) -> tuple[dict[str, str], float | None]:
        """Count this request against the bucket; headers, and seconds to wait when it is empty."""
        now = self.clock()
        if now - self._window_start >= self.rate_window_seconds:
            self._window_start, self._used = now, 0
        reset = self._window_start + self.rate_window_seconds
        over = self._used >= self.rate_limit
        if not over:
            self._used += 1
        headers = rate_headers(self.rate_limit, self._used, reset)
        return headers, (reset - now if over else None)

    def answer(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any] | None:
        """(status, headers, JSON body), or None to drop the connection."""
        url = urlsplit(path)
        without_calls = False
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "key_sent": "server-key" in headers, "at": self.clock()}
            )
            if self._faults:
                fault = self._faults[0]
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.pop(0)
                without_calls = fault.kind == "no_calls"
                if not without_calls:
                    return None if fault.drop else (fault.status, dict(fault.headers), fault.body)
            now = self.clock()
            if self._empty_until is not None and self._empty_until > now:
                spent = rate_headers(self.rate_limit, self.rate_limit, self._empty_until)
                left = round(self._empty_until - now, 3)
                return 429, spent, {**RATE_LIMITED, "retry_after": left, "bucket": RATE_BUCKET}
            key = headers.get("server-key")
            if not key:
                return 403, {}, dict(NO_KEY)
            if key not in self.server_keys:
                return 403, {}, dict(WRONG_KEY)
            rate, wait = self._rate_headers()
            if wait is not None:
                return 429, rate, {**RATE_LIMITED, "retry_after": round(wait, 3), "bucket": RATE_BUCKET}
            players = [dict(p) for p in self._players]
        if method != "GET":
            return 405, rate, dict(METHOD_NOT_ALLOWED)
        return self._read(url.path, url.query, players, rate, with_calls=not without_calls)

    def _read(
        self,
        route: str,
        query_text: str,
        players: list[dict[str, Any]],
        rate: dict[str, str],
        *,
        with_calls: bool,
    ) -> tuple[int, dict[str, str], Any]:
        if route == "/v1/server/players":
            return 200, rate, players
        if route == "/v2/server" and self.v2_enabled:
            query = parse_qs(query_text)
            wants_players = query.get("Players", ["false"])[0].lower() == "true"
            server = server_object(players, with_players=wants_players)
            if query.get("EmergencyCalls", ["false"])[0].lower() == "true" and with_calls:
                server |= self.calls.section()
            return 200, rate, server
        return 404, rate, dict(NOT_FOUND)

    def control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        route = urlsplit(path).path
        if route == "/_emulator/requests" and method == "GET":
            return 200, self.requests()
        if route == "/_emulator/faults":
            return self._control_faults(method, body)
        if route == "/_emulator/calls" or route.startswith("/_emulator/calls/"):
            return self.calls.control(method, route, body)
        if route == "/_emulator/modes" and method == "POST":
            return self._control_modes(body)
        if route == "/_emulator/players":
            return self._control_players(method, body)
        if route.startswith("/_emulator/players/") and method == "DELETE":
            self.remove_player(route.rpartition("/")[2])
            return 200, self.players()
        return 404, {"error": "Not found"}

    def _control_modes(self, body: bytes) -> tuple[int, Any]:
        try:
            modes = json.loads(body or b"null")
        except json.JSONDecodeError:
            modes = None
        if not isinstance(modes, dict) or modes.get("empty_calls") not in EMPTY_CALLS:
            return 400, {"error": f'expected {{"empty_calls": one of {", ".join(EMPTY_CALLS)}}}'}
        self.calls.empty_calls = modes["empty_calls"]
        return 200, {"empty_calls": self.calls.empty_calls}

    def _control_players(self, method: str, body: bytes) -> tuple[int, Any]:
        if method == "GET":
            return 200, self.players()
        try:
            data = json.loads(body or b"null")
        except json.JSONDecodeError:
            return 400, {"error": "body is not JSON"}
        if method == "PUT" and isinstance(data, list) and all(is_player(p) for p in data):
            self.set_players(data)
            return 200, self.players()
        if method == "POST" and is_player(data):
            self.add_player(data)
            return 200, self.players()
        return 400, {
            "error": 'expected {"Player": "Name:UserId", "Team": ..., "Callsign": ...} (a list for PUT)'
        }

    def _control_faults(self, method: str, body: bytes) -> tuple[int, Any]:
        if method == "POST":
            try:
                specs = json.loads(body or b"null")
                if not isinstance(specs, list):
                    raise ValueError("expected a JSON list of faults")
                parsed = [fault_from_dict(spec) for spec in specs]
            except (ValueError, RecursionError) as exc:
                return 400, {"error": f"invalid faults: {exc}"}
            for fault in parsed:
                if isinstance(fault, ErlcFault):
                    self.add_faults([fault])
                else:
                    self.empty_bucket(fault)
        elif method == "DELETE":
            self.clear_faults()
        elif method != "GET":
            return 405, dict(METHOD_NOT_ALLOWED)
        return 200, self.pending_faults()

    # ------------------------------------------------------------ serving

    def _serve(self, request: Request) -> Reply | None:
        if request.path.startswith("/_emulator/"):
            status, data = self.control(request.method, request.path, request.body)
            return Reply.json(status, data)
        answer = self.answer(request.method, request.path, dict(request.headers))
        if answer is None:
            return None
        status, headers, body = answer
        return Reply.json(status, body, tuple(headers.items()))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = LoopbackServer((host, port), self._serve)
        return self._server.start("erlc-emulator")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
