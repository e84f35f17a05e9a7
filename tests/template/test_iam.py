"""Least privilege on the state tables (issue #10, item 17): each function may make exactly the DynamoDB
calls its code makes, and on the shared unit-state table only on the items of its own key prefix.

The list below is the contract: changing a function's DynamoDB calls means changing it here too, on
purpose. The second half reads the code (relay/aws/dynamodb.py and the ER:LC poller) so a new call
without its grant fails here rather than with AccessDenied in production.
"""

from __future__ import annotations

import ast
from typing import Any

import pytest

from tests.support.cfn import flat, function_names, getatt_target, statements
from tests.support.constants import ROOT

RELAY = ROOT / "functions" / "relay"
LEADING_KEYS = "ForAllValues:StringLike"

# function -> {(table, actions, leading-key patterns or None)}
DYNAMODB_GRANTS: dict[str, set[tuple[str, tuple[str, ...], tuple[str, ...] | None]]] = {
    "IngressFunction": {
        ("ReplayTable", ("dynamodb:GetItem", "dynamodb:PutItem"), None),
        ("UnitStateTable", ("dynamodb:GetItem",), ("cache#*", "roster#*")),
        ("UnitStateTable", ("dynamodb:DeleteItem", "dynamodb:PutItem"), ("cache#*", "roster#*")),
        ("ArchiveTable", ("dynamodb:PutItem",), None),
        ("UnitStateTable", ("dynamodb:PutItem",), ("seen#*",)),
    },
    # Batched writes later: parallel UpdateItem needs nothing new; TransactWriteItems is authorised per
    # item as UpdateItem (plus dynamodb:ConditionCheckItem for ConditionCheck entries).
    "ConsumerFunction": {
        ("UnitStateTable", ("dynamodb:BatchGetItem", "dynamodb:UpdateItem"), ("unit#*",)),
        ("UnitStateTable", ("dynamodb:BatchGetItem", "dynamodb:UpdateItem"), ("call#*", "panic#*")),
        ("UnitStateTable", ("dynamodb:GetItem", "dynamodb:UpdateItem"), ("pace#*",)),
    },
    "ScheduledFunction": {
        ("UnitStateTable", ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"), ("roster#*",)),
        ("UnitStateTable", ("dynamodb:GetItem", "dynamodb:PutItem"), ("seen#*",)),
    },
}


def dynamodb_grants(template: dict[str, Any], owner: str) -> set[tuple[str, tuple[str, ...], Any]]:
    grants = set()
    for statement in statements(template, owner):
        actions = tuple(sorted(str(a) for a in flat(statement["Action"])))
        if not any(a.startswith("dynamodb:") for a in actions):
            continue
        assert statement["Effect"] == "Allow"
        assert all(a.startswith("dynamodb:") for a in actions), f"{owner}: mixed statement {actions}"
        [table] = [getatt_target(r) for r in flat(statement["Resource"])]
        condition = statement.get("Condition")
        keys = None
        if condition is not None:
            assert set(condition) == {LEADING_KEYS}, f"{owner}: {condition}"
            assert set(condition[LEADING_KEYS]) == {"dynamodb:LeadingKeys"}
            keys = tuple(sorted(condition[LEADING_KEYS]["dynamodb:LeadingKeys"]))
        grants.add((table, actions, keys))
    return grants


def actions_on(template: dict[str, Any], owner: str, table: str) -> set[str]:
    return {a for t, actions, _ in dynamodb_grants(template, owner) if t == table for a in actions}


@pytest.mark.parametrize("owner", sorted(DYNAMODB_GRANTS))
def test_iam_each_function_gets_exactly_its_dynamodb_actions(template: dict[str, Any], owner: str) -> None:
    assert dynamodb_grants(template, owner) == DYNAMODB_GRANTS[owner]


def test_iam_no_function_gets_a_dynamodb_policy_template(template: dict[str, Any]) -> None:
    # DynamoDBCrudPolicy & co. grant Scan, Query, DeleteItem, BatchWriteItem, ... on the whole table.
    for owner in function_names(template):
        policies = template["Resources"][owner]["Properties"].get("Policies", [])
        named = {key for policy in flat(policies) if isinstance(policy, dict) for key in policy}
        assert not {key for key in named if key.startswith("DynamoDB")}, f"{owner}: {named}"
    others = set(function_names(template)) - set(DYNAMODB_GRANTS)
    for owner in others:
        assert dynamodb_grants(template, owner) == set(), owner


def test_iam_the_shared_table_is_reached_only_through_key_prefixes_the_code_uses(
    template: dict[str, Any],
) -> None:
    from relay.models import CALL_PREFIX, PACE_KEY, PANIC_PREFIX, UNIT_PREFIX, cache_key, roster_key, seen_key

    prefixes = {
        UNIT_PREFIX + "*",
        roster_key("") + "*",
        cache_key("") + "*",
        seen_key("") + "*",
        CALL_PREFIX + "*",
        PANIC_PREFIX + "*",
        PACE_KEY.partition("#")[0] + "#*",
    }
    for owner in function_names(template):
        for table, actions, keys in dynamodb_grants(template, owner):
            # Scan and Query are never granted: ForAllValues holds for a request with no key at all.
            assert not {"dynamodb:Scan", "dynamodb:Query"} & set(actions), owner
            if table == "UnitStateTable":
                assert keys, f"{owner}: {actions} on every item of the shared table"
                assert set(keys) <= prefixes, keys


# ------------------------------------------------------------------ what the code calls


def _action(operation: str) -> str:
    return "dynamodb:" + "".join(word.title() for word in operation.split("_"))


def client_calls(class_name: str, module: str = "dynamodb") -> dict[str, set[str]]:
    """Method -> the DynamoDB actions it makes through `self.client` (calls to its own methods followed)."""
    tree = ast.parse((RELAY / "aws" / f"{module}.py").read_text(encoding="utf-8"))
    [cls] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    direct: dict[str, set[str]] = {}
    own: dict[str, set[str]] = {}
    for method in cls.body:
        if not isinstance(method, ast.FunctionDef):
            continue
        calls = [
            node.func
            for node in ast.walk(method)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        ]
        direct[method.name] = {
            _action(f.attr) for f in calls if isinstance(f.value, ast.Attribute) and f.value.attr == "client"
        }
        own[method.name] = {f.attr for f in calls if isinstance(f.value, ast.Name) and f.value.id == "self"}
    return {name: direct[name] | {a for m in own[name] if m in direct for a in direct[m]} for name in direct}


def _all(calls: dict[str, set[str]]) -> set[str]:
    return {action for actions in calls.values() for action in actions}


def test_iam_the_consumer_may_make_every_call_of_the_unit_state_store(template: dict[str, Any]) -> None:
    calls = _all(client_calls("DynamoUnitStateStore", "unit_state"))
    assert calls == {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    pacing = _all(client_calls("DynamoSlotStore", "pacing"))
    assert pacing == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert actions_on(template, "ConsumerFunction", "UnitStateTable") == calls | pacing


def test_iam_the_consumer_may_make_every_call_of_the_emergency_store(template: dict[str, Any]) -> None:
    calls = _all(client_calls("DynamoEmergencyStore", "emergency_state"))
    assert calls == {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    grants = dynamodb_grants(template, "ConsumerFunction")
    assert ("UnitStateTable", tuple(sorted(calls)), ("call#*", "panic#*")) in grants


def test_iam_the_ingress_may_make_every_call_of_its_stores(template: dict[str, Any]) -> None:
    assert actions_on(template, "IngressFunction", "ReplayTable") == _all(client_calls("DynamoReplayGuard"))
    assert actions_on(template, "IngressFunction", "UnitStateTable") == _all(
        client_calls("DynamoSourceStateStore")
    )
    # The archive: the ingress only keeps (the operator's commands read it with their own credentials).
    assert (
        actions_on(template, "IngressFunction", "ArchiveTable")
        == client_calls("DynamoArchive", "archive")["keep"]
    )


def _store_calls(module: str) -> set[str]:
    """The store methods `module` calls (`deps.store.get`, `self.store.put`, `store.delete`, ...)."""
    tree = ast.parse((RELAY / "erlc" / f"{module}.py").read_text(encoding="utf-8"))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (
            (isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "store")
            or (isinstance(node.func.value, ast.Name) and node.func.value.id == "store")
        )
    }


def test_iam_the_poller_may_make_the_calls_its_store_methods_make(template: dict[str, Any]) -> None:
    # The poll's own module, and what it shares with the ingress's lookup (relay.erlc.fetch)
    used = _store_calls("poller") | _store_calls("fetch")
    assert used == {"get", "put", "delete"}
    store = client_calls("DynamoSourceStateStore")
    needed = {action for method in used for action in store[method]}
    assert actions_on(template, "ScheduledFunction", "UnitStateTable") == needed


def test_iam_the_ingress_may_read_the_erlc_server_keys_for_its_lookups(template: dict[str, Any]) -> None:
    grants = [
        str(statement["Resource"])
        for statement in statements(template, "IngressFunction")
        if "secretsmanager:GetSecretValue" in flat(statement["Action"])
    ]
    assert any("ErlcServerKeySecretPrefix" in grant for grant in grants), grants
    assert any("SourceSecretsPrefix" in grant for grant in grants), grants


# ------------------------------------------------------------------ the queues each function sends to

# function -> the queues it may send to (SAM's SQSSendMessagePolicy), and nothing else of SQS's sends.
SQS_SENDS: dict[str, set[str]] = {
    # Its queues, and the DLQ for a panic no unit could be found for (with its reason).
    "IngressFunction": {"WebhookQueue", "EmergencyQueue", "WebhookDLQ"},
    # Its rechecks (the webhook queue) and its dead letters, with their reasons.
    "ConsumerFunction": {"WebhookQueue", "WebhookDLQ"},
    # The roster poll's unit changes, and its emergency calls (and released panics) on their own queue.
    # ... and the DLQ for a held panic that expired (with its reason).
    "ScheduledFunction": {"WebhookQueue", "EmergencyQueue", "WebhookDLQ"},
}


def sqs_send_targets(template: dict[str, Any], owner: str) -> set[str]:
    targets = set()
    for policy in template["Resources"][owner]["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy:
            targets.add(getatt_target(policy["SQSSendMessagePolicy"]["QueueName"]))
    return targets


@pytest.mark.parametrize("owner", sorted(SQS_SENDS))
def test_iam_each_function_sends_to_exactly_its_queues(template: dict[str, Any], owner: str) -> None:
    assert sqs_send_targets(template, owner) == SQS_SENDS[owner]
