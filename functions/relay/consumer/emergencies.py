"""The calls and panics of one batch (messages of the emergency queue, or any message that carries some):
panics first, then each sender call's events together, each delivered on its own
(relay.consumer.panic_desk, relay.consumer.call_desk). What becomes of their messages:

- delivered, a repeat, held for later, or nothing left to send: done (deleted);
- not delivered this time: given back after the emergency retry delay (2 s, then four times longer at
  each receive), and logged as "EMERGENCY NOT DELIVERED" (the emergency-not-delivered alarm counts it);
- waiting for another consumer's request, or for the late-request window: given back after that wait;
- refused by the partner, or still not delivered at the queue's last receive: the DLQ, with the reason.

One "emergency outcomes" line names each call and panic with its outcome and webhooks (the delivery
trail reads it: `relay deliveries`, relay local's page).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from relay.consumer.call_desk import CallDesk, CallGroup, CallResult, CallStateError
from relay.consumer.calls import Stamp, change_stamps, newest
from relay.consumer.emergency_session import EmergencySession
from relay.consumer.emergency_state import EmergencyStore, RecordKey, StoredRecord
from relay.consumer.invocation import Delivery, Invocation
from relay.consumer.panic_desk import PanicDesk, PanicItem, PanicResult
from relay.errors import UnitStateUnavailableError
from relay.observability import logger

# Fates, worst first: a message's fate is the worst of its calls' and panics'.
FATES = ("retry", "wait", "refused", "done")


@dataclass
class EmergencyOutcome:
    failed: dict[str, int] = field(default_factory=dict)  # message id -> delay before it comes back
    refused: dict[str, str] = field(default_factory=dict)  # message id -> reason (the DLQ)


@dataclass
class _Item:
    kind: str  # call | panic
    name: str  # the call's sender key, or the panic's unit
    source: str
    mdt_id: str
    message_ids: list[str]
    result: CallResult | PanicResult | None = None


def retry_delay(run: Invocation, receive_count: int) -> int:
    settings = run.deps.emergencies
    seconds = settings.retry_delay_seconds * 4 ** max(receive_count - 1, 0)
    return int(
        min(seconds, settings.late_request_window_seconds, run.deps.settings.max_visibility_delay_seconds)
    )


def deliver_emergencies(deliveries: Sequence[Delivery], run: Invocation) -> EmergencyOutcome:
    urgent = [d for d in deliveries if d.message.calls or d.message.panics]
    if not urgent:
        return EmergencyOutcome()
    deps = run.deps
    writer = deps.emergency_writer
    items: list[_Item] = []
    if deps.emergency_state is None or writer is None:
        for d in urgent:
            item = _Item("message", d.message_id, d.message.source, d.message.mdt_id, [d.message_id])
            item.result = PanicResult("-", "given back", "retry", "no emergency store or writer is wired")
            items.append(item)
        return _conclude(urgent, items, run)
    settings = deps.emergencies
    session = EmergencySession(run, writer)
    budget = timedelta(milliseconds=deps.settings.min_remaining_ms)
    window = timedelta(seconds=settings.late_request_window_seconds)
    panics = PanicDesk(
        run,
        deps.emergency_state,
        session,
        repeat_window=timedelta(seconds=settings.panic_repeat_window_seconds),
        request_budget=budget,
        activate_status=settings.panic_activate_status,
    )
    calls = CallDesk(
        deps.emergency_state,
        session,
        deps.clock,
        window=window,
        request_budget=budget,
        ttl_seconds=deps.settings.unit_state_ttl_days * 86400,
    )
    # Copies of one press in the batch are one panic: delivered once, for all of their messages.
    presses: dict[RecordKey, tuple[PanicItem, list[str]]] = {}
    for d in urgent:
        for p in d.message.panics:
            press = PanicItem(d.message_id, d.message, p)
            _, copies = presses.setdefault(press.record_key(panics.canonical(press)), (press, []))
            copies.append(d.message_id)
    groups = _call_groups(urgent, timedelta(seconds=deps.settings.max_event_skew_seconds))
    # Every partner call from here on (a panic, its unit's activation, a call's read and write) goes ahead
    # of the units' waiting slots (relay.northca.pacing).
    with deps.pacer.urgent() if deps.pacer is not None else contextlib.nullcontext():
        _deliver(items, presses, groups, panics, calls, deps.emergency_state)
    return _conclude(urgent, items, run)


def _deliver(
    items: list[_Item],
    presses: dict[RecordKey, tuple[PanicItem, list[str]]],
    groups: list[tuple[CallGroup, list[str]]],
    panics: PanicDesk,
    calls: CallDesk,
    state: EmergencyStore,
) -> None:
    keys = list(presses) + [g.record_key for g, _ in groups]
    try:
        stored = state.read_many(keys) if keys else {}
    except UnitStateUnavailableError as exc:
        stored = {}
        problem = f"state table unavailable: {exc}"
    else:
        problem = ""
    for key, (press, copies) in presses.items():
        item = _Item("panic", press.panic.unit, press.message.source, press.message.mdt_id, copies)
        item.result = _panic(panics, press, stored.get(key), problem)
        items.append(item)
    for group, message_ids in groups:
        item = _Item("call", group.key, group.source, group.mdt_id, message_ids)
        item.result = _call(calls, group, stored.get(group.record_key), problem)
        items.append(item)


def _panic(desk: PanicDesk, item: PanicItem, stored: StoredRecord | None, problem: str) -> PanicResult:
    if problem or stored is None:
        return PanicResult(item.panic.unit, "given back", "retry", problem or "not read")
    try:
        return desk.deliver(item, stored.value, stored.version)
    except UnitStateUnavailableError as exc:
        return PanicResult(item.panic.unit, "given back", "retry", f"state table unavailable: {exc}")


def _call(desk: CallDesk, group: CallGroup, stored: StoredRecord | None, problem: str) -> CallResult:
    if problem or stored is None:
        return CallResult(group.key, "given back", "retry", problem or "not read")
    try:
        return desk.deliver(group, stored.value, stored.version)
    except (CallStateError, UnitStateUnavailableError) as exc:
        return CallResult(group.key, "given back", "retry", f"state table unavailable: {exc}")


@dataclass
class _Gathered:
    first: CallGroup
    stamps: list[dict[str, Stamp]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    opens: bool = False
    created_by: str | None = None
    actor: str | None = None


def _call_groups(urgent: Sequence[Delivery], skew: timedelta) -> list[tuple[CallGroup, list[str]]]:
    """Each sender call's events of the batch, merged: the newest of each field among them."""
    found: dict[RecordKey, _Gathered] = {}
    for delivery in urgent:
        m = delivery.message
        for index, change in enumerate(m.calls):
            group = CallGroup(m.mdt_id, m.guild_id, m.actor, m.source, change.key, {}, change.opens, None)
            gathered = found.setdefault(group.record_key, _Gathered(group))
            gathered.stamps.append(change_stamps(change, m.received_at, m.webhook_id, m.offset + index, skew))
            gathered.opens = gathered.opens or change.opens
            gathered.created_by = gathered.created_by or change.created_by
            gathered.actor = gathered.actor or m.actor
            if delivery.message_id not in gathered.message_ids:
                gathered.message_ids.append(delivery.message_id)
    return [
        (
            replace(g.first, actor=g.actor, stamps=newest(g.stamps), opens=g.opens, created_by=g.created_by),
            g.message_ids,
        )
        for g in found.values()
    ]


def _conclude(urgent: Sequence[Delivery], items: list[_Item], run: Invocation) -> EmergencyOutcome:
    """Each message's fate from its items', the counts, and the log lines."""
    outcome = EmergencyOutcome()
    by_id = {d.message_id: d for d in urgent}
    fates: dict[str, tuple[int, int | None, str]] = {}
    for item in items:
        result = item.result
        assert result is not None
        if item.kind == "call" and result.outcome == "created":
            run.outcome.calls_created += 1
        elif item.kind == "call" and result.outcome == "updated":
            run.outcome.calls_updated += 1
        for message_id in item.message_ids:
            rank = FATES.index(result.fate)
            current = fates.get(message_id)
            if current is None or rank < current[0]:
                fates[message_id] = (rank, result.delay, result.detail)
    limit = run.deps.max_receive_count
    for message_id, (rank, delay, detail) in fates.items():
        fate = FATES[rank]
        receives = by_id[message_id].receive_count
        if fate in ("retry", "wait") and limit is not None and receives >= limit:
            outcome.refused[message_id] = f"not delivered after {receives} receives: {detail}"
        elif fate == "refused":
            outcome.refused[message_id] = detail
        elif fate == "retry":
            outcome.failed[message_id] = run.outcome.throttle_delay or retry_delay(run, receives)
        elif fate == "wait":
            outcome.failed[message_id] = delay or retry_delay(run, receives)
    run.outcome.emergency_delays |= outcome.failed
    _log(items, urgent, outcome, run)
    return outcome


def _log(items: list[_Item], urgent: Sequence[Delivery], outcome: EmergencyOutcome, run: Invocation) -> None:
    by_id = {d.message_id: d.message for d in urgent}
    rows = []
    for item in items:
        result = item.result
        assert result is not None
        webhook_ids = sorted({w for mid in item.message_ids if (w := by_id[mid].webhook_id)})
        dead = [outcome.refused[mid] for mid in item.message_ids if mid in outcome.refused]
        outcome_name = "dead-lettered" if dead else result.outcome
        detail = dead[0] if dead else result.detail
        row = {
            "kind": item.kind,
            "mdt_id": item.mdt_id,
            "source": item.source,
            "key": item.name,
            "target": result.call_id if isinstance(result, CallResult) else result.unit_id,
            "outcome": outcome_name,
            "detail": detail,
            "written": result.written,
            "webhook_ids": webhook_ids[:20],
        }
        rows.append(row)
        if dead or result.fate == "retry":
            run.outcome.emergencies_not_delivered += 1
            logger.error(
                "EMERGENCY NOT DELIVERED",
                extra={k: row[k] for k in ("kind", "mdt_id", "source", "key", "outcome", "detail")},
            )
    logger.info("emergency outcomes", extra={"emergencies": rows})
