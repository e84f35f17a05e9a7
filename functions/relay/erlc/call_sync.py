"""What a poll changes of a server's emergency calls, against what the MDT was told. Pure: no sockets,
no boto3 (relay.erlc.calls reads PRC's calls and makes their fields).

**What a poll sends** (`sync_calls`): a call it has not seen is a create (every field, dated when
the call started), or, when the event webhook reported it first, only what changed since the webhook
said it (dated at the poll); then only the fields whose value changed, dated at the poll. The roster
keeps, per call, a short digest of each field's value as the MDT was told (not the values: the item
is written every poll that changes something, docs/cost.md).
A call missing from `absent_polls` polls in a row that carried the list is closed (an event that may
not create, so a call never seen open is never created closed); a poll that failed, answered
"offline" or came back without `EmergencyCalls` is no news, until `KEYLESS_POLLS` answers in a row
come back without the list (PRC may leave an empty list out, as it leaves out an empty player list):
then every call is closed.

**The event webhook's reports** (`Reported`, one bounded item beside the roster, sk `sent-calls`, that
the webhook writes and the poll reads each tick): what it sent of each call, and when. The poll uses
them as the baseline of a call it meets for the first time, and adopts a reported call it has never
listed (one that began and ended between two polls): that call is then closed like any call missing
from the list, instead of staying open in the MDT for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.erlc.calls import call_fields, call_key, caller_text, digests
from relay.models import CLOSED, CallChange
from relay.ports.erlc import ErlcCall

# Calls the roster remembers per server, at most: the newest are kept, the oldest forgotten (logged).
MAX_STORED_CALLS = 30
# Answers in a row without the calls list (but with players) that close every call.
KEYLESS_POLLS = 3
# Where the event webhook's reports are kept: pk `roster#<server>`, this sk (a day, the newest few).
REPORTED_SK = "sent-calls"
REPORTED_TTL_SECONDS = 24 * 3600
MAX_REPORTED_CALLS = MAX_STORED_CALLS
# A report this much older than the last poll was there for that poll to read (the functions' clocks
# may differ a little): it is not adopted again.
REPORT_SKEW_SECONDS = 10.0


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


class Reported(BaseModel):
    """What the event webhook sent of a call, and when (epoch seconds)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    number: int
    started: int | None = None
    at: float
    sent: dict[str, str] = Field(default_factory=dict)


def load_reported(value: Any) -> dict[str, Reported]:
    calls = value.get("calls") if isinstance(value, Mapping) else None
    if not isinstance(calls, Mapping):
        return {}
    found = {}
    for key, entry in calls.items():
        try:
            found[str(key)] = Reported.model_validate(entry)
        except ValidationError:
            continue
    return found


def report(reported: Mapping[str, Reported], key: str, entry: Reported, now: float) -> dict[str, Any]:
    """The reports with this one merged in (what it sent added to what was sent before), those older
    than a day dropped, the newest MAX_REPORTED_CALLS kept: the item to store."""
    before = reported.get(key)
    merged = entry.model_copy(update={"sent": {**(before.sent if before else {}), **entry.sent}})
    kept = {k: r for k, r in reported.items() if r.at > now - REPORTED_TTL_SECONDS} | {key: merged}
    newest = sorted(kept, key=lambda k: (kept[k].at, k), reverse=True)[:MAX_REPORTED_CALLS]
    return {"calls": {k: kept[k].model_dump(exclude_defaults=True) for k in sorted(newest)}}


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
    reported: Mapping[str, Reported] | None = None,
    last_poll: float | None = None,
) -> CallsSync:
    """The calls after a poll whose answer listed `listed` (None: the answer had no list), with the
    event webhook's reports: the baseline of a call met for the first time, and the calls reported
    since `last_poll` (the last poll the roster reflects) that the list does not hold, adopted."""
    reported = reported or {}
    new_reports = unread_reports(stored, reported, last_poll)
    if listed is None:
        # No news of the calls; the webhook's reports are followed (none of them counted absent).
        known = dict(stored) | {key: _followed(entry, 0) for key, entry in new_reports.items()}
        if not known:
            return CallsSync({}, keyless)  # nothing to close: nothing counted (nothing written)
        if keyless + 1 < KEYLESS_POLLS:
            return CallsSync(known, keyless + 1)
        return CallsSync({}, 0, close_calls(known, now))
    read = _Read(stored, reported, units, names, now)
    for call in listed:
        read.call(call)
    kept, closed = read.kept, []
    for key, was in stored.items():
        if key in kept:
            continue
        if was.absent + 1 >= absent_polls:
            closed.append(key)
        else:
            kept[key] = was.model_copy(update={"absent": was.absent + 1})
    for key, entry in new_reports.items():
        if key in kept:
            continue
        # Reported by the webhook, never listed by a poll: followed from now on, so it is closed once it
        # is seen to be gone. This answer's silence counts unless the report may postdate the answer.
        absent = 1 if entry.at < now.timestamp() - REPORT_SKEW_SECONDS else 0
        if absent >= absent_polls:
            closed.append(key)
        else:
            kept[key] = _followed(entry, absent)
    forgotten = []
    if len(kept) > MAX_STORED_CALLS:
        newest = sorted(kept, key=lambda k: (kept[k].order(), k), reverse=True)[:MAX_STORED_CALLS]
        forgotten = sorted(k for k in kept if k not in newest)
        kept = {k: kept[k] for k in newest}
    changes = [read.events[k] for k in sorted(read.events) if k in kept] + close_calls(closed, now)
    return CallsSync(kept, 0, changes, list(dict.fromkeys(read.unknown)), forgotten)


def unread_reports(
    stored: Mapping[str, StoredCall], reported: Mapping[str, Reported], last_poll: float | None
) -> dict[str, Reported]:
    """The webhook's reports of calls the roster does not follow, made since the last poll it reflects
    (an older one was there for that poll to read)."""
    since = (last_poll or 0.0) - REPORT_SKEW_SECONDS
    return {key: entry for key, entry in reported.items() if key not in stored and entry.at > since}


def _followed(entry: Reported, absent: int) -> StoredCall:
    return StoredCall(
        number=entry.number, started=entry.started, seen=entry.at, absent=absent, sent=entry.sent
    )


class _Read:
    """The listed calls of one answer, each compared with what the MDT was told of it."""

    def __init__(
        self,
        stored: Mapping[str, StoredCall],
        reported: Mapping[str, Reported],
        units: Mapping[str, str],
        names: Mapping[str, str],
        now: datetime,
    ) -> None:
        self.stored, self.reported, self.units, self.names, self.now = stored, reported, units, names, now
        self.by_number = {call.number: key for key, call in stored.items() if call.started is None}
        self.kept: dict[str, StoredCall] = {}
        self.events: dict[str, CallChange] = {}
        self.unknown: list[str] = []

    def call(self, call: ErlcCall) -> None:
        at_now = self.now.timestamp()
        key = (
            call_key(call.number, call.started_at, at_now)
            if call.started_at is not None
            else self.by_number.get(call.number, call_key(call.number, None, at_now))
        )
        if key in self.kept:
            return  # listed twice in one answer
        fields, missing = call_fields(call, self.units)
        self.unknown += missing
        sent = digests(fields)
        was = self.stored.get(key)
        baseline = was.sent if was is not None else (r.sent if (r := self.reported.get(key)) else None)
        if baseline is None:  # nobody told the MDT of it: everything, as the game had it from the start
            changed = dict(fields)
            at = _instant(call.started_at) if call.started_at is not None else self.now
        else:
            changed = {name: value for name, value in fields.items() if baseline.get(name) != sent[name]}
            at = self.now
        if changed or was is None:
            creator = caller_text(call, self.names) if was is None else None
            self.events[key] = CallChange(
                key=key, at=min(at, self.now), fields=changed, opens=True, created_by=creator
            )
        seen = was.seen if was is not None else float(int(at_now))
        self.kept[key] = StoredCall(
            number=call.number, started=call.started_at, seen=seen, sent={**(baseline or {}), **sent}
        )
