"""The `erlc-events` preset: ER:LC's signed Event Webhook (`ed25519`, PRC's public key).

The game posts in-game chat messages that start with `;` and emergency calls. A
command such as `;10-8` or `;status 10-6` becomes a status change for the unit of the player who
typed it, found in the roster the ER:LC poller keeps (`roster#<server>`); `;panic` (or `;10-33`) that
unit's panic; an emergency call the server's call, the one the poll reads too
(relay.erlc.emergency_events).

The payload schema is UNCONFIRMED, so it is decoded defensively, like PRC's community Python wrapper
(Fortune1243/erlc-api `src/erlc_api/webhooks.py`) does: the event may sit at the top level or under
Data/Payload/Event; its type under Type/EventType; the text under Command/Message/Content/Text/
ChatMessage; the player as "Name:UserId", a user id, or an object with an id.

PRC asks for a 2xx on every validly signed request, and the game may drop a URL that fails: every
authentic event the adapter cannot act on (an unknown type, an empty probe, a command without a
player, a shape it cannot read) is acknowledged with no change, the reason and the body's keys logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from relay.erlc.commands import CommandReader, ErlcEventsOptions, parse_command
from relay.erlc.emergency_events import (
    EMERGENCY_KEYS,
    emergency_call_event,
    known_unit_panic,
    looks_like_emergency,
    press_key,
)
from relay.erlc.newcomers import Typed, newcomer, unit_of
from relay.errors import InvalidPayloadError
from relay.models import Panic, UnitChange
from relay.observability import logger
from relay.sources import AdapterContext, AdapterKind, SenderFacts, Signal
from relay.sources.fields import parse_event_time

NESTED_KEYS = ("Data", "data", "Payload", "payload", "Event", "event")
TYPE_KEYS = ("Type", "type", "EventType", "eventType")
TEXT_KEYS = (
    "Command",
    "command",
    "Message",
    "message",
    "Content",
    "content",
    "Text",
    "text",
    "ChatMessage",
    "chatMessage",
)
PLAYER_KEYS = (
    "Player",
    "player",
    "Sender",
    "sender",
    "Author",
    "author",
    "Speaker",
    "speaker",
    "User",
    "user",
)
PLAYER_ID_KEYS = ("PlayerId", "playerId", "UserId", "userId", "RobloxId", "robloxId")
# Inside a player object a bare Id is the player's; at the top level it may be the event's own.
PLAYER_OBJECT_ID_KEYS = (*PLAYER_ID_KEYS, "Id", "id")
TIME_KEYS = ("Timestamp", "timestamp", "Time", "time", "CreatedAt", "createdAt")
# Body keys named in the log line of an event not acted on.
LOGGED_KEYS = 20


def _candidates(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [payload]
    found.extend(payload[key] for key in NESTED_KEYS if isinstance(payload.get(key), Mapping))
    return found


def _first(candidates: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> tuple[str, Any] | None:
    for candidate in candidates:
        for key in keys:
            if candidate.get(key) not in (None, ""):
                return key, candidate[key]
    return None


def _player_id(value: Any, where: str) -> str:
    """A Roblox user id from "Name:Id", a number, digits, or an object holding one of those."""
    if isinstance(value, bool):
        raise InvalidPayloadError(f"{where}: expected a player, got {value}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        candidate = text.rpartition(":")[2].strip() if ":" in text else text
        if candidate.isdigit():
            return candidate
        raise InvalidPayloadError(f"{where}: expected 'Name:UserId' or a user id, got {text[:64]!r}")
    if isinstance(value, Mapping):
        found = _first([value], PLAYER_OBJECT_ID_KEYS) or _first([value], PLAYER_KEYS)
        if found is not None:
            return _player_id(found[1], f"{where}.{found[0]}")
        raise InvalidPayloadError(f"{where}: an object without a player id")
    raise InvalidPayloadError(f"{where}: expected a player, got {type(value).__name__}")


def _player_name(value: Any) -> str | None:
    """The player's name where the event gives one ("Name:UserId"), for the delivery's label."""
    if isinstance(value, Mapping):
        found = _first([value], ("Player", "player", "Name", "name", "Username", "username"))
        return _player_name(found[1]) if found is not None else None
    if isinstance(value, str):
        name = value.rpartition(":")[0] if ":" in value else value
        return name.strip() if name.strip() and not name.strip().isdigit() else None
    return None


class ErlcEventsAdapter:
    def __init__(self, options: ErlcEventsOptions) -> None:
        self.options = options
        self.reader = CommandReader(options)
        # The status is read (and mapped) once, by the reader; the change is built without mapping it again.
        self.rules = options.model_copy(update={"value_maps": {}})

    def normalise(self, payload: Any, context: AdapterContext) -> list[Signal]:
        try:
            return self._read(payload, context)
        except InvalidPayloadError as exc:
            keys = (
                sorted(str(key)[:40] for key in payload)[:LOGGED_KEYS] if isinstance(payload, Mapping) else []
            )
            logger.warning(
                "erlc event not acted on, acknowledged", extra={"reason": exc.message[:300], "keys": keys}
            )
            return []

    def _read(self, payload: Any, context: AdapterContext) -> list[Signal]:
        if not payload:
            logger.info("erlc event: empty body accepted (validation probe?)")
            return []
        candidates = _candidates(payload)
        typed = _first(candidates, TYPE_KEYS)
        kind = typed[1] if typed and isinstance(typed[1], str) else None
        normalised_kind = (kind or "").lower().replace("_", "").replace("-", "").replace(" ", "")
        text = _first(candidates, TEXT_KEYS)
        emergency = _first(candidates, EMERGENCY_KEYS) or (
            ("", True) if any(looks_like_emergency(c) for c in candidates) else None
        )
        if "emergency" in normalised_kind or (text is None and emergency is not None):
            at = self._event_time(candidates, context)
            label = emergency_call_event(candidates, normalised_kind, self.options.server, at, context)
            context.notes.name(label)
            return []
        if text is None:
            if kind is not None:
                logger.info("erlc event: type not handled", extra={"event_type": kind[:64]})
                return []
            raise InvalidPayloadError(
                "body: not an ER:LC event: no Type, no command text (Command/Message/Content/Text/"
                "ChatMessage) and no emergency call"
            )
        text_key, raw_text = text
        if not isinstance(raw_text, str):
            raise InvalidPayloadError(f"{text_key}: expected text, got {type(raw_text).__name__}")
        command = parse_command(raw_text, self.options.prefix)
        if command is None:
            return []  # a message that is not a command: nothing for the MDT
        player = _first(candidates, PLAYER_KEYS) or _first(candidates, PLAYER_ID_KEYS)
        if player is None:
            raise InvalidPayloadError(
                f"{text_key}: a command without a player (looked for {', '.join(PLAYER_KEYS[::2])}, "
                f"{', '.join(PLAYER_ID_KEYS[::2])})"
            )
        player_id = _player_id(player[1], player[0])
        shown = f"{self.options.server}: {_player_name(player[1]) or player_id} {raw_text.strip()}"
        if self.reader.is_panic(command):
            return self._panic(player_id, shown, self._event_time(candidates, context), context)
        status, why = self.reader.status(command)
        if status is None:
            context.notes.name(f"{shown} (ignored: {why})")
            if why != "another integration's command":
                logger.info("erlc event: command sets no status", extra={"reason": why, "player": player_id})
            return []
        at = self._event_time(candidates, context)
        unit = unit_of(context, self.options.server, player_id)
        if unit is not None:
            context.notes.name(f"{shown} -> {unit.unit_id}")
            return [self.rules.unit({"id": unit.unit_id, "status": status}, at, "command")]
        found = newcomer(
            Typed(player_id, status, at), self.options.server, self.options.hold_seconds, context
        )
        target = next((s.id for s in found.signals if isinstance(s, UnitChange)), None)
        context.notes.name(f"{shown} -> {target or found.why or 'held'}")
        return found.signals

    def _panic(self, player_id: str, shown: str, at: datetime, context: AdapterContext) -> list[Signal]:
        """The player's unit's panic, if the roster holds it; else looked up, held or refused."""
        key = press_key(player_id, at)
        unit = unit_of(context, self.options.server, player_id)
        if unit is not None:
            context.notes.name(f"{shown} -> PANIC {unit.unit_id}")
            return [known_unit_panic(unit.unit_id, at, key)]
        typed = Typed(player_id, "", at, panic=key)
        found = newcomer(typed, self.options.server, self.options.hold_seconds, context)
        panicked = next((s.unit for s in found.signals if isinstance(s, Panic)), None)
        if panicked is not None:
            context.notes.name(f"{shown} -> PANIC {panicked}")
        elif found.why.startswith("not an on-duty unit"):
            context.notes.name(f"{shown} (refused: {found.why})")
            logger.warning("erlc event: panic refused", extra={"player": player_id, "reason": found.why})
        else:
            context.notes.name(f"{shown} -> {found.why}")
        return found.signals

    def _event_time(self, candidates: Sequence[Mapping[str, Any]], context: AdapterContext) -> datetime:
        found = _first(candidates, TIME_KEYS)
        if found is not None:
            at = parse_event_time(found[1], found[0])
            if at is not None:
                return at
        stamp = context.headers.get("x-signature-timestamp")
        if stamp and stamp.strip().isdigit():
            return parse_event_time(stamp.strip(), "X-Signature-Timestamp") or context.received_at
        return context.received_at


KIND = AdapterKind(
    options_model=ErlcEventsOptions,
    build=ErlcEventsAdapter,
    needs_state=True,
    acknowledges_unreadable=True,
    sender=SenderFacts(
        docs="docs/sources/erlc.md",
        samples=("erlc_event_command.json",),
        # `relay sign erlc --file events/...`: the server's 911 call, and a `;panic` of unit 1A-12.
        emergency_samples=(("erlc_event_emergency_call.json", "erlc"), ("erlc_event_panic.json", "erlc")),
        example_source="erlc",
        profile_rank=0,
        signature={"scheme": "ed25519"},
        sample_rosters={"main": "erlc_v2_server.json"},
    ),
)
