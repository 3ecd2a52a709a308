"""The moderations surface: ``POST /v1/moderations``, answered with the deterministic results of
:mod:`mockai.moderation` (quiet by default, flagged where its word list says so).

``input`` is a string, an array of strings (one result each) or an array of ``text`` and ``image_url`` parts
(one result for them all); ``model`` defaults to ``omni-moderation-latest`` (the ``text-moderation-*`` models
take text only and answer as ``text-moderation-007``). An empty array is refused, as the real API refuses it. The
request becomes a :class:`~mockai.prompt.Prompt` with one user turn per input (an image part as its URL), so
rules, the journal, faults, rate limits and latency apply as to any request.

**Word lists:** ``mock.engine.moderations.words = {"violence": ["dragon*"]}`` replaces the default list (see
:class:`mockai.moderation.Moderator`; ``None`` restores it).

**Scripted replies** (``mock.on(api="moderations", ...).respond(spec)``): ``{"categories": ["violence"]}`` flags
those categories (a subcategory flags its parent too) with scores between 0.85 and 1, for every result;
``{"flagged": False}`` clears every category; ``{"category_scores": {"violence": 0.7}}`` sets scores (a category
is flagged when its score is at least 0.5); a list of such mappings gives one per result; a whole
``CreateModerationResponse`` (or its ``results``) is sent as given. An ``error(...)`` or a callable of the
request returning any of these also works.

>>> from mockai.engine import Engine, HTTPRequest
>>> res = Engine().handle(HTTPRequest("POST", "/v1/moderations", headers={"authorization": "Bearer sk"},
...     body=b'{"input": ["I will kill them all", "What a lovely morning"]}'))
>>> [r["flagged"] for r in res.json()["results"]]
[True, False]
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError

from . import moderation
from .core import Core, Exchange, Route
from .deferred import built
from .errors import APIError, from_validation, invalid, json_type
from .http import HTTPRequest, HTTPResponse
from .journal import Call
from .prompt import Prompt, Turn
from .suggest import closest
from .validation import parse_json
from .wire import ImagePart, TextPart

DEFAULT_MODEL = "omni-moderation-latest"


@functools.cache
def _parts() -> TypeAdapter[list[TextPart | ImagePart]]:
    """The validator of a list of parts, built on first use (``import mockai`` stays light)."""
    return TypeAdapter(list[Annotated[TextPart | ImagePart, Field(discriminator="type")]])


class ModerationRequest(BaseModel):
    """A validated ``POST /v1/moderations`` body.

    >>> parse_moderation(b'{"input": "hello"}')[1].model_name
    'omni-moderation-latest'
    """

    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)

    input: str | list[str] | list[dict[str, Any]]
    model: str | None = None
    _texts: list[str] = PrivateAttr(default_factory=list)

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL

    @property
    def texts(self) -> list[str]:
        """Each input as text (a list of parts: its texts and image URLs, one per line)."""
        return self._texts


def parse_moderation(raw: bytes | Mapping[str, Any]) -> tuple[dict[str, Any], ModerationRequest]:
    """The JSON body and the validated request, or the :class:`APIError` the real API answers."""
    body = parse_json(raw) if isinstance(raw, (bytes, bytearray)) else dict(raw)
    if not isinstance(body, dict):
        raise invalid(f"Invalid type for request body: expected an object, but got {json_type(body)} instead.",
                      None, "invalid_type")
    value = body.get("input")
    if isinstance(value, list):
        if not value:
            raise invalid("Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty "
                          "array instead.", "input", "empty_array")
        if not all(isinstance(v, str) for v in value):
            try:
                _parts().validate_python(value, strict=True)
            except ValidationError as exc:
                errors = [{**e, "loc": ("input", *e["loc"])} for e in exc.errors(include_url=False)]
                raise from_validation(errors, body) from None
    elif "input" in body and not isinstance(value, str):
        raise invalid(f"Invalid type for 'input': expected a string, an array of strings or an array of text and "
                      f"image_url parts, but got {json_type(value)} instead.", "input", "invalid_type")
    try:
        request = built(ModerationRequest).model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc.errors(include_url=False), body) from None
    if request.model == "":
        raise APIError(400, "you must provide a model parameter")
    parts = request.input if isinstance(request.input, list) else [request.input]
    if parts and isinstance(parts[0], dict):
        if moderation.text_model(request.model_name) and any(p["type"] == "image_url" for p in parts):
            raise invalid(f"The model {request.model_name} does not support image inputs.", "input")
        request._texts = ["\n".join(p["text"] if p["type"] == "text" else p["image_url"]["url"] for p in parts)]
    else:
        request._texts = [p for p in parts if isinstance(p, str)]
    return body, request


@dataclass
class Results:
    """A moderations reply: its ``results`` (``model``: as a scripted reply gave it)."""

    results: list[dict[str, Any]]
    model: str | None = None


def prompt_of(request: ModerationRequest) -> Prompt:
    """The neutral view of a moderation request: one user turn per input."""
    return Prompt(api="moderations", model=request.model_name, turns=tuple(Turn("user", t) for t in request.texts))


class Moderations:
    """The moderations wire, mounted on a :class:`~mockai.core.Core`; ``words`` sets the word list."""

    name = "moderations"
    trailer = 0
    unseeded: frozenset[str] = frozenset()

    def __init__(self, core: Core) -> None:
        self.core = core
        self.moderator = moderation.Moderator(seed=core.config.seed)
        self._words: Mapping[str, Iterable[str]] | None = None

    @property
    def words(self) -> Mapping[str, Iterable[str]] | None:
        return self._words

    @words.setter
    def words(self, words: Mapping[str, Iterable[str]] | None) -> None:
        """Flag by this word list (``None``: :data:`mockai.moderation.DEFAULT_WORDS`); checked now."""
        self.moderator = moderation.Moderator(words, seed=self.core.config.seed)
        self._words = words

    def routes(self) -> Iterable[Route]:
        yield Route("POST", "/moderations", self.create, "moderations")

    def create(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        core = self.core
        try:
            body, request = core.parse(http, parse_moderation, "moderations")
            call.body, call.request = body, request
            model = request.model_name
            if core.config.strict_models and model not in moderation.MODELS and model not in core.config.models:
                raise APIError(404, f"The model `{model}` does not exist or you do not have access to it.",
                               param="model", code="model_not_found")
        except APIError as err:
            return core.reject(http, call, err)
        return core.answer(core.exchange(self, request, body, prompt_of(request), http, call))

    # --- the wire --------------------------------------------------------------------------------------------

    def default(self, ex: Exchange) -> Results:
        request: ModerationRequest = ex.request
        return Results(self.moderator.moderate(request.input, request.model_name))

    def build(self, spec: Any, ex: Exchange) -> Results | APIError:
        """A scripted reply (see the module docstring) for this request."""
        request: ModerationRequest = ex.request
        if isinstance(spec, APIError):
            return spec
        if isinstance(spec, BaseException):
            raise spec
        if callable(spec) and not isinstance(spec, Results):
            return self.build(spec(request), ex)
        if isinstance(spec, Mapping) and "error" in spec:
            err = spec["error"]
            return APIError(int(err.get("status", 400)), err.get("message") or "Invalid request.",
                            code=err.get("code"), type=err.get("type"), param=err.get("param"))
        model = None
        if isinstance(spec, Results):
            model, spec = spec.model, spec.results
        elif isinstance(spec, Mapping) and "results" in spec:
            model, spec = spec.get("model"), spec["results"]
        check(spec)
        default = self.default(ex).results
        items = [spec] * len(default) if isinstance(spec, Mapping) else list(spec)
        if len(items) != len(default):
            raise ValueError(f"{len(items)} moderation results were scripted for a request that gets {len(default)}; "
                             "script one per input string (one for a list of parts), or one mapping for all")
        drawn = [moderation.key([t], []) for t in request.texts] if len(request.texts) == len(default) \
            else [moderation.key(request.texts, [])]
        return Results([self._result(item, base, text) for item, base, text in zip(items, default, drawn,
                                                                                    strict=True)], model)

    def _result(self, spec: Mapping[str, Any], base: dict[str, Any], text: str) -> dict[str, Any]:
        if set(spec) >= {"flagged", "categories", "category_scores", "category_applied_input_types"}:
            return dict(spec)  # a whole result: sent as given
        categories, scores = dict(base["categories"]), dict(base["category_scores"])
        seed = self.core.config.seed
        wanted = spec.get("categories")
        if spec.get("flagged") is False:
            for c, flag in categories.items():
                if flag is not None:
                    categories[c], scores[c] = False, moderation.score(seed, text, c, False)
        if wanted is not None:
            named = [c for c, on in wanted.items() if on] if isinstance(wanted, Mapping) else list(wanted)
            off = [c for c, on in wanted.items() if not on] if isinstance(wanted, Mapping) else []
            for c in {*named, *(c.split("/")[0] for c in named)}:
                categories[c], scores[c] = True, moderation.score(seed, text, c, True)
            for c in off:
                categories[c], scores[c] = False, moderation.score(seed, text, c, False)
        for c, value in (spec.get("category_scores") or {}).items():
            scores[c] = float(value)
            categories[c] = scores[c] >= 0.5
        flagged = any(categories.values())
        if spec.get("flagged") is True and not flagged:
            raise ValueError("a result scripted as flagged needs a flagged category: {'flagged': True, "
                             "'categories': ['violence']}")
        return {"flagged": flagged, "categories": categories, "category_scores": scores,
                "category_applied_input_types": base["category_applied_input_types"]}

    def prompt_tokens(self, ex: Exchange) -> int:
        return 0  # moderations are free and count no tokens

    def stream_error(self, err: APIError, ex: Exchange, index: int) -> bytes:
        return b""  # never streamed

    def render(self, reply: Results, ex: Exchange) -> HTTPResponse:
        digest = self.core.ids(ex).digest
        model = reply.model or moderation.reply_model(ex.request.model_name)
        body = {"id": "modr-" + digest[:16].hex(), "model": model, "results": reply.results}
        headers = {"x-request-id": "req_" + digest[16:32].hex(), "openai-processing-ms": "1",
                   "openai-version": "2020-10-01"}
        return self.core.json_response(200, body, headers)


_FIELDS = ("flagged", "categories", "category_scores", "category_applied_input_types")


def check(spec: Any) -> None:
    """Raise ``TypeError``/``ValueError`` for what cannot be a moderation reply, naming the mistake."""
    items = [spec] if isinstance(spec, Mapping) else spec
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise TypeError("a moderation reply is {'categories': [...]}, {'flagged': False}, {'category_scores': {...}}, "
                        f"a list of them (one per result) or a whole response, not {type(spec).__name__} {spec!r}")
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(f"a moderation result is a mapping, not {type(item).__name__} {item!r}")
        unknown = set(item) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown moderation result field(s) {sorted(unknown)}; expected some of {list(_FIELDS)}")
        named = item.get("categories") or ()
        for c in [*named, *(item.get("category_scores") or ())]:
            if c not in moderation.CATEGORIES:
                best = closest(str(c), moderation.CATEGORIES)
                raise ValueError(f"unknown moderation category {c!r}" + (f" (did you mean {best!r}?)" if best else "")
                                 + f"; the categories are {list(moderation.CATEGORIES)}")
        if item.get("flagged") is False and [c for c in named if not isinstance(named, Mapping) or named[c]]:
            raise ValueError("a result cannot be flagged=False and name flagged categories")


def takes(spec: Any) -> bool:
    """Whether ``spec`` is a moderation reply (checked: raising for a malformed one); ``False`` for other kinds."""
    if isinstance(spec, Results):
        return True
    items = spec.get("results") if isinstance(spec, Mapping) and "results" in spec else spec
    first = items[0] if isinstance(items, Sequence) and not isinstance(items, str) and items else items
    if not isinstance(first, Mapping) or not first.keys() & set(_FIELDS):
        return False
    check(items)
    return True
