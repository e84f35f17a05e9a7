"""What the ingress does with one request, free of Lambda and HTTP details.

size cap -> content type -> signature on the raw bytes -> parse -> (body-key check) -> replay check
-> adapter (its state writes staged) -> queue messages -> enqueue (all or 503: calls and panics first,
on the emergency queue, then unit changes) -> commit the state writes -> remember the delivery.
Every refusal raises a typed `RelayError`; `relay.ingress.answers` turns those into answers. Nothing a
sender can put in a request ends in anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relay.config.loader import build_adapter, config_warnings
from relay.config.schema import RelayConfig, SourceConfig
from relay.errors import (
    InvalidPayloadError,
    PayloadTooLargeError,
    ReplayStoreUnavailableError,
    SecretsUnavailableError,
    UnknownSourceError,
    UnsupportedMediaTypeError,
    UnusableSecretError,
    VerificationError,
)
from relay.ingress import archive
from relay.ingress.body import body_delivery_id, media_type, parse_json_object
from relay.ingress.relayed import relayed_messages
from relay.ingress.replay import replay_id, replay_key
from relay.ingress.signatures import SignedRequest, Verified, verify_signature
from relay.ingress.staged import StagedSourceState
from relay.memory import InMemoryReplayGuard
from relay.messages import (
    Publisher,
    emergency_messages,
    queue_messages,
    send_undelivered,
    undelivered_letters,
)
from relay.observability import logger
from relay.ports.archive import ArchiveWriter
from relay.ports.erlc import RosterLookup
from relay.ports.queue import DeadLetterPort
from relay.ports.secrets import SecretsSource
from relay.ports.stores import ReplayGuard, SourceStateStore
from relay.sources import Adapter, AdapterContext, AdapterKind, partition
from relay.sources.registry import normalise
from relay.watch import note_heard


@dataclass(frozen=True)
class InboundRequest:
    source: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    received_at: datetime
    token: str | None = None
    # API Gateway's id of the request: the webhook id of a delivery whose sender gives none.
    request_id: str | None = None


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
    # The units the changes are about (the delivery trail in the logs names them).
    unit_ids: tuple[str, ...] = ()
    # The adapter's short label for the delivery (`main: Lindqvist_30 ;10-6 -> 1A-07`), if it gave one.
    label: str | None = None
    # The sender's calls its events are about, and the units it says panicked.
    call_keys: tuple[str, ...] = ()
    panic_units: tuple[str, ...] = ()

    @property
    def calls(self) -> int:
        return len(self.call_keys)

    @property
    def panics(self) -> int:
        return len(self.panic_units)

    # Why the archive did not keep the delivery (fail open: it was answered all the same).
    archive_error: str | None = None


@dataclass
class IngressDeps:
    config: RelayConfig
    secrets: SecretsSource
    publisher: Publisher
    # What stateful adapters (ER:LC rosters, Sonoran's identId cache) read and write; None = no table.
    source_state: SourceStateStore | None = None
    # Remembers queued deliveries; the handler wires the DynamoDB table, tests an in-memory one.
    replay: ReplayGuard = field(default_factory=InMemoryReplayGuard)
    # PRC asked at once for an ER:LC server's players (erlc-events sources); None = never.
    lookup: RosterLookup | None = None
    # The emergency queue (calls and panics, read with no batching window); None: the webhook queue.
    emergencies: Publisher | None = None
    # Emergencies acknowledged that no unit could be found for go here, with their reason.
    dead_letters: DeadLetterPort | None = None
    # Where accepted deliveries are kept for `relay inspect` and `relay replay`; None = nowhere.
    archive: ArchiveWriter | None = None
    # Whether an authentic delivery notes its source as heard (relay.watch); `relay replay` runs the
    # pipeline on deliveries of hours ago, which say nothing of whether the sender sends now.
    notes_heard: bool = True
    _adapters: dict[str, tuple[Adapter, AdapterKind]] = field(default_factory=dict)
    _warned: bool = False
    _refetched: dict[str, datetime] = field(default_factory=dict)
    _heard: dict[str, float] = field(default_factory=dict)  # relay.watch: when this container last noted

    def may_refetch(self, secret: str, now: datetime) -> bool:
        """Whether `secret` may be fetched again now (REFETCH_AFTER_MISMATCH_SECONDS since the last)."""
        last = self._refetched.get(secret)
        if last is not None and (now - last).total_seconds() < REFETCH_AFTER_MISMATCH_SECONDS:
            return False
        self._refetched[secret] = now
        return True

    def config_warnings(self) -> list[tuple[str, str]]:
        """relay.toml's warnings as (what, the warning), the first time they are asked for: once per
        cold start, where the composition root builds the dependencies once."""
        if self._warned:
            return []
        self._warned = True
        return config_warnings(self.config)

    def adapter(self, name: str, source: SourceConfig) -> tuple[Adapter, AdapterKind]:
        if name not in self._adapters:
            self._adapters[name] = build_adapter(name, source)
        return self._adapters[name]


def _authentic_payload(body: bytes, verified: Verified, kind: AdapterKind) -> dict[str, Any] | None:
    """The parsed body, through the scheme's payload check when the raw bytes did not settle it; None
    for an authentic body that holds no JSON object, when the adapter's kind acknowledges those.

    A body-key request whose body cannot be read has not been authenticated, so it gets the same 401
    as any other unauthenticated request, not a 422 describing the body to a stranger.
    """
    try:
        payload = parse_json_object(body)
    except InvalidPayloadError as exc:
        if not verified.complete:
            raise VerificationError("malformed", f"body unreadable, key not checked: {exc.message}") from None
        if kind.acknowledges_unreadable:
            logger.info("authentic body without an event acknowledged", extra={"problem": exc.message})
            return None
        raise
    return verified.open_payload(payload)


def _verify(
    source: SourceConfig, request: InboundRequest, deps: IngressDeps, *, fresh: bool = False
) -> Verified:
    signed = SignedRequest(request.body, request.headers, request.received_at, request.token)
    secret_name = source.signature.secret
    try:
        return verify_signature(source.signature, signed, _secrets_for(secret_name, deps, fresh=fresh))
    except UnusableSecretError as exc:
        # The log names the secret (never its value); the answer stays generic (answers.py).
        raise UnusableSecretError(f"secret {secret_name!r}: {exc.message}") from None


# A source's secret is fetched again when a signature does not match (it may have been rotated while the
# container's copy is cached for an hour), at most this often, so a flood of bad signatures costs nothing.
REFETCH_AFTER_MISMATCH_SECONDS = 60


def _authenticate(
    source: SourceConfig, request: InboundRequest, deps: IngressDeps, kind: AdapterKind
) -> tuple[Verified, dict[str, Any] | None]:
    """The verified request and its authentic payload. A mismatch against the cached secret is checked
    once more against a fresh copy (a rotated secret), at most once a minute per secret."""
    try:
        verified = _verify(source, request, deps)
        return verified, _authentic_payload(request.body, verified, kind)
    except VerificationError as exc:
        if exc.kind != "mismatch" or not deps.may_refetch(source.signature.secret, request.received_at):
            raise
    verified = _verify(source, request, deps, fresh=True)
    return verified, _authentic_payload(request.body, verified, kind)


def _secrets_for(name: str, deps: IngressDeps, *, fresh: bool = False) -> list[str]:
    try:
        return deps.secrets.get(name, force_fetch=fresh)
    except Exception as exc:  # noqa: BLE001 - any failure to read the secret: the sender should retry
        # For the log only (answers.py): the AWS error says missing, denied or down. No value is in it.
        detail = " ".join(str(exc).split())[:300]
        raise SecretsUnavailableError(f"secret {name!r}: {type(exc).__name__}: {detail}") from None


# The longest source name a log line or an answer repeats of a request's path (a configured name is
# shorter: relay.config.schema.SOURCE_NAME).
MAX_SHOWN_SOURCE = 64


def shown_source(name: str) -> str:
    """A source name from a request's path, as a log line or an answer may repeat it: at most
    MAX_SHOWN_SOURCE characters (a 60 KB name posted 4,000 times must not fill the logs), control
    characters written out."""
    short = name if len(name) <= MAX_SHOWN_SOURCE else f"{name[:MAX_SHOWN_SOURCE]}…({len(name)} characters)"
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in short)


def _route(request: InboundRequest, deps: IngressDeps) -> tuple[SourceConfig, Adapter, AdapterKind]:
    """The source, its adapter and kind, if the request's size and content type are ones it takes."""
    source = deps.config.sources.get(request.source)
    if source is None:
        raise UnknownSourceError(f"Unknown source {shown_source(request.source)!r}")
    if len(request.body) > deps.config.ingress.max_body_bytes:
        raise PayloadTooLargeError(f"Body larger than {deps.config.ingress.max_body_bytes} bytes")
    adapter, kind = deps.adapter(request.source, source)
    if media_type(request.headers) not in kind.content_types:
        raise UnsupportedMediaTypeError(f"Content-Type must be one of: {', '.join(kind.content_types)}")
    return source, adapter, kind


def _identify(
    request: InboundRequest, source: SourceConfig, verified: Verified, payload: Any
) -> tuple[str | None, str | None]:
    """(the delivery's webhook id, its replay key). Only signed material identifies a delivery: a fresh
    unsigned id must not make a replay new (relay.ingress.replay)."""
    body_id = body_delivery_id(source, payload) if payload is not None else None
    webhook_id = verified.delivery_id or body_id or verified.unsigned_id
    if not webhook_id and request.request_id:
        # The trail still needs a name for it; never a replay key (a retry is a new request).
        webhook_id = f"request:{request.request_id}"
    if webhook_id:
        # Every later line of this request carries it; the consumer's lines name it too.
        logger.set_correlation_id(webhook_id)
    logger.append_keys(webhook_id=webhook_id)
    delivery = replay_id(verified, body_id)
    return webhook_id, replay_key(request.source, delivery) if delivery else None


@dataclass(frozen=True)
class _Delivered:
    changes: int
    messages: int
    unit_ids: tuple[str, ...]
    label: str | None
    call_keys: tuple[str, ...]
    panic_units: tuple[str, ...]
    bodies: tuple[str, ...] = ()  # the messages as queued (the archive keeps them)


def _deliver(
    request: InboundRequest,
    source: SourceConfig,
    adapter: Adapter,
    payload: dict[str, Any],
    webhook_id: str | None,
    deps: IngressDeps,
) -> _Delivered:
    """Run the adapter, queue its signals and the changes it relays (all or 503), then write its state."""
    # What the adapter changes in its source's state is written only once its messages are queued.
    state = StagedSourceState(deps.source_state) if deps.source_state is not None else None
    context = AdapterContext(
        source=request.source,
        received_at=request.received_at,
        headers=request.headers,
        state=state,
        webhook_id=webhook_id,
        lookup=deps.lookup,
    )
    changes, calls, panics = partition(normalise(adapter, payload, context))
    envelope: dict[str, Any] = {
        "source": request.source,
        "mdt_id": source.mdt_id,
        "guild_id": source.guild_id,
        "actor": source.actor,
        "webhook_id": webhook_id,
        "received_at": request.received_at,
    }
    relayed_urgent, relayed = relayed_messages(
        context.notes, request.source, source, webhook_id, request.received_at
    )
    urgent = emergency_messages(**envelope, calls=calls, panics=panics) + relayed_urgent
    messages = queue_messages(**envelope, changes=changes) + relayed
    # Calls and panics first: they are what must not wait. Each send raises QueueUnavailableError (503)
    # unless every message is queued; the sender's retry then queues them again, which the consumer
    # absorbs (one call per sender call, one panic per press within its window).
    if urgent:
        (deps.emergencies or deps.publisher).send(urgent)
    if messages:
        deps.publisher.send(messages)
    # A panic no unit could be found for: in the DLQ with its reason, or 503 (relay.messages).
    send_undelivered(
        deps.dead_letters, undelivered_letters(**envelope, undelivered=context.notes.undelivered)
    )
    if state is not None:
        # Raises SourceStateUnavailableError (503): the delivery is not remembered, so the sender's
        # retry runs the adapter again and writes the state (its messages again: the merge absorbs them).
        state.commit()
    notes = context.notes.relayed
    relayed_changes = [change for batch in notes for change in batch.changes]
    all_calls = [*calls, *(call for batch in notes for call in batch.calls)]
    all_panics = [*panics, *(panic for batch in notes for panic in batch.panics)]
    return _Delivered(
        changes=len(changes) + len(relayed_changes),
        messages=len(urgent) + len(messages),
        unit_ids=tuple(dict.fromkeys(change.id for change in [*changes, *relayed_changes])),
        label=context.notes.label,
        call_keys=tuple(dict.fromkeys(call.key for call in all_calls)),
        panic_units=tuple(dict.fromkeys(panic.unit for panic in all_panics)),
        # Calls and panics too: relay inspect shows them; relay replay never sends them again.
        bodies=tuple(message.body() for message in [*urgent, *messages]),
    )


def accept_webhook(request: InboundRequest, deps: IngressDeps) -> Accepted:
    source, adapter, kind = _route(request, deps)
    try:
        verified, payload = _authenticate(source, request, deps, kind)
    except VerificationError as exc:
        # A source that keeps bodies keeps a refused one too: `relay replay` takes it once the key is fixed.
        record = archive.refused(
            name=request.source,
            source=source,
            received_at=request.received_at,
            body=request.body,
            headers=request.headers,
            token=request.token,
            request_id=request.request_id,
            error=exc,
        )
        archive.keep_or_log(deps.archive, record, deps.config.archive.days)
        raise
    if deps.notes_heard:
        note_heard(deps.source_state, request.source, source, request.received_at, deps._heard)
    webhook_id, key = _identify(request, source, verified, payload)
    if payload is None:
        return Accepted(request.source, webhook_id, 0, 0)  # authentic, but no event in it

    store_error: str | None = None
    if key:
        try:
            if deps.replay.seen(key, request.received_at):
                # Named by what matched, which is signed: an unsigned id (delivery_id_header) in a
                # replayed request is the replayer's to choose, so neither the answer nor a line adopts it.
                signed_name = key.removeprefix(f"{request.source}#")
                logger.set_correlation_id(signed_name)
                logger.append_keys(webhook_id=signed_name)
                return Accepted(request.source, signed_name, 0, 0, replayed=True)
        except ReplayStoreUnavailableError as exc:
            store_error = str(exc)  # fail open: see docs/security.md, "Replay window"

    delivered = _deliver(request, source, adapter, payload, webhook_id, deps)

    if key:
        try:
            if not deps.replay.remember(key, request.received_at, deps.config.ingress.replay_ttl_seconds):
                logger.info("a concurrent copy of this delivery was also queued (the merge is idempotent)")
        except ReplayStoreUnavailableError as exc:
            store_error = store_error or str(exc)
    archive_error = archive.keep_accepted(
        deps.archive,
        deps.config.archive.days,
        deps.secrets,
        name=request.source,
        source=source,
        received_at=request.received_at,
        body=request.body,
        headers=request.headers,
        webhook_id=webhook_id,
        request_id=request.request_id,
        messages=delivered.bodies,
        label=delivered.label,
    )
    return Accepted(
        request.source,
        webhook_id,
        delivered.changes,
        delivered.messages,
        replay_store_error=store_error,
        unit_ids=delivered.unit_ids,
        label=delivered.label,
        call_keys=delivered.call_keys,
        panic_units=delivered.panic_units,
        archive_error=archive_error,
    )
