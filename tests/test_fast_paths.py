"""The paths taken for speed give exactly what the general ones give: orjson where it reads and writes what the
standard library does (:func:`mockai.http.loads`, :func:`mockai.http.sorted_dumps`, whose output ids are digests
of), and the socket door's one-write responses (:func:`mockai.app.write_whole`), byte for byte on the wire."""

from __future__ import annotations

import json
import math
import socket
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockai import MockAI
from mockai import app as door
from mockai.errors import APIError
from mockai.http import loads, sorted_dumps

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats() | st.text())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)
NUMBER_TEXTS = st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True)


def outcome(read: Any, raw: bytes) -> tuple[str, str]:
    """What reading ``raw`` gives: the value's repr (types, key order and float spelling included) or the error's
    type."""
    try:
        return "value", repr(read(raw))
    except Exception as exc:
        return "error", type(exc).__name__


@settings(max_examples=400)
@given(VALUES, st.booleans())
def test_loads_reads_what_json_loads_reads(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert outcome(loads, raw) == outcome(json.loads, raw)


@settings(max_examples=400)
@given(NUMBER_TEXTS)
@example("123456789012345678901234567890")  # past 64 bits: orjson would read a float
@example("-9223372036854775809")
@example("1E400")
def test_loads_reads_numbers_as_json_loads_does(text: str) -> None:
    for raw in (text.encode(), b'{"n": [%s]}' % text.encode()):
        assert outcome(loads, raw) == outcome(json.loads, raw)


@settings(max_examples=400)
@given(st.binary(max_size=40) | st.text(max_size=20).map(lambda t: ('"' + t + '"').encode("utf-8", "surrogatepass")))
@example(b'\xef\xbb\xbf{"a": 1}')  # a byte order mark
@example(b'"\\ud83d"')  # a lone surrogate, escaped
@example(b'"\xed\xa0\xbd"')  # a surrogate encoded in UTF-8 bytes
@example(b'[NaN, Infinity, -Infinity]')
@example('{"a": 1}'.encode("utf-16"))
@example(b'{"a": 1, "b": 2, "a": 3}')
def test_loads_accepts_and_refuses_what_json_loads_does(raw: bytes) -> None:
    assert outcome(loads, raw) == outcome(json.loads, raw)


def plain_parse_json(raw: bytes) -> Any:
    """mockai.validation.parse_json as it was before its one-scan fast path: the reference it must match."""
    import re

    from mockai.validation import check_unicode, unparsable_json

    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise unparsable_json() from None
    utf8 = json.detect_encoding(raw).startswith("utf-8")
    if utf8 and re.search(rb"\xed[\xa0-\xbf]", raw):
        raise unparsable_json()
    if not utf8 or re.search(rb"\\u[dD][89a-fA-F]", raw):
        check_unicode(body)
    return body


def api_outcome(read: Any, raw: bytes) -> tuple[str, str]:
    try:
        return "value", repr(read(raw))
    except APIError as err:
        return "error", repr(err.envelope())


@settings(max_examples=400)
@given(st.binary(max_size=40)
       | st.text(max_size=20).map(lambda t: ('{"a": "' + t + '"}').encode("utf-8", "surrogatepass"))
       | VALUES.map(lambda v: json.dumps({"v": v}).encode()))
@example(b'{"a": "\\ud83d"}')  # a lone surrogate, escaped
@example(b'{"a": "\xed\xa0\xbd"}')  # a surrogate encoded in UTF-8 bytes
@example(b'{"a": "\\ud83d\\ude00"}')  # a pair: fine
@example('{"a": "\ud83d"}'.encode("utf-16", "surrogatepass"))
@example(b'\xef\xbb\xbf{"a": 1}')
@example(b'{"')
def test_parse_json_answers_what_the_plain_reading_answers(raw: bytes) -> None:
    from mockai.validation import parse_json

    assert api_outcome(parse_json, raw) == api_outcome(plain_parse_json, raw)


KEYS = st.sampled_from(["model", "messages", "stream", "stream_options", "user", "n", "a", "zz", "\u00e9", "~"])


@settings(max_examples=400)
@given(st.dictionaries(KEYS | st.text(max_size=4), VALUES, max_size=6),
       st.frozensets(KEYS | st.text(max_size=4), max_size=4))
@example({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}, frozenset({"stream"}))
@example({"stream": True}, frozenset({"stream"}))
@example({"model": "m", "stream": True, "zz": 1}, frozenset({"stream"}))  # a kept key after "stream"
@example({"model": "m", "stream": True, "n": 1}, frozenset({"stream", "n"}))
@example({"model": "m", "stream": True, "user": "u"}, frozenset({"user"}))  # stream kept, another dropped
@example({"model": "m", "stream": 1}, frozenset({"stream"}))
@example({"a": 1.5, "zz": None}, frozenset({"zz"}))
def test_canonical_keys_are_the_two_canonical_keys(body: dict[str, Any], drop: frozenset[str]) -> None:
    from mockai.keys import canonical_key, canonical_keys

    assert canonical_keys(body, drop) == (canonical_key(body, drop), canonical_key(body))


def test_loads_refuses_deep_nesting_as_json_loads_does() -> None:
    for depth in (400, 1_000, 1_100, 100_000):
        raw = b"[" * depth + b"]" * depth
        assert outcome(loads, raw) == outcome(json.loads, raw)


def stdlib_sorted(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8",
                                                                                              "surrogatepass")


@settings(max_examples=500)
@given(VALUES)
@example({"b": 1, "a": [1e-05, 1e16, 0.1, -0.0]})
@example({"x": math.nan, "y": math.inf})
@example({"\U0001f600": 1, "\uffff": 2, "z": 3, "é": None})
@example({"t": "\x00\x1f\x7f\u2028\"\\"})
def test_sorted_dumps_writes_what_json_dumps_writes(value: Any) -> None:
    try:
        want: bytes | str = stdlib_sorted(value)
    except ValueError as exc:  # not reachable from a parsed body; both must refuse it alike
        want = type(exc).__name__
    try:
        got: bytes | str = sorted_dumps(value)
    except ValueError as exc:
        got = type(exc).__name__
    assert got == want


def test_ordinary_bodies_take_the_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without this, the tests above would pass with the fast paths never taken."""
    import mockai.http

    class NoStdlib:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"json.{name} was used")

    monkeypatch.setattr(mockai.http, "json", NoStdlib())
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi \xc3\xa9 #12"}], "n": 2}'
    value = loads(body)
    assert sorted_dumps(value) == (b'{"messages":[{"content":"Hi \xc3\xa9 #12","role":"user"}],'
                                   b'"model":"gpt-4o-mini","n":2}')


# --- the socket door's one-write responses ----------------------------------------------------------------------


def raw_exchange(port: int, requests: list[bytes]) -> bytes:
    """Send ``requests`` on one connection, one after the other, and return everything read back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        received = b""
        for request in requests:
            sock.sendall(request)
            received += read_response(sock)
        return received


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def post(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Authorization: Bearer sk-test",
             "Content-Type: application/json",
             f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"date: "))


CHAT = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'
CASES = {
    "json": [post("/v1/chat/completions", CHAT)],
    "stream": [post("/v1/chat/completions", CHAT[:-1] + b', "stream": true}')],
    "errors": [post("/v1/chat/completions", b"{"), post("/v1/nowhere", b"{}"),
               post("/v1/chat/completions", CHAT).replace(b"Authorization: Bearer sk-test\r\n", b"")],
    "two on one connection": [post("/v1/chat/completions", CHAT),
                              post("/v1/embeddings", b'{"model": "text-embedding-3-small", "input": "a"}')],
    "connection: close": [post("/v1/chat/completions", CHAT, "Connection: close")],
    "HTTP/1.0": [post("/v1/chat/completions", CHAT).replace(b"HTTP/1.1", b"HTTP/1.0", 1)],
    "scripted headers": [post("/v1/chat/completions", CHAT)],
    "a header uvicorn refuses": [post("/v1/chat/completions", CHAT)],
    "HEAD": [b"HEAD /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n\r\n"],
}


SCRIPTED = {"scripted headers": {"retry-after": "1", "x-scripted": "yes"},
            "a header uvicorn refuses": {"x-bad": "a\x01b"}}


def served_bytes(case: str) -> bytes:
    """What a fresh server (same seed, frozen clock) sends back for the case's requests."""
    with MockAI(seed=3, clock=1_700_000_000) as mock, mock.serve() as server:
        if case in SCRIPTED:  # (straight to APIError: error() refuses what uvicorn would refuse, when scripted)
            mock.on().respond(lambda _request, h=SCRIPTED[case]: APIError(429, "Slow down", headers=h))
        return raw_exchange(server.port, CASES[case])


@pytest.mark.parametrize("case", list(CASES))
def test_a_response_written_whole_is_the_asgi_bytes(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    real = door.write_whole

    def counted(*args: Any) -> bool:
        taken.append(real(*args))
        return taken[-1]

    monkeypatch.setattr(door, "write_whole", counted)
    fast = served_bytes(case)
    monkeypatch.setattr(door, "_Cycle", None)  # uvicorn's own send for every response
    slow = served_bytes(case)
    assert without_date(fast) == without_date(slow)
    if case == "a header uvicorn refuses":  # refused once the response has started: the connection is dropped
        assert fast == b""
    else:
        assert fast.startswith(b"HTTP/1.1 ")
    if case in ("HEAD", "a header uvicorn refuses"):
        assert True not in taken, "the ASGI path should have answered"
    else:
        assert taken[: len(CASES[case])] == [True] * len(CASES[case]), "the one-write path was not taken"


def test_with_the_request_log_on_a_response_is_still_written_whole(monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """``mockai serve`` logs each request at its default level (``info``): the log times a plain answer around the
    door's one write, instead of wrapping the server's ``send`` (which made it two writes), and says the same."""
    import logging

    taken: list[bool] = []
    real = door.write_whole
    monkeypatch.setattr(door, "write_whole", lambda *args: taken.append(real(*args)) or taken[-1])
    caplog.set_level(logging.INFO, logger="mockai.access")
    requests = CASES["two on one connection"] + CASES["stream"] + CASES["errors"][:1]
    with MockAI(seed=3, clock=1_700_000_000) as mock, mock.serve(log_level="info") as server:
        got = raw_exchange(server.port, requests)
    assert got.count(b"HTTP/1.1 ") == len(requests)
    assert taken == [True] * len(requests), "the one-write path was not taken"
    fields = [r.mockai for r in caplog.records if r.name == "mockai.access"]  # type: ignore[attr-defined]
    assert [(f["status"], f["stream"], "error" in f) for f in fields] == [
        (200, False, False), (200, False, False), (200, True, False), (400, False, True)]
    for f in fields:
        assert "dropped" not in f
        assert 0 <= f["ttfb_ms"] <= f["total_ms"]


def test_the_door_leaves_no_reference_cycle_behind() -> None:
    """uvicorn's cycle holds the request's scope; the door puts the cycle in the scope while it answers, and must
    take it out again, or every request leaves a cycle of objects that only the garbage collector can free."""
    import asyncio
    import gc
    import weakref

    from mockai.engine import Engine

    app = door.create_app(Engine())

    class Cycle:  # stands in for uvicorn's RequestResponseCycle: it keeps the scope, and sends
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope
            self.sent: list[dict[str, Any]] = []

        async def send(self, message: dict[str, Any]) -> None:
            self.sent.append(message)

        async def receive(self) -> dict[str, Any]:
            return {"type": "http.request", "body": CHAT, "more_body": False}

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"",
                             "headers": [(b"authorization", b"Bearer sk-test")]}
    cycle = Cycle(scope)
    asyncio.run(app(scope, cycle.receive, cycle.send))
    assert cycle.sent[0]["status"] == 200
    assert door.TRANSPORT_KEY not in scope
    gone = weakref.ref(cycle)
    gc.disable()
    try:
        del cycle, scope
        assert gone() is None, "the cycle outlived its request: only the collector could free it"
    finally:
        gc.enable()


def test_a_plain_responses_headers_are_starlettes_made_once() -> None:
    from starlette.responses import Response

    from mockai.http import HTTPResponse

    res = HTTPResponse(429, {"retry-after": "1", "content-type": "application/json"}, body=b"{}")
    plain = door.PlainResponse(res)
    assert plain.raw_headers == Response(b"{}", status_code=429, headers=res.headers).raw_headers
    assert plain.raw_headers is plain.raw_headers
    plain.headers["x-added"] = "yes"  # Starlette's MutableHeaders edits the same list
    assert (b"x-added", b"yes") in plain.raw_headers
