"""northca-relay: signed webhooks in, merged unit upserts out to the Northca Partner API.

The parts, one folder each (docs/architecture.md draws them): `handlers` (the four Lambda entry
points and the one composition root), `ingress`, `sources`, `consumer`, `erlc`, `northca`, `alerts`
(alarm notifications to Discord), `aws`.
Beside them: the config schema, the environment, the shared models, the queue message, the errors,
the ports and their in-memory twins, and the logger and metrics.
"""

__version__ = "0.2.0"
USER_AGENT = f"northca-relay/{__version__}"
