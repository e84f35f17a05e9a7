"""What the ingress tells operators: a metric per outcome, logs keyed by source and webhook id, and never
a body, a signature or a secret in either."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from relay.aws.sqs import SqsPublisher
from relay.observability import logger
from tests.support.data import UNITS_BODY, scheme_config_data, secret_of
from tests.support.ingress import DownReplayStore, FailingThenWorkingSqs, Stack, event, signed


@pytest.fixture
def config_data() -> dict[str, Any]:
    return scheme_config_data()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The relay logger's JSON lines, through a second handler with its own formatter (as caplog does)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)


def emitted(
    log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> tuple[list[dict[str, Any]], set[str], str]:
    """(log records, metric names, everything printed) since the last call. Metrics are EMF on stdout."""
    logged, printed = log_lines.getvalue(), capsys.readouterr().out
    log_lines.seek(0)
    log_lines.truncate()
    metrics = {
        metric["Name"]
        for line in printed.splitlines()
        if line.startswith("{")
        for directive in json.loads(line).get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    }
    return [json.loads(line) for line in logged.splitlines()], metrics, logged + printed


def test_ingress_a_forged_request_is_logged_with_its_reason_but_not_its_content(
    stack: Stack, log_lines, capsys
) -> None:
    # Given a request whose body was changed after signing
    delivery = signed(stack.config, "cad", delivery_id="msg_forged")
    stack.invoke(event("cad", delivery, body=UNITS_BODY.replace(b"10-8", b"10-7")))
    logs, metrics, out = emitted(log_lines, capsys)
    # Then one warning says why, keyed by source, and the metric names the kind of refusal
    [log] = [entry for entry in logs if entry["message"] == "webhook rejected"]
    assert (log["level"], log["source"], log["kind"]) == ("WARNING", "cad", "mismatch")
    assert "WebhooksRejectedAuthMismatch" in metrics
    # And neither the body, the signature nor the secret is anywhere in the output
    for secret_material in ("B. Bubbleton", delivery.headers["webhook-signature"], secret_of("cad")):
        assert secret_material not in out


def test_ingress_outcome_metrics(stack: Stack, log_lines, capsys) -> None:
    delivery = signed(stack.config, "cad", delivery_id="msg_metrics")
    stack.invoke(event("cad", delivery))
    assert {"WebhooksAccepted", "UnitChangesQueued"} <= emitted(log_lines, capsys)[1]
    stack.invoke(event("cad", delivery))
    assert "WebhooksReplayed" in emitted(log_lines, capsys)[1]
    stack.invoke(event("cad", signed(stack.config, "cad", at=stack.clock.now.replace(year=2020))))
    assert "WebhooksRejectedAuthTimestamp" in emitted(log_lines, capsys)[1]
    stack.invoke(event("cad", delivery, headers={"content-type": "text/xml"}))
    assert "WebhooksRejectedMediaType" in emitted(log_lines, capsys)[1]
    stack.invoke(event("cad", signed(stack.config, "cad", b"[]", delivery_id="msg_list")))
    assert "WebhooksRejectedInvalidPayload" in emitted(log_lines, capsys)[1]


def test_ingress_enqueue_failure_is_an_error_log_with_the_webhook_id(stack: Stack, log_lines, capsys) -> None:
    sqs = FailingThenWorkingSqs(stack.aws["sqs"], failures=3)
    stack.publisher = SqsPublisher(stack.aws["queue_url"], sqs, sleep=lambda _: None)  # type: ignore[arg-type]
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_down")))[0] == 503
    logs, metrics, _ = emitted(log_lines, capsys)
    [log] = [entry for entry in logs if entry["level"] == "ERROR"]
    assert (log["source"], log["webhook_id"], log["status"]) == ("cad", "msg_down", 503)
    assert "EnqueueFailed" in metrics


def test_ingress_replay_store_outage_is_a_warning_and_a_metric(stack: Stack, log_lines, capsys) -> None:
    stack.replay = DownReplayStore()
    assert stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_open")))[0] == 202
    logs, metrics, _ = emitted(log_lines, capsys)
    [log] = [entry for entry in logs if entry["message"] == "replay store unavailable"]
    assert (log["source"], log["webhook_id"]) == ("cad", "msg_open")
    assert {"ReplayStoreUnavailable", "WebhooksAccepted"} <= metrics
