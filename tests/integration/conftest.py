"""In-process integration: the real handlers with moto for AWS and the Northca emulator for the partner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from relay.config.schema import RelayConfig
from tests.support.aws import add_relay_resources, queue_and_secrets
from tests.support.ingress import Stack


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """A queue with its DLQ and the secrets the test config names, in moto."""
    with queue_and_secrets() as resources:
        yield resources


@pytest.fixture
def replay_table(aws: dict[str, Any]) -> dict[str, Any]:
    """`aws` plus every scheme source's secret and a replay table."""
    return add_relay_resources(aws)


@pytest.fixture
def stack(config: RelayConfig, replay_table: dict[str, Any], lambda_context: Any) -> Stack:
    return Stack(config, replay_table, lambda_context)
