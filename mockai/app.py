"""The socket door's application: Starlette over the engine.

Every path goes to the engine, which does its own routing, so unknown URLs, wrong methods and oversized bodies
get OpenAI's error envelope rather than Starlette's plain-text pages; any exception that still escapes is
answered as the real API's 500 ``server_error``. A response's :class:`~mockai.engine.Delivery` (latency, stalls,
cut streams, resets, fragmented writes) is carried out here, on the real connection.

>>> from mockai.engine import Engine
>>> app = create_app(Engine())
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ipaddress
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .access import AccessLog, LoggedEndpoint
from .engine import ConnectionDropped, Delivery, Engine, HTTPRequest, HTTPResponse, too_large
from .errors import APIError

_INLINE_BODY = 256 * 1024  # bodies larger than this are answered in a worker thread
# Words in a body that make its answer cost real CPU, even from a few hundred bytes: a schema to fill (structured
# outputs, tools, functions: up to the model's output limit, see mockai.schema), many choices, logprobs. An
# escaped key ("sch\u0065ma") is JSON too, so any escape counts.
_HEAVY = re.compile(rb'"schema"|"parameters"|"n"|"logprobs"|\\u')
TRANSPORT_KEY = "mockai.transport"


class MockApp(Starlette):
    """Starlette, with the engine's door in front: every HTTP request goes straight to :class:`Door` (the engine
    does its own routing, so Starlette's router and middleware would only cost time); other scopes (lifespan)
    are Starlette's."""

    door: Door | LoggedEndpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[TRANSPORT_KEY] = getattr(send, "__self__", None)  # uvicorn's RequestResponseCycle
            try:
                await self.door(scope, receive, send)
            finally:  # the cycle holds the scope: a reference cycle, left for the garbage collector otherwise
                del scope[TRANSPORT_KEY]
            return
        await super().__call__(scope, receive, send)


def create_app(engine: Engine, host: str = "127.0.0.1", workers: int = 1, access_log: AccessLog | None = None
               ) -> Starlette:
    """A Starlette app that answers every request through ``engine``; with ``access_log``, one log line per
    request (:mod:`mockai.access`).

    The control API (``/_mockai/``) is served when ``engine.config.control`` is true, or when it is ``None`` and
    ``host`` is a loopback address or a control token is set. With ``workers`` processes on one port it is off
    unless they share one state (``engine.config.state``: :mod:`mockai.shared`).
    """
    control = engine.config.control
    if control is None:
        control = is_loopback(host) or engine.config.control_token is not None
    why_not = ""  # off because of where it listens: say no more than any unknown URL would
    if workers > 1 and engine.shared is None:
        control = False
        why_not = f": the control API is off, each of the {workers} workers has its own rules and journal"

    def sent_only(res: HTTPResponse, sent: int, why: str) -> None:
        """A stream ended early: the journal keeps what was sent, and open inspector pages are told."""
        call = engine.sent_only(res, sent, why)
        if call is not None and engine.shared is not None:
            if why == "stopped":  # the loop is ending: nothing else waits on it, and a thread might not finish
                engine.amend_shared(call)
            else:  # a store that is slow to answer must not stall every other connection of this process
                asyncio.get_running_loop().run_in_executor(None, engine.amend_shared, call)
        if call is not None:
            from .inspector import Feed

            feed = Feed.existing(engine)
            if feed is not None:
                feed.amended(call)

    async def endpoint(scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        if not control and path.startswith("/_mockai/"):
            return _send(engine.error_response(APIError(404, f"Invalid URL ({scope['method']} {path}){why_not}")))
        # Straight from the ASGI scope: Starlette's URL and Headers objects cost more than the engine's work.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        limit = engine.config.max_body
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _send(engine.error_response(too_large(limit)))
        body = await _read_body(receive, limit)
        if body is None:
            return _send(engine.error_response(too_large(limit)))
        if isinstance(body, Response):
            return body
        http = HTTPRequest(method=scope["method"], path=path, query=scope["query_string"].decode("latin-1"),
                           headers=headers, body=body)
        if heavy(http.body, path):  # keep the event loop, and every other client, free while it is made
            return _send(await run_in_threadpool(engine.handle, http), sent_only)
        if engine.shared is not None:  # its round trips awaited, and shared with other requests
            return _send(await engine.handle_async(http), sent_only)
        return _send(engine.handle(http), sent_only)

    async def crash(scope: Scope, receive: Receive, send: Send) -> bool:
        """Send the 500 envelope; false when the response had already started (the connection must then be
        dropped, as the server does for any app that fails mid-response)."""
        err = APIError(500, "The server had an error while processing your request.", code="server_error")
        try:
            await _send(engine.error_response(err))(scope, receive, send)
        except Exception:
            return False
        return True

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # A shared state's connections opened on this event loop (Redis's asyncio client) close on it, before it
        # ends: left open, closing the loop fails.
        backend = getattr(engine.shared, "backend", None)
        if backend is not None:
            await backend.aclose()

    app = MockApp(lifespan=lifespan)
    app.door = Door(endpoint, crash) if access_log is None else LoggedEndpoint(endpoint, crash, access_log)
    app.state.engine = engine
    return app


async def _read_body(receive: Receive, limit: int) -> bytes | Response | None:
    """The request's body; ``None`` once it passes ``limit`` bytes, or an empty 400 when the client left
    mid-upload (nobody to answer, nothing to log)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        return Response(status_code=400)
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the whole body in one message
        return body if len(body) <= limit else None
    parts = bytearray(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Response(status_code=400)
        parts += message.get("body", b"")
        if len(parts) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(parts)


Endpoint = Callable[[Scope, Receive], Awaitable[Response]]
Crash = Callable[[Scope, Receive, Send], Awaitable[bool]]
ERRORS = logging.getLogger("mockai.errors")


class Door:
    """The ASGI door onto the engine: ``endpoint`` makes the response, which is then sent; an exception that
    escapes is answered as the real API's 500 ``server_error`` (``crash``) and logged with its traceback on the
    ``mockai.errors`` logger, the connection kept; raised again (the server then drops the connection) when the
    response had already started."""

    def __init__(self, endpoint: Endpoint, crash: Crash) -> None:
        self.endpoint = endpoint
        self.crash = crash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.endpoint(scope, receive)
            await response(scope, receive, send)
        except Exception:
            if not await self.crash(scope, receive, send):
                raise
            ERRORS.exception("mockai: %s %s failed; answered 500 server_error", scope["method"], scope["path"])


def heavy(body: bytes, path: str = "") -> bool:
    """The answer to this body may take long to make: it is answered in a worker thread, not on the event loop.
    Every embeddings request is: its cost is in its inputs, not its bytes (a vector takes about a millisecond to
    make and write, and 2,048 short strings, 40 kB, take seconds).

    >>> heavy(b'{"model": "m", "messages": [{"role": "user", "content": "Hi"}]}'), heavy(b'{"n": 128}')
    (False, True)
    >>> heavy(b'{"model": "text-embedding-3-small", "input": "a"}', "/v1/embeddings")
    True
    """
    return path.rstrip("/").endswith("/embeddings") or len(body) > _INLINE_BODY or _HEAVY.search(body) is not None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Told when an answer stopped before all of it was sent: the answer, the bytes sent, and why ("client": the client
# left; "stopped": the server stopped meanwhile). The engine's journal then keeps only what was sent.
SentOnly = Callable[[HTTPResponse, int, str], None]


def _send(res: HTTPResponse, sent_only: SentOnly | None = None) -> Response:
    if res.live is not None:
        return LiveResponse(res)
    if res.delivery is None or res.delivery.plain:
        # No timing was asked for, so nothing obliges one write per event: the whole reply goes in one write.
        return PlainResponse(res)
    return DeliveredResponse(res, res.delivery, sent_only)


class PlainResponse(Response):
    """An engine response sent whole: on uvicorn's httptools server, head and body in one ``write`` (a system
    call fewer per request than ASGI's two messages, each of which uvicorn writes at once); elsewhere, as
    Starlette's :class:`~starlette.responses.Response` sends it. The bytes on the wire are the same either way."""

    sent_at_once = True  # one call, no pause: the request log times it around the call (mockai.access)

    def __init__(self, res: HTTPResponse) -> None:  # Starlette's __init__ encodes the headers: only when needed
        self.status_code = res.status
        self.body = self.whole = res.content()
        self.background = None
        self.source_headers = res.headers

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] | None = self.__dict__.get("_raw_headers")
        if raw is None:
            self.init_headers(self.source_headers)  # Starlette's encoding, made once (it sets raw_headers)
            raw = self.__dict__["_raw_headers"]
        return raw

    @raw_headers.setter
    def raw_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        self.__dict__["_raw_headers"] = value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not write_whole(scope.get(TRANSPORT_KEY), send, self.status_code, self.source_headers, self.whole):
            await super().__call__(scope, receive, send)


try:  # uvicorn's httptools protocol, whose cycle write_whole can complete by itself
    from uvicorn.protocols.http import httptools_impl as _httptools
except ImportError:  # pragma: no cover - httptools not installed: uvicorn runs on h11, and ASGI sends everything
    _httptools = None  # type: ignore[assignment]
_Cycle = None if _httptools is None else _httptools.RequestResponseCycle
_ASGI_ONLY = frozenset({"content-length", "transfer-encoding", "connection"})  # headers uvicorn acts on


def _server_lines(default: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's own headers (``server``, ``date``) as it writes them; uvicorn makes a new list each second."""
    global _last_server_lines
    known, lines = _last_server_lines
    if known is not default:
        lines = b"".join(name.lower() + b": " + value + b"\r\n" for name, value in default)
        _last_server_lines = (default, lines)
    return lines


_last_server_lines: tuple[object, bytes] = (None, b"")
_LINES: dict[tuple[str, str], bytes] = {}  # header lines already checked and encoded, by (name, value)
_KEPT_LINES = 256


def _sends_for(cycle: Any, send: Send) -> bool:
    """``send`` is the very ``send`` of uvicorn's httptools ``cycle``."""
    return _Cycle is not None and type(cycle) is _Cycle and getattr(send, "__self__", None) is cycle


def write_whole(cycle: Any, send: Send, status: int, headers: dict[str, str], body: bytes) -> bool:
    """Send a whole response in one write on uvicorn's httptools connection ``cycle``, doing what its ``send``
    does for ASGI's start and final body messages, to the byte; false (nothing done) where that cannot be sure:
    another server or protocol, a wrapped ``send`` (the request log's), HEAD, a status without a body, a header
    uvicorn would act on or refuse, a paused or closed connection."""
    if (not _sends_for(cycle, send) or status < 200 or status in (204, 304) or status not in _httptools.STATUS_LINE):
        return False
    try:
        if (cycle.response_started or cycle.disconnected or cycle.flow.write_paused or cycle.access_log
                or cycle.scope["method"] == "HEAD"):
            return False
        parts = [_httptools.STATUS_LINE[status], _server_lines(cycle.default_headers)]
        for pair in headers.items():
            line = _LINES.get(pair)
            if line is None:
                key, text = pair
                name = key.lower().encode("latin-1")
                value = text.encode("latin-1")
                if (key.lower() in _ASGI_ONLY or _httptools.HEADER_RE.search(name)
                        or _httptools.HEADER_VALUE_RE.search(value)):
                    return False
                line = name + b": " + value + b"\r\n"
                if len(_LINES) < _KEPT_LINES:  # the first ones seen: the headers every answer sends
                    _LINES[pair] = line
            parts.append(line)
        parts.append(b"content-length: %d\r\n" % len(body))
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        cycle.transport.write(b"".join(parts))
    except (AttributeError, TypeError, UnicodeEncodeError):  # another uvicorn, or a header Starlette's path refuses
        return False  # (that path then raises the error itself)
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True


class DeliveredResponse(Response):
    """Sends an engine response as its :class:`Delivery` says: delays, per-event writes, faults."""

    dropped: str | None = None  # why the connection ended early, for the request log: reset, hang, cut, client

    def __init__(self, res: HTTPResponse, delivery: Delivery, sent_only: SentOnly | None = None) -> None:
        super().__init__(None, status_code=res.status, headers=res.headers)
        self.res = res
        self.delivery = delivery
        self.sent_only = sent_only
        self.sent = -1  # bytes of the body handed to the server so far; -1 until the head is sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        d = self.delivery
        cycle = scope.get(TRANSPORT_KEY)
        if d.reset:
            self.dropped = "reset"
            _drop(cycle, reset=True)
            return
        # The client may leave during a pause (uvicorn then drops our writes silently): stop at once, so a
        # departed client leaves no task, timer or buffer behind.
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await self._deliver(d, cycle, send, gone)
        except asyncio.CancelledError:  # the server is stopping (its graceful wait ran out): the rest is never sent
            self._sent_only("stopped")
            raise
        finally:
            gone.cancel()
        if self.dropped == "client":
            self._sent_only("client")

    def _sent_only(self, why: str) -> None:
        if self.delivery.hang is not None:  # the hang fault already says nothing was sent
            return
        if self.sent_only is not None and self.sent < len(self.res.content()):
            self.sent_only(self.res, self.sent, why)

    async def _deliver(self, d: Delivery, cycle: Any, send: Send, gone: asyncio.Future[None]) -> None:
        async def pause(seconds: float) -> bool:
            """Wait; true when the client left meanwhile."""
            if not gone.done():
                await asyncio.wait([gone], timeout=seconds)
            left = gone.done() or bool(getattr(cycle, "disconnected", False))
            if left:
                self.dropped = "client"
            return left

        if d.hang is not None:
            if not await pause(d.hang):
                self.dropped = "hang"
                _drop(cycle, reset=False)
            return
        if d.delay and await pause(d.delay):
            return
        events = self.res.events if self.res.events is not None else [self.res.body]
        cut = d.cut_after is not None
        if d.cut_after is not None:
            events = events[: d.cut_after]
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.res.headers.items()
                   if k.lower() != "content-length"]
        if self.res.events is None and not cut:
            headers.append((b"content-length", str(len(self.res.body)).encode()))
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        self.sent = 0
        for piece in _pieces(events, d):
            if isinstance(piece, float):
                if await pause(piece):
                    return
                continue
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            self.sent += len(piece)
        if cut:
            # Give the last writes a moment to leave, then drop the connection without the final chunk.
            if not await pause(0.01):
                self.dropped = "cut"
                _drop(cycle, reset=False)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (or the response is complete)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class LiveResponse(Response):
    """Forwards a live source (a recording proxy's upstream) piece by piece, as it arrives; a dropped upstream
    connection drops the client's."""

    dropped: str | None = None  # for the request log: "upstream" when the live source's connection dropped

    def __init__(self, res: HTTPResponse) -> None:
        super().__init__(None, status_code=200)
        self.res = res

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.res.live is not None
        cycle = scope.get(TRANSPORT_KEY)
        try:
            status, head, pieces = await self.res.live.aopen()
        except ConnectionDropped:
            self.dropped = "upstream"
            _drop(cycle, reset=True)
            return
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head.items()
                   if k.lower() not in ("content-length", "transfer-encoding")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if getattr(self.res.live, "endless", False):
            await self._follow(pieces, receive, send)
            return
        try:
            async for piece in pieces:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        except ConnectionDropped:
            self.dropped = "upstream"
            await asyncio.sleep(0.01)
            _drop(cycle, reset=False)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _follow(self, pieces: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
        """An endless source (the inspector's feed, ``/_mockai/events``): forward its pieces until the client
        leaves (uvicorn drops writes to a departed client silently), then close it."""
        gone = asyncio.ensure_future(_disconnected(receive))
        step: asyncio.Future[bytes] | None = None
        try:
            while True:
                step = asyncio.ensure_future(pieces.__anext__())
                await asyncio.wait([step, gone], return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    self.dropped = "client"
                    return
                try:
                    piece = step.result()
                except StopAsyncIteration:
                    break
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        finally:
            gone.cancel()
            if step is not None and not step.done():  # the generator is inside this step: stop it there first
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
            aclose = getattr(pieces, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _pieces(events: list[bytes], d: Delivery) -> Iterator[bytes | float]:
    """The writes to make, with the pauses between them (floats, in seconds).

    Fragments (``d.fragments``) cut the bytes anywhere, across events too, but the event gaps (latency, a
    stall) still hold: a write never spans an event boundary that has a pause, and the pause comes before the
    event's first fragment.
    """
    gaps = list(d.gaps or [])

    def gap(index: int) -> float:
        return gaps[min(index - 1, len(gaps) - 1)] if index and gaps else 0.0

    if d.fragments:
        data = b"".join(events)
        sizes = list(d.fragments)
        pauses: dict[int, float] = {}  # byte offset of an event's start -> the pause before it
        offset = 0
        for index, event in enumerate(events):
            if gap(index) > 0:
                pauses[offset] = gap(index)
            offset += len(event)
        stops = sorted(pauses)
        i = k = left = 0
        while i < len(data):
            if left <= 0:
                left = max(1, sizes[k % len(sizes)])
                k += 1
            end = min(i + left, len(data))
            at = bisect.bisect_right(stops, i)
            if at < len(stops) and stops[at] < end:
                end = stops[at]  # the rest of this fragment waits for the event's gap
            yield data[i:end]
            left -= end - i
            i = end
            # a pause after each write, so separate writes reach the client as separate reads
            yield pauses.get(i) or d.fragment_pause
        return
    for index, event in enumerate(events):
        pause = gap(index)
        if pause > 0:
            yield pause
        yield event


def _drop(cycle: Any, *, reset: bool) -> None:
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("mockai: cannot drop this connection (not served by uvicorn)")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send a TCP RST instead of a FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    cycle.disconnected = True  # so uvicorn does not try to answer on the connection we just dropped
