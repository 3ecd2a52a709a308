"""Patch mode: intercept the requests that clients built elsewhere (the code under test) send to OpenAI.

The ``openai`` SDK sends through ``httpx`` or, from version 3, its fork ``httpx2``; both keep their network
behind ``HTTPTransport.handle_request`` / ``AsyncHTTPTransport.handle_async_request``. While a :class:`Patcher`
is active those methods answer requests for the intercepted hosts from the engine. Other hosts fail with a
clear error (``other_hosts="fail"``, the default, so nothing leaks to the network) or go out as usual
(``"pass"``); requests to mockai's own servers (:meth:`mockai.MockAI.serve`, the ``mockai_server`` fixture) always
go through to them. For respx users, :meth:`mockai.MockAI.respx_side_effect` plugs into a respx route instead.

>>> from mockai.engine import Engine
>>> patcher = Patcher(Engine(), hosts=["api.openai.com"])
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from .engine import Engine, HTTPRequest
from .server import serves
from .transport import to_engine, to_response, to_response_async

AZURE_HOSTS = re.compile(r"(.+\.)?openai\.azure\.com")
DEFAULT_HOSTS = ("api.openai.com",)
KEY_VARIABLE = "OPENAI_API_KEY"


class NotMockedError(AssertionError):
    """A request went to a host the mock does not answer while ``other_hosts="fail"``."""


class Patcher:
    """Answers requests to ``hosts`` (names or compiled patterns) and URLs under ``base_urls`` from ``engine``.

    With ``api_key``, ``OPENAI_API_KEY`` is set to it while patching when it is not set already, so SDK clients
    built without a key work; it is removed when the last patcher stops (unless something changed it meanwhile).
    """

    def __init__(self, engine: Engine, *, hosts: Sequence[str | re.Pattern[str]] = (*DEFAULT_HOSTS, AZURE_HOSTS),
                 base_urls: Sequence[str] = (), other_hosts: Literal["fail", "pass"] = "fail",
                 api_key: str | None = None) -> None:
        if other_hosts not in ("fail", "pass"):
            raise ValueError(f"other_hosts must be 'fail' or 'pass', not {other_hosts!r}")
        self.engine = engine
        self.hosts = list(hosts)
        self.base_urls = [b.rstrip("/") for b in base_urls]
        self.other_hosts = other_hosts
        self.api_key = api_key

    def intercepts(self, url: str) -> bool:
        return self.prefix(url) is not None

    def prefix(self, url: str) -> str | None:
        """``None`` when the mock does not answer ``url``; otherwise the path prefix to cut from it: ``""`` for
        the OpenAI and Azure hosts, the base URL's path (a gateway's ``/proxy/v1``) for ``base_urls``."""
        host = urlsplit(url).hostname or ""
        for want in self.hosts:
            if (want.fullmatch(host) if isinstance(want, re.Pattern) else want == host):
                return ""
        for base in self.base_urls:
            if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
                return urlsplit(base).path.rstrip("/")
        return None

    def engine_request(self, request: Any, body: bytes, prefix: str) -> HTTPRequest:
        """The request as the engine sees it, with ``prefix`` cut so ``/proxy/v1/chat/completions`` routes."""
        http = to_engine(request, body)
        if prefix and (http.path == prefix or http.path.startswith(prefix + "/")):
            http = dataclasses.replace(http, path=http.path[len(prefix):] or "/")
        return http

    def _refuse(self, url: str) -> NotMockedError:
        return NotMockedError(f"mockai: a request to {url} is not answered by the mock and other_hosts='fail'. "
                              "Add its base URL to base_urls=[...] to mock it, or pass other_hosts='pass' to let "
                              "it reach the network.")

    def start(self) -> None:
        with _LOCK:
            for name in ("httpx", "httpx2"):
                if name not in _REAL:
                    try:
                        module = importlib.import_module(name)
                    except ImportError:
                        continue
                    _install(module)
            if self not in _ACTIVE:
                _ACTIVE.append(self)
            global _KEY_SET
            if self.api_key and _KEY_SET is None and not os.environ.get(KEY_VARIABLE):
                os.environ[KEY_VARIABLE] = _KEY_SET = self.api_key

    def stop(self) -> None:
        global _KEY_SET
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if not _ACTIVE:
                for name in list(_REAL):
                    _uninstall(name)
                if _KEY_SET is not None and os.environ.get(KEY_VARIABLE) == _KEY_SET:
                    del os.environ[KEY_VARIABLE]
                _KEY_SET = None


# One set of patched methods per module, shared by every active Patcher (newest first answers), so mocks may be
# started and stopped in any order and the originals come back exactly when the last one stops.
_LOCK = threading.RLock()
_ACTIVE: list[Patcher] = []
_REAL: dict[str, tuple[Any, Any, Any]] = {}  # module name -> (module, real sync method, real async method)
_KEY_SET: str | None = None  # the OPENAI_API_KEY patch mode set, removed when the last patcher stops


def _route(url: str, transport: Any) -> tuple[Patcher, str] | Patcher | None:
    """The patcher answering ``url`` and its prefix; else the patcher whose policy refuses it; else ``None``."""
    if getattr(transport, "mockai_passthrough", False):  # a recording cassette's own upstream requests
        return None
    active = list(_ACTIVE)
    for patcher in reversed(active):
        prefix = patcher.prefix(url)
        if prefix is not None:
            return patcher, prefix
    if active and active[-1].other_hosts == "fail" and not serves(url):
        return active[-1]
    return None


def _install(module: Any) -> None:
    sync_cls, async_cls = module.HTTPTransport, module.AsyncHTTPTransport
    real_sync, real_async = sync_cls.handle_request, async_cls.handle_async_request

    def handle_request(transport: Any, request: Any) -> Any:
        url = str(request.url)
        route = _route(url, transport)
        if isinstance(route, tuple):
            patcher, prefix = route
            res = patcher.engine.handle(patcher.engine_request(request, request.read(), prefix))
            return to_response(module, res, request)
        if route is not None:
            raise route._refuse(url)
        return real_sync(transport, request)

    async def handle_async_request(transport: Any, request: Any) -> Any:
        url = str(request.url)
        route = _route(url, transport)
        if isinstance(route, tuple):
            patcher, prefix = route
            res = patcher.engine.handle(patcher.engine_request(request, await request.aread(), prefix))
            return await to_response_async(module, res, request)
        if route is not None:
            raise route._refuse(url)
        return await real_async(transport, request)

    sync_cls.handle_request = handle_request
    async_cls.handle_async_request = handle_async_request
    _REAL[module.__name__] = (module, real_sync, real_async)


def _uninstall(name: str) -> None:
    module, real_sync, real_async = _REAL.pop(name)
    module.HTTPTransport.handle_request = real_sync
    module.AsyncHTTPTransport.handle_async_request = real_async
