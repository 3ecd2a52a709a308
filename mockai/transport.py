"""The in-process door: an httpx transport that hands requests straight to the engine.

No sockets, no ports and no ASGI round trip, so a call costs little more than the client's own work. Timing
(latency, stalls between stream events) cannot be observed through this door: a stream arrives whole. Connection
faults become the errors a client would see: a reset is ``RemoteProtocolError`` before any response, a hang is
an immediate ``ReadTimeout``, a stream cut after k events yields those events and then raises
``RemoteProtocolError``. Use the socket door (:meth:`mockai.MockAI.serve`) to test real timing.

The functions here work for ``httpx`` and for its fork ``httpx2`` (which the ``openai`` SDK uses from version 3):
pass the module the request came from.

>>> import httpx
>>> from mockai.engine import Engine
>>> client = httpx.Client(transport=EngineTransport(Engine()), base_url="https://api.openai.com/v1")
>>> client.get("/models", headers={"authorization": "Bearer sk-test"}).status_code
200
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from .engine import ConnectionDropped, Engine, HTTPRequest, HTTPResponse


def to_engine(request: Any, body: bytes) -> HTTPRequest:
    """An ``httpx``/``httpx2`` request as the engine's :class:`HTTPRequest`."""
    query = request.url.query
    return HTTPRequest(
        method=request.method,
        path=request.url.path,
        query=query.decode("ascii", "replace") if isinstance(query, bytes) else str(query),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw},
        body=body,
    )


def to_response(module: Any, res: HTTPResponse, request: Any) -> Any:
    """The engine's answer as a ``module.Response`` (``httpx`` or ``httpx2``), faults included."""
    if res.live is not None:  # a recording proxy: opened here, read as the client reads
        try:
            status, headers, pieces = res.live.open()
        except ConnectionDropped:
            raise module.RemoteProtocolError("Server disconnected without sending a response. (mockai: the "
                                             "upstream dropped the connection)", request=request) from None
        return module.Response(status, headers=_without_length(headers),
                               stream=_live_stream_class(module)(pieces, request), request=request)
    d = res.delivery
    if d is not None:
        if d.reset:
            raise module.RemoteProtocolError("Server disconnected without sending a response. (mockai: reset fault)",
                                             request=request)
        if d.hang is not None:
            raise module.ReadTimeout("mockai: the server hung (hang fault; in-process the timeout is immediate)",
                                     request=request)
        if d.cut_after is not None:
            events = (res.events if res.events is not None else [res.body])[: d.cut_after]
            cls = _cut_stream_class(module)
            return module.Response(res.status, headers=_without_length(res.headers), stream=cls(events, request),
                                   request=request)
    return module.Response(res.status, headers=res.headers, content=res.content(), request=request)


async def to_response_async(module: Any, res: HTTPResponse, request: Any) -> Any:
    """:func:`to_response` for async clients: a live answer is opened and read without blocking the loop."""
    if res.live is None:
        return to_response(module, res, request)
    try:
        status, headers, pieces = await res.live.aopen()
    except ConnectionDropped:
        raise module.RemoteProtocolError("Server disconnected without sending a response. (mockai: the upstream "
                                         "dropped the connection)", request=request) from None
    return module.Response(status, headers=_without_length(headers),
                           stream=_live_stream_class(module)(pieces, request), request=request)


def _live_stream_class(module: Any) -> type:
    """A byte stream over a live source's pieces (sync or async); a dropped upstream is a dropped connection."""
    cls = _CUT_CLASSES.get("live:" + module.__name__)
    if cls is None:
        class LiveStream(module.SyncByteStream, module.AsyncByteStream):  # type: ignore[misc]
            def __init__(self, pieces: Any, request: Any) -> None:
                self.pieces, self.request = pieces, request

            def _dropped(self) -> Exception:
                return module.RemoteProtocolError(  # type: ignore[no-any-return]
                    "peer closed connection without sending complete message body (mockai: the upstream dropped "
                    "the connection)", request=self.request)

            def __iter__(self) -> Iterator[bytes]:
                try:
                    yield from self.pieces
                except ConnectionDropped:
                    raise self._dropped() from None

            async def __aiter__(self) -> AsyncIterator[bytes]:
                try:
                    async for piece in self.pieces:
                        yield piece
                except ConnectionDropped:
                    raise self._dropped() from None

            def close(self) -> None:
                close = getattr(self.pieces, "close", None)
                if close is not None:
                    close()

            async def aclose(self) -> None:
                close = getattr(self.pieces, "aclose", None)
                if close is not None:
                    await close()

        cls = _CUT_CLASSES["live:" + module.__name__] = LiveStream
    return cls


def _without_length(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != "content-length"}


_CUT_CLASSES: dict[str, type] = {}


def _cut_stream_class(module: Any) -> type:
    """A byte stream (sync and async) that yields some events, then fails as a dropped connection would."""
    cls = _CUT_CLASSES.get(module.__name__)
    if cls is None:
        class CutStream(module.SyncByteStream, module.AsyncByteStream):  # type: ignore[misc]
            def __init__(self, events: list[bytes], request: Any) -> None:
                self.events, self.request = events, request

            def __iter__(self) -> Iterator[bytes]:
                yield from self.events
                raise module.RemoteProtocolError(
                    "peer closed connection without sending complete message body (mockai: cut fault)",
                    request=self.request)

            async def __aiter__(self) -> AsyncIterator[bytes]:
                for event in self.events:
                    yield event
                raise module.RemoteProtocolError(
                    "peer closed connection without sending complete message body (mockai: cut fault)",
                    request=self.request)

        cls = _CUT_CLASSES[module.__name__] = CutStream
    return cls


class EngineTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """One transport for sync and async httpx clients: ``httpx.Client(transport=EngineTransport(engine))``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        res = self.engine.handle(to_engine(request, request.read()))
        return to_response(httpx, res, request)  # type: ignore[no-any-return]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        res = self.engine.handle(to_engine(request, await request.aread()))
        return await to_response_async(httpx, res, request)  # type: ignore[no-any-return]


def to_httpx(res: HTTPResponse, request: httpx.Request) -> httpx.Response:
    """The engine's answer as an ``httpx.Response`` (for respx side effects)."""
    return to_response(httpx, res, request)  # type: ignore[no-any-return]
