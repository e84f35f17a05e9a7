"""The dashboard and the saved Logs Insights queries (issue #11, sections 1 and 3): every metric shown is
one the code emits, every function, queue and the API are on it, and every log line or field a query
reads is one the code writes."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.cfn import function_names, resources_of_type
from tests.support.constants import ROOT
from tests.support.metrics import consumer_metrics, emitted_metrics, error_metrics, roster_poll_metrics
from tests.support.render import Renderer, Stack

RELAY = ROOT / "functions" / "relay"
INGRESS_HANDLER = RELAY / "handlers" / "ingress.py"
PLACEHOLDER = "REPLACE_WITH_WEBHOOK_ID"


# ------------------------------------------------------------------ reading the dashboard

DISCORD = {"DiscordWebhookSecretName": "relay/alerts/discord"}


def dashboard(template: dict[str, Any], **parameters: str) -> tuple[dict[str, Any], Renderer]:
    """The body as CloudFormation renders it for one stack (parameters over the defaults)."""
    stack = Renderer(template, Stack(parameters=parameters))
    [resource] = stack.resources("AWS::CloudWatch::Dashboard").values()
    text = resource["Properties"]["DashboardBody"]
    assert "${" not in text, "every ${...} is a parameter, pseudo parameter, variable or resource"
    body: dict[str, Any] = json.loads(text)
    return body, stack


def metric_rows(template: dict[str, Any], **parameters: str) -> list[tuple[str, list[Any]]]:
    """(widget title, metric row without its options) for every metric of every metric widget."""
    body, _ = dashboard(template, **parameters)
    rows = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            values = [v for v in row if not isinstance(v, dict)]
            assert "." not in values, "no shorthand rows: each row names its metric in full"
            rows.append((widget["properties"]["title"], values))
    return rows


def custom_namespace(stack: Renderer) -> tuple[str, str]:
    """(namespace, service) the functions' Powertools metrics are published under in this stack."""
    variables = stack.value(stack.template["Globals"]["Function"]["Environment"]["Variables"])
    return variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]


def shown(template: dict[str, Any], custom: bool = False, **parameters: str) -> set[str]:
    """Metric names on the dashboard: the functions' own (custom) or AWS's."""
    _, stack = dashboard(template, **parameters)
    namespace, _ = custom_namespace(stack)
    rows = metric_rows(template, **parameters)
    return {row[1] for _, row in rows if (row[0] == namespace) == custom}


# ------------------------------------------------------------------ the dashboard


@pytest.mark.parametrize("parameters", [{}, DISCORD], ids=["defaults", "discord"])
def test_dashboard_is_valid_json_with_widgets_on_the_grid(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    body, stack = dashboard(template, **parameters)
    assert 0 < len(body["widgets"]) <= 500
    for widget in body["widgets"]:
        assert widget["x"] + widget["width"] <= 24, widget
        if widget["type"] in ("metric", "log"):
            assert widget["properties"]["region"] == stack.stack.region


def filter_metrics(template: dict[str, Any]) -> set[str]:
    """The metrics the template's log metric filters publish."""
    return {
        f["Properties"]["MetricTransformations"][0]["MetricName"]
        for f in resources_of_type(template, "AWS::Logs::MetricFilter").values()
    }


@pytest.mark.parametrize("detailed", ["false", "true"])
def test_dashboard_shows_only_metrics_the_code_emits(template: dict[str, Any], detailed: str) -> None:
    """Each custom row is a Powertools metric the code emits (with its service) or one a log metric
    filter of the template publishes (no dimension)."""
    emitted, counted = emitted_metrics(), filter_metrics(template)
    _, stack = dashboard(template, DetailedMonitoring=detailed)
    namespace_, service = custom_namespace(stack)
    for title, row in metric_rows(template, DetailedMonitoring=detailed):
        namespace, name, *dimensions = row
        if namespace == namespace_ and dimensions:
            assert name in emitted, (title, name)
            assert dimensions == ["service", service], (title, name)
        elif namespace == namespace_:
            assert name in counted, (title, name)
        else:
            assert namespace in ("AWS/Lambda", "AWS/SQS", "AWS/ApiGateway"), title


def test_dashboard_shows_every_webhook_outcome_and_every_consumer_and_poller_count(
    template: dict[str, Any],
) -> None:
    from relay.errors import AuthenticationError, RelayError

    # The abstract bases' names are never emitted: each concrete error names its own.
    abstract = {RelayError.metric_name, AuthenticationError.metric_name}
    ingress = (error_metrics() - abstract) | {
        "WebhooksAccepted",
        "WebhooksReplayed",
        "WebhooksRejectedUnknownRoute",
        "UnitChangesQueued",
        "EmergenciesQueued",
        "ReplayStoreUnavailable",
    }
    expected = ingress | consumer_metrics() | roster_poll_metrics() | {"RosterChangesQueued"}
    missing = expected - shown(template, custom=True, DetailedMonitoring="true")
    assert not missing, sorted(missing)
    # What is left out on purpose: the notifier's own counts (its Errors alarm covers a failed post).
    assert emitted_metrics() - expected - abstract == {"AlarmNotificationsPosted", "AlarmNotificationsFailed"}
    # Without DetailedMonitoring the functions publish none of them: the dashboard shows none.
    assert not shown(template, custom=True) - filter_metrics(template)


# CloudWatch's free tier: 3 dashboards of up to 50 metrics each a month; a bigger one is $3 a month.
FREE_DASHBOARD_METRICS = 50


@pytest.mark.parametrize("parameters", [{}, DISCORD], ids=["defaults", "discord"])
def test_dashboard_fits_the_free_tier_unless_detailed(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    """Issue #23: the dashboard had 58 metrics, over the free tier's 50 ($3 a month). By default it fits;
    DetailedMonitoring=true adds the functions' custom metrics, and docs/alarms.md gives both counts."""
    lean = len(metric_rows(template, **parameters))
    detailed = len(metric_rows(template, DetailedMonitoring="true", **parameters))
    assert lean <= FREE_DASHBOARD_METRICS
    assert detailed > lean
    docs = (ROOT / "docs" / "alarms.md").read_text(encoding="utf-8")
    assert (
        f"{lean} metrics" in docs
        or f"({lean} with the notifier)" in docs
        or f"{lean} with the notifier" in docs
    )
    if detailed > FREE_DASHBOARD_METRICS:
        assert f"{detailed} metrics" in docs or f"{detailed} with the notifier" in docs
        assert "DetailedMonitoring=true" in docs and "$3 a month" in docs


@pytest.mark.parametrize("parameters", [{}, DISCORD], ids=["defaults", "discord"])
@pytest.mark.parametrize("metric", ["Errors", "Throttles", "Duration"])
def test_dashboard_shows_each_function(
    template: dict[str, Any], metric: str, parameters: dict[str, str]
) -> None:
    """Every function the stack has, by its generated name (the notifier only with a Discord webhook)."""
    _, stack = dashboard(template, **parameters)
    names = {stack.ref(name): name for name in function_names(template) if stack.exists(name)}
    assert ("NotifierFunction" in names.values()) == bool(parameters)
    rows = [row for _, row in metric_rows(template, **parameters) if row[:2] == ["AWS/Lambda", metric]]
    assert all(row[2] == "FunctionName" for row in rows)
    assert sorted(names.get(row[3], row[3]) for row in rows) == sorted(names.values())


def test_dashboard_shows_the_queue_the_dead_letter_queues_and_the_api(template: dict[str, Any]) -> None:
    _, stack = dashboard(template)
    rows = [row for _, row in metric_rows(template)]
    queues = {stack.getatt(q, "QueueName"): q for q in resources_of_type(template, "AWS::SQS::Queue")}

    def queue_rows(metric: str) -> set[str]:
        return {queues[row[3]] for row in rows if row[:3] == ["AWS/SQS", metric, "QueueName"]}

    assert queue_rows("ApproximateNumberOfMessagesVisible") == set(queues.values())  # the queue and both DLQs
    assert queue_rows("ApproximateAgeOfOldestMessage") == {"WebhookQueue", "EmergencyQueue"}
    api_id = ["ApiId", stack.ref("WebhookApi")]
    api = {row[1] for row in rows if row[:1] == ["AWS/ApiGateway"] and row[2:] == api_id}
    assert {"Count", "4xx", "5xx"} <= api


def test_dashboard_tables_run_the_saved_query_on_the_ingress_logs(template: dict[str, Any]) -> None:
    body, stack = dashboard(template)
    group = stack.ref("IngressLogGroup")
    queries = [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
    assert queries and all(q.startswith(f"SOURCE '{group}' | ") for q in queries)
    saved = template["Resources"]["RefusedWebhooksQuery"]["Properties"]["QueryString"]
    assert f"SOURCE '{group}' | {saved}" in queries
    [accepted] = [q for q in queries if q != f"SOURCE '{group}' | {saved}"]
    assert '"webhook accepted"' in accepted and "source" in accepted
    assert "webhook accepted" in logged_messages(INGRESS_HANDLER)


# ------------------------------------------------------------------ what the code logs


def _logger_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "logger"
    ]


def logged_messages(path: Path, function: str | None = None) -> set[str]:
    """The messages of `logger.<level>("...")` calls in a module (or one of its functions)."""
    tree: ast.AST = ast.parse(path.read_text(encoding="utf-8"))
    if function is not None:
        [tree] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    return {
        call.args[0].value
        for call in _logger_calls(tree)
        if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
    }


def logged_keys(path: Path) -> set[str]:
    """Keys a module's log lines carry: `extra={...}` literals and `logger.append_keys(key=...)`."""
    keys: set[str] = set()
    for call in _logger_calls(ast.parse(path.read_text(encoding="utf-8"))):
        for keyword in call.keywords:
            if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                keys |= {k.value for k in keyword.value.keys if isinstance(k, ast.Constant)}
            elif isinstance(call.func, ast.Attribute) and call.func.attr == "append_keys" and keyword.arg:
                keys.add(keyword.arg)
    return keys


def query_fields(query: str) -> set[str]:
    """Field names a query reads (not @-fields, functions, keywords, aliases or string literals)."""
    text = re.sub(r'"[^"]*"', "", query)
    words = set(re.findall(r"(?<![@\w])\b([a-z_]+)\b(?!\s*\()", text))
    aliases = set(re.findall(r"\bas\s+(\w+)", text))
    keywords = {
        "fields",
        "filter",
        "stats",
        "sort",
        "limit",
        "by",
        "as",
        "in",
        "desc",
        "asc",
        "like",
        "and",
        "or",
    }
    return words - aliases - keywords


# ------------------------------------------------------------------ the saved queries


def saved_query(template: dict[str, Any], name: str) -> dict[str, Any]:
    resource = template["Resources"][name]
    assert resource["Type"] == "AWS::Logs::QueryDefinition"
    props: dict[str, Any] = resource["Properties"]
    assert props["Name"]["Fn::Sub"].startswith("${AWS::StackName}/"), "one console folder per stack"
    assert len(props["QueryString"]) <= 10_000
    return props


def test_queries_refused_webhooks_by_source_and_reason_reads_every_refusal_line(
    template: dict[str, Any],
) -> None:
    query = saved_query(template, "RefusedWebhooksQuery")
    assert query["LogGroupNames"] == [{"Ref": "IngressLogGroup"}]
    [listed] = re.findall(r"message in \[([^\]]*)\]", query["QueryString"])
    messages = set(re.findall(r'"([^"]+)"', listed))
    # Exactly the lines the ingress writes when it refuses a webhook: a new kind of refusal shows here.
    assert messages == logged_messages(INGRESS_HANDLER, "on_relay_error")
    fields = query_fields(query["QueryString"])
    assert {"source", "status", "kind", "reason", "error"} <= fields
    assert fields - {"message"} <= logged_keys(INGRESS_HANDLER), fields - logged_keys(INGRESS_HANDLER)
    assert re.search(r"stats .* by source\b", query["QueryString"])


def test_queries_the_path_of_one_webhook_follows_its_id_through_ingress_and_consumer(
    template: dict[str, Any],
) -> None:
    query = saved_query(template, "WebhookPathQuery")
    assert query["LogGroupNames"] == [{"Ref": "IngressLogGroup"}, {"Ref": "ConsumerLogGroup"}]
    assert query["QueryString"].count(PLACEHOLDER) == 1
    assert f'@message like "{PLACEHOLDER}"' in query["QueryString"]
    # The id is on every line of the trail: the ingress makes it the correlation id and a key...
    pipeline = (RELAY / "ingress" / "pipeline.py").read_text(encoding="utf-8")
    assert "logger.set_correlation_id(webhook_id)" in pipeline
    assert "webhook_id" in logged_keys(RELAY / "ingress" / "pipeline.py")
    # ...and the consumer names it in each unit's outcome (rows of "unit outcomes") and each dead letter.
    consumer = RELAY / "consumer" / "pipeline.py"
    assert {"unit outcomes", "message dead-lettered"} <= logged_messages(consumer)
    assert {"units", "webhook_id"} <= logged_keys(consumer)
    assert '"webhook_ids": webhook_ids' in consumer.read_text(encoding="utf-8")
    known = logged_keys(INGRESS_HANDLER) | logged_keys(consumer) | {"message"}
    assert query_fields(query["QueryString"]) - {PLACEHOLDER.lower()} <= known
