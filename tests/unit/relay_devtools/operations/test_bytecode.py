"""The build ships python3.13 bytecode Lambda uses (relay_devtools.operations.bytecode): `sam build`
leaves none, and Lambda's read-only filesystem would have every cold start compile every module."""

from __future__ import annotations

import marshal
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from relay_devtools.cli import main
from relay_devtools.operations import bytecode
from relay_devtools.operations.bytecode import BytecodeError, compile_build, pyc_header
from tests.support.constants import ROOT

# Python 3.13's magic number (3571), the one Lambda's python3.13 runtime reads.
PYTHON_313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = 0b01  # PEP 552: hash-based, the source not checked


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build as `sam build` leaves it: each function's code without bytecode, the layer unpacked."""
    for function in ("IngressFunction", "ConsumerFunction", "ScheduledFunction", "NotifierFunction"):
        shutil.copytree(ROOT / "functions", tmp_path / function, ignore=shutil.ignore_patterns("__pycache__"))
    layer = tmp_path / "DepsLayer" / "python" / "vendored"
    layer.mkdir(parents=True)
    (layer / "__init__.py").write_text("VALUE = 42\n")
    (layer / "py2_only.py").write_text("print 'a template a package ships'\n")
    return tmp_path


def test_every_function_and_the_layer_get_python313_unchecked_hash_bytecode(build: Path) -> None:
    compiled = {
        result.folder.relative_to(build).as_posix(): result
        for result in compile_build(build, ROOT / "template.yaml")
    }
    assert set(compiled) == {
        "ConsumerFunction",
        "IngressFunction",
        "NotifierFunction",
        "ScheduledFunction",
        "DepsLayer/python",
    }
    assert compiled["DepsLayer/python"].modules == 1 and compiled["DepsLayer/python"].skipped == 1
    pyc = build / "IngressFunction" / "relay" / "handlers" / "__pycache__" / "ingress.cpython-313.pyc"
    assert pyc_header(pyc) == (PYTHON_313_MAGIC, UNCHECKED_HASH)
    # named as Lambda sees the file (tracebacks), the layer's under /opt/python
    assert marshal.loads(pyc.read_bytes()[16:]).co_filename == "/var/task/relay/handlers/ingress.py"
    layer_pyc = build / "DepsLayer" / "python" / "vendored" / "__pycache__" / "__init__.cpython-313.pyc"
    assert marshal.loads(layer_pyc.read_bytes()[16:]).co_filename == "/opt/python/vendored/__init__.py"
    # and no optimised variant Lambda's interpreter (no -O) would not read
    assert not list(build.rglob("*.opt-*.pyc"))


def test_python_uses_the_bytecode_whatever_the_sources_mtime(build: Path) -> None:
    compile_build(build, ROOT / "template.yaml")
    layer = build / "DepsLayer" / "python"
    # Given sources whose mtimes moved, as a zip and its extraction move them, and no bytecode writes
    for source in layer.rglob("*.py"):
        os.utime(source, (1, 1))
    (layer / "vendored" / "__init__.py").write_text("VALUE = 'changed after the build'\n")
    env = {"PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", "import vendored; print(vendored.VALUE)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    # Then the build's bytecode is what runs: nothing compiled again at the import
    assert result.stdout.strip() == "42"


def test_bytecode_refuses_another_python_and_a_missing_build(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(bytecode, "LAMBDA_PYTHON", (3, 12))
        with pytest.raises(BytecodeError, match=re.escape("Lambda's python3.13 reads only Python 3.13's")):
            compile_build(build, ROOT / "template.yaml")
    code = main(
        ["bytecode", "--build-dir", str(tmp_path / "nothing"), "--template", str(ROOT / "template.yaml")]
    )
    assert code == 1
    assert "missing: run `sam build` first (make build)" in capsys.readouterr().err


def test_make_build_ships_bytecode_after_the_config() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "UV_PYTHON")}
    result = subprocess.run(
        ["make", "-n", "build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    ship = next(i for i, line in enumerate(lines) if "relay ship-config" in line)
    assert "relay bytecode" in lines[ship + 1]
