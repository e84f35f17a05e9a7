"""The contracts between the parts: unit changes, the queue message, and the partner's unit record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

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


def to_utc(value: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted, so every comparison is like for like."""
    if value.tzinfo is None:
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


class QueueMessage(BaseModel):
    """The versioned body of every SQS message (DESIGN.md, "Queue message")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    source: str = Field(min_length=1)
    mdt_id: str = Field(min_length=1)
    guild_id: str = Field(min_length=1)
    actor: str | None = None
    webhook_id: str | None = None
    received_at: Instant
    changes: list[UnitChange] = Field(min_length=1)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)


def unit_record(unit_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A full partner record: every writable field present, so the partner never blanks one."""
    record: dict[str, Any] = {"id": unit_id}
    for name in UNIT_FIELDS:
        record[name] = fields.get(name)
    return record
