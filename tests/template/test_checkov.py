"""The template under a security scanner (issue #20, item 3): `make template` runs checkov, pinned and
installed on first use, with no check switched off globally; each check the template answers differently
is skipped next to its resource (`Metadata.checkov.skip`) with the reason, and the reasons hold."""

from __future__ import annotations

import re
from typing import Any

from tests.support.cfn import function_properties
from tests.support.constants import ROOT

CHECK_ID = re.compile(r"^CKV_AWS_\d+$")
# A reason says what stands in for the check, or why it does not apply: not a word or two.
SHORTEST_REASON = 60


def skips(template: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {
        name: resource["Metadata"]["checkov"]["skip"]
        for name, resource in template["Resources"].items()
        if "checkov" in resource.get("Metadata", {})
    }


def test_checkov_runs_in_make_template_pinned_and_never_softened() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    [line] = [line for line in makefile.splitlines() if line.startswith("CHECKOV :=")]
    assert re.search(r"--from checkov==\d+\.\d+\.\d+ checkov$", line), line
    [run] = [line for line in makefile.splitlines() if "$(CHECKOV)" in line]
    assert "--file template.yaml" in run and "--skip-download" in run
    for softener in ("--soft-fail", "--skip-check", "--check ", "--skip-framework", "-s "):
        assert softener not in run, softener
    # It is part of `make test` (through `make template`).
    assert re.search(r"^test: .*\btemplate\b", makefile, re.M)


def test_every_skip_is_next_to_its_resource_with_its_reason(template: dict[str, Any]) -> None:
    found = skips(template)
    assert found
    for name, entries in found.items():
        ids = [entry["id"] for entry in entries]
        assert len(ids) == len(set(ids)), name
        for entry in entries:
            assert CHECK_ID.match(entry["id"]), (name, entry)
            assert len(" ".join(entry["comment"].split())) >= SHORTEST_REASON, (name, entry["id"])
    # No inline `#checkov:skip` comments elsewhere: one place to read them all.
    assert "checkov:skip" not in (ROOT / "template.yaml").read_text(encoding="utf-8")


def test_the_skipped_checks_are_answered_in_the_template(template: dict[str, Any]) -> None:
    """What each reason claims is true of the resource it sits on."""
    resources = template["Resources"]
    for name, entries in skips(template).items():
        props = resources[name].get("Properties", {})
        for check in (entry["id"] for entry in entries):
            if check == "CKV_AWS_27":  # SQS encryption: SQS managed keys
                assert props["SqsManagedSseEnabled"] is True, name
            elif check == "CKV_AWS_119":  # DynamoDB: AWS owned key, never the AWS managed one
                assert props.get("SSESpecification", {}).get("SSEEnabled", False) is False, name
            elif check == "CKV_AWS_28":  # no point-in-time recovery: only where nothing is to recover
                assert name in ("ReplayTable", "ArchiveTable") and "TimeToLiveSpecification" in props, name
            elif check == "CKV_AWS_115":  # no reserved concurrency: never the ingress, whose is a parameter
                assert name != "IngressFunction"
                assert "ReservedConcurrentExecutions" not in function_properties(template, name), name
            elif check == "CKV_AWS_116":  # no function DLQ
                assert "DeadLetterQueue" not in function_properties(template, name), name
            elif check == "CKV_AWS_26":  # the topic: its own key exactly when asked
                assert props["KmsMasterKeyId"] == {
                    "Fn::If": ["HasAlarmTopicKey", {"Ref": "AlarmTopicKey"}, {"Ref": "AWS::NoValue"}]
                }


def test_state_that_cannot_be_rebuilt_has_point_in_time_recovery(template: dict[str, Any]) -> None:
    state = template["Resources"]["UnitStateTable"]["Properties"]
    assert state["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
