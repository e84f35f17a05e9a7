"""An operator's slips in relay.toml that looked fine and broke something quietly: a `panic_commands`
entry that can never match (written with the prefix, or as two words: every `;panic` then ignored) or
that is also a status command (every `;status 10-8` then a panic), and a file saved with a byte-order
mark (Windows Notepad's UTF-8), which was refused as "Invalid statement (at line 1, column 1)"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from relay.config.loader import load_config, read_toml
from relay.erlc.commands import ErlcEventsOptions
from relay_devtools.files.secrets_file import load_secrets_file
from tests.support.constants import ROOT


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"panic_commands": [";panic"]}, "starts with the prefix ';': write it without it ('panic')"),
        ({"prefix": "!", "panic_commands": ["!sos"]}, "starts with the prefix '!'"),
        ({"panic_commands": ["10 33"]}, "is not one word"),
        ({"panic_commands": ["status"]}, "is also a status command or an alias"),
        ({"panic_commands": ["S"]}, "is also a status command or an alias"),
        ({"panic_commands": ["help"], "aliases": {"Help": "10-6"}}, "is also a status command or an alias"),
    ],
)
def test_a_panic_command_no_player_could_type_as_a_panic_is_refused(
    options: dict[str, Any], said: str
) -> None:
    # Given panic_commands an operator wrote as it is typed in game, or with a status command's name
    # When the source's options are read / Then relay.toml is refused, saying what to write instead
    with pytest.raises(ValidationError, match=said.replace("(", r"\(").replace(")", r"\)")):
        ErlcEventsOptions.model_validate({"server": "main", **options})


def test_the_documented_panic_commands_still_load() -> None:
    assert ErlcEventsOptions(server="main").panic_commands == ["panic", "10-33"]
    assert ErlcEventsOptions(server="main", panic_commands=["SOS", "10-033"], aliases={"avail": "10-8"})


def test_a_config_saved_with_a_byte_order_mark_loads_as_without(tmp_path: Path) -> None:
    # Given the shipped relay.toml saved by an editor that writes a UTF-8 byte-order mark
    text = (ROOT / "relay.toml").read_text(encoding="utf-8")
    marked = tmp_path / "relay.toml"
    marked.write_text("\ufeff" + text, encoding="utf-8")
    # When it is loaded / Then it is the same config as the file without the mark
    assert load_config(marked) == load_config(ROOT / "relay.toml")
    assert read_toml(marked) == read_toml(ROOT / "relay.toml")


def test_a_secrets_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "relay.secrets.toml"
    path.write_text('\ufeff[secrets]\n"relay/sources/cad" = "whsec_c2VjcmV0"\n', encoding="utf-8")
    assert load_secrets_file(path).newest("relay/sources/cad") == "whsec_c2VjcmV0"
