"""The optional custom domain (issue #11, section 4): senders get a stable URL on the operator's domain,
and without the parameters nothing of it exists. Plain API Gateway v2 and Route 53 resources, each
with a condition: SAM's HttpApi `Domain` cannot be switched off with an !If (the transform fails)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.cfn import parameter

DOMAIN_PARAMETERS = ("DomainName", "CertificateArn", "HostedZoneId")
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7"


@pytest.mark.parametrize("name", DOMAIN_PARAMETERS)
def test_domain_parameters_are_optional(template: dict[str, Any], name: str) -> None:
    param = parameter(template, name)
    assert param["Default"] == ""
    assert re.fullmatch(param["AllowedPattern"], "")


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "DomainName",
            ["hooks.example.org", "relay.north-ca.co.uk"],
            ["Hooks.Example.org", "example", "https://x.org"],
        ),
        (
            "CertificateArn",
            [CERTIFICATE],
            ["arn:aws:iam::123456789012:server-certificate/x", "certificate/x"],
        ),
        ("HostedZoneId", ["Z0123456789ABCDEFGHIJ"], ["z123", "/hostedzone/Z1"]),
    ],
)
def test_domain_parameters_accept_only_their_shape(
    template: dict[str, Any], name: str, good: list[str], bad: list[str]
) -> None:
    pattern = parameter(template, name)["AllowedPattern"]
    assert all(re.fullmatch(pattern, value) for value in good)
    assert not any(re.fullmatch(pattern, value) for value in bad)


def test_domain_conditions_and_rules(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    assert conditions["HasCustomDomain"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    assert conditions["HasDomainRecord"] == {
        "Fn::And": [
            {"Condition": "HasCustomDomain"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "HostedZoneId"}, ""]}]},
        ]
    }
    # A domain without a certificate, or a certificate or zone without a domain, fails before any change.
    rules = template["Rules"]
    needs_certificate = rules["CustomDomainNeedsItsCertificate"]
    assert needs_certificate["RuleCondition"] == conditions["HasCustomDomain"]
    assert needs_certificate["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]
    }
    unused = rules["CertificateAndZoneNeedTheDomain"]
    assert unused["RuleCondition"] == {"Fn::Equals": [{"Ref": "DomainName"}, ""]}
    assert unused["Assertions"][0]["Assert"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "CertificateArn"}, ""]},
            {"Fn::Equals": [{"Ref": "HostedZoneId"}, ""]},
        ]
    }


def test_domain_resources(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    # Not SAM's Domain property: it cannot be conditional.
    assert "Domain" not in resources["WebhookApi"]["Properties"]
    domain = resources["WebhookDomain"]
    assert (domain["Type"], domain["Condition"]) == ("AWS::ApiGatewayV2::DomainName", "HasCustomDomain")
    assert domain["Properties"]["DomainName"] == {"Ref": "DomainName"}
    assert domain["Properties"]["DomainNameConfigurations"] == [
        {"CertificateArn": {"Ref": "CertificateArn"}, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
    ]
    mapping = resources["WebhookDomainMapping"]
    assert (mapping["Type"], mapping["Condition"]) == ("AWS::ApiGatewayV2::ApiMapping", "HasCustomDomain")
    assert mapping["Properties"] == {
        "DomainName": {"Ref": "WebhookDomain"},
        "ApiId": {"Ref": "WebhookApi"},
        "Stage": {"Ref": "WebhookApi.Stage"},  # SAM's $default stage
    }
    assert "ApiMappingKey" not in mapping["Properties"]  # the root: /hooks/... as on execute-api
    record = resources["WebhookDomainRecord"]
    assert (record["Type"], record["Condition"]) == ("AWS::Route53::RecordSet", "HasDomainRecord")
    assert record["Properties"] == {
        "HostedZoneId": {"Ref": "HostedZoneId"},
        "Name": {"Ref": "DomainName"},
        "Type": "A",
        "AliasTarget": {
            "DNSName": {"Fn::GetAtt": ["WebhookDomain", "RegionalDomainName"]},
            "HostedZoneId": {"Fn::GetAtt": ["WebhookDomain", "RegionalHostedZoneId"]},
            "EvaluateTargetHealth": False,
        },
    }


def test_domain_outputs_give_the_stable_url_beside_the_execute_api_one(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    custom = outputs["CustomWebhookUrl"]
    assert custom["Condition"] == "HasCustomDomain"
    assert custom["Value"] == {"Fn::Sub": "https://${DomainName}/hooks/"}
    # Same path as the execute-api URL, which stays (relay doctor and the e2e tooling read it).
    assert outputs["WebhookUrl"]["Value"]["Fn::Sub"].endswith("/hooks/")
    target = outputs["CustomDomainTarget"]
    assert target["Condition"] == "HasCustomDomain"
    assert target["Value"] == {"Fn::GetAtt": ["WebhookDomain", "RegionalDomainName"]}
