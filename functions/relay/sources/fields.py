"""The rules every adapter shares from picked raw values to a unit change: text, event times, ids,
value maps, constants and defaults (`FieldRules`, which every preset's options extend)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.errors import InvalidPayloadError
from relay.models import UNIT_FIELDS, UnitChange, UnitField, to_utc, usable_unit_id, usable_value

# What an adapter picks for one unit: its id and any of its fields.
PickKey = Literal["id", "officer_name", "officer_badge", "department", "rank", "status"]
PICK_KEYS: tuple[PickKey, ...] = get_args(PickKey)
FieldText = Annotated[str, Field(max_length=256)] | None

# Epoch numbers above this are milliseconds (1e11 seconds is the year 5138).
EPOCH_MILLIS_THRESHOLD = 1e11


def as_text(value: Any, where: str) -> str | None:
    """A picked value as the MDT's text: numbers and booleans spelled out, containers refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidPayloadError(f"{where}: expected text, got {value}")
        return str(int(value)) if value.is_integer() else str(value)
    kind = "a list" if isinstance(value, list) else "an object"
    raise InvalidPayloadError(f"{where}: expected text or a number, got {kind}")


def parse_event_time(value: Any, where: str) -> datetime | None:
    """ISO 8601 text, or epoch seconds / milliseconds (as a number or digits); None when absent.

    Always in UTC. A time outside datetime's range, in the text or once converted to UTC (`1` and 400
    zeros, `9999-12-31T23:59:59-01:00`), is a 422 naming `where`, like any other bad time.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidPayloadError(f"{where}: expected a time, got {value}")
    shown = _shown(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        value = float(value)  # digits beyond a float's range become inf: refused below
    if isinstance(value, int | float):
        try:
            seconds = value / 1000 if value > EPOCH_MILLIS_THRESHOLD else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidPayloadError(f"{where}: {shown} is not a valid epoch time") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidPayloadError(f"{where}: {shown} is not an ISO 8601 time") from None
        try:
            return to_utc(parsed)
        except ValueError:
            raise InvalidPayloadError(f"{where}: {shown} is outside the range of UTC times") from None
    raise InvalidPayloadError(f"{where}: expected a time, got {type(value).__name__}")


def _shown(value: Any) -> str:
    """A value for a message: a 4,000-digit number is shown by its first digits and its length."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:16]}... ({len(text)} characters)"


class FieldRules(BaseModel):
    """What happens to picked values before they become a unit change (shared by every preset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    constants: dict[UnitField, FieldText] = Field(default_factory=dict)
    defaults: dict[UnitField, FieldText] = Field(default_factory=dict)
    value_maps: dict[UnitField, dict[str, FieldText]] = Field(default_factory=dict)
    unmapped: Literal["keep", "omit", "error"] = "keep"
    uppercase_id: bool = False
    max_units: int = Field(default=500, ge=1, le=10_000)

    def unit(
        self,
        picked: Mapping[PickKey, Any],
        at: datetime,
        where: str,
        places: Mapping[PickKey, str] | None = None,
    ) -> UnitChange:
        """One unit change from picked raw values (keys from UNIT_KEYS; None or absent = not given).

        A refusal names `{where}.{key}`, or `places[key]` when the adapter knows where in the body the
        value was (a form's answer).
        """

        def place(key: PickKey) -> str:
            return (places or {}).get(key, f"{where}.{key}")

        given = as_text(picked.get("id"), place("id"))
        if given is None or given == "":
            raise InvalidPayloadError(f"{place('id')}: no unit id (the expression gave nothing)")
        try:
            unit_id = usable_unit_id(given.upper() if self.uppercase_id else given)
        except ValueError as exc:
            raise InvalidPayloadError(f"{place('id')}: {exc}") from None
        fields: dict[UnitField, str | None] = {}
        for name in UNIT_FIELDS:
            text = as_text(picked.get(name), place(name))
            if text is None:
                if name in self.defaults:
                    fields[name] = self.defaults[name]
                continue
            try:
                usable_value(text)  # the sender's text; constants, defaults and maps are the operator's
            except ValueError as exc:
                raise InvalidPayloadError(f"{place(name)}: {exc}") from None
            mapped = self._mapped(name, text, place(name))
            if mapped is not _OMIT:
                fields[name] = mapped  # type: ignore[assignment]
        fields.update(self.constants)
        try:
            return UnitChange(id=unit_id, at=at, fields=fields)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            key = next((str(p) for p in reversed(problem["loc"]) if p != "fields"), "id")
            location = place(key) if key in PICK_KEYS else f"{where}.{key}"
            raise InvalidPayloadError(f"{location}: {problem['msg']}") from None

    def statuses(self) -> set[str]:
        """The statuses these rules can write whatever the payload says (value_maps.status's values,
        constants, defaults): what relay.toml's cross-check compares with another source's allow-list.
        A sender's free text is not known in advance."""
        found = set(self.value_maps.get("status", {}).values())
        found |= {self.constants.get("status"), self.defaults.get("status")}
        return {status for status in found if status}

    def _mapped(self, name: UnitField, text: str, location: str) -> str | object | None:
        table = self.value_maps.get(name)
        if table is None:
            return text
        key = text.strip()
        if key in table:
            return table[key]
        if self.unmapped == "omit":
            return _OMIT
        if self.unmapped == "error":
            known = ", ".join(repr(k) for k in table)
            raise InvalidPayloadError(f"{location}: {key!r} is not in value_maps.{name} (known: {known})")
        return text


_OMIT = object()
