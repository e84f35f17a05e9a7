"""The template, read once per session (tests/support/cfn.py); tests read it, never change it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cfn import load_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()
