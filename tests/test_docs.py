"""Every example in README.md and docs/ runs, so the documentation cannot rot.

An example is a fenced block right after a marker line, ``<!-- readme-test: KIND -->``:

- ``exec`` (python): run in this process;
- ``pytest`` (python): a test file, run by pytest in a temporary directory; every ``def test_`` must pass;
- ``curl`` (bash): run by bash against a fresh ``mock.serve()``, with ``http://127.0.0.1:8000`` pointing at it;
  it must exit 0 and print JSON bodies, none of them an error;
- ``bash`` (bash): run as written by bash (``set -euo pipefail``) with this environment's ``mockai`` on the PATH;
- ``scenario`` (yaml): loaded as a scenario file, which must hold rules or a queue.

Every ``python`` block in the docs must be marked (there is no untested Python example), and so must every YAML
block that is a scenario.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from mockai import MockAI

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
MARKER = re.compile(r"<!-- readme-test: (\w+) -->\n$")
LANGUAGE = {"exec": "python", "pytest": "python", "curl": "bash", "bash": "bash", "scenario": "yaml"}


def fences(path: Path) -> list[tuple[str | None, str, str, int]]:
    """Every fenced block of a page: (its marker's kind or None, language, code, line)."""
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        marker = MARKER.search(before[before.rfind("\n", 0, len(before) - 1) + 1:])
        found.append((marker.group(1) if marker else None, match.group(1), match.group(2),
                      before.count("\n") + 1))
    return found


EXAMPLES = [(kind, code, f"{path.relative_to(ROOT)}:{line}") for path in PAGES
            for kind, _, code, line in fences(path) if kind is not None]


def test_the_docs_have_examples_of_every_kind() -> None:
    assert {kind for kind, _, _ in EXAMPLES} == set(LANGUAGE)
    assert len(EXAMPLES) >= 40
    assert all((ROOT / "docs").glob("*/*.md"))


@pytest.mark.parametrize("path", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_example_and_scenario_is_marked_and_the_marker_fits(path: Path) -> None:
    for kind, language, code, line in fences(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        if kind is not None:
            assert kind in LANGUAGE, f"{where}: unknown example kind {kind!r}"
            assert language == LANGUAGE[kind], f"{where}: a {kind} example is a {LANGUAGE[kind]} block"
        elif language == "python":
            pytest.fail(f"{where}: a Python example without a <!-- readme-test: exec|pytest --> marker")
        elif language == "yaml" and re.search(r"^(rules|queue):", code, re.MULTILINE):
            pytest.fail(f"{where}: a scenario without a <!-- readme-test: scenario --> marker")


@pytest.mark.parametrize(("kind", "code", "where"), EXAMPLES, ids=[where for _, _, where in EXAMPLES])
def test_example(kind: str, code: str, where: str, pytester: pytest.Pytester, tmp_path: Path) -> None:
    if kind == "exec":
        namespace: dict[str, object] = {"__name__": "docs_example"}
        try:
            exec(compile(code, where, "exec"), namespace)
        finally:
            close_clients(namespace)
    elif kind == "pytest":
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        pytester.makepyfile(**{"test_docs_example": code})
        # In a process of its own, as a reader runs it: a warm process hid a Hypothesis deadline a cold one missed.
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
        result.assert_outcomes(passed=len(re.findall(r"^(?:async )?def test_", code, re.MULTILINE)))
    elif kind == "curl":
        run_curl(code, where)
    elif kind == "bash":
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        env.pop("OPENAI_BASE_URL", None)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{where}:\n{done.stdout}\n{done.stderr}"
    else:
        path = tmp_path / "scenario.yaml"
        path.write_text(code)
        mock = MockAI(scenario=path)
        assert mock.rules or mock.engine.script.pending, where


def close_clients(namespace: dict[str, object]) -> None:
    """Close the sync clients an example left open (as a short example may): an unclosed client's socket is found
    by the garbage collector later, and its ResourceWarning fails whichever test is running then."""
    for value in namespace.values():
        if isinstance(value, (openai.OpenAI, httpx.Client)):
            value.close()


def run_curl(code: str, where: str) -> None:
    mock = MockAI(seed=1)
    with mock.serve() as server:
        root = server.base_url.removesuffix("/v1")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code.replace("http://127.0.0.1:8000", root)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{where}:\n{done.stdout}\n{done.stderr}"
    decoder, text, bodies = json.JSONDecoder(), done.stdout.strip(), []
    while text:
        body, end = decoder.raw_decode(text)
        bodies.append(body)
        text = text[end:].strip()
    assert bodies, f"{where}: printed nothing"
    assert not [b for b in bodies if isinstance(b, dict) and "error" in b], f"{where}: {bodies}"


def nav_pages(entries: list[object]) -> list[str]:
    pages: list[str] = []
    for entry in entries:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages += nav_pages(value) if isinstance(value, list) else [str(value)]
    return pages


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = nav_pages(config["nav"])
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(listed) == pages
    assert config["theme"]["font"] is False  # no web fonts: the site builds offline
    assert "social" not in str(config["plugins"])


def test_the_changelog_is_keep_a_changelog_and_names_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert version is not None
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", changelog, re.MULTILINE)
    assert releases[0][0] == version.group(1), "the newest release in CHANGELOG.md is not pyproject's version"
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{releases[0][0]}]")
    sections = set(re.findall(r"^### (\w+)$", changelog, re.MULTILINE))
    assert sections
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert "tests/test_public_api.py" in changelog  # the policy names what pins the public API


def test_the_api_reference_documents_every_public_name() -> None:
    import mockai

    page = (ROOT / "docs" / "reference" / "api.md").read_text()
    documented = {name.rsplit(".", 1)[1] for name in re.findall(r"^::: (mockai\.[\w.]+)$", page, re.MULTILINE)}
    assert documented == set(mockai.__all__)
    assert ":command: main" in (ROOT / "docs" / "reference" / "cli.md").read_text()  # every command, from click
