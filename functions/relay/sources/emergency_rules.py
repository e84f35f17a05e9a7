"""Calls and panics from any JSON, as the mapping adapter maps units: JMESPath expressions in relay.toml
(`[sources.X.options.calls]`, `[sources.X.options.panics]`), compiled when relay.toml is loaded.

    [sources.board.options.calls]
    items = "calls"                  # the list of calls (an object counts as one); default: the body
    filter = "kind == '911'"         # items for which this is falsy are skipped
    key = "to_string(id)"            # the sender's id of the call (required): one Northca call per key
    at = "updated_at"                # event time; default: the receive time
    opens = "state != 'closed'"      # may this event create the call? default: every event may
    closed = "state == 'closed'"     # truthy: the call is closed (status "closed")
    created_by = "caller"            # who created it (sent with the create only)
    fields = { location = "where", description = "text", units_assigned = "units[].callsign" }
    constants = { call_type = "911" }

    [sources.board.options.panics]
    items = "@"
    filter = "type == 'panic'"
    unit = "callsign"                # the unit's id (required)
    key = "id"                       # the sender's id of this press; default: none (one per window)
    at = "pressed_at"
    address = "location"

A field whose expression gives null is not set (an event says nothing of it); `units_assigned` is a
list of unit ids (text, or one id alone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.errors import InvalidPayloadError, describe_validation_error
from relay.models import CLOSED, MAX_CALL_UNITS, CallChange, CallField, Panic, usable_id, usable_unit_id
from relay.sources.fields import as_text, parse_event_time

Search = Callable[[str, Any, str], Any]


class CallRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: str = "@"
    filter: str | None = None
    key: str
    at: str | None = None
    opens: str | None = None
    closed: str | None = None
    created_by: str | None = None
    fields: dict[CallField, str] = Field(default_factory=dict)
    constants: dict[CallField, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    max_calls: int = Field(default=100, ge=1, le=1000)

    def expressions(self) -> list[str]:
        given = [self.items, self.filter, self.key, self.at, self.opens, self.closed, self.created_by]
        return [e for e in (*given, *self.fields.values()) if e]


class PanicRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: str = "@"
    filter: str | None = None
    unit: str
    key: str | None = None
    at: str | None = None
    address: str | None = None
    uppercase_unit: bool = False
    max_panics: int = Field(default=100, ge=1, le=1000)

    def expressions(self) -> list[str]:
        return [e for e in (self.items, self.filter, self.unit, self.key, self.at, self.address) if e]


def truthy(value: Any) -> bool:
    # JMESPath's truth: false, null, "", [] and {} are false; 0 is true.
    return not (value is None or value is False or value in ("", [], {}))


def _items(search: Search, expression: str, payload: Any, what: str) -> list[Any]:
    found = search(expression, payload, f"{what}.items")
    if found is None:
        return []
    return [found] if isinstance(found, dict) else found if isinstance(found, list) else [found]


def _unit_ids(value: Any, where: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    ids = []
    for index, item in enumerate(values):
        if item is None:
            continue
        text = as_text(item, f"{where}[{index}]")
        if not text:
            continue
        try:
            ids.append(usable_unit_id(text))
        except ValueError as exc:
            raise InvalidPayloadError(f"{where}[{index}]: {exc}") from None
    if len(ids) > MAX_CALL_UNITS:
        raise InvalidPayloadError(f"{where}: at most {MAX_CALL_UNITS} units")
    return list(dict.fromkeys(ids))


def map_calls(rules: CallRules, search: Search, payload: Any, received_at: datetime) -> list[CallChange]:
    """The call events of a payload."""
    calls: list[CallChange] = []
    for index, item in enumerate(_items(search, rules.items, payload, "calls")):
        where = f"calls[{index}]"
        if rules.filter and not truthy(search(rules.filter, item, f"{where}.filter")):
            continue
        if len(calls) == rules.max_calls:
            raise InvalidPayloadError(f"calls: at most {rules.max_calls} calls per request")
        key = as_text(search(rules.key, item, f"{where}.key"), f"{where}.key")
        if not key:
            raise InvalidPayloadError(f"{where}.key: no call key (the expression gave nothing)")
        fields: dict[CallField, Any] = {}
        for name, expression in rules.fields.items():
            value = search(expression, item, f"{where}.{name}")
            if value is None:
                continue
            fields[name] = (
                _unit_ids(value, f"{where}.{name}")
                if name == "units_assigned"
                else as_text(value, f"{where}.{name}")
            )
        fields.update(rules.constants)
        if rules.closed and truthy(search(rules.closed, item, f"{where}.closed")):
            fields["status"] = CLOSED
        at = received_at
        if rules.at:
            at = parse_event_time(search(rules.at, item, f"{where}.at"), f"{where}.at") or at
        opens = truthy(search(rules.opens, item, f"{where}.opens")) if rules.opens else True
        creator = search(rules.created_by, item, f"{where}.created_by") if rules.created_by else None
        calls.append(call_change(key, at, fields, opens, as_text(creator, f"{where}.created_by"), where))
    return calls


def call_change(
    key: str, at: datetime, fields: Mapping[CallField, Any], opens: bool, created_by: str | None, where: str
) -> CallChange:
    """A call event, every refusal a 422 naming where the value was."""
    try:
        usable_id(key, 128)
        return CallChange(key=key, at=at, fields=dict(fields), opens=opens, created_by=created_by or None)
    except ValueError as exc:
        detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else f"key: {exc}"
        raise InvalidPayloadError(f"{where}: {detail}") from None


def map_panics(rules: PanicRules, search: Search, payload: Any, received_at: datetime) -> list[Panic]:
    """The panics of a payload."""
    panics: list[Panic] = []
    for index, item in enumerate(_items(search, rules.items, payload, "panics")):
        where = f"panics[{index}]"
        if rules.filter and not truthy(search(rules.filter, item, f"{where}.filter")):
            continue
        if len(panics) == rules.max_panics:
            raise InvalidPayloadError(f"panics: at most {rules.max_panics} panics per request")
        unit = as_text(search(rules.unit, item, f"{where}.unit"), f"{where}.unit")
        if not unit:
            raise InvalidPayloadError(f"{where}.unit: no unit id (the expression gave nothing)")
        key = as_text(search(rules.key, item, f"{where}.key"), f"{where}.key") if rules.key else None
        address = (
            as_text(search(rules.address, item, f"{where}.address"), f"{where}.address")
            if rules.address
            else None
        )
        at = received_at
        if rules.at:
            at = parse_event_time(search(rules.at, item, f"{where}.at"), f"{where}.at") or at
        panics.append(panic(unit.upper() if rules.uppercase_unit else unit, at, key or "", address, where))
    return panics


def panic(unit: str, at: datetime, key: str, address: str | None, where: str) -> Panic:
    """A panic, every refusal a 422 naming where the value was."""
    try:
        return Panic(unit=usable_unit_id(unit), at=at, key=key, address=address or None)
    except ValueError as exc:
        detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else f"unit: {exc}"
        raise InvalidPayloadError(f"{where}: {detail}") from None
