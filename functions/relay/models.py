"""The vocabulary every part shares: unit fields, instants, unit changes, the partner's unit record,
the keys of the state table and secret rotation lists. Pure: no I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args
from unicodedata import category

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

# The writable fields of a Northca active unit (besides `id`), in the partner's order.
UnitField = Literal["officer_name", "officer_badge", "department", "rank", "status"]
UNIT_FIELDS: tuple[UnitField, ...] = get_args(UnitField)

MAX_UNIT_ID_LENGTH = 64
MAX_FIELD_LENGTH = 256


def utc_now() -> datetime:
    """The default clock of everything that takes one (tests inject their own)."""
    return datetime.now(UTC)


NO_OFFSET = timedelta(0)


def to_utc(value: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted, so every comparison is like for like."""
    zone = value.tzinfo
    if zone is UTC:
        return value
    if zone is None or zone.utcoffset(value) == NO_OFFSET:
        # Parsed "Z" times carry pydantic's own zone: swapping it is cheaper than converting, and
        # every later comparison is then between times of one zone (the fast path).
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 has no UTC form: a ValueError is a validation error to pydantic (a
        # 422 naming the field); an OverflowError would pass through it as a crash (a 500).
        raise ValueError(f"{value.isoformat()} is outside the range of UTC times") from None


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, the shape the queue message uses."""
    return to_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Instant = Annotated[
    datetime,
    AfterValidator(to_utc),
    PlainSerializer(format_instant, return_type=str, when_used="json"),
]
# One rule for the characters of a sender's text, ids and values alike (docs/security.md, "Limits"): no
# control (Cc: NUL, ESC, a newline), line or paragraph separator (Zl, Zp), surrogate (Cs) or unassigned
# (Cn: U+FFFF and the other noncharacters) character, which no dispatcher can read and some stores
# refuse, and no bidi control, which reorders what a dispatcher reads around it. An id also refuses
# every other format character (Cf: U+200B, U+FEFF, ...): invisible, it would make two ids look the
# same. A value keeps them: the joiner of an emoji, a soft hyphen, a flag's tags are text.
REFUSED_CATEGORIES = {
    "Cc": "control",
    "Cs": "surrogate",
    "Cn": "unassigned",
    # Unicode's own line breaks (U+2028, U+2029), a newline by another name.
    "Zl": "line separator",
    "Zp": "paragraph separator",
}
REFUSED_ID_CATEGORIES = {**REFUSED_CATEGORIES, "Cf": "format"}
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def refused_character(text: str, *, in_id: bool) -> str | None:
    """Why `text` may not be a sender's id (`in_id`) or value, by the one rule above; None when it may."""
    if text.isascii() and text.isprintable():
        return None
    refused = REFUSED_ID_CATEGORIES if in_id else REFUSED_CATEGORIES
    for position, char in enumerate(text):
        if char in BIDI_CONTROLS:
            return f"holds bidi control character U+{ord(char):04X} at position {position}"
        kind = refused.get(category(char))
        if kind is not None:
            return f"holds {kind} character U+{ord(char):04X} at position {position}"
    return None


def _trimmed(text: str, max_length: int) -> str:
    value = text.strip()
    if not value:
        raise ValueError("empty once surrounding blanks are trimmed")
    if len(value) > max_length:
        raise ValueError(f"longer than {max_length} characters")
    return value


def partner_unit_id(text: str) -> str:
    """The id as the partner keys it: trimmed by Python's `str.strip()` (the partner's own rule, which,
    unlike pydantic's strip, also drops U+001C-U+001F), non-empty, at most MAX_UNIT_ID_LENGTH."""
    return _trimmed(text, MAX_UNIT_ID_LENGTH)


def usable_id(text: str, max_length: int) -> str:
    """An id a sender gives, trimmed as the partner trims it: non-empty, at most `max_length`
    characters, and no control, format, surrogate or unassigned character, which no dispatcher can
    read or type back and some stores refuse. ValueError says what is wrong."""
    value = _trimmed(text, max_length)
    problem = refused_character(value, in_id=True)
    if problem is not None:
        raise ValueError(problem)
    return value


def usable_value(text: str) -> str:
    """A field value a sender gives, by the ids' rule for characters (`refused_character`): kept as it
    is, or ValueError saying what is wrong."""
    problem = refused_character(text, in_id=False)
    if problem is not None:
        raise ValueError(problem)
    return text


def usable_unit_id(text: str) -> str:
    """The one rule for a unit id from a sender, which every adapter applies (docs/security.md)."""
    return usable_id(text, MAX_UNIT_ID_LENGTH)


# On every UnitChange (the queue's contract, which the ER:LC poller writes too): the partner's rule.
UnitId = Annotated[str, AfterValidator(partner_unit_id)]
# What an adapter accepts from a sender: the partner's rule and no unreadable character.
SenderUnitId = Annotated[str, AfterValidator(usable_unit_id)]
FieldValue = Annotated[str, StringConstraints(max_length=MAX_FIELD_LENGTH)] | None
# What an adapter accepts from a sender as a value: the queue's bound and the one rule for characters.
SenderFieldValue = (
    Annotated[str, StringConstraints(max_length=MAX_FIELD_LENGTH), AfterValidator(usable_value)] | None
)


class UnitChange(BaseModel):
    """One source event about one unit: the fields it sets (None clears), at the source's event time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UnitId
    at: Instant
    fields: dict[UnitField, FieldValue] = Field(default_factory=dict)


# ------------------------------------------------------------------------------ emergencies
# A sender's 911 call becomes one Northca dispatch call, and its later events PATCHes of what changed; a
# panic becomes one POST of the unit's panic (docs/emergencies.md). Both travel on the emergency queue.

# The fields of a Northca call a PATCH applies (its docs: "Only these fields are applied"), in its order.
CallField = Literal[
    "classification", "description", "location", "status", "call_type", "priority", "units_assigned"
]
CALL_FIELDS: tuple[CallField, ...] = get_args(CallField)
# The status that closes a call (Northca's own example: `{"status": "closed"}`); the relay never reopens it.
CLOSED = "closed"
MAX_CALL_KEY_LENGTH = 128
MAX_CALL_TEXT_LENGTH = 2000
MAX_CALL_UNITS = 50

CallText = Annotated[str, StringConstraints(max_length=MAX_CALL_TEXT_LENGTH)]
CallValue = CallText | list[UnitId] | None
SenderCallKey = Annotated[str, AfterValidator(lambda text: usable_id(text, MAX_CALL_KEY_LENGTH))]


class CallChange(BaseModel):
    """One sender event about one of its calls: the fields it sets (None clears; `units_assigned` is a
    list of unit ids, every other field text), at the sender's event time.

    `key` is the sender's own id of the call (Sonoran's callId, SnailyCAD's call id, an ER:LC server's
    CallNumber): the relay derives the Northca call's id from it and the source. `opens` says whether
    this event may create the call (a new 911 call may; a "call removed" may not: it only closes one the
    relay created). `created_by` is sent when the call is created, and never patched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SenderCallKey
    at: Instant
    fields: dict[CallField, CallValue] = Field(default_factory=dict)
    opens: bool = True
    created_by: Annotated[str, StringConstraints(max_length=MAX_FIELD_LENGTH)] | None = None

    @model_validator(mode="after")
    def _units_are_a_list_and_the_rest_text(self) -> CallChange:
        for name, value in self.fields.items():
            if name == "units_assigned":
                if isinstance(value, str):
                    raise ValueError("fields.units_assigned: expected a list of unit ids")
                if value is not None and len(value) > MAX_CALL_UNITS:
                    raise ValueError(f"fields.units_assigned: at most {MAX_CALL_UNITS} units")
            elif isinstance(value, list):
                raise ValueError(f"fields.{name}: expected text, got a list")
        return self


class Panic(BaseModel):
    """A unit's panic (a 10-33): the unit as the sender names it, when, where (when the sender says),
    and `key`, the sender's identity of this press ("" when it gives none: then any panic of the unit
    within the repeat window is this one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: UnitId
    at: Instant
    key: Annotated[str, StringConstraints(max_length=MAX_CALL_KEY_LENGTH)] = ""
    address: Annotated[str, StringConstraints(max_length=MAX_FIELD_LENGTH)] | None = None


# SQS's message attributes (the reason) are bounded: a reason's parts are cut to fit (relay.aws.sqs).
MAX_UNDELIVERED_TEXT = 300


class Undelivered(BaseModel):
    """An acknowledged emergency no unit could be found for: what, who, when it was pressed, and why
    it could not be delivered with how to fix it (the DLQ's reason)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["panic"] = "panic"
    who: str = Field(min_length=1, max_length=MAX_UNDELIVERED_TEXT)
    at: Instant
    reason: str = Field(min_length=1, max_length=MAX_UNDELIVERED_TEXT)

    def describe(self, source: str) -> str:
        """The DLQ's reason: `panic of Sonoran identId 17 (source cad) pressed 2026-...Z: <reason>`."""
        return (
            f"{self.kind} of {self.who} (source {source}) pressed {format_instant(self.at)}: not delivered: "
            f"{self.reason}. Redriven, it is acknowledged and changes nothing (a panic is never sent late)"
        )


def encodable(text: str) -> bool:
    """Whether a str can be UTF-8 encoded: a JSON `\\ud800` escape or a hand-made event can hold lone
    surrogates, which no queue, table or partner will take."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------------------------ the state table's keys
# One DynamoDB table (UnitStateTable) holds three kinds of item, told apart by the partition key:
# `unit#<mdt>#<guild>` (the consumer's unit state), `roster#<server>` (ER:LC rosters, written by the
# poller, read by the erlc-events adapter), `cache#<source>` (an adapter's own cache), and the
# consumer's emergency records: `call#<mdt>#<guild>` (one per sender call) and `panic#<mdt>#<guild>`
# (a panic sent, for its repeat window).

UNIT_PREFIX = "unit#"
CALL_PREFIX = "call#"
PANIC_PREFIX = "panic#"
SOURCE_STATE_TTL_SECONDS = 7 * 24 * 3600


def roster_key(server: str) -> str:
    return f"roster#{server}"


def cache_key(source: str) -> str:
    return f"cache#{source}"


# The partner calls' shared token bucket (relay.aws.pacing), in the state table.
PACE_KEY = "pace#northca"


def seen_key(source: str) -> str:
    """When a source was last heard (relay.watch): its quiet alarm reads it."""
    return f"seen#{source}"


# ------------------------------------------------------------------------------ secrets


def parse_secret_value(raw: str) -> list[str]:
    """A secret's value as a rotation list, oldest first and newest last.

    A plain string is one secret; a JSON array of strings is several valid ones (while rotating, the
    operator appends the new value: `["OLD", "NEW"]`). Whoever needs one value takes the last.
    """
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            return [text]
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            return [v for v in values if v]
    return [text] if text else []


def bundled_value(raw: str, name: str) -> list[str]:
    """One secret's rotation list out of a bundle: a JSON object of every secret by its name, each value a
    string or a list of strings (oldest first). A bundle that is not such an object, or has no `name`,
    gives no secret."""
    try:
        bundle = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return []
    value = bundle.get(name) if isinstance(bundle, dict) else None
    if isinstance(value, str):
        return parse_secret_value(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    return []


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret in it replaced by `***`, whatever its letter case: for anything logged
    from a partner's answer, which may echo what it was sent (a key refused in a 401 text, a token in a
    URL), upper-cased or not. Redact first, then cut a text short: a cut through a secret leaves a piece
    of it that no longer matches."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text
