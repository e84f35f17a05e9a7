"""Each stack's metrics, alarms, dashboard and saved queries are its own (the house issue, "metrics per
stack"): Powertools takes the namespace and service from POWERTOOLS_METRICS_NAMESPACE and
POWERTOOLS_SERVICE_NAME, the template ties both to the stack's name, and every alarm, every dashboard
row and every saved query uses the same values. Rendered for two stacks in one account and region."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.render import Renderer, Stack

STACKS = ("northca-relay", "community-b-relay")
AWS_NAMESPACE = re.compile(r"^AWS/")
# Every parameter that makes a resource exist, so that all of them are checked.
EVERYTHING = {"AlarmEmail": "ops@example.org", "DiscordWebhookSecretName": "relay/alerts/discord"}


def stack(template: dict[str, Any], name: str) -> Renderer:
    return Renderer(template, Stack(name=name, parameters=EVERYTHING))


def published_as(renderer: Renderer) -> tuple[str, str]:
    """(namespace, service) Powertools publishes the functions' metrics under in this stack."""
    variables = renderer.value(renderer.template["Globals"]["Function"]["Environment"]["Variables"])
    return variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]


def alarm_metrics(renderer: Renderer) -> list[tuple[str, dict[str, Any]]]:
    """(alarm, metric) for every metric every alarm watches, rendered."""
    found = []
    for name, alarm in renderer.resources("AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if "MetricName" in props:
            found.append((name, props))
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                found.append((name, query["MetricStat"]["Metric"]))
    return found


def test_each_stack_publishes_under_its_own_namespace_and_service(template: dict[str, Any]) -> None:
    first, second = (published_as(stack(template, name)) for name in STACKS)
    assert first != second
    for name, (namespace, service) in zip(STACKS, (first, second), strict=True):
        assert service == name
        assert name in namespace and not AWS_NAMESPACE.match(namespace)
        # CloudWatch's namespace rules: at most 255 characters of these.
        assert re.fullmatch(r"[A-Za-z0-9.\-_/#: ]{1,255}", namespace), namespace
    # Every function gets them from the Globals: none overrides either.
    for resource in template["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert not {"POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"} & set(variables)


@pytest.mark.parametrize("name", STACKS)
def test_every_alarm_watches_its_own_stacks_metrics(template: dict[str, Any], name: str) -> None:
    renderer = stack(template, name)
    namespace, service = published_as(renderer)
    custom = [(alarm, m) for alarm, m in alarm_metrics(renderer) if not AWS_NAMESPACE.match(m["Namespace"])]
    assert custom
    for alarm, metric in custom:
        assert metric["Namespace"] == namespace, alarm
        # Powertools adds the service dimension; a log metric filter's metric has none.
        assert metric.get("Dimensions", []) in ([], [{"Name": "service", "Value": service}]), alarm


@pytest.mark.parametrize("detailed", ["false", "true"])
@pytest.mark.parametrize("name", STACKS)
def test_every_dashboard_row_shows_its_own_stacks_metrics(
    template: dict[str, Any], name: str, detailed: str
) -> None:
    parameters = EVERYTHING | (
        {"DetailedMonitoring": detailed} if "DetailedMonitoring" in template["Parameters"] else {}
    )
    renderer = Renderer(template, Stack(name=name, parameters=parameters))
    namespace, service = published_as(renderer)
    [dashboard] = renderer.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"])
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            values = [v for v in row if not isinstance(v, dict)]
            if not AWS_NAMESPACE.match(values[0]):
                assert values[0] == namespace, widget["properties"]["title"]
                assert values[2:] in ([], ["service", service]), widget["properties"]["title"]


def test_the_saved_queries_and_log_widgets_never_filter_on_another_service(template: dict[str, Any]) -> None:
    """They read the stack's own log groups; a filter on `service` would have to be the stack's."""
    for name in STACKS:
        renderer = stack(template, name)
        _, service = published_as(renderer)
        queries = [
            q["Properties"]["QueryString"] for q in renderer.resources("AWS::Logs::QueryDefinition").values()
        ]
        [dashboard] = renderer.resources("AWS::CloudWatch::Dashboard").values()
        body = json.loads(dashboard["Properties"]["DashboardBody"])
        queries += [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
        assert queries
        for query in queries:
            for filtered in re.findall(r"\bservice\s*(?:=|like|in)\s*(\S+)", query):
                assert filtered.strip("\"'") == service, query


def test_two_stacks_share_no_name(template: dict[str, Any]) -> None:
    """Alarms, dashboards, saved queries, layers and metric namespaces of two stacks never collide."""
    named = {
        "AWS::CloudWatch::Alarm": "AlarmName",
        "AWS::CloudWatch::Dashboard": "DashboardName",
        "AWS::Logs::QueryDefinition": "Name",
        "AWS::Serverless::LayerVersion": "LayerName",
    }
    seen: dict[str, str] = {}
    for name in STACKS:
        renderer = stack(template, name)
        for logical_id, resource in renderer.resources().items():
            if resource["Type"] in named:
                value = resource["Properties"][named[resource["Type"]]]
                assert value not in seen, (logical_id, value, seen.get(value))
                seen[value] = f"{name}/{logical_id}"
