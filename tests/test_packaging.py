"""The distribution as a user gets it: ``python -m build`` makes an sdist and a wheel (the wheel built from the
sdist, so the sdist is complete), the wheel carries what mockai needs and nothing of the checkout's tests, and
installed into a fresh virtual environment with nothing else, ``mockai serve`` answers and the pytest plugin's
``mockai`` fixture works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = (ROOT / "pyproject.toml").read_text().split("\n[project]\n", 1)[1]
NAME = re.search(r'^name = "(.+)"$', PROJECT, re.MULTILINE).group(1)  # type: ignore[union-attr]
VERSION = re.search(r'^version = "(.+)"$', PROJECT, re.MULTILINE).group(1)  # type: ignore[union-attr]


def run(*args: str | Path, cwd: Path, timeout: float = 600) -> str:
    """Run a command outside the checkout, with an environment that cannot see the checkout's packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "OPENAI_BASE_URL")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    [found] = dist.glob("*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel, its dependencies and pytest: nothing of the checkout."""
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    run(env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        wheel, "pytest", cwd=env_dir)
    return env_dir


def test_the_distribution_is_named_for_pypi(dist: Path) -> None:
    """``mockai`` on PyPI is someone else's project: the distribution is pytest-mockai, the import stays mockai."""
    assert NAME == "pytest-mockai"
    names = sorted(p.name for p in dist.iterdir())
    assert names == [f"pytest_mockai-{VERSION}-py3-none-any.whl", f"pytest_mockai-{VERSION}.tar.gz"]


def test_the_wheel_carries_what_mockai_needs_and_nothing_of_the_checkout(wheel: Path) -> None:
    files = zipfile.ZipFile(wheel).namelist()
    tops = {f.split("/")[0] for f in files}
    assert tops == {"mockai", "pytest_mockai", f"pytest_mockai-{VERSION}.dist-info"}, tops
    assert {"mockai/py.typed", "pytest_mockai/py.typed"} <= set(files)
    # Every data file of the package (the inspector's page, any JSON or YAML beside the modules) is in the wheel.
    data = {str(p.relative_to(ROOT)) for p in (ROOT / "mockai").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert {"mockai/inspector/index.html", "mockai/inspector/inspector.css", "mockai/inspector/inspector.js"} <= data
    assert data - set(files) == set(), "data files missing from the wheel"
    # The example cassettes, scenarios and client that mockai.cassettes.example() and the docs name.
    fixtures = {f"mockai/_fixtures/{p.relative_to(ROOT / 'fixtures')}" for p in (ROOT / "fixtures").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert fixtures
    assert fixtures - set(files) == set()
    assert not [f for f in files if re.match(r"(tests|bench|docs)/|.*(/|^)conftest\.py$|.*\.pyc$", f)]
    metadata = zipfile.ZipFile(wheel).read(f"pytest_mockai-{VERSION}.dist-info/METADATA").decode()
    assert "Name: pytest-mockai" in metadata
    assert "pip install pytest-mockai" in metadata  # the README is the long description
    entry_points = zipfile.ZipFile(wheel).read(f"pytest_mockai-{VERSION}.dist-info/entry_points.txt").decode()
    assert "mockai = mockai.cli:main" in entry_points
    assert "mockai = pytest_mockai" in entry_points


def test_the_sdist_builds_the_wheel_and_keeps_the_tests(dist: Path) -> None:
    import tarfile

    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    prefix = f"pytest_mockai-{VERSION}/"
    assert {prefix + "pyproject.toml", prefix + "README.md", prefix + "CHANGELOG.md", prefix + "mockai/py.typed",
            prefix + "tests/test_packaging.py", prefix + "fixtures/cassettes/stream.json"} <= set(names)
    assert not [n for n in names if "/.venv" in n or "__pycache__" in n]


def test_mockai_serve_answers_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    where = run(installed / "bin" / "python", "-c", "import mockai, pytest_mockai; print(mockai.__file__)",
                cwd=tmp_path)
    assert where.startswith(str(installed)), where  # the wheel's copy, not the checkout's
    proc = subprocess.Popen([str(installed / "bin" / "mockai"), "serve", "--port", "0", "--log-level", "warning"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = ""
        for line in proc.stdout:
            if match := re.match(r"OPENAI_BASE_URL=(\S+)", line):
                base_url = match.group(1)
                break
        assert base_url, proc.stderr.read() if proc.stderr else ""
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}).encode()
        request = urllib.request.Request(base_url + "/chat/completions", data=body, headers={
            "authorization": "Bearer sk-test", "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.load(response)
        assert reply["object"] == "chat.completion"
        assert reply["choices"][0]["message"]["content"]
        with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_mockai/", timeout=30) as response:
            assert b"inspector.js" in response.read()  # the inspector's files came with the wheel
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_the_pytest_plugin_works_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import httpx
        import pytest

        from mockai.cassettes import example


        def test_patch_mode(mockai):
            mockai.queue("Hello from the wheel.")
            reply = httpx.post("https://api.openai.com/v1/chat/completions",
                               headers={"authorization": "Bearer sk-test"},
                               json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
            assert reply.json()["choices"][0]["message"]["content"] == "Hello from the wheel."
            assert mockai.calls.last.last_user_text == "Hi"


        def test_socket(mockai_server):
            reply = httpx.post(mockai_server.base_url + "/chat/completions",
                               headers={"authorization": "Bearer sk-test"},
                               json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
            assert reply.status_code == 200 and mockai_server.call_count == 1


        @pytest.mark.mockai(cassette=example("stream"))
        def test_shipped_cassette(mockai):
            reply = httpx.post("https://api.openai.com/v1/chat/completions",
                               headers={"authorization": "Bearer sk-test"},
                               json={"model": "gpt-4o-mini",
                                     "messages": [{"role": "user", "content": "Count to five."}]})
            assert reply.json()["choices"][0]["message"]["content"] == "One, two, three, four, five."
    """))
    out = run(installed / "bin" / "python", "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "-v",
              "test_user.py", cwd=tmp_path)
    assert re.search(r"\b3 passed\b", out), out
    assert re.search(rf"^plugins: .*\bmockai-{re.escape(VERSION)}\b", out, re.MULTILINE), out


def test_the_installed_command_knows_its_version(installed: Path, tmp_path: Path) -> None:
    assert run(installed / "bin" / "mockai", "--version", cwd=tmp_path).strip() == f"mockai, version {VERSION}"


def test_install_hints_name_this_distribution() -> None:
    """``pip install mockai`` fetches an unrelated project: no message or document may tell a user to run it."""
    wrong = re.compile(r"pip install (-e )?['\"]?mockai\b(?![./-])")
    texts = [*(ROOT / "mockai").rglob("*.py"), *(ROOT / "pytest_plugin").rglob("*.py"), ROOT / "README.md",
             *(ROOT / "docs").rglob("*.md")]
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in texts
             for n, line in enumerate(path.read_text().splitlines(), 1) if wrong.search(line)]
    assert not found, "\n".join(found)


def test_the_version_comes_from_this_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mockai --version`` reads the metadata of ``pytest-mockai``: click before 8.2 cannot map the import name
    ``mockai`` to it (this hides the mapping newer clicks make)."""
    import importlib.metadata

    from click.testing import CliRunner

    from mockai.cli import main

    monkeypatch.setattr(importlib.metadata, "packages_distributions", dict)
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"mockai, version {VERSION}\n"
