"""The scheduled ER:LC roster poll: fetch each server's players, compare them with what the MDT was told
(relay.erlc.sync: joins, renames, who is gone and when), send the commands held for players it finds
(relay.erlc.held), enqueue it all as the ingress would (`source = "erlc:<server>"`; a held command as
its own source's), then store the roster.

The client (relay.erlc.client) and the stores come in as ports; the rules are pure (relay.erlc.sync).
When a rate-limit bucket is empty, or a 429 names `retry_after` (body) or `Retry-After` (header), the
server's next poll, and any lookup the ingress would make, is held until then (relay.erlc.fetch). A
429 is never retried inside the same poll: PRC blocks repeat offenders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from relay.config.schema import ErlcServerConfig, SourceConfig
from relay.erlc.fetch import DEFAULT_HOLD_SECONDS, MakeClient, fetch_players, held_until, hold, hold_after
from relay.erlc.held import HeldCommand, held_key, load_held, releasable
from relay.erlc.roster import ROSTER_SK, StoredRoster, dump_stored, load_stored
from relay.erlc.sync import SEEN_SK, Sync, join_changes, load_seen, offline_sync, poll_sync
from relay.errors import (
    ErlcAuthError,
    ErlcError,
    ErlcOfflineError,
    ErlcRateLimitedError,
    ErlcUnavailableError,
    QueueUnavailableError,
    SourceStateUnavailableError,
)
from relay.messages import Publisher, QueueMessage, queue_messages
from relay.models import roster_key, utc_now
from relay.observability import logger
from relay.ports.erlc import PlayersAnswer
from relay.ports.secrets import SecretsSource
from relay.ports.stores import SourceStateStore
from relay.watch import check_server

# Held commands looked for in one poll, at most (one read each): the units that came on duty lately.
MAX_HELD_READS = 100

PollResult = Literal[
    "changed", "unchanged", "offline", "held", "rate-limited", "auth-failed", "unavailable", "failed"
]


@dataclass(frozen=True)
class PollOutcome:
    server: str
    result: PollResult
    changes: int = 0
    detail: str = ""


@dataclass
class RosterPollDeps:
    store: SourceStateStore
    publisher: Publisher
    secrets: SecretsSource
    make_client: MakeClient
    clock: Callable[[], datetime] = utc_now
    # relay.toml's sources: where a held command's source sends its changes (MDT, guild, actor).
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)


class _Offline:
    """PRC's "server offline" answer (relay.erlc.sync counts them)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _ask(
    name: str, server: ErlcServerConfig, deps: RosterPollDeps, now: datetime
) -> PlayersAnswer | _Offline | PollOutcome:
    """The server's players, its "offline" answer, or the outcome of a poll that got neither."""
    until = held_until(deps.store, name, now)
    if until is not None:
        return PollOutcome(name, "held", detail=f"rate limit: next poll after {until:.0f}")
    try:
        answer = fetch_players(name, server, deps.secrets, deps.make_client)
    except ErlcRateLimitedError as exc:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_HOLD_SECONDS
        hold(deps.store, name, now.timestamp() + wait, now)
        return PollOutcome(name, "rate-limited", detail=f"{exc.message}; holding {wait:.1f}s")
    except ErlcOfflineError as exc:
        return _Offline(exc.message)
    except ErlcAuthError as exc:
        return PollOutcome(name, "auth-failed", detail=exc.message)
    except ErlcUnavailableError as exc:
        return PollOutcome(name, "unavailable", detail=exc.message)
    except ErlcError as exc:
        return PollOutcome(name, "failed", detail=exc.message)
    hold_after(deps.store, name, answer, now)
    return answer


def poll_server(name: str, server: ErlcServerConfig, deps: RosterPollDeps) -> PollOutcome:
    now = deps.clock()
    answer = _ask(name, server, deps, now)
    if isinstance(answer, PollOutcome):
        return answer
    stored = load_stored(deps.store.get(roster_key(name), ROSTER_SK))
    seen = load_seen(deps.store.get(roster_key(name), SEEN_SK))
    if isinstance(answer, _Offline):
        sync = offline_sync(stored, seen, server, now)
        held: dict[str, list[HeldCommand]] = {}
    else:
        sync = poll_sync(stored, seen, answer.players, server, now)
        held = _held_for_fresh_units(name, stored, sync.roster, deps)
    messages, changes = _messages(name, server, sync, held, deps, now)
    if messages:
        # Enqueue first: if this fails nothing is stored, and the next poll sends the changes again.
        deps.publisher.send(messages)
    for player_id in held:
        deps.store.delete(roster_key(name), held_key(player_id))
    if sync.roster != stored:
        deps.store.put(roster_key(name), ROSTER_SK, dump_stored(sync.roster))
    if isinstance(answer, _Offline):
        detail = f"{answer.detail} ({sync.roster.offline} of {server.offline_polls} in a row)"
        return PollOutcome(name, "offline", changes, detail)
    return PollOutcome(name, "changed" if changes else "unchanged", changes)


def _held_for_fresh_units(
    name: str, before: StoredRoster, roster: StoredRoster, deps: RosterPollDeps
) -> dict[str, list[HeldCommand]]:
    """The held commands of the units that came on duty at this poll or the one before (a command held
    while a poll or a lookup was finding its player is found by the next poll), by player id."""
    fresh = [p for p in dict.fromkeys([*roster.fresh, *before.fresh]) if p in roster.players]
    found = {}
    for player_id in fresh[:MAX_HELD_READS]:
        if roster.players[player_id].absent:
            continue
        commands = load_held(deps.store.get(roster_key(name), held_key(player_id)))
        if commands:
            found[player_id] = commands
    return found


def _messages(
    name: str,
    server: ErlcServerConfig,
    sync: Sync,
    held: Mapping[str, list[HeldCommand]],
    deps: RosterPollDeps,
    now: datetime,
) -> tuple[list[QueueMessage], int]:
    """The roster's changes as `erlc:<server>`'s, and each released command as its own delivery's."""
    released: dict[str, list[HeldCommand]] = {}
    for player_id, commands in held.items():
        released[player_id], expired = releasable(commands, now.timestamp())
        if expired:
            logger.info(
                "erlc held commands expired",
                extra={"server": name, "player": player_id, "expired": len(expired)},
            )
    changes = sorted(sync.changes + join_changes(sync.joins, server), key=lambda c: c.id)
    messages = queue_messages(
        source=f"erlc:{name}",
        mdt_id=server.mdt_id,
        guild_id=server.guild_id,
        actor=server.actor,
        webhook_id=f"erlc-roster:{name}:{int(now.timestamp())}",
        received_at=now,
        changes=changes,
    )
    count = len(changes)
    for player_id, commands in released.items():
        unit = sync.roster.players[player_id]
        for command in commands:
            source = deps.sources.get(command.source)
            if source is None:
                logger.warning(
                    "erlc held command of a source no longer configured", extra={"source": command.source}
                )
                continue
            messages += queue_messages(
                source=command.source,
                mdt_id=source.mdt_id,
                guild_id=source.guild_id,
                actor=source.actor,
                webhook_id=command.webhook_id,
                received_at=command.received(),
                changes=[command.change(unit.unit_id, unit.since)],
            )
            count += 1
    return messages, count


def _check_quiet(name: str, server: ErlcServerConfig, deps: RosterPollDeps) -> None:
    """A poll that failed: has none succeeded for longer than the server's expect_every? (relay.watch;
    one read of the stored roster, only when a poll fails.)"""
    try:
        polled_at = load_stored(deps.store.get(roster_key(name), ROSTER_SK)).polled_at
    except SourceStateUnavailableError:
        return  # the poll's own failure is logged; the next tick looks again
    check_server(name, server, polled_at, deps.clock())


def poll_servers(servers: Mapping[str, ErlcServerConfig], deps: RosterPollDeps) -> list[PollOutcome]:
    """Every server in turn; one server's failure never stops the others."""
    outcomes = []
    for name, server in servers.items():
        try:
            outcome = poll_server(name, server, deps)
        except (QueueUnavailableError, SourceStateUnavailableError) as exc:
            outcome = PollOutcome(name, "failed", detail=exc.message)
        if outcome.result not in ("changed", "unchanged", "offline"):
            _check_quiet(name, server, deps)
        quiet = ("changed", "unchanged", "held")
        log = logger.info if outcome.result in quiet else logger.warning
        log(
            "roster poll",
            extra={
                "server": name,
                "result": outcome.result,
                "changes": outcome.changes,
                "detail": outcome.detail,
            },
        )
        outcomes.append(outcome)
    return outcomes
