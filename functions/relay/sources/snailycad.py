"""The `snailycad` preset: SnailyCAD's raw webhooks (unsigned: use a `url-token`).

SnailyCAD posts the record itself, with no type and no envelope, one URL per webhook type
(SnailyCAD/snaily-cadv4 `apps/api/src/lib/discord/webhooks.ts`, `sendRawWebhook`). For `UNIT_STATUS`
that is the updated unit with the relations `apps/api/src/utils/leo/includes.ts` names (an officer,
an EMS/FD deputy, or a combined unit with its `officers` / `deputies`), so the preset is a mapping:

- `id`: the callsign as SnailyCAD shows it (relay.sources.snailycad_callsign), from the CAD's
  `callsign_template` and `paired_unit_template` settings, which the body does not carry;
- `officer_name` / `officer_badge`: the officer's, or a combined unit's officers' joined;
- `department`, `rank`, `status`: their values' text; an off-duty unit has no status (`10-7`);
- `at`: `updatedAt` (SnailyCAD dropped `lastStatusChangeTimestamp` in 2023).

Every path is a default an operator may override under `[sources.X.options.fields]`.

`raw_webhook` says which webhook the source's URL is set for. `PANIC_BUTTON` posts a unit record too
(the same shape as `UNIT_STATUS`: only the URL tells them apart) and `CALL_911` a call record; the relay
does not act on either yet, so both are acknowledged with no unit change. A call posted to a
`UNIT_STATUS` source is recognised by its shape and acknowledged the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from relay.models import UnitChange
from relay.observability import logger
from relay.sources import AdapterContext, AdapterKind, SenderFacts
from relay.sources.labelled import jmespath_literal
from relay.sources.mapping import MappingAdapter, MappingOptions, merged_defaults
from relay.sources.snailycad_callsign import CALLSIGN_TEMPLATE, PAIRED_UNIT_TEMPLATE

RawWebhook = Literal["UNIT_STATUS", "PANIC_BUTTON", "CALL_911"]
# A combined unit's members: an officer's fields, joined.
MEMBERS = "(officers || deputies || `[]`)"
DEFAULTS: dict[str, Any] = {
    "units": "@",
    "at": "updatedAt",
    "fields": {
        "officer_name": (
            "citizen && join(' ', [citizen.name, citizen.surname][?@]) || "
            f"join(', ', {MEMBERS}[?citizen].join(' ', [citizen.name, citizen.surname][?@])) || `null`"
        ),
        "officer_badge": (
            "badgeNumberString || badgeNumber || "
            f"join(', ', {MEMBERS}[?badgeNumberString || badgeNumber]"
            ".to_string(badgeNumberString || badgeNumber)) || `null`"
        ),
        "department": f"department.value.value || {MEMBERS}[0].department.value.value",
        "rank": "rank.value",
        "status": "status.value.value",
    },
    "defaults": {"status": "10-7"},
}


def callsign_expression(template: str, paired_template: str) -> str:
    return f"snailycad_callsign(@, {jmespath_literal(template)}, {jmespath_literal(paired_template)})"


class SnailyCadOptions(MappingOptions):
    """The mapping's options over the preset's defaults, and SnailyCAD's own settings the body lacks."""

    # SnailyCAD: Admin -> CAD settings -> Misc -> "Callsign Template" / "Paired Unit Template".
    callsign_template: str = Field(default=CALLSIGN_TEMPLATE, min_length=1)
    paired_unit_template: str = Field(default=PAIRED_UNIT_TEMPLATE, min_length=1)
    raw_webhook: RawWebhook = "UNIT_STATUS"

    @model_validator(mode="before")
    @classmethod
    def _with_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        template = data.get("callsign_template", CALLSIGN_TEMPLATE)
        paired = data.get("paired_unit_template", PAIRED_UNIT_TEMPLATE)
        defaults = dict(DEFAULTS)
        if isinstance(template, str) and isinstance(paired, str):
            defaults["fields"] = {"id": callsign_expression(template, paired), **DEFAULTS["fields"]}
        return merged_defaults(defaults, data)


def looks_like_a_call(payload: Any) -> bool:
    """A SnailyCAD 911 call record (`Call911`: a case number and assigned units, no callsign)."""
    return isinstance(payload, dict) and "caseNumber" in payload and "callsign" not in payload


class SnailyCadAdapter:
    def __init__(self, options: SnailyCadOptions) -> None:
        self.raw_webhook = options.raw_webhook
        self.mapping = MappingAdapter(options)

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        if self.raw_webhook != "UNIT_STATUS":
            logger.info(
                "snailycad webhook acknowledged, not acted on yet", extra={"raw_webhook": self.raw_webhook}
            )
            return []
        if looks_like_a_call(payload):
            logger.warning(
                "snailycad 911 call at a UNIT_STATUS source acknowledged, not acted on "
                "(give CALL_911 its own source with raw_webhook = 'CALL_911')"
            )
            return []
        return self.mapping.normalise(payload, context)


KIND = AdapterKind(
    options_model=SnailyCadOptions,
    build=SnailyCadAdapter,
    sender=SenderFacts(
        docs="docs/sources/snailycad.md",
        samples=("snailycad_unit_status.json",),
        example_source="snailycad",
        profile_rank=3,
        reports_state=True,
        signature={"scheme": "url-token"},
    ),
)
