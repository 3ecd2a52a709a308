"""Every example in README.md marked ``<!-- readme-test: ... -->`` runs, so the docs cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (exec|pytest) -->\n```python\n(.*?)```", re.DOTALL)
EXAMPLES = [(m.group(1), m.group(2), README.read_text()[: m.start()].count("\n") + 1)
            for m in BLOCK.finditer(README.read_text())]


def test_the_readme_has_examples() -> None:
    kinds = {kind for kind, _, _ in EXAMPLES}
    assert kinds == {"exec", "pytest"}
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize(("kind", "code", "line"), EXAMPLES, ids=[f"line-{line}" for _, _, line in EXAMPLES])
def test_readme_example(kind: str, code: str, line: int, pytester: pytest.Pytester) -> None:
    if kind == "exec":
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": f"readme_{line}"})
        return
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(**{f"test_readme_{line}": code})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=len(re.findall(r"^def test_", code, re.MULTILINE)))
