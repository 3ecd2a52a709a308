"""The mockai pytest plugin: fixtures ``mockai``, ``mockai_server`` and ``mockai_config``, marker ``mockai``.

pytest imports every installed plugin on every run, so this module imports only pytest and the standard library;
mockai itself (Starlette, pydantic, Faker…) is imported when a fixture is first used.

    def test_summary(mockai):
        mockai.queue("A short summary.")
        assert summarize("long text") == "A short summary."      # code under test calls api.openai.com
        assert mockai.calls.last.request.model == "gpt-4o-mini"

When a test that used ``mockai`` or ``mockai_server`` fails, its report gets a "mockai journal" section: the
transcript of the calls the mock answered (the last 20, at most 8 KB; ``mock.calls.show()`` prints it all).

Options (command line, or ``[tool.pytest.ini_options]``): ``--mockai-seed`` / ``mockai_seed``,
``--mockai-strict`` / ``mockai_strict``, ``mockai_assert_all_called``, ``--mockai-no-journal`` /
``mockai_journal_report = false`` (no journal in failure reports), ``--mockai-record-mode`` and
``--mockai-upstream`` / ``mockai_upstream`` (cassettes: ``@pytest.mark.mockai(cassette=True)`` replays
``<test dir>/cassettes/<module>/<test>.json``). The seed defaults to one derived from the test's node id, so a
test's replies do not depend on test order, selection or xdist.

A test that uses both ``mockai`` and ``mockai_server`` gets one mock with two doors: the same rules, queue and
journal, in-process and over the socket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mockai import MockAI

TEST_KEY = "sk-mockai-test-key"
JOURNAL_CALLS = 20  # a failure report shows at most the last 20 calls…
JOURNAL_CHARS = 8 * 1024  # … in at most 8 KB
_call_failed = pytest.StashKey[bool]()
_mock = pytest.StashKey["MockAI"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockai", "mockai: a fake OpenAI chat completions API")
    group.addoption("--mockai-seed", type=int, default=None, metavar="N",
                    help="Seed every mockai fixture with N (default: derived from each test's node id).")
    group.addoption("--mockai-strict", action="store_true", default=None,
                    help="Fail requests that no scripted reply answers, instead of generating one.")
    parser.addini("mockai_seed", "Seed for every mockai fixture (default: derived from each test's node id).",
                  default=None)
    parser.addini("mockai_strict", "Fail requests that no scripted reply answers.", type="bool", default=False)
    parser.addini("mockai_assert_all_called", "Fail a test whose scripted replies were not all used.",
                  type="bool", default=True)
    group.addoption("--mockai-no-journal", action="store_true", default=False,
                    help="Leave the 'mockai journal' section (the calls the mock answered) out of failure reports.")
    parser.addini("mockai_journal_report", "Show the calls the mock answered in the report of a failed test.",
                  type="bool", default=True)
    group.addoption("--mockai-record-mode", default=None, choices=["none", "once", "new_episodes", "all"],
                    help="Record mode of every mockai cassette in this run, over markers (default: none, replay "
                         "only; new_episodes records what the cassette lacks; all records everything again).")
    group.addoption("--mockai-upstream", default=None, metavar="URL",
                    help="Base URL cassettes record from (default: https://api.openai.com/v1; any OpenAI-compatible "
                         "API). mockai_config and markers may set upstream= per test.")
    parser.addini("mockai_upstream", "Base URL cassettes record from (default: https://api.openai.com/v1).",
                  default=None)


def pytest_configure(config: pytest.Config) -> None:
    _ini_seed(config)  # a bad seed is one usage error at start-up, not an error in every test
    config.addinivalue_line(
        "markers",
        "mockai(**kwargs): configure the mockai fixtures; keyword arguments are MockAI's "
        "(seed, strict, assert_all_called, scenario, models, strict_models, api_key, base_urls, other_hosts, "
        "latency, faults, fault_header, rpm, tpm, …).",
    )


def _ini_seed(config: pytest.Config) -> int | None:
    value = config.getini("mockai_seed")
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"mockai_seed must be an integer, not {value!r} (mockai_seed = 42 in "
                                "[tool.pytest.ini_options], or -o mockai_seed=42, or --mockai-seed 42)") from None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    mock = item.stash.get(_mock, None)
    if report.when == "call":
        item.stash[_call_failed] = report.failed
        if report.failed and mock is not None:
            # Teardown stays quiet after a failure, but what mockai saw may explain it (an app that swallowed
            # the strict mode's 400 fails on `assert None`): show it with the failure.
            problems = mock.problems(unused=False) + [
                f"scripted code raised (the exception reached the code under test): {e}"
                for e in mock.callback_errors if e.raised] + _key_refused(mock)
            shown = report.longreprtext
            # Not again what the failure itself says (the exception of a miss or of strict mode, as raised).
            problems = [p for p in problems
                        if not all(line in shown for line in (p.splitlines()[1:] or [p]) if line)]
            if problems:
                report.sections.append(("mockai", "\n\n".join(problems)))
    if report.failed and mock is not None and report.when != "setup" and _journal_wanted(item.config):
        report.sections.append(("mockai journal", journal_report(mock)))
    return report


def _key_refused(mock: MockAI) -> list[str]:
    """Why requests got the real API's 401 for a wrong key, which (like the real one) names only the key sent."""
    expected = mock.engine.config.api_key
    refused = [c for c in mock.calls if c.status == 401 and c.error is not None
               and c.error.message.startswith("Incorrect API key provided")]
    if expected is None or not refused:
        return []
    shown = expected[:3] + "*" * 6 + expected[-4:] if len(expected) > 8 else "*" * len(expected)
    count = "1 request was" if len(refused) == 1 else f"{len(refused)} requests were"
    return [f"{count} refused with 401 invalid_api_key: this mock accepts only the key given as api_key= "
            f"({shown}, from MockAI(api_key=...), @pytest.mark.mockai(api_key=...) or mockai_config); the client "
            "sent another. Give the client that key (the mockai fixture's client() does), or leave api_key unset "
            "to accept any key."]


def _journal_wanted(config: pytest.Config) -> bool:
    return not config.getoption("--mockai-no-journal") and bool(config.getini("mockai_journal_report"))


def journal_report(mock: MockAI, calls: int = JOURNAL_CALLS, chars: int = JOURNAL_CHARS) -> str:
    """The "mockai journal" section of a failure report: the transcript of the last ``calls`` calls, in at most
    ``chars`` characters (it says what it left out), and how to see it all or turn it off."""
    text = mock.calls.transcript(last=calls, max_chars=chars)
    if len(mock.calls) > 0:
        text += "\n\n(all of it: mockai.calls.show(); leave this section out: --mockai-no-journal or " \
                "mockai_journal_report = false)"
    return text


@pytest.fixture
def mockai_config() -> dict[str, Any]:
    """Keyword arguments for the mockai fixtures; override it in a ``conftest.py`` to set a directory's defaults.

        @pytest.fixture
        def mockai_config():
            return {"strict": True, "models": ["gpt-4o-mini"], "strict_models": True}
    """
    return {}


def settings(request: pytest.FixtureRequest, overrides: dict[str, Any]) -> dict[str, Any]:
    """MockAI keyword arguments for this test: ini < command line < ``mockai_config`` < markers (closest last)."""
    return _settings(request, overrides)[0]


FIXTURE = "the mockai_config fixture"
MARKER = "@pytest.mark.mockai"


def _settings(request: pytest.FixtureRequest, overrides: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """:func:`settings`, and where each option the test's configuration gave came from (:data:`FIXTURE` or
    :data:`MARKER`), for error messages."""
    if not isinstance(overrides, Mapping):
        pytest.fail(f"{FIXTURE} must return a dict of MockAI options, e.g. `return {{\"strict\": True}}`; it "
                    f"returned {overrides!r}" + (" (is its `return` missing?)" if overrides is None else ""),
                    pytrace=False)
    config = request.config
    kwargs: dict[str, Any] = {}
    seed = config.getoption("--mockai-seed")
    if seed is None:
        seed = _ini_seed(config)
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(request.node.nodeid.encode()).digest()[:4], "big")
    kwargs["seed"] = seed
    strict = config.getoption("--mockai-strict")
    kwargs["strict"] = bool(config.getini("mockai_strict")) if strict is None else strict
    kwargs["assert_all_called"] = bool(config.getini("mockai_assert_all_called"))
    _check_names(overrides, f"{FIXTURE} returned")
    kwargs.update(overrides)
    origins = dict.fromkeys(overrides, FIXTURE)
    for marker in reversed(list(request.node.iter_markers("mockai"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.mockai takes keyword arguments only, e.g. mockai(seed=1)")
        _check_names(marker.kwargs, f"{MARKER} got")
        kwargs.update(marker.kwargs)
        origins.update(dict.fromkeys(marker.kwargs, MARKER))
    if kwargs.get("cassette") in (None, False):
        kwargs.pop("cassette", None)
    else:
        kwargs["cassette"] = _cassette_path(request, kwargs["cassette"])
        mode = config.getoption("--mockai-record-mode")
        if mode is not None:
            kwargs["record_mode"] = mode
        upstream = config.getoption("--mockai-upstream") or config.getini("mockai_upstream")
        if upstream and "upstream" not in kwargs:
            kwargs["upstream"] = upstream
    if "scenario" in kwargs:
        kwargs["scenario"] = _resolve(kwargs["scenario"], request.path.parent, origins.get("scenario", MARKER))
    return kwargs, origins


def _check_names(given: Mapping[str, Any], where: str) -> None:
    """Fail the test (not with a traceback from inside the plugin) on an argument MockAI does not take."""
    import inspect

    from mockai import MockAI
    from mockai.suggest import did_you_mean

    valid = list(inspect.signature(MockAI).parameters)
    for name in given:
        if name not in valid:
            pytest.fail(f"{where} an unknown argument {name!r}{did_you_mean(name, valid)} It takes MockAI's keyword "
                        f"arguments: {', '.join(valid)}.", pytrace=False)


@pytest.fixture
def mockai_cassette_dir(request: pytest.FixtureRequest) -> Path:
    """Where ``cassette=True`` (and relative cassette names) live: ``<test dir>/cassettes/<test module>``.
    Override it in a ``conftest.py`` to keep cassettes elsewhere."""
    return Path(request.path).parent / "cassettes" / Path(request.path).stem


def _cassette_path(request: pytest.FixtureRequest, cassette: Any) -> Path:
    """``True``: ``<mockai_cassette_dir>/<test name>.json``; a relative path: next to the test file if it exists
    there, else in ``mockai_cassette_dir``."""
    directory = Path(request.getfixturevalue("mockai_cassette_dir"))
    if cassette is True:
        name = "".join(c if c.isalnum() or c in "-_.[]" else "_" for c in request.node.name)
        return directory / f"{name}.json"
    path = Path(cassette)
    if path.is_absolute():
        return path
    beside = Path(request.path).parent / path
    return beside if beside.exists() else directory / path


def _api_key(mock: MockAI) -> str:
    """The key clients get: the mock's ``api_key`` or a test key, unless a cassette records (then the caller's
    real key is kept)."""
    import os

    cassette = mock.cassette
    if cassette is not None and cassette.recording and os.environ.get("OPENAI_API_KEY"):
        return os.environ["OPENAI_API_KEY"]
    return mock.engine.config.api_key or TEST_KEY


def _resolve(scenario: Any, base: Path, origin: str) -> Any:
    """Relative scenario paths are looked up next to the test file first, then in the current directory."""
    if isinstance(scenario, (str, Path)):
        path = Path(scenario)
        if path.is_absolute():
            return path
        if (base / path).exists():
            return base / path
        if not path.exists():
            pytest.fail(f"{origin} got scenario={str(scenario)!r}, and there is no such file: not next to the test "
                        f"file ({base / path}), nor in the current directory ({Path.cwd() / path}).", pytrace=False)
        return path
    if isinstance(scenario, (list, tuple)):
        return [_resolve(s, base, origin) for s in scenario]
    return scenario


def _bad_option(kwargs: dict[str, Any], origins: dict[str, str], exc: Exception) -> str:
    """The one-paragraph error for options MockAI refused: the option and where it was given, when MockAI refuses
    that option alone the same way, else every place options came from."""
    from mockai import MockAI

    for name, origin in origins.items():
        try:
            MockAI(**{name: kwargs[name]})
        except (TypeError, ValueError) as alone:
            if str(alone) == str(exc):
                return f"{origin} got a bad {name}={kwargs[name]!r}: {exc}"
    given = " and ".join(sorted(set(origins.values()))) or "the mockai options"
    return f"mockai could not be set up with the options of {given}: {exc}"


def _finish(request: pytest.FixtureRequest, mock: MockAI) -> None:
    __tracebackhide__ = True
    if request.node.stash.get(_call_failed, False):
        return  # the test already failed: what mockai saw is shown with it (pytest_runtest_makereport)
    problems = mock.problems()
    if any(not e.raised for e in mock.callback_errors):
        mock.verify()  # raises with the callback's exception as the cause, so its traceback shows
    if problems:
        pytest.fail("mockai: " + "\nmockai: ".join(problems), pytrace=False)


@pytest.fixture
def _mockai_instance(request: pytest.FixtureRequest, mockai_config: dict[str, Any]) -> Iterator[MockAI]:
    """The test's one :class:`mockai.MockAI`: ``mockai`` and ``mockai_server`` are two doors onto it."""
    from mockai import MockAI

    __tracebackhide__ = True
    kwargs, origins = _settings(request, mockai_config)
    refused: str | None = None
    try:
        mock = MockAI(**kwargs)
    except (TypeError, ValueError) as exc:
        refused = _bad_option(kwargs, origins, exc)
    if refused is not None:  # (failed outside the except block, so that no "During handling…" traceback shows)
        pytest.fail(refused, pytrace=False)
    request.node.stash[_mock] = mock
    yield mock
    _finish(request, mock)


@pytest.fixture
def mockai(request: pytest.FixtureRequest, _mockai_instance: MockAI,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MockAI]:
    """A :class:`mockai.MockAI` that intercepts requests to api.openai.com (and Azure, and ``base_urls``) for
    the test, in-process. At teardown the test fails on unused scripted replies or unexpected requests.

    ``OPENAI_API_KEY`` is set to the mock's ``api_key`` (or a test key). ``OPENAI_BASE_URL`` is removed, unless
    the test also uses ``mockai_server``: then it is the server's, and both fixtures are the same mock.
    """
    mock = _mockai_instance
    monkeypatch.setenv("OPENAI_API_KEY", _api_key(mock))
    if "mockai_server" not in request.fixturenames:
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def mockai_server(_mockai_instance: MockAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockAI]:
    """The test's :class:`mockai.MockAI`, served on 127.0.0.1 (a free port): ``mockai_server.base_url`` is
    ``http://127.0.0.1:PORT/v1``.

    ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` point at it, so subprocesses in any language find it. With the
    ``mockai`` fixture in the same test, it is the same mock (one script, one journal).
    """
    mock = _mockai_instance
    with mock.serve():
        monkeypatch.setenv("OPENAI_BASE_URL", mock.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", _api_key(mock))
        yield mock
