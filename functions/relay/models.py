"""The vocabulary every part shares: unit fields, instants, unit changes, the partner's unit record,
the keys of the state table and secret rotation lists. Pure: no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
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
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, the shape the queue message uses."""
    return to_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Instant = Annotated[
    datetime,
    AfterValidator(to_utc),
    PlainSerializer(format_instant, return_type=str, when_used="json"),
]
UnitId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_UNIT_ID_LENGTH)]
FieldValue = Annotated[str, StringConstraints(max_length=MAX_FIELD_LENGTH)] | None


class UnitChange(BaseModel):
    """One source event about one unit: the fields it sets (None clears), at the source's event time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UnitId
    at: Instant
    fields: dict[UnitField, FieldValue] = Field(default_factory=dict)


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
# poller, read by the erlc-events adapter) and `cache#<source>` (an adapter's own cache).

UNIT_PREFIX = "unit#"
SOURCE_STATE_TTL_SECONDS = 7 * 24 * 3600


def roster_key(server: str) -> str:
    return f"roster#{server}"


def cache_key(source: str) -> str:
    return f"cache#{source}"


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


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret in it replaced by `***`: for anything logged from a partner's answer,
    which may echo what it was sent (a key refused in a 401 text, a token in a URL)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
