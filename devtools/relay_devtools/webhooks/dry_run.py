"""The dry run behind `relay map SOURCE PAYLOAD...`: what the relay would enqueue for a payload, or the
precise error.

For people writing a mapping: the source's adapter from relay.toml runs on the file exactly
as the ingress would run it, but without the signature check and with an in-memory state store.
Several payloads run in order against the same store (a Sonoran login, then its status change);
`--roster SERVER=FILE` loads an ER:LC player list (v1 or v2, e.g. events/erlc_v2_server.json) as the
roster the `erlc-events` adapter looks players up in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.config.loader import build_adapter
from relay.config.schema import RelayConfig, SourceConfig
from relay.erlc.roster import ROSTER_SK, build_roster, dump_roster, parse_players
from relay.errors import ErlcResponseError
from relay.ingress.body import parse_json_object
from relay.ingress.relayed import relayed_messages
from relay.memory import InMemorySourceStateStore
from relay.messages import QueueMessage, emergency_messages, queue_messages
from relay.models import roster_key
from relay.ports.stores import SourceStateStore
from relay.sources import AdapterContext, partition
from relay.sources.registry import normalise


class MapError(Exception):
    """The dry run cannot start: unknown source, unreadable file, bad option."""


def map_payload(
    config: RelayConfig,
    source_name: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    store: SourceStateStore | None = None,
    received_at: datetime | None = None,
) -> list[QueueMessage]:
    """The queue messages the ingress would send for this body (none when it maps to no change): its
    calls and panics (for the emergency queue) first, then its unit changes; each with what the adapter
    relays as another source's.

        Raises the same RelayError the ingress would answer with (e.g. InvalidPayloadError -> 422).
    """
    source = source_config(config, source_name)
    received_at = received_at or datetime.now(UTC)
    adapter, _ = build_adapter(source_name, source)
    payload = parse_json_object(body)
    context = AdapterContext(
        source=source_name,
        received_at=received_at,
        headers={name.lower(): value for name, value in (headers or {}).items()},
        state=store or InMemorySourceStateStore(),
    )
    changes, calls, panics = partition(normalise(adapter, payload, context))
    envelope: dict[str, Any] = {
        "source": source_name,
        "mdt_id": source.mdt_id,
        "guild_id": source.guild_id,
        "actor": source.actor,
        "webhook_id": None,
        "received_at": received_at,
    }
    # What the adapter relays as another source's (an ER:LC emergency call is the server's, `erlc:<server>`).
    relayed_urgent, relayed = relayed_messages(context.notes, source_name, source, None, received_at)
    return (
        emergency_messages(**envelope, calls=calls, panics=panics)
        + relayed_urgent
        + queue_messages(**envelope, changes=changes)
        + relayed
    )


def source_config(config: RelayConfig, name: str) -> SourceConfig:
    source = config.sources.get(name)
    if source is None:
        known = ", ".join(sorted(config.sources)) or "none"
        raise MapError(f"no source {name!r} in the config (sources: {known})")
    return source


def load_roster_file(config: RelayConfig, store: SourceStateStore, spec: str) -> None:
    """`SERVER=FILE`: the players in FILE become SERVER's roster, as the poller would store it."""
    server_name, sep, file_name = spec.partition("=")
    if not sep or not server_name or not file_name:
        raise MapError(f"--roster {spec!r}: expected SERVER=FILE")
    server = config.erlc.servers.get(server_name)
    if server is None:
        raise MapError(f"--roster: no [erlc.servers.{server_name}] in the config")
    try:
        players = parse_players(json.loads(Path(file_name).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ErlcResponseError) as exc:
        raise MapError(f"--roster {file_name}: {exc}") from None
    store.put(roster_key(server_name), ROSTER_SK, dump_roster(build_roster(players, server)))


def parse_headers(values: Sequence[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise MapError(f"--header {value!r}: expected 'Name: value'")
        headers[name.strip().lower()] = text.strip()
    return headers


def roster_hint(config: RelayConfig, source_name: str, rosters: Sequence[str]) -> str | None:
    """An ER:LC events source with no --roster: the dry run has no player list, so every command is
    held for a player the roster has not seen. Says which flag gives it one."""
    source = config.sources.get(source_name)
    if source is None or source.adapter != "erlc-events" or rosters:
        return None
    server = str(source.options.get("server") or next(iter(config.erlc.servers), "main"))
    return (
        f"{source_name} finds each player in the roster of ER:LC server {server!r}, and a dry run has none: "
        f"every command is held. Give it one: --roster {server}=events/erlc_v2_server.json (a player list "
        "as PRC's API answers it)"
    )
