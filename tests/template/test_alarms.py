"""Alarms and their notifications (issue #11, section 3): every function's Errors and Throttles, the API's
5xx, refused ER:LC keys, each alarm telling the topic when it exists, and the topic feeding the
optional Discord notifier."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cfn import (
    function_names,
    function_properties,
    parameter,
    ref_target,
    references,
    resources_of_type,
)

NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, "AWS::CloudWatch::Alarm")


CUSTOM = {"Fn::Sub": "NorthcaRelay/${AWS::StackName}"}


def watching(template: dict[str, Any], namespace: Any, metric: str) -> dict[str, dict[str, Any]]:
    """Alarms on one metric, by name -> {dimension name: dimension value}."""
    return {
        name: {d["Name"]: d["Value"] for d in alarm["Properties"].get("Dimensions", [])}
        for name, alarm in alarms(template).items()
        if alarm["Properties"].get("Namespace") == namespace
        and alarm["Properties"].get("MetricName") == metric
    }


def fires_on_the_first_one(alarm: dict[str, Any]) -> None:
    props = alarm["Properties"]
    assert props["Statistic"] == "Sum"
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    assert props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_alarms_every_function_has_an_errors_and_a_throttles_alarm(
    template: dict[str, Any], metric: str
) -> None:
    watched = {}
    for name, dimensions in watching(template, "AWS/Lambda", metric).items():
        assert set(dimensions) == {"FunctionName"}, name
        watched[ref_target(dimensions["FunctionName"])] = name
    assert set(watched) == set(function_names(template))
    for function, alarm_name in watched.items():
        alarm = template["Resources"][alarm_name]
        fires_on_the_first_one(alarm)
        # A conditional function (the notifier) has conditional alarms.
        assert alarm.get("Condition") == template["Resources"][function].get("Condition"), alarm_name


def test_alarms_the_api_5xx_is_watched(template: dict[str, Any]) -> None:
    [(name, dimensions)] = watching(template, "AWS/ApiGateway", "5xx").items()
    assert dimensions == {"ApiId": {"Ref": "WebhookApi"}}
    assert template["Resources"]["WebhookApi"]["Type"] == "AWS::Serverless::HttpApi"
    fires_on_the_first_one(template["Resources"][name])


def test_alarms_a_refused_erlc_key_is_watched(template: dict[str, Any]) -> None:
    [name] = watching(template, CUSTOM, "RosterPollAuthFailed")
    fires_on_the_first_one(template["Resources"][name])


def test_alarms_a_partner_refusing_the_setup_is_watched(template: dict[str, Any]) -> None:
    # The key refused after a fresh fetch, an MDT not linked, a wrong base_url: the operator's to fix
    [name] = watching(template, CUSTOM, "PartnerMisconfigured")
    fires_on_the_first_one(template["Resources"][name])


def test_alarms_every_alarm_tells_the_topic_when_it_exists(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    for name, alarm in alarms(template).items():
        props = alarm["Properties"]
        if alarm.get("Condition") is None:
            expected = NOTIFY
        else:
            # An alarm that exists only with the topic names it outright (an !If would be dead code).
            assert {"Condition": alarm["Condition"]} in conditions["HasAlarmTopic"]["Fn::Or"], name
            expected = [{"Ref": "AlarmTopic"}]
        assert props["AlarmActions"] == expected, name
        assert props["OKActions"] == expected, name


def test_alarms_are_named_after_the_stack(template: dict[str, Any]) -> None:
    names = set()
    for name, alarm in alarms(template).items():
        alarm_name = alarm["Properties"]["AlarmName"]["Fn::Sub"]
        assert alarm_name.startswith("${AWS::StackName}-"), name
        assert alarm["Properties"]["AlarmDescription"], name
        names.add(alarm_name)
    assert len(names) == len(alarms(template))


def test_alarms_the_topic_exists_for_email_or_discord(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    assert conditions["HasAlarmTopic"] == {
        "Fn::Or": [{"Condition": "HasAlarmEmail"}, {"Condition": "HasDiscordNotifier"}]
    }
    assert conditions["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert conditions["HasDiscordNotifier"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DiscordWebhookSecretName"}, ""]}]
    }
    for name in ("AlarmEmail", "DiscordWebhookSecretName"):
        assert parameter(template, name)["Default"] == ""
    topic = template["Resources"]["AlarmTopic"]
    assert topic["Condition"] == "HasAlarmTopic"
    # The email subscription only when there is an address.
    subscription = topic["Properties"]["Subscription"]["Fn::If"]
    assert subscription[0] == "HasAlarmEmail"
    assert subscription[1] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    assert subscription[2] == {"Ref": "AWS::NoValue"}


def test_alarms_the_notifier_is_fed_by_the_topic_and_reads_only_its_secret(template: dict[str, Any]) -> None:
    notifier = template["Resources"]["NotifierFunction"]
    assert notifier["Condition"] == "HasDiscordNotifier"
    props = function_properties(template, "NotifierFunction")
    assert props["Handler"] == "relay.handlers.notifier.lambda_handler"
    [event] = props["Events"].values()
    assert event == {"Type": "SNS", "Properties": {"Topic": {"Ref": "AlarmTopic"}}}
    assert props["Environment"]["Variables"]["DISCORD_WEBHOOK_SECRET"] == {"Ref": "DiscordWebhookSecretName"}
    # Async invokes (SNS): a failed post is retried by Lambda, a bounded number of times.
    assert 1 <= props["EventInvokeConfig"]["MaximumRetryAttempts"] <= 2
    [policy] = props["Policies"]
    [statement] = policy["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    for resource in statement["Resource"]:
        assert resource["Fn::Sub"].split(":secret:")[1] in (
            "${DiscordWebhookSecretName}",
            "${DiscordWebhookSecretName}-??????",
        )


def implies(template: dict[str, Any], condition: str | None, needed: str) -> bool:
    """`condition` true means `needed` is true: the same, `needed` an Or that includes it, or `condition`
    an And that includes something that implies `needed`."""
    if condition is None:
        return False
    if condition == needed:
        return True
    conditions = template["Conditions"]
    needed_body, body = conditions[needed], conditions[condition]
    if isinstance(needed_body, dict) and {"Condition": condition} in needed_body.get("Fn::Or", []):
        return True
    parts = body.get("Fn::And", []) if isinstance(body, dict) else []
    return any(isinstance(p, dict) and implies(template, p.get("Condition"), needed) for p in parts)


def test_alarms_what_refers_to_a_conditional_resource_exists_only_with_it(template: dict[str, Any]) -> None:
    """cfn-lint checks this on plain resources; this covers the SAM ones before the transform too."""
    resources = template["Resources"]
    checked = 0
    for name, resource in resources.items():
        own = resource.get("Condition")
        for target in references(resource.get("Properties", {})) & set(resources):
            needed = resources[target].get("Condition")
            if needed is None or implies(template, own, needed):
                continue
            checked += 1
            assert only_under_if(template, resource.get("Properties", {}), target, needed), (name, target)
    assert checked  # the alarms' !If [HasAlarmTopic, ...]


def only_under_if(template: dict[str, Any], value: Any, target: str, needed: str) -> bool:
    """True if every reference to `target` in `value` sits in the true branch of an `Fn::If` whose
    condition implies `needed`."""
    if isinstance(value, dict):
        if "Fn::If" in value:
            condition, _, when_false = value["Fn::If"]
            if implies(template, condition, needed):
                return target not in references(when_false)
        elif "Fn::Sub" in value and isinstance(value["Fn::Sub"], list):
            # The text itself must not name it; its variables may, each under its own Fn::If.
            text, variables = value["Fn::Sub"]
            bare = references({"Fn::Sub": text}) - set(variables)
            return target not in bare and only_under_if(template, variables, target, needed)
        elif set(value) & {"Ref", "Fn::GetAtt", "Fn::Sub"}:
            return target not in references(value)
        return all(only_under_if(template, v, target, needed) for v in value.values())
    if isinstance(value, list):
        return all(only_under_if(template, v, target, needed) for v in value)
    return True
