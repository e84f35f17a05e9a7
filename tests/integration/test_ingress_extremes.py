"""The net for what nobody listed (issue #10, item 20): Hypothesis puts values at the extremes (times at
both ends of datetime's range, epochs beyond any date and below zero, control, format and unassigned
characters, long ids, arrays as large as a body may hold) into every adapter's real-shaped body, sent
authentic through the real handler. No answer is a 5xx, and the work each request causes is bounded
(state-store calls and queued changes), which is what keeps it within the ingress timeout: the suite
never measures time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config.loader import parse_config
from relay.ingress.pipeline import IngressDeps
from relay.memory import InMemorySourceStateStore
from relay.models import usable_unit_id
from relay_devtools.local.lambda_context import LocalLambdaContext
from tests.support.adapters import SAMPLES, CountingStateStore, Path, store_roster
from tests.support.aws import relay_aws
from tests.support.constants import GUILD, MDT
from tests.support.data import load_event, scheme_config_data, secret_of
from tests.support.extremes import extreme_bodies
from tests.support.ingress import Stack, event, signed

NET = settings(
    max_examples=150,
    deadline=None,
    # The only function-scoped fixture is the autouse one clearing Powertools' cache: harmless to share.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# Every body an adapter reads (Sonoran's three events: a status finds what a login cached), and the
# places in it a sender controls that the adapter reads.
BODIES: dict[str, list[tuple[dict[str, Any], list[Path]]]] = {
    name: [(sample.body(), [place for place in (sample.time_at, sample.id_at) if place])]
    for name, sample in SAMPLES.items()
}
BODIES["units"][0][1].extend([("units", 0, "status"), ("units",), ("units", 1, "rank")])
BODIES["sonoran"][0][1].extend([("data", 0, "unit", "id"), ("data", 0, "unit", "status"), ("data",)])
BODIES["sonoran"] += [
    (load_event("sonoran_unit_status.json"), [("data", 0, "identIds"), ("data", 0, "status"), ("data",)]),
    (load_event("sonoran_unit_logout.json"), [("data", 0, "identId"), ("data",)]),
]
BODIES["erlc-events"][0][1].extend([("Data", "Player"), ("Data", "Command")])
MAX_UNITS = 500
# Sonoran, the only kind that reads and writes per id: max_idents (100) reads and as many writes.
MAX_STATE_CALLS = 2 * 100 + 1
ANSWERS = {200, 202, 413, 422}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Stack, IngressDeps, InMemorySourceStateStore]]:
    data = scheme_config_data()
    token = data["sources"]["snaily"]["signature"]
    for name, sample in SAMPLES.items():
        data["sources"][f"x-{name}"] = {
            **data["sources"]["cad"],
            "adapter": name,
            "signature": token,
            "options": sample.options,
        }
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "relay/erlc/main", "mdt_id": MDT, "guild_id": GUILD}}
    }
    with relay_aws() as aws:
        built = Stack(
            parse_config(data), aws, LocalLambdaContext(function_name="ingress", timeout_seconds=10)
        )
        store = InMemorySourceStateStore(clock=built.clock)
        store_roster(store)
        yield built, built.deps(), store


@NET
@given(data=st.data())
@pytest.mark.parametrize("adapter", sorted(SAMPLES))
def test_every_adapter_answers_extreme_values_without_a_5xx_and_with_bounded_work(
    stack: tuple[Stack, IngressDeps, InMemorySourceStateStore], adapter: str, data: st.DataObject
) -> None:
    built, deps, store = stack
    # Given a real-shaped body of the adapter's sender, with values at the extremes in it
    base, places = data.draw(st.sampled_from(BODIES[adapter]))
    body = json.dumps(data.draw(extreme_bodies(base, places))).encode()
    built.taken()  # what an earlier, failed example left in the queue
    counting = CountingStateStore(store)
    deps.source_state = counting
    # When it arrives authentic at a source of that adapter
    source = f"x-{adapter}"
    status, answer = built.invoke(
        event(source, signed(built.config, source, body, secret=secret_of("snaily"))), deps=deps
    )
    queued = [change for message in built.taken() for change in message.changes]
    # Then it is queued, a replay, too large or a 422 saying why: never a 5xx
    assert status in ANSWERS, answer
    assert status == 202 or not queued
    # And the work it caused is bounded, whatever the body held
    assert counting.total <= MAX_STATE_CALLS, counting.calls
    assert len(queued) <= MAX_UNITS
    # And what was queued is what the partner takes: usable ids, instants in UTC
    for change in queued:
        assert usable_unit_id(change.id) == change.id
        assert change.at.utcoffset() is not None and not change.at.utcoffset()
