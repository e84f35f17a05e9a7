"""A panic delivered once: claimed by a conditional write, POSTed, and remembered for the repeat window.

A panic is an event, not state: it is never merged with another, never waits for the unit batching
window (it comes on the emergency queue), and is sent at least once. Its record (`panic#<mdt>#<guild>`,
sk `<unit>#<source>#<press>`) says it was sent: a copy of the same press (a sender's retry, a message
SQS delivers twice) within `panic_repeat_window_seconds` finds it and is not sent again. A POST whose
answer was lost is sent again (at least once: the MDT may then show that one panic twice; nothing can
tell whether it landed, Northca lists no panics).

When the partner answers that the unit is not active (404, or 400), the unit is made active first,
through the unit path itself (a change setting `panic_activate_status`, written like any other, so
that the unit's state knows it), and the panic is sent again with the id as the partner spells it. If
the partner still refuses it, the panic goes to the DLQ with the partner's reason.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from relay.consumer.batch import UnitBatch
from relay.consumer.emergency_session import EmergencySession
from relay.consumer.emergency_state import EmergencyStore, RecordKey, panic_key
from relay.consumer.invocation import Delivery, Invocation
from relay.consumer.session import PartnerSession
from relay.consumer.unit_state import UnitKey
from relay.errors import (
    NorthcaError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    PartnerStoppedError,
    UnitStateUnavailableError,
)
from relay.messages import QueueMessage
from relay.models import Panic, UnitChange, format_instant

Fate = Literal["done", "retry", "wait", "refused"]


@dataclass
class PanicResult:
    unit_id: str
    outcome: str  # sent | repeat | waiting | given back | refused
    fate: Fate
    detail: str = ""
    delay: int | None = None
    written: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PanicItem:
    """One panic of one message, with what the message says of where it goes."""

    message_id: str
    message: QueueMessage
    panic: Panic

    def record_key(self, canonical: str) -> RecordKey:
        m = self.message
        return panic_key(m.mdt_id, m.guild_id, canonical, m.source, self.panic.key)


class PanicDesk:
    def __init__(
        self,
        run: Invocation,
        store: EmergencyStore,
        session: EmergencySession,
        *,
        repeat_window: timedelta,
        request_budget: timedelta,
        activate_status: str,
    ) -> None:
        self.run, self.store, self.session = run, store, session
        self.clock: Callable[[], datetime] = run.deps.clock
        self.repeat_window, self.request_budget = repeat_window, request_budget
        self.activate_status = activate_status

    def canonical(self, item: PanicItem) -> str:
        return self.run.deps.policy.canonical(item.message.mdt_id, item.panic.unit)

    def deliver(self, item: PanicItem, stored: dict[str, Any] | None, version: int) -> PanicResult:
        key = item.record_key(self.canonical(item))
        unit = item.panic.unit
        now = self.clock()
        if stored is not None and stored.get("state") == "sent":
            return PanicResult(unit, "repeat", "done", f"the same panic was sent at {stored.get('at')}")
        busy_until = (
            _instant(stored.get("deadline"))
            if stored is not None and stored.get("state") == "sending"
            else None
        )
        if busy_until is not None and now < busy_until:
            delay = max(1, math.ceil((busy_until - now).total_seconds()))
            return PanicResult(unit, "waiting", "wait", "another consumer is sending this panic", delay)
        deadline = now + self.request_budget
        claim = {"state": "sending", "deadline": deadline.isoformat()}
        ttl = int((self.request_budget + self.repeat_window).total_seconds())
        claimed = self._write(key, claim, version, ttl)
        if claimed is None:
            delay = max(1, math.ceil(self.request_budget.total_seconds()))
            return PanicResult(unit, "waiting", "wait", "another consumer claimed this panic", delay)
        result = self._send(item, unit)
        if result.fate == "done":
            sent = {
                "state": "sent",
                "at": format_instant(self.clock()),
                "unit": result.written.get("unit", unit),
            }
            # Sent all the same if this fails: only a copy coming after the claim lapsed sends it again.
            with contextlib.suppress(UnitStateUnavailableError):
                self._write(key, sent, claimed, int(self.repeat_window.total_seconds()))
        else:
            # Not sent: the claim is given up at once, so the retry (or a redrive) may send it.
            with contextlib.suppress(UnitStateUnavailableError):
                self._write(key, {"state": result.outcome}, claimed, 60)
        return result

    def _write(self, key: RecordKey, value: dict[str, Any], version: int, ttl: int) -> int | None:
        return self.store.write(key, value, version, ttl)

    # ------------------------------------------------------------------ the partner

    def _send(self, item: PanicItem, unit: str) -> PanicResult:
        try:
            return self._post(item, unit)
        except (NorthcaNotFoundError, NorthcaInvalidRequestError) as first:
            if isinstance(first, NorthcaNotFoundError) and first.status != 404:
                return self._setup(item, first)
            refusal = first.message
        except (NorthcaError, PartnerStoppedError) as exc:
            return self._failed(unit, exc)
        spelled = self._activate(item)
        if isinstance(spelled, PanicResult):
            return spelled
        try:
            result = self._post(item, spelled)
        except (NorthcaNotFoundError, NorthcaInvalidRequestError) as again:
            reason = (
                f"partner refused the panic ({refusal}), and again once the unit was active: {again.message}"
            )
            return PanicResult(unit, "refused", "refused", reason)
        except (NorthcaError, PartnerStoppedError) as exc:
            return self._failed(unit, exc)
        result.detail = f"the MDT did not hold the unit as active ({refusal}): made active first"
        return result

    def _post(self, item: PanicItem, unit: str) -> PanicResult:
        m, panic = item.message, item.panic
        writer = self.session.writer
        self.session.attempt(
            m.mdt_id,
            m.guild_id,
            lambda: writer.trigger_panic(m.mdt_id, m.guild_id, unit, panic.address, m.actor),
            repeat="always",
        )
        self.run.outcome.panics_sent += 1
        written = {"unit": unit} | ({"address": panic.address} if panic.address else {})
        return PanicResult(panic.unit, "sent", "done", written=written)

    def _activate(self, item: PanicItem) -> str | PanicResult:
        """Make the unit active through the unit path: the id as the partner spells it, or why not."""
        m, panic = item.message, item.panic
        fields: dict[str, str | None] = {"status": self.activate_status} if self.activate_status else {}
        activation = UnitChange(id=panic.unit, at=panic.at, fields=fields)
        message = m.model_copy(update={"changes": [activation], "panics": [], "calls": []})
        batch = UnitBatch([Delivery(f"{item.message_id}:activate", "", 1, message)], self.run)
        batch.run(PartnerSession(self.run))
        key = UnitKey(m.mdt_id, m.guild_id, self.canonical(item))
        if key in batch.refused:
            why = f"the unit could not be made active: partner refused it: {batch.refused[key]}"
            return PanicResult(panic.unit, "refused", "refused", why)
        if key in batch.failed:
            why = f"the unit could not be made active now: {self.run.budget.stopped or 'not written'}"
            return PanicResult(panic.unit, "given back", "retry", why)
        return batch.display.get(key, panic.unit)

    def _setup(self, item: PanicItem, exc: NorthcaError) -> PanicResult:
        self.session.setup_problem(
            item.message.mdt_id, exc, "an answer the contract does not give for a panic"
        )
        return PanicResult(item.panic.unit, "given back", "retry", f"partner: {exc.message}")

    @staticmethod
    def _failed(unit: str, exc: Exception) -> PanicResult:
        message = exc.message if isinstance(exc, NorthcaError) else str(exc)
        return PanicResult(unit, "given back", "retry", f"partner: {message}"[:300])


def _instant(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
