"""Standard Webhooks: the reference suites' cases (Standard Webhooks' and Svix's), on the pure verifier."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from relay.config.schema import StandardWebhooksSignature
from relay.errors import UnusableSecretError, VerificationError
from relay.ingress.keys import decode_whsec
from relay.ingress.signatures import SignedRequest, sign_standard_webhooks, verify_signature

CONFIG = StandardWebhooksSignature(scheme="standard-webhooks", secret="relay/sources/cad")
# The published known-answer vector of the Standard Webhooks reference libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
AT_SIGNING = datetime.fromtimestamp(TIMESTAMP, UTC)
OTHER_SECRET = "whsec_" + base64.b64encode(b"another source's key, 32 bytes!!").decode()


def request(body: bytes = BODY, now: datetime = AT_SIGNING, **headers: str) -> SignedRequest:
    base = {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP), "webhook-signature": SIGNATURE}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return SignedRequest(body=body, headers={k: v for k, v in base.items() if v is not None}, now=now)


def rejected(req: SignedRequest, secrets: list[str] | None = None) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_signature(CONFIG, req, secrets or [SECRET])
    return caught.value


def test_standard_webhooks_known_answer_vector() -> None:
    # Given the reference libraries' vector / When signed and verified / Then both match it
    assert sign_standard_webhooks(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    assert verify_signature(CONFIG, request(), [SECRET]).delivery_id == MSG_ID


@pytest.mark.parametrize(
    "body",
    [
        BODY + b" ",
        BODY[:-1],
        BODY + b"------",
        b'{"test":2432232314}',  # re-serialised: same JSON, other bytes
        BODY.replace(b"2", b"3", 1),
        b"",
    ],
)
def test_standard_webhooks_rejects_a_tampered_body(body: bytes) -> None:
    assert rejected(request(body=body)).kind == "mismatch"


def test_standard_webhooks_rejects_a_changed_id() -> None:
    assert rejected(request(webhook_id=MSG_ID + "x")).kind == "mismatch"


def test_standard_webhooks_rejects_a_wrong_or_foreign_secret() -> None:
    assert rejected(request(), [OTHER_SECRET]).kind == "mismatch"


@pytest.mark.parametrize("missing", ["webhook_id", "webhook_timestamp", "webhook_signature"])
def test_standard_webhooks_rejects_a_missing_header(missing: str) -> None:
    assert rejected(request(**{missing: None})).kind == "missing"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "timestamp",
    ["hello", "", " ", "nan", "1e300", "-1614265330", "1614265330.5", "01614265330", "1614265330,1614265330"],
)
def test_standard_webhooks_rejects_a_timestamp_that_is_not_canonical_seconds(timestamp: str) -> None:
    # The lib accepts floats; we sign the header's text, so only one spelling is accepted. (Surrounding
    # spaces are not part of an HTTP header value, so " 1614265330 " is the same header and accepted.)
    assert rejected(request(webhook_timestamp=timestamp)).kind in {"malformed", "missing"}


def test_standard_webhooks_timestamp_boundaries_both_sides() -> None:
    # Given a request signed at TIMESTAMP and a 300 s tolerance
    # Then it is accepted up to 300 s either side, and refused one second beyond
    for offset in (-300, 300, -299, 299):
        assert verify_signature(CONFIG, request(now=AT_SIGNING + timedelta(seconds=offset)), [SECRET])
    assert rejected(request(now=AT_SIGNING + timedelta(seconds=301))).kind == "timestamp"
    assert rejected(request(now=AT_SIGNING - timedelta(seconds=301))).kind == "timestamp"


def test_standard_webhooks_tolerance_is_configurable() -> None:
    tight = StandardWebhooksSignature(scheme="standard-webhooks", secret="s", tolerance_seconds=10)
    with pytest.raises(VerificationError):
        verify_signature(tight, request(now=AT_SIGNING + timedelta(seconds=11)), [SECRET])
    assert verify_signature(tight, request(now=AT_SIGNING + timedelta(seconds=10)), [SECRET])


def test_standard_webhooks_rejects_a_valid_format_signature_with_one_character_changed() -> None:
    forged = SIGNATURE[:10] + ("B" if SIGNATURE[10] != "B" else "C") + SIGNATURE[11:]
    assert rejected(request(webhook_signature=forged)).kind == "mismatch"


def test_standard_webhooks_a_non_canonical_last_character_is_not_another_spelling() -> None:
    # "E" -> "F" flips only a spare bit: the bytes are the same, but only the canonical text is accepted
    assert SIGNATURE[-2] == "E"
    assert rejected(request(webhook_signature=SIGNATURE[:-2] + "F=")).kind == "malformed"


@pytest.mark.parametrize(
    "header",
    [SIGNATURE[:8], "v1,", "v1", "v1,!!!!", ",", "v1,g0hM9", "x" * 4000, "v1a,abc", "v2," + SIGNATURE[3:]],
)
def test_standard_webhooks_partial_and_garbage_signatures_are_rejected_cleanly(header: str) -> None:
    assert rejected(request(webhook_signature=header)).kind == "malformed"


def test_standard_webhooks_a_huge_signature_header_is_refused() -> None:
    assert rejected(request(webhook_signature=SIGNATURE + " " + "v1,AAAA" * 1000)).kind == "malformed"


@pytest.mark.parametrize(
    "header",
    [
        f"{SIGNATURE} v1,AAAA v1a,abc v2,xyz",
        f"v1a,abc v2,xyz {SIGNATURE} v1,AAAA",
        f"v1,AAAA v2,xyz v1a,abc {SIGNATURE}",
        f"v1,AAAA  {SIGNATURE}",  # double space
        f"v1,{base64.b64encode(b'x' * 32).decode()},{SIGNATURE}",  # two headers joined by API Gateway
    ],
)
def test_standard_webhooks_accepts_the_valid_signature_anywhere_in_a_list(header: str) -> None:
    assert verify_signature(CONFIG, request(webhook_signature=header), [SECRET]).delivery_id == MSG_ID


def test_standard_webhooks_two_joined_forged_headers_are_rejected() -> None:
    forged = base64.b64encode(b"f" * 32).decode()
    assert rejected(request(webhook_signature=f"v1,{forged},v1,{forged}")).kind == "mismatch"


def test_standard_webhooks_header_names_in_any_case_are_read_once_lower_cased() -> None:
    # The handler lower-cases names; the verifier reads lower-case names only.
    upper = {"WEBHOOK-ID": MSG_ID, "Webhook-Timestamp": str(TIMESTAMP), "webhook-SIGNATURE": SIGNATURE}
    lowered = {k.lower(): v for k, v in upper.items()}
    assert verify_signature(CONFIG, SignedRequest(BODY, lowered, AT_SIGNING), [SECRET])


@pytest.mark.parametrize("secret", [SECRET, SECRET.removeprefix("whsec_")])
def test_standard_webhooks_secret_prefix_is_optional(secret: str) -> None:
    assert verify_signature(CONFIG, request(), [secret])


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_standard_webhooks_secret_padding_is_optional(padding: int) -> None:
    # Given keys whose base64 needs 0, 1 or 2 padding characters, written without them
    key = b"k" * (24 + padding)
    encoded = base64.b64encode(key).decode()
    secret = "whsec_" + encoded.rstrip("=")
    assert decode_whsec(secret) == key
    signature = sign_standard_webhooks(encoded, MSG_ID, TIMESTAMP, BODY)
    assert verify_signature(CONFIG, request(webhook_signature=signature), [secret])


@pytest.mark.parametrize(
    "secret", ["", "whsec_", "   ", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_standard_webhooks_unusable_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        decode_whsec(secret)
    # A source with nothing usable is the operator's mistake: 503 so the sender retries, not a 401.
    with pytest.raises(UnusableSecretError):
        verify_signature(CONFIG, request(), [secret])


def test_standard_webhooks_an_unusable_secret_beside_a_good_one_is_skipped() -> None:
    assert verify_signature(CONFIG, request(), ["whsec_", SECRET])


def test_standard_webhooks_rotation_old_and_new_secrets() -> None:
    # Given a receiver holding [new, old] / When the sender signs with old / Then it is accepted
    new = OTHER_SECRET
    assert verify_signature(CONFIG, request(), [new, SECRET])
    # And a sender signing with both, received by a receiver holding only new, is accepted too
    both = f"{SIGNATURE} {sign_standard_webhooks(new, MSG_ID, TIMESTAMP, BODY)}"
    assert verify_signature(CONFIG, request(webhook_signature=both), [new])
    # But after the grace period (receiver holds only new) the old-only signature is refused
    assert rejected(request(), [new]).kind == "mismatch"


def test_standard_webhooks_an_id_with_a_lone_surrogate_is_malformed_not_a_crash() -> None:
    # Only a hand-made Lambda event can carry one; it must be a 401 like any other bad header
    assert rejected(request(webhook_id="msg_\udc80")).kind == "malformed"


def svix(**headers: str | None) -> dict[str, str]:
    """The vector's headers as Svix names them (its default, unless an account is white-labelled)."""
    base: dict[str, str | None] = {
        "svix-id": MSG_ID,
        "svix-timestamp": str(TIMESTAMP),
        "svix-signature": SIGNATURE,
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return {k: v for k, v in base.items() if v is not None}


def test_standard_webhooks_accepts_svix_header_names() -> None:
    # Given Svix's default headers over the same signed message / Then the request is verified by its id
    verified = verify_signature(CONFIG, SignedRequest(BODY, svix(), AT_SIGNING), [SECRET])
    assert verified.delivery_id == MSG_ID


def test_standard_webhooks_svix_headers_get_the_same_checks() -> None:
    for headers, kind in [
        (svix(svix_id=MSG_ID + "x"), "mismatch"),
        (svix(svix_timestamp=str(TIMESTAMP + 301)), "timestamp"),
        (svix(svix_signature=None), "missing"),
    ]:
        assert rejected(SignedRequest(BODY, headers, AT_SIGNING)).kind == kind


def test_standard_webhooks_prefers_webhook_headers_and_never_mixes_the_families() -> None:
    # Given a webhook-id beside svix-* headers: the webhook-* family is used, so its other two are missing
    mixed = svix() | {"webhook-id": MSG_ID}
    assert rejected(SignedRequest(BODY, mixed, AT_SIGNING)).kind == "missing"
    # Given both full families, the webhook-* one forged: the valid svix-* signature does not rescue it
    forged = base64.b64encode(b"f" * 32).decode()
    both = svix() | {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": f"v1,{forged}",
    }
    assert rejected(SignedRequest(BODY, both, AT_SIGNING)).kind == "mismatch"
