"""Hypothesis strategies for chat completions requests: :func:`chat_requests`, :func:`messages`, :func:`tools`.

Every body drawn is valid by OpenAI's published request schema and the ``openai`` SDK's request types (mockai's
tests hold them to both), so mockai answers it; use them to feed code that builds or forwards requests, or to
check a gateway in front of the API. Import them from :mod:`mockai.strategies`.

>>> from hypothesis import find
>>> find(chat_requests(), lambda r: "tools" in r)["tools"][0]["type"]
'function'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from .enums import IMAGE_DETAILS, REASONING_EFFORTS, SERVICE_TIERS, VERBOSITIES
from .schema import WORDS, SchemaError
from .shapes import MAX_WORD, WORD_CATEGORIES
from .wire import METADATA_MAX_KEY, METADATA_MAX_KEYS, METADATA_MAX_VALUE

__all__ = ["HypothesisSource", "chat_requests", "messages", "tools"]

T = TypeVar("T")
_CHAR = st.characters(exclude_categories=["Cs"])  # every code point UTF-8 can carry (a codec= filter costs 1 s)
_WORD = st.one_of(st.sampled_from(WORDS),
                  st.text(st.characters(categories=WORD_CATEGORIES), min_size=1, max_size=MAX_WORD))
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # any UTF-8 text
_NAMES = st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True)
_SCALARS = [{"type": "string"}, {"type": "integer", "minimum": 0, "maximum": 100}, {"type": "number"},
            {"type": "boolean"}, {"type": "string", "enum": ["a", "b", "c"]},
            {"type": "array", "items": {"type": "string"}, "maxItems": 3}]


class HypothesisSource:
    """A :class:`mockai.shapes.Source` over Hypothesis draws: integers shrink to their lower bound, choices to
    the first option, booleans to ``False``; words and characters range wider than a seeded source's (any
    letters; any code point but surrogates)."""

    def __init__(self, draw: Callable[[SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def number(self, lo: float, hi: float) -> float:
        return float(self.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)))

    def boolean(self, p: float = 0.5) -> bool:
        if p == 0.5:
            return bool(self.draw(st.booleans()))
        # True with about probability p; shrinks to 0, i.e. False.
        return bool(self.draw(st.integers(0, 99)) >= round(100 * (1 - p)))

    def choice(self, options: Sequence[T]) -> T:
        if not options:  # as SeededSource: only a schema asks for a choice among none (an empty enum)
            raise SchemaError("an empty enum admits no value")
        return options[self.integer(0, len(options) - 1)] if len(options) > 1 else options[0]

    def word(self) -> str:
        return str(self.draw(_WORD))

    def char(self) -> str:
        return str(self.draw(_CHAR))


@st.composite
def _parameters(draw: Callable[[SearchStrategy[Any]], Any], strict: bool) -> dict[str, Any]:
    props = draw(st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True), st.sampled_from(_SCALARS),
                                 max_size=4))
    if strict:
        return {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}
    required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
    return {"type": "object", "properties": props, "required": required}


@st.composite
def _tools(draw: Callable[[SearchStrategy[Any]], Any], min_size: int, max_size: int) -> list[dict[str, Any]]:
    names = draw(st.lists(_NAMES, min_size=min_size, max_size=max_size, unique=True))
    out = []
    for name in names:
        strict = draw(st.booleans())
        function: dict[str, Any] = {"name": name, "parameters": draw(_parameters(strict))}
        if draw(st.booleans()):
            function["description"] = draw(_TEXT)
        if strict:
            function["strict"] = True
        out.append({"type": "function", "function": function})
    return out


def tools(*, min_size: int = 1, max_size: int = 3) -> SearchStrategy[list[dict[str, Any]]]:
    """Lists of function tools as a request sends them: unique names matching ``^[a-zA-Z0-9_-]{1,64}$``,
    object ``parameters`` of scalar, enum and array properties, closed and all-required when ``strict``.
    Shrinks towards one tool named ``0`` with no properties.

    >>> from hypothesis import find
    >>> find(tools(), lambda t: True)[0]["function"]["name"]
    '0'
    """
    if not 0 <= min_size <= max_size:
        raise InvalidArgument(f"tools(): need 0 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}")
    return _tools(min_size, max_size)


@st.composite
def _messages(draw: Callable[[SearchStrategy[Any]], Any], max_turns: int, mention_json: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        out.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(_TEXT)})
    for turn in range(draw(st.integers(0, max_turns - 1))):
        out.append({"role": "user", "content": draw(_TEXT)})
        if draw(st.booleans()):
            ids = [f"call_{turn}_{k}" for k in range(draw(st.integers(1, 2)))]
            out.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]})
            out.extend({"role": "tool", "tool_call_id": i, "content": draw(_TEXT)} for i in ids)
        else:
            out.append({"role": "assistant", "content": draw(_TEXT)})
    last = draw(_TEXT)
    if draw(st.booleans()):
        parts: list[dict[str, Any]] = [{"type": "text", "text": last}]
        if draw(st.booleans()):
            image: dict[str, Any] = {"url": f"https://example.com/{draw(_NAMES)}.png"}
            if draw(st.booleans()):
                image["detail"] = draw(st.sampled_from(IMAGE_DETAILS))
            parts.insert(draw(st.integers(0, 1)), {"type": "image_url", "image_url": image})
        out.append({"role": "user", "content": parts})
    else:
        out.append({"role": "user", "content": last + (" Answer in JSON." if mention_json else "")})
    if mention_json and isinstance(out[-1]["content"], list):
        out[-1]["content"].append({"type": "text", "text": "Answer in JSON."})
    return out


def messages(*, max_turns: int = 3) -> SearchStrategy[list[dict[str, Any]]]:
    """Conversations as a request sends them: an optional system or developer message, up to ``max_turns - 1``
    earlier turns (a user message, then an assistant answer or an assistant tool call with its tool results),
    and a last user message of any text: a string, or a text part and maybe an image (any ``detail``). Shrinks
    to one empty user message.

    >>> from hypothesis import find
    >>> find(messages(), lambda m: True)
    [{'role': 'user', 'content': ''}]
    """
    if not isinstance(max_turns, int) or max_turns < 1:
        raise InvalidArgument(f"messages(): max_turns must be a positive integer, got {max_turns!r}")
    return _messages(max_turns, False)


# o-series and gpt-5 models reason: they take reasoning_effort, and refuse sampling parameters.
_REASONING = re.compile(r"^(o\d|gpt-5)")
# Metadata at the real API's limits: 16 keys of up to 64 characters, values of up to 512.
def _up_to(limit: int, min_size: int = 0) -> SearchStrategy[str]:
    """Text of any length up to ``limit``, short more often, and now and then exactly ``limit`` long."""
    return st.one_of(st.text(_CHAR, min_size=min_size, max_size=min(8, limit)),
                     st.text(_CHAR, min_size=min_size, max_size=limit), st.text(_CHAR, min_size=limit, max_size=limit))


_METADATA = st.one_of(
    st.dictionaries(_up_to(METADATA_MAX_KEY, 1), _up_to(METADATA_MAX_VALUE), max_size=METADATA_MAX_KEYS),
    st.dictionaries(_up_to(METADATA_MAX_KEY, 1), _up_to(METADATA_MAX_VALUE), min_size=METADATA_MAX_KEYS,
                    max_size=METADATA_MAX_KEYS))


@st.composite
def _requests(draw: Callable[[SearchStrategy[Any]], Any], models: Sequence[str]) -> dict[str, Any]:
    fmt = draw(st.sampled_from([None, "text", "json_object", "json_schema"]))
    model = draw(st.sampled_from(models))
    reasoning = bool(_REASONING.match(model))
    body: dict[str, Any] = {"model": model, "messages": draw(_messages(3, fmt == "json_object"))}
    optional: dict[str, SearchStrategy[Any]] = {
        "n": st.integers(1, 3), "seed": st.integers(-(2**31), 2**31), "user": _TEXT, "metadata": _METADATA,
        "service_tier": st.sampled_from(SERVICE_TIERS), "store": st.booleans(),
    }
    if reasoning:
        optional.update({"max_completion_tokens": st.integers(1, 200),
                         "reasoning_effort": st.sampled_from(REASONING_EFFORTS)})
        if model.startswith("gpt-5"):
            optional["verbosity"] = st.sampled_from(VERBOSITIES)
    else:
        optional.update({
            "temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "max_tokens": st.integers(1, 200),
            "presence_penalty": st.floats(-2, 2), "frequency_penalty": st.floats(-2, 2),
            "stop": st.one_of(_TEXT.filter(bool), st.lists(_TEXT.filter(bool), min_size=1, max_size=4))})
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if draw(st.booleans()):
        body["stream"] = True
        if draw(st.booleans()):
            body["stream_options"] = {"include_usage": draw(st.booleans())}
    if not reasoning and draw(st.booleans()):
        body["logprobs"] = True
        if draw(st.booleans()):
            body["top_logprobs"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        offered = draw(_tools(1, 3))
        body["tools"] = offered
        choice = draw(st.sampled_from(["default", "auto", "none", "required", "named"]))
        if choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": offered[0]["function"]["name"]}}
        elif choice != "default":
            body["tool_choice"] = choice
        if draw(st.booleans()):
            body["parallel_tool_calls"] = draw(st.booleans())
    if fmt == "text" or fmt == "json_object":
        body["response_format"] = {"type": fmt}
    elif fmt == "json_schema":
        strict = draw(st.booleans())
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": draw(_NAMES), "schema": draw(_parameters(strict)), **({"strict": True} if strict else {})}}
    return body


def chat_requests(*, models: Sequence[str] = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")) -> SearchStrategy[dict[str, Any]]:
    """``POST /v1/chat/completions`` bodies the official schema and the ``openai`` SDK's request types accept (and
    so does mockai's validation): a model of ``models``, :func:`messages`, and any of the sampling parameters in
    range, ``stop`` (1 to 4), ``stream`` with ``stream_options``, ``logprobs``/``top_logprobs``, any
    ``service_tier``, ``metadata`` up to its limits (16 keys, 64 and 512 characters), :func:`tools` with
    ``tool_choice`` and ``parallel_tool_calls``, and a ``response_format`` (``json_object`` only with "JSON" in
    a message; ``json_schema``, strict schemas closed). For a reasoning model (``o3``, ``gpt-5``...) it draws
    ``reasoning_effort`` (any value) and, for gpt-5, ``verbosity``, and leaves out the sampling parameters,
    ``max_tokens``, ``stop`` and ``logprobs`` those models refuse. Shrinks to the first model and one empty
    user message.

    >>> from hypothesis import find
    >>> find(chat_requests(), lambda r: True)
    {'model': 'gpt-4o-mini', 'messages': [{'role': 'user', 'content': ''}]}
    """
    if not models or not all(isinstance(m, str) and m for m in models):
        raise InvalidArgument(f"chat_requests(): models must be non-empty model names, got {models!r}")
    return _requests(list(models))
