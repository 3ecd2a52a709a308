"""The public API is curated in mockai/__init__.py: this pins it, so a change to it is a decision, not an accident."""

from __future__ import annotations

import subprocess
import sys

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
