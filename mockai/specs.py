"""Reply specs: what a test may script as an answer, checked when it is scripted (``mockai.rules.build`` turns
one into a :class:`~mockai.reply.Reply` when it is used).

Text, ``call(...)`` tool calls, ``error(...)``, a short-form dict (``{"content"|"tool_calls"|"json"|"refusal"|
"finish_reason": ...}``), a full ``chat.completion`` (dict or ``openai`` object), a :class:`~mockai.reply.Reply`,
a drawn stream, an exception to raise, or a callable of the request returning any of these.

>>> short_form({"json": {"ok": True}}).content
'{"ok":true}'
>>> reply_spec("Hello", refusal="No.")
Traceback (most recent call last):
...
ValueError: a refusal is sent instead of an answer (its content is null), so it cannot come with content
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import APIError
from .faults import Faulted
from .generate import compact
from .reply import FINISH_REASONS, Choice, Reply, ToolCall
from .shapes import DrawnStream, SplitReply
from .suggest import checked_keywords, closest

# What a test may give as a reply: text, a Reply, a tool call, an error, a full chat.completion (dict or an
# openai SDK object), a short-form dict ({"content"|"tool_calls"|"json"|"refusal"|"error": ...}), or a
# callable of the request returning any of these.
ReplySpec = Any

_MISSING: Any = object()


def call(name: str, arguments: Mapping[str, Any] | str | None = None, /, **kwargs: Any) -> ToolCall:
    """A tool call for a scripted reply: ``call("get_weather", city="Oslo")``.

    >>> call("get_weather", city="Oslo").arguments
    '{"city":"Oslo"}'
    """
    if isinstance(arguments, str):
        return ToolCall(name=name, arguments=arguments)
    return ToolCall(name=name, arguments=compact({**(arguments or {}), **kwargs}))


@checked_keywords
def error(status: int, message: str | None = None, *, code: str | None = None, type: str | None = None,
          param: str | None = None, headers: Mapping[str, str] | None = None) -> APIError:
    """An error reply in OpenAI's envelope: ``error(429, code="rate_limit_exceeded")``.

    >>> error(500).type
    'server_error'
    """
    return APIError(status, message or _DEFAULT_MESSAGES.get(status, f"Error {status}."), code=code, type=type,
                    param=param, headers=None if headers is None else header_fields(headers))


def header_fields(headers: Mapping[str, Any]) -> dict[str, str]:
    """Headers a scripted answer may carry, as they will be sent: a name is an HTTP token, a value text (a number
    is written as text) in Latin-1 without control characters. Anything else raises ``ValueError`` now, naming
    the header, rather than breaking the connection of the request it answers.

    >>> header_fields({"retry-after": 2, "x-note": "slow down"})
    {'retry-after': '2', 'x-note': 'slow down'}
    >>> header_fields({"x-note": "a\\nb"})
    Traceback (most recent call last):
    ...
    ValueError: header 'x-note': its value 'a\\nb' cannot be sent (a control character, or one beyond Latin-1)
    """
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"header name {name!r} cannot be sent: a name is letters, digits and !#$%&'*+-.^_`|~")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"header {name!r}: its value must be text or a number, not {type(value).__name__}")
        text = str(value)
        if _UNSENDABLE.search(text):
            raise ValueError(f"header {name!r}: its value {text!r} cannot be sent (a control character, or one beyond "
                             "Latin-1)")
        out[name] = text
    return out


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSENDABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")  # what uvicorn refuses, and past Latin-1


_DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to sample from this model.",
    404: "The model does not exist or you do not have access to it.",
    409: "The request conflicted with another request.",
    422: "The request could not be processed.",
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}


SHORT_FORM_FIELDS = ("content", "tool_calls", "json", "refusal", "finish_reason")


def short_form_fields(spec: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the fields of a short-form reply that are not known (and the nearest known
    one), and the combinations that cannot be sent together."""
    unknown = sorted(set(spec) - set(SHORT_FORM_FIELDS), key=str)
    if unknown:
        best = closest(str(unknown[0]), SHORT_FORM_FIELDS)
        hint = f" (did you mean {best!r}?)" if best else ""
        raise ValueError(f"unknown reply field(s) {unknown}{hint}; expected some of {sorted(SHORT_FORM_FIELDS)}")
    given = [k for k, present in (("content", spec.get("content") is not None), ("json", "json" in spec),
                                  ("tool_calls", bool(spec.get("tool_calls")))) if present]
    if "content" in given and "json" in given:
        raise ValueError("a reply takes content or json, not both: json is sent as the content (compact JSON)")
    if spec.get("refusal") is not None and given:
        raise ValueError(f"a refusal is sent instead of an answer (its content is null), so it cannot come with "
                         f"{' or '.join(given)}")


def short_form(spec: Mapping[str, Any]) -> Choice:
    """``{"content": ..., "tool_calls": [...], "json": ..., "refusal": ..., "finish_reason": ...}``.

    ``json`` is sent as the content, so it excludes ``content``; a ``refusal`` excludes both and ``tool_calls``.
    """
    short_form_fields(spec)
    content = spec.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError(f"a reply's content must be a string, not {type(content).__name__} (use json= for data)")
    if "json" in spec:
        content = compact(spec["json"])
    calls = [_tool_call(c) for c in spec.get("tool_calls") or []]
    refusal = spec.get("refusal")
    if refusal is not None and not isinstance(refusal, str):
        raise TypeError(f"a refusal must be a string, not {type(refusal).__name__}")
    finish = spec.get("finish_reason") or ("tool_calls" if calls else "stop")
    if finish not in FINISH_REASONS:
        raise ValueError(f"finish_reason {finish!r} is not one of {', '.join(FINISH_REASONS)}")
    if content is None and not calls and refusal is None:
        content = ""
    return Choice(content=content, tool_calls=calls, refusal=refusal, finish_reason=finish)


def _tool_call(item: Any) -> ToolCall:
    if isinstance(item, ToolCall):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        return call(item["name"], item.get("arguments") or {})
    raise TypeError(f"a tool call is call(name, **arguments) or {{'name': ..., 'arguments': {{...}}}}, not {item!r}")


def reply_spec(content: str | None = None, *, tool_calls: Sequence[ToolCall] | None = None, json: Any = _MISSING,
               refusal: str | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    """The short-form spec of :meth:`Rule.reply` and :meth:`mockai.MockAI.reply`, checked now."""
    spec: dict[str, Any] = {k: v for k, v in {"content": content, "refusal": refusal,
                                              "finish_reason": finish_reason}.items() if v is not None}
    if tool_calls is not None:
        spec["tool_calls"] = list(tool_calls)
    if json is not _MISSING:
        spec["json"] = json
    if not spec:
        raise ValueError("reply() needs content, tool_calls, json or refusal")
    short_form(spec)
    return spec


MODEL_REPLY_APIS = ("chat", "responses")


def spec_apis(spec: ReplySpec) -> tuple[str, ...] | None:
    """The APIs whose requests a reply spec can answer: ``("embeddings",)`` for vectors (:mod:`mockai.embeddings`),
    ``("moderations",)`` for moderation results (:mod:`mockai.moderations`), ``("chat", "responses")`` for the
    rest; ``None`` (any) for an error, an exception, a callable or a fault without a reply. A malformed vector or
    result raises here.

    >>> spec_apis("Hello"), spec_apis([0.6, 0.8]), spec_apis(error(429))
    (('chat', 'responses'), ('embeddings',), None)
    """
    if isinstance(spec, Faulted):
        spec = spec.reply
    if spec is None or isinstance(spec, BaseException) or (isinstance(spec, Mapping) and "error" in spec):
        return None
    if isinstance(spec, (str, Reply, ToolCall, DrawnStream, SplitReply)):
        return MODEL_REPLY_APIS
    if callable(spec):
        return None
    from . import embeddings, moderations  # surfaces above this module: imported when first asked

    if embeddings.takes(spec):
        return ("embeddings",)
    if moderations.takes(spec):
        return ("moderations",)
    return MODEL_REPLY_APIS


def answers(spec: ReplySpec, api: str) -> bool:
    """Whether a reply spec can answer a request of ``api`` (see :func:`spec_apis`)."""
    apis = spec_apis(spec)
    return apis is None or api in apis


def check_spec(spec: ReplySpec) -> None:
    """Raise now for a reply spec that could never be sent (what a callable returns is checked when it runs)."""
    if callable(spec) or isinstance(spec, (BaseException, str, Reply, ToolCall, DrawnStream, SplitReply, Faulted)):
        return
    if spec is not None and spec_apis(spec) != MODEL_REPLY_APIS:  # an embeddings or moderations reply, an error
        return
    if hasattr(spec, "model_dump") and not isinstance(spec, Mapping):
        return
    if isinstance(spec, Mapping):
        if "error" not in spec and "choices" not in spec and "output" not in spec:  # not a full reply
            short_form(spec)
        return
    raise TypeError(f"cannot reply with {type(spec).__name__}: {spec!r}; a reply is text, call(...), error(...), a "
                    "short-form dict ({'content': ...}), a chat.completion, a Responses response, a Reply, an "
                    "exception to raise, or a callable of the request returning one of these (for embeddings: a "
                    "vector or {'like': text}; for moderations: {'categories': [...]})")
