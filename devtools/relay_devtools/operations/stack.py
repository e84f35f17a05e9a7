"""A deployed stack as the operator's commands see it: its status, outputs and parameters, and its
functions' log groups (CloudFormation). The client is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# The template's log groups (template.yaml), by the function whose lines they hold.
LOG_GROUPS = {"ingress": "IngressLogGroup", "consumer": "ConsumerLogGroup", "scheduled": "ScheduledLogGroup"}


class StackError(Exception):
    """The stack cannot be read as asked (it does not exist, no access); `missing`: it does not exist."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class StackInfo:
    name: str
    status: str
    outputs: dict[str, str]
    parameters: dict[str, str]


def describe_stack(cloudformation: Any, name: str) -> StackInfo:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        raise _stack_error(name, exc) from None
    stack = stacks[0]
    return StackInfo(
        name=name,
        status=str(stack.get("StackStatus", "")),
        outputs={o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])},
        parameters={p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])},
    )


def webhook_base(outputs: dict[str, str]) -> str | None:
    """The base URL a source's path goes after (`<base>/hooks/<source>`): the custom domain's when the
    stack has one, else the API's own."""
    url = outputs.get("CustomWebhookUrl") or outputs.get("WebhookUrl")
    return url.rstrip("/").removesuffix("/hooks") if url else None


def log_groups(cloudformation: Any, name: str) -> dict[str, str]:
    """Each function's log group: the stack's own resources, else the names template.yaml gives them."""
    groups = {function: f"/aws/lambda/{name}-{function}" for function in LOG_GROUPS}
    paginator = cloudformation.get_paginator("list_stack_resources")
    try:
        for page in paginator.paginate(StackName=name):
            for resource in page.get("StackResourceSummaries", []):
                for function, logical_id in LOG_GROUPS.items():
                    if resource.get("LogicalResourceId") == logical_id and resource.get("PhysicalResourceId"):
                        groups[function] = str(resource["PhysicalResourceId"])
    except ClientError as exc:
        raise _stack_error(name, exc) from None
    return groups


def _stack_error(name: str, exc: ClientError) -> StackError:
    """The stack does not exist, or may not be read: said in AWS's words."""
    message = str(exc.response.get("Error", {}).get("Message") or exc)
    return StackError(f"stack {name!r}: {message}", missing="does not exist" in message)
