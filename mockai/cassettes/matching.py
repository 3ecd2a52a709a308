"""Matching a request to recorded interactions: by a key, so a lookup costs the same for 10 or 10,000 of them.

A :class:`Matcher` names the parts of a request that must agree (``method``, ``path``, ``query``, ``body``,
``model``, ``messages``, ``last_user`` (a chat body's last user message, a Responses body's ``input`` text),
``tools``, or callables of the :class:`CassetteRequest` returning any JSON-able value), keys of the body to
ignore (dotted JSON paths: ``user``, ``metadata``, ``temperature``), and patterns whose matches are normalised
away in every string of the body before comparing (regular expressions, or the presets ``uuid``, ``date``,
``time``, ``datetime``, ``hex``). ``stream`` and ``stream_options`` never take part: a recorded reply answers the
same request streamed or not. Whatever the matchers, a recording only answers a request to its own API
(:func:`api_of`: chat completions, the Responses API, ...): chat bytes never answer a Responses request.

>>> m = Matcher(on=["method", "path", "last_user"], normalize=["date"])
>>> def ask(path, text): return CassetteRequest("POST", path, body={"messages": [{"role": "user", "content": text}]})
>>> a, b = ask("/v1/chat/completions", "On 2024-01-02?"), ask("/chat/completions", "On 2025-12-31?")
>>> m.key(a) == m.key(b)
True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .scrub import edit_path, parse_path

STREAM_KEYS = ("stream", "stream_options")
NAMES = ("method", "path", "query", "body", "model", "messages", "last_user", "tools")
DEFAULT_ON = ("method", "path", "body")
PRESETS = {
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "datetime": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
    "date": r"\d{4}-\d{2}-\d{2}",
    "time": r"\b\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\b",
    "hex": r"\b[0-9a-fA-F]{16,}\b",
}
KeyFunction = Callable[["CassetteRequest"], Any]


@dataclass
class CassetteRequest:
    """A request as cassettes see it: the body is parsed JSON (already scrubbed when it comes from a file)."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def of(cls, recorded: Mapping[str, Any]) -> CassetteRequest:
        return cls(recorded.get("method", "POST"), recorded.get("path", ""), recorded.get("query", ""),
                   recorded.get("headers", {}), recorded.get("body"))

    @property
    def route(self) -> str:
        """The path without ``/v1`` or ``/openai/v1``, so both spellings match."""
        path = self.path.split("?", 1)[0].rstrip("/")
        for prefix in ("/openai/v1", "/v1"):
            if path.startswith(prefix + "/"):
                return path[len(prefix):]
        return path

    def describe(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        out = f"{self.method} {self.path}"
        if body.get("model"):
            out += f" model={body['model']!r}"
        out += f" last_user={_clip(last_user(body))!r}"
        if body.get("tools"):
            names = [(t.get("function") or {}).get("name") or t.get("name") or t.get("type")
                     for t in body["tools"] if isinstance(t, dict)]
            out += f" tools={names}"
        if body.get("stream"):
            out += " stream"
        return out


def api_of(path: str) -> str:
    """The API a request path is for: its first segment after ``/v1``, ``/openai/v1`` or Azure's
    ``/openai/deployments/NAME`` (``chat`` for ``/v1/chat/completions``, ``responses`` for ``/v1/responses`` and
    every route under it).

    >>> api_of("/v1/chat/completions"), api_of("/openai/deployments/gpt4/chat/completions"), api_of("/responses/r1")
    ('chat', 'chat', 'responses')
    """
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:2] == ["openai", "deployments"]:
        parts = parts[3:]
    elif parts[:2] == ["openai", "v1"]:
        parts = parts[2:]
    elif parts[:1] in (["v1"], ["openai"]):
        parts = parts[1:]
    return parts[0] if parts else ""


def last_user(body: Any) -> str:
    """The text of the last user message of a chat body, or of a Responses body's ``input`` (a string, or its
    last user message); "" when there is none."""
    messages: Any = None
    if isinstance(body, dict) and "messages" not in body and "input" in body:
        given = body["input"]
        if isinstance(given, str):
            return given
        if isinstance(given, list):
            messages = [i for i in given if isinstance(i, dict) and i.get("type", "message") == "message"]
    elif isinstance(body, dict):
        messages = body.get("messages")
    for msg in reversed(messages if isinstance(messages, list) else []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("text"))
    return ""


class Matcher:
    """Which parts of a request must agree with a recording; see the module docstring.

    >>> Matcher.of("method,path,messages").on
    ['method', 'path', 'messages']
    >>> Matcher.of({"ignore": ["user", "temperature"]}).describe()
    'method, path, body (ignoring user, temperature)'
    """

    def __init__(self, on: Sequence[str | KeyFunction] = DEFAULT_ON, ignore: Sequence[str] = (),
                 normalize: Sequence[str] = ()) -> None:
        for name in on:
            if isinstance(name, str) and name not in NAMES:
                raise ValueError(f"unknown matcher {name!r}; expected one of {', '.join(NAMES)} or a callable")
            if not isinstance(name, str) and not callable(name):
                raise TypeError(f"a matcher is a name or a callable, not {name!r}")
        if not on:
            raise ValueError("match_on needs at least one matcher")
        self.on = list(on)
        self.ignore = list(ignore)
        self.normalize = list(normalize)
        paths = [parse_path(p) for p in (*STREAM_KEYS, *self.ignore)]
        self._top = frozenset(str(t[0]) for t in paths if len(t) == 1 and t[0] != "*")
        self._nested = [t for t in paths if len(t) > 1 or t[0] == "*"]
        self._patterns = [re.compile(PRESETS.get(p, p)) for p in self.normalize]

    @classmethod
    def of(cls, spec: Matcher | str | Sequence[str | KeyFunction] | Mapping[str, Any] | KeyFunction | None
           ) -> Matcher:
        """A matcher from ``None`` (method, path, body), a comma-separated string, a list of names and
        callables, one callable, or a mapping of keyword arguments (``{"on": [...], "ignore": [...],
        "normalize": [...]}``, as in JSON and on the command line)."""
        if spec is None:
            return cls()
        if isinstance(spec, Matcher):
            return spec
        if isinstance(spec, str):
            return cls(on=[s.strip() for s in spec.split(",") if s.strip()])
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"on", "ignore", "normalize"}
            if unknown:
                raise ValueError(f"unknown match_on option(s) {sorted(unknown)}; expected on, ignore, normalize")
            on = spec.get("on", DEFAULT_ON)
            return cls(on=[s.strip() for s in on.split(",")] if isinstance(on, str) else list(on),
                       ignore=list(spec.get("ignore", ())), normalize=list(spec.get("normalize", ())))
        if callable(spec):
            return cls(on=[spec])
        return cls(on=list(spec))

    def describe(self) -> str:
        out = ", ".join(n if isinstance(n, str) else getattr(n, "__name__", repr(n)) for n in self.on)
        if self.ignore:
            out += f" (ignoring {', '.join(self.ignore)})"
        if self.normalize:
            out += f" (normalizing {', '.join(self.normalize)})"
        return out

    def _text(self, value: Any) -> Any:
        if not self._patterns:
            return value
        if isinstance(value, str):
            for pattern in self._patterns:
                value = pattern.sub("<~>", value)
            return value
        if isinstance(value, dict):
            return {k: self._text(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._text(v) for v in value]
        return value

    def body(self, req: CassetteRequest) -> Any:
        """The body as compared: without ``stream``/``stream_options`` and ignored keys, volatile text
        normalised."""
        body = req.body
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in self._top}
            if self._nested:
                body = json.loads(json.dumps(body))  # a private deep copy to prune
                for tokens in self._nested:
                    edit_path(body, tokens, delete=True)
        return self._text(body)

    def components(self, req: CassetteRequest) -> list[tuple[str, Any]]:
        """``(matcher name, value)`` for each matcher."""
        out: list[tuple[str, Any]] = []
        body: Any = None
        for name in self.on:
            if not isinstance(name, str):
                out.append((getattr(name, "__name__", "custom"), name(req)))
                continue
            if name in ("body", "model", "messages", "tools", "last_user") and body is None:
                body = self.body(req)
            if name == "method":
                out.append((name, req.method.upper()))
            elif name == "path":
                out.append((name, req.route))
            elif name == "query":
                out.append((name, "&".join(sorted(req.query.split("&"))) if req.query else ""))
            elif name == "body":
                out.append((name, body))
            elif name == "last_user":
                out.append((name, self._text(last_user(req.body))))
            else:
                out.append((name, body.get(name) if isinstance(body, dict) else None))
        return out

    def key(self, req: CassetteRequest) -> str:
        """A digest of :meth:`components` and of the request's API (:func:`api_of`): equal keys mean a match. A
        recording answers requests of its own API only, whatever the matchers: chat bytes never answer a
        Responses request, nor the reverse."""
        values = [api_of(req.path), *(v for _, v in self.components(req))]
        text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def explain(self, want: CassetteRequest, have: CassetteRequest) -> list[str]:
        """Why ``have`` (recorded) does not match ``want``: one line per failing matcher, empty when it does."""
        out = []
        apis = api_of(have.path), api_of(want.path)
        if apis[0] != apis[1] and "path" not in self.on:
            out.append(f"api differs: recorded {apis[0]!r}, got {apis[1]!r} (a recording answers its own API only)")
        for (name, a), (_, b) in zip(self.components(want), self.components(have), strict=True):
            if _canon(a) != _canon(b):
                if not isinstance(a, (dict, list)) and not isinstance(b, (dict, list)):  # a path, a model…
                    out.append(f"{name} differs: recorded {_clip(repr(b))}, got {_clip(repr(a))}")
                    continue
                where = difference(b, a)
                out.append(f"{name} differs" + (f" at {where}" if where else ""))
        return out


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def difference(recorded: Any, incoming: Any, path: str = "") -> str:
    """Where two JSON values first differ, readable: ``messages[0].content: recorded 'Hi', got 'Hello'``.

    >>> difference({"a": [1, 2]}, {"a": [1, 3]})
    'a[1]: recorded 2, got 3'
    """
    if isinstance(recorded, dict) and isinstance(incoming, dict):
        for key in sorted(set(recorded) | set(incoming), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in incoming:
                return f"{sub}: recorded {_clip(repr(recorded[key]))}, missing now"
            if key not in recorded:
                return f"{sub}: not recorded, now {_clip(repr(incoming[key]))}"
            found = difference(recorded[key], incoming[key], sub)
            if found:
                return found
        return ""
    if isinstance(recorded, list) and isinstance(incoming, list):
        for i, (a, b) in enumerate(zip(recorded, incoming, strict=False)):
            found = difference(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(recorded) != len(incoming):
            return f"{path or 'value'}: recorded {len(recorded)} items, got {len(incoming)}"
        return ""
    if _canon(recorded) != _canon(incoming):
        return f"{path or 'value'}: recorded {_clip(repr(recorded))}, got {_clip(repr(incoming))}"
    return ""


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
