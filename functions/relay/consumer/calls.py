"""One Northca call per sender call: what the relay keeps of each, and what to send for it. Pure.

A sender's call is keyed by its source and the sender's call key; the Northca call's id is derived
from both (`call_id`), so every copy of every event of that call names the same Northca call. Per
field the relay keeps a baseline `base`: what the partner holds as the relay knows it (the newest of
its own changes it delivered, or another writer's value it read, dated by the call's `updated_at`).
An event's change to a field is sent only if it is newer than that baseline (changes, not snapshots:
an older event never reverts anything, a dispatcher's edit included), and never to reopen a call the
relay closed. Events of a call the relay has not created yet, none of which may create it (a "call
removed"), are held in the record until one that may arrives: the call is then created with all of it
(closed, if it was closed meanwhile).

A request whose answer was lost may still be applied, later: its values are kept in `sent` (recognised
when the call is read back) and the record holds a `lease` until the late-request window has passed,
during which no other request for the call is sent. A create whose answer was lost is looked for (a
read, `PATCH {}`) before any second POST, which is sent only once the window has passed and the call
is still not there: whatever the partner answers to a repeated id (409, an upsert, a second call), no
sender call becomes two Northca calls. docs/emergencies.md gives the protocol and what it assumes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from relay.models import CALL_FIELDS, CLOSED, CallChange, format_instant
from relay.ports.partner import CallRecord, CallValue

# Another writer's value wins a tie with a relay change of the same instant.
OTHER_WRITER = "\uffff"
# Values of unconfirmed requests kept per field, newest last.
MAX_SENT = 4
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

Phase = Literal["held", "posting", "created", "gone"]
Value = CallValue | None  # None: the field cleared


def call_id(source: str, key: str) -> str:
    """The Northca id of a sender's call: `<source>.<key>` when that is short and plain (a dispatcher
    reads it), else the source and a digest of both (always the same for the same call).

    Source names (`^[a-z0-9][a-z0-9_-]{0,62}$`, ER:LC's `erlc:<server>`) never hold a `.`, so the first
    one ends the source: two sources never share an id (with `-`, ("dispatch", "bot-7") and
    ("dispatch-bot", "7") did). A digest id holds no `.`, so it never equals a plain one. A call opened
    before ids had a `.` keeps its id: the call's record holds it (relay.consumer.call_desk)."""
    candidate = f"{source}.{key}"
    if SAFE_ID.match(candidate):
        return candidate
    digest = hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()[:20]
    return f"{source[:40]}-{digest}"


class Stamp(NamedTuple):
    """A field's value and what dates it: the event time, then a tiebreak (receive time, webhook id,
    position); `ours` is False for another writer's value read from the partner."""

    value: Value
    at: datetime
    tiebreak: str
    ours: bool = True

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.tiebreak)


def change_stamps(
    change: CallChange, received_at: datetime, webhook_id: str | None, position: int, skew: timedelta
) -> dict[str, Stamp]:
    """Each field one event sets, stamped; an event time later than its receive time plus `skew` is
    the receive time (as a unit's: a sender's wrong clock must not make a change unbeatable)."""
    tiebreak = f"{format_instant(received_at)}#{webhook_id or ''}#{position:06d}"
    at = min(change.at, received_at + skew)
    return {
        name: Stamp(tuple(value) if isinstance(value, list) else value, at, tiebreak)
        for name, value in change.fields.items()
    }


def blank(name: str) -> CallValue:
    """The partner's unset value of a field."""
    return () if name == "units_assigned" else ""


def wire(name: str, value: Value) -> CallValue:
    """A value as sent: a cleared field is sent as the partner's unset value, never as null."""
    return blank(name) if value is None else value


def same(name: str, a: Value, b: Value) -> bool:
    return wire(name, a) == wire(name, b)


class Lease(NamedTuple):
    """A request for the call is out: a live consumer is done with it by `deadline`; after that, a
    request whose answer was lost may still land until `until`."""

    sent_at: datetime
    deadline: datetime
    until: datetime


@dataclass
class CallState:
    """What the relay keeps of one sender call (one record in the state table)."""

    call_id: str
    phase: Phase = "held"
    # The id the partner answered a create with, when it is not the one the relay chose.
    partner_id: str | None = None
    created_by: str | None = None
    opens: bool = False  # an event that may create the call was accepted
    held: dict[str, Stamp] = field(default_factory=dict)
    base: dict[str, Stamp] = field(default_factory=dict)
    sent: dict[str, list[Stamp]] = field(default_factory=dict)
    lease: Lease | None = None
    closed: bool = False  # the relay delivered "closed": no relay event reopens the call
    first_post: datetime | None = None  # when a POST that may have landed was first sent

    @property
    def target(self) -> str:
        return self.partner_id or self.call_id

    def busy(self, now: datetime) -> Lease | None:
        """The lease that keeps other requests out now, if any."""
        return self.lease if self.lease is not None and now < self.lease.until else None

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"call_id": self.call_id, "phase": self.phase}
        optional = {
            "partner_id": self.partner_id,
            "created_by": self.created_by,
            "opens": self.opens or None,
            "closed": self.closed or None,
            "held": {n: _stamp_json(s) for n, s in sorted(self.held.items())} or None,
            "base": {n: _stamp_json(s) for n, s in sorted(self.base.items())} or None,
            "sent": {n: [_stamp_json(s) for s in v] for n, v in sorted(self.sent.items()) if v} or None,
            "lease": [format_instant(t) for t in self.lease] if self.lease else None,
            "first_post": format_instant(self.first_post) if self.first_post else None,
        }
        return data | {k: v for k, v in optional.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallState:
        lease = data.get("lease")
        first = data.get("first_post")
        return cls(
            call_id=data["call_id"],
            phase=data.get("phase", "held"),
            partner_id=data.get("partner_id"),
            created_by=data.get("created_by"),
            opens=bool(data.get("opens")),
            held={n: _stamp_from(s) for n, s in (data.get("held") or {}).items()},
            base={n: _stamp_from(s) for n, s in (data.get("base") or {}).items()},
            sent={n: [_stamp_from(s) for s in v] for n, v in (data.get("sent") or {}).items()},
            lease=Lease(*(datetime.fromisoformat(t) for t in lease)) if lease else None,
            closed=bool(data.get("closed")),
            first_post=datetime.fromisoformat(first) if first else None,
        )


def _stamp_json(stamp: Stamp) -> list[Any]:
    value = list(stamp.value) if isinstance(stamp.value, tuple) else stamp.value
    return [value, format_instant(stamp.at), stamp.tiebreak, stamp.ours]


def _stamp_from(data: list[Any]) -> Stamp:
    value, at, tiebreak, ours = data
    return Stamp(
        tuple(value) if isinstance(value, list) else value, datetime.fromisoformat(at), tiebreak, ours
    )


# ------------------------------------------------------------------ planning


def _order(name: str, stamp: Stamp) -> tuple[bool, datetime, str]:
    """What makes a stamp newer: its time then tiebreak, except that a close outranks any other status
    of the relay's (a call the sender closed is closed, whatever came in after)."""
    return (name == "status" and stamp.value == CLOSED, stamp.at, stamp.tiebreak)


def newest(stamps: Iterable[Mapping[str, Stamp]]) -> dict[str, Stamp]:
    """Per field, the newest of these stamps (of the relay's events: a close first)."""
    found: dict[str, Stamp] = {}
    for fields in stamps:
        for name, stamp in fields.items():
            if name not in found or _order(name, stamp) > _order(name, found[name]):
                found[name] = stamp
    return found


def accept(state: CallState, wanted: Mapping[str, Stamp], opens: bool, created_by: str | None) -> CallState:
    """The record with the batch's events accepted into `held`, the changes not yet delivered."""
    return replace(
        state,
        held=newest([state.held, wanted]),
        opens=state.opens or opens,
        created_by=state.created_by or created_by,
    )


def looked_again(state: CallState) -> bool:
    """A lost create looked for by a PATCH of its values more than once (the create and each look add
    them to `sent`): an earlier look's answer may have been lost, and it may still land."""
    return state.phase == "posting" and any(len(stamps) > 1 for stamps in state.sent.values())


def create_fields(posted: Mapping[str, Stamp]) -> dict[str, CallValue]:
    """The fields a create carries: every value that is set (a cleared one is the partner's default)."""
    return {
        name: stamp.value for name in CALL_FIELDS if (stamp := posted.get(name)) and stamp.value is not None
    }


def sending(
    state: CallState, stamps: Mapping[str, Stamp], now: datetime, budget: timedelta, window: timedelta
) -> CallState:
    """The record as it must be before a request with these values goes out: leased, its values kept."""
    sent = {name: [*state.sent.get(name, []), stamp][-MAX_SENT:] for name, stamp in stamps.items()}
    return replace(
        state,
        sent={**state.sent, **sent},
        lease=Lease(now, now + budget, now + budget + window),
    )


# A created call's status when no event set one (Northca's docs: "defaults to open"). The relay sends
# it with every create, dated before any event: the call's first status is then the relay's own, and a
# create whose answer was lost always carries a value to look for it by.
OPEN = "open"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def create_stamps(held: Mapping[str, Stamp]) -> dict[str, Stamp]:
    """What a create carries: the held values, and the default status if none is held."""
    return {"status": Stamp(OPEN, EPOCH, "")} | dict(held)


def created(state: CallState, posted: Mapping[str, Stamp], record: CallRecord | None) -> CallState:
    """The record once the partner confirmed a create of the `posted` values (held changes newer than
    those stay held, to be patched)."""
    partner_id = (
        record.call_id if record is not None and record.call_id != state.call_id else state.partner_id
    )
    done = replace(state, phase="created", partner_id=partner_id, sent={}, lease=None, first_post=None)
    return delivered(done, posted)


def delivered(state: CallState, stamps: Mapping[str, Stamp]) -> CallState:
    """The record once the partner confirmed these values (a create's or a PATCH's): they are the
    baseline, no longer held, and a "closed" among them closes the call for good."""
    status = stamps.get("status")
    return replace(
        state,
        base={**state.base, **stamps},
        held={n: s for n, s in state.held.items() if n not in stamps or s.key() > stamps[n].key()},
        sent={},
        lease=None,
        closed=state.closed or (status is not None and status.value == CLOSED),
    )


def observe(state: CallState, record: CallRecord, now: datetime) -> CallState:
    """The record after reading the call at the partner: for each field, a value one of the relay's
    unconfirmed requests carried stands for that change (it landed); the baseline's value means nothing
    happened; a blank where the relay knows nothing means nobody set it; anything else is another
    writer's, dated by the call's `updated_at` (the read's time when it gives none)."""
    base = dict(state.base)
    dated = record.updated_at or now
    for name in CALL_FIELDS:
        if name not in record.fields:
            continue
        value = record.fields[name]
        landed = [s for s in state.sent.get(name, []) if same(name, s.value, value)]
        known = base.get(name)
        if landed:
            mine = max(landed, key=Stamp.key)
            if known is None or mine.key() > known.key():
                base[name] = mine
        elif not _unchanged(name, known, value):
            base[name] = Stamp(value, dated, OTHER_WRITER, ours=False)
    return replace(state, base=base, sent={}, phase="created")


def _unchanged(name: str, known: Stamp | None, value: CallValue) -> bool:
    """The partner holds what the relay knew (a blank where it knew nothing: nobody set it)."""
    return value == blank(name) if known is None else same(name, known.value, value)


def updates(state: CallState, wanted: Mapping[str, Stamp]) -> dict[str, Stamp]:
    """The batch's changes to send to a created call: each newer than what the partner holds as the
    relay knows it (another writer wins a tie), with another value, and never one reopening a call the
    relay closed."""
    chosen = {}
    for name, stamp in wanted.items():
        known = state.base.get(name)
        closing = name == "status" and stamp.value == CLOSED and known is not None and known.ours
        if known is not None and same(name, stamp.value, known.value):
            continue
        if known is not None and stamp.key() <= known.key() and not closing:
            continue
        if known is None and stamp.value is None:
            continue  # clearing what nobody set
        if name == "status" and state.closed and stamp.value != CLOSED:
            continue
        chosen[name] = stamp
    return chosen


def superseded(state: CallState, wanted: Mapping[str, Stamp]) -> list[str]:
    """The fields whose change lost to another writer's newer value at the partner."""
    return sorted(
        name
        for name, stamp in wanted.items()
        if (known := state.base.get(name)) is not None
        and not known.ours
        and stamp.key() <= known.key()
        and not same(name, stamp.value, known.value)
    )
