"""Faults a test (or a person, through `POST /_emulator/faults`) asks the emulator to inject."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Literal, cast

from relay_devtools.emulators.northca.contract import MSG_MISSING_ID

FaultKind = Literal[
    "status", "throttle", "latency", "timeout", "drop", "apply_then_drop", "apply_late", "reject_units"
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "status",
    "throttle",
    "latency",
    "timeout",
    "drop",
    "apply_then_drop",
    "apply_late",
    "reject_units",
)
_FAULT_KEYS: Final = frozenset(
    {"kind", "count", "unit_ids", "status", "body", "retry_after", "seconds", "target", "call_ids", "methods"}
)
FaultTarget = Literal["units", "calls", "panics", "any"]
FAULT_TARGETS: Final[tuple[FaultTarget, ...]] = ("units", "calls", "panics", "any")
# The API routes (relay_devtools.emulators.northca.partner.ROUTES) and methods each target hits.
_TARGET_ROUTES: Final[Mapping[str, frozenset[tuple[str, str]]]] = {
    "units": frozenset({("units", "PUT")}),
    "calls": frozenset({("calls", "POST"), ("call", "PATCH")}),
    "panics": frozenset({("panic", "POST")}),
}
# Kinds that answer with an error envelope instead of handling the request, and their default status.
DEFAULT_STATUS: Final[Mapping[str, int]] = {"status": 500, "throttle": 429, "reject_units": 400}
_SLEEPING_KINDS: Final = frozenset({"latency", "timeout", "apply_late"})


@dataclass(frozen=True)
class Fault:
    """One fault rule. As a dict (Python or `POST /_emulator/faults`), only `kind` is required:

    `{"kind": K, "count": 1, "unit_ids": ["ADAM-12"], "status": 503, "body": "msg",
    "retry_after": "2", "seconds": 1.0, "target": "units", "call_ids": ["cad-7"], "methods": ["POST"]}`

    - `target`: which requests it hits: "units" (the default: upserts), "calls" (creates and PATCHes of
      calls), "panics" (panic POSTs) or "any" (every one of those).
    - `call_ids`: only requests about these calls match (the create's `id`, the PATCH's path); `methods`:
      only these HTTP methods.

    - `count`: how many matching upserts it hits (default 1); None/null = every one, forever.
    - `unit_ids`: only upserts whose body holds any of these unit ids, or panics of one of these units,
      match (default: every one).
    - `status` kind: answer `status` (default 500; 200-599 except 204/205/304) with error `body`
      (default: the status phrase) and `retry_after` if given; nothing is stored.
    - `throttle`: like `status` but 429 (default) or 503; `retry_after` is sent verbatim when given.
    - `latency`: wait `seconds`, then handle the request normally.
    - `timeout`: wait `seconds` (make it longer than the client's read timeout), then close without
      answering; nothing is stored.
    - `drop`: close the connection without answering; nothing is stored.
    - `apply_then_drop`: handle the request normally (so a valid upsert IS stored), then close without
      answering: the "applied but unknown" case.
    - `apply_late`: close without answering now, and handle the request later: after `seconds` when
      given, or when a test calls `land_late()`: a PUT that lands after the ones sent after it.
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
    target: FaultTarget = "units"
    call_ids: frozenset[str] | None = None
    methods: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.target not in FAULT_TARGETS:
            raise ValueError(
                f"unknown fault target {self.target!r}; expected one of {', '.join(FAULT_TARGETS)}"
            )
        if self.call_ids is not None:
            object.__setattr__(self, "call_ids", _as_unit_ids(self.call_ids))
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(m.upper() for m in _as_unit_ids(self.methods)))
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        _check_count(self.count)
        if self.unit_ids is not None:
            object.__setattr__(self, "unit_ids", _as_unit_ids(self.unit_ids))
        object.__setattr__(self, "status", _check_status(self.kind, self.status))
        if self.kind not in DEFAULT_STATUS and (self.body is not None or self.retry_after is not None):
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
        call_ids, methods = data.get("call_ids"), data.get("methods")
        return cls(
            kind=cast(FaultKind, kind),
            count=data.get("count", 1),
            unit_ids=None if unit_ids is None else _as_unit_ids(unit_ids),
            status=data.get("status"),
            body=data.get("body"),
            retry_after=data.get("retry_after"),
            seconds=data.get("seconds", 0.0),
            target=data.get("target", "units"),
            call_ids=None if call_ids is None else _as_unit_ids(call_ids),
            methods=None if methods is None else _as_unit_ids(methods),
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
            "target": self.target,
            "call_ids": None if self.call_ids is None else sorted(self.call_ids),
            "methods": None if self.methods is None else sorted(self.methods),
        }

    def matches(
        self,
        unit_ids: frozenset[str],
        route: str = "units",
        method: str = "PUT",
        call_ids: frozenset[str] = frozenset(),
    ) -> bool:
        """Whether a request (its route, method, and the units and calls it names) is one to hit."""
        hits = [*_TARGET_ROUTES.values()] if self.target == "any" else [_TARGET_ROUTES[self.target]]
        if not any((route, method) in routes for routes in hits):
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.call_ids is not None and self.call_ids.isdisjoint(call_ids):
            return False
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
    default = DEFAULT_STATUS.get(kind)
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
class PendingFault:
    fault: Fault
    remaining: int | None
