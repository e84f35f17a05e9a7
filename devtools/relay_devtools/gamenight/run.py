"""One evening from start to report: plan it, start the relay under test, play it, let the relay
settle, read what the MDT showed, measure against the model."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay_devtools.gamenight.client import RelayClient
from relay_devtools.gamenight.driver import Driver
from relay_devtools.gamenight.mdt import by_officer, history
from relay_devtools.gamenight.measure import differences, measure
from relay_devtools.gamenight.mix import Size
from relay_devtools.gamenight.model import build_model
from relay_devtools.gamenight.records import Edit, Record, from_json, to_json
from relay_devtools.gamenight.relay_process import RelayLocal, start_relay
from relay_devtools.gamenight.report import build
from relay_devtools.gamenight.scenario import plan_evening

SETTLE_CHECK_SECONDS = 2.0


@dataclass
class Options:
    tree: Path
    workdir: Path
    size: Size = field(default_factory=Size)
    seed: int = 17
    # The longest wait for the MDT to match the model after the last planned moment: past the
    # relay's 300 s late-write window, so a unit it holds that long is measured, not cut off.
    settle_seconds: float = 330.0
    # How long the MDT must keep matching before the evening ends.
    quiet_seconds: float = 15.0
    window_seconds: int | None = None
    # False: the ER:LC faults made without the emulator's fault route (as for an older emulator).
    erlc_fault_routes: bool = True
    log: Callable[[str], None] = print


def describe(tree: Path) -> str:
    """`folder@commit` (with `+changes` when the work tree is not clean)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return tree.name
    return f"{tree.name}@{commit}{'+changes' if dirty else ''}"


def settle(client: RelayClient, records: list[Record], options: Options) -> tuple[bool, float]:
    """Wait until the MDT has matched the model for `quiet_seconds`, at most `settle_seconds`."""
    model = build_model(records)
    start = time.time()
    matched_since: float | None = None
    while time.time() - start < options.settle_seconds:
        if differences(model, by_officer(client.units())):
            matched_since = None
        else:
            matched_since = matched_since or time.time()
            if time.time() - matched_since >= options.quiet_seconds:
                return True, round(time.time() - start, 1)
        time.sleep(SETTLE_CHECK_SECONDS)
    return False, round(time.time() - start, 1)


def dlq_depth(relay: RelayLocal) -> int | None:
    """Messages in the relay's DLQ (moto's SQS, over HTTP), or None when it cannot be read."""
    try:
        import boto3

        sqs = boto3.client(
            "sqs", endpoint_url=relay.aws_endpoint, region_name=relay.region,
            aws_access_key_id="gamenight", aws_secret_access_key="gamenight",  # noqa: S106 - moto's
        )  # fmt: skip
        attributes = sqs.get_queue_attributes(
            QueueUrl=relay.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())
    except Exception:  # noqa: BLE001 - a report line, not the evening's result
        return None


def _keep(workdir: Path, saved: dict[str, Any]) -> None:
    """What the evening did and what the partner saw, beside relay local's log: to explain a finding,
    and to measure the evening again (`remeasure`)."""
    for name, content in saved.items():
        (workdir / f"{name}.json").write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def _measured(
    evening: dict[str, Any], records: list[Record], requests: list[Any], listed: list[Any]
) -> dict[str, Any]:
    model = build_model(records)
    mdt = history(requests, [r for r in records if isinstance(r, Edit)])
    findings = measure(model, mdt, by_officer(listed), float(evening["poll_seconds"]))
    return build(findings, records, evening, float(evening["start"]))


def remeasure(workdir: Path) -> dict[str, Any]:
    """The report of an evening played before, from what it left in its workdir, with this model."""

    def read(name: str) -> Any:
        return json.loads((workdir / f"{name}.json").read_text(encoding="utf-8"))

    return _measured(read("evening"), from_json(read("records")), read("partner-requests"), read("mdt"))


def run_evening(options: Options) -> dict[str, Any]:
    size, log = options.size, options.log
    plan = plan_evening(size, options.seed)
    poll = max(int(size.poll_seconds), 1)
    log(
        f"gamenight: starting relay local of {options.tree} (roster poll {poll} s), logs in {options.workdir}"
    )
    relay = start_relay(
        options.tree,
        options.workdir,
        poll,
        window_seconds=options.window_seconds,
        read_timeout=size.read_timeout,
    )
    try:
        client = RelayClient(relay.endpoints, relay.secrets)
        driver = Driver(client, poll, log, fault_routes=options.erlc_fault_routes)
        log(f"gamenight: playing {len(plan)} planned moments over {size.duration:g} s")
        records = driver.run(plan)
        log("gamenight: the evening is over; waiting for the MDT to settle")
        settled, settle_seconds = settle(client, records, options)
        requests, listed, dlq = client.partner_requests(), client.units(), dlq_depth(relay)
        fault_counts = client.partner_faults().get("counts", {})
    finally:
        relay.stop()
    evening = {
        "relay": describe(options.tree),
        "tree": str(options.tree),
        "seed": options.seed,
        "poll_seconds": poll,
        "erlc_fault_routes": options.erlc_fault_routes,
        "duration": size.duration,
        "start": driver.start,
        "started": datetime.fromtimestamp(driver.start, UTC).isoformat(timespec="seconds"),
        "settled": settled,
        "settle_seconds": settle_seconds,
        "dlq": dlq,
        "partner_fault_counts": {k: v for k, v in fault_counts.items() if v},
        "workdir": str(options.workdir),
    }
    _keep(
        options.workdir,
        {"evening": evening, "records": to_json(records), "partner-requests": requests, "mdt": listed},
    )
    return _measured(evening, records, requests, listed)
