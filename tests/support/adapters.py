"""Every adapter kind with a real-shaped body, and the places in it a sender controls (its event time,
its unit id), so the hostile-value suites can put their values exactly there."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relay.config.schema import ErlcServerConfig
from relay.erlc.roster import ROSTER_SK, build_roster, dump_roster, parse_players
from relay.models import UnitChange
from relay.ports.stores import SourceStateStore
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind
from tests.support.constants import GUILD, MDT, NOW
from tests.support.data import load_event

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class AdapterSample:
    """An adapter, the options a source would give it, a body it turns into units, and where in that
    body the event time and the unit id are (None: the adapter takes none from the body), with the
    location its 422 names for each."""

    adapter: str
    body: Callable[[], dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    time_at: Path | None = None
    time_where: str = ""
    id_at: Path | None = None
    id_where: str = ""


def _mapping_body() -> dict[str, Any]:
    return {
        "data": {"units": [{"callsign": "ADAM-12", "status": "10-8", "updated_at": "2026-11-28T11:59:50Z"}]}
    }


SAMPLES: dict[str, AdapterSample] = {
    sample.adapter: sample
    for sample in (
        AdapterSample(
            "units",
            lambda: load_event("units_body.json"),
            time_at=("units", 0, "at"),
            time_where="units.0.at",
            id_at=("units", 0, "id"),
            id_where="units.0.id",
        ),
        AdapterSample(
            "mapping",
            _mapping_body,
            options={
                "units": "data.units",
                "at": "updated_at",
                "fields": {"id": "callsign", "status": "status"},
            },
            time_at=("data", "units", 0, "updated_at"),
            time_where="units[0].at",
            id_at=("data", "units", 0, "callsign"),
            id_where="units[0].id",
        ),
        AdapterSample(
            "discord",
            lambda: load_event("discord_embed.json"),
            time_at=("embeds", 0, "timestamp"),
            time_where="units[0].at",
            id_at=("embeds", 0, "fields", 0, "value"),
            id_where="units[0].id",
        ),
        AdapterSample(
            "google-forms",
            lambda: load_event("google_forms_submission.json"),
            time_at=("submitted_at",),
            time_where="units[0].at",
            id_at=("answers", 0, "response"),
            id_where="units[0].id",
        ),
        AdapterSample(
            "typeform",
            lambda: load_event("typeform_response.json"),
            time_at=("form_response", "submitted_at"),
            time_where="form_response.submitted_at",
            id_at=("form_response", "answers", 0, "text"),
            id_where="form_response.answers[0]",
        ),
        AdapterSample(
            "tally",
            lambda: load_event("tally_response.json"),
            time_at=("data", "createdAt"),
            time_where="data.createdAt",
            id_at=("data", "fields", 0, "value"),
            id_where="data.fields[0].value",
        ),
        AdapterSample(
            "snailycad",
            lambda: load_event("snailycad_unit_status.json"),
            # A callsign template of the first callsign alone: the id is exactly what the body says.
            options={"callsign_template": "{callsign1}"},
            time_at=("updatedAt",),
            time_where="units[0].at",
            id_at=("callsign",),
            id_where="units[0].id",
        ),
        AdapterSample(
            "sonoran",
            lambda: load_event("sonoran_unit_login.json"),
            id_at=("data", 0, "unit", "data", "unitNum"),
            id_where="data[0].unit.data.id",
        ),
        # Its unit ids come from the poller's roster, not from the body.
        AdapterSample(
            "erlc-events",
            lambda: load_event("erlc_event_command.json"),
            options={"server": "main"},
            time_at=("Timestamp",),
            time_where="Timestamp",
        ),
    )
}


def with_value(body: dict[str, Any], at: Path, value: Any) -> dict[str, Any]:
    """A deep copy of `body` with `value` put at `at`."""
    changed = copy.deepcopy(body)
    target: Any = changed
    for key in at[:-1]:
        target = target[key]
    target[at[-1]] = value
    return changed


ERLC_SERVER = ErlcServerConfig(server_key_secret="relay/erlc/main", mdt_id=MDT, guild_id=GUILD)


def store_roster(store: SourceStateStore, server: str = "main") -> None:
    """The roster the poller would store from events/erlc_v2_server.json."""
    roster = build_roster(parse_players(load_event("erlc_v2_server.json")), ERLC_SERVER)
    store.put(f"roster#{server}", ROSTER_SK, dump_roster(roster))


def run_adapter(sample: AdapterSample, body: Any, store: SourceStateStore | None = None) -> list[UnitChange]:
    """The sample's adapter, built from its options, on `body` (state in `store` for the stateful kinds)."""
    kind = adapter_kind(sample.adapter)
    adapter = kind.build(kind.options_model.model_validate(sample.options))
    return adapter.normalise(body, AdapterContext(source=sample.adapter, received_at=NOW, state=store))


class CountingStateStore:
    """relay.ports.stores.SourceStateStore around another, counting its calls: the work a request caused."""

    def __init__(self, store: SourceStateStore) -> None:
        self.store = store
        self.calls = {"get": 0, "put": 0, "delete": 0}

    def get(self, pk: str, sk: str) -> Any | None:
        self.calls["get"] += 1
        return self.store.get(pk, sk)

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.calls["put"] += 1
        self.store.put(pk, sk, value, ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        self.calls["delete"] += 1
        self.store.delete(pk, sk)

    @property
    def total(self) -> int:
        return sum(self.calls.values())
