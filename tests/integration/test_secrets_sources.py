"""The secrets port (relay.ports.secrets.SecretsSource): Secrets Manager through Powertools, and its
in-memory twin, answer the same, with a secret per name and with every secret in one bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from relay.aws.secrets import PowertoolsSecrets
from relay.memory import StaticSecrets
from relay.ports.secrets import SecretsSource

BUNDLE = "relay/sources/northca-relay"
STORED: dict[str, str | list[str]] = {
    "relay/sources/cad": "whsec_one",
    "northca/partner-key": ["OLD", "NEW"],
}


@pytest.fixture(params=["moto", "memory"])
def make(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of SecretsSource holding STORED (as separate secrets, or one bundle)."""
    if request.param == "memory":

        def twin(bundle: str | None) -> SecretsSource:
            if bundle is None:
                return StaticSecrets(dict(STORED))
            return StaticSecrets({bundle: json.dumps(STORED)}, bundle=bundle)

        yield twin
        return
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        for name, value in STORED.items():
            client.create_secret(
                Name=name, SecretString=value if isinstance(value, str) else json.dumps(value)
            )
        client.create_secret(Name=BUNDLE, SecretString=json.dumps(STORED))
        parameters.clear_caches()

        def adapter(bundle: str | None) -> SecretsSource:
            return PowertoolsSecrets(make_client=lambda: client, bundle=bundle)

        yield adapter
        parameters.clear_caches()


@pytest.mark.parametrize("bundle", [None, BUNDLE], ids=["a-secret-each", "one-bundle"])
def test_secrets_each_name_reads_as_its_rotation_list(make: Any, bundle: str | None) -> None:
    secrets = make(bundle)
    assert secrets.get("relay/sources/cad") == ["whsec_one"]
    assert secrets.get("northca/partner-key") == ["OLD", "NEW"]


def test_secrets_a_name_the_bundle_lacks_is_no_secret(make: Any) -> None:
    assert make(BUNDLE).get("relay/sources/typeform") == []


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '{"relay/sources/cad": 5}', '{"relay/sources/cad": [1]}']
)
def test_secrets_a_bundle_that_is_not_an_object_of_strings_gives_no_secret(raw: str) -> None:
    assert StaticSecrets({BUNDLE: raw}, bundle=BUNDLE).get("relay/sources/cad") == []
