"""The `mapping` adapter: JMESPath expressions, written in relay.toml, turn any JSON body into units.

    [sources.myform.options]
    units = "embeds"                       # the list of units (an object counts as one); default: the body
    filter = "fields[?name=='Callsign']"   # items for which this is falsy are skipped
    at = "timestamp"                       # event time: ISO 8601 text or epoch seconds/milliseconds
    fields = { id = "...", status = "..." }  # one expression per unit field; `id` is required
    constants = { department = "Patrol" }  # set on every unit, whatever the body says
    defaults = { status = "10-7" }         # used when a field's expression gives null
    value_maps = { status = { "2" = "10-8", "0" = "10-7" } }  # the sender's words -> the MDT's
    unmapped = "keep"                      # a value missing from its map: keep | omit | error

The same body may also be calls and panics (`[sources.X.options.calls]`, `[sources.X.options.panics]`:
relay.sources.emergency_rules); a source may map only those, without `fields`.

Expressions are compiled when relay.toml is loaded, so a typo is a ConfigError naming the key.
Besides JMESPath's own functions there are `upper`, `lower`, `trim`, `plain` (trim and drop
Markdown emphasis), `before_last(text, sep)`, `after_last(text, sep)` and
`snailycad_callsign(unit, template, paired_template)` (the callsign SnailyCAD shows for a unit record).

The same rules (relay.sources.fields.FieldRules) finish the units of the presets written in Python,
and several presets are nothing but a mapping with defaults (`mapping_preset`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import jmespath
import jmespath.exceptions
import jmespath.functions
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext, AdapterKind, SenderFacts, Signal
from relay.sources.emergency_rules import CallRules, PanicRules, map_calls, map_panics, truthy
from relay.sources.fields import FieldRules, PickKey, parse_event_time
from relay.sources.snailycad_callsign import CallsignValueError, snailycad_callsign

MARKDOWN_EMPHASIS = re.compile(r"[*_~`|]+")


class RelayFunctions(jmespath.functions.Functions):
    """Text helpers the mapping language adds to JMESPath. Each passes null through, so a missing
    value stays missing instead of failing the whole request."""

    @jmespath.functions.signature({"types": ["string", "null"]})
    def _func_upper(self, text: str | None) -> str | None:
        return None if text is None else text.upper()

    @jmespath.functions.signature({"types": ["string", "null"]})
    def _func_lower(self, text: str | None) -> str | None:
        return None if text is None else text.lower()

    @jmespath.functions.signature({"types": ["string", "null"]})
    def _func_trim(self, text: str | None) -> str | None:
        return None if text is None else text.strip()

    @jmespath.functions.signature({"types": ["string", "null"]})
    def _func_plain(self, text: str | None) -> str | None:
        return None if text is None else MARKDOWN_EMPHASIS.sub("", text).strip()

    @jmespath.functions.signature({"types": ["string", "null"]}, {"types": ["string"]})
    def _func_before_last(self, text: str | None, separator: str) -> str | None:
        if text is None:
            return None
        return text.rpartition(separator)[0] if separator in text else text

    @jmespath.functions.signature({"types": ["string", "null"]}, {"types": ["string"]})
    def _func_after_last(self, text: str | None, separator: str) -> str | None:
        return None if text is None else text.rpartition(separator)[2]

    @jmespath.functions.signature(
        {"types": ["object", "null"]}, {"types": ["string", "null"]}, {"types": ["string", "null"]}
    )
    def _func_snailycad_callsign(
        self, unit: dict[str, Any] | None, template: str | None, paired_template: str | None
    ) -> str | None:
        if unit is None:
            return None
        try:
            callsign = snailycad_callsign(unit, template, paired_template)
        except CallsignValueError as exc:
            raise jmespath.exceptions.JMESPathTypeError(
                "snailycad_callsign", exc.value, type(exc.value).__name__, [f"text or a number ({exc.key})"]
            ) from None
        return callsign or None  # no template: no callsign, not an empty id


FUNCTIONS = RelayFunctions()
SEARCH_OPTIONS = jmespath.Options(custom_functions=FUNCTIONS)


def _function_names(node: Mapping[str, Any]) -> Iterator[str]:
    if node.get("type") == "function_expression":
        yield str(node.get("value"))
    for child in node.get("children", []):
        if isinstance(child, Mapping):
            yield from _function_names(child)


@functools.lru_cache(maxsize=512)
def compile_expression(expression: str) -> Any:
    """A compiled JMESPath expression, or ValueError saying what is wrong with it."""
    try:
        parsed = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        message = str(exc).splitlines()[0]
        raise ValueError(f"invalid JMESPath {expression!r}: {message}") from None
    unknown = sorted(set(_function_names(parsed.parsed)) - set(FUNCTIONS.FUNCTION_TABLE))
    if unknown:
        raise ValueError(f"invalid JMESPath {expression!r}: unknown function {', '.join(unknown)}()")
    return parsed


def _check_expression(expression: str) -> str:
    if expression.strip():
        compile_expression(expression)
    return expression


Expression = Annotated[str, AfterValidator(_check_expression)]


def search(expression: str, data: Any, where: str) -> Any:
    try:
        return compile_expression(expression).search(data, options=SEARCH_OPTIONS)
    except jmespath.exceptions.JMESPathError as exc:
        message = str(exc).splitlines()[0]
        raise InvalidPayloadError(f"{where}: expression {expression!r} failed: {message}") from None


class MappingOptions(FieldRules):
    units: Expression = "@"
    filter: Expression | None = None
    at: Expression | None = None
    calls: CallRules | None = None
    panics: PanicRules | None = None
    fields: dict[PickKey, Expression] | None = Field(default=None, validate_default=True)

    @field_validator("calls", "panics")
    @classmethod
    def _expressions_compile(cls, rules: CallRules | PanicRules | None) -> CallRules | PanicRules | None:
        for expression in rules.expressions() if rules is not None else ():
            compile_expression(expression)
        return rules

    @field_validator("fields")
    @classmethod
    def _id_is_mapped(
        cls, fields: dict[PickKey, str] | None, info: ValidationInfo
    ) -> dict[PickKey, str] | None:
        if fields is None:
            if info.data.get("calls") is None and info.data.get("panics") is None:
                raise ValueError(
                    "nothing to map: give `fields` (with an `id`) for units, or `calls`, or `panics`"
                )
            return None
        if not fields.get("id", "").strip():
            raise ValueError("an expression for the unit id (`id`) is required")
        return fields


class MappingAdapter:
    def __init__(self, options: MappingOptions) -> None:
        self.options = options
        self.fields = {key: expr for key, expr in (options.fields or {}).items() if expr.strip()}

    def items(self, payload: Any) -> list[Any]:
        found = search(self.options.units, payload, "units")
        if found is None:
            raise InvalidPayloadError(f"body: `units` expression {self.options.units!r} found nothing")
        if isinstance(found, dict):
            return [found]
        if not isinstance(found, list):
            raise InvalidPayloadError(
                f"body: `units` expression {self.options.units!r} gave {type(found).__name__}, "
                "expected an object or a list"
            )
        return found

    def normalise(self, payload: Any, context: AdapterContext) -> list[Signal]:
        """The body's panics, calls and units, each as its rules say."""
        options = self.options
        signals: list[Signal] = []
        if options.panics is not None:
            signals += map_panics(options.panics, search, payload, context.received_at)
        if options.calls is not None:
            signals += map_calls(options.calls, search, payload, context.received_at)
        if options.fields is not None:
            signals += self.units_of(payload, context)
        return signals

    def units_of(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        items = self.items(payload)
        options = self.options
        changes: list[UnitChange] = []
        for index, item in enumerate(items):
            where = f"units[{index}]"
            if options.filter and not truthy(search(options.filter, item, f"{where} filter")):
                continue
            if len(changes) == options.max_units:
                raise InvalidPayloadError(f"units: at most {options.max_units} units per request")
            picked = {key: search(expr, item, f"{where}.{key}") for key, expr in self.fields.items()}
            at = context.received_at
            if options.at:
                at = parse_event_time(search(options.at, item, f"{where}.at"), f"{where}.at") or at
            changes.append(options.unit(picked, at, where))
        return changes


def merged_defaults(defaults: Mapping[str, Any], data: Any) -> Any:
    """Options over a preset's defaults: tables merge key by key, everything else replaces."""
    if not isinstance(data, Mapping):
        return data
    merged = dict(defaults)
    for key, value in data.items():
        base = merged.get(key)
        merged[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
    return merged


def mapping_preset(
    defaults: Mapping[str, Any], sender: SenderFacts, content_types: tuple[str, ...] = ("application/json",)
) -> AdapterKind:
    """An adapter kind that is a mapping with these defaults; relay.toml options override them."""

    class PresetOptions(MappingOptions):
        @model_validator(mode="before")
        @classmethod
        def _with_defaults(cls, data: Any) -> Any:
            return merged_defaults(defaults, data)

    return AdapterKind(
        options_model=PresetOptions, build=MappingAdapter, content_types=content_types, sender=sender
    )


def build(options: MappingOptions) -> MappingAdapter:
    return MappingAdapter(options)


KIND = AdapterKind(
    options_model=MappingOptions,
    build=build,
    sender=SenderFacts(
        docs="docs/sources/mapping.md",
        samples=("mapping_board.json",),
        example_source="board",
        emergency_samples=(("mapping_dispatch_bot.json", "dispatch-bot"),),
    ),
)
