"""Logger and metrics shared by the handlers. Never log a body, a header value or a secret.

The service and the metrics namespace come from Powertools' own variables, which template.yaml ties to
the stack's name: two stacks in one account (staging beside prod, two communities) never publish into
each other's metrics, so one's failures never fire the other's alarms. Outside Lambda (tools, tests
that set nothing) the names below stand in.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

DEFAULT_SERVICE = "northca-relay"
DEFAULT_NAMESPACE = "NorthcaRelay"

# Read once, when the function's container imports this module (as Powertools reads them itself).
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
