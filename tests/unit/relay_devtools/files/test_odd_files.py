"""Files the operator names that are not files (issue 20, item 2): a FIFO, a device, a folder or a huge
file given as --config, --secrets or --template is refused in one line, never read forever."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.config.loader import read_toml
from relay.errors import ConfigError
from relay_devtools.cli import main
from relay_devtools.files.secrets_file import SecretsFileError, load_secrets_file
from relay_devtools.files.template import load_template
from tests.support.constants import ROOT


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO with a writer waiting: code that wrongly reads it gets valid TOML and goes on (the test
    then fails on its result) instead of hanging the suite."""
    path = tmp_path / "secrets.fifo"
    os.mkfifo(path)

    def feed() -> None:
        with path.open("w", encoding="utf-8") as out:  # blocks until someone opens it for reading
            out.write("[secrets]\n")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    yield path
    # Release the writer if nobody read the FIFO (the code under test refused it, as it should).
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    writer.join(timeout=5)
    os.close(reader)


def test_a_fifo_is_not_a_toml_file(fifo: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        read_toml(fifo)


def test_a_fifo_is_not_a_secrets_file(fifo: Path) -> None:
    with pytest.raises(SecretsFileError, match="not a regular file"):
        load_secrets_file(fifo)


def test_a_fifo_is_not_a_template(fifo: Path) -> None:
    with pytest.raises(ValueError, match="not a regular file"):
        load_template(fifo)


def test_doctor_with_a_fifo_for_secrets_refuses_it_in_one_line(
    fifo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["doctor", "--config", str(ROOT / "relay.toml"), "--secrets", str(fifo)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a regular file" in err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_not_a_config(device: str) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        read_toml(device)


def test_a_config_larger_than_any_config_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "relay.toml"
    with huge.open("wb") as out:
        out.truncate(64 * 1024 * 1024)  # sparse: 64 MB of NULs, nothing written to disk
    with pytest.raises(ConfigError, match="larger than"):
        read_toml(huge)


def test_a_folder_is_still_said_to_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a folder"):
        read_toml(tmp_path)
