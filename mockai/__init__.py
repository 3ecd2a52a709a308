"""mockai: a faithful, deterministic fake of OpenAI's chat completions API for tests.

>>> import mockai
>>> engine = mockai.Engine(mockai.Config(seed=1))
"""

from __future__ import annotations

from .engine import Call, Config, Engine, HTTPRequest, HTTPResponse
from .errors import APIError
from .reply import Choice, Reply, ToolCall

__all__ = [
    "APIError",
    "Call",
    "Choice",
    "Config",
    "Engine",
    "HTTPRequest",
    "HTTPResponse",
    "Reply",
    "ToolCall",
]
