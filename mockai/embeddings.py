"""The embeddings surface: ``POST /v1/embeddings`` (and Azure's ``/openai/deployments/{deployment}/embeddings``),
answered with the deterministic vectors of :mod:`mockai.vectors`, which keep similarity.

A request is validated as the real API validates it (``input`` a string, an array of strings, an array of token
ids or an array of token-id arrays: at most 2048 items, none empty, each at most 8192 tokens, 300,000 tokens in
all; ``dimensions`` only for the v3 models, 1 to the model's size, 3072 for a model it does not know;
``encoding_format`` ``float`` or ``base64``),
described as a :class:`~mockai.prompt.Prompt` with one user turn per input (so rules, the journal, faults, rate
limits and latency treat it like any request) and answered by the engine's pipeline. The reply is a
``CreateEmbeddingResponse``: ``float`` vectors as JSON numbers, ``base64`` ones as little-endian float32 bytes
(what the ``openai`` SDK asks for by default and decodes itself); usage counts the inputs' tokens with the
embedding models' tokenizer (cl100k_base).

Token ids are embedded as the text they stand for when mockai can decode them (bpe-openai installed, or
tiktoken with its cl100k_base file cached), as the real API does, so a text sent as ids (LangChain's default)
and as a string lands on the same vector; elsewhere the ids themselves are the features (see
:mod:`mockai.vectors`).

**Scripted replies** (``mock.on(api="embeddings", ...).respond(spec)``, ``mock.queue(spec)``): a vector (a list
of numbers), a list of them (one per input), ``{"embedding": [...]}``, ``{"like": "other text"}`` (the vector
that text gets; ``{"like": text, "noise": 0.1}`` turns it by a fixed angle, cosine ``1/sqrt(1 + noise²)``, in a
direction drawn from the input), a whole ``CreateEmbeddingResponse`` dict, an ``error(...)``, or a callable of
the request returning one of these. A vector must have the length the request asks for (``dimensions``, else the
model's size); a vector of the model's full size answering a request with ``dimensions`` is shortened and
renormalized, as the v3 models shorten theirs. Any other length is the test's mistake: it fails the test
(:class:`~mockai.errors.CallbackError`), naming the rule.

>>> from mockai.engine import Engine, HTTPRequest
>>> res = Engine().handle(HTTPRequest("POST", "/v1/embeddings", headers={"authorization": "Bearer sk"},
...     body=b'{"model": "text-embedding-3-small", "input": ["a cat", "a dog"], "dimensions": 8}'))
>>> body = res.json()
>>> [len(d["embedding"]) for d in body["data"]], body["usage"]
([8, 8], {'prompt_tokens': 4, 'total_tokens': 4})
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
import json
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from . import tokens, vectors
from .core import Core, Exchange, Route
from .deferred import built
from .errors import APIError, from_validation, invalid, json_type
from .http import HTTPRequest, HTTPResponse, dumps
from .journal import Call
from .prompt import Prompt, Turn
from .validation import parse_json

MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
ENCODING = "cl100k_base"  # every embedding model's tokenizer
# The snapshot a reply names, where it is not the model asked for.
REPLY_MODELS = {"text-embedding-ada-002": "text-embedding-ada-002-v2"}
UNSEEDED_FIELDS = frozenset({"encoding_format", "user"})
_REFERENCE = "Please check the API reference: https://platform.openai.com/docs/api-reference."


class EmbeddingRequest(BaseModel):
    """A validated ``POST /v1/embeddings`` body; :attr:`inputs` lists what is embedded, one item per vector.

    >>> _, req = parse_embeddings(b'{"model": "text-embedding-3-small", "input": [[9906, 1917]]}')
    >>> req.texts, req.tokens
    (['Hello world'], [2])
    """

    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None
    _inputs: list[str | list[int]] = PrivateAttr(default_factory=list)
    _items: list[str | list[int]] = PrivateAttr(default_factory=list)
    _tokens: list[int] = PrivateAttr(default_factory=list)

    @property
    def inputs(self) -> list[str | list[int]]:
        """Each input as sent: a string or a list of token ids."""
        return self._inputs

    @property
    def items(self) -> list[str | list[int]]:
        """What each vector embeds: the text, or token ids (decoded to their text when mockai can)."""
        return self._items

    @property
    def texts(self) -> list[str]:
        """Each input as text (token ids that cannot be decoded here are shown as their JSON list)."""
        return [item if isinstance(item, str) else json.dumps(item) for item in self._items]

    @property
    def tokens(self) -> list[int]:
        """Each input's tokens."""
        return self._tokens

    @property
    def size(self) -> int:
        """The length of each vector: ``dimensions``, else the model's size."""
        return self.dimensions or vectors.dimensions_of(self.model)


def parse_embeddings(raw: bytes | Mapping[str, Any], deployment: str = ""
                     ) -> tuple[dict[str, Any], EmbeddingRequest]:
    """The JSON body and the validated request, or the :class:`APIError` the real API answers. On an Azure
    deployment path a body without ``model`` is for the deployment's model."""
    body = parse_json(raw) if isinstance(raw, (bytes, bytearray)) else dict(raw)
    if not isinstance(body, dict):
        raise invalid(f"Invalid type for request body: expected an object, but got {json_type(body)} instead.",
                      None, "invalid_type")
    if deployment and "model" not in body:
        body["model"] = deployment
    if body.get("model") == "":
        raise APIError(400, "you must provide a model parameter")
    inputs = check_input(body["input"]) if "input" in body else []
    try:
        request = built(EmbeddingRequest).model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc.errors(include_url=False), body) from None
    model = request.model
    if "dimensions" in body and not vectors.accepts_dimensions(model):
        raise invalid("This model does not support specifying dimensions.", "dimensions", None)
    size = vectors.max_dimensions(model)
    if request.dimensions is not None and request.dimensions > size:
        raise invalid(f"Invalid 'dimensions': integer above maximum value. Expected a value <= {size} for {model}, "
                      f"but got {request.dimensions} instead.", "dimensions", "integer_above_max_value")
    counts = [len(item) if isinstance(item, list) else tokens.count(item, "text-embedding-3-small")
              for item in inputs]
    for i, n in enumerate(counts):
        if n > MAX_INPUT_TOKENS:
            raise invalid(f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested "
                          f"{n} tokens ({n} in your prompt; 0 for the completion). Please reduce your prompt; or "
                          "completion length.", _param(body["input"], i), None)
    if sum(counts) > MAX_REQUEST_TOKENS:
        raise APIError(400, f"Requested {sum(counts)} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
                       type="max_tokens_per_request", param="input", code="max_tokens_per_request")
    request._inputs, request._tokens = inputs, counts
    request._items = [item if isinstance(item, str) else decode(item) or item for item in inputs]
    return body, request


def check_input(value: Any) -> list[str | list[int]]:
    """The inputs of ``input``, or the 400 the real API sends for a shape it refuses: the same message for every
    refusal (an empty string or array, a mixed array, a number…), with ``param`` naming the place.

    >>> check_input(["a", "b"]), check_input([1, 2])
    (['a', 'b'], [[1, 2]])
    """
    if isinstance(value, str):
        if not value:
            raise _bad_input("input")
        return [value]
    if not isinstance(value, list) or not value:
        raise _bad_input("input")
    if len(value) > MAX_INPUTS:
        raise invalid(f"'$.input' is invalid: array length must be {MAX_INPUTS} or less, but got {len(value)}. "
                      f"{_REFERENCE}", "input", None)
    if all(isinstance(v, str) for v in value):
        for i, v in enumerate(value):
            if not v:
                raise _bad_input(f"input[{i}]")
        return list(value)
    if all(_token(v) for v in value):
        return [list(value)]
    for i, v in enumerate(value):
        if not isinstance(v, list) or not v or not all(_token(t) for t in v):
            raise _bad_input(f"input[{i}]")
    return list(value)


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad_input(param: str) -> APIError:
    # The real API names no param for these; mockai names the input at fault.
    return invalid(f"'$.input' is invalid. {_REFERENCE}", param, None)


def _param(value: Any, index: int) -> str:
    return "input" if isinstance(value, str) or (isinstance(value, list) and value and _token(value[0])) \
        else f"input[{index}]"


# --- token ids to text -------------------------------------------------------------------------------------


def decode(ids: Sequence[int]) -> str | None:
    """The text of cl100k_base token ids, or ``None`` when this machine has no vocabulary (neither bpe-openai nor
    tiktoken's cached file) or an id is not in it (a special token).

    >>> decode([9906, 1917]) in ("Hello world", None)
    True
    """
    table = _vocabulary()
    if table is None or not all(0 <= i < len(table) for i in ids):
        return None
    return b"".join(table[i] for i in ids).decode("utf-8", "replace")


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[bytes, ...] | None:
    """cl100k_base's tokens by id, from bpe-openai's wheel or tiktoken's cache (either checked by its sha256)."""
    expected = tokens._ENCODING_SHA256[ENCODING]
    for data in _vocabulary_files():
        if hashlib.sha256(data).hexdigest() != expected:
            continue
        pairs = (line.split() for line in data.splitlines() if line)
        table = {int(rank): base64.b64decode(tok) for tok, rank in pairs}
        return tuple(table[i] for i in range(len(table)))
    return None


def _vocabulary_files() -> Iterable[bytes]:
    spec = importlib.util.find_spec("bpe_openai")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "data" / f"{ENCODING}.tiktoken.gz"
        if path.exists():
            yield gzip.decompress(path.read_bytes())
    cache, url = tokens._cache_dir(), tokens._ENCODING_URLS[ENCODING]
    if cache is not None and (cache / hashlib.sha1(url.encode()).hexdigest()).exists():
        yield (cache / hashlib.sha1(url.encode()).hexdigest()).read_bytes()


# --- the surface and its wire ------------------------------------------------------------------------------


@dataclass
class Vectors:
    """An embeddings reply: one vector per input, in order (``model``/``usage``: as a scripted reply gave them)."""

    vectors: list[Sequence[float]]
    model: str | None = None
    usage: Mapping[str, Any] | None = None


def prompt_of(request: EmbeddingRequest) -> Prompt:
    """The neutral view of an embeddings request: one user turn per input.

    >>> prompt_of(parse_embeddings(b'{"model": "m", "input": ["a", "b"]}')[1]).texts
    ['a', 'b']
    """
    return Prompt(api="embeddings", model=request.model, turns=tuple(Turn("user", t) for t in request.texts))


def known_model(model: str, core: Core) -> bool:
    return model in vectors.MODEL_DIMENSIONS or model in core.config.models


class Embeddings:
    """The embeddings wire, mounted on a :class:`~mockai.core.Core`."""

    name = "embeddings"
    trailer = 0
    unseeded = UNSEEDED_FIELDS

    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> Iterable[Route]:
        yield Route("POST", "/embeddings", self.create, "embeddings", deployment=True)

    def create(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        core = self.core
        try:
            parse = functools.partial(parse_embeddings, deployment=args.get("deployment", ""))
            body, request = core.parse(http, parse, "embeddings")
            call.body, call.request = body, request
            if core.config.strict_models and not known_model(request.model, core):
                raise APIError(404, f"The model `{request.model}` does not exist or you do not have access to it.",
                               param="model", code="model_not_found")
        except APIError as err:
            return core.reject(http, call, err)
        return core.answer(core.exchange(self, request, body, prompt_of(request), http, call))

    # --- the wire --------------------------------------------------------------------------------------------

    def default(self, ex: Exchange) -> Vectors:
        request: EmbeddingRequest = ex.request
        return Vectors([array("f", vectors.embed(item, model=request.model, seed=ex.seed,
                                                 dimensions=request.dimensions)) for item in request.items])

    def build(self, spec: Any, ex: Exchange) -> Vectors | APIError:
        """A scripted reply (see the module docstring) for this request."""
        request: EmbeddingRequest = ex.request
        if isinstance(spec, APIError):
            return spec
        if isinstance(spec, BaseException):
            raise spec
        if callable(spec) and not isinstance(spec, Vectors):
            return self.build(spec(request), ex)
        if isinstance(spec, Vectors):
            return Vectors([self._fit(v, request, i) for i, v in enumerate(spec.vectors)], spec.model, spec.usage)
        if isinstance(spec, Mapping) and "error" in spec:
            err = spec["error"]
            return APIError(int(err.get("status", 400)), err.get("message") or "Invalid request.",
                            code=err.get("code"), type=err.get("type"), param=err.get("param"))
        model = usage = None
        if isinstance(spec, Mapping) and "data" in spec:
            model, usage = spec.get("model"), spec.get("usage")
            spec = [item["embedding"] if isinstance(item, Mapping) and "embedding" in item else item
                    for item in spec["data"]]
        items = per_input(spec, len(request.items))
        return Vectors([self._vector(item, ex, i) for i, item in enumerate(items)], model, usage)

    def _vector(self, item: Any, ex: Exchange, index: int) -> Sequence[float]:
        request: EmbeddingRequest = ex.request
        if isinstance(item, str):
            return self._fit(vectors.decode_base64(item), request, index)
        if isinstance(item, Mapping) and "embedding" in item:
            return self._vector(item["embedding"], ex, index)
        if isinstance(item, Mapping):
            like, noise = item["like"], float(item.get("noise", 0.0))
            base = vectors.embed(like, model=request.model, seed=ex.seed, dimensions=request.dimensions)
            return turned(base, noise, request, ex.seed, index) if noise else base
        return self._fit(item, request, index)

    @staticmethod
    def _fit(vector: Sequence[float], request: EmbeddingRequest, index: int) -> Sequence[float]:
        """A scripted vector at the request's length: as given, or (the model's full size answering a request
        with ``dimensions``) shortened and renormalized; any other length is a ``ValueError``."""
        values = [float(x) for x in vector]
        if not all(math.isfinite(x) for x in values):
            raise ValueError(f"the vector for input {index} has a number that is not finite (JSON cannot carry it)")
        want, full = request.size, vectors.dimensions_of(request.model)
        if len(values) == want:
            return values
        if request.dimensions is not None and len(values) == full:
            return normalized(values[:want])
        asked = f"dimensions={want}" if request.dimensions else f"{want} dimensions ({request.model})"
        raise ValueError(f"the vector for input {index} has {len(values)} numbers, but the request asks for {asked}; "
                         f"script a vector of {want} numbers, or {{'like': 'some text'}} for the vector of a text")

    def prompt_tokens(self, ex: Exchange) -> int:
        return sum(ex.request.tokens)

    def stream_error(self, err: APIError, ex: Exchange, index: int) -> bytes:
        return json.dumps(err.envelope()).encode()  # never streamed: what a cut JSON body would carry

    def render(self, reply: Vectors, ex: Exchange) -> HTTPResponse:
        """The ``CreateEmbeddingResponse``: each vector as float32 numbers or their base64 bytes."""
        request: EmbeddingRequest = ex.request
        fmt: Literal["float", "base64"] = request.encoding_format or "float"
        parts = []
        for i, vector in enumerate(reply.vectors):
            value = vectors.encode(vector, fmt)
            parts.append(b'{"object":"embedding","index":%d,"embedding":%s}' % (i, dumps(value)))
        tokens_used = ex.prompt_tokens
        usage = dict(reply.usage) if reply.usage is not None else {"prompt_tokens": tokens_used,
                                                                   "total_tokens": tokens_used}
        model = reply.model or REPLY_MODELS.get(request.model, request.model)
        body = b"".join((b'{"object":"list","data":[', b",".join(parts), b'],"model":', dumps(model),
                         b',"usage":', dumps(usage), b"}"))
        digest = self.core.ids(ex).digest
        headers = {"content-type": "application/json", "x-request-id": "req_" + digest[8:24].hex(),
                   "openai-processing-ms": "1", "openai-version": "2020-10-01", "openai-model": model}
        return HTTPResponse(200, headers, body=body)


def per_input(spec: Any, n: int) -> list[Any]:
    """One item per input from a scripted spec: a single vector or mapping serves every input; a list of them
    must have one per input. Raises ``TypeError``/``ValueError`` naming what is wrong.

    >>> per_input([0.5, 0.5], 2), per_input({"like": "x"}, 1)
    ([[0.5, 0.5], [0.5, 0.5]], [{'like': 'x'}])
    """
    check_item(spec, single=True)
    if isinstance(spec, Mapping) or _numbers(spec) or isinstance(spec, str):
        return [spec] * n
    items = list(spec)
    if len(items) != n:
        raise ValueError(f"{len(items)} vectors were scripted for a request of {n} input{'s' * (n != 1)}; script one "
                         "per input, or one vector (or {'like': ...}) for all of them")
    return items


def check_item(spec: Any, single: bool = False) -> None:
    """Raise ``TypeError``/``ValueError`` for what cannot be an embeddings reply (a list of items too, when
    ``single``)."""
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"embedding", "like", "noise"}
        if unknown or ("embedding" in spec) == ("like" in spec):
            raise ValueError(f"an embeddings reply mapping is {{'embedding': [...]}} or {{'like': text, 'noise': x}}, "
                             f"not {_short(spec)}")
        noise = spec.get("noise", 0)
        if ("like" in spec and not isinstance(spec["like"], str)) or not isinstance(noise, (int, float)) or (
                isinstance(noise, bool) or not 0 <= noise <= 1e6):
            raise TypeError(f"{{'like': ...}} takes a text and an optional number 'noise' >= 0, not {_short(spec)}")
        if "embedding" in spec:
            check_item(spec["embedding"])
        return
    if isinstance(spec, str) and not single and _base64_vector(spec):
        return  # a base64 vector (from a recorded reply)
    if isinstance(spec, (list, tuple, array)) and spec and (_numbers(spec) or single):
        if not _numbers(spec):
            for item in spec:
                check_item(item)
        return
    raise TypeError(f"an embeddings reply is a vector (a list of numbers), one per input, {{'embedding': [...]}} "
                    f"or {{'like': 'some text'}}, not {type(spec).__name__} {_short(spec)}")


def takes(spec: Any) -> bool:
    """Whether ``spec`` is an embeddings reply (a vector, a list of them, an ``embedding``/``like`` mapping or a
    ``CreateEmbeddingResponse``): checks it, raising for a malformed one; ``False`` for other kinds."""
    if isinstance(spec, Vectors):
        return True
    if isinstance(spec, Mapping):
        if spec.get("object") == "list" and "data" in spec:
            return True
        if not spec.keys() & {"embedding", "like"}:
            return False
    elif not _vector_list(spec):
        return False
    check_item(spec, single=True)
    return True


def _vector_list(spec: Any) -> bool:
    """A vector, or a list whose first item is one or an ``embedding``/``like`` mapping (no other API's reply)."""
    if not isinstance(spec, (list, tuple, array)) or not spec:
        return False
    first = spec[0]
    return _numbers(spec) or isinstance(first, (list, tuple, array)) or (
        isinstance(first, Mapping) and bool(first.keys() & {"embedding", "like"}))


def turned(vector: Sequence[float], noise: float, request: EmbeddingRequest, seed: int, index: int) -> list[float]:
    """``vector`` turned by the angle whose tangent is ``noise``, toward a direction drawn from the input (its
    vector under another seed, made orthogonal): ``cosine(vector, turned) == 1 / sqrt(1 + noise²)``."""
    salt = hashlib.sha256(b"mockai-noise|%d|%d|%s" % (seed, index, str(request.items[index]).encode(
        "utf-8", "surrogatepass"))).digest()
    other = vectors.embed(request.items[index], model=request.model, seed=int.from_bytes(salt[:8], "big"),
                          dimensions=request.dimensions)
    dot = math.fsum(a * b for a, b in zip(vector, other, strict=True))
    direction = normalized([b - dot * a for a, b in zip(vector, other, strict=True)])
    return normalized([a + noise * b for a, b in zip(vector, direction, strict=True)])


def normalized(values: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in values))
    return [x / norm for x in values] if norm else list(values)


def _base64_vector(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) % 4 == 0
    except ValueError:
        return False


def _numbers(value: Any) -> bool:
    return isinstance(value, array) or (isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
