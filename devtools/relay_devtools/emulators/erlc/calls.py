"""The emulated server's emergency calls: what `GET /v2/server?EmergencyCalls=true` lists, and the HTTP
control a test or a `relay local` user changes them with (no key, loopback only):

- `GET /_emulator/calls`: the open calls, as PRC lists them;
- `POST /_emulator/calls`: a player dials 911; the body is any of PRC's fields (`Team`, `Caller`,
  `Description`, `PositionDescriptor`, `Position`, `Players`); `CallNumber` defaults to the session's
  next number, `StartedAt` to now;
- `PATCH /_emulator/calls/{CallNumber}`: the call changes (a responder answers: `{"Players": [id]}`);
- `DELETE /_emulator/calls/{CallNumber}`: the call ends;
- `POST /_emulator/calls/restart`: the server restarts: every call ends and numbering starts at 1
  again (CallNumber is most likely counted per session, which is why the relay keys a call by its
  number and StartedAt).

PRC documents no schema for a call; these are the fields its community wrappers read (Fortune1243/
erlc-api `src/erlc_api/models.py`; Wqffles-com/Erlc.Net `Erlc.Net.Core/Models/Calls.cs`). What PRC
answers when no call is open is not documented either: `empty_calls = "list"` sends `[]`, `"omitted"`
leaves the section out (as v2 does with an empty player list).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

EmptyCalls = Literal["list", "omitted"]
EMPTY_CALLS: Final = ("list", "omitted")
CALL_FIELDS: Final = (
    "Team",
    "Caller",
    "Players",
    "Position",
    "StartedAt",
    "CallNumber",
    "Description",
    "PositionDescriptor",
)


def emergency_call(
    number: int,
    started_at: int,
    *,
    team: str = "Police",
    caller: int | None = None,
    responders: list[int] | None = None,
    description: str = "",
    place: str = "",
    position: list[float] | None = None,
) -> dict[str, Any]:
    """A call as PRC lists it in `EmergencyCalls`."""
    return {
        "Team": team,
        "Caller": caller,
        "Players": list(responders or []),
        "Position": list(position or [0.0, 0.0]),
        "StartedAt": started_at,
        "CallNumber": number,
        "Description": description,
        "PositionDescriptor": place,
    }


class CallBoard:
    """A server's open calls, numbered per session."""

    def __init__(self, clock: Callable[[], float], empty_calls: EmptyCalls = "list") -> None:
        self.clock = clock
        self.empty_calls: EmptyCalls = empty_calls
        self._calls: list[dict[str, Any]] = []
        self._next = 1
        self._lock = threading.Lock()

    def open(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            number = fields.get("CallNumber")
            if not isinstance(number, int) or isinstance(number, bool):
                number = self._next
            self._next = max(self._next, number + 1)
            call = emergency_call(number, int(self.clock())) | {
                k: v for k, v in fields.items() if k in CALL_FIELDS
            }
            call["CallNumber"] = number
            self._calls = [c for c in self._calls if c["CallNumber"] != number] + [call]
            return dict(call)

    def change(self, number: int, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            for call in self._calls:
                if call["CallNumber"] == number:
                    call.update({k: v for k, v in fields.items() if k in CALL_FIELDS and k != "CallNumber"})
                    return dict(call)
            return None

    def end(self, number: int) -> bool:
        with self._lock:
            kept = [c for c in self._calls if c["CallNumber"] != number]
            ended = len(kept) != len(self._calls)
            self._calls = kept
            return ended

    def restart(self) -> None:
        with self._lock:
            self._calls, self._next = [], 1

    def listed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._calls]

    def section(self) -> dict[str, Any]:
        """What the server object carries when asked for the calls (the list, or nothing when empty in
        the `omitted` mode)."""
        calls = self.listed()
        return {} if not calls and self.empty_calls == "omitted" else {"EmergencyCalls": calls}

    # ------------------------------------------------------------------ HTTP control

    def control(self, method: str, route: str, body: bytes) -> tuple[int, Any]:
        rest = route.removeprefix("/_emulator/calls").strip("/")
        if not rest and method == "GET":
            return 200, self.listed()
        if rest == "restart" and method == "POST":
            self.restart()
            return 200, self.listed()
        try:
            data = json.loads(body or b"null")
        except json.JSONDecodeError:
            data = None
        if not rest and method == "POST":
            if not isinstance(data, dict):
                return 400, {
                    "error": 'expected a call: {"Team": "Police", "Caller": 123, "Description": ...}'
                }
            return 200, self.open(data)
        if not rest.isdigit():
            return 404, {"error": "Not found"}
        number = int(rest)
        if method == "DELETE":
            return (200, self.listed()) if self.end(number) else (404, {"error": f"no call {number}"})
        if method == "PATCH":
            if not isinstance(data, dict):
                return 400, {"error": 'expected the fields that change, e.g. {"Players": [1234567890]}'}
            changed = self.change(number, data)
            return (200, changed) if changed is not None else (404, {"error": f"no call {number}"})
        return 405, {"error": "Method not allowed"}
