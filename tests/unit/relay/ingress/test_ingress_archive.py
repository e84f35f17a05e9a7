"""The ingress keeps what it accepted (and, opted in, what it refused) in the archive, and never lets
the archive decide an answer: a record not kept is logged and counted, the webhook answered as before."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from relay.config.schema import RelayConfig
from relay.errors import ArchiveUnavailableError, VerificationError
from relay.ingress.archive import secret_digest
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.memory import InMemoryArchive, StaticSecrets
from relay.messages import QueueMessage
from relay.ports.archive import ArchivedDelivery
from relay_devtools.webhooks.signing import sign
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.data import SECRETS, UNITS_BODY, scheme_config_data, secret_of

SONORAN_KEY = secret_of("sonoran")


class Queue:
    def __init__(self) -> None:
        self.sent: list[QueueMessage] = []

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        self.sent += messages
        return len(messages)


class BrokenArchive:
    def keep(self, delivery: ArchivedDelivery, days: int) -> None:
        raise ArchiveUnavailableError("PutItem: ThrottlingException")


def config(archive_body: bool = False, days: int = 7) -> RelayConfig:
    data = scheme_config_data()
    for source in data["sources"].values():
        source["archive_body"] = archive_body
    data["archive"] = {"days": days}
    return RelayConfig.model_validate(data)


def deps(cfg: RelayConfig, archive: Any = None) -> IngressDeps:
    secrets = StaticSecrets({**SECRETS, "relay/sources/cad": secret_of("cad")})
    return IngressDeps(config=cfg, secrets=secrets, publisher=Queue(), archive=archive)


def request(source: str, body: bytes = UNITS_BODY, secret: str | None = None, **extra: Any) -> InboundRequest:
    cfg = config()
    signed = sign(
        cfg.sources[source].signature, body, secret or secret_of(source), now=NOW, delivery_id="d-1"
    )
    return InboundRequest(
        source=source,
        headers={**signed.headers, **extra.pop("headers", {})},
        body=signed.body,
        received_at=NOW,
        token=signed.path_token,
        request_id="req-1",
    )


def sonoran_body(key: str) -> bytes:
    return json.dumps({"key": key, "units": [{"id": "ADAM-12", "status": "10-8"}]}).encode()


def test_archive_an_accepted_delivery_keeps_its_messages_as_queued_and_no_body() -> None:
    # Given an archive and a source that does not keep bodies
    archive = InMemoryArchive(FixedClock(NOW))
    ingress = deps(config(), archive)
    # When a delivery is accepted
    accepted = accept_webhook(request("cad"), ingress)
    # Then the archive holds the messages exactly as queued, named by the webhook id, no body
    [record] = archive.find("d-1")
    assert accepted.archive_error is None
    assert record.outcome == "accepted" and record.source == "cad" and record.received_at == NOW
    assert record.messages == tuple(m.body() for m in ingress.publisher.sent)  # type: ignore[attr-defined]
    assert record.body is None and record.headers == {}


def test_archive_a_kept_body_key_body_never_holds_the_key() -> None:
    # Given a body-key source that keeps bodies
    archive = InMemoryArchive(FixedClock(NOW))
    # When a delivery carrying the key in its body is accepted
    accept_webhook(request("sonoran", sonoran_body(SONORAN_KEY)), deps(config(archive_body=True), archive))
    # Then the body is kept without the key, and the key is nowhere in the record
    [record] = archive.window("sonoran", NOW, NOW)
    assert record.body is not None and json.loads(record.body) == {
        "units": [{"id": "ADAM-12", "status": "10-8"}]
    }
    assert SONORAN_KEY not in repr(record)


def test_archive_a_kept_body_has_the_sources_secret_written_out_wherever_it_appears() -> None:
    # Given a sender that echoes its own signing secret inside the body (it should not, but may)
    body = json.dumps({"units": [{"id": "ADAM-12", "status": "10-8", "officer_name": secret_of("typeform")}]})
    archive = InMemoryArchive(FixedClock(NOW))
    accept_webhook(request("typeform", body.encode()), deps(config(archive_body=True), archive))
    # Then the kept body holds *** in its place, and the signature headers beside it
    [record] = archive.window("typeform", NOW, NOW)
    assert record.body is not None and secret_of("typeform") not in record.body.decode()
    assert b"***" in record.body
    assert set(record.headers) == {"typeform-signature", "content-type"}


def test_archive_a_refused_body_key_delivery_keeps_a_digest_of_the_key_it_presented() -> None:
    # Given a body-key source that keeps bodies, and a sender presenting a key the relay does not hold
    archive = InMemoryArchive(FixedClock(NOW))
    wrong = "the-key-sonoran-has-now-0c1d"
    # When it is refused
    with pytest.raises(VerificationError):
        accept_webhook(
            request("sonoran", sonoran_body(wrong), wrong), deps(config(archive_body=True), archive)
        )
    # Then the refusal is kept: no id, its reason, its body without the key, and the key's digest only
    [record] = archive.window("sonoran", NOW, NOW)
    assert record.outcome == "refused" and record.webhook_id is None and record.request_id == "req-1"
    assert record.reason is not None and record.reason.startswith("mismatch")
    assert record.secret_digest == secret_digest(wrong)
    assert wrong not in repr(record)


def test_archive_a_refused_signed_delivery_keeps_the_exact_bytes_and_the_signature_headers() -> None:
    archive = InMemoryArchive(FixedClock(NOW))
    refused = request("github", secret="a secret the relay does not hold")
    with pytest.raises(VerificationError):
        accept_webhook(refused, deps(config(archive_body=True), archive))
    [record] = archive.window("github", NOW, NOW)
    assert record.body == refused.body
    assert record.headers == refused.headers  # the signature, its delivery id and the content type


def test_archive_a_refused_url_token_delivery_keeps_only_the_tokens_digest() -> None:
    archive = InMemoryArchive(FixedClock(NOW))
    refused = request("snaily", secret="not-the-token")
    with pytest.raises(VerificationError):
        accept_webhook(refused, deps(config(archive_body=True), archive))
    [record] = archive.window("snaily", NOW, NOW)
    assert record.secret_digest == secret_digest("not-the-token")
    assert "not-the-token" not in repr(record)


@pytest.mark.parametrize("archive_body", [False, True])
def test_archive_a_request_without_a_signature_is_never_kept(archive_body: bool) -> None:
    # Given a stranger's request with no signature at all
    archive = InMemoryArchive(FixedClock(NOW))
    stranger = request("cad", headers={"webhook-signature": ""})
    with pytest.raises(VerificationError):
        accept_webhook(stranger, deps(config(archive_body=archive_body), archive))
    # Then nothing of it is kept (a refusal is kept only for a source that keeps bodies, and a mismatch)
    assert archive.records == {}


def test_archive_an_archive_that_fails_changes_no_answer() -> None:
    # Given an archive that is down
    ingress = deps(config(), BrokenArchive())
    # When a delivery comes
    accepted = accept_webhook(request("cad"), ingress)
    # Then it is queued and accepted all the same, the reason kept for the log line
    assert accepted.messages == 1 and len(ingress.publisher.sent) == 1  # type: ignore[attr-defined]
    assert accepted.archive_error == "PutItem: ThrottlingException"


def test_archive_days_zero_keeps_nothing() -> None:
    archive = InMemoryArchive(FixedClock(NOW))
    accept_webhook(request("cad"), deps(config(days=0), archive))
    assert archive.records == {}
