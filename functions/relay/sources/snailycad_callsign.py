"""A SnailyCAD unit's callsign as SnailyCAD itself shows it, from the unit record its webhooks post.

A port of SnailyCAD/snaily-cadv4's own rules, quirks included, so the MDT names a unit exactly as the
CAD does:

- `packages/utils/src/callsign.ts` `generateCallsign`: the template is the unit's user-defined
  callsign, else its department's custom template (a combined unit: its own paired-unit template),
  else the CAD's; a combined unit with a user-defined callsign is that, verbatim.
- `packages/utils/src/utils/replace-template-variables.ts`: the template is split on `{` and `}`, and
  for each variable in turn only the FIRST piece equal to its name is replaced, by the value's text, or
  removed when the value is empty (null, "", 0); an unknown `{name}` stays as its bare name.
- `apps/client/src/hooks/useGenerateCallsign.ts`: an officer on an active division callsign is shown
  with that callsign pair and that division first; a combined unit (`officers` / `deputies`) is shown
  with the paired-unit template (`officer-column.tsx`).

The templates are CAD settings, not in the webhook body: the caller passes them (SnailyCAD's defaults
are `{department}{callsign1} - {callsign2}{division}` and `1A-{callsign1}`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

CALLSIGN_TEMPLATE = "{department}{callsign1} - {callsign2}{division}"
PAIRED_UNIT_TEMPLATE = "1A-{callsign1}"


class CallsignValueError(ValueError):
    """A value the callsign is made of is not text or a number (`key` names it)."""

    def __init__(self, key: str, value: Any) -> None:
        super().__init__(f"{key}: expected text or a number, got {type(value).__name__}")
        self.key, self.value = key, value


def is_combined(unit: Mapping[str, Any]) -> bool:
    return "citizenId" not in unit or "officers" in unit or "deputies" in unit


def _js_text(key: str, value: Any) -> str | None:
    """The value as JavaScript's `value.toString()` prints it, or None for what JavaScript finds falsy."""
    if value is None or value is False or value == "" or value == 0:
        return None
    if value is True:
        return "true"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    raise CallsignValueError(key, value)


def replace_template_variables(template: str, replacers: Mapping[str, Any]) -> str:
    pieces: list[str | None] = list(re.split(r"[{}]", template))
    for name, value in replacers.items():
        if name in pieces:
            pieces[pieces.index(name)] = _js_text(name, value)
    return "".join(piece for piece in pieces if piece is not None)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def generate_callsign(unit: Mapping[str, Any], template: str | None) -> str:
    """`generateCallsign(unit, template)`: "" when there is no template at all."""
    combined = is_combined(unit)
    department = _object(unit.get("department"))
    user_defined = unit.get("userDefinedCallsign")
    if combined and user_defined:
        return str(_js_text("userDefinedCallsign", user_defined))
    own_template = unit.get("pairedUnitTemplate") if combined else department.get("customTemplate")
    chosen = user_defined or own_template or template
    if not chosen:
        return ""
    if not isinstance(chosen, str):
        raise CallsignValueError("userDefinedCallsign" if user_defined else "template", chosen)
    divisions = unit["divisions"] if "divisions" in unit else unit.get("division")
    division = _object(divisions[0] if isinstance(divisions, list) and divisions else divisions)
    replacers = {
        "department": department.get("callsign"),
        "callsign": unit.get("callsign"),
        "callsign1": unit.get("callsign"),
        "callsign2": unit.get("callsign2"),
        "division": division.get("callsign"),
        "incremental": unit.get("incremental"),
    }
    return replace_template_variables(chosen, replacers)


def snailycad_callsign(
    unit: Mapping[str, Any],
    template: str | None = CALLSIGN_TEMPLATE,
    paired_template: str | None = PAIRED_UNIT_TEMPLATE,
) -> str:
    """The callsign SnailyCAD's dispatch screens show for `unit` (`useGenerateCallsign`)."""
    if is_combined(unit):
        return generate_callsign(unit, paired_template)
    active = unit.get("activeDivisionCallsign")
    divisions = unit.get("divisions")
    if isinstance(active, Mapping) and isinstance(divisions, list):
        wanted = active.get("divisionId")
        index = next(
            (n for n, d in enumerate(divisions) if isinstance(d, Mapping) and d.get("id") == wanted), None
        )
        if index is not None and isinstance(divisions[0], Mapping):
            reordered = list(divisions)
            reordered[0], reordered[index] = divisions[index], divisions[0]
            with_active = {
                **unit,
                "divisions": reordered,
                "callsign": active.get("callsign"),
                "callsign2": active.get("callsign2"),
            }
            return generate_callsign(with_active, template)
    return generate_callsign(unit, template)
