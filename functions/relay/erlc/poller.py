"""The scheduled ER:LC roster poll: fetch each server's players and emergency calls (one request),
compare them with what the MDT was told (relay.erlc.sync: joins, renames, who is gone and when;
relay.erlc.call_sync: new calls, what changed, calls gone), send the commands held for players it finds
(relay.erlc.held), enqueue it all as the ingress would (`source = "erlc:<server>"`; a held command as
its own source's; calls and panics first, on the emergency queue), then store the roster.

The client (relay.erlc.client) and the stores come in as ports; the rules are pure (relay.erlc.sync).
When a rate-limit bucket is empty, or a 429 names `retry_after` (body) or `Retry-After` (header), the
server's next poll, and any lookup the ingress would make, is held until then (relay.erlc.fetch). A
429 is never retried inside the same poll: PRC blocks repeat offenders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from relay.config.schema import ErlcServerConfig, SourceConfig
from relay.erlc.call_sync import (
    KEYLESS_POLLS,
    REPORTED_SK,
    CallsSync,
    close_calls,
    load_reported,
    sync_calls,
    unread_reports,
)
from relay.erlc.calls import source_of
from relay.erlc.fetch import DEFAULT_HOLD_SECONDS, MakeClient, fetch_players, held_until, hold, hold_after
from relay.erlc.held import HeldCommand, expired_panic_letters, held_key, load_held, releasable
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
from relay.messages import Publisher, QueueMessage, emergency_messages, queue_messages, send_undelivered
from relay.models import Panic, UnitChange, roster_key, utc_now
from relay.observability import logger
from relay.ports.erlc import PlayersAnswer
from relay.ports.queue import DeadLetter, DeadLetterPort
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
    calls: int = 0  # call events queued (new calls, changes, closes)


# Servers whose answers came from API v1 (no emergency calls), told once per container.
_V1_TOLD: set[str] = set()


@dataclass
class RosterPollDeps:
    store: SourceStateStore
    publisher: Publisher
    secrets: SecretsSource
    make_client: MakeClient
    clock: Callable[[], datetime] = utc_now
    # relay.toml's sources: where a held command's source sends its changes (MDT, guild, actor).
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    # The emergency queue (calls, held panics: no batching window); None: `publisher`.
    emergencies: Publisher | None = None
    # A held panic whose player's unit was found after its hold ran out goes here, with its reason.
    dead_letters: DeadLetterPort | None = None


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
        calls, read_until = _offline_calls(name, server, stored, sync, deps, now)
    else:
        sync = poll_sync(stored, seen, answer.players, server, now)
        held = _held_for_fresh_units(name, stored, sync.roster, deps)
        calls = _calls(name, server, stored, sync, answer, deps, now)
        read_until = sync.roster.polled_at
    roster = sync.roster.model_copy(
        update={"calls": calls.calls, "keyless": calls.keyless, "polled_at": read_until}
    )
    urgent, messages, changes, letters = _messages(name, server, sync, held, deps, now)
    urgent = _call_messages(name, server, calls, now) + urgent
    if urgent:
        # Calls and panics first, on their own queue: they must not wait for the units' window.
        (deps.emergencies or deps.publisher).send(urgent)
    if messages:
        # Enqueue first: if this fails nothing is stored, and the next poll sends the changes again.
        deps.publisher.send(messages)
    # Before the held commands are deleted: if the DLQ fails, the next poll finds them again.
    send_undelivered(deps.dead_letters, letters)
    for player_id in held:
        deps.store.delete(roster_key(name), held_key(player_id))
    if roster != stored:
        deps.store.put(roster_key(name), ROSTER_SK, dump_stored(roster))
    if isinstance(answer, _Offline):
        detail = f"{answer.detail} ({sync.roster.offline} of {server.offline_polls} in a row)"
        return PollOutcome(name, "offline", changes, detail, len(calls.changes))
    result: PollResult = "changed" if changes or calls.changes else "unchanged"
    return PollOutcome(name, result, changes, calls=len(calls.changes))


def _offline_calls(
    name: str, server: ErlcServerConfig, stored: StoredRoster, sync: Sync, deps: RosterPollDeps, now: datetime
) -> tuple[CallsSync, float | None]:
    """One "offline" answer is no news for the calls either; `offline_polls` in a row end the night and
    close them all, those only the webhook reported since the last poll too (which then count as read)."""
    if sync.roster.offline < server.offline_polls:
        return CallsSync(stored.calls, stored.keyless), sync.roster.polled_at
    reported = load_reported(deps.store.get(roster_key(name), REPORTED_SK))
    unread = unread_reports(stored.calls, reported, stored.polled_at)
    if not stored.calls and not unread:
        return CallsSync({}, 0), sync.roster.polled_at
    return CallsSync({}, 0, close_calls([*stored.calls, *unread], now)), now.timestamp()


def _calls(
    name: str,
    server: ErlcServerConfig,
    stored: StoredRoster,
    sync: Sync,
    answer: PlayersAnswer,
    deps: RosterPollDeps,
    now: datetime,
) -> CallsSync:
    """The calls after this answer: v1 has none (no news, said once per container); a v2 answer without
    the list is counted (relay.erlc.calls)."""
    if answer.version != "v2":
        if name not in _V1_TOLD:
            _V1_TOLD.add(name)
            logger.info(
                "ER:LC API v1 has no emergency calls: this server's calls are not read",
                extra={"server": name},
            )
        return CallsSync(stored.calls, stored.keyless)
    synced = sync_calls(
        stored.calls,
        stored.keyless,
        answer.calls,
        units={player_id: unit.unit_id for player_id, unit in sync.roster.players.items()},
        names={player.player_id: player.name for player in answer.players},
        absent_polls=server.absent_polls,
        now=now,
        reported=load_reported(deps.store.get(roster_key(name), REPORTED_SK)),
        last_poll=stored.polled_at,
    )
    if synced.unknown_responders:
        logger.info(
            "erlc call responders not on the roster, left out",
            extra={"server": name, "players": synced.unknown_responders[:10]},
        )
    if synced.forgotten:
        logger.warning(
            "erlc calls beyond the roster's bound no longer followed (the oldest)",
            extra={"server": name, "calls": synced.forgotten[:10]},
        )
    if answer.calls is None and synced.changes:
        logger.warning(
            "erlc poll: answers without EmergencyCalls in a row: every call closed",
            extra={"server": name, "answers": KEYLESS_POLLS, "closed": len(synced.changes)},
        )
    elif answer.calls is None and synced.keyless:
        logger.info(
            "erlc poll: the answer has no EmergencyCalls list: no news of the calls",
            extra={"server": name, "in_a_row": synced.keyless},
        )
    return synced


def _call_messages(
    name: str, server: ErlcServerConfig, calls: CallsSync, now: datetime
) -> list[QueueMessage]:
    return emergency_messages(
        source=source_of(name),
        mdt_id=server.mdt_id,
        guild_id=server.guild_id,
        actor=server.actor,
        webhook_id=f"erlc-roster:{name}:{int(now.timestamp())}",
        received_at=now,
        calls=calls.changes,
    )


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
) -> tuple[list[QueueMessage], list[QueueMessage], int, list[DeadLetter]]:
    """The roster's changes as `erlc:<server>`'s, and each released command as its own delivery's: (the
    panics, for the emergency queue; the unit changes; how many changes and panics; the dead letters
    of the held panics that expired)."""
    released: dict[str, list[HeldCommand]] = {}
    letters: list[DeadLetter] = []
    for player_id, commands in held.items():
        released[player_id], expired = releasable(commands, now.timestamp())
        letters += expired_panic_letters(expired, player_id, name, deps.sources)
        if expired:
            log = logger.warning if any(c.panic is not None for c in expired) else logger.info
            log(
                "erlc held commands expired",
                extra={
                    "server": name,
                    "player": player_id,
                    "expired": len(expired),
                    "panics": sum(c.panic is not None for c in expired),
                },
            )
    changes = sorted(sync.changes + join_changes(sync.joins, server), key=lambda c: c.id)
    messages = queue_messages(
        source=source_of(name),
        mdt_id=server.mdt_id,
        guild_id=server.guild_id,
        actor=server.actor,
        webhook_id=f"erlc-roster:{name}:{int(now.timestamp())}",
        received_at=now,
        changes=changes,
    )
    urgent: list[QueueMessage] = []
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
            signal = command.signal(unit.unit_id, unit.since)
            envelope: dict[str, Any] = {
                "source": command.source,
                "mdt_id": source.mdt_id,
                "guild_id": source.guild_id,
                "actor": source.actor,
                "webhook_id": command.webhook_id,
                "received_at": command.received(),
            }
            if isinstance(signal, Panic):
                logger.info("erlc held panic sent", extra={"server": name, "unit": unit.unit_id})
                urgent += emergency_messages(**envelope, panics=[signal])
            elif isinstance(signal, UnitChange):
                messages += queue_messages(**envelope, changes=[signal])
            count += 1
    return urgent, messages, count, letters


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
                "calls": outcome.calls,
                "detail": outcome.detail,
            },
        )
        outcomes.append(outcome)
    return outcomes
