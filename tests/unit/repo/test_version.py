"""One version: relay.__version__, pyproject.toml and `relay --version` agree."""

from __future__ import annotations

import tomllib

import pytest

from relay import __version__
from relay_devtools.cli import main
from tests.support.constants import ROOT


def test_version_pyproject_matches_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == __version__


def test_version_the_cli_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    # When `relay --version` runs
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    # Then it prints the package's version and exits 0
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"relay {__version__} (northca-relay)"


def test_version_the_changelog_describes_it() -> None:
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
