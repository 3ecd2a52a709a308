"""The model catalogue's routes: ``GET /v1/models`` and ``GET /v1/models/{model}``, listing the configured models.

With the default models, the listing also holds the embedding and moderation models mockai serves, as the real
API lists every model a key may use (a client may look one up before calling it). A configured list
(``Config(models=...)``, ``--models``) is listed exactly as given.

>>> from mockai.engine import Engine, HTTPRequest
>>> res = Engine().handle(HTTPRequest("GET", "/v1/models/gpt-4o-mini", headers={"authorization": "Bearer sk"}))
>>> res.json()["id"]
'gpt-4o-mini'
"""

from __future__ import annotations

from collections.abc import Iterable

from .core import Core, Route
from .errors import APIError
from .http import HTTPRequest, HTTPResponse
from .journal import Call
from .models import DEFAULT_MODELS, model_object, snapshot
from .moderation import MODELS as MODERATION_MODELS
from .vectors import MODEL_DIMENSIONS


class Catalogue:
    """Lists ``core.config.models``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> Iterable[Route]:
        yield Route("GET", "/models", self.list, "models")
        yield Route("GET", "/models/{model:path}", self.retrieve, "model")

    def models(self) -> list[str]:
        """The model ids listed: the configured ones; with the defaults, the embedding and current moderation
        models too (the legacy ``text-moderation-*`` names are answered but no longer listed by the real API)."""
        configured = list(self.core.config.models)
        if tuple(configured) != DEFAULT_MODELS:
            return configured
        return [*configured, *MODEL_DIMENSIONS, *(m for m in MODERATION_MODELS if m.startswith("omni-"))]

    def list(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        return self.core.json_response(200, {"object": "list", "data": [model_object(m) for m in self.models()]})

    def retrieve(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        """A listed model, or the dated snapshot one answers as (replies name it: ``gpt-4o-2024-08-06``)."""
        model = args["model"]
        listed = self.models()
        if model not in listed and model not in {snapshot(m) for m in listed}:
            raise APIError(404, f"The model '{model}' does not exist", param="model", code="model_not_found")
        return self.core.json_response(200, model_object(model))
