"""The pre-flight reading an account (moto): the stack's status, the other relay stacks in the region,
the stack's own ingress reservation, and Lambda's rule on reservations as moto models it."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay_devtools.operations.preflight import AccountConcurrency, allowed_reservations, read_situation

RELAY_TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "northca-relay: signed webhooks in (a test stand-in)",
    "Resources": {"WebhookQueue": {"Type": "AWS::SQS::Queue"}},
}
OTHER_TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "someone else's stack",
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
}


class AccountSettings:
    """Lambda's GetAccountSettings (moto has none) in front of moto's Lambda for the rest."""

    def __init__(self, inner: Any, limit: int, unreserved: int) -> None:
        self.inner, self.limit, self.unreserved = inner, limit, unreserved

    def get_account_settings(self) -> dict[str, Any]:
        return {
            "AccountLimit": {
                "ConcurrentExecutions": self.limit,
                "UnreservedConcurrentExecutions": self.unreserved,
            }
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "cloudformation": boto3.client("cloudformation", region_name="us-east-1"),
            "lambda": boto3.client("lambda", region_name="us-east-1"),
            "iam": boto3.client("iam", region_name="us-east-1"),
        }


def function(aws: dict[str, Any], name: str) -> None:
    role = aws["iam"].create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    aws["lambda"].create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )


def test_preflight_reads_a_new_stack_and_the_other_relay_stacks(aws: dict[str, Any]) -> None:
    aws["cloudformation"].create_stack(StackName="northca-relay", TemplateBody=json.dumps(RELAY_TEMPLATE))
    aws["cloudformation"].create_stack(StackName="unrelated", TemplateBody=json.dumps(OTHER_TEMPLATE))
    clients = {**aws, "lambda": AccountSettings(aws["lambda"], limit=10, unreserved=10)}
    situation = read_situation(clients, "us-east-1", "northca-relay-prod")
    assert situation.status is None
    assert situation.relay_stacks == ["northca-relay"]
    assert situation.concurrency == AccountConcurrency(limit=10, unreserved=10)
    assert situation.current_reservation == 0
    # The existing stack itself is not "another" stack.
    assert read_situation(clients, "us-east-1", "northca-relay").relay_stacks == []
    assert read_situation(clients, "us-east-1", "northca-relay").status == "CREATE_COMPLETE"


@pytest.mark.parametrize("quota", [10, 50, 150, 300, 1000])
def test_preflight_agrees_with_lambdas_rule_as_moto_models_it(
    aws: dict[str, Any], quota: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto refuses PutFunctionConcurrency as Lambda does when it would leave less than 100 unreserved
    (MOTO_LAMBDA_CONCURRENCY_QUOTA): the pre-flight allows exactly what it accepts."""
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", str(quota))
    function(aws, "ingress")
    for value in (50, 100, 200, 400, 800):
        try:
            aws["lambda"].put_function_concurrency(FunctionName="ingress", ReservedConcurrentExecutions=value)
            accepted = True
            aws["lambda"].delete_function_concurrency(FunctionName="ingress")
        except aws["lambda"].exceptions.InvalidParameterValueException:
            accepted = False
        account = AccountConcurrency(limit=quota, unreserved=quota)
        assert (value in allowed_reservations(account, [value])) == accepted, (quota, value)


def test_preflight_command_on_the_repositorys_config_and_samconfig(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped relay.toml has no ER:LC server: the deploy adds RosterPollState=DISABLED; a new account
    with a limit of 10 passes at the defaults and is refused a reservation of 50."""
    from relay_devtools.operations.preflight import print_preflight, run_preflight
    from tests.support.constants import ROOT

    clients = {**aws, "lambda": AccountSettings(aws["lambda"], limit=10, unreserved=10)}
    arguments = (ROOT / "relay.toml", ROOT / "samconfig.toml", "default", ROOT / "template.yaml")
    result = run_preflight(*arguments, {"Stage": "dev"}, region="us-east-1", clients=clients)
    print_preflight(result)
    printed = capsys.readouterr().out
    assert result.passed, printed
    assert result.derived == {"RosterPollState": "DISABLED"}
    assert "us-east-1 (your AWS configuration's region" in printed
    assert "northca-relay in us-east-1: a new stack" in printed
    refused = run_preflight(
        *arguments, {"IngressReservedConcurrency": "50"}, region="us-east-1", clients=clients
    )
    assert not refused.passed
