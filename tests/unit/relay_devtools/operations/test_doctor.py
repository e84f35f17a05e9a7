"""relay doctor's offline and secret checks: the rules a deploy or the first request would trip on."""

from __future__ import annotations

import json
from typing import Any

from relay.config.loader import parse_config
from relay.config.schema import RelayConfig
from relay.models import UNIT_FIELDS
from relay.northca.client import NorthcaClient
from relay_devtools.operations.doctor import (
    id_checks,
    load,
    offline_checks,
    passed,
    secret_checks,
    secret_name_checks,
    signature_checks,
    template_names,
)
from relay_devtools.operations.partner_checks import partner_checks
from tests.support.constants import CAD_SECRET, GUILD, MDT, ROOT
from tests.support.data import SENDER_PUBLIC_SPKI, base_config_data
from tests.support.partner_http import listing

NAMES = {"PartnerKeySecretName": "relay/sources/northca-relay", "SourceSecretsPrefix": "relay/sources/"}
NAMES |= {"ErlcServerKeySecretPrefix": "relay/erlc/"}


def with_source(name: str, **source: Any) -> RelayConfig:
    data = base_config_data()
    data["sources"][name] = {"mdt_id": MDT, "guild_id": GUILD} | source
    return parse_config(data)


def failures(checks: list[Any]) -> list[str]:
    return [check.detail for check in checks if not check.ok]


def test_doctor_the_shipped_config_passes_every_offline_check() -> None:
    config, loaded = load(ROOT / "relay.toml")
    assert loaded.ok and config is not None
    checks = offline_checks(config, template_names(ROOT / "template.yaml"))
    assert passed(checks), [c.line() for c in checks]


def test_doctor_reads_the_secret_prefixes_from_the_template() -> None:
    assert template_names(ROOT / "template.yaml") == NAMES


def test_doctor_an_unknown_adapter_fails_with_the_nearest_name(tmp_path) -> None:
    # Given `adapter = "typefrom"`, which builds today and fails on the first request
    path = tmp_path / "relay.toml"
    path.write_text((ROOT / "relay.toml").read_text().replace('adapter = "units"', 'adapter = "typefrom"'))
    config, loaded = load(path)
    assert config is None and not loaded.ok
    assert loaded.detail.endswith("did you mean 'typeform'?")


def test_doctor_a_secret_outside_the_prefix_the_template_grants_fails() -> None:
    config = with_source("board", adapter="units", signature={"scheme": "url-token", "secret": "board-token"})
    [failure] = failures(secret_name_checks(config, NAMES))
    assert failure.startswith("sources.board.signature.secret = 'board-token' is not under 'relay/sources/'")
    assert failure.endswith("name it relay/sources/board-token")


def test_doctor_an_erlc_key_outside_its_prefix_fails() -> None:
    data = base_config_data()
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "relay/sources/main", "mdt_id": MDT, "guild_id": GUILD}}
    }
    [failure] = failures(secret_name_checks(parse_config(data), NAMES))
    assert "erlc.servers.main.server_key_secret = 'relay/sources/main' is not under 'relay/erlc/'" in failure


def test_doctor_a_stack_granting_another_partner_key_name_fails() -> None:
    config = parse_config(base_config_data())
    checks = secret_name_checks(config, NAMES | {"PartnerKeySecretName": "other/key"}, stack=True)
    [failure] = failures(checks)
    assert "the stack grants PartnerKeySecretName='other/key'" in failure


def test_doctor_a_signature_unlike_the_senders_fails() -> None:
    signature = {"scheme": "hmac-sha256", "secret": "relay/sources/typeform", "header": "X-Signature"}
    config = with_source("typeform", adapter="typeform", signature=signature)
    [failure] = failures(signature_checks(config))
    assert failure == (
        "sources.typeform: typeform signs with header = 'typeform-signature', prefix = 'sha256=', "
        "encoding = 'base64' (docs/sources/)"
    )


def test_doctor_a_tally_source_without_its_replay_key_fails_and_says_which() -> None:
    signature = {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/tally",
        "header": "Tally-Signature",
        "encoding": "base64",
    }
    config = with_source("tally", adapter="tally", signature=signature)
    [failure] = failures(signature_checks(config))
    assert failure == "sources.tally: no replay key; set delivery_id_path = 'eventId' (docs/security.md)"
    fixed = with_source("tally", adapter="tally", signature=signature, delivery_id_path="eventId")
    assert passed(signature_checks(fixed))


def test_doctor_a_sender_without_timestamp_or_id_is_a_warning_not_a_failure() -> None:
    config = with_source(
        "snailycad", adapter="snailycad", signature={"scheme": "url-token", "secret": "relay/sources/s"}
    )
    [replay] = [c for c in signature_checks(config) if c.name == "replay key" and "snailycad" in c.detail]
    assert (replay.ok, replay.warning) == (True, True)


def test_doctor_mdt_ids() -> None:
    bad = with_source(
        "x", adapter="units", signature={"scheme": "url-token", "secret": "relay/sources/x"}, mdt_id="a/b"
    )
    assert failures(id_checks(bad)) == ["sources.x.mdt_id 'a/b' cannot be part of a URL path"]
    odd = with_source(
        "x", adapter="units", signature={"scheme": "url-token", "secret": "relay/sources/x"}, mdt_id="mdt-1"
    )
    assert [c.warning for c in id_checks(odd)] == [False, True]


def erlc_config() -> RelayConfig:
    data = base_config_data()
    data["sources"]["erlc"] = {
        "adapter": "erlc-events",
        "mdt_id": MDT,
        "guild_id": GUILD,
        "signature": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
        "options": {"server": "main"},
    }
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "relay/erlc/main", "mdt_id": MDT, "guild_id": GUILD}}
    }
    return parse_config(data)


def test_doctor_secrets_present_and_usable_for_their_scheme() -> None:
    values = {
        "northca/partner-key": "key",
        "relay/sources/cad": json.dumps(["whsec_short", CAD_SECRET]),
        "relay/sources/erlc": SENDER_PUBLIC_SPKI,
        "relay/erlc/main": "server-key",
    }
    checks = secret_checks(erlc_config(), values.get, "relay.secrets.toml")
    assert passed(checks), [c.line() for c in checks]
    assert "present and usable, 2 values (rotating)" in checks[1].detail


def test_doctor_a_missing_or_unusable_secret_fails_without_printing_it() -> None:
    values = {
        "northca/partner-key": "key",
        "relay/sources/cad": "whsec_c2hvcnQ=",
        "relay/sources/erlc": "not-a-key",
    }
    checks = secret_checks(erlc_config(), values.get, "Secrets Manager")
    assert failures(checks) == [
        "'relay/sources/cad' (sources.cad (standard-webhooks)): present but unusable: "
        "no usable secret (standard-webhooks secret shorter than 24 bytes)",
        "'relay/sources/erlc' (sources.erlc (ed25519)): present but unusable: "
        "no usable secret (ed25519 public key not readable (Error))",
        "'relay/erlc/main' (erlc.servers.main): missing from Secrets Manager",
    ]
    assert all("not-a-key" not in check.line() for check in checks)


def test_doctor_warns_about_a_status_a_source_sets_and_an_allow_list_refuses() -> None:
    data = base_config_data()
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "relay/erlc/main", "mdt_id": MDT, "guild_id": GUILD}}
    }
    data["sources"]["erlc"] = {
        "adapter": "erlc-events",
        "mdt_id": MDT,
        "guild_id": GUILD,
        "signature": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
        "options": {"server": "main", "allowed_statuses": ["10-6", "10-8"]},
    }
    checks = [c for c in offline_checks(parse_config(data), {}) if c.name == "statuses"]
    assert checks and all(c.ok and c.warning for c in checks)
    assert "refuses '10-7', which erlc.servers.main can set" in checks[0].detail


# ------------------------------------------------------------------ the partner's answers


def partner_config() -> RelayConfig:
    return parse_config(base_config_data())


def test_doctor_a_list_of_units_the_relay_cannot_read_fails_and_says_what_the_consumer_does() -> None:
    # Given a partner whose list answer holds a unit with a numeric id
    pool = listing([{"id": 5, "status": "10-8"}])
    client = NorthcaClient("http://partner.invalid/v1", "pk_live_0123456789", pool=pool)  # type: ignore[arg-type]
    # When the doctor checks the partner
    [check] = partner_checks(partner_config(), client, "http://partner.invalid/v1")
    # Then the check fails, says what cannot be read and what the consumer does about it
    assert not check.ok
    assert "entry 0: id is not a string (int)" in check.detail
    assert "the consumer writes nothing to this MDT" in check.detail


def test_doctor_a_readable_list_of_units_passes_and_says_so() -> None:
    unit = {"id": "ADAM-12", **dict.fromkeys(UNIT_FIELDS, ""), "updated_at": None}
    client = NorthcaClient("http://partner.invalid/v1", "pk_live_0123456789", pool=listing([unit]))  # type: ignore[arg-type]
    [check] = partner_checks(partner_config(), client, "http://partner.invalid/v1")
    assert check.ok, check.detail
    assert "1 units, every one readable" in check.detail
