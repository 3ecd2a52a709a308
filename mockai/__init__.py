"""mockai: a faithful, deterministic fake of OpenAI's chat completions API for tests.

>>> import mockai
>>> mock = mockai.MockAI(seed=1)
>>> mock.queue("Hello from the mock!")
>>> mock.client().chat.completions.create(
...     model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content
'Hello from the mock!'
"""

from __future__ import annotations

from .engine import Call, Config, Engine, HTTPRequest, HTTPResponse
from .errors import APIError
from .journal import CallList
from .mock import MockAI
from .reply import Choice, Reply, ToolCall
from .rules import Rule, call, error
from .scenario import ScenarioError, load_scenario

__all__ = [
    "APIError",
    "Call",
    "CallList",
    "Choice",
    "Config",
    "Engine",
    "HTTPRequest",
    "HTTPResponse",
    "MockAI",
    "Reply",
    "Rule",
    "ScenarioError",
    "ToolCall",
    "call",
    "error",
    "load_scenario",
]
