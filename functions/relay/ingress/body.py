"""The body's JSON checks, before any adapter sees it: UTF-8, JSON, an object, nesting and lone
surrogates; and the delivery id a source may keep in its body."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import jmespath
import jmespath.exceptions

from relay.config.schema import SourceConfig
from relay.errors import InvalidPayloadError
from relay.models import encodable

MAX_JSON_DEPTH = 32
MAX_DELIVERY_ID = 1024


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()


KeyPath = tuple["KeyPath", str | int] | None  # a linked list of keys, leaf last: O(1) to extend per node


def _render(path: KeyPath) -> str:
    keys: list[str | int] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return "body" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in reversed(keys))


def _structure_problem(value: Any, limit: int) -> str | None:
    """Why parsed JSON is unusable (too deep, or a lone surrogate from a `\\ud800` escape), or None.

    Iterative, so no nesting can exhaust the stack. A lone surrogate cannot be encoded as UTF-8, so it
    would fail later, in a model or on the queue; it is refused here, with its place.
    """
    stack: list[tuple[Any, int, KeyPath]] = [(value, 1, None)]
    while stack:
        node, level, path = stack.pop()
        if level > limit:
            return f"body: JSON nested deeper than {limit} levels"
        if isinstance(node, dict):
            for key, child in node.items():
                if not encodable(key):
                    return f"{_render(path)}: a key holds an unpaired surrogate escape"
                stack.append((child, level + 1, (path, key)))
        elif isinstance(node, list):
            stack.extend((child, level + 1, (path, i)) for i, child in enumerate(node))
        elif isinstance(node, str) and not encodable(node):
            return f"{_render(path)}: string holds an unpaired surrogate escape"
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidPayloadError("body: empty, expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayloadError(f"body: not UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidPayloadError(
            f"body: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidPayloadError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        # NaN/Infinity, or an integer longer than Python's conversion limit (4300 digits).
        raise InvalidPayloadError(f"body: not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise InvalidPayloadError(f"body: expected a JSON object, got {type(payload).__name__}")
    if _may_be_unusable(text):
        problem = _structure_problem(payload, MAX_JSON_DEPTH)
        if problem:
            raise InvalidPayloadError(problem)
    return payload


def _may_be_unusable(text: str) -> bool:
    """Whether the walk below is needed: only JSON escapes make surrogates (the text was valid UTF-8),
    and nesting deeper than the limit needs more brackets than the limit. Counting is C-fast."""
    brackets = text.count("{") + text.count("[")
    return brackets > MAX_JSON_DEPTH or "\\ud" in text or "\\uD" in text


@functools.lru_cache(maxsize=64)
def _compiled(path: str) -> Any:
    return jmespath.compile(path)


def body_delivery_id(source: SourceConfig, payload: dict[str, Any]) -> str | None:
    """The delivery id at `delivery_id_path` in the body: a non-empty string or an integer, else None."""
    if not source.delivery_id_path:
        return None
    try:
        value = _compiled(source.delivery_id_path).search(payload)
    except jmespath.exceptions.JMESPathError:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= MAX_DELIVERY_ID else None
