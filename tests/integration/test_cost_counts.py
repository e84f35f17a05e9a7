"""relay cost prices AWS calls counted by running the relay (relay_devtools.cost.counting), never typed
by hand: this runs the count again and fails when it drifts from counted.json, the counts relay cost
uses. After a change that moves a count on purpose: `relay cost --recount`, and commit counted.json."""

from __future__ import annotations

from typing import Any

import pytest

from relay_devtools.cost.counting import KINDS, count, read_counted

# Exact: what the relay does. Bytes: a log line's `cold_start` (true/false) and the like depend on what
# ran before in the process, so a few bytes per line may differ. Write units: a unit's state item is
# stored compressed, and its size moves by a few bytes with the digits of the run's clock, so one
# UpdateItem may cross a 1 KB unit boundary in one run and not in another: one unit of slack per call.
EXACT = (
    "invocations",
    "calls",
    "secret_fetches",
    "read_units",
    "sqs_requests",
    "log_lines",
    "metrics",
)
BYTES = ("log_bytes", "emf_bytes")
BYTES_PER_LINE = 8
ITEM_SIZE_SLACK = 0.15  # a compressed item's size moves by a tenth or so with the clock's digits


@pytest.fixture(scope="module")
def recounted() -> dict[str, Any]:
    return count()


def test_cost_counts_are_what_relay_cost_uses(recounted: dict[str, Any]) -> None:
    committed = read_counted()
    assert set(recounted["steps"]) == set(committed["steps"])
    for step, functions in recounted["steps"].items():
        assert set(functions) == set(committed["steps"][step]), step
        for function, now in functions.items():
            then = committed["steps"][step][function]
            for key in EXACT:
                assert now[key] == then[key], (
                    f"{step} {function} {key}: counted {now[key]}, relay cost uses {then[key]}"
                )
            updates = now["calls"].get("dynamodb:UpdateItem", 0)
            assert abs(now["write_units"] - then["write_units"]) <= updates, (
                f"{step} {function} write_units: counted {now['write_units']}, relay cost uses "
                f"{then['write_units']}"
            )
            for key in BYTES:
                slack = BYTES_PER_LINE * max(1, now["log_lines"])
                assert abs(now[key] - then[key]) <= slack, (
                    f"{step} {function} {key}: {now[key]} vs {then[key]}"
                )
    largest = committed["largest_item_bytes"]
    assert abs(recounted["largest_item_bytes"] - largest) <= ITEM_SIZE_SLACK * largest


def test_cost_counts_cover_every_kind_and_what_each_function_does(recounted: dict[str, Any]) -> None:
    steps = recounted["steps"]
    for kind in KINDS:
        ingress, consumer = steps[f"webhook:{kind}"]["ingress"], steps[f"webhook:{kind}"]["consumer"]
        # Every accepted webhook is queued once and reaches the consumer once (sparse traffic)...
        assert ingress["calls"]["sqs:SendMessageBatch"] == 1 and ingress["sqs_requests"] == 1
        assert consumer["invocations"] == 1
        # ...which reads unit state and writes it, on a fresh start fetching the partner key once.
        assert consumer["calls"]["dynamodb:BatchGetItem"] == 1 and consumer["write_units"] > 0
        assert consumer["secret_fetches"] == 1 and ingress["secret_fetches"] == 1
    # Warm functions fetch no secret: the cache is what relay cost's refresh rate models.
    warm = steps["webhook:units:warm"]
    assert warm["ingress"]["secret_fetches"] == warm["consumer"]["secret_fetches"] == 0
    # A unit's state item grows with its changes, then stops, compressed within one write unit (its
    # binary counted by its bytes): the steady write costs what the first does, and no item is over 1 KB.
    assert (
        steps["webhook:units:steady"]["consumer"]["write_units"]
        == steps["webhook:units"]["consumer"]["write_units"]
    )
    assert recounted["largest_item_bytes"] < 1024
    # A forged signature costs the ingress and nothing else.
    assert set(steps["refused"]) == {"ingress"}
    assert not {c for c in steps["refused"]["ingress"]["calls"] if not c.startswith("secretsmanager:")}
