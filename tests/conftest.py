"""Shared fixtures: fake AWS credentials, a Lambda context, a test relay config, clocks."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from relay.config import RelayConfig, parse_config
from relay_devtools.lambda_context import LocalLambdaContext
from relay_devtools.template import create_table, load_template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# Set before any boto3 client exists, so nothing can reach a real AWS account.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "northca-relay-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "NorthcaRelayTests",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

MDT = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"
GUILD = "123456789012345678"
ACTOR = "222222222222222222"
PARTNER_KEY = "partner-key-for-tests"
CAD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def base_config_data() -> dict[str, Any]:
    return {
        "northca": {"base_url": "https://api.northca.dev/v1", "partner_key_secret": "northca/partner-key"},
        "sources": {
            "cad": {
                "adapter": "units",
                "mdt_id": MDT,
                "guild_id": GUILD,
                "actor": ACTOR,
                "signature": {"scheme": "standard-webhooks", "secret": "relay/sources/cad"},
            }
        },
    }


@pytest.fixture
def config() -> RelayConfig:
    return parse_config(base_config_data())


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test", timeout_seconds=60)


@pytest.fixture(autouse=True)
def _clear_parameter_cache() -> Iterator[None]:
    parameters.clear_caches()
    yield
    parameters.clear_caches()


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


class FixedClock:
    """An injected clock that only moves when a test says so."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make soak`: the soak test at full size (10,000+ webhooks); `make test` runs a smaller one.
    parser.addoption("--soak-full", action="store_true", default=False, help="run the soak test at full size")


@functools.cache
def _template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def create_unit_state_table(client: Any, name: str = "unit-state") -> None:
    """The unit-state table with the keys template.yaml gives it (in moto)."""
    create_table(client, _template(), "UnitStateTable", name)
