"""Python 3.13 bytecode in the build (`relay bytecode`, which `make build` runs after `sam build`).

`sam build` leaves no `.pyc`: its Python workflow copies the sources without `*.pyc` and `__pycache__`
(aws-lambda-builders, workflows/python_pip/workflow.py, EXCLUDED_FILES) and unpacks the layer's wheels
as they are. Lambda's filesystem is read-only, so without them every cold start compiles every module
it imports, and throws the result away.

What is written, and why:
- by Python 3.13 only: a `.pyc` carries its interpreter's magic number, and python3.13 reads only its
  own (another version's file would be ignored, and compiled again, at every cold start);
- `unchecked-hash` pycs (PEP 552): a timestamp pyc is checked against its source's mtime, which a zip
  and its extraction do not keep exactly (two-second DOS times, time zones), so Lambda could find every
  one stale; a checked-hash pyc hashes the source at each import. The build never changes once built,
  so nothing needs checking;
- optimisation level 0 (`x.cpython-313.pyc`), the one Lambda's interpreter (no -O) looks for;
- each file's name as Lambda sees it (`/var/task/relay/...`, `/opt/python/...`), for tracebacks.
The `.py` files stay (tracebacks show their lines).
"""

from __future__ import annotations

import compileall
import importlib.util
import py_compile
import sys
from dataclasses import dataclass
from pathlib import Path

from relay_devtools.files.template import load_template
from relay_devtools.operations.deploy import functions_using

# The interpreter Lambda's python3.13 runtime is: its magic number is the one every .pyc must carry.
LAMBDA_PYTHON = (3, 13)
# Where Lambda puts a function's code and a layer's (a Python layer's packages are under python/).
FUNCTION_ROOT = "/var/task"
LAYER_ROOT = "/opt"


class BytecodeError(Exception):
    """The build cannot get bytecode Lambda would use (another Python, no build)."""


@dataclass(frozen=True)
class Compiled:
    folder: Path
    modules: int  # .py files with their .pyc now
    skipped: int  # .py files that do not compile (a package's templates, another Python's code)


def _layers(template: Path) -> list[str]:
    resources = load_template(template).get("Resources", {})
    return sorted(k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::LayerVersion")


def compile_folder(folder: Path, lambda_path: str) -> Compiled:
    """Every .py under `folder` compiled in place (__pycache__/NAME.cpython-313.pyc)."""
    compileall.compile_dir(
        str(folder),
        ddir=lambda_path,
        quiet=2,
        optimize=0,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    sources = list(folder.rglob("*.py"))
    missing = sum(
        not Path(importlib.util.cache_from_source(str(py), optimization="")).exists() for py in sources
    )
    return Compiled(folder, len(sources) - missing, missing)


def compile_build(build_dir: Path, template: Path) -> list[Compiled]:
    """Bytecode for every function built from functions/ and every layer in `build_dir`."""
    if sys.version_info[:2] != LAMBDA_PYTHON:
        version = ".".join(map(str, sys.version_info[:3]))
        raise BytecodeError(
            f"this is Python {version}; Lambda's python3.13 reads only Python 3.13's bytecode (run it "
            "through make build, or with .venv/bin/relay)"
        )
    targets = [(build_dir / name, FUNCTION_ROOT) for name in functions_using(template)]
    targets += [(build_dir / name / "python", f"{LAYER_ROOT}/python") for name in _layers(template)]
    missing = [str(folder) for folder, _ in targets if not folder.is_dir()]
    if missing:
        raise BytecodeError(f"{', '.join(missing)} missing: run `sam build` first (make build)")
    return [compile_folder(folder, root) for folder, root in targets]


def pyc_header(path: Path) -> tuple[bytes, int]:
    """A .pyc's magic number and its flags (PEP 552: 0b01 hash-based, 0b10 check the source)."""
    head = path.read_bytes()[:8]
    return head[:4], int.from_bytes(head[4:8], "little")
