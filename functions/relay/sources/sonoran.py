"""The `sonoran` preset: Sonoran CAD push events (authenticated by the `key` in the body: `body-key`).

`{"key": ..., "type": "EVENT_UNIT_LOGIN" | "EVENT_UNIT_STATUS" | "EVENT_UNIT_LOGOUT" | ..., "data": [...]}`.
A login carries the whole unit; a status change and a logout carry only the
unit's identId, so the adapter remembers identId -> unit at login in the state store
(`cache#<source>`, `ident#<identId>`) and reads it back later. Other event types are ignored.
`identIds` is documented as an array but shown as a scalar: both are accepted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from relay.errors import InvalidPayloadError
from relay.models import UnitChange, UnitField, cache_key
from relay.observability import logger
from relay.ports import SourceStateStore
from relay.sources import AdapterContext, AdapterKind
from relay.sources.fields import FieldRules, FieldText, PickKey, as_text

# Sonoran's default status enum (0 UNAVAILABLE, 1 BUSY, 2 AVAILABLE, 3 ENROUTE, 4 ON_SCENE) in 10-codes.
DEFAULT_STATUS_MAP: dict[str, FieldText] = {"0": "10-7", "1": "10-6", "2": "10-8", "3": "10-76", "4": "10-97"}
LOGIN, STATUS, LOGOUT = "EVENT_UNIT_LOGIN", "EVENT_UNIT_STATUS", "EVENT_UNIT_LOGOUT"
CACHE_TTL_SECONDS = 7 * 24 * 3600


def _default_value_maps() -> dict[UnitField, dict[str, FieldText]]:
    return {"status": dict(DEFAULT_STATUS_MAP)}


class SonoranOptions(FieldRules):
    """`value_maps.status` is the status table (merged over the default one); a number not in it is
    refused with a 422 unless `unmapped` says otherwise."""

    value_maps: dict[UnitField, dict[str, FieldText]] = Field(default_factory=lambda: _default_value_maps())
    unmapped: Literal["keep", "omit", "error"] = "error"
    logout_status: FieldText = "10-7"

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
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int | str) or str(item).strip() == "":
            raise InvalidPayloadError(f"{where}: expected a unit identId (a number), got {item!r}")
        idents.append(str(item).strip())
    return idents


class SonoranAdapter:
    def __init__(self, options: SonoranOptions) -> None:
        self.options = options

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidPayloadError("type: missing, expected a Sonoran push event type")
        if kind not in (LOGIN, STATUS, LOGOUT):
            logger.info("sonoran event ignored", extra={"event_type": kind[:64]})
            return []
        if "data" not in payload:
            raise InvalidPayloadError("data: missing")
        state = context.require_state("sonoran")
        handler = {LOGIN: self._login, STATUS: self._status, LOGOUT: self._logout}[kind]
        changes: list[UnitChange] = []
        for index, item in enumerate(_items(payload["data"])):
            if not isinstance(item, dict):
                raise InvalidPayloadError(f"data[{index}]: expected an object")
            changes.extend(handler(item, f"data[{index}]", state, context))
        return changes

    def _login(
        self, item: dict[str, Any], where: str, state: SourceStateStore, context: AdapterContext
    ) -> list[UnitChange]:
        unit = item.get("unit")
        if not isinstance(unit, dict) or not isinstance(unit.get("data"), dict):
            raise InvalidPayloadError(f"{where}.unit.data: missing, expected the logged-in unit")
        data = unit["data"]
        picked: dict[PickKey, Any] = {
            "id": data.get("unitNum"),
            "officer_name": data.get("name"),
            "department": data.get("department"),
            "rank": data.get("rank"),
            "status": unit.get("status"),
        }
        change = self.options.unit(picked, context.received_at, f"{where}.unit.data")
        ident = unit.get("id")
        if ident is not None:
            key = ident_key(_idents(ident, f"{where}.unit.id")[0])
            state.put(cache_key(context.source), key, {"id": change.id}, CACHE_TTL_SECONDS)
        return [change]

    def _status(
        self, item: dict[str, Any], where: str, state: SourceStateStore, context: AdapterContext
    ) -> list[UnitChange]:
        if "status" not in item:
            raise InvalidPayloadError(f"{where}.status: missing")
        status = as_text(item.get("status"), f"{where}.status")
        changes = []
        for ident in _idents(item.get("identIds", item.get("identId")), f"{where}.identIds"):
            unit = self._remembered(state, context, ident)
            if unit is not None:
                picked: dict[PickKey, Any] = {"id": unit["id"], "status": status}
                changes.append(self.options.unit(picked, context.received_at, where))
        return changes

    def _logout(
        self, item: dict[str, Any], where: str, state: SourceStateStore, context: AdapterContext
    ) -> list[UnitChange]:
        changes = []
        for ident in _idents(item.get("identId", item.get("identIds")), f"{where}.identId"):
            unit = self._remembered(state, context, ident)
            if unit is not None:
                state.delete(cache_key(context.source), ident_key(ident))
                fields: dict[UnitField, str | None] = {"status": self.options.logout_status}
                changes.append(UnitChange(id=unit["id"], at=context.received_at, fields=fields))
        return changes

    def _remembered(
        self, state: SourceStateStore, context: AdapterContext, ident: str
    ) -> dict[str, Any] | None:
        unit = state.get(cache_key(context.source), ident_key(ident))
        if not isinstance(unit, dict) or not isinstance(unit.get("id"), str):
            # The unit logged in before the relay knew it: nothing names it, so nothing can change.
            logger.warning("sonoran identId unknown, event skipped", extra={"ident": ident})
            return None
        return unit


KIND = AdapterKind(options_model=SonoranOptions, build=SonoranAdapter, needs_state=True)
