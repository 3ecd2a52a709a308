"""Hypothesis strategies for embeddings: :func:`embedding_requests` (bodies of ``POST /v1/embeddings``) and
:func:`embedding_responses` (``CreateEmbeddingResponse`` bodies). Import them from :mod:`mockai.strategies`.

Every request drawn is valid by OpenAI's published schema and the ``openai`` SDK's request types, and mockai
answers it (its tests hold the strategies to all three); every response has unit vectors of one length and
parses with the SDK's types. A drawn response is also a reply to script: ``mock.queue(response)`` sends its
vectors (they must fit the request, see :mod:`mockai.embeddings`).

>>> from hypothesis import find
>>> body = find(embedding_requests(), lambda r: isinstance(r["input"], list) and len(r["input"]) > 1)
>>> len(body["input"])
2
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from .embeddings import MAX_INPUTS
from .vectors import MODEL_DIMENSIONS, accepts_dimensions, encode

__all__ = ["embedding_requests", "embedding_responses"]

# Never empty nor only whitespace: the API refuses "" (and clients report trouble with whitespace-only inputs).
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60).filter(str.strip)
_TOKEN = st.integers(min_value=0, max_value=100_255)  # cl100k_base's ordinary tokens
_FORMATS = ("float", "base64")


def _check_size(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidArgument(f"{name} must be an int between {low} and {high}, not {value!r}")


@st.composite
def _requests(draw: Callable[[SearchStrategy[Any]], Any], models: Sequence[str], max_inputs: int,
              token_ids: bool) -> dict[str, Any]:
    model = draw(st.sampled_from(list(models)))
    shapes = ["string", "strings", "tokens", "token lists"] if token_ids else ["string", "strings"]
    shape = draw(st.sampled_from(shapes))
    texts = st.lists(_TEXT, min_size=1, max_size=max_inputs)
    tokens = st.lists(_TOKEN, min_size=1, max_size=40)
    value = {"string": _TEXT, "strings": texts, "tokens": tokens,
             "token lists": st.lists(tokens, min_size=1, max_size=max_inputs)}[shape]
    body: dict[str, Any] = {"model": model, "input": draw(value)}
    if accepts_dimensions(model) and draw(st.booleans()):
        body["dimensions"] = draw(st.integers(min_value=1, max_value=MODEL_DIMENSIONS.get(model, 1536)))
    if draw(st.booleans()):
        body["encoding_format"] = draw(st.sampled_from(_FORMATS))
    if draw(st.booleans()):
        body["user"] = draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=20))
    return body


def embedding_requests(*, models: Sequence[str] = tuple(MODEL_DIMENSIONS), max_inputs: int = 8,
                       token_ids: bool = True) -> SearchStrategy[dict[str, Any]]:
    """Bodies of ``POST /v1/embeddings``: ``input`` a string, up to ``max_inputs`` strings, or (``token_ids``) a
    list of token ids or lists of them; ``dimensions`` for the models that take it; ``encoding_format`` and
    ``user`` sometimes.

    >>> embedding_requests(max_inputs=0)
    Traceback (most recent call last):
    ...
    hypothesis.errors.InvalidArgument: max_inputs must be an int between 1 and 2048, not 0
    """
    _check_size("max_inputs", max_inputs, 1, MAX_INPUTS)
    if not models or not all(isinstance(m, str) and m for m in models):
        raise InvalidArgument(f"models must be a non-empty list of model names, not {models!r}")
    return _requests(models, max_inputs, token_ids)


@st.composite
def _vectors(draw: Callable[[SearchStrategy[Any]], Any], size: int) -> list[float]:
    values = draw(st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=size, max_size=size))
    norm = math.sqrt(math.fsum(x * x for x in values))
    if norm < 1e-6:  # all (nearly) zero: a unit vector along the first axis
        values = [1.0] + [0.0] * (size - 1)
        norm = 1.0
    return encode([x / norm for x in values], "float")  # float32 values, as the wire carries them


@st.composite
def _responses(draw: Callable[[SearchStrategy[Any]], Any], n: int | None, dimensions: int,
               encoding_format: str, model: str) -> dict[str, Any]:
    count = n if n is not None else draw(st.integers(min_value=1, max_value=4))
    data = []
    for i in range(count):
        vector = draw(_vectors(dimensions))
        embedding: Any = encode(vector, "base64") if encoding_format == "base64" else vector
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = draw(st.integers(min_value=count, max_value=count * 50))
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def embedding_responses(*, n: int | None = None, dimensions: int = 8, encoding_format: str = "float",
                        model: str = "text-embedding-3-small") -> SearchStrategy[dict[str, Any]]:
    """``CreateEmbeddingResponse`` bodies: ``n`` unit vectors (1 to 4 when ``None``) of ``dimensions`` float32
    numbers, or their base64 bytes with ``encoding_format="base64"``, and usage.

    >>> from hypothesis import find
    >>> len(find(embedding_responses(n=2, dimensions=3), lambda r: True)["data"][1]["embedding"])
    3
    """
    if n is not None:
        _check_size("n", n, 1, MAX_INPUTS)
    _check_size("dimensions", dimensions, 1, 3072)
    if encoding_format not in _FORMATS:
        raise InvalidArgument(f"encoding_format must be 'float' or 'base64', not {encoding_format!r}")
    return _responses(n, dimensions, encoding_format, model)
