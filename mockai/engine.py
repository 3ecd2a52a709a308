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

from collections.abc import Sequence

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
    Transform,
    too_large,
    unscripted,
)
from .embeddings import Embeddings
from .errors import APIError
from .http import ConnectionDropped, Delivery, HTTPRequest, HTTPResponse, LiveSource
from .journal import Call
from .keys import TRANSPORT_FIELDS, canonical_key
from .moderations import Moderations
from .responses.conversations import Conversations
from .responses.surface import Responses
from .rules import Script

__all__ = [
    "TRANSPORT_FIELDS", "UNSEEDED_FIELDS", "Call", "Config", "ConnectionDropped", "Delivery", "Engine", "Exchange",
    "Finisher", "HTTPRequest", "HTTPResponse", "Interceptor", "LiveSource", "Rejection", "Responder", "Transform",
    "canonical_key", "fingerprint", "prompt_tokens", "too_large", "unscripted",
]


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
        self.conversations = Conversations(self)
        self.responses = Responses(self, self.conversations)
        self.mount(self.responses.routes())
        self.mount(self.conversations.routes())
        self.mount(Embeddings(self).routes())
        self.moderations = Moderations(self)  # .words sets its word list
        self.mount(self.moderations.routes())
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
