"""The in-process door: an httpx transport that hands requests straight to the engine.

No sockets, no ports and no ASGI round trip, so a call costs little more than the client's own work. Timing
(latency, stalls between stream events) cannot be observed through this door: a stream arrives whole. Use the
socket door (:meth:`mockai.MockAI.serve`) to test timeouts and timing.

>>> import httpx
>>> from mockai.engine import Engine
>>> client = httpx.Client(transport=EngineTransport(Engine()), base_url="https://api.openai.com/v1")
>>> client.get("/models", headers={"authorization": "Bearer sk-test"}).status_code
200
"""

from __future__ import annotations

import httpx

from .engine import Engine, HTTPRequest, HTTPResponse


def to_engine(request: httpx.Request, body: bytes) -> HTTPRequest:
    return HTTPRequest(
        method=request.method,
        path=request.url.path,
        query=request.url.query.decode("ascii", "replace"),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw},
        body=body,
    )


def to_httpx(res: HTTPResponse, request: httpx.Request) -> httpx.Response:
    return httpx.Response(res.status, headers=res.headers, content=res.content(), request=request)


class EngineTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """One transport for sync and async httpx clients: ``httpx.Client(transport=EngineTransport(engine))``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return to_httpx(self.engine.handle(to_engine(request, request.read())), request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return to_httpx(self.engine.handle(to_engine(request, await request.aread())), request)
