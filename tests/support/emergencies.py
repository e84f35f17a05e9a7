"""Calls and panics in memory: a Northca that holds units, calls and panics (every plausible answer to a
repeated call id as a mode, an empty PATCH read or refused, each answer to a panic for a unit it does
not hold), a scripted fault per request, and builders of the emergency queue's messages."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from relay.config.schema import EmergenciesConfig
from relay.consumer.emergency_state import InMemoryEmergencyStore
from relay.consumer.invocation import ConsumerDeps
from relay.errors import (
    NorthcaError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaTimeoutError,
    NorthcaUnexpectedStatusError,
)
from relay.messages import QueueMessage
from relay.models import CALL_FIELDS, CallChange, Panic, format_instant
from relay.northca.wire import call_json, read_call, read_panic
from relay.ports.partner import CallRecord, CallValue, NewCall, PanicAnswer
from tests.support.constants import ACTOR, GUILD, MDT, NOW
from tests.support.consumer import Harness, MemoryPartner

Repeated = Literal["conflict", "upsert", "duplicate"]
PanicInactive = Literal["not-found", "bad-request", "accept"]
# A scripted fault: raised before the request is applied, or "applied-then-timeout" (applied, answer
# lost), or "late" (answer lost now, applied when `land_late()` runs), or None (answered normally).
Fault = NorthcaError | Literal["applied-then-timeout", "late"] | None


class MemoryNorthca(MemoryPartner):
    """Northca's units (MemoryPartner), calls and panics. Calls are kept as a list per MDT so that a
    second call under one id (the `duplicate` mode) is seen; `calls_of` groups them by id."""

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        *,
        repeated: Repeated = "conflict",
        empty_patch: Literal["record", "refused"] = "record",
        panic_inactive: PanicInactive = "not-found",
        late_window: timedelta = timedelta(seconds=60),
    ) -> None:
        super().__init__(clock)
        self.repeated, self.empty_patch, self.panic_inactive = repeated, empty_patch, panic_inactive
        self.calls: list[dict[str, Any]] = []  # every call record, with its "mdt"
        self.panics: list[dict[str, Any]] = []
        self.call_requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, call id / unit, body)
        self.call_script: list[Fault] = []
        # Requests held to land later, with when they came: each lands by `late_window` after that at
        # the latest (the contract, `late_request_window_seconds`: within the window, or never).
        self.late: list[tuple[datetime, Callable[[], Any]]] = []
        self.late_window = late_window
        # Requests whose answer was lost (applied, or held to land later): (method, call id or unit).
        self.lost: list[tuple[str, str]] = []
        self.generated = 0

    # ------------------------------------------------------------------ the partner's side

    def _next_fault(self) -> Fault:
        return self.call_script.pop(0) if self.call_script else None

    def _run(self, apply: Callable[[], Any]) -> Any:
        self._land_expired()
        fault = self._next_fault()
        if isinstance(fault, NorthcaError):
            raise fault
        if fault in ("late", "applied-then-timeout"):
            method, target, _ = self.call_requests[-1]
            self.lost.append((method, target))
        if fault == "late":
            self.late.append((self.clock(), apply))
            raise NorthcaTimeoutError("PATCH timed out: ReadTimeoutError")
        answer = apply()
        if fault == "applied-then-timeout":
            raise NorthcaTimeoutError("timed out: ReadTimeoutError")
        return answer

    def land_late(self) -> int:
        """Every held request lands now, oldest first; how many."""
        held, self.late = self.late, []
        for _, apply in held:
            with contextlib.suppress(NorthcaError):  # a late request the partner refuses changes nothing
                apply()
        return len(held)

    def _land_expired(self) -> None:
        """Held requests whose window has passed land before anything that comes after it (at the last
        moment the contract allows): a harness that landed one later would model a partner the relay
        does not promise to handle."""
        now = self.clock()
        due = [apply for came, apply in self.late if now >= came + self.late_window]
        self.late = [(came, apply) for came, apply in self.late if now < came + self.late_window]
        for apply in due:
            with contextlib.suppress(NorthcaError):
                apply()

    def stored_calls(self, mdt_id: str, call_id: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["mdt"] == mdt_id and c["id"] == call_id]

    def create_call(
        self, mdt_id: str, guild_id: str, call: NewCall, actor: str | None = None
    ) -> CallRecord | None:
        body = {"id": call.call_id, **call_json(call.fields)} | (
            {"created_by": call.created_by} if call.created_by else {}
        )
        self.call_requests.append(("POST", call.call_id, body))

        def apply() -> Any:
            existing = self.stored_calls(mdt_id, call.call_id)
            now = format_instant(self.clock())
            if existing and self.repeated == "conflict":
                raise NorthcaUnexpectedStatusError("Call already exists", 409)
            if existing and self.repeated == "upsert":
                record = existing[0]
                record.update({k: v for k, v in body.items() if k != "id"} | {"updated_at": now})
                return dict(record)
            call_id = call.call_id
            if existing:  # duplicate: a second call, under an id the partner makes
                self.generated += 1
                call_id = f"gen-{self.generated}"
            record = {
                "mdt": mdt_id,
                "id": call_id,
                **{name: [] if name == "units_assigned" else "" for name in CALL_FIELDS},
                "status": "open",
                **{k: v for k, v in body.items() if k != "id"},
                "created_at": now,
                "updated_at": now,
            }
            self.calls.append(record)
            return dict(record)

        return read_call(self._run(apply))

    def update_call(
        self,
        mdt_id: str,
        guild_id: str,
        call_id: str,
        fields: Mapping[str, CallValue],
        actor: str | None = None,
    ) -> CallRecord | None:
        body = call_json(fields)
        self._land_expired()
        self.call_requests.append(("PATCH", call_id, body))
        if not body and self.empty_patch == "refused":
            raise NorthcaInvalidRequestError("Nothing to update", 400)

        def apply() -> Any:
            existing = self.stored_calls(mdt_id, call_id)
            if not existing:
                raise NorthcaNotFoundError("Call not found", 404)
            applied = {k: v for k, v in body.items() if k in CALL_FIELDS}
            for record in existing:
                if applied:
                    record.update(applied | {"updated_at": format_instant(self.clock())})
            return dict(existing[0])

        return read_call(self._run(apply))

    def trigger_panic(
        self, mdt_id: str, guild_id: str, unit_id: str, address: str | None, actor: str | None = None
    ) -> PanicAnswer:
        self.call_requests.append(("PANIC", unit_id, {"address": address}))

        def apply() -> Any:
            if (mdt_id, unit_id) not in self.units and self.panic_inactive != "accept":
                if self.panic_inactive == "not-found":
                    raise NorthcaNotFoundError("Unit not found", 404)
                raise NorthcaInvalidRequestError("Unit is not active", 400)
            at = format_instant(self.clock())
            self.panics.append({"mdt": mdt_id, "unit_id": unit_id, "address": address, "ts": at})
            return {"panicked": True, "unit_id": unit_id, "ts": at}

        return read_panic(self._run(apply))

    # ------------------------------------------------------------------ another writer

    def edit_call(self, call_id: str, mdt_id: str = MDT, **fields: Any) -> None:
        """A dispatcher edits a call in Northca's UI (every record under that id)."""
        self._land_expired()
        for record in self.stored_calls(mdt_id, call_id):
            record.update(fields | {"updated_at": format_instant(self.clock())})

    def call(self, call_id: str, mdt_id: str = MDT) -> dict[str, Any]:
        [record] = self.stored_calls(mdt_id, call_id)
        return {name: record[name] for name in CALL_FIELDS} | {"created_by": record.get("created_by")}


class EmergencyHarness(Harness):
    """The consumer harness with MemoryNorthca and an in-memory emergency store on the same clock."""

    def __init__(self, northca: MemoryNorthca | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.partner = northca or MemoryNorthca(self.clock)
        self.partner.clock = self.clock
        self.emergency_state = InMemoryEmergencyStore(self.clock)
        self.max_receive_count: int | None = None
        self.emergencies = EmergenciesConfig()

    @property
    def northca(self) -> MemoryNorthca:
        assert isinstance(self.partner, MemoryNorthca)
        return self.partner

    def deps(self, writer: Any = None) -> ConsumerDeps:
        deps = super().deps(writer)
        deps.emergency_writer = writer or self.partner
        deps.emergency_state = self.emergency_state
        deps.max_receive_count = self.max_receive_count
        deps.emergencies = self.emergencies
        return deps


def call_message(
    webhook: str,
    key: str,
    seconds: float = 0,
    *,
    opens: bool = True,
    created_by: str | None = None,
    received: float | None = None,
    source: str = "cad",
    mdt: str = MDT,
    **fields: Any,
) -> QueueMessage:
    change = CallChange(
        key=key, at=NOW + timedelta(seconds=seconds), fields=fields, opens=opens, created_by=created_by
    )
    return QueueMessage(
        source=source,
        mdt_id=mdt,
        guild_id=GUILD,
        actor=ACTOR,
        webhook_id=webhook,
        received_at=NOW + timedelta(seconds=seconds if received is None else received),
        calls=[change],
    )


def panic_message(
    webhook: str,
    unit: str,
    seconds: float = 0,
    *,
    key: str = "",
    address: str | None = None,
    source: str = "cad",
) -> QueueMessage:
    return QueueMessage(
        source=source,
        mdt_id=MDT,
        guild_id=GUILD,
        actor=ACTOR,
        webhook_id=webhook,
        received_at=NOW + timedelta(seconds=seconds),
        panics=[Panic(unit=unit, at=NOW + timedelta(seconds=seconds), key=key, address=address)],
    )
