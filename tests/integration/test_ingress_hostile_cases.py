"""The cases of issue #10 that broke a promise of docs/security.md, each through the real handler (moto
for AWS): what the tester sent, and the answer the relay now gives."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.aws.dynamodb import DynamoSourceStateStore
from relay.aws.sqs import SqsPublisher
from tests.support.adapters import CountingStateStore
from tests.support.aws import create_unit_state_table
from tests.support.constants import GUILD, MDT
from tests.support.data import ERLC_PUBLIC_KEY, UNITS_BODY, load_event, scheme_config_data, secret_of
from tests.support.ingress import FailingThenWorkingSqs, Stack, event, signed
from tests.support.logs import captured_logs, log_records, metric_names

# Secrets an operator got wrong, by source: (value stored, or None for no secret at all).
MISCONFIGURED = {
    "no-secret": ("standard-webhooks", None),
    "not-base64": ("standard-webhooks", "whsec_%%%not base64%%%"),
    "rsa-key": (
        "ed25519",
        base64.b64encode(
            rsa.generate_private_key(public_exponent=65537, key_size=1024)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode(),
    ),
    # PRC's key with its algorithm's OID (1.3.101.112, Ed25519) changed to one nobody knows (1.3.101.99)
    "unknown-algorithm": (
        "ed25519",
        base64.b64encode(
            base64.b64decode(ERLC_PUBLIC_KEY).replace(
                bytes.fromhex("06032b6570"), bytes.fromhex("06032b6563")
            )
        ).decode(),
    ),
}


@pytest.fixture
def config_data() -> dict[str, Any]:
    data = scheme_config_data()
    sonoran_key = data["sources"]["sonoran"]["signature"]
    data["sources"]["sonoran-cad"] = {
        **data["sources"]["cad"],
        "adapter": "sonoran",
        "signature": sonoran_key,
    }
    data["sources"]["erlc-game"] = {
        **data["sources"]["cad"],
        "adapter": "erlc-events",
        "signature": data["sources"]["erlc"]["signature"],
        "options": {"server": "main"},
    }
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "relay/erlc/main", "mdt_id": MDT, "guild_id": GUILD}}
    }
    for name, (scheme, _) in MISCONFIGURED.items():
        data["sources"][name] = {
            **data["sources"]["cad"],
            "signature": {"scheme": scheme, "secret": f"relay/sources/{name}"},
        }
    return data


@pytest.fixture
def state(stack: Stack) -> DynamoSourceStateStore:
    """The source-state table (moto), wired into the stack like STATE_TABLE."""
    create_unit_state_table(stack.aws["dynamodb"], "unit-state")
    stack.source_state = DynamoSourceStateStore("unit-state", stack.aws["dynamodb"], clock=stack.clock)
    return stack.source_state


def sonoran(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    """A Sonoran push event to the `sonoran-cad` source, with its community key in the body."""
    body = json.dumps(payload).encode()
    return event("sonoran-cad", signed(stack.config, "sonoran-cad", body, secret=secret_of("sonoran")))


def units_body(**unit: Any) -> bytes:
    return json.dumps({"units": [{"id": "ADAM-12", "status": "10-8", **unit}]}).encode()


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_event_time_outside_utc_is_a_422_naming_the_field_not_a_500(stack: Stack, at: str) -> None:
    # Given an authentic delivery whose event time has no UTC form
    delivery = signed(stack.config, "cad", units_body(at=at))
    # When the handler gets it / Then the sender learns which field, and nothing is queued
    status, answer = stack.invoke(event("cad", delivery))
    assert (status, answer["ok"]) == (422, False)
    assert answer["error"] == f"units.0.at: Value error, {at} is outside the range of UTC times"
    assert stack.queued() == []


@pytest.mark.parametrize("unit_id", ["\x1c", "\x1f\x1e\x1d\x1c"], ids=["1c", "1f1e1d1c"])
def test_an_id_the_partner_refuses_is_a_422_at_the_door_not_a_dead_letter(stack: Stack, unit_id: str) -> None:
    # Given an id that Python's str.strip() (the partner's rule) leaves empty
    delivery = signed(stack.config, "cad", units_body(id=unit_id))
    status, answer = stack.invoke(event("cad", delivery))
    # Then it is refused with where it is, and never queued
    assert (status, answer) == (
        422,
        {"ok": False, "error": "units.0.id: Value error, empty once surrounding blanks are trimmed"},
    )
    assert stack.queued() == []


@pytest.mark.parametrize(
    ("source", "detail", "metric"),
    [
        ("no-secret", "(ResourceNotFoundException)", "SecretsUnavailable"),
        ("not-base64", "standard-webhooks secret is not base64", "SecretsUnusable"),
        ("rsa-key", "public key is RSAPublicKey, not Ed25519", "SecretsUnusable"),
        ("unknown-algorithm", "a key of an unsupported algorithm", "SecretsUnusable"),
    ],
)
def test_a_misconfigured_secret_is_a_generic_503_and_the_detail_goes_to_the_log(
    stack: Stack, capsys: pytest.CaptureFixture[str], source: str, detail: str, metric: str
) -> None:
    # Given a source whose secret is missing or holds no usable key (an unknown algorithm included)
    value = MISCONFIGURED[source][1]
    if value is not None:
        stack.aws["secretsmanager"].create_secret(Name=f"relay/sources/{source}", SecretString=value)
    capsys.readouterr()
    # When anybody posts to it, unsigned
    with captured_logs() as logs:
        status, answer = stack.invoke(event(source, signed(stack.config, "cad")))
    # Then the answer is the documented 503 with the class's public text, and nothing about the setup
    assert (status, answer) == (503, {"ok": False, "error": "Source not available, retry later"})
    # And the log line and the metric say what is wrong, naming the secret but not its value
    [line] = [r for r in log_records(logs) if r["level"] == "ERROR"]
    assert detail in line["error"]
    assert f"relay/sources/{source}" in line["error"]
    assert value is None or value not in json.dumps(line)
    assert line["metric"] == metric
    assert metric in metric_names(capsys.readouterr().out)


def test_a_queue_outage_is_a_generic_503(stack: Stack) -> None:
    sqs = FailingThenWorkingSqs(stack.aws["sqs"], failures=3)
    stack.publisher = SqsPublisher(stack.aws["queue_url"], sqs, sleep=lambda _: None)  # type: ignore[arg-type]
    with captured_logs() as logs:
        status, answer = stack.invoke(event("cad", signed(stack.config, "cad", UNITS_BODY)))
    assert (status, answer) == (503, {"ok": False, "error": "Queue unavailable, retry later"})
    assert [r["metric"] for r in log_records(logs) if r["level"] == "ERROR"] == ["EnqueueFailed"]


def test_a_svix_sender_with_its_default_header_names_is_accepted(stack: Stack) -> None:
    # Given a delivery signed like Standard Webhooks, but with Svix's default names (svix-id, ...)
    delivery = signed(stack.config, "cad", UNITS_BODY, delivery_id="msg_svix")
    renamed = {
        f"svix-{name[8:]}": delivery.headers[name] for name in delivery.headers if name.startswith("webhook-")
    }
    headers: dict[str, str | None] = {name: None for name in delivery.headers if name.startswith("webhook-")}
    # When the handler gets it / Then it is queued, known by its svix-id
    status, answer = stack.invoke(event("cad", delivery, headers=headers | renamed))
    assert (status, answer["data"]["webhook_id"]) == (202, "msg_svix")
    assert len(stack.queued()) == 1


def test_a_sonoran_logout_answered_503_is_not_lost_on_the_senders_retry(
    stack: Stack, state: DynamoSourceStateStore
) -> None:
    # Given unit A-10 logged in (identId 17 remembered)
    assert stack.invoke(sonoran(stack, load_event("sonoran_unit_login.json")))[0] == 202
    stack.queued()
    # When its logout arrives while the queue is down
    real = stack.aws["sqs"]
    stack.publisher = SqsPublisher(
        stack.aws["queue_url"], FailingThenWorkingSqs(real, 3), sleep=lambda _: None
    )  # type: ignore[arg-type]
    logout = sonoran(stack, load_event("sonoran_unit_logout.json"))
    assert stack.invoke(logout)[0] == 503
    # Then the unit is still remembered, so the sender's retry finds it and the 10-7 is queued
    assert state.get("cache#sonoran-cad", "ident#17") == {"id": "A-10", "location": "Sandy Shores"}
    status, answer = stack.invoke(logout)
    assert (status, answer["data"]["changes"]) == (202, 1)
    assert [(c.id, c.fields) for m in stack.queued() for c in m.changes] == [("A-10", {"status": "10-7"})]
    # And only now is it forgotten
    assert state.get("cache#sonoran-cad", "ident#17") is None


def test_a_sonoran_login_refused_with_422_caches_none_of_its_units(
    stack: Stack, state: DynamoSourceStateStore
) -> None:
    # Given a login of two units, the second with an id the partner would refuse
    login = load_event("sonoran_unit_login.json")
    second = json.loads(json.dumps(login["data"][0]))
    second["unit"]["id"] = 18
    second["unit"]["data"]["unitNum"] = "\x1c"
    login["data"].append(second)
    # When it arrives / Then it is a 422 naming the id, and the first unit was not remembered either
    status, answer = stack.invoke(sonoran(stack, login))
    assert (status, answer["error"]) == (
        422,
        "data[1].unit.data.id: empty once surrounding blanks are trimmed",
    )
    assert state.get("cache#sonoran-cad", "ident#17") is None
    assert stack.queued() == []


@pytest.mark.parametrize("body", [b"", b"   ", b"not json", b"[1, 2]", b'"ping"'], ids=repr)
def test_erlc_an_authentic_body_without_an_event_is_acknowledged(
    stack: Stack, state: DynamoSourceStateStore, body: bytes
) -> None:
    # Given a request PRC signed whose body is empty or not a JSON object (how it checks a webhook URL)
    delivery = signed(stack.config, "erlc-game", body, secret=secret_of("erlc"), delivery_id=None)
    # When the handler gets it / Then it is answered 2xx with no change (PRC keeps the URL), not 422
    request = event("erlc-game", delivery)
    webhook_id = f"request:{request['requestContext']['requestId']}"
    assert stack.invoke(request) == (
        202,
        {"ok": True, "data": {"source": "erlc-game", "webhook_id": webhook_id, "changes": 0}},
    )
    assert stack.queued() == []


def test_erlc_an_unsigned_empty_body_is_still_refused(stack: Stack, state: DynamoSourceStateStore) -> None:
    # The signature comes first: an empty body nobody signed is a 401 like any other
    delivery = signed(stack.config, "erlc-game", b"", secret=secret_of("erlc"), delivery_id=None)
    forged = event("erlc-game", delivery, headers={"x-signature-ed25519": "00" * 64})
    assert stack.invoke(forged) == (401, {"ok": False, "error": "Unauthorized"})


def test_only_the_erlc_adapter_acknowledges_an_unreadable_authentic_body(stack: Stack) -> None:
    assert stack.invoke(event("erlc", signed(stack.config, "erlc", b"", delivery_id=None)))[0] == 422


def test_a_sonoran_identid_too_long_for_a_dynamodb_key_is_a_422_not_a_503_forever(
    stack: Stack, state: DynamoSourceStateStore
) -> None:
    # Given a login whose identId has 1,100 characters (DynamoDB refuses keys over 1,024 bytes)
    login = load_event("sonoran_unit_login.json")
    login["data"][0]["unit"]["id"] = "7" * 1100
    # Then the sender learns which value, instead of a 503 it would retry forever
    assert stack.invoke(sonoran(stack, login)) == (
        422,
        {"ok": False, "error": "data[0].unit.id: identId longer than 64 characters"},
    )


def test_a_sonoran_status_naming_20000_identids_is_refused_before_any_read(
    stack: Stack, state: DynamoSourceStateStore
) -> None:
    # Given the tester's 129 KB status event (it took 99.5 s against a 10 s ingress timeout)
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": list(range(20_000)), "status": 2}]}
    counting = CountingStateStore(state)
    stack.source_state = counting
    status, answer = stack.invoke(sonoran(stack, payload))
    # Then it is a 422 from the bound on identIds, and the state table was never read
    assert (status, answer["error"]) == (422, "data: more than 100 identIds in one request (max_idents)")
    assert counting.total == 0


def test_a_sonoran_login_of_2000_units_is_held_to_max_units(
    stack: Stack, state: DynamoSourceStateStore
) -> None:
    # Given a login of 2,000 units (it was accepted: max_units, 500 by default, was not enforced)
    logins = [{"unit": {"id": n, "status": 2, "data": {"unitNum": f"U-{n}"}}} for n in range(2000)]
    status, answer = stack.invoke(sonoran(stack, {"type": "EVENT_UNIT_LOGIN", "data": logins}))
    # Then it is refused, and nothing is queued or remembered
    assert (status, answer["error"]) == (422, "data: at most 500 units per request (max_units)")
    assert stack.queued() == []
    assert state.get("cache#sonoran-cad", "ident#0") is None


def test_the_ingress_warns_once_about_each_source_a_replay_is_not_caught_for(stack: Stack) -> None:
    # Given the ingress's dependencies, built once per cold start by the composition root
    deps = stack.deps()
    with captured_logs() as logs:
        # When it handles its first request, and a second
        stack.invoke(event("cad", signed(stack.config, "cad", UNITS_BODY, delivery_id="w-1")), deps=deps)
        stack.invoke(event("cad", signed(stack.config, "cad", UNITS_BODY, delivery_id="w-2")), deps=deps)
    # Then each source without replay protection was named in one warning, the first time only
    warned = [
        r["warning"]
        for r in log_records(logs)
        if r["message"] == "relay.toml: source without replay protection"
    ]
    assert warned == stack.config.replay_warnings()
    assert {w.split(":")[0] for w in warned} >= {"sources.github", "sources.typeform", "sources.snaily"}
    assert "sources.cad" not in {w.split(":")[0] for w in warned}
