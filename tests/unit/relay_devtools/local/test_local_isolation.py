"""relay local runs its functions side by side, as Lambda does: one invocation's logger keys and metrics
never reach another's, and the consumer waiting on the partner never holds up a webhook.

No timing: the threads meet at events; the waits' limits only keep a broken build from hanging.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from relay.observability import logger, metrics
from relay_devtools.local.isolation import FunctionLocks, isolate_powertools, release_powertools
from tests.support.logs import captured_logs, log_records

NEVER = 60.0  # a limit that only a hung build reaches


@pytest.fixture
def isolated() -> Iterator[None]:
    isolate_powertools(logger, metrics)
    try:
        yield
    finally:
        release_powertools(logger, metrics)
        logger.clear_state()


def _side_by_side(first: Callable[[threading.Event, threading.Event], Any], second: Callable[[], Any]) -> Any:
    """`first` runs until it has set its state and waits; `second` runs whole meanwhile; then `first`
    ends. Returns what `first` returned."""
    ready, go = threading.Event(), threading.Event()
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(value=first(ready, go)))
    thread.start()
    assert ready.wait(NEVER)
    second()
    go.set()
    thread.join(NEVER)
    assert not thread.is_alive()
    return result["value"]


def test_local_isolation_one_invocations_keys_never_land_on_anothers_lines(isolated: None) -> None:
    # Given the ingress in the middle of a webhook (its webhook id and source appended to the logger)
    def ingress(ready: threading.Event, go: threading.Event) -> None:
        logger.clear_state()
        logger.append_keys(webhook_id="wh-ingress", source="erlc")
        ready.set()
        assert go.wait(NEVER)
        logger.info("accepted")

    # When the consumer, meanwhile, starts its own invocation (clear_state) and logs with its own keys
    def consumer() -> None:
        logger.clear_state()
        logger.append_keys(function="consumer")
        logger.info("unit outcomes")

    with captured_logs() as buffer:
        _side_by_side(ingress, consumer)
    lines = {line["message"]: line for line in log_records(buffer)}
    # Then each line carries its own invocation's keys: the consumer's clear_state did not wipe the
    # ingress's webhook id, and the consumer's line names no webhook
    assert lines["accepted"]["webhook_id"] == "wh-ingress" and lines["accepted"]["source"] == "erlc"
    assert "function" not in lines["accepted"]
    assert lines["unit outcomes"]["function"] == "consumer"
    assert "webhook_id" not in lines["unit outcomes"] and "source" not in lines["unit outcomes"]


def _emf_metrics(printed: str) -> set[str]:
    return {
        metric["Name"]
        for line in printed.splitlines()
        if line.startswith("{")
        for directive in json.loads(line).get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    }


def test_local_isolation_each_invocation_flushes_its_own_metrics(
    isolated: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the consumer with a metric added and not yet flushed
    def consumer(ready: threading.Event, go: threading.Event) -> str:
        metrics.add_metric(name="UnitsWritten", unit="Count", value=1)
        ready.set()
        assert go.wait(NEVER)
        metrics.flush_metrics()
        return capsys.readouterr().out

    # When the ingress adds and flushes its own meanwhile
    def ingress() -> None:
        metrics.add_metric(name="WebhooksAccepted", unit="Count", value=1)
        metrics.flush_metrics()

    def ingress_printed() -> None:
        ingress()
        printed["ingress"] = capsys.readouterr().out

    printed: dict[str, str] = {}
    consumer_printed = _side_by_side(consumer, ingress_printed)
    # Then each flush published its own metric only
    assert _emf_metrics(printed["ingress"]) == {"WebhooksAccepted"}
    assert _emf_metrics(consumer_printed) == {"UnitsWritten"}


def test_local_isolation_released_the_logger_is_process_wide_again() -> None:
    # Given an isolated logger whose keys a thread set, then released
    base = type(logger.registered_formatter)
    isolate_powertools(logger, metrics)
    isolate_powertools(logger, metrics)  # a stack started twice in one process isolates once
    logger.append_keys(webhook_id="wh-main")
    release_powertools(logger, metrics)
    try:
        # Then the formatter is Powertools' own, keeping the releasing thread's keys for every thread
        assert type(logger.registered_formatter) is base
        seen: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: seen.update(logger.get_current_keys()))
        thread.start()
        thread.join(NEVER)
        assert seen.get("webhook_id") == "wh-main"
    finally:
        logger.remove_keys(["webhook_id"])


def test_local_isolation_a_slow_consumer_never_holds_up_a_webhook() -> None:
    # Given the consumer in an invocation that waits (a partner's 12 s timeout)
    functions = FunctionLocks()

    def consumer(ready: threading.Event, go: threading.Event) -> None:
        with functions.invocation("consumer"):
            ready.set()
            assert go.wait(NEVER)

    answered: list[str] = []

    # When a webhook and a roster poll come meanwhile
    def ingress_and_poll() -> None:
        for function in ("ingress", "scheduled"):
            assert functions.invocation(function).acquire(timeout=NEVER)
            answered.append(function)
            functions.invocation(function).release()
        # (and a second consumer invocation waits its turn: one environment per function)
        assert functions.invocation("consumer").locked()

    _side_by_side(consumer, ingress_and_poll)
    # Then both ran while the consumer was still waiting
    assert answered == ["ingress", "scheduled"]


def test_local_isolation_replacing_the_config_holds_every_function() -> None:
    functions = FunctionLocks()
    with functions.exclusive():
        assert all(functions.invocation(name).locked() for name in ("ingress", "consumer", "scheduled"))
    assert not any(functions.invocation(name).locked() for name in ("ingress", "consumer", "scheduled"))
