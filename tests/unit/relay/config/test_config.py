from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from relay.config.loader import load_config, parse_config
from relay.errors import ConfigError
from tests.support.constants import ROOT
from tests.support.data import base_config_data
from tests.support.examples import uncommented_relay_toml


def test_config_the_shipped_relay_toml_is_valid() -> None:
    # Given the relay.toml in the repository / When loaded
    config = load_config(ROOT / "relay.toml")
    # Then it has the demo source and the partner key secret
    assert "cad" in config.sources
    assert config.northca.partner_key_secret == "northca/partner-key"


def test_config_the_function_package_ships_the_same_file() -> None:
    assert (ROOT / "functions" / "relay.toml").resolve() == (ROOT / "relay.toml").resolve()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["northca"].pop("partner_key_secret"), "northca.partner_key_secret: Field required"),
        (lambda d: d["northca"].update(base_url="not a url"), "northca.base_url"),
        (
            lambda d: d["sources"]["cad"].update(adapter="nope"),
            "sources.cad.adapter: expected one of 'discord', 'erlc-events'",
        ),
        (lambda d: d["sources"]["cad"].update(guild_id="abc"), "sources.cad.guild_id"),
        (lambda d: d["sources"]["cad"]["signature"].update(scheme="md5"), "sources.cad.signature"),
        (
            lambda d: d["sources"]["cad"].update(colour="red"),
            "sources.cad.colour: Extra inputs are not permitted",
        ),
        (lambda d: d["sources"]["cad"].update(options={"max_units": 0}), "sources.cad.options.max_units"),
        (lambda d: d["sources"].update({"Bad Name": d["sources"]["cad"]}), "source name 'Bad Name'"),
        (
            lambda d: d["sources"]["cad"]["signature"].pop("secret"),
            "sources.cad.signature.standard-webhooks.secret",
        ),
    ],
)
def test_config_errors_name_the_file_the_key_and_the_expectation(mutate, expected: str) -> None:
    # Given a config with one mistake
    data = base_config_data()
    mutate(data)
    # When it is validated / Then the error names the file and the key
    with pytest.raises(ConfigError) as caught:
        parse_config(data, origin="relay.toml")
    assert str(caught.value).startswith("relay.toml: ")
    assert expected in str(caught.value)


def test_config_a_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="a folder, not a config file"):
        load_config(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[northca]")
    with pytest.raises(ConfigError, match=r"binary.toml: not UTF-8 text"):
        load_config(binary)
    broken = tmp_path / "broken.toml"
    broken.write_text("[northca\n")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML"):
        load_config(broken)


def test_config_lists_every_secret_it_names(config) -> None:
    assert config.secret_names() == {"northca/partner-key", "relay/sources/cad"}


def test_config_warns_about_sources_a_replay_is_not_caught_for(config_data) -> None:
    # Given sources of every scheme, with and without a signed timestamp or a delivery_id_path
    signatures = {
        "signed-timestamp": {"scheme": "ed25519", "secret": "s"},
        "hmac-timestamp": {
            "scheme": "hmac-sha256",
            "secret": "s",
            "header": "X-S",
            "timestamp_header": "X-T",
        },
        "hmac-body-id": {"scheme": "hmac-sha256", "secret": "s", "header": "X-S"},
        "hmac-bare": {"scheme": "hmac-sha256", "secret": "s", "header": "X-S"},
        "hmac-header-id": {
            "scheme": "hmac-sha256",
            "secret": "s",
            "header": "X-S",
            "delivery_id_header": "X-D",
        },
        "token": {"scheme": "url-token", "secret": "s"},
    }
    cad = config_data["sources"]["cad"]
    for name, signature in signatures.items():
        config_data["sources"][name] = {**cad, "signature": signature}
    config_data["sources"]["hmac-body-id"]["delivery_id_path"] = "event_id"
    # When relay.toml is loaded / Then each source without protection gets one warning, and only those
    assert parse_config(config_data).replay_warnings() == [
        "sources.hmac-bare: hmac-sha256 signs no timestamp and no delivery_id_path is set: "
        "a captured delivery sent again is queued again (docs/security.md, Replay window); "
        'replay_protection = "none" acknowledges it',
        "sources.hmac-header-id: hmac-sha256 signs no timestamp and no delivery_id_path is set "
        "(its X-D header is not signed): a captured delivery sent again is queued again "
        '(docs/security.md, Replay window); replay_protection = "none" acknowledges it',
        "sources.token: url-token signs no timestamp and no delivery_id_path is set: "
        "a captured delivery sent again is queued again (docs/security.md, Replay window); "
        'replay_protection = "none" acknowledges it',
    ]
    # And a source whose operator acknowledged it is not warned about again
    config_data["sources"]["token"]["replay_protection"] = "none"
    assert [w.split(":")[0] for w in parse_config(config_data).replay_warnings()] == [
        "sources.hmac-bare",
        "sources.hmac-header-id",
    ]


def test_config_the_shipped_examples_name_a_delivery_id_wherever_the_sender_gives_one() -> None:
    # Typeform (event_id), Tally (eventId) and the Google Forms script (response_id) sign no timestamp:
    # their examples in relay.toml set delivery_id_path, so none of them is warned about
    warned = {
        w.split(":")[0] for w in parse_config(tomllib.loads(uncommented_relay_toml())).replay_warnings()
    }
    assert warned.isdisjoint({"sources.typeform", "sources.tally", "sources.google-forms"})
