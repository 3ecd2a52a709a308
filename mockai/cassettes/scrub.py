"""Scrubbing: secrets never reach a cassette file.

By default the headers ``Authorization``, ``api-key``, ``OpenAI-Organization``, ``OpenAI-Project``, ``Cookie`` and
``Set-Cookie`` are replaced by ``REDACTED`` on requests and responses, and the literal text of every credential
the caller sent (the bearer token, the ``api-key``) is replaced wherever else it appears: bodies, stream events,
other headers, the query string. Users add their own rules: more headers, JSON paths in bodies
(``metadata.session``, ``messages[*].name``) and regular expressions (whole match, or ``(pattern, replacement)``).

The same rules are applied to an incoming request before it is matched, so a scrubbed field still matches.

>>> s = Scrubber(paths=["user"], patterns=[r"\\d{3}-\\d{4}"])
>>> s.clean_headers({"authorization": "Bearer sk-live-0123456789abcdef", "x-note": "call 555-1234"})
{'authorization': 'REDACTED', 'x-note': 'call REDACTED'}
>>> s.body({"user": "ada@example.com", "messages": [{"role": "user", "content": "555-1234"}]})
{'user': 'REDACTED', 'messages': [{'role': 'user', 'content': 'REDACTED'}]}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

REDACTED = "REDACTED"
SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie")
_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\*|-?\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """``"messages[*].content"`` -> ``["messages", "*", "content"]``; a leading ``$.`` is allowed.

    >>> parse_path("$.metadata.session")
    ['metadata', 'session']
    >>> parse_path("messages[0].content")
    ['messages', 0, 'content']
    """
    text = path[2:] if path.startswith("$.") else path.lstrip("$")
    out: list[str | int] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break
        pos = m.end()
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            out.append("*" if m.group(2) == "*" else int(m.group(2)))
    if pos != len(text) or not out:
        raise ValueError(f"not a JSON path: {path!r} (expected e.g. 'user', 'metadata.id', 'messages[*].content')")
    return out


def edit_path(value: Any, tokens: Sequence[str | int], replace: Any = None, *, delete: bool = False) -> None:
    """Replace (or delete) what ``tokens`` points at inside ``value``, in place; ``"*"`` is every item or key."""
    if not tokens:
        return
    head, rest = tokens[0], tokens[1:]
    if isinstance(value, dict):
        keys = list(value) if head == "*" else [head] if head in value else []
    elif isinstance(value, list):
        if head == "*":
            keys = list(range(len(value)))
        elif isinstance(head, int) and -len(value) <= head < len(value):
            keys = [head]
        else:
            keys = []
    else:
        return
    for key in reversed(keys):
        if rest:
            edit_path(value[key], rest, replace, delete=delete)
        elif delete:
            del value[key]
        else:
            value[key] = replace


@dataclass
class Scrubber:
    """What to hide besides the default secret headers and the caller's credentials; see the module docstring.

    ``patterns`` are regular expressions whose matches become ``replacement``, or ``(pattern, replacement)``.
    """

    headers: Sequence[str] = ()
    paths: Sequence[str] = ()
    patterns: Sequence[str | tuple[str, str]] = ()
    replacement: str = REDACTED
    _headers: frozenset[str] = field(init=False, repr=False)
    _paths: list[list[str | int]] = field(init=False, repr=False)
    _patterns: list[tuple[re.Pattern[str], str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._headers = frozenset(h.lower() for h in (*SECRET_HEADERS, *self.headers))
        self._paths = [parse_path(p) for p in self.paths]
        self._patterns = []
        for p in self.patterns:
            pattern, repl = (p, self.replacement) if isinstance(p, str) else (p[0], p[1])
            self._patterns.append((re.compile(pattern), repl))

    @classmethod
    def of(cls, spec: Scrubber | Mapping[str, Any] | None) -> Scrubber:
        """``None`` (defaults only), a :class:`Scrubber`, or its keyword arguments as a mapping (JSON/CLI)."""
        if spec is None:
            return cls()
        if isinstance(spec, Scrubber):
            return spec
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"headers", "paths", "patterns", "replacement"}
            if unknown:
                raise ValueError(f"unknown scrub option(s) {sorted(unknown)}; expected headers, paths, patterns, "
                                 "replacement")
            patterns = [p if isinstance(p, str) else (p[0], p[1]) for p in spec.get("patterns", ())]
            return cls(headers=list(spec.get("headers", ())), paths=list(spec.get("paths", ())), patterns=patterns,
                       replacement=spec.get("replacement", REDACTED))
        raise TypeError(f"scrub must be a Scrubber, a mapping or None, not {type(spec).__name__}")

    def to_json(self) -> dict[str, Any]:
        return {"headers": list(self.headers), "paths": list(self.paths),
                "patterns": [p if isinstance(p, str) else list(p) for p in self.patterns],
                "replacement": self.replacement}

    def secrets(self, headers: Mapping[str, str]) -> list[str]:
        """The credentials in ``headers`` whose text must appear nowhere (long enough to be safe to replace)."""
        out = []
        for name, value in headers.items():
            if name.lower() in self._headers:
                out.append(value)
                scheme, _, token = value.partition(" ")
                if token.strip() and scheme.lower() in ("bearer", "basic"):
                    out.append(token.strip())
        return sorted({s for s in out if len(s) >= 8}, key=len, reverse=True)

    def text(self, text: str, secrets: Iterable[str] = ()) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, self.replacement)
        for pattern, repl in self._patterns:
            text = pattern.sub(repl, text)
        return text

    def value(self, value: Any, secrets: Sequence[str] = ()) -> Any:
        """``value`` (any JSON) with the patterns and secrets replaced in every string, keys included."""
        if isinstance(value, str):
            return self.text(value, secrets)
        if isinstance(value, dict):
            return {self.text(k, secrets): self.value(v, secrets) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, secrets) for v in value]
        return value

    def body(self, body: Any, secrets: Sequence[str] = ()) -> Any:
        """A scrubbed copy of a JSON body: the paths replaced, then :meth:`value`."""
        out = self.value(body, secrets)  # containers always come back as copies
        for tokens in self._paths:
            edit_path(out, tokens, self.replacement)
        return out

    def clean_headers(self, headers: Mapping[str, str], secrets: Sequence[str] = ()) -> dict[str, str]:
        secrets = list(secrets) or self.secrets(headers)
        return {k: self.replacement if k.lower() in self._headers else self.text(v, secrets)
                for k, v in headers.items()}

    def is_secret_header(self, name: str) -> bool:
        return name.lower() in self._headers

    def interaction(self, inter: dict[str, Any], secrets: Sequence[str] = ()) -> dict[str, Any]:
        """A scrubbed copy of a whole interaction (request and response, headers, bodies and events)."""
        req, res = dict(inter.get("request", {})), dict(inter.get("response", {}))
        secrets = sorted({*secrets, *self.secrets(req.get("headers", {}))}, key=len, reverse=True)
        if "headers" in req:
            req["headers"] = self.clean_headers(req["headers"], secrets)
        if "body" in req:
            req["body"] = self.body(req["body"], secrets)
        for key in ("query", "path"):
            if isinstance(req.get(key), str):
                req[key] = self.text(req[key], secrets)
        if "headers" in res:
            res["headers"] = self.clean_headers(res["headers"], secrets)
        if "body" in res:
            res["body"] = self.body(res["body"], secrets)
        if isinstance(res.get("text"), str):
            res["text"] = self.text(res["text"], secrets)
        if "events" in res:
            events = []
            for event in res["events"]:
                event = dict(event)
                if "data" in event:
                    event["data"] = self.body(event["data"], secrets)
                if "raw" in event:
                    event["raw"] = self.text(event["raw"], secrets)
                events.append(event)
            res["events"] = events
        return {**inter, "request": req, "response": res}
