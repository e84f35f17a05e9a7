"""Faults a test (or a person, through `POST /_emulator/faults`) asks the ER:LC emulator to inject.

As a JSON object, only `kind` is required:

- `{"kind": "status", "status": 500, "body": {"code": 1001}, "count": 1}`: answer that instead;
- `{"kind": "drop", "count": 1}`: close the connection without answering;
- `{"kind": "offline", "count": 1}`: PRC's "server offline" answer (HTTP 422, code 3002; `status` and
  `body` may say otherwise). The status PRC gives a GET for an offline server is not published: 422 is
  what PRC documents for its command route ("The private server has no players in it");
- `{"kind": "rate_limited", "seconds": 30}`: the rate-limit bucket is empty for `seconds`: every API
  request until then is a 429 with `retry_after` (the seconds left) and the `X-RateLimit-*` headers
  saying so, as PRC answers one;
- `{"kind": "no_calls", "count": 1}`: a normal answer without the `EmergencyCalls` section, asked for
  or not (an answer the relay must take as no news of the calls).

`count` is how many API requests a fault answers (default 1); null answers every request until the
faults are cleared (`DELETE /_emulator/faults`): an outage, or a server that stays offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

OFFLINE_STATUS: Final = 422
OFFLINE_BODY: Final = {"code": 3002, "message": "Server offline (no players)"}
FAULT_KINDS: Final = ("status", "drop", "offline", "rate_limited", "no_calls")
_KEYS: Final = frozenset({"kind", "count", "status", "body", "headers", "seconds"})


@dataclass
class ErlcFault:
    """The next `times` API requests get this answer instead (drop = close without answering; `times`
    None = every request until cleared)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    times: int | None = 1
    kind: str = "status"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "body": self.body, "remaining": self.times}


def fault_from_dict(data: Any) -> ErlcFault | float:
    """A fault from its JSON object; a `rate_limited` one is the seconds its bucket stays empty."""
    if not isinstance(data, Mapping):
        raise ValueError("a fault must be an object")
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(map(str, unknown)))}")
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind: expected one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    if kind == "rate_limited":
        seconds = data.get("seconds", 60)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 3600:
            raise ValueError("seconds: expected a number of seconds above 0, at most 3600")
        return float(seconds)
    count = data.get("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count: expected a whole number from 1, or null for every request")
    status = data.get("status", OFFLINE_STATUS if kind == "offline" else 500)
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError("status: expected an HTTP status from 200 to 599")
    headers = data.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("headers: expected an object of strings")
    body = data.get("body", dict(OFFLINE_BODY) if kind == "offline" else None)
    return ErlcFault(
        status=status,
        body=body,
        headers={str(k): v for k, v in headers.items()},
        drop=kind == "drop",
        times=count,
        kind=str(kind),
    )
