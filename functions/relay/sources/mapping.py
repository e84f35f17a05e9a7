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

Expressions are compiled when relay.toml is loaded, so a typo is a ConfigError naming the key.
Besides JMESPath's own functions there are `upper`, `lower`, `trim`, `plain` (trim and drop
Markdown emphasis), `before_last(text, sep)` and `after_last(text, sep)`.

The same rules (`FieldRules`) finish the units of the presets written in Python, and several presets
are nothing but a mapping with defaults (`mapping_preset`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import jmespath
import jmespath.exceptions
import jmespath.functions
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from relay.errors import InvalidPayloadError
from relay.models import UNIT_FIELDS, UnitChange, UnitField
from relay.sources import AdapterContext, AdapterKind

UnitKey = Literal["id", "officer_name", "officer_badge", "department", "rank", "status"]
UNIT_KEYS: tuple[UnitKey, ...] = get_args(UnitKey)

# Epoch numbers above this are milliseconds (1e11 seconds is the year 5138).
EPOCH_MILLIS_THRESHOLD = 1e11
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
FieldText = Annotated[str, Field(max_length=256)] | None


def search(expression: str, data: Any, where: str) -> Any:
    try:
        return compile_expression(expression).search(data, options=SEARCH_OPTIONS)
    except jmespath.exceptions.JMESPathError as exc:
        message = str(exc).splitlines()[0]
        raise InvalidPayloadError(f"{where}: expression {expression!r} failed: {message}") from None


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
    """ISO 8601 text, or epoch seconds / milliseconds (as a number or digits); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidPayloadError(f"{where}: expected a time, got {value}")
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        value = float(value)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > EPOCH_MILLIS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidPayloadError(f"{where}: {value} is not a valid epoch time") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidPayloadError(f"{where}: {value[:64]!r} is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InvalidPayloadError(f"{where}: expected a time, got {type(value).__name__}")


class FieldRules(BaseModel):
    """What happens to picked values before they become a unit change (shared by every preset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    constants: dict[UnitField, FieldText] = Field(default_factory=dict)
    defaults: dict[UnitField, FieldText] = Field(default_factory=dict)
    value_maps: dict[UnitField, dict[str, FieldText]] = Field(default_factory=dict)
    unmapped: Literal["keep", "omit", "error"] = "keep"
    uppercase_id: bool = False
    max_units: int = Field(default=500, ge=1, le=10_000)

    def unit(self, picked: Mapping[UnitKey, Any], at: datetime, where: str) -> UnitChange:
        """One unit change from picked raw values (keys from UNIT_KEYS; None or absent = not given)."""
        unit_id = as_text(picked.get("id"), f"{where}.id")
        if unit_id is None or not unit_id.strip():
            raise InvalidPayloadError(f"{where}.id: no unit id (the expression gave nothing)")
        unit_id = unit_id.strip().upper() if self.uppercase_id else unit_id.strip()
        fields: dict[UnitField, str | None] = {}
        for name in UNIT_FIELDS:
            text = as_text(picked.get(name), f"{where}.{name}")
            if text is None:
                if name in self.defaults:
                    fields[name] = self.defaults[name]
                continue
            mapped = self._mapped(name, text, where)
            if mapped is not _OMIT:
                fields[name] = mapped  # type: ignore[assignment]
        fields.update(self.constants)
        try:
            return UnitChange(id=unit_id, at=at, fields=fields)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            location = ".".join(str(p) for p in problem["loc"] if p != "fields")
            raise InvalidPayloadError(f"{where}.{location}: {problem['msg']}") from None

    def _mapped(self, name: UnitField, text: str, where: str) -> str | object | None:
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
            raise InvalidPayloadError(f"{where}.{name}: {key!r} is not in value_maps.{name} (known: {known})")
        return text


_OMIT = object()


class MappingOptions(FieldRules):
    units: Expression = "@"
    filter: Expression | None = None
    at: Expression | None = None
    fields: dict[UnitKey, Expression]

    @field_validator("fields")
    @classmethod
    def _id_is_mapped(cls, fields: dict[UnitKey, str]) -> dict[UnitKey, str]:
        if not fields.get("id", "").strip():
            raise ValueError("an expression for the unit id (`id`) is required")
        return fields


class MappingAdapter:
    def __init__(self, options: MappingOptions) -> None:
        self.options = options
        self.fields = {key: expr for key, expr in options.fields.items() if expr.strip()}

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

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        items = self.items(payload)
        options = self.options
        changes: list[UnitChange] = []
        for index, item in enumerate(items):
            where = f"units[{index}]"
            if options.filter and not _truthy(search(options.filter, item, f"{where} filter")):
                continue
            if len(changes) == options.max_units:
                raise InvalidPayloadError(f"units: at most {options.max_units} units per request")
            picked = {key: search(expr, item, f"{where}.{key}") for key, expr in self.fields.items()}
            at = context.received_at
            if options.at:
                at = parse_event_time(search(options.at, item, f"{where}.at"), f"{where}.at") or at
            changes.append(options.unit(picked, at, where))
        return changes


def _truthy(value: Any) -> bool:
    # JMESPath's truth: false, null, "", [] and {} are false; 0 is true.
    return not (value is None or value is False or value in ("", [], {}))


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
    defaults: Mapping[str, Any], content_types: tuple[str, ...] = ("application/json",)
) -> AdapterKind:
    """An adapter kind that is a mapping with these defaults; relay.toml options override them."""

    class PresetOptions(MappingOptions):
        @model_validator(mode="before")
        @classmethod
        def _with_defaults(cls, data: Any) -> Any:
            return merged_defaults(defaults, data)

    return AdapterKind(options_model=PresetOptions, build=MappingAdapter, content_types=content_types)


def build(options: MappingOptions) -> MappingAdapter:
    return MappingAdapter(options)


KIND = AdapterKind(options_model=MappingOptions, build=build)
