"""Forged, replayed-with-changes and malformed requests through the real handler.

Every case is rejected with its stated status, nothing is queued, no replay record is written, and
no case gives a 5xx - with the replay store working, and again with it down. A request that is not
authentic always gets the same 401 body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from relay.config.schema import RelayConfig
from relay.errors import ReplayStoreUnavailableError
from relay_devtools.local.apigw import api_gateway_v2_event
from relay_devtools.local.lambda_context import LocalLambdaContext
from tests.support.aws import relay_aws
from tests.support.constants import NOW
from tests.support.data import OTHER_KEY_HEX, UNITS_BODY, scheme_config_data, secret_of
from tests.support.ingress import Stack, event, signed

UNAUTHORIZED = {"ok": False, "error": "Unauthorized"}
TS = str(int(NOW.timestamp()))
FORGED_B64 = base64.b64encode(b"\x01" * 32).decode()
RETIRED_WHSEC = "whsec_" + base64.b64encode(b"a retired key of 32 bytes, gone.").decode()
SONORAN_UNITS = {"units": [{"id": "ADAM-12", "status": "10-8"}]}


@pytest.fixture
def config_data() -> dict[str, Any]:
    return scheme_config_data()


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[RelayConfig], dict[str, Any]]
    status: int


def flip(body: bytes, index: int = 5) -> bytes:
    return body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]


def tampered(source: str, change: Callable[[bytes], bytes]) -> Callable[[RelayConfig], dict[str, Any]]:
    def build(config: RelayConfig) -> dict[str, Any]:
        delivery = signed(config, source)
        return event(source, delivery, body=change(delivery.body))

    return build


def headers(source: str, **overrides: str | None) -> Callable[[RelayConfig], dict[str, Any]]:
    """A genuine delivery with headers replaced (None removes one); `_` in names stands for `-`."""

    def build(config: RelayConfig) -> dict[str, Any]:
        return event(
            source, signed(config, source), headers={k.replace("_", "-"): v for k, v in overrides.items()}
        )

    return build


def signed_by(source: str, **kwargs: Any) -> Callable[[RelayConfig], dict[str, Any]]:
    """Signed with other material (another secret, time or body) and sent to `source`."""

    def build(config: RelayConfig) -> dict[str, Any]:
        return event(source, signed(config, source, **kwargs))

    return build


def resigned_header(
    source: str, name: str, value: str, **kwargs: Any
) -> Callable[[RelayConfig], dict[str, Any]]:
    """Genuinely signed, then one signed header changed (a replay with a fresh id or timestamp)."""

    def build(config: RelayConfig) -> dict[str, Any]:
        return event(source, signed(config, source, **kwargs), headers={name: value})

    return build


def raw(
    source: str, body: bytes, hdrs: dict[str, str] | None = None, path: str | None = None
) -> Callable[[RelayConfig], dict[str, Any]]:
    def build(_: RelayConfig) -> dict[str, Any]:
        pairs = list(({"content-type": "application/json"} | (hdrs or {})).items())
        return api_gateway_v2_event("POST", path or f"/hooks/{source}", "", pairs, body, "203.0.113.9")

    return build


def sonoran(payload: dict[str, Any] | bytes) -> Callable[[RelayConfig], dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return raw("sonoran", body)


def snaily(path: str) -> Callable[[RelayConfig], dict[str, Any]]:
    return raw("snaily", UNITS_BODY, path=path)


def joined(source: str, name: str, first: str, second: str) -> Callable[[RelayConfig], dict[str, Any]]:
    """Two headers of one name, as API Gateway hands them over: joined with a comma."""

    def build(config: RelayConfig) -> dict[str, Any]:
        delivery = signed(config, source)
        pairs = [(k, v) for k, v in delivery.headers.items() if k != name] + [(name, first), (name, second)]
        return api_gateway_v2_event("POST", f"/hooks/{source}", "", pairs, delivery.body, "203.0.113.9")

    return build


def signed_body(source: str, body: bytes) -> Callable[[RelayConfig], dict[str, Any]]:
    """Authentic (correctly signed) but unreadable: a 422 that says what is wrong."""
    return signed_by(source, body=body)


def base64_marked_garbage(config: RelayConfig) -> dict[str, Any]:
    built = event("cad", signed(config, "cad"))
    return built | {"body": "%%% not base64 %%%", "isBase64Encoded": True}


def at(seconds: int) -> Any:
    return NOW + timedelta(seconds=seconds)


CASES = [
    # ---- standard-webhooks (A3-A13, A15-A16)
    Case("sw-body-byte-flipped", tampered("cad", flip), 401),
    Case("sw-body-space-appended", tampered("cad", lambda b: b + b" "), 401),
    Case("sw-body-dashes-appended", tampered("cad", lambda b: b + b"------"), 401),
    Case("sw-body-truncated", tampered("cad", lambda b: b[:-1]), 401),
    Case(
        "sw-body-reserialised", tampered("cad", lambda b: json.dumps(json.loads(b), indent=1).encode()), 401
    ),
    Case("sw-body-non-utf8-unsigned", tampered("cad", lambda _: b"\xff\xfe\xfd"), 401),
    Case("sw-body-empty-unsigned", tampered("cad", lambda _: b""), 401),
    Case("sw-wrong-secret", signed_by("cad", secret=RETIRED_WHSEC), 401),
    Case("sw-foreign-secret-of-cad2", signed_by("cad", secret=secret_of("cad2")), 401),
    Case("sw-missing-id", headers("cad", webhook_id=None), 401),
    Case("sw-missing-timestamp", headers("cad", webhook_timestamp=None), 401),
    Case("sw-missing-signature", headers("cad", webhook_signature=None), 401),
    Case(
        "sw-all-missing", headers("cad", webhook_id=None, webhook_timestamp=None, webhook_signature=None), 401
    ),
    Case("sw-timestamp-hello", headers("cad", webhook_timestamp="hello"), 401),
    Case("sw-timestamp-empty", headers("cad", webhook_timestamp=""), 401),
    Case("sw-timestamp-nan", headers("cad", webhook_timestamp="nan"), 401),
    Case("sw-timestamp-1e300", headers("cad", webhook_timestamp="1e300"), 401),
    Case("sw-timestamp-negative", headers("cad", webhook_timestamp="-" + TS), 401),
    Case("sw-timestamp-float", headers("cad", webhook_timestamp=TS + ".5"), 401),
    Case("sw-timestamp-leading-zero", headers("cad", webhook_timestamp="0" + TS), 401),
    Case("sw-timestamp-old", signed_by("cad", at=at(-301)), 401),
    Case("sw-timestamp-future", signed_by("cad", at=at(301)), 401),
    Case(
        "sw-timestamp-changed-after-signing",
        resigned_header("cad", "webhook-timestamp", str(int(TS) + 1)),
        401,
    ),
    Case("sw-id-changed-after-signing", resigned_header("cad", "webhook-id", "delivery-2"), 401),
    Case("sw-signature-valid-format-wrong-mac", headers("cad", webhook_signature="v1," + FORGED_B64), 401),
    Case("sw-signature-truncated-8", headers("cad", webhook_signature="v1,g0hM9"), 401),
    Case("sw-signature-v1-comma", headers("cad", webhook_signature="v1,"), 401),
    Case("sw-signature-v1", headers("cad", webhook_signature="v1"), 401),
    Case("sw-signature-bangs", headers("cad", webhook_signature="v1,!!!!"), 401),
    Case("sw-signature-comma", headers("cad", webhook_signature=","), 401),
    Case("sw-signature-4kb-garbage", headers("cad", webhook_signature="Z" * 4096), 401),
    Case("sw-signature-header-8kb", headers("cad", webhook_signature="v1," + "A" * 8192), 401),
    Case("sw-signature-only-v1a", headers("cad", webhook_signature="v1a," + FORGED_B64), 401),
    Case(
        "sw-two-forged-signatures-joined",
        joined("cad", "webhook-signature", "v1," + FORGED_B64, "v1,AAAA"),
        401,
    ),
    Case("sw-two-timestamps-joined", joined("cad", "webhook-timestamp", TS, TS), 401),
    Case("sw-retired-secret-after-rotation", signed_by("cad", secret=RETIRED_WHSEC), 401),
    # ---- hmac-sha256, GitHub style (hex, prefix)
    Case("gh-body-tampered", tampered("github", flip), 401),
    Case("gh-wrong-secret", signed_by("github", secret="It's a Secret to Nobody"), 401),
    Case("gh-foreign-secret-of-typeform", signed_by("github", secret=secret_of("typeform")), 401),
    Case("gh-missing-signature", headers("github", x_hub_signature_256=None), 401),
    Case("gh-no-prefix", headers("github", x_hub_signature_256="0" * 64), 401),
    Case("gh-sha1-prefix", headers("github", x_hub_signature_256="sha1=" + "0" * 40), 401),
    Case("gh-upper-case-prefix", headers("github", x_hub_signature_256="SHA256=" + "0" * 64), 401),
    Case("gh-truncated-hex", headers("github", x_hub_signature_256="sha256=" + "ab" * 31), 401),
    Case("gh-non-hex", headers("github", x_hub_signature_256="sha256=" + "zz" * 32), 401),
    Case("gh-empty-after-prefix", headers("github", x_hub_signature_256="sha256="), 401),
    Case(
        "gh-two-forged-joined",
        joined("github", "x-hub-signature-256", "sha256=" + "0" * 64, "sha256=" + "1" * 64),
        401,
    ),
    # ---- hmac-sha256, Typeform (base64, prefix) and Tally (base64)
    Case("tf-body-tampered", tampered("typeform", lambda b: b.replace(b"10-8", b"10-7")), 401),
    Case("tf-hex-instead-of-base64", headers("typeform", typeform_signature="sha256=" + "0" * 64), 401),
    Case("tf-missing-prefix", headers("typeform", typeform_signature=FORGED_B64), 401),
    Case("tally-body-tampered", tampered("tally", lambda b: b + b"\n"), 401),
    Case("tally-wrong-secret", signed_by("tally", secret="tally-secret-0000"), 401),
    Case("tally-garbage-signature", headers("tally", tally_signature="@" * 44), 401),
    # ---- hmac-sha256 with a timestamp (Apps Script)
    Case("script-missing-timestamp", headers("script", x_relay_timestamp=None), 401),
    Case("script-old-timestamp", signed_by("script", at=at(-301)), 401),
    Case("script-future-timestamp", signed_by("script", at=at(301)), 401),
    Case(
        "script-timestamp-changed-after-signing",
        resigned_header("script", "x-relay-timestamp", str(int(TS) - 1)),
        401,
    ),
    Case("script-timestamp-not-a-number", headers("script", x_relay_timestamp="yesterday"), 401),
    # ---- ed25519 (ER:LC event webhooks)
    Case("ed-body-tampered", tampered("erlc", flip), 401),
    Case("ed-signed-by-another-key", signed_by("erlc", private_key=OTHER_KEY_HEX), 401),
    Case("ed-signature-truncated", headers("erlc", x_signature_ed25519="ab" * 63), 401),
    Case(
        "ed-signature-base64", headers("erlc", x_signature_ed25519=base64.b64encode(b"s" * 64).decode()), 401
    ),
    Case("ed-signature-zeros", headers("erlc", x_signature_ed25519="00" * 64), 401),
    Case("ed-missing-signature", headers("erlc", x_signature_ed25519=None), 401),
    Case("ed-missing-timestamp", headers("erlc", x_signature_timestamp=None), 401),
    Case("ed-old-timestamp", signed_by("erlc", at=at(-301)), 401),
    Case("ed-future-timestamp", signed_by("erlc", at=at(301)), 401),
    Case(
        "ed-timestamp-changed-after-signing",
        resigned_header("erlc", "x-signature-timestamp", str(int(TS) + 2)),
        401,
    ),
    Case("ed-two-forged-joined", joined("erlc", "x-signature-ed25519", "00" * 64, "11" * 64), 401),
    # ---- body-key (Sonoran)
    Case("bk-wrong-key", sonoran({"key": "not-the-key", **SONORAN_UNITS}), 401),
    Case("bk-missing-key", sonoran(SONORAN_UNITS), 401),
    Case("bk-key-not-a-string", sonoran({"key": 12345, **SONORAN_UNITS}), 401),
    Case("bk-key-empty", sonoran({"key": "", **SONORAN_UNITS}), 401),
    Case("bk-key-of-another-source", sonoran({"key": secret_of("snaily"), **SONORAN_UNITS}), 401),
    Case("bk-key-nested-only", sonoran({"data": {"key": secret_of("sonoran")}, **SONORAN_UNITS}), 401),
    Case("bk-body-not-json", sonoran(b"key=" + secret_of("sonoran").encode()), 401),
    Case("bk-body-non-utf8", sonoran(b'{"key": "\xff"}'), 401),
    # ---- url-token (SnailyCAD)
    Case("ut-no-token", snaily("/hooks/snaily"), 401),
    Case("ut-wrong-token", snaily("/hooks/snaily/wrong-token"), 401),
    Case("ut-token-of-another-source", snaily("/hooks/snaily/" + secret_of("sonoran")), 401),
    Case("ut-token-with-extra-char", snaily("/hooks/snaily/" + secret_of("snaily") + "x"), 401),
    Case("ut-token-case-changed", snaily("/hooks/snaily/" + secret_of("snaily").upper()), 401),
    # ---- limits, routing and content type (before any secret is read)
    Case("unknown-source", raw("nope", UNITS_BODY), 404),
    Case("body-over-the-cap", signed_body("cad", b'{"units": []' + b" " * 262_144 + b"}"), 413),
    Case("body-over-the-cap-unsigned", raw("snaily", b"x" * 300_000, path="/hooks/snaily/t"), 413),
    Case("content-type-xml", headers("cad", content_type="application/xml"), 415),
    Case("content-type-two-joined", joined("cad", "content-type", "application/json", "text/plain"), 415),
    # ---- authentic but unreadable (A14): 422, not 401, and not retried
    Case("signed-not-json", signed_body("cad", b"not json"), 422),
    Case("signed-json-array", signed_body("cad", b"[1, 2]"), 422),
    Case("signed-json-string", signed_body("cad", b'"units"'), 422),
    Case("signed-non-utf8", signed_body("cad", b'{"units": "\xff"}'), 422),
    Case("signed-empty", signed_body("github", b""), 422),
    Case("signed-too-deep", signed_body("cad", b'{"a":' * 40 + b"1" + b"}" * 40), 422),
    Case("signed-lone-surrogate", signed_body("cad", b'{"units": [{"id": "\\ud800"}]}'), 422),
    Case("signed-nan", signed_body("cad", b'{"units": NaN}'), 422),
    Case("signed-huge-integer", signed_body("cad", b'{"units": ' + b"9" * 5000 + b"}"), 422),
    Case("signed-wrong-schema", signed_body("cad", b'{"units": [{"status": "10-8"}]}'), 422),
    Case("signed-bom", signed_body("tally", b"\xef\xbb\xbf" + UNITS_BODY), 422),
    Case("base64-marked-garbage", base64_marked_garbage, 422),
]


@pytest.fixture(scope="module")
def module_aws() -> Iterator[dict[str, Any]]:
    # One moto stack for the whole table: every case checks it leaves the queue and replay table empty.
    with relay_aws() as aws:
        yield aws


@pytest.fixture
def stack(config: RelayConfig, module_aws: dict[str, Any]) -> Stack:
    return Stack(config, module_aws, LocalLambdaContext(function_name="ingress", timeout_seconds=10))


def test_ingress_bad_inputs_number_at_least_sixty() -> None:
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


class DownReplayStore:
    """A replay store that is unreachable: bad input must still get its 4xx, never a 5xx."""

    def seen(self, key: str, now: Any) -> bool:
        raise ReplayStoreUnavailableError("GetItem: EndpointConnectionError")

    def remember(self, key: str, now: Any, ttl_seconds: int) -> bool:
        raise ReplayStoreUnavailableError("PutItem: EndpointConnectionError")


@pytest.mark.parametrize("store", ["replay-store-up", "replay-store-down"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_ingress_bad_input_is_rejected_and_nothing_is_queued(stack: Stack, case: Case, store: str) -> None:
    # Given a bad request, and the replay store working or down
    if store == "replay-store-down":
        stack.replay = DownReplayStore()
    # When the real handler gets it
    status, answer = stack.invoke(case.build(stack.config))
    # Then it gets the stated 4xx, with the generic text when it is not authentic
    assert status == case.status, answer
    assert answer["ok"] is False
    if status == 401:
        assert answer == UNAUTHORIZED
    # And nothing reached the queue or the replay table
    assert stack.taken() == []
    assert stack.replay_records() == []
