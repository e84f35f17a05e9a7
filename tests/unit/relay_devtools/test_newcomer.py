"""Issue 21, a new user's frictions, each kept fixed (the ones a unit can show; relay local's are in
tests/e2e/test_newcomer_local.py): secrets files never committed, both region variables heard, the
running stack found, a typo in `options` and a pasted secret value answered with what to do, relay
sign's failures named, relay map's missing roster said, doctor from another folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from relay_devtools.cli import main
from relay_devtools.files.config_hints import explain
from relay_devtools.files.secrets_file import looks_like_a_value
from relay_devtools.local import state
from relay_devtools.local.terminal import render
from relay_devtools.operations.setup_checks import secret_value_checks, secrets_file_checks
from relay_devtools.options import honour_aws_region, region_of_url
from tests.support.constants import CAD_SECRET, EVENTS, ROOT
from tests.support.data import base_config_data

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="no git on this machine")


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


# ------------------------------------------------------------------ 1. secrets files stay out of git


@needs_git
@pytest.mark.parametrize("name", ["prod.secrets.toml", "relay.secrets.toml", "community.secrets.toml"])
def test_every_secrets_file_the_docs_name_is_git_ignored(name: str) -> None:
    answer = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT, check=False, capture_output=True
    )
    assert answer.returncode == 0, f"{name} is not git-ignored"


@needs_git
def test_doctor_warns_of_a_tracked_secrets_file_and_of_one_git_add_would_commit(tmp_path: Path) -> None:
    # Given a repository where prod.secrets.toml was committed before it was ignored
    git(tmp_path, "init", "-q")
    (tmp_path / "prod.secrets.toml").write_text('[secrets]\n"northca/partner-key" = "real"\n')
    git(tmp_path, "add", "prod.secrets.toml")
    git(tmp_path, "commit", "-q", "-m", "oops")
    # and a secrets file under a name no rule ignores
    loose = tmp_path / "keys.toml"
    loose.write_text("[secrets]\n")
    # When doctor looks at the folder and that file
    checks = secrets_file_checks(tmp_path, loose)
    # Then both are warned of, with what to do
    details = [c.detail for c in checks]
    assert all(c.ok and c.warning for c in checks)
    assert any(
        d.startswith("prod.secrets.toml is tracked by git") and "git rm --cached" in d for d in details
    )
    assert any(d.startswith(f"{loose} is not git-ignored") for d in details)


def test_doctor_outside_a_git_work_tree_checks_no_files(tmp_path: Path) -> None:
    assert secrets_file_checks(tmp_path, None) == []


# ------------------------------------------------------------------ 2. the region, however it is given


def test_aws_region_counts_as_aws_default_region_and_never_overrides_it() -> None:
    environ = {"AWS_REGION": "eu-west-1"}
    assert honour_aws_region(environ) is True
    assert environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"}
    assert honour_aws_region(both) is False and both["AWS_DEFAULT_REGION"] == "us-east-2"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/northca-relay-dlq", "eu-west-1"),
        ("https://sqs.ap-southeast-2.amazonaws.com/1/q", "ap-southeast-2"),
        ("https://us-gov-west-1.queue.amazonaws.com/1/q", "us-gov-west-1"),
        ("http://127.0.0.1:5000/123456789012/dlq", None),
        ("https://sqs.eu-west-1.amazonaws.com.evil.example/1/q", None),
    ],
)
def test_the_region_a_queue_url_names(url: str, region: str | None) -> None:
    assert region_of_url(url) == region


def test_deliveries_with_only_aws_region_set_reaches_aws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given AWS_REGION, as the hint says, and no AWS_DEFAULT_REGION
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with mock_aws():
        # When relay deliveries asks for a stack that does not exist
        code = main(["deliveries", "--stack", "nosuch"])
    # Then CloudFormation answered (in eu-west-1), instead of "no AWS region"
    err = capsys.readouterr().err
    assert code == 1
    assert "nosuch" in err and "does not exist" in err and "region" not in err
    # and the environment is as it was
    assert "AWS_DEFAULT_REGION" not in os.environ


def test_deliveries_without_a_region_says_what_to_set_not_botocores_words(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    assert main(["deliveries", "--stack", "northca-relay"]) == 1
    err = capsys.readouterr().err
    assert "no AWS region: set AWS_REGION" in err
    assert "You must specify a region" not in err


def test_redrive_list_takes_the_region_from_the_dlq_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    with mock_aws():
        # Given a DLQ in eu-west-1 with a dead letter, and no region configured
        sqs = boto3.client("sqs", region_name="eu-west-1")
        dlq = sqs.create_queue(QueueName="northca-relay-dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"webhook_id": "w-1", "source": "cad"}))
        # When the operator lists it by its URL alone
        code = main(["redrive", "--list", "--dlq-url", dlq])
    # Then the queue's own region is used
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 messages in the DLQ" in out


# ------------------------------------------------------------------ 9. doctor: the offline checks always run


def test_doctor_with_a_stack_and_no_credentials_still_runs_the_offline_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # one an earlier test made holds credentials
    code = main(["doctor", "--config", str(ROOT / "relay.toml"), "--stack", "northca-relay"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  stack: northca-relay: no AWS credentials" in out
    for check in ("ok    config:", "ok    signature: sources.cad", "ok    replay key:", "ok    ids:"):
        assert check in out
    # and Secrets Manager is not asked once per secret without credentials
    assert out.count("no AWS credentials") == 2


# ------------------------------------------------------------------ 11. the running stack is found


@pytest.fixture
def running_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A state file as a `relay local` on other ports and files writes it (this process stands in for it)."""
    config = tmp_path / "community.toml"
    config.write_text((ROOT / "relay.toml").read_text())
    secrets = tmp_path / "community.secrets.toml"
    secrets.write_text(
        f'[secrets]\n"northca/partner-key" = "k"\n"relay/sources/cad" = "{CAD_SECRET}"\n', encoding="utf-8"
    )
    found = {
        "pid": os.getpid(),
        "ingress": "http://127.0.0.1:3100/hooks",
        "northca": "http://127.0.0.1:4110/v1",
        "config": str(config),
        "secrets": str(secrets),
    }
    path = tmp_path / "relay-local.json"
    path.write_text(json.dumps(found))
    monkeypatch.setattr(state, "DEFAULT_STATE_FILE", path)
    return found


def test_sign_signs_for_the_running_stack_with_its_files_and_port(
    running_local: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # When `relay sign cad` is typed with no flags beside a stack started on port 3100 with other files
    assert main(["sign", "cad"]) == 0
    # Then the request goes to that stack
    assert "http://127.0.0.1:3100/hooks/cad" in capsys.readouterr().out


def test_urls_lists_the_running_stacks_webhook_urls(
    running_local: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["urls"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:3100/hooks/cad" in out
    assert "relay urls: 1 sources of" in out and "at the relay local running here" in out


def test_a_state_file_left_by_a_dead_stack_is_ignored(running_local: dict[str, str]) -> None:
    # Given the file of a relay local killed outright (its process gone, the file left)
    finished = subprocess.Popen(["true"])
    finished.wait()
    path = state.DEFAULT_STATE_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | {"pid": finished.pid}))
    # Then no command takes it for a running stack
    assert state.running_local_state() is None


def test_make_run_passes_its_args_to_relay_local() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "UV_PYTHON")}
    result = subprocess.run(
        ["make", "-n", "run", "ARGS=--port 3100 --emulator-port 4110"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(
        "relay local --config relay.toml --secrets relay.secrets.toml --port 3100 --emulator-port 4110"
    )


# ------------------------------------------------------------------ 12. a typo inside options


def test_a_typo_inside_a_sources_options_gets_the_adapters_keys_and_the_nearest(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        (ROOT / "relay.toml").read_text()
        + '\n[sources.typeform]\nadapter = "typeform"\nmdt_id = "m"\nguild_id = "123456789012345678"\n'
        'signature = { scheme = "hmac-sha256", secret = "relay/sources/typeform",'
        ' header = "Typeform-Signature" }\n'
        'options = { lables = { id = "Callsign" } }\n'
    )
    code = main(["doctor", "--config", str(path), "--offline"])
    assert code == 1
    text = explain(f"{path}: sources.typeform.options.lables: Extra inputs are not permitted")
    assert "allowed in sources.typeform.options: constants, defaults, labels" in text
    assert text.endswith("did you mean 'sources.typeform.options.labels'?")


# ------------------------------------------------------------------ 13. a value where a name goes


@pytest.mark.parametrize(
    "text",
    [
        "tf_9f8a7b6c5d4e3f2a1b0c",
        CAD_SECRET,
        "https://discord.com/api/webhooks/1/abc",
        "9f8a7b6c5d4e3f2a1b0c9d8e",
    ],
)
def test_a_pasted_secret_value_is_told_apart_from_a_name(text: str) -> None:
    assert looks_like_a_value(text)


@pytest.mark.parametrize(
    "text", ["relay/sources/typeform", "board-token", "relay-bot-2024-token-v2", "northca/partner-key"]
)
def test_names_people_give_are_names(text: str) -> None:
    assert not looks_like_a_value(text)


def test_doctor_says_where_a_pasted_value_goes_instead_of_renaming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from relay.config.loader import parse_config

    data = base_config_data()
    data["sources"]["typeform"] = {
        "adapter": "typeform",
        "mdt_id": "m",
        "guild_id": "123456789012345678",
        "signature": {
            "scheme": "hmac-sha256",
            "secret": "tf_9f8a7b6c5d4e3f2a1b0c",
            "header": "Typeform-Signature",
        },
    }
    [check] = secret_value_checks(parse_config(data))
    assert not check.ok
    assert check.detail.startswith("sources.typeform.signature.secret looks like a secret value, not a name")
    assert "under the name 'relay/sources/typeform'" in check.detail and "relay secrets push" in check.detail
    assert "tf_9f8a" not in check.detail  # the value is never repeated


# ------------------------------------------------------------------ 16. relay sign's failures named


def test_sign_with_a_secret_its_scheme_cannot_use_names_the_secret_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "relay.secrets.toml"
    secrets.write_text('[secrets]\n"northca/partner-key" = "k"\n"relay/sources/cad" = "whsec_not base64!"\n')
    with pytest.raises(SystemExit) as raised:
        main(["--config", str(ROOT / "relay.toml"), "--secrets", str(secrets), "sign", "cad"])
    said = str(raised.value.code)
    assert said.startswith(f"relay sign: secret 'relay/sources/cad' in {secrets} cannot sign for cad")
    assert said.endswith("standard-webhooks secret is not base64")


def test_sign_board_sends_the_documented_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(
        (ROOT / "relay.toml").read_text()
        + '\n[sources.board]\nadapter = "mapping"\nmdt_id = "m"\nguild_id = "123456789012345678"\n'
        'signature = { scheme = "hmac-sha256", secret = "relay/sources/board", header = "X-Signature",'
        ' prefix = "sha256=" }\n'
        '[sources.board.options]\nunits = "data.units"\nfields = { id = "callsign" }\n'
    )
    secrets = tmp_path / "relay.secrets.toml"
    secrets.write_text('[secrets]\n"northca/partner-key" = "k"\n"relay/sources/board" = "board-secret"\n')
    assert main(["--config", str(config), "--secrets", str(secrets), "sign", "board", "--keep-times"]) == 0
    captured = capsys.readouterr()
    assert "body from events/mapping_board.json (its event times as the file has them)" in captured.err
    assert json.loads((EVENTS / "mapping_board.json").read_text()) == json.loads(
        captured.out.split("--data-binary ", 1)[1].strip().strip("'")
    )


# ------------------------------------------------------------------ 17. map, the terminal, doctor elsewhere


def test_map_of_an_erlc_command_without_a_roster_says_which_flag_gives_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(
        (ROOT / "relay.toml").read_text()
        + '\n[sources.erlc]\nadapter = "erlc-events"\nmdt_id = "m"\nguild_id = "123456789012345678"\n'
        'signature = { scheme = "ed25519", secret = "relay/sources/erlc" }\noptions = { server = "main" }\n'
        '[erlc.servers.main]\nserver_key_secret = "relay/erlc/main"\nmdt_id = "m"\n'
        'guild_id = "123456789012345678"\n'
    )
    assert main(["--config", str(config), "map", "erlc", str(EVENTS / "erlc_event_command.json")]) == 0
    captured = capsys.readouterr()
    # Then stdout is the JSON alone, and stderr says why nothing came out and what to add
    assert json.loads(captured.out)["messages"] == []
    assert "--roster main=events/erlc_v2_server.json" in captured.err
    assert "player not on the roster yet, command held" in captured.err
    assert '{"level"' not in captured.err + captured.out


def test_the_terminal_shows_one_line_per_answer_and_per_unit() -> None:
    accepted = {
        "level": "INFO",
        "message": "webhook accepted",
        "timestamp": "2026-12-06 22:27:26,100+0000",
        "source": "cad",
        "status": 202,
        "changes": 1,
        "units": ["ADAM-12"],
        "webhook_id": "msg_1",
    }
    assert render(accepted) == ["22:27:26  cad  202 accepted  1 change: ADAM-12  msg_1"]
    outcomes = {
        "level": "INFO",
        "message": "unit outcomes",
        "timestamp": "2026-12-06 22:27:29,100+0000",
        "units": [
            {"unit_id": "ADAM-12", "sources": ["cad"], "outcome": "written", "written": {"status": "10-8"}},
            {
                "unit_id": "B-1",
                "sources": ["cad"],
                "outcome": "given back",
                "detail": "the partner refuses \x1b[2J",
            },
        ],
    }
    assert render(outcomes) == [
        "22:27:29  cad  ADAM-12: written status='10-8'",
        "22:27:29  cad  B-1: given back (the partner refuses \\x1b[2J)",
    ]
    quiet = {
        "level": "INFO",
        "message": "roster poll",
        "timestamp": "2026-12-06 22:27:29,100+0000",
        "result": "ok",
    }
    assert render(quiet) == []


def test_doctor_from_another_folder_finds_the_checkouts_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", "--config", str(ROOT / "relay.toml"), "--offline"]) == 0
    assert "relay doctor: " in capsys.readouterr().out


# ------------------------------------------------------------------ interop: relay local's API Gateway event


def test_relay_locals_event_takes_cookies_out_of_the_headers_and_reads_the_query_as_api_gateway_does() -> (
    None
):
    from relay_devtools.local.apigw import api_gateway_v2_event

    headers = [("Cookie", "a=1; b=2"), ("cookie", "c=3"), ("Content-Type", "application/json")]
    event = api_gateway_v2_event("POST", "/hooks/cad", "x=1&x=2&y=", headers, b"{}", "203.0.113.9")
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    # and without either, neither key (API Gateway leaves them out)
    plain = api_gateway_v2_event("POST", "/hooks/cad", "", [], b"{}", "203.0.113.9")
    assert "cookies" not in plain and "queryStringParameters" not in plain


# ------------------------------------------------------------------ 14. warnings acknowledged, named, once


def test_the_docs_own_configs_warn_of_nothing_they_acknowledge() -> None:
    import tomllib

    from relay.config.loader import parse_config
    from tests.support.examples import uncommented_relay_toml
    from tests.support.payloads import examples_config

    # The shipped examples of senders that offer no replay protection (Sonoran, SnailyCAD, Discord-format)
    # say so with replay_protection = "none"; only the board and the dispatch bot, senders of one's own
    # that could sign a timestamp, are still warned about
    examples, shipped = examples_config(), parse_config(tomllib.loads(uncommented_relay_toml()))
    assert [w.split(":")[0] for w in examples.replay_warnings()] == ["sources.board", "sources.dispatch-bot"]
    assert [w.split(":")[0] for w in shipped.replay_warnings()] == ["sources.board"]


def test_doctor_shows_an_acknowledged_source_as_ok_and_says_how_to_acknowledge_one() -> None:
    from relay.config.loader import parse_config
    from relay_devtools.operations.doctor import signature_checks

    data = base_config_data()
    token = {"scheme": "url-token", "secret": "relay/sources/snailycad"}
    data["sources"]["snailycad"] = data["sources"]["cad"] | {"adapter": "snailycad", "signature": token}
    [warned] = [c for c in signature_checks(parse_config(data)) if c.name == "replay key" and c.warning]
    assert warned.detail.endswith('replays are not recognised (replay_protection = "none" acknowledges it)')
    data["sources"]["snailycad"]["replay_protection"] = "none"
    checks = [c for c in signature_checks(parse_config(data)) if c.name == "replay key"]
    assert not any(c.warning for c in checks)
    assert 'sources.snailycad: no replay protection (replay_protection = "none")' in [
        c.detail for c in checks
    ]


# ------------------------------------------------------------------ 7. samples as new events


def test_a_sample_is_stamped_as_a_new_event_of_its_sender() -> None:
    from datetime import UTC, datetime

    from relay_devtools.webhooks.samples import stamped

    now = datetime(2027, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    typeform = json.loads(stamped((EVENTS / "typeform_response.json").read_bytes(), now, "event_id"))
    assert typeform["form_response"]["submitted_at"] == "2027-01-02T03:04:05.678Z"
    assert typeform["event_id"].startswith("relay-sign-")
    erlc = json.loads(stamped((EVENTS / "erlc_event_command.json").read_bytes(), now))
    assert erlc["Timestamp"] == int(now.timestamp())
    board = json.loads(stamped((EVENTS / "mapping_board.json").read_bytes(), now))
    assert [unit["updated_at"] for unit in board["data"]["units"]] == [
        "2027-01-02T03:04:05.678Z",
        int(now.timestamp()),
        "2027-01-02T03:04:05.678Z",
    ]
    snailycad = json.loads(stamped((EVENTS / "snailycad_unit_status.json").read_bytes(), now))
    assert snailycad["updatedAt"] == "2027-01-02T03:04:05.678Z"
    # and nothing else of the body changes
    plain = json.loads((EVENTS / "typeform_response.json").read_bytes())
    plain["form_response"]["submitted_at"] = typeform["form_response"]["submitted_at"]
    plain["form_response"]["landed_at"] = typeform["form_response"]["landed_at"]
    plain["event_id"] = typeform["event_id"]
    assert plain == typeform


# ------------------------------------------------------------------ 10. secrets push, the pages' way


def test_secrets_push_before_the_first_deploy_checks_what_make_deploy_will_grant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the README's prod.secrets.toml and no stack yet (the pages push before the first deploy)
    secrets = tmp_path / "prod.secrets.toml"
    secrets.write_text(
        f'[secrets]\n"northca/partner-key" = "real-partner-key"\n"relay/sources/cad" = "{CAD_SECRET}"\n'
    )
    with mock_aws():
        push = ["secrets", "push", "--secrets", str(secrets), "--stack", "northca-relay", "--yes"]
        code = main(["--config", str(ROOT / "relay.toml"), *push])
        bundle = boto3.client("secretsmanager").get_secret_value(SecretId="relay/sources/northca-relay")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "northca-relay is not deployed yet: checked against what make deploy grants" in out
    assert json.loads(bundle["SecretString"])["relay/sources/cad"] == CAD_SECRET


def test_no_source_page_says_aws_secretsmanager_any_more() -> None:
    pages = [*(ROOT / "docs" / "sources").glob("*.md"), ROOT / "README.md"]
    assert [p.name for p in pages if "aws secretsmanager create-secret" in p.read_text()] == []
    assert all(
        "relay secrets push" in p.read_text()
        for p in (ROOT / "docs" / "sources").glob("*.md")
        if "## In your secrets file" in p.read_text()
    )


def test_poll_every_takes_positive_seconds_only(capsys: pytest.CaptureFixture[str]) -> None:
    for wrong in ("0", "-5", "soon"):
        with pytest.raises(SystemExit):
            main(["local", "--poll-every", wrong])
        assert "--poll-every" in capsys.readouterr().err
