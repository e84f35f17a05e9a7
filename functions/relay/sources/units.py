"""The `units` adapter: a body shaped like the partner's `{"units": [...]}`, optionally with event times.

Each unit may carry `at` (its event time); otherwise the receive time is used. A field present is set
(null clears it), a field absent is left as it is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.errors import InvalidPayloadError, describe_validation_error
from relay.models import UNIT_FIELDS, Instant, SenderFieldValue, SenderUnitId, UnitChange
from relay.sources import AdapterContext, AdapterKind, SenderFacts


class UnitsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_units: int = Field(default=500, ge=1, le=10_000)


class InboundUnit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: SenderUnitId
    at: Instant | None = None
    officer_name: SenderFieldValue = None
    officer_badge: SenderFieldValue = None
    department: SenderFieldValue = None
    rank: SenderFieldValue = None
    status: SenderFieldValue = None


class UnitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: list[InboundUnit] = Field(min_length=1)


class UnitsAdapter:
    def __init__(self, options: UnitsOptions) -> None:
        self.options = options

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        if not isinstance(payload, dict) or "units" not in payload:
            raise InvalidPayloadError("body: expected an object { units: [...] }")
        try:
            body = UnitsBody.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayloadError(describe_validation_error(exc)) from None
        if len(body.units) > self.options.max_units:
            raise InvalidPayloadError(f"units: at most {self.options.max_units} units per request")
        changes = []
        for unit in body.units:
            fields = {name: getattr(unit, name) for name in UNIT_FIELDS if name in unit.model_fields_set}
            changes.append(UnitChange(id=unit.id, at=unit.at or context.received_at, fields=fields))
        return changes


KIND = AdapterKind(
    options_model=UnitsOptions,
    build=UnitsAdapter,
    sender=SenderFacts(
        docs="docs/sources/README.md",
        samples=("units_body.json",),
        example_source="cad",
        profile_rank=3,
        reports_state=True,
    ),
)
