"""The recovery commands' own logic: their times, which guilds an MDT is in, what their lines say, and
what they answer with nothing to act on."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.config.schema import RelayConfig
from relay.consumer.preview import PreviewRow
from relay_devtools.cli import main
from relay_devtools.commands.replay import instant
from relay_devtools.recovery.render import preview_lines, summary
from relay_devtools.recovery.resync import guilds_of
from tests.support.constants import GUILD, MDT, OTHER_MDT
from tests.support.data import base_config_data

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_recovery_until_is_a_duration_ago_or_a_time() -> None:
    assert instant("30m", NOW) == NOW - timedelta(minutes=30)
    assert instant("2026-12-06T10:00:00", NOW) == datetime(2026, 12, 6, 10, tzinfo=UTC)  # UTC by default
    assert instant("2026-12-06T10:00:00+02:00", NOW) == datetime(2026, 12, 6, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        instant("yesterday", NOW)


def test_recovery_an_mdts_guilds_are_every_source_and_servers() -> None:
    data = base_config_data()
    data["sources"]["forms"] = {**data["sources"]["cad"], "guild_id": "987654321098765432"}
    data["sources"]["other"] = {**data["sources"]["cad"], "mdt_id": OTHER_MDT}
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "k", "mdt_id": MDT, "guild_id": "555555555555555555"}}
    }
    config = RelayConfig.model_validate(data)
    assert guilds_of(config, MDT) == sorted([GUILD, "987654321098765432", "555555555555555555"])
    assert guilds_of(config, "no-such-mdt") == []


def test_recovery_preview_lines_say_each_change_and_why_a_field_stays() -> None:
    rows = [
        PreviewRow(MDT, GUILD, "ADAM-12", "create", {"status": ("", "10-8")}, {"status": "reasserted"}),
        PreviewRow(MDT, GUILD, "T-1", "no change", {}, {"status": "superseded", "rank": "kept"}),
        PreviewRow(MDT, GUILD, "X\x1b[2J", "write", {"rank": ("PO", "SGT")}, {"rank": "written"}),
    ]
    assert preview_lines(rows) == [
        "  ADAM-12  create  status: '' -> '10-8'",
        "  T-1  no change  (stays: rank kept, status superseded)",
        "  X\\x1b[2J  write  rank: 'PO' -> 'SGT'",
    ]
    assert summary(rows) == "1 to create, 1 to write, 1 unchanged"


def test_recovery_commands_without_a_relay_to_act_on_say_what_to_give(tmp_path: Path) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        codes = [
            main(["inspect", "msg_1", "--local-state", str(tmp_path / "none.json")]),
            main(["resync", "--mdt", MDT, "--local-state", str(tmp_path / "none.json")]),
            main(["replay", "msg_1", "--local-state", str(tmp_path / "none.json")]),
        ]
    assert codes == [1, 1, 1]
    assert err.getvalue().count("give --stack NAME, or run it in the folder where `relay local` runs") == 3


def test_recovery_replay_needs_an_id_or_a_source_and_since() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["replay", "--source", "cad"]) == 2
        assert main(["replay", "--source", "cad", "--since", "yesterday"]) == 2
    assert "name a webhook id, or --source and --since" in err.getvalue()
    assert "'yesterday' is not a duration (30m, 2h, 1d) nor a time" in err.getvalue()


def test_recovery_a_replay_takes_an_archived_messages_unit_changes_only() -> None:
    from relay.messages import QueueMessage
    from relay.models import UnitChange
    from relay_devtools.recovery.replay import unit_changes_of

    message = QueueMessage(
        source="cad",
        mdt_id=MDT,
        guild_id=GUILD,
        webhook_id="w1",
        received_at=NOW,
        changes=[UnitChange(id="ADAM-12", at=NOW, fields={"status": "10-8"})],
    )
    data = json.loads(message.body())
    # Another signal beside the changes (a panic) is never sent again; a message of only that is skipped
    assert unit_changes_of(json.dumps(data | {"panics": [{"unit": "ADAM-12"}]})) == message
    assert (
        unit_changes_of(json.dumps({k: v for k, v in data.items() if k != "changes"} | {"calls": [{}]}))
        is None
    )
    with pytest.raises(ValueError):
        unit_changes_of("[1]")


def test_recovery_inspect_shows_the_calls_and_panics_a_webhook_became() -> None:
    from relay.messages import QueueMessage
    from relay.models import CallChange, Panic
    from relay.ports.archive import ArchivedDelivery
    from relay_devtools.recovery.inspect import message_lines

    # Given a Sonoran 911 call and a panic, archived as the ingress queued them
    call = QueueMessage(
        source="sonoran",
        mdt_id=MDT,
        guild_id=GUILD,
        webhook_id="request:r1",
        received_at=NOW,
        calls=[CallChange(key="1234", at=NOW, fields={"description": "Two cars on fire"})],
    )
    panic = call.model_copy(
        update={"calls": [], "panics": [Panic(unit="A-10", at=NOW, address="Sandy Shores")]}
    )
    record = ArchivedDelivery(
        "sonoran", NOW, "accepted", webhook_id="request:r1", messages=(call.body(), panic.body())
    )
    # When relay inspect shows what it became
    lines = message_lines(record)
    # Then the call and the panic are named, not just counted
    assert f"      call 1234  at {NOW.isoformat()}  description='Two cars on fire'" in lines
    assert f"      panic A-10  at {NOW.isoformat()}  address='Sandy Shores'" in lines
