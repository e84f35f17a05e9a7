"""relay doctor's checks of the operator's own set-up around the config (the file checks run offline,
so `make build` runs them too):

- a secrets file git tracks, or one `git add .` would commit (the README's `prod.secrets.toml` holds the
  real partner key): a warning naming the file and what to do;
- a secret *value* pasted where relay.toml wants a secret's *name* (`secret = "tf_9f8a..."`): a failure
  that says where the value goes, not a name to rename it to;
- the `relay local` running in the folder (its state file), which doctor checks when given no stack.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from relay.config.schema import RelayConfig
from relay_devtools.files.secrets_file import looks_like_a_value
from relay_devtools.operations.doctor import Check
from relay_devtools.options import aws_problem

# What a secrets file is called: relay.secrets.toml, prod.secrets.toml, community.secrets.toml, ...
SECRETS_FILE = re.compile(r"(^|[./_-])secrets?\.toml$")


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None


def secrets_file_checks(folder: Path, secrets: Path | None = None) -> list[Check]:
    """Secrets files in the git work tree of `folder` that git tracks, and `secrets` (the file
    --secrets names) when `git add .` would commit it. Outside a work tree, or without git: nothing."""
    listed = _git(folder, "ls-files", "-z", "--full-name", ":(top)")
    if listed is None or listed.returncode != 0:
        return []
    tracked = sorted(name for name in listed.stdout.split("\0") if name and SECRETS_FILE.search(name))
    checks = [
        Check(
            "secrets file",
            True,
            f"{name} is tracked by git: its values are in the history. Rotate every value in it, then "
            f"`git rm --cached {name}` (*.secrets.toml is git-ignored)",
            warning=True,
        )
        for name in tracked
    ]
    if secrets is not None and secrets.exists():
        path = secrets.resolve()
        ignored = _git(path.parent, "check-ignore", "-q", str(path))
        known = _git(path.parent, "ls-files", "--error-unmatch", str(path))
        is_tracked = known is not None and known.returncode == 0
        if ignored is not None and ignored.returncode == 1 and not is_tracked:
            checks.append(
                Check(
                    "secrets file",
                    True,
                    f"{secrets} is not git-ignored: `git add .` would commit it. Name it *.secrets.toml "
                    "(ignored), or add it to .gitignore",
                    warning=True,
                )
            )
    return checks


def secret_value_checks(config: RelayConfig) -> list[Check]:
    """Every place the config names a secret, failed when what is there looks like the secret itself."""
    named = [("northca.partner_key_secret", config.northca.partner_key_secret, "northca/partner-key")]
    named += [
        (f"sources.{n}.signature.secret", s.signature.secret, f"relay/sources/{n}")
        for n, s in config.sources.items()
    ]
    named += [
        (f"erlc.servers.{n}.server_key_secret", s.server_key_secret, f"relay/erlc/{n}")
        for n, s in config.erlc.servers.items()
    ]
    checks = []
    for where, text, example in named:
        if looks_like_a_value(text):
            checks.append(
                Check(
                    "secret name",
                    False,
                    f"{where} looks like a secret value, not a name: relay.toml ships with the code, so "
                    f"never put a value in it. Put the value in your secrets file under the name "
                    f"{example!r}, set `{where.rsplit('.', 1)[-1]} = {example!r}` here and push it with "
                    "`relay secrets push`; then replace the value at its sender (it has been in a file "
                    "others may see)",
                )
            )
    return checks


def local_summary(state: dict[str, Any]) -> str:
    """The running `relay local` doctor checks, in a few words."""
    return (
        f"checking the relay local running here (pid {state.get('pid')}): its secrets "
        f"{state.get('secrets')}, its Northca {state.get('northca')}, its queues"
    )


def deployed_secrets_checks(config: RelayConfig, client: Any, stack: str) -> list[Check]:
    """Before a deploy: every secret the config names is in Secrets Manager (the bundle's entries, or
    a secret each), usable for its scheme and not relay local's demo value. Else the stack would deploy
    and fail at its first webhook; the check says how to push them."""
    from relay_devtools.operations.doctor import secret_checks, secrets_manager_lookup
    from relay_devtools.operations.secrets_push import DEMO_PREFIXES

    lookup = secrets_manager_lookup(client, config.secrets.bundle)

    def no_demo(name: str) -> str | None:
        raw = lookup(name)
        if raw is not None and DEMO_PREFIXES[0] in raw[: len(DEMO_PREFIXES[0]) + 2]:
            raise ValueError("relay local's demo value")
        return raw

    checks = secret_checks(config, no_demo, "Secrets Manager")
    failed = [check for check in checks if not check.ok]
    if not failed:
        return [Check("secrets", True, f"the {len(checks)} secrets the config names are in Secrets Manager")]
    fix = (
        f"put them in your secrets file and push them first: relay secrets push --secrets prod.secrets.toml "
        f"--stack {stack} (docs/operations.md, Secrets)"
    )
    return [
        Check("secrets", False, f"{check.detail}; {fix}" if i == 0 else check.detail)
        for i, check in enumerate(failed)
    ]


def credentials_check(session: Any) -> Check:
    """Who the AWS configuration signs in as (sts:GetCallerIdentity needs no permission): asked first,
    so that no credentials stops a deploy before the build and before any question."""
    if not session.region_name:
        return Check("credentials", False, "no AWS region: set AWS_REGION (or AWS_PROFILE with a region)")
    try:
        identity = session.client("sts").get_caller_identity()
    except Exception as exc:  # noqa: BLE001 - no credentials, expired ones, no network: each its one line
        return Check("credentials", False, aws_problem(exc))
    return Check(
        "credentials",
        True,
        f"account {identity.get('Account')} as {identity.get('Arn')}, region {session.region_name}",
    )
