"""The model catalogue's routes: ``GET /v1/models`` and ``GET /v1/models/{model}``, listing the configured models.

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
from .models import model_object


class Catalogue:
    """Lists ``core.config.models``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> Iterable[Route]:
        yield Route("GET", "/models", self.list, "models")
        yield Route("GET", "/models/{model:path}", self.retrieve, "model")

    def list(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        return self.core.json_response(200, {"object": "list",
                                             "data": [model_object(m) for m in self.core.config.models]})

    def retrieve(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        model = args["model"]
        if model not in self.core.config.models:
            raise APIError(404, f"The model '{model}' does not exist", param="model", code="model_not_found")
        return self.core.json_response(200, model_object(model))
