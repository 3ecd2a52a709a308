"""Hypothesis strategies for chat completions (requests, replies, streams, structured outputs and errors) and
embeddings (requests and replies, from :mod:`mockai.embedding_strategies`).

Imported only by those who ask (``pip install 'pytest-mockai[hypothesis]'``); nothing else in mockai imports Hypothesis.
Replies and streams come from :mod:`mockai.shapes`, the same building blocks behind the fuzz responder
(``mockai serve --responder fuzz``), driven here by Hypothesis draws, so they shrink: towards short plain text,
``finish_reason: "stop"``, one choice, one content piece and the real API's own first delta.

Every value drawn is valid: replies and chunks parse with the ``openai`` SDK's types in strict mode, streams
reassemble (with the SDK's own accumulator) to the reply they came from, and requests (from
:mod:`mockai.request_strategies`) are valid by OpenAI's request schema and the SDK's request types.

For the Responses API: :func:`response_requests`, :func:`response_objects` and :func:`response_streams` (from
:mod:`mockai.response_strategies`).

    from hypothesis import given
    from mockai import MockAI
    from mockai.strategies import chunk_streams

    @given(chunk_streams(n=1))             # n=1: the client below sends no n, so it asks for one choice
    def test_my_client_survives_any_stream(drawn):
        mock = MockAI()                 # build the mock inside the test: one per example
        mock.queue(drawn)               # the next request is answered with exactly these chunks
        assert my_stream_to_text(mock.client()) == drawn.completion["choices"][0]["message"]["content"]

>>> from hypothesis import find
>>> find(chat_completions(n=1), lambda c: c["choices"][0]["finish_reason"] == "length")["object"]
'chat.completion'
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as exc:  # an optional dependency: say how to get it
    raise ImportError("mockai.strategies needs Hypothesis, which is not installed: pip install hypothesis (or "
                      "pip install 'pytest-mockai[hypothesis]')") from exc

from .chat import prompt_of
from .embedding_strategies import embedding_requests, embedding_responses
from .errors import APIError
from .faults import QUOTA_MESSAGE, duration, rate_limit_error, retry_headers
from .request_strategies import HypothesisSource, chat_requests, messages, tools
from .response_strategies import DrawnResponse, response_objects, response_requests, response_streams
from .schema import SchemaError, value_for
from .shapes import (
    FINISHES,
    KINDS,
    DrawnStream,
    ReplySpace,
    SeededSource,
    ToolSpec,
    draw_stream,
    space_for,
)
from .wire import NAME_PATTERN, ChatCompletionRequest

__all__ = [
    "DrawnResponse",
    "DrawnStream",
    "HypothesisSource",
    "api_errors",
    "assistant_messages",
    "chat_completions",
    "chat_requests",
    "chunk_streams",
    "embedding_requests",
    "embedding_responses",
    "json_for_schema",
    "messages",
    "refusals",
    "response_objects",
    "response_requests",
    "response_streams",
    "tool_calls",
    "tools",
]

T = TypeVar("T")

_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


# --- replies and streams -----------------------------------------------------------------------------------


def _space(*, n: int | None, tools: Sequence[Mapping[str, Any]] | None, tool_choice: str | Mapping[str, Any],
           parallel_tool_calls: bool, response_format: Mapping[str, Any] | None, max_tokens: int | None,
           stop: str | Sequence[str] | None, finish_reasons: Sequence[str] | None, kinds: Sequence[str],
           logprobs: int | None, include_usage: bool | None, model: str | None,
           for_request: Mapping[str, Any] | ChatCompletionRequest | None, where: str) -> tuple[ReplySpace, bool, bool]:
    """Validate the common arguments eagerly; the space, whether ``n`` and ``include_usage`` are to be drawn."""
    def fail(message: str) -> InvalidArgument:
        return InvalidArgument(f"{where}: {message}")

    if for_request is not None:
        from .validation import parse_chat

        request = for_request
        if not isinstance(request, ChatCompletionRequest):
            try:
                request = parse_chat(dict(request))[1]
            except APIError as err:
                raise fail(f"for_request is not a valid request: {err.message} (param {err.param!r})") from None
        space = space_for(prompt_of(request))
        return dataclasses.replace(space, model=model), False, False
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
        raise fail(f"n must be an integer from 1 to 128, or None to draw 1 to 3; got {n!r}")
    specs = []
    for i, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or tool.get("type") != "function":
            raise fail(f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}, "
                       f"got {tool!r}")
        name = function.get("name")
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            raise fail(f"tools[{i}].function.name must match {NAME_PATTERN}, got {name!r}")
        params = function.get("parameters") or {"type": "object", "properties": {}}
        strict = bool(function.get("strict"))
        try:
            value_for(params, SeededSource(random.Random(0)), strict=strict)
        except (SchemaError, LookupError, TypeError, ValueError, RecursionError) as exc:
            raise fail(f"tools[{i}].function.parameters admits no value mockai can make: {exc}") from None
        specs.append(ToolSpec(name, params, strict))
    given_choice = tool_choice
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        tool_choice = name if tool_choice.get("type") == "function" and isinstance(name, str) else ""
    if tool_choice not in ("auto", "none", "required") and tool_choice not in {t.name for t in specs}:
        raise fail("tool_choice must be 'auto', 'none', 'required' or the name of a tool given (as a string or as "
                   f"{{'type': 'function', 'function': {{'name': ...}}}}); got {given_choice!r}")
    schema: Mapping[str, Any] | None = None
    strict = json_object = False
    if response_format is not None:
        if not isinstance(response_format, Mapping):
            raise fail(f"response_format must be a dict such as {{'type': 'json_object'}}, got {response_format!r}")
        kind = response_format.get("type")
        spec = response_format.get("json_schema")
        if kind == "json_schema" and not isinstance(spec, Mapping):
            # The server's 400 for the same body: "Missing required parameter: 'response_format.json_schema'".
            flat = " (a flat {'type', 'name', 'schema'} is the Responses API's text.format shape)" if (
                "schema" in response_format or "name" in response_format) else ""
            raise fail("response_format of type 'json_schema' nests its schema in chat completions: {'type': "
                       "'json_schema', 'json_schema': {'name': ..., 'schema': {...}, 'strict': True}}; got "
                       f"{dict(response_format)!r}{flat}")
        if kind == "json_schema":
            assert isinstance(spec, Mapping)
            schema, strict = spec.get("schema") or {"type": "object"}, bool(spec.get("strict"))
            try:
                value_for(schema, SeededSource(random.Random(0)), strict=strict)
            except (SchemaError, LookupError, TypeError, ValueError, RecursionError) as exc:
                raise fail(f"response_format's schema admits no value mockai can make: {exc}") from None
        elif kind == "json_object":
            json_object = True
        elif kind != "text":
            raise fail(f"response_format type must be 'text', 'json_object' or 'json_schema'; got {kind!r}")
    finishes = tuple(finish_reasons) if finish_reasons is not None else FINISHES
    unknown = sorted(set(finishes) - set(FINISHES))
    if unknown or not finishes:
        raise fail(f"finish_reasons must be a non-empty subset of {list(FINISHES)}; got {list(finishes)!r}")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise fail(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if "length" not in finishes:
            raise fail("max_tokens may cut a reply, so finish_reasons must include 'length'")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise fail(f"stop must be a non-empty string or up to 4 of them, got {stop!r}")
    bad_kinds = sorted(set(kinds) - set(KINDS))
    if bad_kinds or not kinds:
        raise fail(f"kinds must be a non-empty subset of {list(KINDS)}; got {list(kinds)!r}")
    if logprobs is not None and (not isinstance(logprobs, int) or not 0 <= logprobs <= 20):
        raise fail(f"logprobs must be None or a number of top_logprobs from 0 to 20, got {logprobs!r}")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise fail(f"include_usage must be True, False or None (drawn), got {include_usage!r}")
    space = ReplySpace(n=n or 1, tools=tuple(specs), tool_choice=tool_choice,
                       parallel_tool_calls=parallel_tool_calls, schema=schema, strict=strict,
                       json_object=json_object, max_tokens=max_tokens, stop=stops, finish_reasons=finishes,
                       kinds=tuple(kinds), logprobs=logprobs, include_usage=bool(include_usage), model=model)  # type: ignore[arg-type]
    if not space.allowed_kinds():
        raise fail(f"no reply fits: kinds={list(kinds)}, finish_reasons={list(finishes)}, tool_choice="
                   f"{tool_choice!r} and {len(specs)} tool(s) leave nothing to draw")
    return space, n is None, include_usage is None


@st.composite
def _streams(draw: Callable[[SearchStrategy[Any]], Any], space: ReplySpace, draw_n: bool,
             draw_usage: bool) -> DrawnStream:
    changes: dict[str, Any] = {}
    if draw_n:
        changes["n"] = draw(st.integers(1, 3))
    if draw_usage:
        changes["include_usage"] = draw(st.booleans())
    if changes:
        space = dataclasses.replace(space, **changes)
    try:
        return draw_stream(HypothesisSource(draw), space)
    except SchemaError:  # a schema no value satisfies (an empty enum, a range with no integer in it)
        from hypothesis import reject

        reject()


def chunk_streams(*, n: int | None = None, tools: Sequence[Mapping[str, Any]] | None = None,
                  tool_choice: str | Mapping[str, Any] = "auto", parallel_tool_calls: bool = True,
                  response_format: Mapping[str, Any] | None = None, max_tokens: int | None = None,
                  stop: str | Sequence[str] | None = None, finish_reasons: Sequence[str] | None = None,
                  kinds: Sequence[str] = KINDS, logprobs: int | None = None, include_usage: bool | None = None,
                  model: str | None = None,
                  for_request: Mapping[str, Any] | ChatCompletionRequest | None = None) -> SearchStrategy[DrawnStream]:
    """Streams a correct client must reassemble: :class:`~mockai.shapes.DrawnStream` values with ``.chunks``
    (``chat.completion.chunk`` dicts), ``.completion`` (the ``chat.completion`` they reassemble to) and
    ``.reply``; ``mock.queue(drawn)`` sends exactly these chunks.

    Each choice is plain text (words, spacing, punctuation, ZWJ emoji, combining marks, right-to-left and CJK
    text, any code point), JSON for ``response_format``, 1-3 calls of the ``tools`` given (arguments valid for
    their schemas; ``tool_choice`` honoured), or a refusal; it finishes on ``stop``, ``length`` (cut anywhere,
    mid-word), ``content_filter`` or ``tool_calls`` (restricted by ``finish_reasons``, ``max_tokens`` and
    ``stop``). The split: content and arguments cut anywhere between code points, token-sized or one code point
    per delta; role-only, empty and ``content: ""`` deltas; the first piece in the role delta; the finish on the
    last delta; choices interleaved (``n``: ``None`` draws 1 to 3); a usage chunk (``include_usage``: ``None``
    draws it). ``for_request`` takes every constraint from a request body instead.

    Shrinks towards one choice of short plain text finishing on ``stop``, sent in one piece after the real API's
    first delta, with no usage chunk.

    >>> from hypothesis import find
    >>> drawn = find(chunk_streams(n=2), lambda d: True)
    >>> [c["choices"][0]["index"] for c in drawn.chunks]
    [0, 0, 1, 1]
    """
    space, draw_n, draw_usage = _space(n=n, tools=tools, tool_choice=tool_choice,
                                       parallel_tool_calls=parallel_tool_calls, response_format=response_format,
                                       max_tokens=max_tokens, stop=stop, finish_reasons=finish_reasons, kinds=kinds,
                                       logprobs=logprobs, include_usage=include_usage, model=model,
                                       for_request=for_request, where="chunk_streams()")
    return _streams(space, draw_n, draw_usage)


def chat_completions(*, n: int | None = None, tools: Sequence[Mapping[str, Any]] | None = None,
                     tool_choice: str | Mapping[str, Any] = "auto", parallel_tool_calls: bool = True,
                     response_format: Mapping[str, Any] | None = None, max_tokens: int | None = None,
                     stop: str | Sequence[str] | None = None, finish_reasons: Sequence[str] | None = None,
                     kinds: Sequence[str] = KINDS, logprobs: int | None = None, model: str | None = None,
                     for_request: Mapping[str, Any] | ChatCompletionRequest | None = None,
                     ) -> SearchStrategy[dict[str, Any]]:
    """``chat.completion`` objects (dicts, as on the wire): the ``.completion`` of :func:`chunk_streams` with the
    same arguments. ``mock.queue(completion)`` sends one.

    >>> from hypothesis import find
    >>> find(chat_completions(kinds=["refusal"]), lambda c: True)["choices"][0]["message"]["refusal"]
    "I'm sorry, but I can't help with that."
    """
    space, draw_n, _ = _space(n=n, tools=tools, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
                              response_format=response_format, max_tokens=max_tokens, stop=stop,
                              finish_reasons=finish_reasons, kinds=kinds, logprobs=logprobs, include_usage=False,
                              model=model, for_request=for_request, where="chat_completions()")
    return _streams(space, draw_n, False).map(lambda d: d.completion)


def assistant_messages(*, tools: Sequence[Mapping[str, Any]] | None = None, tool_choice: str = "auto",
                       response_format: Mapping[str, Any] | None = None,
                       kinds: Sequence[str] = KINDS) -> SearchStrategy[dict[str, Any]]:
    """The ``message`` of a one-choice reply: ``{"role": "assistant", "content", "refusal", "tool_calls"?,
    "annotations"}``; content ``None`` with tool calls or a refusal. Shrinks like :func:`chat_completions`.

    >>> from hypothesis import find
    >>> find(assistant_messages(), lambda m: True)["role"]
    'assistant'
    """
    space, _, _ = _space(n=1, tools=tools, tool_choice=tool_choice, parallel_tool_calls=True,
                         response_format=response_format, max_tokens=None, stop=None, finish_reasons=None,
                         kinds=kinds, logprobs=None, include_usage=False, model=None, for_request=None,
                         where="assistant_messages()")
    return _streams(space, False, False).map(lambda d: d.completion["choices"][0]["message"])


def tool_calls(*, for_tools: Sequence[Mapping[str, Any]],
               parallel: bool = True) -> SearchStrategy[list[dict[str, Any]]]:
    """Lists of 1-3 (1 without ``parallel``) wire tool calls ``{"id", "type": "function", "function": {"name",
    "arguments"}}`` of the functions in ``for_tools`` (tool definitions as sent in a request), with arguments
    JSON valid for each function's ``parameters`` (every property present when the function is ``strict``).
    Shrinks towards one call of the first tool with the smallest arguments.

    >>> from hypothesis import find
    >>> tool = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}
    >>> find(tool_calls(for_tools=[tool]), lambda c: True)[0]["function"]
    {'name': 'ping', 'arguments': '{}'}
    """
    if not for_tools:
        raise InvalidArgument("tool_calls(): for_tools must name at least one function tool")
    space, _, _ = _space(n=1, tools=for_tools, tool_choice="required", parallel_tool_calls=parallel,
                         response_format=None, max_tokens=None, stop=None, finish_reasons=["tool_calls"],
                         kinds=["tools"], logprobs=None, include_usage=False, model=None, for_request=None,
                         where="tool_calls()")
    return _streams(space, False, False).map(lambda d: d.completion["choices"][0]["message"]["tool_calls"])


def refusals(*, n: int | None = 1) -> SearchStrategy[dict[str, Any]]:
    """``chat.completion`` objects whose every choice refuses: ``content: null``, ``message.refusal`` set (one
    of the real API's phrasings, or drawn text), ``finish_reason: "stop"``. Shrinks to the first phrasing.

    >>> from hypothesis import find
    >>> find(refusals(), lambda c: True)["choices"][0]["message"]["content"] is None
    True
    """
    space, draw_n, _ = _space(n=n, tools=None, tool_choice="auto", parallel_tool_calls=True, response_format=None,
                              max_tokens=None, stop=None, finish_reasons=["stop"], kinds=["refusal"], logprobs=None,
                              include_usage=False, model=None, for_request=None, where="refusals()")
    return _streams(space, draw_n, False).map(lambda d: d.completion)


@st.composite
def _json_values(draw: Callable[[SearchStrategy[Any]], Any], schema: Mapping[str, Any] | bool, strict: bool) -> Any:
    try:
        return value_for(schema, HypothesisSource(draw), strict=strict)
    except SchemaError:
        from hypothesis import reject

        reject()


def json_for_schema(schema: Mapping[str, Any] | bool, *, strict: bool = False) -> SearchStrategy[Any]:
    """JSON values valid against ``schema`` (the subset :mod:`mockai.schema` supports: types, enum, const,
    anyOf/oneOf/allOf, local $ref, object/array/string/number bounds, common formats). With ``strict`` every
    property is present, as OpenAI's strict structured outputs guarantee; without, optional properties may be
    missing and open objects get extra keys. Drawn by the very code the default generator uses, with wider
    words and floats. Shrinks towards the first enum option, lower bounds, shorter arrays and fewer optional
    properties.

    >>> from hypothesis import find
    >>> find(json_for_schema({"type": "integer", "minimum": 3}), lambda v: True)
    3
    """
    if not isinstance(schema, (Mapping, bool)):
        raise InvalidArgument(f"json_for_schema(): schema must be a JSON schema object or a boolean, got "
                              f"{type(schema).__name__}")
    try:
        value_for(schema, SeededSource(random.Random(0)), strict=strict)
    except (SchemaError, LookupError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidArgument(f"json_for_schema(): the schema admits no value mockai can make: {exc}") from None
    return _json_values(schema, strict)


# --- errors ------------------------------------------------------------------------------------------------

_ERRORS: dict[int, list[tuple[str, str | None, str | None]]] = {
    400: [("Invalid value for 'temperature': must be between 0 and 2.", "temperature", "invalid_value"),
          ("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
           "'tool_calls'.", "messages.[1].role", None),
          ("This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 "
           "tokens. Please reduce the length of the messages.", "messages", "context_length_exceeded")],
    401: [("Incorrect API key provided: sk-abc******wxyz. You can find your API key at "
           "https://platform.openai.com/account/api-keys.", None, "invalid_api_key")],
    403: [("You are not allowed to sample from this model", None, None),
          ("Country, region, or territory not supported", None, "unsupported_country_region_territory")],
    404: [("The model `gpt-9` does not exist or you do not have access to it.", None, "model_not_found")],
    409: [("The request conflicted with another request.", None, None)],
    422: [("Unprocessable entity.", None, None)],
    # 429's message, type and headers are made by mockai.faults, as mockai's own 429s are: these stand for them.
    429: [("requests", None, "rate_limit_exceeded"), ("tokens", None, "rate_limit_exceeded"),
          (QUOTA_MESSAGE, None, "insufficient_quota")],
    500: [("The server had an error while processing your request. Sorry about that!", None, None)],
    502: [("Bad gateway.", None, None)],
    503: [("The engine is currently overloaded, please try again later.", None, None),
          ("The server is overloaded or not ready yet.", None, None)],
    504: [("Gateway timeout.", None, None)],
}


@st.composite
def _api_errors(draw: Callable[[SearchStrategy[Any]], Any], statuses: Sequence[int]) -> APIError:
    status = draw(st.sampled_from(statuses))
    message, param, code = draw(st.sampled_from(_ERRORS[status]))
    headers: dict[str, str] = {}
    type_: str | None = None
    if status == 429:
        wait_ms = draw(st.integers(1, 60_000))
        limits = {"requests": draw(st.integers(1, 10_000)), "tokens": draw(st.integers(1000, 10**7))}
        for unit, limit in limits.items():
            remaining = 0 if code == "rate_limit_exceeded" and unit == message else draw(st.integers(0, limit))
            headers[f"x-ratelimit-limit-{unit}"] = str(limit)
            headers[f"x-ratelimit-remaining-{unit}"] = str(remaining)
            headers[f"x-ratelimit-reset-{unit}"] = duration(draw(st.integers(0, 360_000)) / 1000)
        if code == "rate_limit_exceeded":  # the type is the limit hit: "requests" or "tokens"
            requested = 1 if message == "requests" else draw(st.integers(1, limits["tokens"]))
            err = rate_limit_error("gpt-4o-mini", kind=message, limit=limits[message], used=limits[message],
                                   requested=requested, wait=wait_ms / 1000, headers=headers)
            message, type_, headers = err.message, err.type, err.headers
        else:
            headers.update(retry_headers(wait_ms / 1000))
            type_ = "insufficient_quota"
    if (status >= 500 or status in (409, 429)) and draw(st.booleans()):
        headers["x-should-retry"] = "true" if code != "insufficient_quota" else "false"
    return APIError(status, message, type=type_, param=param, code=code, headers=headers)


def api_errors(*, statuses: Sequence[int] | None = None) -> SearchStrategy[APIError]:
    """Errors as the real API sends them, as :class:`mockai.APIError` (queue one: ``mock.queue(err)``): a status
    (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504, or those in ``statuses``), the envelope ``{"error":
    {"message", "type", "param", "code"}}`` with the real API's messages, types and codes (a 429 is type
    ``requests`` or ``tokens`` with code ``rate_limit_exceeded``, made as mockai's own 429s are, or
    ``insufficient_quota``), and headers: 429 with ``retry-after`` (never earlier than ``retry-after-ms``),
    ``retry-after-ms`` and ``x-ratelimit-*``, sometimes ``x-should-retry``. The server adds
    ``x-request-id``. Shrinks towards the first status given and its first message.

    >>> from hypothesis import find
    >>> find(api_errors(statuses=[429]), lambda e: True).envelope()["error"]["type"]
    'requests'
    """
    chosen = list(statuses) if statuses is not None else sorted(_ERRORS)
    bad = [s for s in chosen if s not in _ERRORS]
    if bad or not chosen:
        raise InvalidArgument(f"api_errors(): statuses must be a non-empty subset of {sorted(_ERRORS)}; "
                              f"got {bad or chosen}")
    return _api_errors(chosen)
