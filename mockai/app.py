"""The socket door's application: Starlette over the engine.

Every path goes to the engine, which does its own routing, so unknown URLs, wrong methods and oversized bodies
get OpenAI's error envelope rather than Starlette's plain-text pages; any exception that still escapes is
answered as the real API's 500 ``server_error``.

>>> from mockai.engine import Engine
>>> app = create_app(Engine())
"""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .engine import Engine, HTTPRequest, too_large
from .errors import APIError

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def create_app(engine: Engine, host: str = "127.0.0.1") -> Starlette:
    """A Starlette app that answers every request through ``engine``.

    The control API (``/_mockai/``) is served when ``engine.config.control`` is true, or when it is ``None`` and
    ``host`` is a loopback address or a control token is set.
    """
    control = engine.config.control
    if control is None:
        control = is_loopback(host) or engine.config.control_token is not None

    async def endpoint(request: Request) -> Response:
        if not control and request.url.path.startswith("/_mockai/"):
            return _send(engine.error_response(APIError(404, f"Invalid URL ({request.method} {request.url.path})")))
        limit = engine.config.max_body
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _send(engine.error_response(too_large(limit)))
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > limit:
                return _send(engine.error_response(too_large(limit)))
        http = HTTPRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=dict(request.headers),
            body=bytes(body),
        )
        return _send(engine.handle(http))

    async def crash(request: Request, exc: Exception) -> Response:
        err = APIError(500, "The server had an error while processing your request.", code="server_error")
        return _send(engine.error_response(err))

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)],
                    exception_handlers={Exception: crash})
    app.state.engine = engine
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _send(res: Any) -> Response:
    # No latency was asked for, so nothing obliges one write per event: the whole stream goes in one write.
    return Response(res.content(), status_code=res.status, headers=res.headers)
