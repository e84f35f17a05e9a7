"""ER:LC's emergency calls as PRC gives them, and as Northca call fields. Pure: no sockets, no boto3.
relay.erlc.call_sync says what a poll changes of them.

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
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from relay.models import (
    MAX_CALL_TEXT_LENGTH,
    MAX_CALL_UNITS,
    MAX_FIELD_LENGTH,
    CallField,
    refused_character,
)
from relay.ports.erlc import ErlcCall

CALLS_KEYS = ("EmergencyCalls", "emergencyCalls", "emergency_calls")
# Calls read from one answer, at most (a server has at most 40 players).
MAX_LISTED_CALLS = 100
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
