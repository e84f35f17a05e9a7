"""The `erlc-events` adapter's emergencies (pure; relay.erlc.events reads the rest of an event):

- **An emergency-call event** is the server's call, the very one the roster poll reads from
  `EmergencyCalls`: the same key (`<CallNumber>-<StartedAt>`, relay.erlc.calls) and the same source,
  `erlc:<server>` (the event relays it under the roster's voice), so a call seen by both paths is one
  Northca call whichever saw it first. Its fields are read as the poll reads them; its responders are
  mapped through the stored roster (and the lookups' finds). What it sent is kept beside the roster
  (`roster#<server>`, sk `sent-calls`: relay.erlc.call_sync.Reported) so that the poll, meeting the call
  for the first time, sends only what changed since (dated at the poll), and closes a call it never
  lists (one that began and ended between two polls) once it is gone. An event whose type says the call ended
  (`...Ended`, `...Closed`, `...Removed`: assumed names, PRC publishes none) closes it. An event without
  a CallNumber names no call: acknowledged and logged (the poll brings the call within a minute); one
  without StartedAt is matched by its number to a call the poll knows, else left to the poll.
- **A `;panic`** (relay.erlc.commands) from a player whose unit the roster holds is that unit's panic,
  keyed by the press: the player and the second the event says it was typed (a retry of one webhook
  is one panic; two presses are two). A player not on the roster is looked up or held
  (relay.erlc.newcomers); a civilian's is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from relay.erlc.call_sync import (
    REPORTED_SK,
    REPORTED_TTL_SECONDS,
    Reported,
    StoredCall,
    close_calls,
    load_reported,
    report,
)
from relay.erlc.calls import call_fields, call_key, caller_text, digests, read_call, source_of
from relay.erlc.roster import ROSTER_SK, load_stored
from relay.erlc.sync import SEEN_SK, known_units, load_seen
from relay.models import CallChange, Panic, roster_key
from relay.observability import logger
from relay.sources import AdapterContext

EMERGENCY_KEYS = ("EmergencyCall", "emergencyCall", "emergency_call", "Emergency", "emergency")
# Words in an event's type that say the call is over (assumed: PRC publishes no event names).
ENDED_WORDS = ("ended", "closed", "removed", "cancelled", "canceled", "deleted", "resolved")


def looks_like_emergency(candidate: Mapping[str, Any]) -> bool:
    """The wrapper's heuristic for an untyped emergency call (Fortune1243/erlc-api webhooks.py)."""
    keys = {str(key).lower().replace("_", "") for key in candidate}
    return (
        "team" in keys
        and bool(keys & {"caller", "players"})
        and bool(keys & {"position", "startedat", "callnumber"})
    )


def call_object(candidates: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The call an event carries: under EmergencyCall & co, else the (most nested) object that looks
    like one."""
    for candidate in candidates:
        for key in EMERGENCY_KEYS:
            if isinstance(candidate.get(key), Mapping):
                return candidate[key]  # type: ignore[no-any-return]
    return next((c for c in reversed(candidates) if looks_like_emergency(c)), None)


def _known_key(number: int, calls: Mapping[str, StoredCall]) -> str | None:
    """The newest call the poll knows under this number."""
    same = [key for key, call in calls.items() if call.number == number]
    return max(same, key=lambda key: calls[key].order()) if same else None


def emergency_call_event(
    candidates: Sequence[Mapping[str, Any]], kind: str, server: str, at: datetime, context: AdapterContext
) -> str:
    """Relay the event's call as the server's (`erlc:<server>`); the delivery's label."""
    found = call_object(candidates)
    call = read_call(found) if found is not None else None
    if call is None:
        logger.info("erlc event: emergency call without a CallNumber, left to the poll")
        return f"{server}: emergency call (no CallNumber: the poll brings it)"
    state = context.require_state("erlc-events")
    pk = roster_key(server)
    stored = load_stored(state.get(pk, ROSTER_SK))
    key = (
        call_key(call.number, call.started_at, 0)
        if call.started_at is not None
        else _known_key(call.number, stored.calls)
    )
    if key is None:
        logger.info(
            "erlc event: emergency call without StartedAt the poll has not seen", extra={"call": call.number}
        )
        return f"{server}: emergency call {call.number} (no StartedAt: the poll brings it)"
    source = source_of(server)
    if any(word in kind for word in ENDED_WORDS):
        context.notes.relay(close_calls([key], at), source=source)
        return f"{server}: emergency call {call.number} ended -> closed"
    units = known_units(stored, load_seen(state.get(pk, SEEN_SK)))
    fields, unknown = call_fields(call, {pid: unit.unit_id for pid, unit in units.items()})
    if unknown:
        logger.info(
            "erlc call responders not on the roster, left out",
            extra={"server": server, "call": call.number, "players": unknown[:10]},
        )
    creator = caller_text(call, {pid: unit.name for pid, unit in units.items()})
    change = CallChange(key=key, at=at, fields=fields, opens=True, created_by=creator)
    context.notes.relay([change], source=source)
    now = context.received_at.timestamp()
    entry = Reported(number=call.number, started=call.started_at, at=now, sent=digests(fields))
    # A read, then a write: two webhooks of two calls at the same instant may lose one report, which
    # matters only if the poll never lists that call either (a call of seconds): accepted.
    reports = report(load_reported(state.get(pk, REPORTED_SK)), key, entry, now)
    state.put(pk, REPORTED_SK, reports, REPORTED_TTL_SECONDS)
    team = f" ({call.team})" if call.team else ""
    return f"{server}: emergency call {call.number}{team} -> call {key}"


def press_key(player_id: str, at: datetime) -> str:
    """A `;panic`'s identity: who pressed, and the second the event dates the press."""
    return f"{player_id}@{int(at.timestamp())}"


def known_unit_panic(unit_id: str, at: datetime, key: str) -> Panic:
    # The stored roster keeps no locations (they change every poll; docs/cost.md): no address here.
    return Panic(unit=unit_id, at=at, key=key, address=None)
