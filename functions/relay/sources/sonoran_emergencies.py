"""Sonoran CAD's emergencies (the `sonoran` preset's other half; relay.sources.sonoran reads units):

- `EVENT_911` (SonoranCAD-Documentation `api-integration/push-events/event-911.md`): each `call` is a
  call keyed by its `callId`, with its `caller` (who created it), `location` and `description`, and
  the options' `call_constants` (`call_type = "911"` by default); `emergency_priority`, when set, is
  its priority if `isEmergency`. The resource reads `data.call` (one object), the docs `data[0].call`:
  both are read.
- `EVENT_REMOVE_911` (`remove-911.md`): each of `callIds` is closed. It never creates a call: a removal
  that comes first is kept until its call arrives, which is then created closed.
- `EVENT_UNIT_PANIC` (`unit-events/unit-panic.md`): `isPanic: true` is a panic of each `identIds`'
  unit (plus the legacy `identId`, which Sonoran's FiveM resource still reads), found through the
  identId cache a login or a units update filled; the unit's last known `location` is its address.
  Sonoran sends no id of a press, so copies within the repeat window are one panic. `isPanic: false`
  clears the panic in Sonoran; Northca has no clear endpoint, so it is only the unit's status
  `panic_cleared_status` when that option is set (else nothing). An identId nobody remembers names no
  unit: that panic is logged as EMERGENCY NOT DELIVERED (the alarm's line) and dead-lettered by the
  ingress with its reason (who, when pressed, how to fix it: `context.notes.undelivered`), so `relay
  redrive --list`, the dlq-not-empty alarm and `relay doctor` show it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relay.errors import InvalidPayloadError
from relay.models import CLOSED, CallField, Undelivered, UnitChange, UnitField
from relay.observability import logger
from relay.sources import AdapterContext, Signal
from relay.sources.emergency_rules import call_change, panic
from relay.sources.fields import as_text

EVENT_911, REMOVE_911, UNIT_PANIC = "EVENT_911", "EVENT_REMOVE_911", "EVENT_UNIT_PANIC"
EMERGENCY_EVENTS = (EVENT_911, REMOVE_911, UNIT_PANIC)

# (identId) -> the remembered unit ({"id", "location"}), or None; reads are counted by the caller.
Remembered = Callable[[str], dict[str, Any] | None]
# identIds of one event, checked (relay.sources.sonoran._idents).
Idents = Callable[[Any, str], list[str]]


def read_emergency(
    kind: str,
    items: list[tuple[dict[str, Any], str]],
    options: Any,
    context: AdapterContext,
    remembered: Remembered,
    idents: Idents,
) -> list[Signal]:
    """The calls, panics (and cleared-panic statuses) of one Sonoran emergency event."""
    if kind == EVENT_911:
        return list(_calls(items, options, context))
    if kind == REMOVE_911:
        return list(_removed(items, options, context))
    return _panics(items, options, context, remembered, idents)


def _calls(items: list[tuple[dict[str, Any], str]], options: Any, context: AdapterContext) -> list[Signal]:
    calls: list[Signal] = []
    for item, where in items:
        call = item.get("call")
        if not isinstance(call, dict):
            raise InvalidPayloadError(f"{where}.call: missing, expected the 911 call")
        key = _key(call.get("callId"), f"{where}.call.callId")
        fields: dict[CallField, Any] = {
            name: text
            for name in ("location", "description")
            if (text := as_text(call.get(name), f"{where}.call.{name}")) not in (None, "")
        }
        fields |= options.call_constants
        if options.emergency_priority and call.get("isEmergency") is True:
            fields["priority"] = options.emergency_priority
        creator = as_text(call.get("caller"), f"{where}.call.caller")
        calls.append(call_change(key, context.received_at, fields, True, creator, f"{where}.call"))
    return _bounded(calls, options.max_calls)


def _removed(items: list[tuple[dict[str, Any], str]], options: Any, context: AdapterContext) -> list[Signal]:
    closed: list[Signal] = []
    for item, where in items:
        ids = item.get("callIds", item.get("callId"))
        for index, value in enumerate(ids if isinstance(ids, list) else [ids]):
            key = _key(value, f"{where}.callIds[{index}]")
            closed.append(call_change(key, context.received_at, {"status": CLOSED}, False, None, where))
    return _bounded(closed, options.max_calls)


def _panics(
    items: list[tuple[dict[str, Any], str]],
    options: Any,
    context: AdapterContext,
    remembered: Remembered,
    idents: Idents,
) -> list[Signal]:
    signals: list[Signal] = []
    unknown: list[str] = []
    named = 0
    for item, where in items:
        pressed = item.get("isPanic")
        if not isinstance(pressed, bool):
            raise InvalidPayloadError(f"{where}.isPanic: expected true or false")
        found = idents(item.get("identIds"), f"{where}.identIds") if item.get("identIds") is not None else []
        if item.get("identId") is not None:  # the legacy form, which Sonoran's resource still appends
            found += idents(item.get("identId"), f"{where}.identId")
        named += len(found)
        if named > options.max_idents:
            raise InvalidPayloadError(
                f"data: more than {options.max_idents} identIds in one request (max_idents)"
            )
        for ident in dict.fromkeys(found):
            unit = remembered(ident)
            if unit is None:
                if pressed:  # a cleared panic of an unknown unit has nothing to clear
                    unknown.append(ident)
            elif pressed:
                address = unit.get("location") if isinstance(unit.get("location"), str) else None
                signals.append(panic(unit["id"], context.received_at, "", address, where))
            elif options.panic_cleared_status is not None:
                fields: dict[UnitField, str | None] = {"status": options.panic_cleared_status}
                signals.append(UnitChange(id=unit["id"], at=context.received_at, fields=fields))
    if unknown:
        # A panic nobody can name: never dropped silently (docs/sources/sonoran.md says how to fix it).
        # The ingress dead-letters each with its reason; the line below is the alarm's, at once.
        for ident in dict.fromkeys(unknown):
            context.notes.undelivered.append(
                Undelivered(
                    who=f"Sonoran identId {ident[:64]}",
                    at=context.received_at,
                    reason=(
                        f"no login or units update made identId {ident[:64]} known to the relay, so it names "
                        "no unit: the unit must log in (or be updated) in Sonoran again"
                    ),
                )
            )
        logger.error(
            "EMERGENCY NOT DELIVERED",
            extra={
                "kind": "panic",
                "source": context.source,
                "outcome": "unknown unit",
                "detail": "sonoran identIds no login made known: the unit must log in (or be updated) again",
                "idents": unknown[:10],
            },
        )
    return signals


def _key(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise InvalidPayloadError(f"{where}: expected a call id (a number), got {value!r}"[:200])
    return str(value)


def _bounded(signals: list[Signal], limit: int) -> list[Signal]:
    if len(signals) > limit:
        raise InvalidPayloadError(f"data: at most {limit} calls per request (max_calls)")
    return signals
