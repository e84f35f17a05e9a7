"""`relay deploy`'s pre-flight (also `relay preflight`): what the account and the stack allow, read before
`sam deploy` so that a first deploy does not fail half-way (docs/troubleshooting.md).

- the region the stack goes to (the AWS configuration's, as every `relay` command reads it);
- the stack's status: a new name, a healthy stack, or one a failed deploy left (ROLLBACK_COMPLETE, ...);
- the account's Lambda concurrency: which `IngressReservedConcurrency` values Lambda accepts (it keeps
  100 of the account unreserved: a new account's limit of 10 allows none);
- one relay stack per account and region: a second one shares the config's secrets' names, ER:LC
  servers and MDTs, so it is refused unless asked for;
- a custom domain's certificate: issued, in the stack's region.

It also works out the parameters `relay deploy` adds (`derived_parameters`): the roster schedule off
when the config has no ER:LC server, the state table's deletion protection on once the stack exists.
Clients are passed in; checks are pure functions of what they read.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from relay.config.loader import load_config
from relay.config.schema import RelayConfig
from relay_devtools.files.template import load_template
from relay_devtools.operations.doctor import Check

# Lambda keeps this much of an account's concurrency unreserved (any reservation that would leave less
# fails: "decreases account's UnreservedConcurrentExecution below its minimum value of [100]").
UNRESERVED_MINIMUM = 100
# Below this the ingress, the consumer and the poller share very little: worth raising before real traffic.
COMFORTABLE_LIMIT = 100
RESERVATION_PARAMETER = "IngressReservedConcurrency"
# How relay's stacks are recognised: template.yaml's Description starts so.
RELAY_DESCRIPTION = "northca-relay:"
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
# A stack in one of these has resources and a last good template: an update can run.
STABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
# What to do with a stack a failed operation left, by status.
STUCK = {
    "ROLLBACK_COMPLETE": "a failed first deploy left it with nothing in it; delete it and deploy again",
    "ROLLBACK_FAILED": "a failed first deploy could not clean up; delete it (the console shows what "
    "blocked the rollback) and deploy again",
    "DELETE_FAILED": "a delete did not finish; delete it again (retaining what blocks it) first",
    "UPDATE_ROLLBACK_FAILED": "an update's rollback failed; run `aws cloudformation continue-update-rollback"
    " --stack-name {name}` first",
    "CREATE_FAILED": "a create failed with rollback disabled; delete it and deploy again",
    "UPDATE_FAILED": "an update failed with rollback disabled; roll it back (`aws cloudformation "
    "rollback-stack --stack-name {name}`) first",
}


@dataclass(frozen=True)
class AccountConcurrency:
    """The account's Lambda concurrency in the region (GetAccountSettings' AccountLimit)."""

    limit: int
    unreserved: int


@dataclass(frozen=True)
class Situation:
    """What the pre-flight read from the account."""

    region: str | None
    stack_name: str
    status: str | None  # None: no such stack
    concurrency: AccountConcurrency | None
    current_reservation: int = 0  # the stack's ingress's reservation today (freed by the update)
    relay_stacks: Sequence[str] = ()  # other relay stacks in this account and region
    certificate: Mapping[str, str] | None = None  # ACM's DescribeCertificate answer, when one is named


@dataclass(frozen=True)
class Preflight:
    checks: list[Check]
    derived: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)


# ------------------------------------------------------------------ the checks


def allowed_reservations(account: AccountConcurrency, choices: Iterable[int], current: int = 0) -> list[int]:
    """The values of IngressReservedConcurrency Lambda accepts here. 0 (no reservation) always; another
    only if what stays unreserved, counting the stack's own reservation freed by the update, is >= 100."""
    room = account.unreserved + current - UNRESERVED_MINIMUM
    return [value for value in choices if value == 0 or value <= room]


def concurrency_check(
    account: AccountConcurrency, choices: Sequence[int], wanted: int, current: int
) -> Check:
    allowed = allowed_reservations(account, choices, current)
    shown = ", ".join(str(value) for value in allowed)
    if wanted not in allowed:
        return Check(
            "concurrency",
            False,
            f"{RESERVATION_PARAMETER}={wanted} needs {wanted + UNRESERVED_MINIMUM} unreserved concurrent "
            f"executions; this account has {account.unreserved} of {account.limit} (Lambda keeps 100 "
            f"unreserved). Allowed here: {shown}. Deploy with 0 (the default), or raise the limit: Service "
            "Quotas, AWS Lambda, Concurrent executions (docs/troubleshooting.md)",
        )
    if account.limit < COMFORTABLE_LIMIT:
        return Check(
            "concurrency",
            True,
            f"{RESERVATION_PARAMETER}={wanted} fits; the account's limit is {account.limit}: the ingress, "
            "the consumer and the poller share it, so a flood can starve the consumer. Ask for 1,000 "
            "(Service Quotas, AWS Lambda, Concurrent executions) before real traffic",
            warning=True,
        )
    return Check(
        "concurrency",
        True,
        f"{RESERVATION_PARAMETER}={wanted} fits (account limit {account.limit}, {account.unreserved} "
        f"unreserved; allowed here: {shown})",
    )


def stack_check(name: str, region: str | None, status: str | None) -> Check:
    if not STACK_NAME.match(name):
        return Check(
            "stack",
            False,
            f"{name!r} is not a stack name: a letter, then letters, digits or '-', 128 at most",
        )
    where = f"{name} in {region}"
    if status is None or status == "REVIEW_IN_PROGRESS":
        return Check("stack", True, f"{where}: a new stack")
    if status in STUCK:
        todo = STUCK[status].format(name=name)
        fix = f"`sam delete --stack-name {name} --region {region}`"
        return Check("stack", False, f"{where} is {status}: {todo} ({fix}; docs/troubleshooting.md)")
    if status.endswith("_IN_PROGRESS"):
        return Check("stack", False, f"{where} is {status}: wait for it to finish")
    if status == "DELETE_COMPLETE":
        return Check("stack", True, f"{where}: a new stack (an earlier one of this name was deleted)")
    return Check("stack", True, f"{where} is {status}: this deploy updates it")


def region_check(region: str | None, pinned: str | None) -> Check:
    if not region:
        return Check("region", False, "no AWS region: set AWS_REGION (or AWS_PROFILE with a region)")
    if pinned and pinned != region:
        return Check(
            "region",
            False,
            f"samconfig.toml pins {pinned} but your AWS configuration's region is {region}: relay doctor, "
            "deliveries and secrets push would look in the wrong one. Remove the pin, or set AWS_REGION",
        )
    return Check(
        "region", True, f"{region} (your AWS configuration's region, which every relay command reads)"
    )


def second_stack_check(name: str, others: Sequence[str], allow: bool) -> Check:
    if not others:
        return Check("one stack", True, "no other relay stack in this account and region")
    listed = ", ".join(sorted(others))
    detail = (
        f"another relay stack runs here ({listed}): two stacks with one config poll the same ER:LC servers "
        "(twice against PRC's limits), write the same MDTs and read the same secrets. Put the other stage "
        "in its own AWS account (docs/operations.md, Stages)"
    )
    if allow:
        return Check("one stack", True, detail + "; allowed with --allow-second-stack", warning=True)
    return Check(
        "one stack", False, detail + ", or deploy with --allow-second-stack if the configs share nothing"
    )


def certificate_check(arn: str, region: str | None, certificate: Mapping[str, str] | None) -> Check:
    arn_region = arn.split(":")[3] if arn.count(":") >= 5 else ""
    if region and arn_region != region:
        return Check(
            "certificate",
            False,
            f"{arn} is in {arn_region or '?'}, the stack in {region}: the API's endpoint is regional, "
            "request the certificate in the stack's region",
        )
    status = (certificate or {}).get("Status")
    if status != "ISSUED":
        return Check(
            "certificate",
            False,
            f"{arn} is {status or 'not found'}: it must be ISSUED before the deploy (validate it by DNS "
            "first); the custom domain would fail the stack",
        )
    return Check("certificate", True, f"{arn} is issued")


# ------------------------------------------------------------------ the parameters relay deploy adds


def derived_parameters(config: RelayConfig, status: str | None) -> dict[str, str]:
    """RosterPollState from the config that ships; StateTableDeletionProtection once the stack exists (a
    protected table could not be deleted by a rolled-back first create)."""
    # The schedule polls the ER:LC servers and looks for quiet sources (relay.watch): off when neither.
    watched = any(source.expect_every is not None for source in config.sources.values())
    derived = {"RosterPollState": "ENABLED" if config.erlc.servers or watched else "DISABLED"}
    if status in STABLE:
        derived["StateTableDeletionProtection"] = "true"
    return derived


def evaluate(
    situation: Situation,
    config: RelayConfig,
    parameters: Mapping[str, str],
    choices: Sequence[int],
    *,
    pinned_region: str | None = None,
    allow_second_stack: bool = False,
) -> Preflight:
    """Every check on what was read; `parameters` are the ones the deploy passes (samconfig's and the
    operator's), which the derived ones never override."""
    checks = [
        region_check(situation.region, pinned_region),
        stack_check(situation.stack_name, situation.region, situation.status),
    ]
    wanted = int(parameters.get(RESERVATION_PARAMETER, "0") or 0)
    if situation.concurrency is not None:
        checks.append(
            concurrency_check(situation.concurrency, choices, wanted, situation.current_reservation)
        )
    else:
        checks.append(Check("concurrency", False, "could not read the account's Lambda settings"))
    checks.append(second_stack_check(situation.stack_name, situation.relay_stacks, allow_second_stack))
    arn = parameters.get("CertificateArn", "")
    if arn:
        checks.append(certificate_check(arn, situation.region, situation.certificate))
    derived = {
        key: value
        for key, value in derived_parameters(config, situation.status).items()
        if key not in parameters
    }
    return Preflight(checks, derived)


# ------------------------------------------------------------------ reading the account


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read_situation(
    clients: Mapping[str, Any], region: str | None, stack_name: str, certificate_arn: str = ""
) -> Situation:
    """Read-only calls: cloudformation:DescribeStacks/DescribeStackResource, lambda:GetAccountSettings/
    GetFunctionConcurrency, acm:DescribeCertificate (only with a certificate)."""
    cloudformation, lambda_client = clients["cloudformation"], clients["lambda"]
    status = _stack_status(cloudformation, stack_name)
    settings = lambda_client.get_account_settings()["AccountLimit"]
    concurrency = AccountConcurrency(
        limit=int(settings["ConcurrentExecutions"]),
        unreserved=int(settings["UnreservedConcurrentExecutions"]),
    )
    current = _ingress_reservation(cloudformation, lambda_client, stack_name) if status else 0
    others = [name for name in relay_stacks(cloudformation) if name != stack_name]
    certificate = None
    if certificate_arn:
        try:
            certificate = clients["acm"].describe_certificate(CertificateArn=certificate_arn)["Certificate"]
        except ClientError:
            certificate = None
    return Situation(region, stack_name, status, concurrency, current, others, certificate)


def _stack_status(cloudformation: Any, name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if _code(exc) == "ValidationError":  # "Stack with id X does not exist"
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _ingress_reservation(cloudformation: Any, lambda_client: Any, stack_name: str) -> int:
    try:
        resource = cloudformation.describe_stack_resource(
            StackName=stack_name, LogicalResourceId="IngressFunction"
        )
        function = resource["StackResourceDetail"]["PhysicalResourceId"]
        answer = lambda_client.get_function_concurrency(FunctionName=function)
    except ClientError:
        return 0
    return int(answer.get("ReservedConcurrentExecutions") or 0)


def relay_stacks(cloudformation: Any) -> list[str]:
    """Live stacks in the region whose template is the relay's (by its Description)."""
    names = []
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page.get("Stacks", []):
            if str(stack.get("Description", "")).startswith(RELAY_DESCRIPTION) and stack.get(
                "StackStatus"
            ) not in ("DELETE_COMPLETE",):
                names.append(str(stack["StackName"]))
    return names


# ------------------------------------------------------------------ run and print (relay preflight, deploy)

DEFAULT_STACK = "northca-relay"


def samconfig_value(samconfig: Path, env: str, key: str) -> str | None:
    """A setting of `env` in samconfig.toml: its deploy parameters', else its global parameters'."""
    data = tomllib.loads(samconfig.read_text(encoding="utf-8")) if samconfig.exists() else {}
    environment = data.get(env, {})
    for command in ("deploy", "global"):
        value = environment.get(command, {}).get("parameters", {}).get(key)
        if value is not None:
            return str(value)
    return None


def run_preflight(
    config_path: Path,
    samconfig: Path,
    env: str,
    template: Path,
    parameters: Mapping[str, str],
    *,
    region: str | None = None,
    stack_name: str | None = None,
    allow_second_stack: bool = False,
    clients: Mapping[str, Any] | None = None,
) -> Preflight:
    """`clients` (cloudformation, lambda, acm) default to the AWS configuration's, in `region`."""
    config = load_config(config_path)
    name = stack_name or samconfig_value(samconfig, env, "stack_name") or DEFAULT_STACK
    session = boto3.session.Session(region_name=region)
    resolved = session.region_name
    choices = [int(v) for v in load_template(template)["Parameters"][RESERVATION_PARAMETER]["AllowedValues"]]
    secrets: list[Check] = []
    if resolved:
        if clients is None:
            clients = {
                "cloudformation": session.client("cloudformation"),
                "lambda": session.client("lambda"),
                "acm": session.client("acm"),
                "secretsmanager": session.client("secretsmanager"),
            }
        situation = read_situation(clients, resolved, name, parameters.get("CertificateArn", ""))
        if "secretsmanager" in clients:
            from relay_devtools.operations.setup_checks import deployed_secrets_checks

            secrets = deployed_secrets_checks(config, clients["secretsmanager"], name)
    else:  # nothing to read without a region: the region check says so
        situation = Situation(None, name, None, None)
    result = evaluate(
        situation,
        config,
        parameters,
        choices,
        pinned_region=samconfig_value(samconfig, env, "region"),
        allow_second_stack=allow_second_stack,
    )
    return Preflight([*result.checks, *secrets], result.derived)


def print_preflight(result: Preflight, out: Any = None) -> None:
    out = out or sys.stdout  # looked up at each call: a caller may have redirected it
    for check in result.checks:
        print(check.line(), file=out)
    for key, value in result.derived.items():
        print(f"adds  {key}={value}", file=out)
    failed = sum(not check.ok for check in result.checks)
    print(f"relay preflight: {len(result.checks) - failed} passed, {failed} failed", file=out, flush=True)
