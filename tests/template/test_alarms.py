"""Alarms and their notifications (issue #11, section 3; issue #23, "alarms are noisy"): the alarms as
chosen, each paging on what needs a person once, every function's failure reaching one, the API's 5xx
and request count, refused ER:LC keys and a partner refusing the setup counted from the code's own log
lines, CloudWatch's free tier, each alarm telling the topic when it exists, and the topic feeding the
optional Discord notifier."""

from __future__ import annotations

import ast
import re
from typing import Any, get_args

import pytest

from tests.support.cfn import (
    function_names,
    function_properties,
    parameter,
    ref_target,
    references,
    resources_of_type,
)
from tests.support.constants import ROOT
from tests.support.metrics import emitted_metrics

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


# The alarms as chosen (issue #23, "alarms are noisy"): each pages on what needs a person, once.
# logical id -> (namespace, metric, evaluation periods, datapoints to alarm). The function and API alarms
# need failures in 2 of 3 five-minute periods (the poller's in all 3): one cold-start timeout or one
# deliberate 503 pages nobody. Throttles have no alarm of their own (see template.yaml).
CHOSEN = {
    "Api5xxAlarm": ("AWS/ApiGateway", "5xx", 3, 2),
    "ApiRequestsAlarm": ("AWS/ApiGateway", "Count", 1, 1),
    "ReplayProtectionLostAlarm": (CUSTOM, "ReplayProtectionLost", 3, 2),
    "ConsumerErrorsAlarm": ("AWS/Lambda", "Errors", 3, 2),
    "QueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", 1, 1),
    "DlqDepthAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", 1, 1),
    "ScheduleDlqDepthAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", 1, 1),
    "ScheduledErrorsAlarm": ("AWS/Lambda", "Errors", 3, 3),
    "ErlcKeyRefusedAlarm": (CUSTOM, "ErlcKeyRefused", 1, 1),
    "PartnerRefusesSetupAlarm": (CUSTOM, "PartnerRefusesSetup", 1, 1),
    "EmergencyNotDeliveredAlarm": (CUSTOM, "EmergenciesNotDelivered", 1, 1),
    "NotifierErrorsAlarm": ("AWS/Lambda", "Errors", 1, 1),
}
# Where each function's failure pages someone: the ingress's crashes, timeouts and throttles reach its
# senders as the API's 5xx.
FUNCTION_FAILURES = {
    "IngressFunction": "Api5xxAlarm",
    "ConsumerFunction": "ConsumerErrorsAlarm",
    "ScheduledFunction": "ScheduledErrorsAlarm",
    "NotifierFunction": "NotifierErrorsAlarm",
}
FREE_ALARM_METRICS = 10
# Beyond the free ten, each priced in docs/cost.md: a call or panic not delivered pages at once (issue 18).
PAID_ALARM_METRICS = {"EmergencyNotDeliveredAlarm": 1}
RELAY = ROOT / "functions" / "relay"


def alarm_metric_count(alarm: dict[str, Any]) -> int:
    """Alarm metrics as CloudWatch bills them: one per metric an alarm (or its math) reads."""
    queries = alarm["Properties"].get("Metrics")
    return sum("MetricStat" in q for q in queries) if queries else 1


def test_alarms_are_the_chosen_ones(template: dict[str, Any]) -> None:
    assert set(alarms(template)) == set(CHOSEN)
    for name, (namespace, metric, periods, datapoints) in CHOSEN.items():
        props = template["Resources"][name]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric), name
        assert props["EvaluationPeriods"] == periods, name
        assert props.get("DatapointsToAlarm", periods) == datapoints, name
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["ComparisonOperator"] == "GreaterThanThreshold", name
        # Nobody is told that a problem went away: the console shows it.
        assert "OKActions" not in props, name


def test_alarms_every_functions_failure_pages_someone(template: dict[str, Any]) -> None:
    assert set(FUNCTION_FAILURES) == set(function_names(template))
    for function, alarm_name in FUNCTION_FAILURES.items():
        alarm = template["Resources"][alarm_name]
        dimensions = {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]}
        if function == "IngressFunction":
            events = function_properties(template, function)["Events"].values()
            assert {e["Properties"]["ApiId"]["Ref"] for e in events} == {ref_target(dimensions["ApiId"])}
        else:
            assert ref_target(dimensions["FunctionName"]) == function
        # A conditional function (the notifier) has a conditional alarm.
        assert alarm.get("Condition") == template["Resources"][function].get("Condition"), alarm_name


@pytest.mark.parametrize("discord", [False, True])
def test_alarms_fit_cloudwatchs_free_tier(template: dict[str, Any], discord: bool) -> None:
    """Ten standard alarm metrics a month are free; an alarm on metric math is billed per metric it
    reads (the old ingress-degraded alarm read four). The Discord notifier's own alarm adds one, and
    emergency-not-delivered one more ($0.10 a month each, docs/cost.md)."""
    from tests.support.render import Renderer, Stack

    parameters = {"DiscordWebhookSecretName": "relay/alerts/discord"} if discord else {}
    stack = Renderer(template, Stack(parameters=parameters))
    billed = sum(alarm_metric_count(a) for n, a in alarms(template).items() if stack.exists(n))
    assert billed <= FREE_ALARM_METRICS + int(discord) + sum(PAID_ALARM_METRICS.values())
    docs = (ROOT / "docs" / "cost.md").read_text(encoding="utf-8")
    assert "emergency-not-delivered" in docs


def test_alarms_the_api_5xx_is_watched(template: dict[str, Any]) -> None:
    [dimensions] = watching(template, "AWS/ApiGateway", "5xx").values()
    assert dimensions == {"ApiId": {"Ref": "WebhookApi"}}
    assert template["Resources"]["WebhookApi"]["Type"] == "AWS::Serverless::HttpApi"


def test_alarms_a_flood_of_requests_is_watched_within_the_hour(template: dict[str, Any]) -> None:
    [(name, dimensions)] = watching(template, "AWS/ApiGateway", "Count").items()
    props = template["Resources"][name]["Properties"]
    assert dimensions == {"ApiId": {"Ref": "WebhookApi"}}
    assert (props["Statistic"], props["Period"]) == ("Sum", 3600)
    assert props["Threshold"] == {"Ref": "ApiRequestsAlarmPerHour"}
    # A flood at the default throttle (2/s) sends 7,200 an hour: the alarm must fire well before.
    assert parameter(template, "ApiRequestsAlarmPerHour")["Default"] < 2 * 3600


# ------------------------------------------------------------------ the alarms counted from log lines


def logged(level: str | None = None) -> set[str]:
    """Every message the relay logs, in any module of functions/relay: `logger.<level>("...")`, and (any
    level) a call through a local alias of a logger method, as the poller's `log = logger.info if ...`."""
    messages = set()
    for path in RELAY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "logger"
            ):
                if level is None or func.attr == level:
                    messages.add(node.args[0].value)
            elif isinstance(func, ast.Name) and func.id == "log" and level is None:
                messages.add(node.args[0].value)
    return messages


def metric_filter(template: dict[str, Any], metric: str) -> dict[str, Any]:
    [props] = [
        f["Properties"]
        for f in resources_of_type(template, "AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == metric
    ]
    [transformation] = props["MetricTransformations"]
    assert transformation["MetricNamespace"] == CUSTOM
    # No default value: a filter then publishes only when a line matches (no metric, no charge, until then).
    assert "DefaultValue" not in transformation and transformation["MetricValue"] == "1"
    result: dict[str, Any] = props
    return result


def pattern_messages(pattern: str) -> set[str]:
    return set(re.findall(r'\$\.message = "([^"]+)"', pattern))


def test_alarms_count_only_lines_the_code_writes(template: dict[str, Any]) -> None:
    """A renamed log line would leave its alarm silent forever: every message a filter matches is one a
    logger call in functions/relay writes, and no filter's metric is also a Powertools metric (it would
    count twice with DetailedMonitoring)."""
    filters = resources_of_type(template, "AWS::Logs::MetricFilter")
    assert filters
    written = logged()
    for name, resource in filters.items():
        messages = pattern_messages(resource["Properties"]["FilterPattern"])
        assert messages and messages <= written, (name, messages - written)
        assert resource["Properties"]["MetricTransformations"][0]["MetricName"] not in emitted_metrics()
    # Each filter's metric is what one alarm watches.
    watched = {a["Properties"]["MetricName"] for a in alarms(template).values()}
    for resource in filters.values():
        assert resource["Properties"]["MetricTransformations"][0]["MetricName"] in watched


def test_alarms_a_refused_erlc_key_is_watched(template: dict[str, Any]) -> None:
    from relay.erlc.poller import PollResult

    props = metric_filter(template, "ErlcKeyRefused")
    assert props["LogGroupName"] == {"Ref": "ScheduledLogGroup"}
    # With it, the quiet sources (relay.watch): one alarm metric for "a source is not heard".
    quiet = "SOURCE QUIET: nothing heard for longer than expect_every"
    assert pattern_messages(props["FilterPattern"]) == {"roster poll", quiet}
    assert quiet in logged("error")
    [result] = re.findall(r'\$\.result = "([^"]+)"', props["FilterPattern"])
    assert result == "auth-failed" and result in get_args(PollResult)
    [name] = watching(template, CUSTOM, "ErlcKeyRefused")
    assert template["Resources"][name]["Properties"]["EvaluationPeriods"] == 1


def test_alarms_a_partner_refusing_the_setup_is_watched(template: dict[str, Any]) -> None:
    """The key refused after a fresh fetch, an MDT not linked, a wrong base_url, a list of units the relay
    cannot read: the operator's to fix. The consumer writes each as an ERROR line in capitals; the
    filter matches every one of them."""
    props = metric_filter(template, "PartnerRefusesSetup")
    assert props["LogGroupName"] == {"Ref": "ConsumerLogGroup"}
    capitals = {m for m in logged("error") if m.startswith("PARTNER")}
    # the units' four refusals of the setup, the calls' and panics' one, a storm of 429s (northca.pacing)
    assert len(capitals) == 6
    assert pattern_messages(props["FilterPattern"]) == capitals


def test_alarms_a_call_or_panic_not_delivered_pages_within_a_minute(template: dict[str, Any]) -> None:
    """Issue 18: a panic or call that could not be delivered fires an alarm at once. Both functions that
    can lose one write the line; one metric counts both."""
    filters = [
        f["Properties"]
        for f in resources_of_type(template, "AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == "EmergenciesNotDelivered"
    ]
    assert {f["LogGroupName"]["Ref"] for f in filters} == {"ConsumerLogGroup", "IngressLogGroup"}
    for props in filters:
        assert pattern_messages(props["FilterPattern"]) == {"EMERGENCY NOT DELIVERED"}
    assert "EMERGENCY NOT DELIVERED" in logged("error")
    [name] = watching(template, CUSTOM, "EmergenciesNotDelivered")
    alarm = template["Resources"][name]["Properties"]
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (60, 1, 0)


def test_alarms_lost_replay_protection_is_watched(template: dict[str, Any]) -> None:
    props = metric_filter(template, "ReplayProtectionLost")
    assert props["LogGroupName"] == {"Ref": "IngressLogGroup"}
    # The archive not written is the same kind of loss (fail open), folded into the same alarm metric.
    assert pattern_messages(props["FilterPattern"]) == {"replay store unavailable", "archive not written"}
    assert {"replay store unavailable", "archive not written"} <= logged("warning")


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
