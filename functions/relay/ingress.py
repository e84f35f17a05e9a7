"""What the ingress does with one request, free of Lambda and HTTP details.

size cap -> content type -> signature on the raw bytes -> parse -> (body-key check) -> replay check
-> adapter -> queue messages -> enqueue (all or 503) -> remember the delivery.
Every refusal raises a typed `RelayError`; `relay.http` turns those into answers. Nothing a sender
can put in a request ends in anything else.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import jmespath
import jmespath.exceptions
from pydantic import ValidationError

from relay.config import RelayConfig, SourceConfig
from relay.errors import (
    InvalidPayloadError,
    PayloadTooLargeError,
    RelayError,
    UnknownSourceError,
    UnsupportedMediaTypeError,
)
from relay.models import QueueMessage, UnitChange
from relay.observability import logger
from relay.queue import split_messages
from relay.replay import InMemoryReplayGuard, ReplayGuard, ReplayStoreUnavailableError, replay_key
from relay.secrets import SecretsSource
from relay.signatures import SignedRequest, VerificationError, Verified, verify_signature
from relay.sources import Adapter, AdapterContext, AdapterKind, build_adapter, describe_validation_error

MAX_JSON_DEPTH = 32
MAX_DELIVERY_ID = 1024


class SecretsUnavailableError(RelayError):
    """A source's secret could not be read (Secrets Manager down or the secret missing): 503, retry."""

    status = 503
    public_message = "Source not available, retry later"


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
    # The delivery was queued before (within the replay window): answered 2xx, nothing queued again.
    replayed: bool = False
    # The replay store failed, so the delivery went through unchecked or unrecorded (fail open).
    replay_store_error: str | None = None


class Publisher(Protocol):
    def send(self, messages: list[QueueMessage]) -> int: ...


@dataclass
class IngressDeps:
    config: RelayConfig
    secrets: SecretsSource
    publisher: Publisher
    # Passed to adapters as AdapterContext.lookups (e.g. relay.kvstore.state_lookups for source state).
    lookups: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    # Remembers queued deliveries; the handler wires the DynamoDB table, tests an in-memory one.
    replay: ReplayGuard = field(default_factory=InMemoryReplayGuard)
    _adapters: dict[str, tuple[Adapter, AdapterKind]] = field(default_factory=dict)

    def adapter(self, name: str, source: SourceConfig) -> tuple[Adapter, AdapterKind]:
        if name not in self._adapters:
            self._adapters[name] = build_adapter(name, source)
        return self._adapters[name]


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
                if not _encodable(key):
                    return f"{_render(path)}: a key holds an unpaired surrogate escape"
                stack.append((child, level + 1, (path, key)))
        elif isinstance(node, list):
            stack.extend((child, level + 1, (path, i)) for i, child in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            return f"{_render(path)}: string holds an unpaired surrogate escape"
    return None


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def _authentic_payload(body: bytes, verified: Verified) -> dict[str, Any]:
    """The parsed body, through the scheme's payload check when the raw bytes did not settle it.

    A body-key request whose body cannot be read has not been authenticated, so it gets the same 401
    as any other unauthenticated request, not a 422 describing the body to a stranger.
    """
    try:
        payload = parse_json_object(body)
    except InvalidPayloadError as exc:
        if verified.complete:
            raise
        raise VerificationError("malformed", f"body unreadable, key not checked: {exc.message}") from None
    return verified.open_payload(payload)


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


def _secrets_for(name: str, deps: IngressDeps) -> list[str]:
    try:
        return deps.secrets.get(name)
    except Exception as exc:  # noqa: BLE001 - any failure to read the secret: the sender should retry
        raise SecretsUnavailableError(f"secret {name!r}: {type(exc).__name__}") from None


def _normalise(adapter: Adapter, payload: dict[str, Any], context: AdapterContext) -> list[UnitChange]:
    try:
        return adapter.normalise(payload, context)
    except ValidationError as exc:
        # A model built from the payload's values refused them: that is the payload's fault (422).
        raise InvalidPayloadError(describe_validation_error(exc)) from None


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
    verified = verify_signature(source.signature, signed, _secrets_for(source.signature.secret, deps))
    payload = _authentic_payload(request.body, verified)

    webhook_id = verified.delivery_id or body_delivery_id(source, payload)
    logger.append_keys(webhook_id=webhook_id)
    replay_id = webhook_id or verified.signed_digest
    key = replay_key(request.source, replay_id) if replay_id else None
    store_error: str | None = None
    if key:
        try:
            if deps.replay.seen(key, request.received_at):
                return Accepted(request.source, webhook_id, 0, 0, replayed=True)
        except ReplayStoreUnavailableError as exc:
            store_error = str(exc)  # fail open: see docs/security.md, "Replay window"

    context = AdapterContext(
        source=request.source, received_at=request.received_at, headers=request.headers, lookups=deps.lookups
    )
    changes = _normalise(adapter, payload, context)
    messages: list[QueueMessage] = []
    if changes:
        template = QueueMessage(
            source=request.source,
            mdt_id=source.mdt_id,
            guild_id=source.guild_id,
            actor=source.actor,
            webhook_id=webhook_id,
            received_at=request.received_at,
            changes=changes,
        )
        messages = split_messages(template)
        deps.publisher.send(messages)  # raises QueueUnavailableError (503) unless every message is queued

    if key:
        try:
            if not deps.replay.remember(key, request.received_at, deps.config.ingress.replay_ttl_seconds):
                logger.info("a concurrent copy of this delivery was also queued (the merge is idempotent)")
        except ReplayStoreUnavailableError as exc:
            store_error = store_error or str(exc)
    return Accepted(request.source, webhook_id, len(changes), len(messages), replay_store_error=store_error)
