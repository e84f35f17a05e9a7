"""`relay map`: the changes a payload would become, or the precise error, without signatures or AWS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relay.errors import InvalidPayloadError
from relay.memory import InMemorySourceStateStore
from relay_devtools.cli import main
from relay_devtools.webhooks.dry_run import MapError, map_payload
from tests.support.constants import EVENTS, NOW, ROOT

CONFIG = """
[northca]
partner_key_secret = "northca/partner-key"

[sources.board]
adapter = "mapping"
mdt_id = "mdt-1"
guild_id = "123456789012345678"
signature = { scheme = "url-token", secret = "relay/sources/board" }
delivery_id_path = "delivery"

[sources.board.options]
units = "rows"
fields = { id = "cs", status = "st" }
value_maps = { status = { "2" = "10-8" } }

[sources.sonoran]
adapter = "sonoran"
mdt_id = "mdt-1"
guild_id = "123456789012345678"
signature = { scheme = "body-key", secret = "relay/sources/sonoran" }

[sources.erlc]
adapter = "erlc-events"
mdt_id = "mdt-1"
guild_id = "123456789012345678"
signature = { scheme = "ed25519", secret = "relay/sources/erlc" }
options = { server = "main" }

[erlc.servers.main]
server_key_secret = "relay/erlc/main"
mdt_id = "mdt-1"
guild_id = "123456789012345678"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(CONFIG)
    return path


def relay_map(config_file: Path, *args: str) -> int:
    return main(["--config", str(config_file), "map", *args, "--received-at", NOW.isoformat()])


def test_map_prints_the_messages_the_relay_would_enqueue(config_file: Path, tmp_path: Path, capsys) -> None:
    # Given a payload file for a mapping source
    payload = tmp_path / "board.json"
    payload.write_text(json.dumps({"rows": [{"cs": "A-1", "st": 2}]}))
    # When `relay map` runs
    code = relay_map(config_file, "board", str(payload))
    # Then it prints the queue message with the mapped change
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["messages"] == [
        {
            "v": 1,
            "source": "board",
            "mdt_id": "mdt-1",
            "guild_id": "123456789012345678",
            "actor": None,
            "webhook_id": None,
            "received_at": "2026-11-28T12:00:00.000Z",
            "changes": [{"id": "A-1", "at": "2026-11-28T12:00:00.000Z", "fields": {"status": "10-8"}}],
        }
    ]


def test_map_runs_payloads_in_order_against_one_store(config_file: Path, capsys) -> None:
    # A Sonoran login followed by a status change: the second needs what the first remembered
    code = relay_map(
        config_file,
        "sonoran",
        str(EVENTS / "sonoran_unit_login.json"),
        str(EVENTS / "sonoran_unit_status.json"),
    )
    out = capsys.readouterr().out
    results = [json.loads(chunk) for chunk in out.replace("}\n{", "}\n\x00{").split("\x00")]
    assert code == 0
    assert [r["messages"][0]["changes"][0]["fields"].get("status") for r in results] == ["10-8", "10-76"]


def test_map_erlc_events_with_a_roster_file(config_file: Path, capsys) -> None:
    code = relay_map(
        config_file,
        "erlc",
        str(EVENTS / "erlc_event_command.json"),
        "--roster",
        f"main={EVENTS / 'erlc_v2_server.json'}",
    )
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["messages"][0]["changes"][0]["id"] == "1A-12"


def test_map_prints_the_precise_error_and_fails(config_file: Path, tmp_path: Path, capsys) -> None:
    payload = tmp_path / "bad.json"
    payload.write_text(json.dumps({"rows": [{"st": 2}]}))
    assert relay_map(config_file, "board", str(payload)) == 1
    assert (
        capsys.readouterr().err
        == f"relay map: {payload}: 422 units[0].id: no unit id (the expression gave nothing)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "x.json"], "relay map: no source 'nope' in the config (sources: board, erlc, sonoran)"),
        (["board", "/no/such/file.json"], "relay map: /no/such/file.json: No such file or directory"),
        (["erlc", "x.json", "--roster", "main"], "relay map: --roster 'main': expected SERVER=FILE"),
        (
            ["erlc", "x.json", "--roster", "other=x.json"],
            "relay map: --roster: no [erlc.servers.other] in the config",
        ),
    ],
)
def test_map_usage_errors(config_file: Path, capsys, args: list[str], message: str) -> None:
    assert relay_map(config_file, *args) == 2
    assert capsys.readouterr().err.strip() == message


def test_map_payload_is_the_ingress_path_without_the_signature(config_file: Path) -> None:
    from relay.config.loader import load_config

    config = load_config(config_file)
    with pytest.raises(InvalidPayloadError, match=r"body: not valid JSON"):
        map_payload(config, "board", b"{", store=InMemorySourceStateStore())
    with pytest.raises(MapError):
        map_payload(config, "missing", b"{}")
    assert map_payload(config, "board", b'{"rows": []}', received_at=NOW) == []


def test_map_the_shipped_relay_toml_loads(capsys: Any) -> None:
    # The commented examples in relay.toml must keep the file valid
    assert main(["--config", str(ROOT / "relay.toml"), "map", "cad", str(EVENTS / "discord_embed.json")]) == 1
    assert "422 body: expected an object { units: [...] }" in capsys.readouterr().err


def test_map_warns_about_a_source_without_replay_protection(config_file: Path, capsys) -> None:
    # Given a source whose scheme signs no timestamp and which sets no delivery_id_path (Sonoran here)
    code = relay_map(config_file, "sonoran", str(EVENTS / "sonoran_unit_login.json"))
    # Then the dry run still prints its messages, and says on stderr what the source lacks
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["messages"]
    assert err == (
        "relay map: warning: sources.sonoran: body-key signs no timestamp and no delivery_id_path is set: "
        "a captured delivery sent again is queued again (docs/security.md, Replay window); "
        'replay_protection = "none" acknowledges it\n'
    )


def test_map_does_not_warn_about_a_source_with_a_delivery_id(
    config_file: Path, tmp_path: Path, capsys
) -> None:
    payload = tmp_path / "board.json"
    payload.write_text(json.dumps({"delivery": "d-1", "rows": [{"cs": "A-1", "st": 2}]}))
    assert relay_map(config_file, "board", str(payload)) == 0
    assert capsys.readouterr().err == ""
