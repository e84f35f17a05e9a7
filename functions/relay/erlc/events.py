"""The `erlc-events` preset: ER:LC's signed Event Webhook (`ed25519`, PRC's public key).

The game posts in-game chat messages that start with `;` and emergency calls. A
command such as `;10-8` or `;status 10-6` becomes a status change for the unit of the player who
typed it, found in the roster the ER:LC poller keeps (`roster#<server>`). Emergency calls are
logged and skipped for now.

The payload schema is UNCONFIRMED, so it is decoded defensively, like PRC's community Python wrapper
(Fortune1243/erlc-api `src/erlc_api/webhooks.py`) does: the event may sit at the top level or under
Data/Payload/Event; its type under Type/EventType; the text under Command/Message/Content/Text/
ChatMessage; the player as "Name:UserId", a user id, or an object with an id.

PRC asks for a 2xx on every validly signed request, and the game may drop a URL that fails: every
authentic event the adapter cannot act on (an unknown type, an empty probe, a command without a
player, a shape it cannot read) is acknowledged with no change, the reason and the body's keys logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from relay.erlc.held import MAX_HELD_SECONDS
from relay.erlc.newcomers import Typed, newcomer, unit_of
from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.observability import logger
from relay.sources import AdapterContext, AdapterKind, SenderFacts
from relay.sources.fields import FieldRules, FieldText, parse_event_time

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
EMERGENCY_KEYS = ("EmergencyCall", "emergencyCall", "emergency_call", "Emergency", "emergency")


class ErlcEventsOptions(FieldRules):
    server: str = Field(min_length=1, description="the [erlc.servers.NAME] whose roster names the units")
    prefix: str = Field(default=";", min_length=1, max_length=3)
    # `;status 10-6`: these commands take the status as their argument.
    status_commands: list[str] = Field(default_factory=lambda: ["status", "s"])
    # `;10-8`: a command matching this is itself the status.
    status_pattern: str = r"^10-\d{1,3}$"
    # `;avail`: a command name that stands for a status.
    aliases: dict[str, FieldText] = Field(default_factory=dict)
    # When set, any other status is ignored (a player cannot type an arbitrary word onto the MDT).
    allowed_statuses: list[str] | None = None
    # A command from a player the roster does not know yet waits this long for the player's unit
    # (relay.erlc.newcomers): the next poll, or a lookup, that finds it sends the command.
    hold_seconds: int = Field(default=300, ge=10, le=MAX_HELD_SECONDS)

    @field_validator("status_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]


def parse_command(text: str, prefix: str) -> Command | None:
    cleaned = text.strip()
    if not cleaned.startswith(prefix):
        return None
    words = cleaned[len(prefix) :].split()
    return Command(words[0], tuple(words[1:])) if words else None


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


def _looks_like_emergency(candidate: Mapping[str, Any]) -> bool:
    keys = {str(key).lower().replace("_", "") for key in candidate}
    return (
        "team" in keys
        and bool(keys & {"caller", "players"})
        and bool(keys & {"position", "startedat", "callnumber"})
    )


class ErlcEventsAdapter:
    def __init__(self, options: ErlcEventsOptions) -> None:
        self.options = options
        self.status_pattern = re.compile(options.status_pattern)
        self.status_commands = {name.lower() for name in options.status_commands}
        self.aliases = {name.lower(): status for name, status in options.aliases.items()}
        # The status is mapped once, here (read_status); the change is built without mapping it again.
        self.rules = options.model_copy(update={"value_maps": {}})

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
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

    def _read(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        if not payload:
            logger.info("erlc event: empty body accepted (validation probe?)")
            return []
        candidates = _candidates(payload)
        typed = _first(candidates, TYPE_KEYS)
        kind = typed[1] if typed and isinstance(typed[1], str) else None
        normalised_kind = (kind or "").lower().replace("_", "").replace("-", "").replace(" ", "")
        text = _first(candidates, TEXT_KEYS)
        emergency = _first(candidates, EMERGENCY_KEYS) or (
            ("", True) if any(_looks_like_emergency(c) for c in candidates) else None
        )
        if "emergency" in normalised_kind or (text is None and emergency is not None):
            logger.info("erlc event: emergency call skipped (not mapped to units yet)")
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
        said = self.status_of(command)
        status = self.read_status(said) if said is not None else None
        if status is None:
            return []
        return self._change(player_id, status, self._event_time(candidates, context), context)

    def status_of(self, command: Command) -> str | None:
        name = command.name.lower()
        if name in self.status_commands:
            status: str | None = " ".join(command.args) or None
        elif name in self.aliases:
            status = self.aliases[name]
        elif self.status_pattern.fullmatch(command.name):
            status = command.name
        else:
            return None  # another integration's command
        return status

    def read_status(self, typed: str) -> str | None:
        """The status a typed value stands for (`value_maps.status`, `unmapped`), or None to ignore it."""
        table = self.options.value_maps.get("status")
        if table is None:
            return typed
        key = typed.strip()
        if key in table:
            return table[key]
        if self.options.unmapped == "keep":
            return typed
        logger.info("erlc event: status not in value_maps.status", extra={"status": key[:32]})
        return None

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

    def _change(self, player_id: str, status: str, at: datetime, context: AdapterContext) -> list[UnitChange]:
        allowed = self.options.allowed_statuses
        if allowed is not None and status not in allowed:
            logger.info("erlc event: status not allowed", extra={"status": status[:32]})
            return []
        unit = unit_of(context, self.options.server, player_id)
        if unit is None:
            typed = Typed(player_id, status, at)
            return newcomer(typed, self.options.server, self.options.hold_seconds, context)
        return [self.rules.unit({"id": unit.unit_id, "status": status}, at, "command")]


KIND = AdapterKind(
    options_model=ErlcEventsOptions,
    build=ErlcEventsAdapter,
    needs_state=True,
    acknowledges_unreadable=True,
    sender=SenderFacts(
        docs="docs/sources/erlc.md",
        samples=("erlc_event_command.json",),
        example_source="erlc",
        profile_rank=0,
        signature={"scheme": "ed25519"},
        sample_rosters={"main": "erlc_v2_server.json"},
    ),
)
