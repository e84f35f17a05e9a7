"""The one checked loader of relay.toml: the schema (relay.config.schema), then every source's options
against its adapter kind (relay.sources.registry), then the references between sections. Every function
and tool reads its config through `load_config`; an error names the file, the key and what was expected.
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from relay.config.schema import RelayConfig, SourceConfig
from relay.errors import ConfigError, describe_validation_error
from relay.sources import Adapter, AdapterKind
from relay.sources.fields import FieldRules
from relay.sources.registry import KINDS, CappedAdapter, adapter_kind


def validate_adapter_options(name: str, adapter: str, options: dict[str, Any], origin: str) -> BaseModel:
    if adapter not in KINDS:
        expected = ", ".join(repr(k) for k in sorted(KINDS))
        raise ConfigError(f"{origin}: sources.{name}.adapter: expected one of {expected}, got {adapter!r}")
    try:
        return adapter_kind(adapter).options_model.model_validate(options)
    except ValidationError as exc:
        prefix = f"sources.{name}.options"
        raise ConfigError(describe_validation_error(exc, prefix=prefix, origin=origin, limit=None)) from None


def build_adapter(name: str, source: SourceConfig) -> tuple[Adapter, AdapterKind]:
    options = validate_adapter_options(name, source.adapter, source.options, "relay.toml")
    kind = adapter_kind(source.adapter)
    max_units = getattr(options, "max_units", None)
    adapter = kind.build(options)
    return (CappedAdapter(adapter, max_units) if isinstance(max_units, int) else adapter), kind


def stateful_sources(config: RelayConfig) -> list[str]:
    """The sources whose adapter keeps state in the source-state store."""
    return sorted(name for name, s in config.sources.items() if adapter_kind(s.adapter).needs_state)


def check_config(config: RelayConfig, origin: str = "relay.toml") -> RelayConfig:
    """Every source's options against its kind, and the references between sections."""
    for name, source in config.sources.items():
        validate_adapter_options(name, source.adapter, source.options, origin)
        server = source.options.get("server") if source.adapter == "erlc-events" else None
        if isinstance(server, str) and server not in config.erlc.servers:
            raise ConfigError(
                f"{origin}: sources.{name}.options.server: no [erlc.servers.{server}] in this file"
            )
        settings = config.erlc.servers.get(server) if isinstance(server, str) else None
        if settings is not None and (settings.mdt_id, settings.guild_id) != (source.mdt_id, source.guild_id):
            # Its commands name the units the roster put in the server's MDT, and its emergency calls
            # are the server's calls, which the poll opens and closes there (docs/sources/erlc.md).
            raise ConfigError(
                f"{origin}: sources.{name}: mdt_id and guild_id must be those of [erlc.servers.{server}] "
                f"({settings.mdt_id}, {settings.guild_id}): the game's units and calls live in one MDT"
            )
    return config


def status_warnings(config: RelayConfig) -> list[str]:
    """A status one source of an MDT can set that another source's `allowed_statuses` refuses (Sonoran's
    ENROUTE is 10-76; an ER:LC allow-list without it): players could not type a status the MDT shows.
    A warning, not an error: an admin may mean it."""
    produced: list[tuple[str, str, set[str]]] = []  # (where, MDT, statuses)
    for name, source in config.sources.items():
        options = validate_adapter_options(name, source.adapter, source.options, "relay.toml")
        if isinstance(options, FieldRules):
            produced.append((f"sources.{name}", source.mdt_id, options.statuses()))
    for name, server in config.erlc.servers.items():
        duty = {server.on_duty_status, server.off_duty_status}
        produced.append((f"erlc.servers.{name}", server.mdt_id, duty))
    warnings = []
    for name, source in config.sources.items():
        allowed = source.options.get("allowed_statuses")
        if not isinstance(allowed, list):
            continue
        accepted = {" ".join(str(status).split()).casefold() for status in allowed}
        for where, mdt_id, statuses in produced:
            refused = sorted(s for s in statuses if " ".join(s.split()).casefold() not in accepted)
            if where != f"sources.{name}" and mdt_id == source.mdt_id and refused:
                shown = ", ".join(map(repr, refused))
                warnings.append(
                    f"sources.{name}.options.allowed_statuses: refuses {shown}, which {where} can set: "
                    "a player cannot type a status the MDT may show"
                )
    return warnings


def config_warnings(config: RelayConfig) -> list[tuple[str, str]]:
    """Every warning relay.toml deserves, as (what, the warning): sources without replay protection,
    statuses one source sets and another refuses. `relay doctor` shows them; the ingress logs them once."""
    return [("relay.toml: source without replay protection", w) for w in config.replay_warnings()] + [
        ("relay.toml: a status one source sets another refuses", w) for w in status_warnings(config)
    ]


def parse_config(data: dict[str, Any], origin: str = "relay.toml") -> RelayConfig:
    return check_config(parse_schema(data, origin), origin)


def load_config(path: str | Path) -> RelayConfig:
    """relay.toml read, its schema validated and checked against the adapters: the one loader."""
    return parse_config(read_toml(path), origin=str(path))


def parse_schema(data: dict[str, Any], origin: str = "relay.toml") -> RelayConfig:
    """The config's shape checked; adapter options and cross-checks are relay.sources.registry's."""
    try:
        return RelayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, origin=origin, top="(top level)", limit=None)
        ) from None


# No config or secrets file comes near this: a larger one is a wrong path, not a file to read.
MAX_TOML_BYTES = 1024 * 1024


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file's table; a ConfigError naming the file for anything unreadable (`what` it should be).
    Only a regular file is read: a FIFO or a device would be read forever."""
    path = Path(path)
    try:
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(status.st_mode):
            raise ConfigError(f"{path}: not a regular file (a pipe or a device is never a {what})")
        if status.st_size > MAX_TOML_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_TOML_BYTES // 1024} KiB: not a {what}")
        # utf-8-sig: a byte-order mark (Windows Notepad saves one) is not TOML, but is no reason to refuse
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a {what}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
