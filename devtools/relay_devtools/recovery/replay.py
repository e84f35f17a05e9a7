"""`relay replay`: archived deliveries queued again, as they were.

An accepted delivery's messages go back to the queue unchanged: the same webhook id, receive time and
event times, so the consumer merges them as any late message (a change older than what a unit holds is
not written, another writer's newer edit stands; docs/consumer.md). A refused delivery (kept by a
source with `archive_body`) is taken through the ingress's own pipeline again, with the source's
secrets as they are now and the time it arrived as its clock: it is accepted only if it verifies now
(the key was fixed), and then becomes the messages it would have become. A body-key or url-token
delivery kept only a digest of what it presented: the secret that matches it is put back in memory.

The dry run makes the same messages and plans them as the consumer would, against the partner's list
and the unit state as they are now (relay.consumer.preview), writing nothing anywhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from relay.config.schema import BodyKeySignature, RelayConfig, UrlTokenSignature
from relay.consumer.merge import GroupKey
from relay.consumer.policy import UnitPolicy
from relay.consumer.preview import PreviewRow, preview
from relay.consumer.unit_state import UnitKey, UnitState
from relay.errors import NorthcaNotFoundError, RelayError
from relay.ingress.archive import secret_digest
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.memory import InMemoryReplayGuard, InMemorySourceStateStore
from relay.messages import QueueMessage
from relay.models import SOURCE_STATE_TTL_SECONDS, cache_key, utc_now
from relay.observability import logger
from relay.ports.archive import ArchivedDelivery, ArchiveReader
from relay.ports.partner import PartnerUnit
from relay.ports.secrets import SecretsSource
from relay.ports.stores import SourceStateStore


@dataclass
class Replay:
    """What a set of archived deliveries becomes now."""

    messages: list[QueueMessage] = field(default_factory=list)
    taken: list[ArchivedDelivery] = field(default_factory=list)  # accepted, their messages as archived
    verified: list[ArchivedDelivery] = field(default_factory=list)  # refused then, verified now
    still_refused: list[tuple[ArchivedDelivery, str]] = field(default_factory=list)
    unreadable: list[tuple[ArchivedDelivery, str]] = field(default_factory=list)
    # The calls and panics the records carried, never queued again (UNIT_MESSAGE_KEYS says why).
    calls_left_out: int = 0
    panics_left_out: int = 0

    def take_units_of(self, bodies: Sequence[str]) -> None:
        """Queue the unit changes of these messages and count (leaving them out) their calls and panics;
        raises ValueError or ValidationError, taking nothing, when one of them cannot be read."""
        messages = [unit_changes_of(body) for body in bodies]
        for body in bodies:
            data = json.loads(body)
            calls, panics = data.get("calls"), data.get("panics")
            self.calls_left_out += len(calls) if isinstance(calls, list) else 0
            self.panics_left_out += len(panics) if isinstance(panics, list) else 0
        self.messages += [message for message in messages if message is not None]


# What a replay re-queues of an archived message: its unit changes and their envelope. Any other signal
# a message may carry is left out: a call, and above all a panic, is an event of its moment, never to be
# sent again days later (the merge makes only unit changes safe to repeat).
UNIT_MESSAGE_KEYS = (
    "v",
    "source",
    "mdt_id",
    "guild_id",
    "actor",
    "webhook_id",
    "received_at",
    "changes",
    "offset",
)


def unit_changes_of(body: str) -> QueueMessage | None:
    """An archived message's unit changes as a message, or None when it holds none."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not a queue message")
    if not data.get("changes"):
        return None
    return QueueMessage.model_validate({key: data[key] for key in UNIT_MESSAGE_KEYS if key in data})


def select(
    archive: ArchiveReader,
    *,
    webhook_id: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ArchivedDelivery]:
    """The records of one webhook id, or of one source within [since, until], oldest first."""
    if webhook_id is not None:
        return archive.find(webhook_id)
    if source is None or since is None:
        raise ValueError("name a webhook id, or a source and --since")
    return archive.window(source, since, until or utc_now())


class _Captured:
    """The queue, as the pipeline sees it: the messages kept here, sent (or not: a dry run) after."""

    def __init__(self) -> None:
        self.messages: list[QueueMessage] = []

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        self.messages += messages
        return len(messages)


class _Overlay:
    """A source-state store whose writes stay here (a dry run writes nothing anywhere)."""

    def __init__(self, under: SourceStateStore | None) -> None:
        self.under = under
        self.mine = InMemorySourceStateStore()
        self.deleted: set[tuple[str, str]] = set()

    def get(self, pk: str, sk: str) -> Any | None:
        if (pk, sk) in self.deleted:
            return None
        mine = self.mine.get(pk, sk)
        return mine if mine is not None or self.under is None else self.under.get(pk, sk)

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = SOURCE_STATE_TTL_SECONDS) -> None:
        self.deleted.discard((pk, sk))
        self.mine.put(pk, sk, value, ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        self.deleted.add((pk, sk))


# The adapters' own caches (Sonoran's identId -> unit): written blind, one key at a time, by the newest
# delivery. The other source state (ER:LC's held commands, reports, lookups) is read, merged and written.
CACHE_PARTITION = cache_key("")


class ReplayState:
    """The source state a replay writes: in an adapter's cache it may teach the relay what it never
    learned (a refused login's identId), never undo what it learned since (a newer login of that
    identId, a logout): a cache key that holds a value is left alone, unless this replay wrote it. The
    cache keeps no dates, and a replayed delivery is older than anything written since it was refused."""

    def __init__(self, under: SourceStateStore) -> None:
        self.under = under
        self.mine: set[tuple[str, str]] = set()

    def _free(self, pk: str, sk: str) -> bool:
        return not pk.startswith(CACHE_PARTITION) or (pk, sk) in self.mine

    def get(self, pk: str, sk: str) -> Any | None:
        return self.under.get(pk, sk)

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = SOURCE_STATE_TTL_SECONDS) -> None:
        if self._free(pk, sk) or self.under.get(pk, sk) is None:
            self.mine.add((pk, sk))
            self.under.put(pk, sk, value, ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        if self._free(pk, sk):
            self.under.delete(pk, sk)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The pipeline's own log lines stay out of the command's output (its result says what happened)."""
    python_logger = logging.getLogger(logger.name)
    level = python_logger.level
    python_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        python_logger.setLevel(level)


def _request_now(
    record: ArchivedDelivery, config: RelayConfig, secrets: SecretsSource
) -> InboundRequest | str:
    """The refused request rebuilt for a check against the secrets as they are now, or why it cannot be."""
    source = config.sources.get(record.source)
    if source is None:
        return f"source {record.source!r} is no longer in relay.toml"
    if record.body is None:
        return "its body was not kept"
    body, token = record.body, None
    signature = source.signature
    if isinstance(signature, BodyKeySignature | UrlTokenSignature):
        matching = [v for v in secrets.get(signature.secret) if secret_digest(v) == record.secret_digest]
        if not matching:
            return "what it presented matches none of the source's secrets now"
        if isinstance(signature, BodyKeySignature):
            payload = json.loads(body)
            payload[signature.field] = matching[-1]
            body = json.dumps(payload).encode()
        else:
            token = matching[-1]
    return InboundRequest(
        source=record.source,
        headers=dict(record.headers),
        body=body,
        received_at=record.received_at,
        token=token,
        request_id=record.request_id,
    )


def build(
    records: Sequence[ArchivedDelivery],
    config: RelayConfig,
    secrets: SecretsSource,
    source_state: SourceStateStore | None,
    *,
    dry_run: bool,
) -> Replay:
    """The messages the records become now (refused ones through the ingress pipeline)."""
    replay = Replay()
    # A dry run's state writes (Sonoran's identIds of a login it replays) stay in memory, for every record.
    state: SourceStateStore | None = _Overlay(source_state) if dry_run else source_state
    if state is not None and not dry_run:
        state = ReplayState(state)
    for record in records:
        if record.outcome == "accepted":
            try:
                replay.take_units_of(record.messages)
            except (ValidationError, ValueError) as exc:
                replay.unreadable.append((record, str(exc).splitlines()[0]))
                continue
            replay.taken.append(record)
            continue
        request = _request_now(record, config, secrets)
        if isinstance(request, str):
            replay.still_refused.append((record, request))
            continue
        queue = _Captured()
        deps = IngressDeps(
            config=config,
            secrets=secrets,
            publisher=queue,
            source_state=state,
            replay=InMemoryReplayGuard(),
            notes_heard=False,  # a delivery of hours ago: the sender is not heard now
        )
        try:
            with _quiet():
                accept_webhook(request, deps)
        except RelayError as exc:
            replay.still_refused.append(
                (record, f"{type(exc).__name__}: {getattr(exc, 'reason', exc.message)}")
            )
            continue
        replay.verified.append(record)
        # A refused delivery's call or panic was never sent: hours late, it would be news of another
        # moment (a unit panicking now), so it is left out as an accepted one's is.
        replay.take_units_of([message.body() for message in queue.messages])
    return replay


def unit_keys(messages: Sequence[QueueMessage], policy: UnitPolicy) -> list[UnitKey]:
    return sorted(
        {UnitKey(m.mdt_id, m.guild_id, policy.canonical(m.mdt_id, c.id)) for m in messages for c in m.changes}
    )


def partner_lists(partner: Any, groups: Sequence[GroupKey]) -> dict[GroupKey, dict[str, PartnerUnit] | None]:
    """The partner's units per MDT and guild, as the consumer reads them (None: no list endpoint)."""
    lists: dict[GroupKey, dict[str, PartnerUnit] | None] = {}
    for mdt_id, guild_id in groups:
        try:
            lists[(mdt_id, guild_id)] = partner.list_units(mdt_id, guild_id)
        except NorthcaNotFoundError:
            lists[(mdt_id, guild_id)] = None
    return lists


def dry_run(
    messages: Sequence[QueueMessage],
    states: dict[UnitKey, UnitState],
    partner: Any,
    config: RelayConfig,
) -> list[PreviewRow]:
    """What the consumer would write for these messages now. Raises NorthcaError when the partner's list
    cannot be read (the consumer would write nothing then either)."""
    groups = sorted({(m.mdt_id, m.guild_id) for m in messages})
    settings = config.consumer
    return preview(
        messages,
        states,
        partner_lists(partner, groups),
        policy=UnitPolicy.from_config(config),
        window=timedelta(seconds=settings.late_write_window_seconds),
        skew=timedelta(seconds=settings.max_event_skew_seconds),
        now=utc_now(),
    )
