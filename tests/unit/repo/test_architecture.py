"""The house's rules, checked on the code's own imports (docs/architecture.md, "Rules").

Imports are read with `ast`, at module level and inside functions alike (a deferred import is still a
dependency). `if TYPE_CHECKING:` blocks never run: the rules about what a function loads leave them
out, the rule against cycles counts them (a cycle of types is still a cycle of knowledge).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from relay.sources.registry import KINDS
from tests.support.constants import ROOT

RELAY = ROOT / "functions" / "relay"
TESTS = ROOT / "tests"
# Where boto3 may be imported: the composition root and the AWS adapters.
BOTO_ALLOWED = ("relay.handlers.wiring", "relay.aws")
# What an HTTP client, a socket or an AWS SDK is.
NETWORK = ("urllib3", "urllib", "http", "socket", "requests", "boto3", "botocore")
# The logic: it gets its stores, queue and clients through relay.ports, never builds them.
PURE_PARTS = (
    "relay.ingress",
    "relay.sources",
    "relay.consumer",
    "relay.erlc.roster",
    "relay.erlc.sync",
    "relay.erlc.held",
    "relay.erlc.newcomers",
    "relay.erlc.events",
    "relay.alerts.discord",
)
MAX_MODULE_LINES = 400
MAX_LOOSE_MODULES = 8


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST, *, type_only: bool) -> Iterator[ast.AST]:
    """Every node that runs (and, with `type_only`, those under `if TYPE_CHECKING:` too)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child) and not type_only:
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imports_of(path: Path, package: str, *, type_only: bool = False) -> set[str]:
    """Every module `path` imports when it runs (relative imports resolved against `package`); with
    `type_only`, the imports of its `if TYPE_CHECKING:` blocks too."""
    found: set[str] = set()
    for node in _nodes(ast.parse(path.read_text(encoding="utf-8")), type_only=type_only):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


@cache
def relay_modules() -> dict[str, Path]:
    return {module_name(path, RELAY.parent): path for path in RELAY.rglob("*.py")}


@cache
def relay_graph(*, type_only: bool = False) -> dict[str, set[str]]:
    """Module -> the relay modules it imports at run time (with `type_only`, for type checking too)."""
    modules = relay_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = {t for t in imports_of(path, package, type_only=type_only) if t in modules and t != name}
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def third_party_imports(name: str) -> set[str]:
    path = relay_modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return {t.split(".")[0] for t in imports_of(path, package) if not t.startswith("relay")}


def belongs(name: str, parts: tuple[str, ...]) -> bool:
    return any(name == part or name.startswith(part + ".") for part in parts)


# ------------------------------------------------------------------ the rules


def test_architecture_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_architecture_relay_has_no_import_cycle_not_even_of_types() -> None:
    assert find_cycle(relay_graph(type_only=True)) is None


def test_architecture_the_checker_counts_type_only_imports_for_cycles(tmp_path: Path) -> None:
    module = tmp_path / "a.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from relay.b import B\n")
    assert "relay.b" not in imports_of(module, "relay")
    assert "relay.b" in imports_of(module, "relay", type_only=True)


def closure(roots: set[str], graph: dict[str, set[str]]) -> set[str]:
    """Every module the roots load, and what those load (a package's import runs its __init__ too)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        stack.extend(".".join(parts[:i]) for i in range(2, len(parts)) if ".".join(parts[:i]) in graph)
        stack.extend(graph.get(name, ()))
    return seen


def builder_imports(function: str) -> set[str]:
    """The modules the composition root imports at module level and inside one builder function: what
    that function's cold start loads (wiring imports each function's parts inside its own builder)."""
    path = relay_modules()["relay.handlers.wiring"]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name not in (function, "client", "_client"):
            continue
        if isinstance(node, ast.If) and _type_checking_only(node):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.module:
                found |= {inner.module} | {f"{inner.module}.{alias.name}" for alias in inner.names}
            elif isinstance(inner, ast.Import):
                found |= {alias.name for alias in inner.names}
    return {name for name in found if name in relay_modules()}


# What only the consumer needs: the ingress function must load none of it (its cold start pays for it).
CONSUMER_ONLY = (
    "relay.consumer",
    "relay.northca",
    "relay.aws.unit_state",
    "relay.aws.emergency_state",
    "relay.alerts",
    "relay.erlc.poller",
)


def test_architecture_the_ingress_loads_nothing_of_the_consumer() -> None:
    graph = {name: targets for name, targets in relay_graph().items() if name != "relay.handlers.wiring"}
    roots = {"relay.handlers.ingress"} | builder_imports("ingress_deps")
    # Every adapter kind a source may name is loaded by the ingress on its first request.
    roots |= {module for module, _ in KINDS.values()}
    loaded = closure(roots, graph)
    assert sorted(name for name in loaded if belongs(name, CONSUMER_ONLY)) == []


def test_architecture_the_ingress_cold_start_loads_nothing_of_the_consumer_when_it_runs() -> None:
    # The same rule as the process sees it: the handler imported and its dependencies built.
    script = (
        "import sys\n"
        "import relay.handlers.ingress\n"
        "from relay.handlers import wiring\n"
        "wiring.ingress_deps()\n"
        f"prefixes = {CONSUMER_ONLY!r}\n"
        "print(sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in prefixes)))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "functions"),
        "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        "STATE_TABLE": "state",
        "REPLAY_TABLE": "replay",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
    }
    found = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip().splitlines()[-1] == "[]", found.stdout + found.stderr


def test_architecture_relay_never_imports_the_devtools() -> None:
    offenders = {
        name
        for name, path in relay_modules().items()
        if any(t.startswith("relay_devtools") for t in imports_of(path, name))
    }
    assert offenders == set()


def test_architecture_boto3_only_in_the_composition_root_and_the_aws_adapters() -> None:
    offenders = {
        name
        for name in relay_modules()
        if third_party_imports(name) & {"boto3", "botocore"} and not belongs(name, BOTO_ALLOWED)
    }
    assert offenders == set()


def test_architecture_payload_adapters_open_no_connection() -> None:
    offenders = {
        name: sorted(third_party_imports(name) & set(NETWORK))
        for name in relay_modules()
        if belongs(name, ("relay.sources",)) and third_party_imports(name) & set(NETWORK)
    }
    assert offenders == {}


def test_architecture_the_logic_never_reaches_aws_or_the_wiring() -> None:
    graph = relay_graph()
    offenders = {
        name: sorted(t for t in targets if belongs(t, ("relay.aws", "relay.handlers")))
        for name, targets in graph.items()
        if belongs(name, PURE_PARTS) and any(belongs(t, ("relay.aws", "relay.handlers")) for t in targets)
    }
    assert offenders == {}


def test_architecture_no_module_is_over_the_size_limit() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in relay_modules().items()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_architecture_few_loose_modules_at_the_top() -> None:
    loose = sorted(path.name for path in RELAY.glob("*.py") if path.name != "__init__.py")
    assert len(loose) <= MAX_LOOSE_MODULES, loose


def test_architecture_no_test_module_imports_another() -> None:
    offenders = {}
    for path in TESTS.rglob("*.py"):
        name = module_name(path, ROOT)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        wrong = sorted(
            t
            for t in imports_of(path, package)
            if t.startswith("tests") and t != "tests" and not t.startswith("tests.support")
        )
        if wrong:
            offenders[name] = wrong
    assert offenders == {}


@pytest.mark.parametrize(
    "pattern", [r"DESIGN\.md", r"research/[a-z]+\.md", r"\.\./shared", r"sources\.md *§"]
)
def test_architecture_nothing_cites_a_file_the_repository_does_not_hold(pattern: str) -> None:
    found = subprocess.run(
        [
            "git",
            "grep",
            "-n",
            "-E",
            pattern,
            "--",
            "*.py",
            "*.md",
            "*.toml",
            "*.yaml",
            ":!tests/unit/repo/test_architecture.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == ""


# ------------------------------------------------------------------ the devtools (relay_devtools)

DEVTOOLS = ROOT / "devtools" / "relay_devtools"
COMMANDS = DEVTOOLS / "commands"
# At its top: cli.py and options.py; everything else belongs to a package of what it works on.
MAX_DEVTOOLS_LOOSE_MODULES = 2


@cache
def devtools_modules() -> dict[str, Path]:
    return {module_name(path, DEVTOOLS.parent): path for path in DEVTOOLS.rglob("*.py")}


def devtools_imports(name: str) -> set[str]:
    path = devtools_modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return {t for t in imports_of(path, package) if t.startswith("relay_devtools")}


@cache
def devtools_graph() -> dict[str, set[str]]:
    modules = devtools_modules()
    return {name: {t for t in devtools_imports(name) if t in modules and t != name} for name in modules}


def command_module_names() -> set[str]:
    return {f"relay_devtools.commands.{p.stem}" for p in COMMANDS.glob("*.py") if p.stem != "__init__"}


def test_architecture_every_command_module_is_registered_by_the_cli_with_its_run() -> None:
    import argparse
    import importlib

    from relay_devtools import cli

    # Every module in commands/ is in the one list the parser is built from, and nothing else is.
    assert {command.__name__ for command in cli.COMMANDS} == command_module_names()
    # Each exposes register and run, and its subcommand (however nested) dispatches to its run.
    parsers = [cli.build_parser()]
    runs = set()
    while parsers:
        parser = parsers.pop()
        runs.add(parser.get_default("run"))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    for name in sorted(command_module_names()):
        module = importlib.import_module(name)
        assert callable(getattr(module, "register", None)), name
        assert getattr(module, "run", None) in runs, name


def test_architecture_only_the_cli_imports_a_command_module() -> None:
    # The logic a command calls lives outside commands/, so relay local, the tests and other commands
    # reach it without one (docs/architecture.md, "Where a new CLI command goes").
    offenders = {
        name: sorted(found)
        for name in devtools_modules()
        if name != "relay_devtools.cli"
        and (found := {t for t in devtools_imports(name) if belongs(t, ("relay_devtools.commands",))})
    }
    assert offenders == {}


def test_architecture_devtools_has_no_import_cycle() -> None:
    assert find_cycle(devtools_graph()) is None


def test_architecture_no_devtools_module_is_over_the_size_limit() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in devtools_modules().items()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_architecture_devtools_has_few_loose_modules_at_the_top() -> None:
    loose = sorted(path.name for path in DEVTOOLS.glob("*.py") if path.name != "__init__.py")
    assert len(loose) <= MAX_DEVTOOLS_LOOSE_MODULES, loose


# ------------------------------------------------------------------ the unit tests' layout

UNIT = TESTS / "unit"
# The folders of tests/unit that mirror no package: the rules over the whole repository (these imports,
# the docs' pages, relay.toml's examples, the version).
WHOLE_REPOSITORY_FOLDERS = ("repo",)


def package_names() -> set[str]:
    """Every package of relay and relay_devtools by its dotted name ("relay.consumer", ...)."""
    return {
        module_name(init, root.parent) for root in (RELAY, DEVTOOLS) for init in root.rglob("__init__.py")
    }


def misplaced_unit_tests(unit: Path, packages: set[str]) -> list[str]:
    """What breaks the mirror under `unit`: a test module outside the folder of an existing package (or a
    whole-repository folder), a module that is no test, conftest or __init__ (shared code lives in
    tests/support), and a folder without __init__.py (pytest would import its files by their base name,
    and two folders' test_x.py would collide)."""
    found = []
    for path in sorted(unit.rglob("*.py")):
        relative = path.relative_to(unit)
        folder = ".".join(relative.parent.parts)
        if path.name in ("__init__.py", "conftest.py"):
            continue
        if not path.name.startswith("test_"):
            found.append(f"{relative}: not a test module")
        elif folder not in packages and folder not in WHOLE_REPOSITORY_FOLDERS:
            found.append(f"{relative}: {folder or 'tests/unit'} is no package's folder")
    # Every folder from a module up to tests/unit is a package: one without __init__.py anywhere above a
    # test would give pytest a shorter name for it.
    folders = {folder for path in unit.rglob("*.py") for folder in path.relative_to(unit).parents}
    found += [
        f"{folder}/: no __init__.py"
        for folder in sorted(folders)
        if not (unit / folder / "__init__.py").exists()
    ]
    return found


def test_architecture_the_layout_checker_finds_each_way_out_of_the_mirror(tmp_path: Path) -> None:
    # Given a tests/unit with a test in its package's folder and one in the whole-repository folder
    for folder in ("", "relay", "relay/consumer", "repo", "relay/consumers", "relay/sources"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").touch()
    for good in ("conftest.py", "relay/consumer/test_merge.py", "repo/test_rules.py", "relay/test_top.py"):
        (tmp_path / good).touch()
    # And each way a new file drifts: flat again, a misspelt package, helpers beside the tests,
    # and a package's folder that pytest would not import as a package
    for bad in ("test_flat.py", "relay/consumers/test_typo.py", "relay/sources/helpers.py"):
        (tmp_path / bad).touch()
    (tmp_path / "relay_devtools" / "local").mkdir(parents=True)
    (tmp_path / "relay_devtools" / "local" / "test_esm.py").touch()
    # When the checker reads it against the packages that exist
    packages = {"relay", "relay.consumer", "relay.sources", "relay_devtools", "relay_devtools.local"}
    # Then it names every drifted file, and nothing that is in place
    assert misplaced_unit_tests(tmp_path, packages) == [
        "relay/consumers/test_typo.py: relay.consumers is no package's folder",
        "relay/sources/helpers.py: not a test module",
        "test_flat.py: tests/unit is no package's folder",
        "relay_devtools/: no __init__.py",
        "relay_devtools/local/: no __init__.py",
    ]


def test_architecture_every_unit_test_lives_in_the_folder_of_the_package_it_tests() -> None:
    # tests/unit mirrors functions/relay and devtools/relay_devtools (relay/consumer/, relay_devtools/local/,
    # ...); a file that fits no package goes where its main subject is, not back to tests/unit's top.
    assert {"relay.consumer", "relay_devtools.local"} <= package_names()
    assert misplaced_unit_tests(UNIT, package_names()) == []
