"""The ingress's on-demand lookup of an ER:LC server (relay.erlc.lookup): within PRC's limits, shared
with the poll, and never the webhook's error."""

from __future__ import annotations

from typing import Any

import pytest

from relay.erlc.fetch import RATE_LIMIT_SK
from relay.erlc.lookup import claim_key
from relay.errors import (
    ErlcAuthError,
    ErlcLookupSkippedError,
    ErlcOfflineError,
    ErlcRateLimitedError,
    QueueUnavailableError,
)
from relay.ports.erlc import PlayersAnswer, RateLimit
from tests.support.ingress import DownReplayStore
from tests.support.night import Night, night_config


def test_lookup_finds_the_servers_players_now() -> None:
    night = Night()
    cop = night.prc.join("1", "1A-01", "Ann")
    found = night.lookups.look_up("main")
    assert (found.players, found.at, found.settings.mdt_id) == (
        [cop],
        night.clock(),
        night.config.erlc.servers["main"].mdt_id,
    )


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda n: n.store.put("roster#main", RATE_LIMIT_SK, {"not_before": n.clock().timestamp() + 30}),
            "rate limit holds",
        ),
        (lambda n: n.claims.remember(claim_key("main"), n.clock(), 5), "looked up less than 5 s ago"),
    ],
    ids=["rate-limit-hold", "spacing"],
)
def test_lookup_is_skipped_without_asking_prc(setup: Any, reason: str) -> None:
    night = Night()
    setup(night)
    with pytest.raises(ErlcLookupSkippedError, match=reason):
        night.lookups.look_up("main")
    assert night.prc.calls == 0


def test_lookup_off_in_relay_toml_and_an_unknown_server_are_skipped() -> None:
    night = Night(night_config(lookup=False))
    with pytest.raises(ErlcLookupSkippedError, match="lookups of 'main' are off"):
        night.lookups.look_up("main")
    with pytest.raises(ErlcLookupSkippedError, match="lookups of 'other' are off"):
        night.lookups.look_up("other")
    assert night.prc.calls == 0


def test_lookup_one_per_server_every_few_seconds() -> None:
    night = Night()
    night.lookups.look_up("main")
    night.wait(4)
    with pytest.raises(ErlcLookupSkippedError):
        night.lookups.look_up("main")
    night.wait(1)
    night.lookups.look_up("main")
    assert night.prc.calls == 2


def test_lookup_a_429_holds_the_scheduled_poll_too() -> None:
    night = Night()
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=42, bucket="global"))
    with pytest.raises(ErlcLookupSkippedError, match=r"polls held 42\.0s"):
        night.lookups.look_up("main")
    night.wait(41)
    assert night.poll().result == "held"
    night.wait(2)
    assert night.poll().result == "unchanged"


def test_lookup_an_answer_with_an_empty_bucket_holds_until_it_refills() -> None:
    night = Night()
    reset = night.clock().timestamp() + 20
    night.prc.faults.append(PlayersAnswer([], "v2", RateLimit("global", 35, 0, reset)))
    night.lookups.look_up("main")
    assert night.poll().result == "held"


@pytest.mark.parametrize(
    "fault",
    [
        ErlcOfflineError("server offline", 422, 3002),
        ErlcAuthError("key refused", 403, 2002),
        RuntimeError("boom"),
    ],
)
def test_lookup_any_failure_is_a_skip_never_the_webhooks_error(fault: Exception) -> None:
    night = Night()
    night.prc.faults.append(fault)
    with pytest.raises(ErlcLookupSkippedError):
        night.lookups.look_up("main")


def test_lookup_a_claim_store_that_is_down_is_a_skip() -> None:
    night = Night()
    night.lookups.claims = DownReplayStore()
    with pytest.raises(ErlcLookupSkippedError, match="state unavailable"):
        night.lookups.look_up("main")
    assert night.prc.calls == 0


def test_lookup_a_queue_failure_writes_none_of_the_lookups_state() -> None:
    # Given a player unknown to the roster, and a queue that refuses the messages
    night = Night()
    night.poll()
    cop = night.prc.join("9", "1A-09", "Ivy")
    night.send = _refuse  # type: ignore[method-assign]
    with pytest.raises(QueueUnavailableError):
        night.command(cop, ";10-6")
    # Then neither the held command nor the lookup's find is stored: PRC's retry starts again
    assert night.store.get("roster#main", "held#9") is None
    assert night.store.get("roster#main", "lookup") is None


def _refuse(messages: Any, delay_seconds: int = 0) -> int:
    raise QueueUnavailableError()
