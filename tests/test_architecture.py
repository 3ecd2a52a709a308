"""The shape of the code: the import graph (layers, no cycles) as pyproject.toml's import-linter contracts say.

The engine is API-neutral: the core knows no API, each surface (chat completions, the Responses API…) sits on it,
the extensions (rules, faults, limits, latency) know no surface, and only the wiring (``mockai.engine``) and the
doors above it know everything. ``lint-imports`` holds the contracts; this test runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if found is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return found


def test_the_import_contracts_hold() -> None:
    done = subprocess.run([lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_broken_layer_is_caught(tmp_path: Path) -> None:
    """The contracts can fail: a copy of the package whose core imports the wiring breaks them."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "mockai", copy / "mockai", ignore=shutil.ignore_patterns("__pycache__"))
    core = copy / "mockai" / "core.py"
    core.write_text(core.read_text().replace("from .config import Config\n",
                                             "from .config import Config\nfrom . import engine  # noqa\n", 1))
    (copy / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    env = {"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([lint_imports(), "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode != 0
    assert "mockai.core is not allowed to import mockai.engine" in done.stdout
