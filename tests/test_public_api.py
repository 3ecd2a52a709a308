"""The public API is curated in mockai/__init__.py: this pins it, so a change to it is a decision, not an accident."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mockai

PUBLIC = [
    "APIError", "Call", "CallList", "Cassette", "CassetteError", "Choice", "Clock", "Config", "Engine", "Fault",
    "HTTPRequest", "HTTPResponse", "Latency", "Matcher", "MockAI", "Reply", "Rule", "ScenarioError", "Scrubber",
    "ToolCall", "call", "error", "fault", "load_scenario",
]


def test_all_is_pinned() -> None:
    assert sorted(mockai.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in PUBLIC:
        obj = getattr(mockai, name)
        assert (obj.__doc__ or "").strip(), f"mockai.{name} has no docstring"


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        mockai.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_import_mockai_stays_light() -> None:
    """Plain `import mockai` must not pull in the optional or door-specific heavy modules."""
    code = ("import sys, mockai; heavy = [m for m in ('hypothesis', 'openai', 'respx', 'uvicorn', 'faker', "
            "'mockai.strategies', 'mockai.cassettes', 'mockai.mock', 'mockai.scenario', 'mockai.responses.surface', "
            "'mockai.embeddings', 'mockai.moderations') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_type_checkers_see_the_names_loaded_on_first_use_and_refuse_misspellings(tmp_path: Path) -> None:
    """``mockai``, ``mockai.wire`` and ``mockai.cassettes`` load some names on first use (start-up time): mypy --strict
    still knows each of them by its type, and still refuses a name none of them has."""
    user = tmp_path / "user_code.py"
    user.write_text(textwrap.dedent("""
        from mockai import MockAI, MockAi
        from mockai.cassettes import Cassette, Casette
        from mockai.wire import ChatCompletion, ChatCompletoin, ChatCompletionRequest

        reveal_type(MockAI)
        reveal_type(Cassette)
        reveal_type(ChatCompletion)
        """))
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull,
                           str(user)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    errors = sorted(line.split("error: ", 1)[1] for line in done.stdout.splitlines() if ": error: " in line)
    assert errors == [
        'Module "mockai" has no attribute "MockAi"; maybe "MockAI"?  [attr-defined]',
        'Module "mockai.cassettes" has no attribute "Casette"; maybe "Cassette"?  [attr-defined]',
        'Module "mockai.wire" has no attribute "ChatCompletoin"; maybe "ChatCompletion"?  [attr-defined]',
    ], done.stdout
    revealed = [line.split("Revealed type is ", 1)[1] for line in done.stdout.splitlines() if "Revealed type" in line]
    assert [r.rsplit("-> ", 1)[-1].strip('"') for r in revealed] == [
        "mockai.mock.MockAI", "mockai.cassettes.cassette.Cassette", "mockai.wire_replies.ChatCompletion"]
