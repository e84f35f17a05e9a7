"""What an operator types that the CLI answered badly: a body-key body that is no JSON object (blamed on
the secret, or a bare `TypeError`), a replay window reaching before any date (`OverflowError`) or
ending before it starts (silently empty)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from relay_devtools.cli import main
from tests.support.constants import ROOT

EXAMPLES = ROOT / "docs" / "sources" / "examples.toml"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    path = tmp_path / "relay.secrets.toml"
    path.write_text('[secrets]\n"relay/sources/sonoran" = "sonoran-community-api-key"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("{bad", "relay sign: the body is not JSON (Expecting property name"),
        ("[]", "relay sign: the body is JSON but not an object; a body-key source's key goes in its 'key'"),
        ('"text"', "relay sign: the body is JSON but not an object"),
    ],
)
def test_sign_a_body_key_body_that_is_no_object_is_said_to_be_the_bodys_fault(
    secrets: Path, body: str, said: str
) -> None:
    # Given a Sonoran source (body-key: its key goes in the body) / When relay sign is given such a body
    with pytest.raises(SystemExit) as raised:
        main(["--config", str(EXAMPLES), "--secrets", str(secrets), "sign", "sonoran", "--body", body])
    # Then it says the body is at fault, not the secret
    message = str(raised.value.code)
    assert message.startswith(said) and "secret" not in message


def test_sign_a_body_key_object_is_still_signed(secrets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = '{"type": "EVENT_UNIT_PANIC", "data": [{"identIds": [17], "isPanic": true}]}'
    assert (
        main(["--config", str(EXAMPLES), "--secrets", str(secrets), "sign", "sonoran", "--body", body]) == 0
    )
    assert "sonoran-community-api-key" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("window", "said"),
    [
        (["--since", "99999999d"], "relay replay: '99999999d' reaches back before any date"),
        (
            ["--since", "1h", "--until", "2h"],
            "relay replay: --until 2h is before --since 1h: the window is empty",
        ),
    ],
)
def test_replay_a_window_no_archive_can_hold_is_said_before_anything_is_read(
    tmp_path: Path, window: list[str], said: str
) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["replay", "--source", "sonoran", *window, "--local-state", str(tmp_path / "none.json")])
    assert code == 2
    assert said in err.getvalue()
