"""ER:LC's emergency calls as Northca calls: read from PRC's answer, compared with what the MDT was told
before, and turned into call events. Pure: no sockets, no boto3.

PRC documents no schema for a call; the wrappers read `Team, Caller, Players, Position, StartedAt,
CallNumber, Description, PositionDescriptor` (Fortune1243/erlc-api `src/erlc_api/models.py`,
`_parse_emergency_call`; Wqffles-com/Erlc.Net `Erlc.Net.Core/Models/Calls.cs`), and disagree on types
(`Players` as numbers in one, strings in the other), so every field is read defensively: a field
missing or of another type is left out, a call that cannot be read is skipped and counted, and nothing
here ever raises (a call never costs the poll its players).

**A call's key** is `<CallNumber>-<StartedAt>`. CallNumber alone is not enough: it is most likely
counted per server session, so a restart gives the next night's first call the number of tonight's
first, and the two must be two Northca calls. StartedAt (epoch seconds) makes it unique and is the
same in the poll and in an event webhook, so both paths name one call (the source is `erlc:<server>`
in both: relay.erlc.events relays the webhook's calls under it). A call without StartedAt is keyed by
its number and the moment the relay first saw it (kept with the roster, so every later poll finds the
same key).

**What a poll sends** (`sync_calls`): a call it has not seen is a create (every field, dated when
the call started, or newer than what a webhook already sent of it); then only the fields whose value
changed, dated at the poll. The roster keeps, per call, a short digest of each field's value as the
MDT was told (not the values: the item is written every poll that changes something, docs/cost.md).
A call missing from `absent_polls` polls in a row that carried the list is closed (an event that may
not create, so a call never seen open is never created closed); a poll that failed, answered
"offline" or came back without `EmergencyCalls` is no news, until `KEYLESS_POLLS` answers in a row
come back without the list (PRC may leave an empty list out, as it leaves out an empty player list):
then every call is closed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.models import (
    CLOSED,
    MAX_CALL_TEXT_LENGTH,
    MAX_CALL_UNITS,
    MAX_FIELD_LENGTH,
    CallChange,
    CallField,
    refused_character,
)
from relay.ports.erlc import ErlcCall

CALLS_KEYS = ("EmergencyCalls", "emergencyCalls", "emergency_calls")
# Calls read from one answer, at most (a server has at most 40 players).
MAX_LISTED_CALLS = 100
# Calls the roster remembers per server, at most: the newest are kept, the oldest forgotten (logged).
MAX_STORED_CALLS = 30
# Answers in a row without the calls list (but with players) that close every call.
KEYLESS_POLLS = 3
DIGEST_LENGTH = 8
# Epoch values above this are milliseconds.
EPOCH_MILLIS_THRESHOLD = 1e11


def source_of(server: str) -> str:
    """The source a server's calls (and its roster's changes) travel as: one voice, one call id."""
    return f"erlc:{server}"


# ------------------------------------------------------------------ reading PRC's answer


def epoch_seconds(value: Any) -> int | None:
    """Whole epoch seconds from a number or digits (milliseconds divided down); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = float(value.strip())
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        seconds = value / 1000 if value > EPOCH_MILLIS_THRESHOLD else value
        return int(seconds) if seconds < 1e11 else None
    return None


def call_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    return None


def user_id(value: Any) -> str | None:
    """A Roblox user id from a number, digits, "Name:UserId", or an object holding one; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, float) and value.is_integer() and value > 0:
        return str(int(value))
    if isinstance(value, str):
        candidate = value.rpartition(":")[2].strip()
        return candidate if candidate.isdigit() and len(candidate) <= 20 else None
    if isinstance(value, Mapping):
        for key in ("UserId", "userId", "PlayerId", "playerId", "Id", "id", "Player", "player"):
            if key in value:
                return user_id(value[key])
    return None


def user_name(value: Any) -> str | None:
    """The name in "Name:UserId" (or an object's `Name`), where the value gives one."""
    if isinstance(value, Mapping):
        for key in ("Name", "name", "Player", "player"):
            if isinstance(value.get(key), str):
                return user_name(value[key])
        return None
    if isinstance(value, str) and ":" in value:
        name = value.rpartition(":")[0].strip()
        return name or None
    return None


def clean_text(value: Any, limit: int = MAX_CALL_TEXT_LENGTH) -> str | None:
    """A sender's text as the MDT may show it: characters no dispatcher can read (controls, lone
    surrogates, bidi controls) left out, trimmed, cut to `limit`; None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if refused_character(text, in_id=False) is not None:
        text = "".join(c if refused_character(c, in_id=False) is None else " " for c in text)
        text = " ".join(text.split())
    return text[:limit] or None


def position_text(position: Sequence[float]) -> str | None:
    """Map coordinates as a location when the call names no place: `812.4, -1130.9`."""
    shown = [f"{value:.1f}" for value in position[:3]]
    return ", ".join(shown) if shown else None


def read_call(item: Any) -> ErlcCall | None:
    """One call, or None when it has no usable CallNumber (nothing could name it)."""
    if not isinstance(item, Mapping):
        return None

    def pick(*keys: str) -> Any:
        return next((item[key] for key in keys if item.get(key) is not None), None)

    number = call_number(pick("CallNumber", "callNumber", "call_number"))
    if number is None:
        return None
    responders = pick("Players", "players")
    position = pick("Position", "position")
    caller = pick("Caller", "caller")
    return ErlcCall(
        number=number,
        started_at=epoch_seconds(pick("StartedAt", "startedAt", "started_at")),
        team=clean_text(pick("Team", "team"), MAX_FIELD_LENGTH),
        caller=user_id(caller),
        caller_name=clean_text(user_name(caller), MAX_FIELD_LENGTH),
        responders=tuple(
            dict.fromkeys(
                p for r in (responders if isinstance(responders, list) else []) if (p := user_id(r))
            )
        ),
        position=tuple(
            float(v)
            for v in (position if isinstance(position, list) else [])
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ),
        description=clean_text(pick("Description", "description")),
        position_descriptor=clean_text(
            pick("PositionDescriptor", "positionDescriptor", "position_descriptor")
        ),
    )


def parse_calls(payload: Any) -> tuple[list[ErlcCall] | None, int]:
    """A v2 server object's calls (None when it carries no list: not "no calls"), and how many entries
    could not be read. Never raises."""
    if not isinstance(payload, Mapping):
        return None, 0
    found = next((payload[key] for key in CALLS_KEYS if key in payload), None)
    if not isinstance(found, list):
        return None, 0
    calls = [call for item in found[:MAX_LISTED_CALLS] if (call := read_call(item)) is not None]
    return calls, min(len(found), MAX_LISTED_CALLS) - len(calls)


# ------------------------------------------------------------------ a call's fields


def call_key(number: int, started_at: int | None, first_seen: float) -> str:
    return f"{number}-{started_at if started_at is not None else int(first_seen)}"


def call_fields(call: ErlcCall, units: Mapping[str, str]) -> tuple[dict[CallField, Any], list[str]]:
    """The Northca fields of a call, and its responders the roster does not hold (left out: a unit id
    is never invented). `units` maps a player id to their unit id."""
    fields: dict[CallField, Any] = {}
    if call.description:
        fields["description"] = call.description
    location = call.position_descriptor or position_text(call.position)
    if location:
        fields["location"] = location
    if call.team:
        fields["call_type"] = call.team
    assigned: list[str] = []
    unknown: list[str] = []
    for player_id in call.responders:
        unit = units.get(player_id)
        if unit is None:
            unknown.append(player_id)
        elif unit not in assigned:
            assigned.append(unit)
    fields["units_assigned"] = assigned[:MAX_CALL_UNITS]
    return fields, unknown


def caller_text(call: ErlcCall, names: Mapping[str, str]) -> str | None:
    """Who made the call, for `created_by`: the player's name when known, else their user id."""
    if call.caller is None:
        return call.caller_name
    return names.get(call.caller) or call.caller_name or call.caller


def digest(value: Any) -> str:
    """A short fingerprint of a field's value: enough to tell that it changed, small to store."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def digests(fields: Mapping[CallField, Any]) -> dict[str, str]:
    return {name: digest(value) for name, value in sorted(fields.items())}


# ------------------------------------------------------------------ what the roster keeps


class StoredCall(BaseModel):
    """An open call as the MDT was told about it (in the roster, `calls`, by call key)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    number: int
    started: int | None = None
    seen: float  # when the relay first saw it (epoch seconds)
    absent: int = Field(default=0, ge=0)  # polls in a row that listed calls but not this one
    sent: dict[str, str] = Field(default_factory=dict)  # field -> digest of the value sent

    def order(self) -> float:
        return float(self.started) if self.started is not None else self.seen


def load_calls(value: Any) -> dict[str, StoredCall]:
    if not isinstance(value, Mapping):
        return {}
    calls = {}
    for key, entry in value.items():
        try:
            calls[str(key)] = StoredCall.model_validate(entry)
        except ValidationError:
            continue
    return calls


def dump_calls(calls: Mapping[str, StoredCall]) -> dict[str, Any]:
    return {key: call.model_dump(exclude_defaults=True) for key, call in sorted(calls.items())}


# ------------------------------------------------------------------ a poll's calls


@dataclass(frozen=True)
class CallsSync:
    """What a poll changes of the calls: the calls to keep, the answers in a row without a list, the
    call events to send, and what the poller logs (responders left out; calls beyond MAX_STORED_CALLS,
    the oldest, no longer followed)."""

    calls: dict[str, StoredCall]
    keyless: int
    changes: list[CallChange] = field(default_factory=list)
    unknown_responders: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)


def close_calls(keys: Iterable[str], now: datetime) -> list[CallChange]:
    """A close of each call: it may not create one (a call never created stays uncreated)."""
    return [CallChange(key=key, at=now, fields={"status": CLOSED}, opens=False) for key in sorted(keys)]


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def sync_calls(
    stored: Mapping[str, StoredCall],
    keyless: int,
    listed: Sequence[ErlcCall] | None,
    *,
    units: Mapping[str, str],
    names: Mapping[str, str],
    absent_polls: int,
    now: datetime,
    earlier: Callable[[str], Mapping[str, str] | None] = lambda key: None,
) -> CallsSync:
    """The calls after a poll whose answer listed `listed` (None: the answer had no list). `earlier`
    gives, for a call the roster does not know, the digests another path (the event webhook) already
    sent of it, or None."""
    if listed is None:
        if not stored:
            return CallsSync({}, keyless)  # nothing to close: nothing counted (nothing written)
        if keyless + 1 < KEYLESS_POLLS:
            return CallsSync(dict(stored), keyless + 1)
        return CallsSync({}, 0, close_calls(stored, now))
    at_now = now.timestamp()
    by_number = {call.number: key for key, call in stored.items() if call.started is None}
    kept: dict[str, StoredCall] = {}
    events: dict[str, CallChange] = {}
    unknown: list[str] = []
    for call in listed:
        key = (
            call_key(call.number, call.started_at, at_now)
            if call.started_at is not None
            else by_number.get(call.number, call_key(call.number, None, at_now))
        )
        if key in kept:
            continue  # listed twice in one answer
        fields, missing = call_fields(call, units)
        unknown += missing
        sent = digests(fields)
        was = stored.get(key)
        baseline = was.sent if was is not None else earlier(key)
        if baseline is None:  # nobody told the MDT of it: everything, as the game had it from the start
            changed = dict(fields)
            at = _instant(call.started_at) if call.started_at is not None else now
        else:
            changed = {name: value for name, value in fields.items() if baseline.get(name) != sent[name]}
            at = now
        if changed or was is None:
            creator = caller_text(call, names) if was is None else None
            events[key] = CallChange(key=key, at=min(at, now), fields=changed, opens=True, created_by=creator)
        seen = was.seen if was is not None else float(int(at_now))
        kept[key] = StoredCall(
            number=call.number, started=call.started_at, seen=seen, sent={**(baseline or {}), **sent}
        )
    closed = []
    for key, was in stored.items():
        if key in kept:
            continue
        if was.absent + 1 >= absent_polls:
            closed.append(key)
        else:
            kept[key] = was.model_copy(update={"absent": was.absent + 1})
    forgotten = []
    if len(kept) > MAX_STORED_CALLS:
        newest = sorted(kept, key=lambda k: (kept[k].order(), k), reverse=True)[:MAX_STORED_CALLS]
        forgotten = sorted(k for k in kept if k not in newest)
        kept = {k: kept[k] for k in newest}
    changes = [events[k] for k in sorted(events) if k in kept] + close_calls(closed, now)
    return CallsSync(kept, 0, changes, list(dict.fromkeys(unknown)), forgotten)
