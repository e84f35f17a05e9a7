"""The real ingress handler with HTTP API v2 events, moto's SQS and Secrets Manager."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsPublisher
from relay.errors import ConfigError
from relay.handlers.ingress import lambda_handler, request_id
from relay.ingress.pipeline import IngressDeps
from relay.messages import QueueMessage
from relay_devtools.local.apigw import api_gateway_v2_event
from relay_devtools.webhooks.signing import sign
from tests.support.aws import drain
from tests.support.clocks import FixedClock
from tests.support.constants import CAD_SECRET, GUILD, MDT, NOW

UNITS = {"units": [{"id": "ADAM-12", "officer_name": "B. Bubbleton", "status": "10-8"}]}


def event_for(body: bytes, headers: dict[str, str], path: str = "/hooks/cad") -> dict[str, Any]:
    return api_gateway_v2_event("POST", path, "", list(headers.items()), body, "203.0.113.9")


def signed_event(config: Any, payload: Any = UNITS, **overrides: Any) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    delivery = sign(config.sources["cad"].signature, body, CAD_SECRET, now=NOW, delivery_id="msg_1")
    headers = delivery.headers | overrides
    return event_for(delivery.body, headers)


def invoke(
    event: dict[str, Any], config: Any, aws: dict[str, Any], lambda_context: Any, publisher: Any = None
):
    deps = IngressDeps(
        config=config,
        secrets=PowertoolsSecrets(),
        publisher=publisher or SqsPublisher(aws["queue_url"], aws["sqs"]),
    )
    answer = lambda_handler(event, lambda_context, deps=deps, now=FixedClock())
    return answer["statusCode"], json.loads(answer["body"])


def test_ingress_a_signed_webhook_is_queued_and_answered_202(config, aws, lambda_context) -> None:
    # Given a correctly signed units webhook
    event = signed_event(config)
    # When the handler gets it
    status, body = invoke(event, config, aws, lambda_context)
    # Then it answers 202 in the envelope and exactly one message is queued with the change
    assert status == 202
    assert body == {"ok": True, "data": {"source": "cad", "webhook_id": "msg_1", "changes": 1}}
    queued = [QueueMessage.model_validate_json(m["Body"]) for m in drain(aws["sqs"], aws["queue_url"])]
    assert len(queued) == 1
    message = queued[0]
    assert (message.source, message.mdt_id, message.guild_id, message.webhook_id) == (
        "cad",
        MDT,
        GUILD,
        "msg_1",
    )
    assert message.changes[0].fields == {"officer_name": "B. Bubbleton", "status": "10-8"}
    assert message.changes[0].at == NOW


def test_ingress_a_base64_body_from_api_gateway_is_verified_on_the_decoded_bytes(config, aws, lambda_context):
    event = signed_event(config)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    status, _ = invoke(event, config, aws, lambda_context)
    assert status == 202


def test_ingress_a_forged_webhook_gets_401_and_nothing_is_queued(config, aws, lambda_context) -> None:
    event = signed_event(config)
    event["body"] = event["body"].replace("10-8", "10-7")
    status, body = invoke(event, config, aws, lambda_context)
    assert (status, body) == (401, {"ok": False, "error": "Unauthorized"})
    assert drain(aws["sqs"], aws["queue_url"]) == []


def test_ingress_a_malformed_body_gets_422_saying_what_is_wrong(config, aws, lambda_context) -> None:
    status, body = invoke(signed_event(config, {"units": [{"status": "10-8"}]}), config, aws, lambda_context)
    assert status == 422
    assert body == {"ok": False, "error": "units.0.id: Field required"}
    assert drain(aws["sqs"], aws["queue_url"]) == []


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        (b"not json", 422, "body: not valid JSON"),
        (b"[1, 2]", 422, "body: expected a JSON object, got list"),
        (b"\xff\xfe", 422, "body: not UTF-8"),
        (b"   ", 422, "body: empty"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, 422, "nested deeper than 32"),
    ],
)
def test_ingress_signed_but_unreadable_bodies_get_422(
    config, aws, lambda_context, payload, status, error
) -> None:
    got_status, body = invoke(signed_event(config, payload), config, aws, lambda_context)
    assert got_status == status
    assert error in body["error"]


def test_ingress_unknown_source_too_large_and_wrong_type(config, aws, lambda_context) -> None:
    assert invoke(event_for(b"{}", {}, "/hooks/nope"), config, aws, lambda_context)[0] == 404
    big = signed_event(config, {"units": [{"id": "A", "status": "x" * 200}] * 1400})
    assert invoke(big, config, aws, lambda_context) == (
        413,
        {"ok": False, "error": "Body larger than 262144 bytes"},
    )
    xml = signed_event(config, **{"content-type": "application/xml"})
    assert invoke(xml, config, aws, lambda_context)[0] == 415
    assert drain(aws["sqs"], aws["queue_url"]) == []


class FailingSqs:
    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {
            "Successful": [],
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in kwargs["Entries"]
            ],
        }


def test_ingress_answers_503_unless_every_message_is_queued(config, aws, lambda_context) -> None:
    sqs = FailingSqs()
    publisher = SqsPublisher("https://queue", sqs, attempts=3, sleep=lambda _: None)  # type: ignore[arg-type]
    status, body = invoke(signed_event(config), config, aws, lambda_context, publisher=publisher)
    assert (status, body["ok"]) == (503, False)
    assert sqs.calls == 3


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"webhook-id": "msg_\udc80"}, None, 401),
        ({"webhook-signature": "v1,\ud800"}, None, 401),
        ({"content-type": "application/json\udc80"}, None, 415),
        ({}, '{"units": [{"id": "\ud800"}]}', 401),
    ],
)
def test_ingress_a_hand_made_event_with_lone_surrogates_gets_a_4xx(
    config, aws, lambda_context, headers, body, status
) -> None:
    # Given an event no HTTP request could produce (a direct invoke): str values holding lone surrogates
    event = signed_event(config)
    event["headers"] |= headers
    if body is not None:
        event["body"] = body
    # When the handler gets it / Then it is refused like any other bad input, never a 5xx
    assert invoke(event, config, aws, lambda_context)[0] == status
    assert drain(aws["sqs"], aws["queue_url"]) == []


@pytest.mark.parametrize(
    ("table", "guard"), [("relay-replay", "DynamoReplayGuard"), (None, "InMemoryReplayGuard")]
)
def test_ingress_default_deps_wire_the_replay_table_from_the_environment(
    monkeypatch, aws, table, guard
) -> None:
    from relay.handlers import wiring
    from relay.handlers.wiring import ingress_deps

    # Given the function's environment, with or without REPLAY_TABLE
    monkeypatch.setenv("QUEUE_URL", aws["queue_url"])
    monkeypatch.delenv("STATE_TABLE", raising=False)
    if table:
        monkeypatch.setenv("REPLAY_TABLE", table)
    else:
        monkeypatch.delenv("REPLAY_TABLE", raising=False)
    wiring.reset()
    try:
        deps = ingress_deps()
    finally:
        wiring.reset()
    # Then the replay guard is the table's, or (no table: a stack without one) an in-memory one
    assert type(deps.replay).__name__ == guard
    assert getattr(deps.replay, "table_name", None) == table
    assert isinstance(deps.publisher, SqsPublisher)


def test_ingress_the_default_wiring_remembers_deliveries_in_the_replay_table(
    monkeypatch, config, aws, lambda_context
) -> None:
    from relay.handlers import wiring
    from tests.support.aws import add_relay_resources

    # Given the shipped relay.toml, moto's queue, secrets and replay table, and only the environment
    resources = add_relay_resources(aws)
    monkeypatch.setenv("QUEUE_URL", aws["queue_url"])
    monkeypatch.setenv("REPLAY_TABLE", resources["replay_table"])
    monkeypatch.delenv("STATE_TABLE", raising=False)
    wiring.reset()
    event = signed_event(config)
    try:
        # When the handler builds its own dependencies and gets the same delivery twice
        first = lambda_handler(event, lambda_context, now=FixedClock())
        second = lambda_handler(event, lambda_context, now=FixedClock())
    finally:
        wiring.reset()
    # Then it is queued once and remembered in the table
    assert (first["statusCode"], second["statusCode"]) == (202, 200)
    assert len(drain(aws["sqs"], aws["queue_url"])) == 1
    items = resources["dynamodb"].scan(TableName=resources["replay_table"])["Items"]
    assert [item["pk"]["S"] for item in items] == ["cad#msg_1"]


def test_ingress_a_stateful_adapter_without_state_table_fails_at_wiring(tmp_path, monkeypatch, aws) -> None:
    from relay.handlers import wiring
    from relay.handlers.wiring import ingress_deps

    # Given a relay.toml with a Sonoran source (it caches identIds) and no STATE_TABLE in the environment
    path = tmp_path / "relay.toml"
    path.write_text(
        '[northca]\npartner_key_secret = "northca/partner-key"\n'
        f'[sources.sonoran]\nadapter = "sonoran"\nmdt_id = "{MDT}"\nguild_id = "{GUILD}"\n'
        'signature = { scheme = "body-key", secret = "relay/sources/sonoran" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("RELAY_CONFIG", str(path))
    monkeypatch.setenv("QUEUE_URL", aws["queue_url"])
    monkeypatch.delenv("STATE_TABLE", raising=False)
    wiring.reset()
    try:
        # When the handler wires itself / Then it says which setting is missing and which sources need it
        with pytest.raises(ConfigError, match="STATE_TABLE is not set: sources sonoran keep state in it"):
            ingress_deps()
    finally:
        wiring.reset()


# The handler matches its two routes itself (no resolver to import at cold start): what API Gateway's
# HTTP API can hand it. A named stage's prefix is taken off when present (the resolver cut its length
# off blindly; API Gateway always sends it).
@pytest.mark.parametrize(
    ("method", "path", "stage", "status"),
    [
        ("POST", "/hooks/cad", "$default", 202),
        ("post", "/hooks/cad", "$default", 202),
        ("POST", "/prod/hooks/cad", "prod", 202),
        ("GET", "/hooks/cad", "$default", 404),
        ("PUT", "/hooks/cad", "$default", 404),
        ("OPTIONS", "/hooks/cad", "$default", 404),
        ("POST", "/hooks/cad/", "$default", 404),
        ("POST", "/hooks/", "$default", 404),
        ("POST", "/hooks", "$default", 404),
        ("POST", "/hooks/cad/a/b", "$default", 404),
        ("POST", "/other/cad", "$default", 404),
        ("POST", "/hooks/cad", "prod", 202),
    ],
)
def test_ingress_routes_only_posts_to_the_two_hook_paths(
    config, aws, lambda_context, method, path, stage, status
) -> None:
    event = signed_event(config)
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["stage"] = stage
    got, body = invoke(event, config, aws, lambda_context)
    assert got == status
    if status == 404:
        assert body == {"ok": False, "error": "Not found"}


def test_ingress_a_token_in_the_path_reaches_the_source_and_unknown_sources_are_404(
    config, aws, lambda_context
) -> None:
    # /hooks/{source}/{token} is a route; a source of another scheme is judged by its signature alone
    event = signed_event(config)
    event["rawPath"] = "/hooks/cad/some-token"
    assert invoke(event, config, aws, lambda_context)[0] == 202
    # segments arrive still percent-encoded, as API Gateway hands them over: no decoding into a source
    for path in ("/hooks/nope/some-token", "/hooks/ca%64", "/hooks/%2e%2e"):
        event["rawPath"] = path
        status, body = invoke(event, config, aws, lambda_context)
        assert status == 404
        assert body["error"].startswith("Unknown source")


def test_ingress_answers_in_the_shape_api_gateway_reads(config, aws, lambda_context) -> None:
    deps = IngressDeps(
        config=config, secrets=PowertoolsSecrets(), publisher=SqsPublisher(aws["queue_url"], aws["sqs"])
    )
    for event in (signed_event(config), event_for(b"{}", {}, "/nowhere")):
        answer = lambda_handler(event, lambda_context, deps=deps, now=FixedClock())
        assert set(answer) == {"statusCode", "body", "isBase64Encoded", "headers", "cookies"}
        assert answer["headers"] == {"Content-Type": "application/json"}
        assert answer["isBase64Encoded"] is False
        assert isinstance(answer["body"], str)
        json.loads(answer["body"])


def test_ingress_a_bug_is_a_logged_500_with_a_generic_text(config, aws, lambda_context, caplog) -> None:
    class BrokenPublisher:
        def send(self, messages: Any) -> int:
            raise RuntimeError("a bug with a secret detail")

    status, body = invoke(signed_event(config), config, aws, lambda_context, publisher=BrokenPublisher())
    assert (status, body) == (500, {"ok": False, "error": "Internal error"})
    logged = [r for r in caplog.records if r.getMessage() == "unexpected error"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


def test_ingress_an_unknown_route_is_one_log_line_with_its_method_and_the_routes_shape(
    config, aws, lambda_context, caplog
) -> None:
    event = event_for(b"{}", {}, "/wp-login.php" + "x" * 5000 + "/a/b/c/d/e/f/g")
    event["requestContext"]["http"]["method"] = "GET"
    assert invoke(event, config, aws, lambda_context)[0] == 404
    [line] = [r for r in caplog.records if r.getMessage() == "no such route"]
    assert (line.status, line.method) == (404, "GET")  # type: ignore[attr-defined]
    # The shape, not the path (a url-token may be in it): each unknown segment by its length
    expected = (
        "/<5012 characters>/<1 characters>/<1 characters>/<1 characters>/<1 characters>/<3 more segments>"
    )
    assert line.route == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Ab1=", "Ab1="), (None, None), ("", None), (42, None), ("x" * 129, None), ("a\nb", None)],
    ids=repr,
)
def test_ingress_only_a_short_printable_request_id_names_a_delivery(value, expected) -> None:
    # API Gateway's ids are short and printable; a hand-made event's oddity never reaches a queue message
    assert request_id({"requestContext": {"requestId": value}}) == expected
    assert request_id({}) is None


def _set(path: str, value: Any) -> Any:
    """An edit of a signed event at a dotted path ("requestContext.http" …); the last key is set."""

    def edit(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = event
        for key in parents:
            target = target[key]
        target[last] = value

    return edit


# What only a hand-made event can hold (API Gateway never sends these): never a 5xx. A header that is
# not text counts as absent (a Content-Type of 5 is no Content-Type: JSON, and the request is queued).
@pytest.mark.parametrize(
    "edit",
    [
        _set("requestContext.http", "POST"),
        _set("requestContext", "ctx"),
        _set("rawPath", "/hooks/cad\n"),
        _set("rawPath", 5),
        _set("body", 5),
        _set("body", {"units": []}),
        _set("headers", [("a", "b")]),
        _set("headers", "abc"),
        _set("headers.content-type", 5),
        _set("headers.content-type", None),
        _set("headers.webhook-id", ["a", "b"]),
        _set("headers.webhook-signature", None),
    ],
    ids=[
        "http-str",
        "context-str",
        "path-newline",
        "path-int",
        "body-int",
        "body-dict",
        "headers-list",
        "headers-str",
        "header-int",
        "header-none",
        "header-list",
        "signature-none",
    ],
)
def test_ingress_a_hand_made_event_of_odd_types_never_gets_a_5xx(config, aws, lambda_context, edit) -> None:
    event = signed_event(config)
    edit(event)
    status, _ = invoke(event, config, aws, lambda_context)
    assert status < 500


def test_ingress_an_int_body_marked_base64_gets_a_4xx(config, aws, lambda_context) -> None:
    event = signed_event(config)
    event["body"], event["isBase64Encoded"] = 5, True
    assert invoke(event, config, aws, lambda_context)[0] == 422
