"""Fixtures every suite shares: fake AWS credentials, a Lambda context, the relay config, caches cleared.

Helpers and data live in tests/support; this file holds fixtures only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from hypothesis import HealthCheck, settings

from relay.config.loader import parse_config
from relay.config.schema import RelayConfig
from relay.handlers import wiring
from relay_devtools.local.lambda_context import LocalLambdaContext
from tests.support.data import base_config_data

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

# No test may depend on how fast this machine is: Hypothesis gets no per-example deadline and does not
# call an example too slow (the suite must pass while other work loads the CPU).
settings.register_profile("relay", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("relay")


@pytest.fixture
def config_data() -> dict[str, Any]:
    """The relay.toml a test runs with, as data; a module overrides this fixture to change it."""
    return base_config_data()


@pytest.fixture
def config(config_data: dict[str, Any]) -> RelayConfig:
    return parse_config(config_data)


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test", timeout_seconds=60)


@pytest.fixture(autouse=True)
def _no_relay_local_here(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process commands find no `relay local` in the checkout (a developer's `make run` there
    must not answer the suite's `relay sign` or `relay doctor`); a test that wants one points here."""
    from relay_devtools.local import state

    monkeypatch.setattr(state, "DEFAULT_STATE_FILE", tmp_path_factory.getbasetemp() / "no-relay-local.json")


@pytest.fixture(autouse=True)
def _clear_caches() -> Iterator[None]:
    parameters.clear_caches()
    yield
    parameters.clear_caches()
    wiring.reset()


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make soak`: the soak test at full size (10,000+ webhooks); `make test` runs a smaller one.
    parser.addoption("--soak-full", action="store_true", default=False, help="run the soak test at full size")
