"""The evening's driver recognises the relay's roster reads as the ER:LC emulator logs them: the
"server offline" approximation (an empty list for one poll) and the spent bucket (until the next poll)
both wait for one. A poll it did not recognise kept the server empty for 150 s instead of one poll
(issue 18's poll reads `EmergencyCalls` too)."""

from __future__ import annotations

import pytest

from relay_devtools.gamenight.driver import reads_roster


@pytest.mark.parametrize(
    "path",
    [
        "/v2/server?Players=true&EmergencyCalls=true",
        "/v2/server?EmergencyCalls=true&Players=true",
        "/v2/server?Players=true",
        "/v1/server/players",
    ],
)
def test_gamenight_driver_a_roster_read_is_recognised_whatever_else_it_asks(path: str) -> None:
    assert reads_roster(path)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/server",
        "/v2/server?EmergencyCalls=true",
        "/v2/server?Players=false",
        "/v2/server/command",
        "/v1/server",
        "/_emulator/requests",
    ],
)
def test_gamenight_driver_other_requests_are_not_roster_reads(path: str) -> None:
    assert not reads_roster(path)
