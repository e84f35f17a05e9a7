"""What the ingress does with one request, free of Lambda and HTTP details.

verify the signature on the raw body -> parse -> adapter -> queue messages -> enqueue (all or 503).
Every step raises a typed `RelayError`; `relay.http` turns those into answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from relay.config import RelayConfig, SourceConfig
from relay.errors import (
    InvalidPayloadError,
    PayloadTooLargeError,
    UnknownSourceError,
    UnsupportedMediaTypeError,
)
from relay.models import QueueMessage
from relay.queue import split_messages
from relay.secrets import SecretsSource
from relay.signatures import SignedRequest, verify_signature
from relay.sources import Adapter, AdapterContext, AdapterKind, build_adapter

MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class InboundRequest:
    source: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    received_at: datetime
    token: str | None = None


@dataclass(frozen=True)
class Accepted:
    source: str
    webhook_id: str | None
    changes: int
    messages: int


class Publisher(Protocol):
    def send(self, messages: list[QueueMessage]) -> int: ...


@dataclass
class IngressDeps:
    config: RelayConfig
    secrets: SecretsSource
    publisher: Publisher
    # Passed to adapters as AdapterContext.lookups (e.g. relay.kvstore.state_lookups for source state).
    lookups: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    _adapters: dict[str, tuple[Adapter, AdapterKind]] = field(default_factory=dict)

    def adapter(self, name: str, source: SourceConfig) -> tuple[Adapter, AdapterKind]:
        if name not in self._adapters:
            self._adapters[name] = build_adapter(name, source)
        return self._adapters[name]


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion to exhaust), stopping past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return level
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidPayloadError("body: empty, expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayloadError(f"body: not UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayloadError(
            f"body: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidPayloadError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(payload, dict):
        raise InvalidPayloadError(f"body: expected a JSON object, got {type(payload).__name__}")
    if _depth(payload, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidPayloadError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return payload


def accept_webhook(request: InboundRequest, deps: IngressDeps) -> Accepted:
    source = deps.config.sources.get(request.source)
    if source is None:
        raise UnknownSourceError(f"Unknown source {request.source!r}")
    if len(request.body) > deps.config.ingress.max_body_bytes:
        raise PayloadTooLargeError(f"Body larger than {deps.config.ingress.max_body_bytes} bytes")
    adapter, kind = deps.adapter(request.source, source)
    if media_type(request.headers) not in kind.content_types:
        raise UnsupportedMediaTypeError(f"Content-Type must be one of: {', '.join(kind.content_types)}")

    signed = SignedRequest(request.body, request.headers, request.received_at, request.token)
    verified = verify_signature(source.signature, signed, deps.secrets.get(source.signature.secret))

    payload = parse_json_object(request.body)
    context = AdapterContext(
        source=request.source, received_at=request.received_at, headers=request.headers, lookups=deps.lookups
    )
    changes = adapter.normalise(payload, context)
    if not changes:
        return Accepted(request.source, verified.delivery_id, 0, 0)

    message = QueueMessage(
        source=request.source,
        mdt_id=source.mdt_id,
        guild_id=source.guild_id,
        actor=source.actor,
        webhook_id=verified.delivery_id,
        received_at=request.received_at,
        changes=changes,
    )
    messages = split_messages(message)
    deps.publisher.send(messages)
    return Accepted(request.source, verified.delivery_id, len(changes), len(messages))
