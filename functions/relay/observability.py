"""Logger and metrics shared by the handlers. Never log a body, a header value or a secret."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="northca-relay")
metrics = Metrics(namespace="NorthcaRelay", service="northca-relay")
