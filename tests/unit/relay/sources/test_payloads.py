"""Every sender read as it really sends: tests/payloads holds, per sender, payloads reconstructed from the
sender's own code or docs (each citing its source in the folder's SOURCES.toml), and each one becomes
exactly the units (and the calls and panics) written beside it, the precise 422, or, while the relay
does not act on it yet (ER:LC's emergencies), an acknowledgement with no unit change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.erlc.roster import build_roster, parse_players
from relay.errors import InvalidPayloadError
from tests.support.payloads import (
    PAYLOADS,
    SIDECAR,
    Folder,
    Payload,
    as_calls,
    as_panics,
    as_units,
    every_payload,
    examples_config,
    folders,
    map_payload,
    sidecar_problems,
)

CONFIG = examples_config()
MAPPED = [(f, p) for f, p in every_payload() if "roster_units" not in p.entry]
ACTED_ON = [(f, p) for f, p in MAPPED if "not_acted_on" not in p.entry]
NOT_ACTED_ON = [(f, p) for f, p in MAPPED if "not_acted_on" in p.entry]
ROSTERS = [(f, p) for f, p in every_payload() if "roster_units" in p.entry]


def ids(cases: list[tuple[Folder, Payload]]) -> list[str]:
    return [payload.id for _, payload in cases]


def test_there_is_a_folder_per_sender_and_each_cites_a_source_for_every_payload() -> None:
    # Given the payload folders / Then each sender has one, and every payload names its public source
    assert {f.name for f in folders()} >= {
        "sonoran",
        "snailycad",
        "typeform",
        "erlc",
        "discord",
        "tally",
        "google-forms",
    }
    problems = [
        problem for path in sorted(PAYLOADS.iterdir()) if path.is_dir() for problem in sidecar_problems(path)
    ]
    assert problems == []
    # And each folder's source is a sender configured in docs/sources/examples.toml
    assert all(folder.source in CONFIG.sources for folder in folders())


def test_a_payload_without_a_source_is_a_problem(tmp_path: Path) -> None:
    # Given a folder whose sidecar forgets one payload, and cites another with nothing public
    folder = tmp_path / "sender"
    folder.mkdir()
    for name in ("cited.json", "uncited.json", "vague.json"):
        (folder / name).write_text("{}", encoding="utf-8")
    (folder / SIDECAR).write_text(
        'source = "x"\n'
        '[payloads."cited.json"]\nfrom = ["https://example.invalid/docs"]\nwhat = "w"\nunits = []\n'
        '[payloads."vague.json"]\nfrom = ["the docs"]\nwhat = "w"\nunits = []\n',
        encoding="utf-8",
    )
    # When it is checked / Then both are named
    assert sidecar_problems(folder) == [
        "sender/uncited.json: no entry in SOURCES.toml",
        "sender/vague.json: `from` 'the docs' is neither a URL nor 'owner/repo path'",
    ]


@pytest.mark.parametrize(("folder", "payload"), ACTED_ON, ids=ids(ACTED_ON))
def test_each_payload_becomes_exactly_its_units(folder: Folder, payload: Payload) -> None:
    # Given a real payload, mapped through its sender's adapter as `relay map` maps it
    if "error" in payload.entry:
        # Then it is the precise 422 written beside it
        with pytest.raises(InvalidPayloadError) as caught:
            map_payload(CONFIG, folder, payload)
        assert caught.value.message.startswith(payload.entry["error"])
        return
    # Then it becomes exactly the units, calls and panics written beside it
    signals = map_payload(CONFIG, folder, payload)
    assert as_units(signals) == payload.entry["units"]
    assert as_calls(signals) == payload.entry.get("calls", [])
    assert as_panics(signals) == payload.entry.get("panics", [])


@pytest.mark.parametrize(("folder", "payload"), NOT_ACTED_ON, ids=ids(NOT_ACTED_ON))
def test_each_payload_not_acted_on_yet_is_acknowledged_with_no_unit_change(
    folder: Folder, payload: Payload
) -> None:
    # Given an event the relay cannot act on (an ER:LC 911 call that names no call number)
    # When it is mapped / Then it is no error (a 2xx to the sender) and changes no unit
    assert map_payload(CONFIG, folder, payload) == []


@pytest.mark.parametrize(("folder", "payload"), ROSTERS, ids=ids(ROSTERS))
def test_each_roster_payload_holds_exactly_its_units(folder: Folder, payload: Payload) -> None:
    # Given the player list a poller reads (what the folder's event payloads look players up in)
    server = CONFIG.erlc.servers[str(CONFIG.sources[folder.source].options["server"])]
    roster = build_roster(parse_players(json.loads(payload.path.read_text(encoding="utf-8"))), server)
    # Then the roster holds exactly those units
    assert sorted(unit.unit_id for unit in roster.values()) == sorted(payload.entry["roster_units"])
