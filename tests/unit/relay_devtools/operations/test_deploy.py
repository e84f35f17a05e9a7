"""make build and make deploy: the config is checked before SAM builds, ships in every function, and
`sam deploy` gets the config's partner key name (the command line only: nothing reaches AWS)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from relay_devtools.operations.deploy import deploy_command, functions_using, parameter_overrides, ship_config
from tests.support.constants import ROOT

SAM = ["uv", "tool", "run", "--from", "aws-sam-cli==1.170.0", "sam"]


@pytest.fixture
def community(tmp_path: Path) -> Path:
    config = tmp_path / "community.toml"
    config.write_text(
        (ROOT / "relay.toml").read_text().replace('"northca/partner-key"', '"community/partner"')
    )
    return config


def test_deploy_reads_samconfigs_overrides_per_environment() -> None:
    assert parameter_overrides(ROOT / "samconfig.toml", "default") == {"Stage": "dev", "LogLevel": "INFO"}
    assert parameter_overrides(ROOT / "samconfig.toml", "prod")["LogRetentionDays"] == "90"


def test_deploy_passes_the_configs_bundle_as_every_secret_grant_with_samconfigs_overrides(
    community: Path,
) -> None:
    # relay.toml as shipped keeps every secret in one bundle: every function is granted that one
    command = deploy_command(SAM, community, ROOT / "samconfig.toml", "default", guided=False)
    assert command == [
        *SAM,
        "deploy",
        "--config-env",
        "default",
        "--parameter-overrides",
        'Stage="dev" LogLevel="INFO" PartnerKeySecretName="relay/sources/northca-relay" '
        'SourceSecretsPrefix="relay/sources/" ErlcServerKeySecretPrefix="relay/sources/"',
    ]


def test_deploy_passes_the_configs_partner_key_name_without_a_bundle(tmp_path: Path, community: Path) -> None:
    config = tmp_path / "apart.toml"
    config.write_text(community.read_text().replace('bundle = "relay/sources/northca-relay"', ""))
    command = deploy_command(SAM, config, ROOT / "samconfig.toml", "default", guided=False)
    assert command[-1] == 'Stage="dev" LogLevel="INFO" PartnerKeySecretName="community/partner"'


def test_deploy_sams_own_guided_flow_on_request(community: Path) -> None:
    assert deploy_command(SAM, community, ROOT / "samconfig.toml", "prod", guided=True)[-1] == "--guided"


def test_deploy_ships_the_config_in_every_function_built_from_functions(
    tmp_path: Path, community: Path
) -> None:
    # Given a build as `sam build` leaves it (relay.toml as the link to the repository's one, resolved)
    build = tmp_path / "build"
    for logical_id in (
        "IngressFunction",
        "ConsumerFunction",
        "ScheduledFunction",
        "NotifierFunction",
        "DepsLayer",
    ):
        (build / logical_id).mkdir(parents=True)
        shutil.copy(ROOT / "relay.toml", build / logical_id / "relay.toml")
    # When the community's config ships
    written = ship_config(community, build, ROOT / "template.yaml")
    # Then each function holds it, and the layer is left alone
    assert sorted(p.parent.name for p in written) == [
        "ConsumerFunction",
        "IngressFunction",
        "NotifierFunction",
        "ScheduledFunction",
    ]
    assert all(p.read_text() == community.read_text() for p in written)
    assert (build / "DepsLayer" / "relay.toml").read_text() == (ROOT / "relay.toml").read_text()


def test_deploy_functions_using_the_shared_code() -> None:
    assert functions_using(ROOT / "template.yaml") == [
        "ConsumerFunction",
        "IngressFunction",
        "NotifierFunction",
        "ScheduledFunction",
    ]


def make_dry_run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("UV_PYTHON", "MAKEFLAGS", "MAKELEVEL")
    } | env
    return subprocess.run(
        ["make", "-n", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_deploy_make_deploy_checks_first_then_builds_ships_and_deploys_the_chosen_config() -> None:
    # make deploy is relay deploy, which checks the credentials, asks, runs the pre-flight, then the build
    result = make_dry_run("deploy", "CONFIG=community.toml", "GUIDED=1")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "relay deploy --config community.toml" in line]
    deploy = shlex.split(line)
    assert deploy[deploy.index("--sam") + 1].endswith("tool run --from aws-sam-cli==1.170.0 sam")
    assert deploy[deploy.index("--build") + 1] == "make --no-print-directory build CONFIG=community.toml"
    assert deploy[-1] == "--guided"
    # and the build it runs checks the config, builds, then ships it
    build = make_dry_run("build", "CONFIG=community.toml")
    assert build.returncode == 0, build.stderr
    lines = build.stdout.splitlines()
    steps = [
        next(i for i, line in enumerate(lines) if "relay doctor --config community.toml --offline" in line),
        next(i for i, line in enumerate(lines) if "tool run --from aws-sam-cli==1.170.0 sam build" in line),
        next(i for i, line in enumerate(lines) if "relay ship-config --config community.toml" in line),
    ]
    assert steps == sorted(steps)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_deploy_make_refuses_another_python_instead_of_ignoring_it() -> None:
    result = make_dry_run("run", UV_PYTHON="3.12")
    assert result.returncode != 0
    assert "UV_PYTHON=3.12: northca-relay runs on Python 3.13 only" in result.stderr


def test_deploy_adds_what_the_preflight_derives_without_overriding_samconfig(community: Path) -> None:
    derived = {"RosterPollState": "DISABLED", "Stage": "from-preflight"}
    command = deploy_command(
        SAM, community, ROOT / "samconfig.toml", "default", guided=False, derived=derived
    )
    rendered = shlex.split(command[command.index("--parameter-overrides") + 1])
    assert "RosterPollState=DISABLED" in rendered
    assert "Stage=dev" in rendered  # samconfig's value wins
    assert "PartnerKeySecretName=relay/sources/northca-relay" in rendered  # the shipped bundle


def test_deploy_dry_run_switches_the_poll_off_for_a_config_without_erlc_servers(
    community: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #23 item 5: the shipped relay.toml names no ER:LC server, so the schedule is not deployed on;
    a dry run reads no AWS (the pre-flight's account checks run only for a real deploy)."""
    from relay_devtools.cli import main

    assert (
        main(["deploy", "--config", str(community), "--samconfig", str(ROOT / "samconfig.toml"), "--dry-run"])
        == 0
    )
    printed = capsys.readouterr().out
    assert 'RosterPollState="DISABLED"' in printed
    assert "StateTableDeletionProtection" not in printed
