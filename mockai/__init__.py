"""mockai: a faithful, deterministic fake of OpenAI's API (chat completions, Responses, embeddings,
moderations) for tests.

>>> import mockai
>>> mock = mockai.MockAI(seed=1)
>>> mock.queue("Hello from the mock!")
>>> mock.client().chat.completions.create(
...     model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content
'Hello from the mock!'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import Call, Config, Engine, HTTPRequest, HTTPResponse
from .errors import APIError
from .faults import Fault, fault
from .journal import CallList
from .latency import Latency
from .mock import MockAI
from .ratelimit import Clock
from .reply import Choice, Reply, ToolCall
from .rules import Rule, call, error
from .scenario import ScenarioError, load_scenario

if TYPE_CHECKING:
    from .cassettes import Cassette, CassetteError, Matcher, Scrubber

__all__ = [
    "APIError",
    "Call",
    "CallList",
    "Cassette",
    "CassetteError",
    "Choice",
    "Clock",
    "Config",
    "Engine",
    "Fault",
    "HTTPRequest",
    "HTTPResponse",
    "Latency",
    "Matcher",
    "MockAI",
    "Reply",
    "Rule",
    "ScenarioError",
    "Scrubber",
    "ToolCall",
    "call",
    "error",
    "fault",
    "load_scenario",
]

_CASSETTE_NAMES = frozenset({"Cassette", "CassetteError", "Matcher", "Scrubber"})


def __getattr__(name: str) -> object:
    """Cassette names load on first use (recording needs httpx; plain ``import mockai`` stays light)."""
    if name in _CASSETTE_NAMES:
        from . import cassettes

        return getattr(cassettes, name)
    raise AttributeError(f"module 'mockai' has no attribute {name!r}")
