"""`relay deploy`'s pre-flight (issue #23 items 1-5): its answer for each account's Lambda concurrency,
each stack status a failed deploy leaves, a second stack, a certificate not yet issued, a region
pinned elsewhere, and the parameters it adds. Pure: what it would read from AWS is given."""

from __future__ import annotations

import pytest

from relay.config.loader import parse_config
from relay.config.schema import RelayConfig
from relay_devtools.files.template import load_template
from relay_devtools.operations.preflight import (
    AccountConcurrency,
    Situation,
    allowed_reservations,
    concurrency_check,
    derived_parameters,
    evaluate,
    region_check,
    second_stack_check,
    stack_check,
)
from tests.support.constants import ROOT
from tests.support.data import base_config_data

CHOICES = [
    int(v)
    for v in load_template(ROOT / "template.yaml")["Parameters"]["IngressReservedConcurrency"][
        "AllowedValues"
    ]
]
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7"


def config(erlc_servers: bool = False) -> RelayConfig:
    data = base_config_data()
    if erlc_servers:
        data["erlc"] = {
            "servers": {
                "main": {
                    "server_key_secret": "relay/erlc/main",
                    "mdt_id": "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2",
                    "guild_id": "123456789012345678",
                    "departments": {"Police": "Patrol"},
                }
            }
        }
    return parse_config(data)


def situation(status: str | None = None, **changes: object) -> Situation:
    base: dict[str, object] = {
        "region": "us-east-1",
        "stack_name": "northca-relay",
        "status": status,
        "concurrency": AccountConcurrency(limit=1000, unreserved=1000),
    }
    return Situation(**(base | changes))  # type: ignore[arg-type]


# ------------------------------------------------------------------ concurrency, per account setting


@pytest.mark.parametrize(
    ("limit", "unreserved", "current", "allowed"),
    [
        # A brand-new account: 10 (sometimes 50). Only "no reservation" deploys.
        (10, 10, 0, [0]),
        (50, 50, 0, [0]),
        # One below the room for the smallest reservation.
        (149, 149, 0, [0]),
        (150, 150, 0, [0, 50]),
        (200, 200, 0, [0, 50, 100]),
        # The default account limit, nothing reserved elsewhere.
        (1000, 1000, 0, [0, 50, 100, 200, 400, 800]),
        # Other functions in the account reserve 850: their reservations are not the stack's to free.
        (1000, 150, 0, [0, 50]),
        # This stack's ingress already reserves 100 (so 100 are left unreserved): the update frees it.
        (1000, 100, 100, [0, 50, 100]),
        (300, 100, 100, [0, 50, 100]),
        # Someone reserved the account down to its minimum: nothing more.
        (1000, 100, 0, [0]),
    ],
)
def test_preflight_allows_what_lambda_accepts_for_each_account_setting(
    limit: int, unreserved: int, current: int, allowed: list[int]
) -> None:
    assert CHOICES == [0, 50, 100, 200, 400, 800]
    account = AccountConcurrency(limit=limit, unreserved=unreserved)
    assert allowed_reservations(account, CHOICES, current) == allowed
    for value in CHOICES:
        check = concurrency_check(account, CHOICES, value, current)
        assert check.ok == (value in allowed), (value, check.detail)


def test_preflight_a_refused_reservation_says_what_is_allowed_and_how_to_raise_the_limit() -> None:
    check = concurrency_check(AccountConcurrency(limit=10, unreserved=10), CHOICES, 100, 0)
    assert not check.ok
    assert "IngressReservedConcurrency=100 needs 200" in check.detail
    assert "this account has 10 of 10" in check.detail
    assert "Allowed here: 0." in check.detail
    assert "Service Quotas, AWS Lambda, Concurrent executions" in check.detail


def test_preflight_a_small_account_limit_passes_with_a_warning() -> None:
    check = concurrency_check(AccountConcurrency(limit=10, unreserved=10), CHOICES, 0, 0)
    assert check.ok and check.warning
    assert "limit is 10" in check.detail and "1,000" in check.detail


# ------------------------------------------------------------------ the stack a failed deploy left


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (None, True),
        ("REVIEW_IN_PROGRESS", True),  # a change set never executed: SAM treats it as new
        ("CREATE_COMPLETE", True),
        ("UPDATE_ROLLBACK_COMPLETE", True),
        ("DELETE_COMPLETE", True),
        ("ROLLBACK_COMPLETE", False),
        ("ROLLBACK_FAILED", False),
        ("DELETE_FAILED", False),
        ("UPDATE_ROLLBACK_FAILED", False),
        ("CREATE_FAILED", False),
        ("UPDATE_IN_PROGRESS", False),
        ("ROLLBACK_IN_PROGRESS", False),
    ],
)
def test_preflight_reads_each_stack_status(status: str | None, ok: bool) -> None:
    check = stack_check("northca-relay", "us-east-1", status)
    assert check.ok == ok, check.detail
    if status == "ROLLBACK_COMPLETE":
        assert "sam delete --stack-name northca-relay --region us-east-1" in check.detail
        assert "docs/troubleshooting.md" in check.detail


@pytest.mark.parametrize("name", ["", "1relay", "relay_prod", "relay prod", "r" * 129])
def test_preflight_refuses_a_name_cloudformation_refuses(name: str) -> None:
    assert not stack_check(name, "us-east-1", None).ok


def test_preflight_takes_a_stack_name_of_any_allowed_length() -> None:
    assert stack_check("r" * 128, "us-east-1", None).ok


# ------------------------------------------------------------------ region, second stack, certificate


def test_preflight_needs_a_region_and_refuses_one_pinned_elsewhere() -> None:
    assert not region_check(None, None).ok
    assert region_check("us-east-2", None).ok
    pinned = region_check("us-east-2", "eu-west-1")
    assert not pinned.ok and "eu-west-1" in pinned.detail and "us-east-2" in pinned.detail
    assert region_check("eu-west-1", "eu-west-1").ok


def test_preflight_refuses_a_second_relay_stack_in_one_account_and_region() -> None:
    refused = second_stack_check("northca-relay-prod", ["northca-relay"], allow=False)
    assert not refused.ok and "northca-relay" in refused.detail and "--allow-second-stack" in refused.detail
    allowed = second_stack_check("northca-relay-prod", ["northca-relay"], allow=True)
    assert allowed.ok and allowed.warning
    assert second_stack_check("northca-relay", [], allow=False).ok


@pytest.mark.parametrize(
    ("certificate", "region", "ok"),
    [
        ({"Status": "ISSUED"}, "us-east-1", True),
        ({"Status": "PENDING_VALIDATION"}, "us-east-1", False),
        (None, "us-east-1", False),
        ({"Status": "ISSUED"}, "eu-west-1", False),  # issued, but in another region
    ],
)
def test_preflight_checks_the_certificate_before_a_custom_domain(
    certificate: dict[str, str] | None, region: str, ok: bool
) -> None:
    result = evaluate(
        situation(region=region, certificate=certificate),
        config(),
        {"DomainName": "hooks.example.org", "CertificateArn": CERTIFICATE},
        CHOICES,
    )
    [check] = [c for c in result.checks if c.name == "certificate"]
    assert check.ok == ok, check.detail


# ------------------------------------------------------------------ the parameters relay deploy adds


def test_preflight_switches_the_roster_poll_off_without_an_erlc_server() -> None:
    assert derived_parameters(config(), None)["RosterPollState"] == "DISABLED"
    assert derived_parameters(config(erlc_servers=True), None)["RosterPollState"] == "ENABLED"


def test_preflight_keeps_the_schedule_on_for_a_source_with_expect_every() -> None:
    # The same tick looks for quiet sources (relay.watch): a watched source needs it without ER:LC
    data = base_config_data()
    data["sources"]["cad"]["expect_every"] = "2h"
    assert derived_parameters(parse_config(data), None)["RosterPollState"] == "ENABLED"


@pytest.mark.parametrize(
    ("status", "protected"),
    [(None, False), ("ROLLBACK_COMPLETE", False), ("CREATE_COMPLETE", True), ("UPDATE_COMPLETE", True)],
)
def test_preflight_protects_the_state_table_only_once_the_stack_exists(
    status: str | None, protected: bool
) -> None:
    derived = derived_parameters(config(), status)
    assert ("StateTableDeletionProtection" in derived) == protected


def test_preflight_never_overrides_a_parameter_the_operator_gave() -> None:
    result = evaluate(
        situation("UPDATE_COMPLETE"), config(), {"StateTableDeletionProtection": "false"}, CHOICES
    )
    assert "StateTableDeletionProtection" not in result.derived
    assert result.derived == {"RosterPollState": "DISABLED"}


def test_preflight_passes_a_new_stack_with_the_defaults_on_a_new_account() -> None:
    new_account = situation(concurrency=AccountConcurrency(limit=10, unreserved=10))
    result = evaluate(new_account, config(), {"Stage": "dev"}, CHOICES)
    assert result.passed, [c.line() for c in result.checks]
    refused = evaluate(new_account, config(), {"IngressReservedConcurrency": "100"}, CHOICES)
    assert not refused.passed
