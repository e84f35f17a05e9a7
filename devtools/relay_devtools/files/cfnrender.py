"""template.yaml as CloudFormation would see it for one stack: parameters, conditions and the intrinsic
functions the template uses (Ref, Sub, GetAtt, If, Join, Select, Split, FindInMap) evaluated for a stack
name, region and parameter values: what two stacks would really be given (tests/template), and what a
stack holds that is billed by the month (relay cost: alarms, dashboard metrics).

It reads either loader's output: cfn-lint's (`{"Fn::Sub": ...}`) or relay_devtools.template's
(`{"Sub": ...}`, the short tags without their prefix).

Physical names CloudFormation generates are stood in for by `<stack>-<LogicalId>-GENERATED` (the shape
CloudFormation uses: stack name, logical id, random suffix), attributes by `<LogicalId>.<Attribute>`
unless a resource names itself. Only what the template uses is supported: anything else fails loudly.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()
# relay_devtools.template reads `!Sub x` as {"Sub": x}: these are the intrinsics, whichever the spelling.
SHORT = {"GetAtt", "Sub", "If", "Join", "Select", "Split", "FindInMap", "Equals", "Not", "And", "Or"}
GENERATED = "GENERATED"
# Properties that name a resource, by type: their value is the resource's Ref (its physical name).
NAME_PROPERTIES = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Serverless::LayerVersion": "LayerName",
}


@dataclass(frozen=True)
class Stack:
    name: str = "northca-relay"
    region: str = "us-east-1"
    account: str = "123456789012"
    parameters: dict[str, str] = field(default_factory=dict)
    # A stack deleted and created again under its name is a new creation, with a new stack id.
    creation: int = 0

    @property
    def stack_id(self) -> str:
        # A stable UUID per stack and creation: two stacks get two ids, as CloudFormation gives them.
        unique = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account}/{self.region}/{self.name}/{self.creation}")
        return f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/{unique}"


class Renderer:
    def __init__(self, template: dict[str, Any], stack: Stack) -> None:
        self.template, self.stack = template, stack
        unknown = set(stack.parameters) - set(template["Parameters"])
        assert not unknown, f"not parameters of the template: {sorted(unknown)}"

    # ------------------------------------------------------------------ parameters and conditions

    def parameter(self, name: str) -> str:
        if name in self.stack.parameters:
            return self.stack.parameters[name]
        return str(self.template["Parameters"][name]["Default"])

    def condition(self, name: str) -> bool:
        return bool(self._condition_value(self.template["Conditions"][name]))

    def _condition_value(self, body: Any) -> bool:
        assert isinstance(body, dict) and len(body) == 1, body
        [(function, argument)] = body.items()
        function = f"Fn::{function}" if function in SHORT else function
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (str(self.value(a)) for a in argument)
            return left == right
        if function == "Fn::Not":
            return not self._condition_value(argument[0])
        if function == "Fn::And":
            return all(self._condition_value(a) for a in argument)
        if function == "Fn::Or":
            return any(self._condition_value(a) for a in argument)
        raise AssertionError(f"unsupported condition {function}")

    def exists(self, logical_id: str) -> bool:
        resource = self.template["Resources"][logical_id]
        return "Condition" not in resource or self.condition(resource["Condition"])

    def resources(self, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        """The resources this stack has, their properties rendered."""
        return {
            name: {"Type": r["Type"], "Properties": self.value(r.get("Properties", {}))}
            for name, r in self.template["Resources"].items()
            if (resource_type is None or r["Type"] == resource_type) and self.exists(name)
        }

    # ------------------------------------------------------------------ references

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack.name,
            "AWS::Region": self.stack.region,
            "AWS::AccountId": self.stack.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": self.stack.stack_id,
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.template["Parameters"]:
            return self.parameter(name)
        logical_id = name.split(".")[0]
        resource = self.template["Resources"][logical_id]
        assert self.exists(logical_id), f"{logical_id} does not exist in this stack"
        own_name = NAME_PROPERTIES.get(resource["Type"])
        if own_name and own_name in resource.get("Properties", {}):
            return self.value(resource["Properties"][own_name])
        return f"{self.stack.name}-{logical_id}-{GENERATED}"

    def getatt(self, logical_id: str, attribute: str) -> Any:
        resource = self.template["Resources"][logical_id]
        assert self.exists(logical_id), f"{logical_id} does not exist in this stack"
        if resource["Type"] == "AWS::SQS::Queue" and attribute == "QueueName":
            return f"{self.stack.name}-{logical_id}-{GENERATED}"
        if attribute == "Arn" and resource["Type"] == "AWS::Logs::LogGroup":
            region, account = self.stack.region, self.stack.account
            return f"arn:aws:logs:{region}:{account}:log-group:{self.ref(logical_id)}:*"
        return f"{logical_id}.{attribute}"

    # ------------------------------------------------------------------ values

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, argument)] = node.items()
            key = f"Fn::{key}" if key in SHORT else key
            if key in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If"):
                return self._reference(key, argument)
            if key in ("Fn::Join", "Fn::Select", "Fn::Split", "Fn::FindInMap"):
                return self._function(key, argument)
            assert key == "Condition" or not key.startswith("Fn::"), f"unsupported intrinsic {key}"
        rendered = {key: self.value(v) for key, v in node.items()}
        return {key: v for key, v in rendered.items() if v is not NO_VALUE}

    def _reference(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self.ref(argument)
        if key == "Fn::GetAtt":
            target = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.getatt(target[0], target[1])
        if key == "Fn::Sub":
            return self.sub(argument)
        condition, when_true, when_false = argument
        return self.value(when_true if self.condition(condition) else when_false)

    def _function(self, key: str, argument: Any) -> Any:
        if key == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(v) for v in self.value(items))
        if key == "Fn::Select":
            index, items = argument
            return self.value(items)[int(self.value(index))]
        if key == "Fn::Split":
            separator, text = argument
            return str(self.value(text)).split(separator)
        mapping, top, second = (str(self.value(a)) for a in argument)
        return self.template["Mappings"][mapping][top][second]

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.value(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in values:
                return str(values[inner])
            if "." in inner and not inner.startswith("AWS::"):
                logical_id, attribute = inner.split(".", 1)
                return str(self.getatt(logical_id, attribute))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def render(template: dict[str, Any], stack: Stack, node: Any) -> Any:
    return Renderer(template, stack).value(node)
