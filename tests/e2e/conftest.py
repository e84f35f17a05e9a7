"""One `relay local` for the e2e modules that drive it over HTTP (starting one takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.local import LocalProcess, start_relay_local


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    local = start_relay_local(tmp_path_factory.mktemp("local"))
    try:
        yield local
    finally:
        local.stop()
