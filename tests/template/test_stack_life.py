"""The life of a stack on AWS (issue #23): a first deploy that fails leaves nothing behind and can be
retried, names never collide with what an earlier stack left, and a stack name of any length works.

Checked on the template as written and as rendered for a stack (tests/support/render.py), against
CloudFormation's documented behaviour: there is no AWS account here to deploy to.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.support.cfn import resources_of_type
from tests.support.constants import ROOT
from tests.support.render import Renderer, Stack

# Resources a stack deletion or a rolled-back create may leave: never named in a way a later stack
# could collide with, never kept when the create that made them rolls back.
# CloudFormation's longest stack name, and the documented limits of the names the template sets.
LONGEST_STACK_NAME = "n" * 128
NAME_LIMITS = {
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::Serverless::LayerVersion", "LayerName"): 140,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::Logs::QueryDefinition", "Name"): 255,
    ("AWS::Serverless::Function", "FunctionName"): 64,
    ("AWS::Logs::MetricFilter", "FilterName"): 512,
}
# Resource types whose physical name a stack must never fix: stateful, or recreated by AWS after a
# delete (Lambda's late log delivery recreates a function's log group), or billed while they linger.
NEVER_FIXED = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
}


def test_no_resource_is_kept_when_the_first_create_rolls_back(template: dict[str, Any]) -> None:
    """`Retain` applies to a rolled-back create too: every failed first deploy would leave a table (with
    point-in-time recovery billing) and the retry would make another. `RetainExceptOnCreate` keeps the
    table through stack deletion and updates, and deletes it when the create that made it rolls back."""
    for name, resource in template["Resources"].items():
        assert resource.get("DeletionPolicy", "Delete") in ("Delete", "RetainExceptOnCreate"), name
        if resource.get("UpdateReplacePolicy") == "Retain":
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", name
    state = template["Resources"]["UnitStateTable"]
    assert (state["DeletionPolicy"], state["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_what_could_linger_is_never_given_a_fixed_name(template: dict[str, Any]) -> None:
    for resource_type, name_property in NEVER_FIXED.items():
        for name, resource in resources_of_type(template, resource_type).items():
            assert name_property not in resource.get("Properties", {}), f"{name}: {name_property}"


def test_log_groups_of_two_stacks_of_one_name_never_collide(template: dict[str, Any]) -> None:
    """A stack deleted and created again under the same name (the retry after a failed deploy) gets new
    log groups: a group Lambda recreated after the delete, or one left behind, is never in the way."""
    first, retry = (Renderer(template, Stack(creation=creation)) for creation in (0, 1))
    groups = [name for name in resources_of_type(template, "AWS::Logs::LogGroup") if first.exists(name)]
    assert groups
    for name in groups:
        before, after = first.ref(name), retry.ref(name)
        # A generated name (CloudFormation adds a unique suffix) or one made unique by the stack's id.
        assert before != after or before.endswith("-GENERATED"), name


def test_the_api_access_log_group_is_a_vended_log_group(template: dict[str, Any]) -> None:
    """API Gateway adds each access log group outside /aws/vendedlogs/ to the account's CloudWatch Logs
    resource policy, which is capped at 5,120 characters (serverless/serverless#10469)."""
    api = template["Resources"]["WebhookApi"]["Properties"]
    group = api["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    name = Renderer(template, Stack()).ref(group)
    assert name.startswith("/aws/vendedlogs/"), name


def test_the_layer_is_the_stacks_own(template: dict[str, Any]) -> None:
    """SAM names a layer after its logical id: every stack in a region would add versions to one
    `DepsLayer`."""
    names = {Renderer(template, Stack(name=stack)).ref("DepsLayer") for stack in ("dev-relay", "prod-relay")}
    assert len(names) == 2


@pytest.mark.parametrize("stack_name", ["a", "northca-relay-prod", LONGEST_STACK_NAME])
def test_every_name_fits_for_any_stack_name(template: dict[str, Any], stack_name: str) -> None:
    """Issue #23 item 5: `${AWS::StackName}-scheduled` broke at 55 characters (function names are at most
    64). The functions' names are generated now; every name the template still sets fits a stack name
    of CloudFormation's longest, 128 characters."""
    stack = Renderer(template, Stack(name=stack_name, parameters={"DiscordWebhookSecretName": "relay/x"}))
    checked = 0
    for name, resource in stack.resources().items():
        for (resource_type, name_property), limit in NAME_LIMITS.items():
            if resource["Type"] == resource_type and name_property in resource["Properties"]:
                value = resource["Properties"][name_property]
                assert len(value) <= limit, (name, len(value), limit)
                checked += 1
    assert checked


# ------------------------------------------------------------------ samconfig.toml


def samconfig_environments() -> dict[str, dict[str, Any]]:
    data = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    return {env: body for env, body in data.items() if isinstance(body, dict)}


def test_samconfig_pins_no_region() -> None:
    """Issue #23 item 3: a pinned region sent a US admin's stack to Ireland, where `relay doctor` and
    `relay deliveries` (the AWS configuration's region) then found no stack. No command pins one."""
    environments = samconfig_environments()
    assert {"default", "prod"} <= set(environments)
    for env, commands in environments.items():
        for command, body in commands.items():
            assert "region" not in body.get("parameters", {}), f"[{env}.{command}.parameters] pins a region"


@pytest.mark.parametrize("env", ["default", "prod"])
def test_samconfig_redeploys_without_changes_and_deletes_a_failed_first_create(env: str) -> None:
    deploy = samconfig_environments()[env]["deploy"]["parameters"]
    # `sam deploy` exits 1 on an empty change set unless told otherwise.
    assert deploy["fail_on_empty_changeset"] is False
    # With DELETE, SAM rolls a failed create back (RetainExceptOnCreate resources go too) and then
    # deletes the stack, so no ROLLBACK_COMPLETE stack blocks the retry (aws/aws-sam-cli,
    # samcli/lib/deploy/deployer.py, rollback_delete_stack); a failed update still rolls back.
    assert deploy["on_failure"] == "DELETE"


def test_samconfig_environments_are_different_stacks() -> None:
    names = [body["global"]["parameters"]["stack_name"] for body in samconfig_environments().values()]
    assert len(names) == len(set(names))


# ------------------------------------------------------------------ switches relay deploy sets


def test_the_roster_poll_can_be_switched_off(template: dict[str, Any]) -> None:
    """Issue #23 item 5: with no ER:LC server the poller still ran every minute (43,200 invocations a
    month). relay deploy passes DISABLED when the config it ships has no [erlc.servers]."""
    from tests.support.cfn import function_properties

    [event] = [
        e["Properties"]
        for e in function_properties(template, "ScheduledFunction")["Events"].values()
        if e["Type"] == "ScheduleV2"
    ]
    assert event["State"] == {"Ref": "RosterPollState"}
    param = template["Parameters"]["RosterPollState"]
    # A plain `sam deploy` of a config with servers must poll: the safe default is on.
    assert (param["Default"], sorted(param["AllowedValues"])) == ("ENABLED", ["DISABLED", "ENABLED"])


def test_the_state_table_is_protected_only_once_it_exists(template: dict[str, Any]) -> None:
    """Issue #23 item 5: the state table had no deletion protection. On the first create it must stay
    off: a create that rolls back must delete the table, and DynamoDB refuses DeleteTable on a protected
    one (the stack would be stuck in ROLLBACK_FAILED). relay deploy turns it on for an existing stack."""
    state = template["Resources"]["UnitStateTable"]["Properties"]
    assert state["DeletionProtectionEnabled"] == {"Ref": "StateTableDeletionProtection"}
    assert template["Parameters"]["StateTableDeletionProtection"]["Default"] == "false"
    for name, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        if name != "UnitStateTable":
            assert "DeletionProtectionEnabled" not in resource["Properties"], name
