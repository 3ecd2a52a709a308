"""What a rule can match on, why it misses a request, and what each argument of ``on()`` takes.

>>> check_on({"has_tools": "yes"})
Traceback (most recent call last):
...
TypeError: on(has_tools=...) takes True or False, not str 'yes'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .prompt import Prompt

Text = str | re.Pattern[str]
# The APIs a rule can be kept to (what ``on(api=...)`` takes).
APIS = ("chat", "responses", "embeddings", "moderations")


def check_times(times: Any) -> None:
    if times is None:
        return
    if not isinstance(times, int) or isinstance(times, bool):
        raise TypeError(f"times must be a positive int, not {type(times).__name__} {times!r}")
    if times < 1:
        raise ValueError(f"times must be at least 1, not {times} (leave it out for no limit)")


_TEXT_TAKES = "a string (a case-insensitive substring) or a compiled regex (re.compile(...))"
# What each argument of on() takes: (a check of the value, how to say it).
_ON_ARGUMENTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": (lambda v: isinstance(v, (str, re.Pattern)), "a model name or a compiled regex (full match)"),
    "last_user": (lambda v: isinstance(v, (str, re.Pattern)), _TEXT_TAKES),
    "any_message": (lambda v: isinstance(v, (str, re.Pattern)), _TEXT_TAKES),
    "has_tools": (lambda v: isinstance(v, bool), "True or False"),
    "tool_result": (lambda v: isinstance(v, (str, bool)), "a function name, True (any tool result) or False"),
    "stream": (lambda v: isinstance(v, bool), "True or False"),
    "api": (lambda v: v in APIS, f"one of {', '.join(map(repr, APIS))}"),
    "where": (callable, "a callable of the validated request returning a bool"),
    "name": (lambda v: isinstance(v, str), "a string"),
}


def check_on(arguments: Mapping[str, Any]) -> None:
    """``TypeError``/``ValueError`` naming the argument of ``on()`` whose value it cannot take, and what it takes."""
    for key, value in arguments.items():
        if value is None:
            continue
        if key == "times":
            check_times(value)
            continue
        ok, takes = _ON_ARGUMENTS[key]
        if not ok(value):
            raise TypeError(f"on({key}=...) takes {takes}, not {type(value).__name__} {value!r}")
        if isinstance(value, re.Pattern) and not isinstance(value.pattern, str):
            raise TypeError(f"on({key}=...) takes a regex of str, not of bytes")


def _text_miss(what: str, text: str, want: Text) -> str | None:
    if isinstance(want, re.Pattern):
        return None if want.search(text) else f"{what} {clip(text)!r} does not match /{want.pattern}/"
    return None if want.lower() in text.lower() else f"{what} {clip(text)!r} does not contain {want!r}"


def clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _model_miss(prompt: Prompt, want: Text) -> str | None:
    if isinstance(want, re.Pattern):
        return None if want.fullmatch(prompt.model) else f"model {prompt.model!r} does not match /{want.pattern}/"
    return None if prompt.model == want else f"model is {prompt.model!r}, not {want!r}"


def _any_message_miss(prompt: Prompt, want: Text) -> str | None:
    if any(_text_miss("", t, want) is None for t in prompt.texts):
        return None
    return f"no message contains {want.pattern if isinstance(want, re.Pattern) else want!r}"


def _has_tools_miss(prompt: Prompt, want: bool) -> str | None:
    has = bool(prompt.tools)
    return None if has == want else ("no tools offered" if want else "tools offered")


def tool_result_name(prompt: Prompt) -> str | None:
    """The tool whose result is the last message, when the last message is a tool result ("" when no earlier
    call has its id)."""
    return prompt.tool_result


def _tool_result_miss(prompt: Prompt, want: str | bool) -> str | None:
    name = prompt.tool_result
    if want is False:
        return None if name is None else f"the last message is a result of {name!r}"
    if name is None:
        return "the last message is not a tool result"
    if want is True or name == want:
        return None
    return f"the last message is a result of {name!r}, not {want!r}"


def _stream_miss(prompt: Prompt, want: bool) -> str | None:
    return None if prompt.stream == want else f"stream is {prompt.stream}"


def _api_miss(prompt: Prompt, want: str) -> str | None:
    return None if prompt.api == want else f"the API is {prompt.api!r}, not {want!r}"


MATCHERS: dict[str, Callable[[Prompt, Any], str | None]] = {
    "model": _model_miss,
    "last_user": lambda p, w: _text_miss("the last user message", p.last_user_text, w),
    "any_message": _any_message_miss,
    "has_tools": _has_tools_miss,
    "tool_result": _tool_result_miss,
    "stream": _stream_miss,
    "api": _api_miss,
}
MATCHER_NAMES = tuple(MATCHERS)
