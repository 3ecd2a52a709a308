"""What a door hands the engine and gets back: a request, a response, and how the response travels.

Every door (the in-process httpx transport, the socket, a recording proxy) speaks these, so the engine never
touches an HTTP framework.

>>> HTTPResponse(200, {"content-type": "application/json"}, body=b'{"ok": true}').json()
{'ok': True}
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

try:  # the fast encoder where the platform has it (a default dependency on CPython); the same JSON without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - PyPy and other platforms without an orjson wheel
    _orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, the way every reply body and event is written.

    orjson where installed (what makes a reply cheap to write), else the standard library: the same JSON, and the
    same text but for how some floats are spelled (``1e-05`` or ``1e-5``). Values orjson refuses (integers past
    64 bits, keys that are not strings) fall back to the standard library.

    >>> dumps({"a": [1, "é", None]})
    b'{"a":[1,"\xc3\xa9",null]}'
    """
    if _orjson is not None:
        try:
            # A copy: orjson's own bytes object keeps a 4 KiB buffer whatever its length, and memos and the
            # journal keep these for a long time.
            return memoryview(_orjson.dumps(value)).tobytes()
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def scratch_dumps(value: Any) -> bytes:
    """:func:`dumps`, for bytes joined into others at once (an event's frame, a body's parts): without the copy
    that keeps a long-lived result small, so never keep what this returns.

    >>> b"data: " + scratch_dumps({"a": 1}) + b"\\n\\n"
    b'data: {"a":1}\\n\\n'
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(value)
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(raw: bytes) -> Any:
    """``json.loads(raw)``: the same value, or the same error, faster where orjson is sure to read what the standard
    library reads (UTF-8 without a byte order mark, no integer of 19 digits or more, which orjson would read as a
    float, and nesting shallower than the standard library's recursion limit).

    >>> loads(b'{"a": [1, 2.5, "text"]}'), loads(b"123456789012345678901234567890")
    ({'a': [1, 2.5, 'text']}, 123456789012345678901234567890)
    """
    if (_orjson is not None and _LONG_INTEGER not in raw.translate(_DIGITS)
            and raw.count(b"[") + raw.count(b"{") < _NESTING):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass  # the standard library raises its own error, or reads what orjson refuses (NaN, a BOM, UTF-16)
    return json.loads(raw)


def sorted_dumps(value: Any) -> bytes:
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()``, to the byte (ids
    are digests of it), faster with orjson where the two cannot differ: orjson spells some floats otherwise
    (``0.00001`` for ``1e-05``) and writes NaN as ``null``, so text with a number that has a fraction or an
    exponent, or a ``null``, is written by the standard library.

    >>> sorted_dumps({"b": [1, "é"], "a": None})
    b'{"a":null,"b":[1,"\xc3\xa9"]}'
    """
    if _orjson is not None:
        try:
            text = _orjson.dumps(value, option=_orjson.OPT_SORT_KEYS)
        except TypeError:  # integers past 64 bits, keys that are not strings, surrogates: the standard library's
            text = None
        if text is not None and b"null" not in text and not _UNSURE_NUMBER.search(text):  # (two scans: faster)
            return text
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


# 19 digits in a row, found in the text with every digit written as 0 and every other byte as a space (a
# regex's search for \d{19} takes three times as long).
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_INTEGER = b"0" * 19
_NESTING = 512  # brackets in a body read by orjson: below both parsers' depth limits, however they nest
_UNSURE_NUMBER = re.compile(rb"[0-9][.eE]")


@dataclass
class HTTPRequest:
    """A request as any door received it. Header names are lower-case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Delivery:
    """How a response travels, beyond its bytes: timing and connection faults.

    The socket door honours all of it. The in-process door has no wire and no clock: it raises the error a
    client would see for ``reset``, ``hang`` and ``cut_after`` (``httpx.RemoteProtocolError`` /
    ``httpx.ReadTimeout``) and ignores timing and fragmentation. The ASGI app under a server other than uvicorn
    (or ``httpx.ASGITransport``) cannot drop a connection: there those three raise ``ConnectionAbortedError``.
    """

    delay: float = 0.0  # seconds before anything is sent (time to first byte; the whole delay of a JSON reply)
    gaps: Sequence[float] | None = None  # seconds before each event after the first (a stream)
    reset: bool = False  # drop the connection (TCP reset) before sending any response
    hang: float | None = None  # send nothing for this long (bounded), then drop the connection
    cut_after: int | None = None  # send this many events, then drop the connection: no [DONE]
    fragments: Sequence[int] | None = None  # write the bytes in pieces of these sizes (cycled), not event-aligned
    fragment_pause: float = 0.001  # seconds between fragments (uvloop's timers count whole milliseconds)

    @property
    def plain(self) -> bool:
        """Nothing to do beyond sending the bytes in one write."""
        return (not self.delay and not self.gaps and not self.reset and self.hang is None
                and self.cut_after is None and not self.fragments)


def sent_part(res: HTTPResponse, sent: int) -> HTTPResponse:
    """``res`` as far as its first ``sent`` bytes of body: the whole events among them, then the part of the next
    one; the delivery says the connection ended there. ``sent`` -1: not even the head was sent, so no status
    either (0, as for a connection reset before any answer).

    >>> res = HTTPResponse(200, {}, events=[b"data: 1\\n\\n", b"data: 2\\n\\n"])
    >>> sent_part(res, 13).events
    [b'data: 1\\n\\n', b'data']
    """
    d = dataclasses.replace(res.delivery or Delivery(), cut_after=None)
    if sent < 0:
        return dataclasses.replace(res, status=0, headers={}, body=b"", events=None,
                                   delivery=dataclasses.replace(d, cut_after=0))
    if res.events is None:
        return dataclasses.replace(res, body=res.body[:sent], delivery=dataclasses.replace(d, cut_after=0))
    events: list[bytes] = []
    left = sent
    for event in res.events:
        if left <= 0:
            break
        events.append(event[:left])
        left -= len(event)
    return dataclasses.replace(res, events=events, delivery=dataclasses.replace(d, cut_after=len(events)))


class ConnectionDropped(Exception):
    """A live source lost its connection (before the response, or mid-body): the door drops its own too."""


class LiveSource(Protocol):
    """A response produced while it is sent: ``(status, headers, pieces)``, sync or async.

    Iterating the pieces may raise :class:`ConnectionDropped`; so may opening, when nothing arrived at all.
    """

    def open(self) -> tuple[int, dict[str, str], Iterator[bytes]]: ...

    async def aopen(self) -> tuple[int, dict[str, str], AsyncIterator[bytes]]: ...


@dataclass
class HTTPResponse:
    """An answer: a JSON body, or (``events`` not ``None``) a server-sent event stream."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    events: list[bytes] | None = None
    delivery: Delivery | None = None
    # An answer that arrives while it is being sent (a recording proxy): the door opens it and forwards each
    # piece as it comes; status, headers and body above are filled in once it has finished.
    live: LiveSource | None = None

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    def content(self) -> bytes:
        return b"".join(self.events) if self.events is not None else self.body

    def json(self) -> Any:
        return json.loads(self.body)
