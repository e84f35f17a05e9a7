"""The `sonoran` preset: Sonoran CAD push events (authenticated by the `key` in the body: `body-key`).

`{"key": ..., "type": "EVENT_UNIT_LOGIN" | "EVENT_UNIT_STATUS" | "EVENT_UNIT_LOGOUT" | ..., "data": ...}`.
`data` is a list of events in Sonoran's docs and one object in its FiveM resource: both are read.
A login carries the whole unit; a status change and a logout in their first form carry only the
unit's identId, so the adapter remembers identId -> unit at login in the state store
(`cache#<source>`, `ident#<identId>`) and reads it back later. `identIds` is documented as an array
but shown as a scalar: both are accepted. The newer form of `EVENT_UNIT_STATUS`, and
`EVENT_UNIT_UPDATE`, carry whole units under `data.units` (Sonoran-Software/SonoranCADFiveM
`sonorancad/core/httpd.lua`, `handleUnitUpdate`): each is read like a login. Other event types are
ignored.

The work per request is bounded before any state is read: at most `max_units` logins and `max_idents`
identIds (each at most 64 characters, the usable-id rule) per request, else a 422. identIds nobody
remembers are logged once per request, not once each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, model_validator

from relay.errors import InvalidPayloadError
from relay.models import UnitChange, UnitField, cache_key, usable_id
from relay.observability import logger
from relay.ports.stores import SourceStateStore
from relay.sources import AdapterContext, AdapterKind, SenderFacts
from relay.sources.fields import FieldRules, FieldText, PickKey, as_text

# Sonoran's default status enum (0 UNAVAILABLE, 1 BUSY, 2 AVAILABLE, 3 ENROUTE, 4 ON_SCENE; its v2 API
# adds 100 OFFLINE) in 10-codes. UNAVAILABLE is a logged-in unit not taking calls (Sonoran's own login
# example is at 0): it must not read as the off-duty 10-7 a logout writes.
DEFAULT_STATUS_MAP: dict[str, FieldText] = {
    "0": "10-6",
    "1": "10-6",
    "2": "10-8",
    "3": "10-76",
    "4": "10-97",
    "100": "10-7",
}
LOGIN, STATUS, LOGOUT = "EVENT_UNIT_LOGIN", "EVENT_UNIT_STATUS", "EVENT_UNIT_LOGOUT"
UPDATE = "EVENT_UNIT_UPDATE"
CACHE_TTL_SECONDS = 7 * 24 * 3600
# Sonoran's identIds are numbers; the bound keeps every cache key far below DynamoDB's 1,024 bytes.
MAX_IDENT_LENGTH = 64
# identIds named in the unknown-ident log line.
LOGGED_IDENTS = 10


def _default_value_maps() -> dict[UnitField, dict[str, FieldText]]:
    return {"status": dict(DEFAULT_STATUS_MAP)}


class SonoranOptions(FieldRules):
    """`value_maps.status` is the status table (merged over the default one); a number not in it is
    refused with a 422 unless `unmapped` says otherwise."""

    value_maps: dict[UnitField, dict[str, FieldText]] = Field(default_factory=lambda: _default_value_maps())
    unmapped: Literal["keep", "omit", "error"] = "error"
    logout_status: FieldText = "10-7"
    # identIds one request may name across its events (each is one state read or write): more is a 422.
    max_idents: int = Field(default=100, ge=1, le=1000)

    def statuses(self) -> set[str]:
        return super().statuses() | ({self.logout_status} if self.logout_status else set())

    @model_validator(mode="before")
    @classmethod
    def _status_map_over_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value_maps"), dict):
            maps = dict(data["value_maps"])
            if isinstance(maps.get("status"), dict):
                maps["status"] = {**DEFAULT_STATUS_MAP, **maps["status"]}
            else:
                maps.setdefault("status", dict(DEFAULT_STATUS_MAP))
            data = {**data, "value_maps": maps}
        return data


def ident_key(ident: Any) -> str:
    return f"ident#{ident}"


def _items(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    raise InvalidPayloadError("data: expected a list of event objects")


def _idents(value: Any, where: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    idents = []
    for index, item in enumerate(values):
        place = f"{where}[{index}]" if isinstance(value, list) else where
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise InvalidPayloadError(f"{place}: expected a unit identId (a number), got {_shown(item)}")
        try:
            idents.append(usable_id(str(item), MAX_IDENT_LENGTH))
        except ValueError as exc:
            raise InvalidPayloadError(f"{place}: identId {exc}") from None
    return idents


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:24]}... ({len(text)} characters)"


def _named_idents(kind: str, item: dict[str, Any], where: str) -> list[str]:
    """The identIds one event names (a login: its unit's, if it has one), checked."""
    if kind == LOGIN:
        unit = item.get("unit")
        ident = unit.get("id") if isinstance(unit, dict) else None
        return [] if ident is None else _idents(ident, f"{where}.unit.id")[:1]
    if kind == STATUS:
        return _idents(item.get("identIds", item.get("identId")), f"{where}.identIds")
    return _idents(item.get("identId", item.get("identIds")), f"{where}.identId")


Event = tuple[dict[str, Any], str, list[str]]  # (the event, where it is, the identIds it names)
IdentsOf = Callable[[dict[str, Any], str], list[str]]


def _units_form(data: Any) -> list[tuple[Any, str]] | None:
    """The units of the `data.units` form with where each is (`data` an object, or a list of objects,
    holding `units`), or None when the event is in its identId form."""
    holders = [(data, "data")] if isinstance(data, dict) else []
    if isinstance(data, list):
        holders = [(item, f"data[{index}]") for index, item in enumerate(data) if isinstance(item, dict)]
    if not any("units" in holder for holder, _ in holders):
        return None
    units: list[tuple[Any, str]] = []
    for holder, where in holders:
        found = holder.get("units")
        if found is None:
            continue
        if not isinstance(found, list):
            raise InvalidPayloadError(f"{where}.units: expected a list of units")
        units.extend((unit, f"{where}.units[{index}]") for index, unit in enumerate(found))
    return units


class SonoranAdapter:
    def __init__(self, options: SonoranOptions) -> None:
        self.options = options

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidPayloadError("type: missing, expected a Sonoran push event type")
        if kind not in (LOGIN, STATUS, LOGOUT, UPDATE):
            logger.info("sonoran event ignored", extra={"event_type": kind[:64]})
            return []
        if "data" not in payload:
            raise InvalidPayloadError("data: missing")
        units = _units_form(payload["data"]) if kind in (STATUS, UPDATE) else None
        if units is not None:
            events, handler = self._bounded_units(units), self._whole_unit
        elif kind == UPDATE:
            raise InvalidPayloadError("data.units: missing, expected the updated units")
        else:
            events = self._bounded(kind, _items(payload["data"]))
            handler = {LOGIN: self._login, STATUS: self._status, LOGOUT: self._logout}[kind]
        state = context.require_state("sonoran")
        lookup = _Lookup(state, cache_key(context.source))
        changes: list[UnitChange] = []
        for event in events:
            changes.extend(handler(event, lookup, context))
        context.notes.name(_label(kind, events, changes))
        if lookup.unknown:
            # The units logged in before the relay knew them: nothing names them, so nothing can change.
            logger.warning(
                "sonoran identIds unknown, their events skipped",
                extra={
                    "event_type": kind,
                    "unknown": len(lookup.unknown),
                    "idents": lookup.unknown[:LOGGED_IDENTS],
                },
            )
        return changes

    def _bounded(self, kind: str, items: list[Any]) -> list[Event]:
        """Every event with its checked identIds, counted: no state is touched for a request over the
        bounds (`max_units` logins, `max_idents` identIds)."""
        if kind == LOGIN and len(items) > self.options.max_units:
            raise InvalidPayloadError(f"data: at most {self.options.max_units} units per request (max_units)")
        located = [(item, f"data[{index}]") for index, item in enumerate(items)]
        return self._counted(located, lambda item, where: _named_idents(kind, item, where))

    def _bounded_units(self, units: list[tuple[Any, str]]) -> list[Event]:
        """The `data.units` form, held to the same bounds: each unit is one login's worth of work."""
        if len(units) > self.options.max_units:
            raise InvalidPayloadError(
                f"data.units: at most {self.options.max_units} units per request (max_units)"
            )

        def named(unit: dict[str, Any], where: str) -> list[str]:
            ident = unit.get("id")
            return [] if ident is None else _idents(ident, f"{where}.id")[:1]

        return self._counted(units, named)

    def _counted(self, items: list[tuple[Any, str]], idents_of: IdentsOf) -> list[Event]:
        events: list[Event] = []
        named = 0
        for item, where in items:
            if not isinstance(item, dict):
                raise InvalidPayloadError(f"{where}: expected an object")
            idents = idents_of(item, where)
            named += len(idents)
            if named > self.options.max_idents:
                raise InvalidPayloadError(
                    f"data: more than {self.options.max_idents} identIds in one request (max_idents)"
                )
            events.append((item, where, idents))
        return events

    def _unit(self, unit: dict[str, Any], where: str, context: AdapterContext) -> UnitChange:
        """A whole Sonoran unit object (a login's `unit`, an element of `data.units`) as a change."""
        data = unit["data"]
        picked: dict[PickKey, Any] = {
            "id": data.get("unitNum"),
            "officer_name": data.get("name"),
            "department": data.get("department"),
            "rank": data.get("rank"),
            "status": unit.get("status"),
        }
        # The status sits beside `data`, not in it: a refusal names where it is.
        return self.options.unit(picked, context.received_at, f"{where}.data", {"status": f"{where}.status"})

    def _login(self, event: Event, lookup: _Lookup, context: AdapterContext) -> list[UnitChange]:
        item, where, idents = event
        unit = item.get("unit")
        if not isinstance(unit, dict) or not isinstance(unit.get("data"), dict):
            raise InvalidPayloadError(f"{where}.unit.data: missing, expected the logged-in unit")
        change = self._unit(unit, f"{where}.unit", context)
        for ident in idents:
            lookup.remember(ident, {"id": change.id})
        return [change]

    def _whole_unit(self, event: Event, lookup: _Lookup, context: AdapterContext) -> list[UnitChange]:
        """An element of `data.units`: the whole unit when it names its unit number (remembered like a
        login), else only its status, for the unit its identId was remembered as."""
        unit, where, idents = event
        data = unit.get("data")
        if isinstance(data, dict) and data.get("unitNum") not in (None, ""):
            change = self._unit(unit, where, context)
            for ident in idents:
                lookup.remember(ident, {"id": change.id})
            return [change]
        if "status" not in unit:
            raise InvalidPayloadError(f"{where}: neither data.unitNum nor status, nothing to change")
        return self._status((unit, where, idents), lookup, context)

    def _status(self, event: Event, lookup: _Lookup, context: AdapterContext) -> list[UnitChange]:
        item, where, idents = event
        if "status" not in item:
            raise InvalidPayloadError(f"{where}.status: missing")
        status = as_text(item.get("status"), f"{where}.status")
        changes = []
        for ident in idents:
            unit_id = lookup.unit_id(ident)
            if unit_id is not None:
                picked: dict[PickKey, Any] = {"id": unit_id, "status": status}
                changes.append(self.options.unit(picked, context.received_at, where))
        return changes

    def _logout(self, event: Event, lookup: _Lookup, context: AdapterContext) -> list[UnitChange]:
        _, _, idents = event
        changes = []
        for ident in idents:
            unit_id = lookup.unit_id(ident)
            if unit_id is not None:
                lookup.forget(ident)
                fields: dict[UnitField, str | None] = {"status": self.options.logout_status}
                changes.append(UnitChange(id=unit_id, at=context.received_at, fields=fields))
        return changes


def _label(kind: str, events: list[Event], changes: list[UnitChange]) -> str:
    """`EVENT_UNIT_STATUS 17 -> A-10`: the event, the identIds it names, the units it changes."""
    idents = list(dict.fromkeys(ident for _, _, named in events for ident in named))
    units = list(dict.fromkeys(change.id for change in changes))
    named = ",".join(idents[:5]) + ("..." if len(idents) > 5 else "")
    target = ",".join(units[:5]) + ("..." if len(units) > 5 else "") if units else "no known unit"
    return f"{kind} {named or '-'} -> {target}"


class _Lookup:
    """identId -> unit id in the source's cache, each identId read at most once per request."""

    def __init__(self, state: SourceStateStore, pk: str) -> None:
        self.state, self.pk = state, pk
        self.read: dict[str, str | None] = {}
        self.unknown: list[str] = []

    def unit_id(self, ident: str) -> str | None:
        if ident not in self.read:
            unit = self.state.get(self.pk, ident_key(ident))
            found = unit.get("id") if isinstance(unit, dict) else None
            self.read[ident] = found if isinstance(found, str) else None
            if self.read[ident] is None:
                self.unknown.append(ident)
        return self.read[ident]

    def remember(self, ident: str, unit: dict[str, Any]) -> None:
        self.state.put(self.pk, ident_key(ident), unit, CACHE_TTL_SECONDS)
        self.read[ident] = unit["id"]

    def forget(self, ident: str) -> None:
        self.state.delete(self.pk, ident_key(ident))
        self.read[ident] = None


KIND = AdapterKind(
    options_model=SonoranOptions,
    build=SonoranAdapter,
    needs_state=True,
    sender=SenderFacts(
        docs="docs/sources/sonoran.md",
        samples=("sonoran_unit_login.json", "sonoran_unit_status.json", "sonoran_unit_logout.json"),
        example_source="sonoran",
        profile_rank=3,
        reports_state=True,
        signature={"scheme": "body-key"},
    ),
)
