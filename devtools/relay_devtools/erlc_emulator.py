"""A small ER:LC API on loopback: a private server whose players a test (or a person) changes at runtime.

Serves what the roster poller reads, in PRC's shapes:
- `GET /v2/server?Players=true` -> the server object with `Players`; `GET /v1/server/players` -> the list;
- the `server-key` header (missing -> 403 code 2000, wrong -> 403 code 2002);
- `X-RateLimit-Bucket/Limit/Remaining/Reset` on every answer, and 429 with `retry_after` in the body
  once the bucket is empty;
- faults queued by tests (any status and body, or a dropped connection).

Control endpoints for `relay local` users (no key needed, loopback only):
- `GET /_emulator/players`, `PUT /_emulator/players` (a JSON list), `POST /_emulator/players` (one player),
  `DELETE /_emulator/players/{userId}`; `GET /_emulator/requests`.
A player is PRC's object: `{"Player": "Name:UserId", "Team": "Police", "Callsign": "1A-12"}`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from relay_devtools.emulators.loopback import LoopbackServer, Reply, Request


@dataclass
class ErlcFault:
    """The next `times` API requests get this answer instead (drop = close without answering)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    times: int = 1


def player(
    name: str, user_id: int | str, team: str = "Police", callsign: str | None = None
) -> dict[str, Any]:
    """A player as PRC lists them; `Callsign` only on non-civilian teams."""
    entry: dict[str, Any] = {"Player": f"{name}:{user_id}", "Permission": "Normal", "Team": team}
    if callsign is not None:
        entry["Callsign"] = callsign
    return entry


class ErlcEmulator:
    def __init__(
        self,
        server_keys: Iterable[str],
        players: Iterable[dict[str, Any]] = (),
        *,
        rate_limit: int = 35,
        rate_window_seconds: float = 60.0,
        v2_enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server_keys = set(server_keys)
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.v2_enabled = v2_enabled
        self.clock = clock
        self._players = [dict(p) for p in players]
        self._faults: list[ErlcFault] = []
        self._requests: list[dict[str, Any]] = []
        self._window_start = clock()
        self._used = 0
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    # ------------------------------------------------------------ runtime control

    def set_players(self, players: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._players = [dict(p) for p in players]

    def add_player(self, entry: dict[str, Any]) -> None:
        user_id = entry["Player"].rpartition(":")[2]
        with self._lock:
            self._players = [p for p in self._players if p["Player"].rpartition(":")[2] != user_id]
            self._players.append(dict(entry))

    def remove_player(self, user_id: int | str) -> None:
        with self._lock:
            self._players = [p for p in self._players if p["Player"].rpartition(":")[2] != str(user_id)]

    def players(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._players]

    def add_faults(self, faults: Iterable[ErlcFault]) -> None:
        with self._lock:
            self._faults.extend(faults)

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
        headers = {
            "X-RateLimit-Bucket": "global",
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - self._used, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        return headers, (reset - now if over else None)

    def answer(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any] | None:
        """(status, headers, JSON body), or None to drop the connection."""
        url = urlsplit(path)
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "key_sent": "server-key" in headers, "at": self.clock()}
            )
            if self._faults:
                fault = self._faults[0]
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.pop(0)
                return None if fault.drop else (fault.status, dict(fault.headers), fault.body)
            key = headers.get("server-key")
            if not key:
                return 403, {}, {"code": 2000, "message": "You did not provide a server-key."}
            if key not in self.server_keys:
                return 403, {}, {"code": 2002, "message": "You provided an invalid (or expired) server-key."}
            rate, wait = self._rate_headers()
            if wait is not None:
                body = {"code": 4001, "message": "You are being rate limited!", "retry_after": round(wait, 3)}
                return 429, rate, {**body, "bucket": "global"}
            players = [dict(p) for p in self._players]
        if method != "GET":
            return 405, rate, {"code": 0, "message": "Method not allowed"}
        if url.path == "/v1/server/players":
            return 200, rate, players
        if url.path == "/v2/server" and self.v2_enabled:
            wants_players = parse_qs(url.query).get("Players", ["false"])[0].lower() == "true"
            server: dict[str, Any] = {
                "Name": "Relay Local RP",
                "OwnerId": 1,
                "CoOwnerIds": [],
                "CurrentPlayers": len(players),
                "MaxPlayers": 40,
                "JoinKey": "RelayLocal",
                "AccVerifiedReq": "Disabled",
                "TeamBalance": False,
            }
            if wants_players:
                server["Players"] = players
            return 200, rate, server
        return 404, rate, {"code": 0, "message": "Not found"}

    def control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        route = urlsplit(path).path
        if route == "/_emulator/requests" and method == "GET":
            return 200, self.requests()
        if route == "/_emulator/players":
            if method == "GET":
                return 200, self.players()
            try:
                data = json.loads(body or b"null")
            except json.JSONDecodeError:
                return 400, {"error": "body is not JSON"}
            if method == "PUT" and isinstance(data, list) and all(_is_player(p) for p in data):
                self.set_players(data)
                return 200, self.players()
            if method == "POST" and _is_player(data):
                self.add_player(data)
                return 200, self.players()
            return 400, {
                "error": 'expected {"Player": "Name:UserId", "Team": ..., "Callsign": ...} (a list for PUT)'
            }
        if route.startswith("/_emulator/players/") and method == "DELETE":
            self.remove_player(route.rpartition("/")[2])
            return 200, self.players()
        return 404, {"error": "Not found"}

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


def _is_player(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("Player"), str):
        return False
    name, _, user_id = value["Player"].rpartition(":")
    return bool(name) and user_id.isdigit() and isinstance(value.get("Team", ""), str)
