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

`raw_webhook` says which webhook the source's URL is set for; each is its own source (SnailyCAD posts
no type: only the URL tells them apart):
- `UNIT_STATUS`: the unit changes above. A 911 call posted there is recognised by its shape and
  acknowledged (give CALL_911 its own source).
- `CALL_911` (sent only when a call is created: `calls-911-controller.ts`, `create911Call`): a call,
  keyed by the call's `id`, with its caller (`name`), `description`, `location` and `postal`, its type
  and priority, its situation code, its assigned units' callsigns (the same callsign rules), closed
  when `ended`. Defaults under `[sources.X.options.calls]` (relay.sources.emergency_rules).
- `PANIC_BUTTON` (`send-panic-button-webhook.ts`, only when panic turns ON): a panic of the unit the
  record is, keyed by its `updatedAt`. The record is the unit BEFORE the panic when a status change
  pressed it (a UNIT_STATUS with the panic status follows, to that source) and AFTER it when the panic
  button did (`status.shouldDo` is PANIC_BUTTON; no UNIT_STATUS follows): that one's status is also
  written as the unit's status. Defaults under `[sources.X.options.panics]`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from relay.observability import logger
from relay.sources import AdapterContext, AdapterKind, SenderFacts, Signal
from relay.sources.emergency_rules import map_calls, map_panics
from relay.sources.labelled import jmespath_literal
from relay.sources.mapping import MappingAdapter, MappingOptions, merged_defaults, search
from relay.sources.snailycad_callsign import CALLSIGN_TEMPLATE, PAIRED_UNIT_TEMPLATE

RawWebhook = Literal["UNIT_STATUS", "PANIC_BUTTON", "CALL_911"]
# What `relay sign` sends to a source set for another raw webhook than UNIT_STATUS.
RAW_WEBHOOK_SAMPLES = {"CALL_911": "snailycad_call_911.json", "PANIC_BUTTON": "snailycad_panic_button.json"}
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


def callsign_expression(template: str, paired_template: str, unit: str = "@") -> str:
    return f"snailycad_callsign({unit}, {jmespath_literal(template)}, {jmespath_literal(paired_template)})"


def call_defaults(template: str, paired: str) -> dict[str, Any]:
    """A CALL_911 record as a call (`Call911` with `callInclude`)."""
    return {
        "key": "id",
        "at": "updatedAt",
        "created_by": "name",
        "closed": "ended",
        "fields": {
            "description": "description",
            "location": "join(', postal ', [location, postal][?@])",
            "call_type": "type.value.value",
            "priority": "type.priority && to_string(type.priority)",
            "classification": "situationCode.value.value",
            "units_assigned": f"assignedUnits[?unit].{callsign_expression(template, paired, 'unit')}",
        },
    }


def panic_defaults(template: str, paired: str) -> dict[str, Any]:
    """A PANIC_BUTTON record (a unit) as its panic."""
    return {"unit": callsign_expression(template, paired), "key": "updatedAt"}


def _over(defaults: dict[str, Any], given: Any) -> Any:
    """Options over a preset's rules, key by key, and its `fields` table key by key too."""
    if not isinstance(given, dict):
        return defaults if given is None else given
    fields = given.get("fields")
    merged = {**defaults, **given}
    if isinstance(fields, dict):
        merged["fields"] = {**defaults.get("fields", {}), **fields}
    return merged


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
            webhook = data.get("raw_webhook", "UNIT_STATUS")
            if webhook == "CALL_911":
                data = {**data, "calls": _over(call_defaults(template, paired), data.get("calls"))}
            elif webhook == "PANIC_BUTTON":
                data = {**data, "panics": _over(panic_defaults(template, paired), data.get("panics"))}
        return merged_defaults(defaults, data)


def looks_like_a_call(payload: Any) -> bool:
    """A SnailyCAD 911 call record (`Call911`: a case number and assigned units, no callsign)."""
    return isinstance(payload, dict) and "caseNumber" in payload and "callsign" not in payload


class SnailyCadAdapter:
    def __init__(self, options: SnailyCadOptions) -> None:
        self.options = options
        self.raw_webhook = options.raw_webhook
        self.mapping = MappingAdapter(options)

    def normalise(self, payload: Any, context: AdapterContext) -> list[Signal]:
        if self.raw_webhook == "CALL_911":
            if isinstance(payload, dict) and "callsign" in payload and "caseNumber" not in payload:
                logger.warning(
                    "snailycad unit record at a CALL_911 source acknowledged, not acted on "
                    "(UNIT_STATUS and PANIC_BUTTON need sources of their own)"
                )
                return []
            assert self.options.calls is not None  # the preset's defaults
            return list(map_calls(self.options.calls, search, payload, context.received_at))
        if self.raw_webhook == "PANIC_BUTTON":
            assert self.options.panics is not None
            signals: list[Signal] = list(
                map_panics(self.options.panics, search, payload, context.received_at)
            )
            if panic_button_pressed(payload):
                # The panic button's own record: no UNIT_STATUS follows it, so its status is written here.
                signals += self.mapping.units_of(payload, context)
            return signals
        if looks_like_a_call(payload):
            logger.warning(
                "snailycad 911 call at a UNIT_STATUS source acknowledged, not acted on "
                "(give CALL_911 its own source with raw_webhook = 'CALL_911')"
            )
            return []
        return list(self.mapping.units_of(payload, context))


def panic_button_pressed(payload: Any) -> bool:
    """The record is the unit after the panic button set its panic status (not before a status change)."""
    status = payload.get("status") if isinstance(payload, dict) else None
    return isinstance(status, dict) and status.get("shouldDo") == "PANIC_BUTTON"


KIND = AdapterKind(
    options_model=SnailyCadOptions,
    build=SnailyCadAdapter,
    sender=SenderFacts(
        docs="docs/sources/snailycad.md",
        samples=("snailycad_unit_status.json",),
        emergency_samples=(
            ("snailycad_call_911.json", "snailycad-911"),
            ("snailycad_panic_button.json", "snailycad-panic"),
        ),
        sample_for=lambda options: RAW_WEBHOOK_SAMPLES.get(str(options.get("raw_webhook"))),
        example_source="snailycad",
        profile_rank=3,
        reports_state=True,
        signature={"scheme": "url-token"},
    ),
)
