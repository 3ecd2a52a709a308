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
from .ratelimit import Clock
from .reply import Choice, Reply, ToolCall
from .rules import Rule, call, error

if TYPE_CHECKING:
    from .cassettes import Cassette, CassetteError, Matcher, Scrubber
    from .mock import MockAI
    from .scenario import ScenarioError, load_scenario

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

# Loaded on first use, so that ``import mockai`` (and ``mockai serve``, which starts by importing it) stays light:
# cassettes need httpx, the mock and scenarios their own models.
_LATER = {"Cassette": "cassettes", "CassetteError": "cassettes", "Matcher": "cassettes", "Scrubber": "cassettes",
          "MockAI": "mock", "ScenarioError": "scenario", "load_scenario": "scenario"}


if not TYPE_CHECKING:  # (type checkers read the imports above, and so still refuse a misspelled name)
    from .lazy import on_first_use as _on_first_use

    __getattr__, __dir__ = _on_first_use(globals(), _LATER)
