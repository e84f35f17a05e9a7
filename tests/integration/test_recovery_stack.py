"""`relay inspect`, `relay replay` and `relay resync` against a deployed stack (`--stack`): CloudFormation's
outputs, the tables, the queue and Secrets Manager in moto, the partner the Northca emulator, the real
ingress pipeline and consumer in between. The three bad days, each end to end:
- the MDT wiped: resync's dry run names what it would put back, resync puts it back whole;
- a source's key wrong, then fixed: its refused deliveries replayed, verified with the fixed key;
- a webhook to look at: inspect shows what it sent, became and (with no log line yet) says so."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from relay.aws.archive import DynamoArchive
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsPublisher
from relay.aws.unit_state import DynamoUnitStateStore
from relay.config.loader import load_config
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.errors import VerificationError
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.northca.client import NorthcaClient
from relay.northca.writer import PartnerWriter
from relay_devtools.cli import main
from relay_devtools.emulators.northca import NorthcaEmulator
from relay_devtools.webhooks.signing import sign
from tests.support.aws import create_plain_stack
from tests.support.constants import CAD_SECRET, GUILD, MDT, PARTNER_KEY

STACK = "relay-recovery"
BUNDLE = "relay/sources/northca-relay"
OLD_KEY, NEW_KEY = "sonoran-key-before-the-rotation", "sonoran-key-after-the-rotation"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with mock_aws(), NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]}) as emulator:
        aws = create_plain_stack(STACK, tables=True)
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
        }
        secrets = {
            "northca/partner-key": PARTNER_KEY,
            "relay/sources/cad": CAD_SECRET,
            "relay/sources/sonoran": OLD_KEY,
        }
        aws["secretsmanager"].create_secret(Name=BUNDLE, SecretString=json.dumps(secrets))
        config = tmp_path / "relay.toml"
        config.write_text(
            f"""
[northca]
base_url = "{emulator.base_url}"
partner_key_secret = "northca/partner-key"
[secrets]
bundle = "{BUNDLE}"
[sources.cad]
adapter = "units"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "standard-webhooks", secret = "relay/sources/cad" }}
[sources.sonoran]
adapter = "units"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "body-key", secret = "relay/sources/sonoran" }}
archive_body = true
"""
        )
        yield {**aws, "outputs": outputs, "config": config, "emulator": emulator}


def ingress(world: dict[str, Any], source: str, body: bytes, secret: str, delivery: str | None = None) -> Any:
    cfg = load_config(world["config"])
    signed = sign(cfg.sources[source].signature, body, secret, delivery_id=delivery)
    request = InboundRequest(
        source, signed.headers, signed.body, datetime.now(UTC), request_id=f"req-{delivery}"
    )
    deps = IngressDeps(
        config=cfg,
        secrets=PowertoolsSecrets(bundle=BUNDLE),
        publisher=SqsPublisher(world["outputs"]["WebhookQueueUrl"], world["sqs"]),
        archive=DynamoArchive(world["outputs"]["ArchiveTableName"], world["dynamodb"]),
    )
    return accept_webhook(request, deps)


def consume(world: dict[str, Any]) -> None:
    """Every queued message, through the real consumer (as the event source mapping would)."""
    sqs, url = world["sqs"], world["outputs"]["WebhookQueueUrl"]
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in batch
        ]
        writer = PartnerWriter(
            PowertoolsSecrets(bundle=BUNDLE),
            "northca/partner-key",
            lambda k: NorthcaClient(world["emulator"].base_url, k),
        )
        state = DynamoUnitStateStore(world["outputs"]["UnitStateTableName"], world["dynamodb"])
        outcome = process_batch(records, ConsumerDeps(writer=writer, state=state))
        assert not outcome.failed_message_ids
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def relay(world: dict[str, Any], *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--stack", STACK, "--config", str(world["config"])])
    return code, out.getvalue()


def units_body(*units: dict[str, str]) -> bytes:
    return json.dumps({"units": list(units)}).encode()


def test_recovery_stack_the_mdt_wiped_is_put_back_whole(world: dict[str, Any]) -> None:
    # Given two units written whole, and a dispatcher's rename the relay has seen
    ingress(
        world,
        "cad",
        units_body(
            {"id": "ADAM-12", "officer_name": "B. Bubbleton", "status": "10-8"},
            {"id": "T-1", "officer_name": "T. One", "rank": "SGT", "status": "10-6"},
        ),
        CAD_SECRET,
        "m1",
    )
    consume(world)
    world["emulator"].edit(MDT, "T-1", {"officer_name": "Dispatcher's name"})
    ingress(world, "cad", units_body({"id": "T-1", "status": "10-8"}), CAD_SECRET, "m2")
    consume(world)
    before = world["emulator"].units(MDT)
    # When Northca loses the MDT
    world["emulator"].remove(MDT)
    code, dry = relay(world, "resync", "--mdt", MDT, "--dry-run")
    # Then the dry run names both units it would create, with their values, and queues nothing
    assert code == 0 and "2 to create, 0 to write, 0 unchanged; nothing queued" in dry
    assert "officer_name: '' -> \"Dispatcher's name\"" in dry
    assert world["emulator"].units(MDT) == {}
    # And the resync puts both back as they were
    code, out = relay(world, "resync", "--mdt", MDT)
    assert code == 0 and "2 units queued as relay:resync" in out
    consume(world)
    after = world["emulator"].units(MDT)
    fields = ("officer_name", "officer_badge", "department", "rank", "status")
    assert {u: {f: after[u][f] for f in fields} for u in after} == {
        u: {f: before[u][f] for f in fields} for u in before
    }


def test_recovery_stack_a_key_wrong_then_fixed_is_replayed(world: dict[str, Any]) -> None:
    # Given deliveries of a body-key source refused: the sender rotated its key, the relay did not
    for n, status in enumerate(("10-8", "10-97")):
        body = json.dumps({"key": NEW_KEY, "units": [{"id": "A-10", "status": status}]}).encode()
        with pytest.raises(VerificationError):
            ingress(world, "sonoran", body, NEW_KEY, f"s{n}")
    code, before = relay(world, "replay", "--source", "sonoran", "--since", "1h", "--dry-run")
    assert code == 0 and "0 refused then that verify now, 2 still refused" in before
    # When the operator fixes the relay's secret
    bundle = json.loads(world["secretsmanager"].get_secret_value(SecretId=BUNDLE)["SecretString"])
    world["secretsmanager"].put_secret_value(
        SecretId=BUNDLE, SecretString=json.dumps(bundle | {"relay/sources/sonoran": NEW_KEY})
    )
    code, dry = relay(world, "replay", "--source", "sonoran", "--since", "1h", "--dry-run")
    assert code == 0 and "2 refused then that verify now, 0 still refused" in dry
    assert "A-10  create  status: '' -> '10-97'" in dry
    code, out = relay(world, "replay", "--source", "sonoran", "--since", "1h")
    assert code == 0 and "2 messages queued" in out
    consume(world)
    # Then the unit holds the newest of what the refused pushes said
    assert world["emulator"].units(MDT)["A-10"]["status"] == "10-97"
    # and inspect shows what the sender sent, its key left out
    [refused_id] = [line.split()[1] for line in dry.splitlines() if "request:req-s0" in line] or [
        "request:req-s0"
    ]
    code, shown = relay(world, "inspect", refused_id)
    assert code == 0 and "sonoran  refused  request:req-s0" in shown and NEW_KEY not in shown
    assert '"status": "10-8"' in shown


def test_recovery_stack_inspect_and_replay_of_one_webhook(world: dict[str, Any]) -> None:
    ingress(world, "cad", units_body({"id": "ADAM-12", "status": "10-8"}), CAD_SECRET, "msg_one")
    consume(world)
    code, shown = relay(world, "inspect", "msg_one")
    assert code == 0
    assert "cad  accepted  msg_one" in shown and "ADAM-12" in shown and "status='10-8'" in shown
    assert "not kept (sources.cad.archive_body is off)" in shown
    assert "no line names it" in shown  # the moto stack's log groups hold no line
    # A replay of it, already written: the dry run says so, the replay queues it and nothing changes
    code, dry = relay(world, "replay", "msg_one", "--dry-run")
    assert code == 0 and "ADAM-12  no change" in dry
    code, out = relay(world, "replay", "msg_one")
    assert code == 0 and "1 messages queued" in out
    puts = len([r for r in world["emulator"].requests() if r["method"] == "PUT"])
    consume(world)
    assert len([r for r in world["emulator"].requests() if r["method"] == "PUT"]) == puts
    # An id the archive does not hold
    code, shown = relay(world, "inspect", "msg_nobody_sent")
    assert code == 1 and "nothing under this id" in shown


def test_recovery_stack_without_the_outputs_says_to_deploy(world: dict[str, Any]) -> None:
    create_plain_stack("relay-old")
    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        code = main(["resync", "--mdt", MDT, "--stack", "relay-old", "--config", str(world["config"])])
    assert code == 1 and "has no output UnitStateTableName" in out.getvalue()
