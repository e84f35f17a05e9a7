"""Issue 21, items 3 and 18: `make deploy` as a first-time admin meets it. The credentials are checked
before anything slow or any question; GUIDED=1 asks the relay's few questions (stack name, who is told
of alarms) with working defaults and saves them in samconfig.toml, and SAM gets no --guided (whose
'no authentication' question stopped the deploy at its default); the pre-flight finds the secrets the
config names missing from Secrets Manager and says how to push them; the alarm settings are flags."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from relay.config.loader import load_config
from relay_devtools.cli import main
from relay_devtools.operations.deploy import parameter_overrides
from relay_devtools.operations.guided import current_answers
from relay_devtools.operations.setup_checks import deployed_secrets_checks
from tests.support.aws import create_plain_stack
from tests.support.constants import CAD_SECRET, ROOT


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    copy = tmp_path / "samconfig.toml"
    shutil.copy(ROOT / "samconfig.toml", copy)
    return copy


def deploy_args(samconfig: Path, tmp_path: Path, *extra: str) -> list[str]:
    built = tmp_path / "built"
    return [
        "deploy",
        "--config",
        str(ROOT / "relay.toml"),
        "--samconfig",
        str(samconfig),
        "--template",
        str(ROOT / "template.yaml"),
        "--sam",
        "echo sam",
        "--build",
        f"touch {shlex.quote(str(built))}",
        *extra,
    ]


def test_no_credentials_stops_the_deploy_before_the_build_and_any_question(
    samconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr("builtins.input", lambda _prompt: pytest.fail("a question before the credentials"))
    assert main(deploy_args(samconfig, tmp_path, "--guided")) == 1
    captured = capsys.readouterr()
    assert "FAIL  credentials: no AWS credentials" in captured.out
    assert "nothing was built or deployed" in captured.err
    assert not (tmp_path / "built").exists()


def test_guided_asks_the_relays_questions_saves_them_and_sam_asks_none(
    samconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["", "not-an-email", "admin@example.org", "relay/alerts/discord"])
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", answer)
    with mock_aws():
        code = main(deploy_args(samconfig, tmp_path, "--guided", "--no-preflight"))
    out = capfd.readouterr().out  # SAM (echo here) writes to the process's own stdout
    assert code == 0, out
    # Then three questions were asked (one twice, its answer refused), the defaults in brackets
    assert asked[0] == "Stack name [northca-relay]: "
    assert asked[1].endswith("[none]: ") and asked[2] == asked[1]
    assert "an address like admin@example.org" in out
    # and saved where make deploy reads them, the file's comments kept
    saved = samconfig.read_text()
    assert saved.startswith((ROOT / "samconfig.toml").read_text().splitlines()[0])
    assert (
        current_answers(samconfig, "default").alarm_email,
        current_answers(samconfig, "default").discord_secret,
    ) == (
        "admin@example.org",
        "relay/alerts/discord",
    )
    assert parameter_overrides(samconfig, "default")["Stage"] == "dev"
    # the build ran, and SAM deploys with the answers and without its own --guided
    assert (tmp_path / "built").exists()
    [sam] = [line for line in out.splitlines() if line.startswith("sam deploy")]
    assert "--guided" not in sam
    assert (
        'AlarmEmail="admin@example.org"' in sam and 'DiscordWebhookSecretName="relay/alerts/discord"' in sam
    )


def test_the_alarm_settings_and_sams_parameter_overrides_are_flags_make_deploy_passes(
    samconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = deploy_args(samconfig, tmp_path, "--dry-run", "--alarm-email", "ops@example.org")
    args += [
        "--parameter-overrides",
        "LogRetentionDays=90 ApiRequestsAlarmPerHour=500",
        "--parameter",
        "Stage=prod",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    rendered = shlex.split(
        shlex.split(out.splitlines()[-1])[
            shlex.split(out.splitlines()[-1]).index("--parameter-overrides") + 1
        ]
    )
    assert {
        "AlarmEmail=ops@example.org",
        "LogRetentionDays=90",
        "ApiRequestsAlarmPerHour=500",
        "Stage=prod",
    } <= set(rendered)


def test_the_preflight_finds_the_configs_secrets_missing_and_says_how_to_push_them() -> None:
    config = load_config(ROOT / "relay.toml")
    with mock_aws():
        client = boto3.client("secretsmanager")
        [first, *_others] = deployed_secrets_checks(config, client, "northca-relay")
        assert not first.ok and "missing from Secrets Manager" in first.detail
        assert "relay secrets push --secrets prod.secrets.toml --stack northca-relay" in first.detail
        # a demo value pushed by hand is not a secret either
        bundle = {"northca/partner-key": "demo-abc", "relay/sources/cad": CAD_SECRET}
        client.create_secret(Name="relay/sources/northca-relay", SecretString=json.dumps(bundle))
        demo = [c for c in deployed_secrets_checks(config, client, "northca-relay") if not c.ok]
        assert len(demo) == 1 and "demo value" in demo[0].detail
        bundle["northca/partner-key"] = "the-real-partner-key"
        client.put_secret_value(SecretId="relay/sources/northca-relay", SecretString=json.dumps(bundle))
        [ok] = deployed_secrets_checks(config, client, "northca-relay")
    assert ok.ok and ok.detail == "the 2 secrets the config names are in Secrets Manager"


# ------------------------------------------------------------------ 19. the deployed stack, tried and pasted


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    """A stack with the relay's outputs, the shipped config plus a url-token source, its secrets pushed."""
    config = tmp_path / "relay.toml"
    config.write_text(
        (ROOT / "relay.toml").read_text()
        + '\n[sources.snailycad]\nadapter = "snailycad"\nmdt_id = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"\n'
        'guild_id = "123456789012345678"\n'
        'signature = { scheme = "url-token", secret = "relay/sources/snailycad" }\n'
        'replay_protection = "none"\n'
    )
    return config


def test_relay_urls_lists_each_sources_url_and_a_token_only_when_asked(
    deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        aws = create_plain_stack("northca-relay")
        bundle = {
            "northca/partner-key": "k",
            "relay/sources/cad": CAD_SECRET,
            "relay/sources/snailycad": "tok3n-value",
        }
        aws["secretsmanager"].create_secret(
            Name="relay/sources/northca-relay", SecretString=json.dumps(bundle)
        )
        assert main(["--config", str(deployed), "urls", "--stack", "northca-relay"]) == 0
        hidden = capsys.readouterr().out
        assert main(["--config", str(deployed), "urls", "--stack", "northca-relay", "--show-tokens"]) == 0
        shown = capsys.readouterr().out
    base = "https://abc123.execute-api.us-east-1.amazonaws.com/hooks"
    assert f"{base}/cad " in hidden
    assert f"{base}/snailycad/<token: --show-tokens>" in hidden and "tok3n-value" not in hidden
    assert f"{base}/snailycad/tok3n-value" in shown


def test_sign_against_a_deployed_stack_signs_with_the_secret_in_secrets_manager(
    deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from relay.config.schema import StandardWebhooksSignature
    from relay.ingress.signatures import sign_standard_webhooks

    with mock_aws():
        aws = create_plain_stack("northca-relay")
        bundle = {"northca/partner-key": "k", "relay/sources/cad": CAD_SECRET}
        aws["secretsmanager"].create_secret(
            Name="relay/sources/northca-relay", SecretString=json.dumps(bundle)
        )
        assert main(["--config", str(deployed), "sign", "cad", "--stack", "northca-relay"]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[4] == "https://abc123.execute-api.us-east-1.amazonaws.com/hooks/cad"
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    body = words[words.index("--data-binary") + 1].encode()
    expected = sign_standard_webhooks(
        CAD_SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body
    )
    assert headers["webhook-signature"] == expected
    assert isinstance(load_config(deployed).sources["cad"].signature, StandardWebhooksSignature)


def test_the_alarms_discord_webhook_is_pushed_as_a_secret_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the README's secrets file with the alarms' Discord webhook too (docs/alarms.md)
    secrets = tmp_path / "prod.secrets.toml"
    hook = "https://discord.com/api/webhooks/1/abc"
    secrets.write_text(
        f'[secrets]\n"northca/partner-key" = "real"\n"relay/sources/cad" = "{CAD_SECRET}"\n'
        f'"relay/alerts/discord" = "{hook}"\n'
    )
    push = ["--config", str(ROOT / "relay.toml"), "secrets", "push", "--secrets", str(secrets)]
    push += ["--stack", "northca-relay", "--yes", "--discord-webhook-secret", "relay/alerts/discord"]
    with mock_aws():
        assert main(push) == 0
        client = boto3.client("secretsmanager")
        # Then it is its own secret (the notifier is granted that name alone), not a bundle entry
        assert client.get_secret_value(SecretId="relay/alerts/discord")["SecretString"] == hook
        bundle = json.loads(client.get_secret_value(SecretId="relay/sources/northca-relay")["SecretString"])
        assert "relay/alerts/discord" not in bundle
        # and a value that is not a Discord webhook URL is refused before anything is written
        secrets.write_text(secrets.read_text().replace(hook, "https://example.org/hook"))
        assert main(push) == 1
    assert "not a Discord webhook URL" in capsys.readouterr().out
