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
from .faults import Fault, fault
from .journal import CallList
from .latency import Latency
from .mock import MockAI
from .ratelimit import Clock
from .reply import Choice, Reply, ToolCall
from .rules import Rule, call, error
from .scenario import ScenarioError, load_scenario

__all__ = [
    "APIError",
    "Call",
    "CallList",
    "Choice",
    "Clock",
    "Config",
    "Engine",
    "Fault",
    "HTTPRequest",
    "HTTPResponse",
    "Latency",
    "MockAI",
    "Reply",
    "Rule",
    "ScenarioError",
    "ToolCall",
    "call",
    "error",
    "fault",
    "load_scenario",
]
