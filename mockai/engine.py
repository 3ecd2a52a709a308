"""The engine: a :class:`~mockai.core.Core` with every API surface mounted and every extension installed, as the
configuration asks. It answers requests without any HTTP server.

Each door is a thin adapter: it turns what it received into an :class:`HTTPRequest`, calls
:meth:`Engine.handle`, and sends back the :class:`HTTPResponse`. That keeps the in-process door free of ASGI
machinery and makes every door answer alike.

This is the wiring layer: the surfaces (:mod:`mockai.chat`, :mod:`mockai.catalogue`, the Responses API in
:mod:`mockai.responses`), the scripted rules
(:mod:`mockai.rules`), cassettes, faults, latency, rate limits and the fuzz responder sit below it and know
nothing of each other; this module assembles them.

>>> engine = Engine(Config(seed=7))
>>> res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
...     body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'))
>>> res.status, res.json()["object"]
(200, 'chat.completion')
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import faults, latency, ratelimit
from .catalogue import Catalogue
from .chat import UNSEEDED_FIELDS, Chat, fingerprint, prompt_tokens
from .config import Config
from .core import (
    Core,
    Exchange,
    Finisher,
    Interceptor,
    Rejection,
    Responder,
    Route,
    Transform,
    too_large,
    unscripted,
)
from .errors import APIError
from .http import ConnectionDropped, Delivery, HTTPRequest, HTTPResponse, LiveSource
from .journal import Call
from .keys import TRANSPORT_FIELDS, canonical_key
from .rules import Script

if TYPE_CHECKING:
    from .moderations import Moderations
    from .responses.conversations import Conversations
    from .responses.surface import Responses

__all__ = [
    "TRANSPORT_FIELDS", "UNSEEDED_FIELDS", "Call", "Config", "ConnectionDropped", "Delivery", "Engine", "Exchange",
    "Finisher", "HTTPRequest", "HTTPResponse", "Interceptor", "LiveSource", "Rejection", "Responder", "Transform",
    "canonical_key", "fingerprint", "prompt_tokens", "too_large", "unscripted",
]


@dataclass(frozen=True)
class _Later:
    """The surfaces mounted on first need (see :meth:`Engine.route`)."""

    conversations: Conversations
    responses: Responses
    moderations: Moderations


class Engine(Core):
    """The whole fake: every surface and extension, as ``config`` asks; see the module docstring."""

    script: Script

    def __init__(self, config: Config | None = None, responders: Sequence[Responder] = ()) -> None:
        super().__init__(config)
        self.script = Script()
        self.responders.extend(responders)
        self.chat = Chat(self)
        self.mount(self.chat.routes())
        self.mount(Catalogue(self).routes())
        self._later: _Later | None = None
        self._mounting = threading.Lock()
        if self.config.cassette is not None:
            from .cassettes import Cassette

            Cassette.from_config(self.config).install(self)  # a responder, on_reject and on_reset
        # Faults, latency and rate limits, as the config asks (so every door and every worker has them). Order
        # matters: the limiter admits a request before a fault is drawn, and latency is set before a stall fault
        # stretches one of its gaps.
        self.rate_limiter = ratelimit.install(self)
        self.fault_plan = faults.install(self)
        self.latency = latency.install(self)
        self.finishers.append(self.fault_plan.finish)
        if self.config.responder != "default":
            from .fuzz import install as install_responder

            install_responder(self)
        if self.config.state is not None:  # workers or replicas: one state for all (mockai.shared)
            from .shared.wiring import share

            share(self)

    # The Responses API, conversations, embeddings and moderations are mounted when a request first needs them (a
    # path the routes so far do not serve) or their objects are asked for: their modules and models cost a tenth
    # of the start-up, which a server or test that only ever calls chat completions should not wait for. They are
    # mounted after chat and the catalogue, as they always were, so every path is served as if mounted at once.

    def route(self, http: HTTPRequest) -> tuple[str, Route | None, dict[str, str]]:
        found = super().route(http)
        if self._later is None and (found[1] is None or "__methods" in found[2]):
            self._mount_later()
            return super().route(http)
        return found

    def _mount_later(self) -> _Later:
        with self._mounting:
            if self._later is None:
                from .embeddings import Embeddings
                from .moderations import Moderations
                from .responses.conversations import Conversations
                from .responses.surface import Responses

                conversations = Conversations(self)
                responses = Responses(self, conversations)
                moderations = Moderations(self)
                self.mount(responses.routes())
                self.mount(conversations.routes())
                self.mount(Embeddings(self).routes())
                self.mount(moderations.routes())
                self._later = _Later(conversations, responses, moderations)
            return self._later

    @property
    def routes(self) -> list[Route]:
        """Every route served, the surfaces mounted on first need included (reading this mounts them)."""
        if self._later is None:
            self._mount_later()
        return self._routes

    @property
    def responses(self) -> Responses:
        """The Responses API surface (its ``store`` holds the stored responses)."""
        return (self._later or self._mount_later()).responses

    @property
    def conversations(self) -> Conversations:
        """The conversations surface (its ``store`` holds the conversations)."""
        return (self._later or self._mount_later()).conversations

    @property
    def moderations(self) -> Moderations:
        """The moderations surface: ``engine.moderations.words = {...}`` sets its word list."""
        return (self._later or self._mount_later()).moderations

    def handle(self, http: HTTPRequest) -> HTTPResponse:
        """Answer one request: the control API under ``/_mockai/`` (when on), every other path through the
        mounted routes."""
        if http.path == "/_mockai" and self.config.control is not False:  # the inspector's address, typed bare
            location = "/_mockai/" + ("?" + http.query if http.query else "")
            return HTTPResponse(308, {"location": location, "cache-control": "no-store"})
        if http.path.startswith("/_mockai/") and self.config.control is not False:
            from .control import handle as control

            path = http.path.split("?", 1)[0].rstrip("/")
            try:
                return control(self, http, path[len("/_mockai/"):])
            except Exception as exc:  # the control API must fail like the rest: an envelope, never a traceback
                return self.error_response(APIError(500, f"The control API failed ({type(exc).__name__}: {exc}).",
                                                    code="server_error"))
        return super().handle(http)

    async def handle_async(self, http: HTTPRequest) -> HTTPResponse:
        if http.path.startswith("/_mockai") and self.config.control is not False:
            return self.handle(http)
        return await super().handle_async(http)
