"""`relay doctor`'s checks of the partner: the key accepted, every (MDT, guild) pair linked and its list
of units one the consumer can read whole (relay.northca.wire.read_unit_list: the read the consumer plans
on); where a source sends calls, the calls endpoint answering (a PATCH of a call that does not exist: a
404, nothing applied; panics have no such probe: one would be a real panic). The client is passed in.
"""

from __future__ import annotations

from typing import Any

from relay.config.schema import RelayConfig
from relay.errors import (
    NorthcaAuthError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaNotFoundError,
    NorthcaUnreadableListError,
)
from relay.models import redact
from relay.sources.registry import adapter_kind
from relay_devtools.operations.doctor import Check


def partner_checks(config: RelayConfig, client: Any, base_url: str) -> list[Check]:
    """The key accepted, and every (MDT, guild) pair linked: one read of the list endpoint each."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for name, source in config.sources.items():
        pairs.setdefault((source.mdt_id, source.guild_id), []).append(f"sources.{name}")
    for name, server in config.erlc.servers.items():
        pairs.setdefault((server.mdt_id, server.guild_id), []).append(f"erlc.servers.{name}")
    checks = []
    for (mdt_id, guild_id), users in sorted(pairs.items()):
        who = ", ".join(users)
        try:
            units = client.list_units(mdt_id, guild_id)
        except NorthcaAuthError as exc:
            checks.append(Check("partner", False, f"{base_url} refused the partner key (401 {exc})"))
            break
        except NorthcaForbiddenError as exc:
            detail = f"MDT {mdt_id} is not linked to guild {guild_id} ({exc}); used by {who}"
            checks.append(Check("partner", False, detail))
            continue
        except NorthcaUnreadableListError as exc:
            detail = (
                f"{base_url}: MDT {mdt_id}, guild {guild_id}: {exc}: the consumer writes nothing to this MDT "
                "while its list cannot be read, and the partner-refuses-setup alarm fires (docs/consumer.md)"
            )
            checks.append(Check("partner", False, detail))
            continue
        except NorthcaError as exc:
            checks.append(Check("partner", False, f"{base_url}: MDT {mdt_id}, guild {guild_id}: {exc}"))
            continue
        listed = f"{len(units)} units, every one readable"
        checks.append(
            Check("partner", True, f"key accepted; MDT {mdt_id} linked to guild {guild_id} ({listed}; {who})")
        )
    if not pairs:
        checks.append(Check("partner", True, "no source or ER:LC server to check", warning=True))
    # The client redacts its own errors; the partner's text may still hold the key some other way.
    key = str(getattr(client, "partner_key", ""))
    return [Check(c.name, c.ok, redact(c.detail, key), c.warning) for c in checks]


def emergency_sources(config: RelayConfig) -> dict[str, str]:
    """The sources that may send calls or panics, each with what it sends."""
    found = {}
    for name, source in config.sources.items():
        if source.adapter == "sonoran":
            found[name] = "calls and panics"
            continue
        options = adapter_kind(source.adapter).options_model.model_validate(source.options)
        kinds = [kind for kind in ("calls", "panics") if getattr(options, kind, None) is not None]
        if kinds:
            found[name] = " and ".join(kinds)
    return found


# A call id no sender makes: the probe's PATCH finds nothing, and applies nothing.
PROBE_CALL_ID = "relay-doctor-probe"


def emergency_checks(config: RelayConfig, client: Any, base_url: str) -> list[Check]:
    """Each MDT a source sends calls to: its calls endpoint answers a PATCH of an unknown call with 404."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for name, sends in emergency_sources(config).items():
        source = config.sources[name]
        if "calls" in sends:
            pairs.setdefault((source.mdt_id, source.guild_id), []).append(f"sources.{name}")
    checks = []
    for (mdt_id, guild_id), users in sorted(pairs.items()):
        who = ", ".join(users)
        try:
            client.update_call(mdt_id, guild_id, PROBE_CALL_ID, {})
        except NorthcaNotFoundError as exc:
            if exc.status == 404:
                checks.append(Check("calls", True, f"MDT {mdt_id}: the calls endpoint answers ({who})"))
                continue
            detail = f"{base_url}: MDT {mdt_id} has no PATCH of calls ({exc.status} {exc}); used by {who}"
            checks.append(Check("calls", False, detail))
            continue
        except NorthcaError as exc:
            checks.append(Check("calls", False, f"{base_url}: MDT {mdt_id}, calls: {exc}; used by {who}"))
            continue
        checks.append(Check("calls", True, f"MDT {mdt_id}: the calls endpoint answers ({who})"))
    return checks
