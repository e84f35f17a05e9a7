"""Secret rotation through the real handler: Secrets Manager in moto, read through Powertools' cache.

The runbook (docs/security.md): store [old, new], switch the sender, then store [new]. The container's
copy is cached for an hour, but a signature that matches none of it is checked once more against a fresh
copy (at most once a minute per secret): the new value is taken at once. The old one stops working once
the cache expires (here `parameters.clear_caches()`, or a `max_age` of 0).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from relay.aws.secrets import PowertoolsSecrets
from relay.ingress.pipeline import IngressDeps
from tests.support.data import scheme_config_data
from tests.support.ingress import Stack, event, signed

OLD = "It's a Secret to Everybody"
NEW = "a-brand-new-github-secret-9f3c"
OLD_WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_WHSEC = "whsec_" + "bmV3IGtleSBmb3IgdGhlIENBRCwgMzIgYnl0ZXMhISE="


@pytest.fixture
def config_data() -> dict[str, Any]:
    return scheme_config_data()


class Deliveries:
    """Signs each request with a fresh delivery id, so replay protection never hides a result."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.count = stack, 0

    def status(self, source: str, secret: str, deps: IngressDeps | None = None) -> int:
        self.count += 1
        delivery = signed(self.stack.config, source, secret=secret, delivery_id=f"rotation-{self.count}")
        return self.stack.invoke(event(source, delivery), deps=deps)[0]


def put(stack: Stack, name: str, value: str | list[str]) -> None:
    stack.aws["secretsmanager"].put_secret_value(
        SecretId=name, SecretString=value if isinstance(value, str) else json.dumps(value)
    )


@pytest.mark.parametrize(
    ("source", "name", "old", "new"),
    [("github", "relay/sources/github", OLD, NEW), ("cad", "relay/sources/cad", OLD_WHSEC, NEW_WHSEC)],
)
def test_ingress_rotation_old_and_new_both_work_during_the_grace_period(
    stack: Stack, source: str, name: str, old: str, new: str
) -> None:
    send = Deliveries(stack)
    # Given the source's secret holds only the old value
    put(stack, name, old)
    parameters.clear_caches()
    assert (send.status(source, old), send.status(source, new)) == (202, 401)

    # When the operator stores [old, new] and the sender switches: the mismatch fetches a fresh copy
    put(stack, name, [old, new])
    assert send.status(source, new) == 202
    # Then both are accepted while both are configured
    assert (send.status(source, old), send.status(source, new)) == (202, 202)

    # When the grace period ends and only the new value is stored
    put(stack, name, [new])
    parameters.clear_caches()
    # Then the old one is refused
    assert (send.status(source, old), send.status(source, new)) == (401, 202)
    assert len(stack.queued()) == 5


def test_ingress_rotation_a_flood_of_bad_signatures_fetches_the_secret_again_once_a_minute(
    stack: Stack,
) -> None:
    # Given one warm container (one set of dependencies) and a secret read through a recording client
    deps: Any = stack.deps()
    fetches: list[bool] = []
    real = deps.secrets.get

    def recording(name: str, *, force_fetch: bool = False) -> list[str]:
        fetches.append(force_fetch)
        return real(name, force_fetch=force_fetch)

    deps.secrets.get = recording
    send = Deliveries(stack)
    put(stack, "relay/sources/github", OLD)
    parameters.clear_caches()
    # When a stranger sends 20 requests signed with a wrong secret within a minute
    assert {send.status("github", "not-the-secret", deps) for _ in range(20)} == {401}
    # Then the secret was fetched again once, not 20 times
    assert fetches.count(True) == 1
    # And a minute later a mismatch may fetch it again
    stack.clock.advance(61)
    assert send.status("github", "not-the-secret", deps) == 401
    assert fetches.count(True) == 2


def test_ingress_rotation_with_max_age_zero_the_new_value_applies_at_once(stack: Stack) -> None:
    send = Deliveries(stack)
    deps: Any = stack.deps()
    deps.secrets = PowertoolsSecrets(max_age=0)
    put(stack, "relay/sources/github", OLD)
    assert send.status("github", OLD, deps) == 202
    put(stack, "relay/sources/github", NEW)
    assert (send.status("github", NEW, deps), send.status("github", OLD, deps)) == (202, 401)


def test_ingress_rotation_a_missing_secret_is_a_503_not_a_401(stack: Stack) -> None:
    # A secret that cannot be read is the operator's problem: the sender must retry, not give up
    stack.aws["secretsmanager"].delete_secret(
        SecretId="relay/sources/github", ForceDeleteWithoutRecovery=True
    )
    send = Deliveries(stack)
    assert send.status("github", OLD) == 503
    assert stack.queued() == []


def test_ingress_rotation_an_unusable_secret_value_is_a_503(stack: Stack) -> None:
    put(stack, "relay/sources/cad", "whsec_")
    assert Deliveries(stack).status("cad", OLD_WHSEC) == 503
