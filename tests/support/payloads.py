"""tests/payloads: real payloads, one folder per sender, each with the source it was reconstructed from.

A folder holds the payloads (`*.json`, the body exactly as the sender posts it) and `SOURCES.toml`:

    source = "sonoran"                 # the [sources.X] of docs/sources/examples.toml that reads them
    roster = "v2_server.json"          # optional (ER:LC): a player list loaded as the server's roster

    [payloads."login.json"]
    from = ["Sonoran-Software/SonoranCAD-Documentation api-integration/push-events/unit-events/unit-login.md"]
    what = "what it is, and anything changed from the source (e.g. an id made to match a login)"
    after = ["other.json"]             # optional: mapped first, on the same source state
    options = { raw_webhook = "..." }  # optional: over the source's options (another URL's config)
    units = [{ id = "A-10", status = "10-6" }]   # the exact unit changes (id and fields), with
    calls = [{ key = "1234", opens = true, location = "..." }]   # optional: the exact call events, and
    panics = [{ unit = "A-10", address = "..." }]                # optional: the exact panics; or
    error = "data[0]...: ..."          # the start of the exact 422, or
    roster_units = ["A-1"]             # (the roster file) the units the poller's roster holds from it
    not_acted_on = "why, and the work that will act on it"   # with units = []: acknowledged (202);
                                                             # on a roster: a part the poller skips

`from` names a public source: a URL, or `owner/repo path` (optionally `path:line` or `(function)`).
Payloads are mapped as `relay map` maps them: the source's adapter built from its relay.toml config,
the body parsed by the ingress' parser, state in memory, no signature check.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.config.loader import build_adapter, load_config
from relay.config.schema import RelayConfig
from relay.erlc.roster import ROSTER_SK, build_roster, dump_roster, parse_players
from relay.ingress.body import parse_json_object
from relay.memory import InMemorySourceStateStore
from relay.models import CallChange, Panic, UnitChange, roster_key
from relay.ports.stores import SourceStateStore
from relay.sources import AdapterContext, Signal
from relay.sources.registry import normalise
from tests.support.constants import NOW, ROOT

PAYLOADS = ROOT / "tests" / "payloads"
EXAMPLES = ROOT / "docs" / "sources" / "examples.toml"
SIDECAR = "SOURCES.toml"
# A public source: an https URL, or "owner/repo path/in/repo" (a line or a function may follow).
CITATION = re.compile(r"^(https://\S+|[A-Za-z0-9][\w.-]*/[\w.-]+ [\w./@\[\]-]+\S*)(\s.*)?$")
OUTCOMES = ("units", "error", "roster_units")
# What a payload may become besides unit changes (issue 18): written beside `units`.
EMERGENCIES = ("calls", "panics")


@dataclass(frozen=True)
class Payload:
    folder: str
    name: str
    entry: dict[str, Any]

    @property
    def path(self) -> Path:
        return PAYLOADS / self.folder / self.name

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.name}"


@dataclass(frozen=True)
class Folder:
    name: str
    source: str
    roster: str | None
    payloads: dict[str, Payload] = field(default_factory=dict)


def sidecar_problems(folder: Path) -> list[str]:
    """What is wrong with a folder's sidecar: a payload without a source, a source without a payload,
    a citation that names nothing public, an entry that says neither what it becomes nor why not."""
    sidecar = folder / SIDECAR
    if not sidecar.exists():
        return [f"{folder.name}: no {SIDECAR}"]
    data = tomllib.loads(sidecar.read_text(encoding="utf-8"))
    entries: dict[str, Any] = data.get("payloads", {})
    files = {path.name for path in folder.glob("*.json")}
    problems = [f"{folder.name}/{name}: no entry in {SIDECAR}" for name in sorted(files - set(entries))]
    problems += [f"{folder.name}/{name}: in {SIDECAR}, no such file" for name in sorted(set(entries) - files)]
    if not isinstance(data.get("source"), str):
        problems.append(f"{folder.name}: {SIDECAR} names no `source` of docs/sources/examples.toml")
    for name, entry in sorted(entries.items()):
        cited = entry.get("from")
        if not isinstance(cited, list) or not cited:
            problems.append(f"{folder.name}/{name}: no `from` (the public source it was reconstructed from)")
        else:
            problems += [
                f"{folder.name}/{name}: `from` {text!r} is neither a URL nor 'owner/repo path'"
                for text in cited
                if not isinstance(text, str) or not CITATION.match(text)
            ]
        if not isinstance(entry.get("what"), str) or not entry["what"].strip():
            problems.append(f"{folder.name}/{name}: no `what`")
        outcomes = [key for key in OUTCOMES if key in entry]
        if len(outcomes) != 1:
            problems.append(f"{folder.name}/{name}: exactly one of {', '.join(OUTCOMES)} expected")
        if "not_acted_on" in entry and "roster_units" not in entry and entry.get("units") != []:
            problems.append(f"{folder.name}/{name}: not acted on, so `units = []` (acknowledged) expected")
        if "not_acted_on" in entry and any(key in entry for key in EMERGENCIES):
            problems.append(f"{folder.name}/{name}: not acted on, so no `calls` or `panics` expected")
        if ("roster_units" in entry) != (name == data.get("roster")):
            problems.append(f"{folder.name}/{name}: `roster_units` belongs to the folder's `roster` alone")
        problems += [
            f"{folder.name}/{name}: `after` names {other!r}, not a payload of this folder"
            for other in entry.get("after", [])
            if other not in entries
        ]
    return problems


def folders() -> list[Folder]:
    found = []
    for path in sorted(p for p in PAYLOADS.iterdir() if p.is_dir()):
        data = (
            tomllib.loads((path / SIDECAR).read_text(encoding="utf-8")) if (path / SIDECAR).exists() else {}
        )
        folder = Folder(path.name, str(data.get("source", "")), data.get("roster"))
        for name, entry in data.get("payloads", {}).items():
            folder.payloads[name] = Payload(path.name, name, entry)
        found.append(folder)
    return found


def every_payload() -> list[tuple[Folder, Payload]]:
    return [(folder, payload) for folder in folders() for payload in folder.payloads.values()]


def examples_config() -> RelayConfig:
    return load_config(EXAMPLES)


def map_body(
    config: RelayConfig, source_name: str, body: bytes, store: SourceStateStore, options: dict[str, Any]
) -> list[Signal]:
    """What the source's adapter makes of the body, as `relay map` runs it (options over the source's)."""
    source = config.sources[source_name]
    if options:
        source = source.model_copy(update={"options": {**source.options, **options}})
    adapter, _ = build_adapter(source_name, source)
    context = AdapterContext(source=source_name, received_at=NOW, headers={}, state=store)
    signals = normalise(adapter, parse_json_object(body), context)
    return [*signals, *context.notes.signals()]  # and what it relays (an ER:LC call is the server's)


def load_roster(config: RelayConfig, folder: Folder, store: SourceStateStore) -> None:
    """The folder's roster payload stored as the poller would store it, for the server the source reads."""
    if folder.roster is None:
        return
    server_name = str(config.sources[folder.source].options["server"])
    players = parse_players(json.loads((PAYLOADS / folder.name / folder.roster).read_text(encoding="utf-8")))
    roster = build_roster(players, config.erlc.servers[server_name])
    store.put(roster_key(server_name), ROSTER_SK, dump_roster(roster))


def map_payload(config: RelayConfig, folder: Folder, payload: Payload) -> list[Signal]:
    """The payload's signals, after the payloads it follows, on one in-memory source state."""
    store = InMemorySourceStateStore()
    load_roster(config, folder, store)
    for earlier in payload.entry.get("after", []):
        before = folder.payloads[earlier]
        map_body(config, folder.source, before.path.read_bytes(), store, before.entry.get("options", {}))
    return map_body(config, folder.source, payload.path.read_bytes(), store, payload.entry.get("options", {}))


def as_units(signals: list[Signal]) -> list[dict[str, Any]]:
    """Unit changes as the sidecars write them: the id and every field the change sets."""
    return [{"id": change.id, **change.fields} for change in signals if isinstance(change, UnitChange)]


def as_calls(signals: list[Signal]) -> list[dict[str, Any]]:
    """Call events as the sidecars write them: the key, whether it opens, the creator, every field."""
    return [
        {"key": call.key, "opens": call.opens}
        | ({"created_by": call.created_by} if call.created_by else {})
        | call.fields
        for call in signals
        if isinstance(call, CallChange)
    ]


def as_panics(signals: list[Signal]) -> list[dict[str, Any]]:
    """Panics as the sidecars write them: the unit, and the press's key and address when it has them."""
    return [
        {"unit": panic.unit}
        | ({"key": panic.key} if panic.key else {})
        | ({"address": panic.address} if panic.address else {})
        for panic in signals
        if isinstance(panic, Panic)
    ]
