"""Scrubbing: secrets never reach a cassette file.

By default the headers ``Authorization``, ``api-key``, ``OpenAI-Organization``, ``OpenAI-Project``, ``Cookie``,
``Set-Cookie``, ``X-Api-Key``, ``Proxy-Authorization``, ``Ocp-Apim-Subscription-Key``, ``X-Goog-Api-Key`` and any
header whose name contains ``api-key``, ``apikey``, ``token``, ``secret`` or ``authorization`` (but not the
``x-ratelimit-*`` counts, such as ``x-ratelimit-remaining-tokens``) are replaced by ``REDACTED`` on requests and
responses; so is the value of every query parameter named ``key``, ``sig``, ``signature``, ``code`` or like
``api_key``, ``apikey``, ``api-key``, ``token``, ``access_token`` or ``secret``, in the query string and in any URL
in the recorded text. The literal text of every value scrubbed so (the bearer token, the ``api-key``, a query
parameter's value, raw and URL-encoded) is replaced wherever else it appears: bodies, stream events, other
headers, the query string. Users add their own rules: more headers, JSON paths in bodies
(``metadata.session``, ``messages[*].name``) and regular expressions (whole match, or ``(pattern, replacement)``).

The same rules are applied to an incoming request before it is matched, so a scrubbed field still matches.

>>> s = Scrubber(paths=["user"], patterns=[r"\\d{3}-\\d{4}"])
>>> s.clean_headers({"authorization": "Bearer sk-live-0123456789abcdef", "x-note": "call 555-1234"})
{'authorization': 'REDACTED', 'x-note': 'call REDACTED'}
>>> s.body({"user": "ada@example.com", "messages": [{"role": "user", "content": "555-1234"}]})
{'user': 'REDACTED', 'messages': [{'role': 'user', 'content': 'REDACTED'}]}
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from ..config import strings

REDACTED = "REDACTED"
SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie",
                  "x-api-key", "proxy-authorization", "ocp-apim-subscription-key", "x-goog-api-key")
SECRET_HEADER_PARTS = ("api-key", "apikey", "token", "secret", "authorization")
NOT_SECRET_PREFIXES = ("x-ratelimit-",)  # counts (x-ratelimit-remaining-tokens), not credentials
_SECRET_PARAM = r"[\w.~-]*(?:api[_-]?key|token|secret)|key|sig|signature|code"
_PARAM_NAME = re.compile(f"(?i:{_SECRET_PARAM})")
_PARAM_IN_URL = re.compile(f"(?i)([?&](?:{_SECRET_PARAM})=)[^&#\\s\"'<>]+")


def is_secret_header_name(name: str) -> bool:
    """A default secret header: one of :data:`SECRET_HEADERS`, or named like a credential.

    >>> [is_secret_header_name(n) for n in ("X-Session-Token", "x-ratelimit-remaining-tokens", "accept")]
    [True, False, False]
    """
    lower = name.lower()
    if lower in SECRET_HEADERS:
        return True
    return not lower.startswith(NOT_SECRET_PREFIXES) and any(part in lower for part in SECRET_HEADER_PARTS)


def is_secret_param(name: str) -> bool:
    """A query parameter whose value is scrubbed (``api_key``, ``access_token``, ``sig``…; any case)."""
    return _PARAM_NAME.fullmatch(name) is not None


def _forms(value: str) -> list[str]:
    """``value`` as it may appear elsewhere: itself and URL-encoded."""
    return [value, quote(value, safe=""), quote(value), quote_plus(value)]


def _credentials(name: str, value: str) -> list[str]:
    """The texts of a secret header's value: the whole, the token after a scheme, a basic auth's password,
    the cookies' values."""
    out = [value]
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if token and scheme.isalpha():
        out.append(token)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(token, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            out += [decoded, decoded.partition(":")[2]]
    lower = name.lower()
    if lower in ("cookie", "set-cookie"):
        pairs = value.split(";") if lower == "cookie" else value.split(";")[:1]
        out += [pair.partition("=")[2].strip() for pair in pairs]
    return out
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
        # A single string is one item, not its characters (each character a header, a path, a pattern).
        self.headers = strings("headers", self.headers, "a header name")
        self.paths = strings("paths", self.paths, "a JSON path")
        if isinstance(self.patterns, str):
            self.patterns = [self.patterns]
        self._headers = frozenset(h.lower() for h in self.headers)
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
            given = spec.get("patterns", ())
            given = [given] if isinstance(given, str) else given
            patterns = [p if isinstance(p, str) else (p[0], p[1]) for p in given]
            return cls(headers=spec.get("headers", ()), paths=spec.get("paths", ()), patterns=patterns,
                       replacement=spec.get("replacement", REDACTED))
        raise TypeError(f"scrub must be a Scrubber, a mapping or None, not {type(spec).__name__}")

    def to_json(self) -> dict[str, Any]:
        return {"headers": list(self.headers), "paths": list(self.paths),
                "patterns": [p if isinstance(p, str) else list(p) for p in self.patterns],
                "replacement": self.replacement}

    def secrets(self, headers: Mapping[str, str], query: str = "") -> list[str]:
        """The credentials in ``headers`` and ``query`` whose text must appear nowhere (raw and URL-encoded;
        long enough to be safe to replace)."""
        out = []
        for name, value in headers.items():
            if self.is_secret_header(name) and isinstance(value, str):
                for credential in _credentials(name, value):
                    out += _forms(credential)
        for part in query.split("&") if query else ():
            name, eq, raw = part.partition("=")
            if eq and raw and is_secret_param(unquote_plus(name)):
                out += [raw, *_forms(unquote_plus(raw))]
        skip = {REDACTED, self.replacement}
        return sorted({s for s in out if len(s) >= 8 and s not in skip}, key=len, reverse=True)

    def query(self, query: str, secrets: Iterable[str] = ()) -> str:
        """A query string with the values of secret parameters (and ``secrets``, and the patterns) replaced."""
        if not query:
            return query
        return self.text(_PARAM_IN_URL.sub(self._param, "?" + query)[1:], secrets)

    def _param(self, m: re.Match[str]) -> str:
        return m.group(1) + self.replacement

    def text(self, text: str, secrets: Iterable[str] = ()) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, self.replacement)
        if "=" in text:  # secret query parameters of URLs in the text
            text = _PARAM_IN_URL.sub(self._param, text)
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
        return {k: self.replacement if self.is_secret_header(k) else self.text(v, secrets)
                for k, v in headers.items()}

    def is_secret_header(self, name: str) -> bool:
        return name.lower() in self._headers or is_secret_header_name(name)

    def interaction(self, inter: dict[str, Any], secrets: Sequence[str] = ()) -> dict[str, Any]:
        """A scrubbed copy of a whole interaction (request and response, headers, bodies and events)."""
        req, res = dict(inter.get("request", {})), dict(inter.get("response", {}))
        query = req["query"] if isinstance(req.get("query"), str) else ""
        found = [*self.secrets(req.get("headers", {}), query), *self.secrets(res.get("headers", {}))]
        secrets = sorted({*secrets, *found}, key=len, reverse=True)
        if "headers" in req:
            req["headers"] = self.clean_headers(req["headers"], secrets)
        if "body" in req:
            req["body"] = self.body(req["body"], secrets)
        if isinstance(req.get("query"), str):
            req["query"] = self.query(req["query"], secrets)
        if isinstance(req.get("path"), str):
            req["path"] = self.text(req["path"], secrets)
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
