"""`;` commands read as players type them (relay.erlc.commands), and relay.toml's check of statuses one
source sets that another source's allow-list refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.config.loader import parse_config, status_warnings
from relay.erlc.commands import CommandReader, ErlcEventsOptions, parse_command
from relay.errors import ConfigError
from tests.support.constants import GUILD, MDT


def read(text: str, **options: Any) -> str | None:
    reader = CommandReader(ErlcEventsOptions(server="main", **options))
    command = parse_command(text, ";")
    assert command is not None
    return reader.status(command)[0]


MAPPED = {
    "value_maps": {"status": {"available": "10-8", "Out of Service": "10-7"}},
    "aliases": {"busy": "10-6"},
}


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (";status Available", "10-8"),
        (";STATUS AVAILABLE", "10-8"),
        (";s available now", "10-8"),
        (";Busy", "10-6"),
        (";busy at the bank", "10-6"),
        (";status busy", "10-6"),
        (";status out of service", "10-7"),
        (";status OUT OF SERVICE for the night", "10-7"),
        (";10-08", "10-8"),
        (";status 10-08", "10-8"),
        (";10-097", "10-97"),
        (";status 10-6 at scene", "10-6"),
        (";10-6 at scene", "10-6"),
        (";status Code 4", "Code 4"),  # free text, as before, with no allow-list and `unmapped = "keep"`
    ],
)
def test_commands_read_as_players_type_them(text: str, status: str) -> None:
    assert read(text, **MAPPED) == status


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (";ban Lindqvist", "another integration's command"),
        (";h hello", "another integration's command"),
        (";status", "a status command without a status"),
    ],
)
def test_commands_that_set_no_status_say_why(text: str, why: str) -> None:
    command = parse_command(text, ";")
    assert command is not None
    assert CommandReader(ErlcEventsOptions(server="main")).status(command) == (None, why)


def test_commands_leading_zeros_kept_when_asked() -> None:
    assert read(";10-08", strip_leading_zeros=False) == "10-08"


def test_commands_an_allow_list_refuses_others_and_gives_its_own_spelling() -> None:
    allowed = {"allowed_statuses": ["10-6", "10-8", "Busy"]}
    assert read(";10-76", **allowed) is None
    assert read(";status 10-76 en route", **allowed) is None
    assert read(";status BUSY", **allowed) == "Busy"
    assert read(";10-08", **allowed) == "10-8"
    command = parse_command(";10-76", ";")
    assert command is not None
    assert CommandReader(ErlcEventsOptions(server="main", **allowed)).status(command) == (
        None,
        "not in allowed_statuses",
    )


def test_commands_an_unmapped_value_is_ignored_when_the_map_says_so() -> None:
    options = {"value_maps": {"status": {"available": "10-8"}}, "unmapped": "omit"}
    assert read(";status sleepy", **options) is None
    assert read(";status Available", **options) == "10-8"
    assert read(";10-6", **options) == "10-6"  # the pattern is a status of its own


@pytest.mark.parametrize(
    "options",
    [
        {"value_maps": {"status": {"Available": "10-8", "available": "10-6"}}},
        {"aliases": {"busy": "10-6", "BUSY": "10-7"}},
    ],
)
def test_commands_keys_that_differ_only_in_case_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="differ only in case"):
        ErlcEventsOptions(server="main", **options)


WORDS = st.text(alphabet=st.characters(categories=("L", "N", "P")), min_size=1, max_size=12)


@given(code=st.integers(0, 999), zeros=st.integers(0, 2), trailing=st.lists(WORDS, max_size=4))
def test_commands_property_trailing_words_never_change_a_ten_code(
    code: int, zeros: int, trailing: list[str]
) -> None:
    typed = f"10-{'0' * zeros}{code}"
    if len(f"{'0' * zeros}{code}") > 3:
        return  # beyond the pattern's three digits: not a ten-code
    for text in (f";{typed} {' '.join(trailing)}", f";status {typed} {' '.join(trailing)}"):
        assert read(text) == f"10-{code}"


# ------------------------------------------------------------------ relay.toml's cross-check


def config(**erlc_options: Any) -> Any:
    return parse_config(
        {
            "northca": {"partner_key_secret": "k"},
            "erlc": {"servers": {"main": {"server_key_secret": "e", "mdt_id": MDT, "guild_id": GUILD}}},
            "sources": {
                "erlc": {
                    "adapter": "erlc-events",
                    "mdt_id": MDT,
                    "guild_id": GUILD,
                    "signature": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
                    "options": {"server": "main", **erlc_options},
                },
                "sonoran": {
                    "adapter": "sonoran",
                    "mdt_id": MDT,
                    "guild_id": GUILD,
                    "signature": {"scheme": "body-key", "secret": "relay/sources/sonoran"},
                },
            },
        }
    )


def test_config_warns_when_the_cad_sets_a_status_players_may_not_type() -> None:
    # Given an ER:LC allow-list without 10-76, while Sonoran's ENROUTE is 10-76 on the same MDT
    warnings = status_warnings(config(allowed_statuses=["10-6", "10-7", "10-8", "10-97"]))
    # Then relay.toml is warned about it (doctor and the ingress's first request show it)
    assert warnings == [
        "sources.erlc.options.allowed_statuses: refuses '10-76', which sources.sonoran can set: "
        "a player cannot type a status the MDT may show"
    ]


def test_config_no_warning_when_the_allow_list_takes_every_status_the_others_set() -> None:
    assert status_warnings(config(allowed_statuses=["10-6", "10-7", "10-8", "10-76", "10-97"])) == []
    assert status_warnings(config()) == []


def test_config_warns_about_the_rosters_own_statuses_too() -> None:
    warnings = status_warnings(config(allowed_statuses=["10-6", "10-76", "10-97", "10-8"]))
    assert [w.split(", which ")[1].split(" can")[0] for w in warnings] == [
        "sources.sonoran",
        "erlc.servers.main",
    ]


def test_config_an_erlc_events_source_sending_to_another_mdt_than_its_server_is_refused() -> None:
    # Its commands name the roster's units and its emergency calls are the server's: one MDT for both
    data = config().model_dump(mode="json", exclude_none=True)
    data["sources"]["erlc"]["guild_id"] = "999999999999999999"
    with pytest.raises(
        ConfigError, match=r"sources.erlc: mdt_id and guild_id must be those of \[erlc.servers.main\]"
    ):
        parse_config(data)


def test_commands_panic_commands_any_case_and_zeros_and_never_a_status() -> None:
    reader = CommandReader(ErlcEventsOptions(server="main"))
    for text in (";panic", ";PANIC help", ";10-33", ";10-033"):
        command = parse_command(text, ";")
        assert command is not None and reader.is_panic(command), text
    command = parse_command(";10-32", ";")
    assert command is not None and not reader.is_panic(command)


def test_config_an_erlc_map_with_keys_differing_in_case_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="differ only in case"):
        config(aliases={"busy": "10-6", "Busy": "10-6"})


def test_config_the_ingress_gives_its_warnings_once_per_cold_start() -> None:
    from relay.ingress.pipeline import IngressDeps
    from relay.memory import StaticSecrets

    deps = IngressDeps(
        config=config(allowed_statuses=["10-8"]),
        secrets=StaticSecrets({}),
        publisher=None,  # type: ignore[arg-type]
    )
    first = deps.config_warnings()
    statuses = [w for what, w in first if what == "relay.toml: a status one source sets another refuses"]
    assert len(statuses) == 2  # sonoran's 10-6, 10-76, 10-97, 10-7; the roster's 10-7
    assert deps.config_warnings() == []
