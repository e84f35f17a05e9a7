"""House rules for template.yaml, checked on the template as written (SAM, before the transform).

tests/support/cfn.py reads it: `!Ref`, `!Sub`, `!GetAtt`, ... come back as their long forms. Numbers
behind a `!Ref` to a parameter are checked at the parameter's Default and, where the rule depends on
it, at its MinValue/MaxValue.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint, lint_file

from relay.config.loader import load_config
from tests.support.cfn import (
    TEMPLATE_PATH,
    flat,
    function_properties,
    getatt_target,
    iter_policies,
    number,
    parameter,
    resolve,
    resource_text,
    resources_of_type,
)
from tests.support.constants import EVENTS, ROOT
from tests.support.metrics import emitted_metrics

REGION = "eu-west-1"

FUNCTIONS = ("IngressFunction", "ConsumerFunction", "ScheduledFunction", "NotifierFunction")
EXPECTED_ENV = {
    "IngressFunction": {"QUEUE_URL", "REPLAY_TABLE"},
    "ConsumerFunction": {"QUEUE_URL", "DLQ_URL", "STATE_TABLE"},
    "ScheduledFunction": {"QUEUE_URL", "EMERGENCY_QUEUE_URL", "STATE_TABLE"},
    "NotifierFunction": {"DISCORD_WEBHOOK_SECRET"},
}
# The settings model (relay.config.environment) that reads each function's environment.
ENVIRONMENT_MODELS = {
    "IngressFunction": "IngressEnvironment",
    "ConsumerFunction": "ConsumerEnvironment",
    "ScheduledFunction": "ScheduledEnvironment",
    "NotifierFunction": "NotifierEnvironment",
}
GLOBAL_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_METRICS_DISABLED",
    "RELAY_CONFIG",
}
# Services whose permissions must always name their resources.
SCOPED_SERVICES = ("secretsmanager", "sqs", "dynamodb")
SIX_TIMES = 6


# ------------------------------------------------------------------ helpers


def sqs_events(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "SQS"]


def consumer_event(template: dict[str, Any], name: str = "Queue") -> dict[str, Any]:
    """One of the consumer's two SQS event sources: the webhooks' (`Queue`) or the calls' and panics'
    (`Emergencies`)."""
    events = function_properties(template, "ConsumerFunction")["Events"]
    sqs = {key for key, event in events.items() if event["Type"] == "SQS"}
    assert sqs == {"Queue", "Emergencies"}, "the consumer reads the webhook queue and the emergency queue"
    properties: dict[str, Any] = events[name]["Properties"]
    return properties


# ------------------------------------------------------------------ cfn-lint and sam validate


def test_cfn_lint_reports_no_errors_or_warnings() -> None:
    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(regions=[REGION]))
    problems = [m for m in matches if m.rule.id[0] in "EW"]
    assert not problems, "\n".join(str(m) for m in problems)


def test_cfn_lint_is_really_linting() -> None:
    """Guards the test above: the API call must report a plainly broken SAM function."""
    broken = (
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.13, Handler: a.b, CodeUri: x/, Timeout: soon, Bogus: 1}\n"
    )
    ids = {m.rule.id for m in lint(broken, config=ManualArgs(regions=[REGION]))}
    assert {"E3002", "E3012"} <= ids


# ------------------------------------------------------------------ functions


def test_the_four_functions_exist(template: dict[str, Any]) -> None:
    assert set(resources_of_type(template, "AWS::Serverless::Function")) == set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_is_python313_on_arm64(template: dict[str, Any], name: str) -> None:
    props = function_properties(template, name)
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["CodeUri"] == "functions/"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_handler_module_exists_and_defines_the_handler(template: dict[str, Any], name: str) -> None:
    props = function_properties(template, name)
    module, _, attribute = props["Handler"].rpartition(".")
    assert module and attribute, f"{name}: Handler must be <module path>.<function>"
    path = ROOT / props["CodeUri"] / (module.replace(".", "/") + ".py")
    assert path.is_file(), f"{name}: handler module {path.relative_to(ROOT)} does not exist"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            defined |= {a.asname or a.name for a in node.names}
    assert attribute in defined, f"{name}: {path.relative_to(ROOT)} does not define {attribute}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_environment(template: dict[str, Any], name: str) -> None:
    variables = function_properties(template, name)["Environment"]["Variables"]
    missing = (EXPECTED_ENV[name] | GLOBAL_ENV) - set(variables)
    assert not missing, f"{name}: missing environment variables {sorted(missing)}"
    assert variables["RELAY_CONFIG"] == "relay.toml"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_logs_to_its_own_log_group_with_retention(template: dict[str, Any], name: str) -> None:
    props = function_properties(template, name)
    logging_config = props["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    group_ref = logging_config["LogGroup"]
    assert isinstance(group_ref, dict) and "Ref" in group_ref, f"{name}: LoggingConfig.LogGroup must !Ref"
    group = template["Resources"][group_ref["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert resolve(template, group["Properties"]["RetentionInDays"]) > 0
    # Its own group: no two functions share one; it exists exactly when the function does.
    others = {
        function_properties(template, other)["LoggingConfig"]["LogGroup"]["Ref"]
        for other in FUNCTIONS
        if other != name
    }
    assert group_ref["Ref"] not in others
    assert group.get("Condition") == template["Resources"][name].get("Condition")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_variable_a_function_is_given_is_one_its_code_reads(
    template: dict[str, Any], name: str
) -> None:
    """A variable no code reads drifts from the truth unnoticed (issue #10, item 18: PARTNER_KEY_SECRET was
    set from a parameter while the code read relay.toml)."""
    from relay.config import environment

    model = getattr(environment, ENVIRONMENT_MODELS[name])
    variables = set(function_properties(template, name)["Environment"]["Variables"])
    unread = variables - GLOBAL_ENV - set(model.model_fields)
    assert not unread, f"{name}: {sorted(unread)} set but never read by {model.__name__}"


def test_the_partner_key_grant_names_the_secret_relay_toml_names(template: dict[str, Any]) -> None:
    """relay.toml's northca.partner_key_secret is the one source of truth; the parameter only names the
    secret the consumer's IAM grant covers, so its default must be the shipped relay.toml's value."""
    shipped = load_config(ROOT / "relay.toml")
    # The secret that holds the partner key: the bundle, as relay.toml ships (else the key's own)
    assert parameter(template, "PartnerKeySecretName")["Default"] == shipped.secret_id(
        shipped.northca.partner_key_secret
    )
    assert "relay.toml" in parameter(template, "PartnerKeySecretName")["Description"]
    # No function is told the name: the code has one place to learn it from.
    for name in FUNCTIONS:
        values = function_properties(template, name)["Environment"]["Variables"].values()
        assert {"Ref": "PartnerKeySecretName"} not in values, name
    grants = [
        resource_text(template, resource)
        for owner, policy in iter_policies(template)
        if owner == "ConsumerFunction" and isinstance(policy, dict) and "Statement" in policy
        for statement in flat(policy["Statement"])
        if "secretsmanager:GetSecretValue" in flat(statement["Action"])
        for resource in flat(statement["Resource"])
    ]
    secret = shipped.secret_id(shipped.northca.partner_key_secret)
    assert grants and all(f":secret:{secret}" in grant for grant in grants), grants


def test_every_log_group_has_a_retention(template: dict[str, Any]) -> None:
    for name, group in resources_of_type(template, "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], name


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_is_tagged(template: dict[str, Any], name: str) -> None:
    assert function_properties(template, name)["Tags"]["project"] == "northca-relay"


def test_no_function_with_an_sqs_event_has_an_async_dead_letter_queue(template: dict[str, Any]) -> None:
    # Failed SQS records go to the queue's redrive DLQ; a function DLQ only catches async invokes.
    for name in FUNCTIONS:
        props = function_properties(template, name)
        if sqs_events(props):
            assert "DeadLetterQueue" not in props, name


def test_layer_matches_the_functions(template: dict[str, Any]) -> None:
    layers = resources_of_type(template, "AWS::Serverless::LayerVersion")
    assert set(layers) == {"DepsLayer"}
    layer = layers["DepsLayer"]
    assert (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").is_file()
    for name in FUNCTIONS:
        props = function_properties(template, name)
        assert {"Ref": "DepsLayer"} in props["Layers"], name
        assert layer["Metadata"]["BuildArchitecture"] == props["Architectures"][0], name
        assert layer["Metadata"]["BuildMethod"] == props["Runtime"], name
        assert props["Architectures"][0] in layer["Properties"]["CompatibleArchitectures"], name
        assert props["Runtime"] in layer["Properties"]["CompatibleRuntimes"], name


# ------------------------------------------------------------------ queue and consumer


def test_consumer_reports_partial_batch_failures(template: dict[str, Any]) -> None:
    assert "ReportBatchItemFailures" in consumer_event(template)["FunctionResponseTypes"]


def test_consumer_batches(template: dict[str, Any]) -> None:
    event = consumer_event(template)
    assert number(template, event["BatchSize"]) > 10
    # More than 10 records per batch needs a batching window of at least one second.
    window = event["MaximumBatchingWindowInSeconds"]
    assert number(template, window) >= 1
    if isinstance(window, dict):
        assert number(template, window, "MinValue") >= 1
    concurrency = event["ScalingConfig"]["MaximumConcurrency"]
    assert number(template, concurrency) >= 2
    if isinstance(concurrency, dict):
        assert number(template, concurrency, "MinValue") >= 2


def test_emergencies_wait_for_no_batching_window_in_small_batches(template: dict[str, Any]) -> None:
    """Issue 18: a panic is never held behind the units' batching window."""
    event = consumer_event(template, "Emergencies")
    assert getatt_target(event["Queue"]) == "EmergencyQueue"
    assert event["MaximumBatchingWindowInSeconds"] == 0 and event["BatchSize"] <= 10
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    assert event["ScalingConfig"] == consumer_event(template)["ScalingConfig"]


@pytest.mark.parametrize("name", ["Queue", "Emergencies"])
def test_queue_visibility_covers_six_consumer_timeouts_and_the_window(
    template: dict[str, Any], name: str
) -> None:
    event = consumer_event(template, name)
    queue = template["Resources"][getatt_target(event["Queue"])]
    visibility = number(template, queue["Properties"]["VisibilityTimeout"])
    timeout = number(template, function_properties(template, "ConsumerFunction")["Timeout"])
    window = event["MaximumBatchingWindowInSeconds"]
    # A parameter's largest allowed value counts, not just its default.
    widest = number(template, window, "MaxValue") if isinstance(window, dict) else number(template, window)
    assert widest >= number(template, window)
    assert visibility >= SIX_TIMES * timeout + widest, (visibility, timeout, widest)


@pytest.mark.parametrize("name", ["Queue", "Emergencies"])
def test_redrive_to_a_longer_lived_dead_letter_queue(template: dict[str, Any], name: str) -> None:
    queue_name = getatt_target(consumer_event(template, name)["Queue"])
    queue = template["Resources"][queue_name]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert number(template, redrive["maxReceiveCount"]) >= 5
    if isinstance(redrive["maxReceiveCount"], dict):
        assert number(template, redrive["maxReceiveCount"], "MinValue") >= 5
    dlq = template["Resources"][getatt_target(redrive["deadLetterTargetArn"])]["Properties"]
    assert number(template, dlq["MessageRetentionPeriod"]) > number(template, queue["MessageRetentionPeriod"])


def test_every_queue_is_encrypted(template: dict[str, Any]) -> None:
    queues = resources_of_type(template, "AWS::SQS::Queue")
    assert queues
    for name, queue in queues.items():
        props = queue.get("Properties", {})
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


def test_every_dead_letter_queue_has_a_depth_alarm(template: dict[str, Any]) -> None:
    dlqs = {
        getatt_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in resources_of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q.get("Properties", {})
    } | {getatt_target(e["DeadLetterConfig"]["Arn"]) for e in schedule_events(template)}
    watched = set()
    for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
            watched |= {getatt_target(d["Value"]) for d in props["Dimensions"] if d["Name"] == "QueueName"}
    assert dlqs and dlqs <= watched, dlqs - watched


def test_custom_metric_alarms_watch_metrics_the_code_emits(template: dict[str, Any]) -> None:
    """A renamed metric would leave its alarm silent forever: each watched name is one the code emits
    (tests/support/metrics.py reads them from the handlers, relay.errors, the consumer and the poller)."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    namespace, service = variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]
    watched = [
        query["MetricStat"]["Metric"]
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        for query in alarm["Properties"].get("Metrics", [])
        if "MetricStat" in query
    ] + [
        alarm["Properties"]
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if "MetricName" in alarm["Properties"]
    ]
    emf = [m for m in watched if m["Namespace"] == namespace and m.get("Dimensions")]
    emitted = emitted_metrics()
    for metric in emf:
        assert metric["Dimensions"] == [{"Name": "service", "Value": service}]
        assert metric["MetricName"] in emitted, metric["MetricName"]
    assert all(m["Namespace"] == namespace or str(m["Namespace"]).startswith("AWS/") for m in watched)


# ------------------------------------------------------------------ schedule


def schedule_events(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        event["Properties"]
        for name in FUNCTIONS
        for event in function_properties(template, name).get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    ]


def test_schedule_retries_and_keeps_failed_invocations(template: dict[str, Any]) -> None:
    events = schedule_events(template)
    assert events
    for event in events:
        assert {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= set(event["RetryPolicy"])
        dlq = template["Resources"][getatt_target(event["DeadLetterConfig"]["Arn"])]
        assert dlq["Type"] == "AWS::SQS::Queue"
        assert dlq["Properties"]["SqsManagedSseEnabled"] is True
        assert json.loads(event["Input"]) == {"task": "erlc-roster"}


# ------------------------------------------------------------------ IAM


def test_no_wildcard_resources_for_secrets_queues_or_tables(template: dict[str, Any]) -> None:
    checked = 0
    for owner, policy in iter_policies(template):
        assert not isinstance(policy, str) or "FullAccess" not in policy, f"{owner}: {policy}"
        if isinstance(policy, dict) and "Statement" in policy:
            for statement in flat(policy["Statement"]):
                actions = [str(a).lower() for a in flat(statement.get("Action", []))]
                if not any(a.split(":")[0] in SCOPED_SERVICES or a == "*" for a in actions):
                    continue
                for resource in flat(statement["Resource"]):
                    text = resource_text(template, resource)
                    checked += 1
                    assert text != "*" and not text.endswith(":*"), f"{owner}: {actions} on {text}"
                    assert not text.endswith(":secret:*"), f"{owner}: {actions} on every secret"
        elif isinstance(policy, dict):  # a SAM policy template, e.g. SQSSendMessagePolicy
            for template_name, arguments in policy.items():
                for argument in (arguments or {}).values():
                    checked += 1
                    assert resource_text(template, argument) != "*", f"{owner}: {template_name}"
    assert checked


@pytest.mark.parametrize("name", ["SourceSecretsPrefix", "ErlcServerKeySecretPrefix"])
def test_secret_prefixes_cannot_be_empty(template: dict[str, Any], name: str) -> None:
    # `secret:${Prefix}*` with an empty prefix would be every secret in the account.
    param = parameter(template, name)
    pattern = param["AllowedPattern"]
    assert re.fullmatch(pattern, "") is None
    assert re.fullmatch(pattern, param["Default"])
    assert param["Default"].endswith("/")


# ------------------------------------------------------------------ API and outputs


def test_http_api_is_throttled_and_logged(template: dict[str, Any]) -> None:
    api = template["Resources"]["WebhookApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    throttling = api["Properties"]["DefaultRouteSettings"]
    assert number(template, throttling["ThrottlingBurstLimit"]) > 0
    assert number(template, throttling["ThrottlingRateLimit"]) > 0
    group = template["Resources"][getatt_target(api["Properties"]["AccessLogSettings"]["DestinationArn"])]
    assert group["Type"] == "AWS::Logs::LogGroup"


# Lambda keeps this much of an account's concurrency unreserved; a new account's limit can be as low as 10
# (aws-samples/alarm-context-tool#2: "decreases account's UnreservedConcurrentExecution below its
# minimum value"), the default one is 1,000.
UNRESERVED_MINIMUM = 100
NEW_ACCOUNT_CONCURRENCY = 10
DEFAULT_ACCOUNT_CONCURRENCY = 1000


def test_ingress_reserved_concurrency_holds_the_api_throttle_at_every_allowed_value(
    template: dict[str, Any],
) -> None:
    """Issue #10 item 16: the ingress reserves (and is capped at) IngressReservedConcurrency, and the API
    admits no more than fits in it even when every request runs to the ingress's timeout: rate x timeout
    <= reserved, and a whole burst fits too. Each allowed value carries its own throttling row. Without a
    reservation (0) the row fits a new account's whole quota of 10."""
    ingress = function_properties(template, "IngressFunction")
    reservation = [
        "ReservesIngressConcurrency",
        {"Ref": "IngressReservedConcurrency"},
        {"Ref": "AWS::NoValue"},
    ]
    assert ingress["ReservedConcurrentExecutions"] == {"Fn::If": reservation}
    assert template["Conditions"]["ReservesIngressConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IngressReservedConcurrency"}, 0]}]
    }
    timeout = number(template, ingress["Timeout"])
    param = parameter(template, "IngressReservedConcurrency")
    assert param["Default"] in param["AllowedValues"]
    throttling = template["Resources"]["WebhookApi"]["Properties"]["DefaultRouteSettings"]
    rows = {}
    for setting in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        mapping, key, column = throttling[setting]["Fn::FindInMap"]
        assert key == {"Ref": "IngressReservedConcurrency"}
        rows[setting] = {int(k): row[column] for k, row in template["Mappings"][mapping].items()}
    for reserved in param["AllowedValues"]:
        room = reserved or NEW_ACCOUNT_CONCURRENCY
        rate, burst = rows["ThrottlingRateLimit"][reserved], rows["ThrottlingBurstLimit"][reserved]
        assert 0 < rate * timeout <= room, (reserved, rate, timeout)
        assert 0 < burst <= room, (reserved, burst)
        assert reserved <= DEFAULT_ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM
    assert set(rows["ThrottlingRateLimit"]) == set(param["AllowedValues"])


@pytest.mark.parametrize("account_limit", [NEW_ACCOUNT_CONCURRENCY, 50, DEFAULT_ACCOUNT_CONCURRENCY])
def test_the_defaults_deploy_on_any_accounts_concurrency_limit(
    template: dict[str, Any], account_limit: int
) -> None:
    """Issue #23 item 1: Lambda refuses a reservation that leaves less than 100 unreserved, so on a new
    account (a limit of 10, sometimes 50) the stack's defaults may reserve nothing at all."""
    from tests.support.render import Renderer, Stack

    stack = Renderer(template, Stack())
    reserved = 0
    for name, resource in stack.resources("AWS::Serverless::Function").items():
        props = resource["Properties"]
        assert "ProvisionedConcurrencyConfig" not in props, name
        reserved += int(props.get("ReservedConcurrentExecutions", 0))
    assert reserved == 0 or reserved <= account_limit - UNRESERVED_MINIMUM


def test_only_the_ingress_reserves_concurrency(template: dict[str, Any]) -> None:
    # The consumer is capped by its event source's MaximumConcurrency: reserved concurrency on an SQS
    # consumer throttles it, and throttled receives count towards maxReceiveCount (messages reach the DLQ).
    reserving = {
        name
        for name in resources_of_type(template, "AWS::Serverless::Function")
        if "ReservedConcurrentExecutions" in function_properties(template, name)
    }
    assert reserving == {"IngressFunction"}
    # ... and only when asked: the default reserves nothing (a new account's quota allows nothing).
    assert parameter(template, "IngressReservedConcurrency")["Default"] == 0


def test_outputs(template: dict[str, Any]) -> None:
    expected = {
        "WebhookUrl",
        "WebhookQueueUrl",
        "WebhookQueueArn",
        "WebhookDlqUrl",
        "WebhookDlqArn",
        "UnitStateTableName",
        "ReplayTableName",
        *(f"{name}Name" for name in FUNCTIONS),
    }
    assert expected <= set(template["Outputs"])


def test_sample_events_match_the_template(template: dict[str, Any]) -> None:
    routes = {
        f"{e['Properties']['Method']} {e['Properties']['Path']}"
        for e in function_properties(template, "IngressFunction")["Events"].values()
        if e["Type"] == "HttpApi"
    }
    apigw = json.loads((EVENTS / "apigw_hooks_cad.json").read_text())
    assert apigw["routeKey"] in routes
    assert apigw["requestContext"]["routeKey"] == apigw["routeKey"]
    schedule = json.loads((EVENTS / "schedule_erlc_roster.json").read_text())
    assert [schedule] == [json.loads(e["Input"]) for e in schedule_events(template)]
    sqs = json.loads((EVENTS / "sqs_batch_duplicates.json").read_text())
    assert {r["eventSource"] for r in sqs["Records"]} == {"aws:sqs"}


def test_template_every_parameter_and_output_is_named_in_the_operators_docs(template: dict[str, Any]) -> None:
    # docs/operations.md is where an operator looks them up: a new one must be explained there
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [name for name in [*template["Parameters"], *template["Outputs"]] if f"`{name}`" not in text]
    assert missing == []
