"""A player's `;` command read as a status, as players type them: pure.

- Case does not matter: `;STATUS Available`, `;Avail`, `;status busy` match `value_maps.status`,
  `aliases` and `allowed_statuses` whatever their case (the status written is the one relay.toml
  spells). This holds for the `erlc-events` source only: people type these by hand, while the other
  senders send values from a fixed list, as they are configured (a map with keys differing only in
  case would become ambiguous there); two keys of one ER:LC map that differ only in case are refused.
- `10-08` is `10-8` (`strip_leading_zeros`, on by default): the zeros after the dash go.
- Trailing words are ignored: `;status 10-6 at scene` is `10-6`. The longest run of leading words that
  names a status wins, so a multi-word key still matches (`;status out of service` with a map key
  `out of service`); an argument that names no known status is taken whole, as before (free text,
  unless `unmapped` or `allowed_statuses` says no). `;10-6 at scene` and `;avail now` are read alike.
- A panic command (`panic_commands`: `;panic` and `;10-33` by default, any case, `;10-033` too) is
  a panic, not a status: it is read before the status pattern would take `;10-33` as a status.
- A command that is neither a status command, an alias nor the status pattern is another
  integration's (`;ban`, `;h`): ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from relay.erlc.held import MAX_HELD_SECONDS
from relay.sources.fields import FieldRules, FieldText

# `10-08` -> `10-8`: the zeros after the dash, when a digit follows them.
LEADING_ZEROS = re.compile(r"^(\d+)-0+(\d)")


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
    # `;10-08` is read as `10-8`.
    strip_leading_zeros: bool = True
    # A command from a player the roster does not know yet waits this long for the player's unit
    # (relay.erlc.newcomers): the next poll, or a lookup, that finds it sends the command.
    hold_seconds: int = Field(default=300, ge=10, le=MAX_HELD_SECONDS)
    # `;panic`, `;10-33`: the typing player's unit panics (a 10-33 on the MDT). [] turns it off.
    panic_commands: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=lambda: ["panic", "10-33"], max_length=10
    )

    @field_validator("status_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _panic_commands_can_be_typed(self) -> ErlcEventsOptions:
        """A panic command a player can type, and only a panic: one written with the prefix (`;panic`)
        or with a space would never match (players' panics silently ignored), one that is also a status
        command or an alias would turn every `;status 10-8` into a panic."""
        others = {_fold(name) for name in [*self.status_commands, *self.aliases]}
        for name in self.panic_commands:
            if name.startswith(self.prefix):
                raise ValueError(
                    f"panic_commands: {name!r} starts with the prefix {self.prefix!r}: "
                    f"write it without it ({name[len(self.prefix) :]!r})"
                )
            if len(name.split()) != 1:
                raise ValueError(
                    f"panic_commands: {name!r} is not one word (a command's name is its first word)"
                )
            if _fold(name) in others:
                raise ValueError(
                    f"panic_commands: {name!r} is also a status command or an alias: "
                    "every status typed with it would be a panic"
                )
        return self

    @model_validator(mode="after")
    def _keys_differ_in_more_than_case(self) -> ErlcEventsOptions:
        for where, keys in (
            ("value_maps.status", list(self.value_maps.get("status", {}))),
            ("aliases", list(self.aliases)),
            ("allowed_statuses", list(self.allowed_statuses or [])),
        ):
            folded: dict[str, str] = {}
            for key in keys:
                other = folded.setdefault(" ".join(key.split()).casefold(), key)
                if other != key:
                    raise ValueError(
                        f"{where}: {other!r} and {key!r} differ only in case (players' case is ignored)"
                    )
        return self

    def statuses(self) -> set[str]:
        """What these commands can set whatever a player types: the mapped and aliased statuses."""
        return super().statuses() | {status for status in self.aliases.values() if status}


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


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


class CommandReader:
    """`status(command)`: the status a command sets, or None and why it sets none."""

    def __init__(self, options: ErlcEventsOptions) -> None:
        self.options = options
        self.pattern = re.compile(options.status_pattern)
        self.status_commands = {_fold(name) for name in options.status_commands}
        self.panic_commands = {self._zeros(_fold(name)) for name in options.panic_commands}
        self.aliases = {_fold(name): status for name, status in options.aliases.items()}
        self.mapped = {_fold(key): status for key, status in options.value_maps.get("status", {}).items()}
        self.has_map = "status" in options.value_maps
        self.allowed = None
        if options.allowed_statuses is not None:
            self.allowed = {_fold(status): status for status in options.allowed_statuses}

    def _zeros(self, text: str) -> str:
        return LEADING_ZEROS.sub(r"\1-\2", text) if self.options.strip_leading_zeros else text

    def _known(self, text: str) -> str | None:
        """The status `text` names (a map key, an alias, the pattern, an allowed status), else None."""
        typed = self._zeros(" ".join(text.split()))
        folded = _fold(typed)
        for table in (self.mapped, self.aliases):
            if folded in table:
                return table[folded]
        if self.pattern.fullmatch(typed):
            return typed
        if self.allowed is not None and folded in self.allowed:
            return self.allowed[folded]
        return None

    def is_panic(self, command: Command) -> bool:
        """Whether the command is a panic (`;panic`, `;PANIC now`, `;10-33`, `;10-033`)."""
        return self._zeros(_fold(command.name)) in self.panic_commands

    def status(self, command: Command) -> tuple[str | None, str]:
        name = _fold(command.name)
        if name in self.status_commands:
            if not command.args:
                return None, "a status command without a status"
            status = self._argument(command.args)
        elif name in self.aliases:
            status = self.aliases[name]
        elif self.pattern.fullmatch(self._zeros(command.name)):
            status = self._zeros(command.name)
        else:
            return None, "another integration's command"
        if status is None:
            return None, "not in value_maps.status"
        return self._allowed(status)

    def _argument(self, args: tuple[str, ...]) -> str | None:
        """The longest leading run of words that names a status; else the whole argument, as typed."""
        for count in range(len(args), 0, -1):
            known = self._known(" ".join(args[:count]))
            if known is not None:
                return known
        if self.has_map and self.options.unmapped != "keep":
            return None
        return self._zeros(" ".join(args))

    def _allowed(self, status: str) -> tuple[str | None, str]:
        if self.allowed is None:
            return status, ""
        spelled = self.allowed.get(_fold(status))
        return (spelled, "") if spelled is not None else (None, "not in allowed_statuses")
