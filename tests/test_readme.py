"""The README is the front page: short, with the install line, links that resolve into docs/, and the Quick
start's two commands exactly as ``.ci/run`` reads them. Its examples run with the docs' (tests/test_docs.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

SERVE_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && mockai serve"
TEST_COMMAND = ("python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && "
                "python -m pytest -n 2")


def ci_reads(marker: str) -> str:
    """The command ``.ci/run`` takes from the README: its own awk program, run on the README."""
    program = f"/<!-- {marker} -->/{{getline; while ($0 !~ /^[a-z]/) getline; print; exit}}"
    return subprocess.run(["awk", program, "README.md"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_quick_start_commands_are_what_ci_runs() -> None:
    assert "awk '/<!-- test-command -->/" in (ROOT / ".ci" / "run").read_text()
    assert ci_reads("serve-command") == SERVE_COMMAND
    assert ci_reads("test-command") == TEST_COMMAND
    quick_start = README.split("## Quick start", 1)[1]
    assert quick_start.index("<!-- serve-command -->") < quick_start.index("<!-- test-command -->")


def test_the_readme_reads_in_five_minutes() -> None:
    words = len(re.sub(r"```.*?```", "", README, flags=re.DOTALL).split())
    assert words < 1000, f"{words} words of prose: move detail into docs/"
    assert README.count("<!-- readme-test: ") >= 2  # the pytest and the mockai serve examples


def test_the_readme_says_how_to_install_by_name_and_from_a_checkout() -> None:
    assert "pip install pytest-mockai" in README
    assert "pip install -e ." in README


def test_every_link_resolves() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert len(local) >= 15
    assert [link for link in local if not (ROOT / link).is_file()] == []
    linked = {link for link in local if link.startswith("docs/")}
    for page in ("getting-started/pytest.md", "getting-started/socket.md", "getting-started/cassettes.md",
                 "fidelity.md", "reference/api.md", "reference/cli.md"):
        assert f"docs/{page}" in linked, page
