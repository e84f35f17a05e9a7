"""Two stacks in one account publish their metrics apart: the names come from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.constants import ROOT

# One metric published the way a handler publishes it, and the EMF document Powertools prints.
PUBLISH = """
from aws_lambda_powertools.metrics import MetricUnit
from relay.observability import logger, metrics
metrics.add_metric(name="WebhooksAccepted", unit=MetricUnit.Count, value=1)
metrics.flush_metrics()
logger.info("one line")
"""


def published(environment: dict[str, str]) -> tuple[dict[str, object], dict[str, object]]:
    """(the EMF document, the log line) a function prints under this environment."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "functions"), **environment}
    ran = subprocess.run(
        [sys.executable, "-c", PUBLISH], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    documents = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    emf = next(d for d in documents if "_aws" in d)
    line = next(d for d in documents if d.get("message") == "one line")
    return emf, line


@pytest.mark.parametrize("stack", ["northca-relay-staging", "community-b"])
def test_observability_a_stacks_metrics_and_logs_carry_its_own_names(stack: str) -> None:
    # Given the names template.yaml gives a stack's functions
    emf, line = published(
        {"POWERTOOLS_SERVICE_NAME": stack, "POWERTOOLS_METRICS_NAMESPACE": f"NorthcaRelay/{stack}"}
    )
    # Then its metrics are in its own namespace, with its own service dimension, and its logs say so
    directive = emf["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Namespace"] == f"NorthcaRelay/{stack}"
    assert emf["service"] == stack
    assert line["service"] == stack


def test_observability_two_stacks_never_share_a_namespace() -> None:
    names = set()
    for stack in ("prod", "staging"):
        emf, _ = published(
            {"POWERTOOLS_SERVICE_NAME": stack, "POWERTOOLS_METRICS_NAMESPACE": f"NorthcaRelay/{stack}"}
        )
        names.add((emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], emf["service"]))  # type: ignore[index]
    assert len(names) == 2


def test_observability_outside_lambda_the_defaults_stand_in() -> None:
    emf, line = published({})
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "NorthcaRelay"  # type: ignore[index]
    assert line["service"] == "northca-relay"
