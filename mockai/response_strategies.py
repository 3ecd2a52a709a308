"""Hypothesis strategies for the Responses API: request bodies (:func:`response_requests`), replies
(:func:`response_objects`) and event streams (:func:`response_streams`). Import them from :mod:`mockai.strategies`.

Requests are valid by OpenAI's published schema (``CreateResponse``), the ``openai`` SDK's ``ResponseCreateParams``
and mockai's own validation (mockai's tests hold them to all three), so mockai answers them. Replies and streams
come from :mod:`mockai.response_shapes`, the building blocks of the fuzz responder, driven by Hypothesis draws so
they shrink: towards one short message, ``completed``, each text in one delta. Every stream is written by mockai's
own renderer from the drawn response, so the SDK's stream state (``ResponseStreamState``) accepts it and
reassembles it to ``.response``.

    from hypothesis import given
    from mockai import MockAI
    from mockai.strategies import response_streams

    @given(response_streams())
    def test_my_client_survives_any_stream(drawn):
        mock = MockAI()                 # one per example
        mock.queue(drawn)               # the next request gets these output items, in exactly these deltas
        assert my_stream_to_text(mock.client()) == "".join(...)  # compare with drawn.response["output"]

>>> from hypothesis import find
>>> find(response_requests(), lambda r: True)
{'model': 'gpt-4o-mini', 'input': '0'}
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from .errors import APIError
from .prompt import ToolDef
from .request_strategies import _METADATA, _NAMES, _TEXT, HypothesisSource, _parameters, _up_to
from .response_shapes import KINDS, STATUSES, DrawnResponse, ResponseSpace, draw_response, space_of
from .responses.validation import is_reasoning_model
from .responses.values import REASONING_EFFORTS, REASONING_SUMMARIES, SERVICE_TIERS, TRUNCATION, ImageDetail
from .responses.wire import TOOL_NAME_PATTERN
from .schema import SchemaError, value_for
from .shapes import SeededSource

__all__ = ["DrawnResponse", "response_objects", "response_requests", "response_streams"]

# Custom tool grammars mockai draws inputs for (regular expressions and a small Lark grammar).
_GRAMMARS = (
    {"type": "grammar", "syntax": "regex", "definition": r"[0-9]{3}-[0-9]{4}"},
    {"type": "grammar", "syntax": "regex", "definition": r"(SELECT|DELETE) [a-z]+ FROM t"},
    {"type": "grammar", "syntax": "lark", "definition": 'start: "add " NUMBER " " NUMBER\n%import common.NUMBER'},
)
_VERBOSITY = ("low", "medium", "high")
_DETAILS: tuple[str, ...] = get_args(ImageDetail)
_INPUT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


# --- requests ------------------------------------------------------------------------------------------------


@st.composite
def _function_tools(draw: Callable[[SearchStrategy[Any]], Any], names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        strict = draw(st.booleans())
        # ``strict`` and ``parameters`` are required by the schema and the SDK (``null`` is allowed).
        tool: dict[str, Any] = {"type": "function", "name": name, "parameters": draw(_parameters(strict)),
                                "strict": True if strict else draw(st.sampled_from([False, None]))}
        if draw(st.booleans()):
            tool["description"] = draw(_TEXT)
        out.append(tool)
    return out


def _message(role: str, text: str, parts: bool) -> dict[str, Any]:
    """A message as a string, or (user, system, developer) as one ``input_text`` part. Assistant messages stay
    strings: their parts form is an output item, which needs the id of a stored one."""
    if not parts or role == "assistant":
        return {"role": role, "content": text}
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


@st.composite
def _input(draw: Callable[[SearchStrategy[Any]], Any], json: bool, max_turns: int) -> str | list[dict[str, Any]]:
    mention = " Answer in JSON." if json else ""
    if not draw(st.booleans()):  # a string input shrinks first; an empty one is a 400
        return str(draw(_INPUT)) + mention
    items: list[dict[str, Any]] = []
    if draw(st.booleans()):
        items.append(_message(draw(st.sampled_from(["system", "developer"])), draw(_TEXT), draw(st.booleans())))
    for turn in range(draw(st.integers(0, max_turns - 1))):
        items.append(_message("user", draw(_TEXT), draw(st.booleans())))
        if draw(st.booleans()):
            for k in range(draw(st.integers(1, 2))):
                call_id = f"call_{turn}_{k}"
                if draw(st.booleans()):
                    items.append({"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"})
                    items.append({"type": "function_call_output", "call_id": call_id, "output": draw(_TEXT)})
                else:
                    items.append({"type": "custom_tool_call", "call_id": call_id, "name": "c", "input": draw(_TEXT)})
                    items.append({"type": "custom_tool_call_output", "call_id": call_id, "output": draw(_TEXT)})
        else:
            items.append(_message("assistant", draw(_TEXT), draw(st.booleans())))
    last = str(draw(_TEXT)) + mention
    if draw(st.booleans()):
        parts: list[dict[str, Any]] = [{"type": "input_text", "text": last}]
        if draw(st.booleans()):
            # ``detail`` is required by the schema and the SDK (the real API does without it).
            image = {"type": "input_image", "image_url": f"https://example.com/{draw(_NAMES)}.png",
                     "detail": draw(st.sampled_from(_DETAILS))}
            parts.insert(draw(st.integers(0, 1)), image)
        items.append({"role": "user", "content": parts})
    else:
        items.append({"role": "user", "content": last})
    return items


@st.composite
def _requests(draw: Callable[[SearchStrategy[Any]], Any], models: Sequence[str], max_turns: int) -> dict[str, Any]:
    model = draw(st.sampled_from(models))
    reasoning = is_reasoning_model(model)
    fmt = draw(st.sampled_from([None, "text", "json_object", "json_schema"]))
    body: dict[str, Any] = {"model": model, "input": draw(_input(fmt == "json_object", max_turns))}
    # Every choice is drawn whatever the model, so the draws line up across models and shrink well; what a
    # model refuses (reasoning for the others; sampling and logprobs for reasoning models) is then left out.
    optional: dict[str, SearchStrategy[Any]] = {
        "instructions": _TEXT, "max_output_tokens": st.integers(16, 400), "max_tool_calls": st.integers(1, 8),
        "truncation": st.sampled_from(TRUNCATION), "store": st.booleans(), "metadata": _METADATA,
        "service_tier": st.sampled_from(SERVICE_TIERS), "prompt_cache_key": _TEXT, "user": _TEXT,
        "safety_identifier": _up_to(64), "temperature": st.floats(0, 2), "top_p": st.floats(0, 1),
        "reasoning": st.fixed_dictionaries({}, optional={"effort": st.sampled_from(REASONING_EFFORTS),
                                                         "summary": st.sampled_from(REASONING_SUMMARIES)}),
    }
    refused = {"temperature", "top_p"} if reasoning else {"reasoning"}
    for key, strategy in optional.items():
        if draw(st.booleans()) and key not in refused:
            body[key] = draw(strategy)
    include = draw(st.lists(st.sampled_from(["reasoning.encrypted_content", "message.input_image.image_url",
                                             "web_search_call.action.sources"]), unique=True, max_size=2))
    if draw(st.booleans()) and not reasoning:
        include.append("message.output_text.logprobs")
        if draw(st.booleans()):
            body["top_logprobs"] = draw(st.integers(0, 20))
    if include:
        body["include"] = include
    if draw(st.booleans()):
        body["stream"] = True
        if draw(st.booleans()):
            body["stream_options"] = {"include_obfuscation": draw(st.booleans())}
    if body.get("store") is not False and draw(st.integers(0, 9)) == 9:  # now and then (shrinks away)
        body["background"] = True
    if draw(st.booleans()):
        _tools(draw, body)
    text: dict[str, Any] = {}
    if fmt in ("text", "json_object"):
        text["format"] = {"type": fmt}
    elif fmt == "json_schema":
        strict = draw(st.booleans())
        text["format"] = {"type": "json_schema", "name": draw(_NAMES), "schema": draw(_parameters(strict)),
                          **({"strict": True} if strict else {})}
    if draw(st.booleans()):
        text["verbosity"] = draw(st.sampled_from(_VERBOSITY))
    if text:
        body["text"] = text
    return body


def _tools(draw: Callable[[SearchStrategy[Any]], Any], body: dict[str, Any]) -> None:
    names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    split = draw(st.integers(0, len(names)))
    functions = draw(_function_tools(names[:split]))
    customs = []
    for name in names[split:]:
        tool: dict[str, Any] = {"type": "custom", "name": name}
        if draw(st.booleans()):
            tool["format"] = draw(st.sampled_from([{"type": "text"}, *_GRAMMARS]))
        if draw(st.booleans()):
            tool["description"] = draw(_TEXT)
        customs.append(tool)
    body["tools"] = [*functions, *customs]
    first = body["tools"][0]
    choice = draw(st.sampled_from(["default", "auto", "none", "required", "named", "allowed"]))
    if choice == "named":
        body["tool_choice"] = {"type": first["type"], "name": first["name"]}
    elif choice == "allowed":
        chosen = draw(st.lists(st.sampled_from(body["tools"]), min_size=1, unique_by=lambda t: t["name"]))
        body["tool_choice"] = {"type": "allowed_tools", "mode": draw(st.sampled_from(["auto", "required"])),
                               "tools": [{"type": t["type"], "name": t["name"]} for t in chosen]}
    elif choice != "default":
        body["tool_choice"] = choice
    if draw(st.booleans()):
        body["parallel_tool_calls"] = draw(st.booleans())


def response_requests(*, models: Sequence[str] = ("gpt-4o-mini", "gpt-4.1", "o4-mini", "gpt-5"),
                      max_turns: int = 3) -> SearchStrategy[dict[str, Any]]:
    """``POST /v1/responses`` bodies the official schema, the ``openai`` SDK's ``ResponseCreateParams`` and
    mockai's validation accept: a model of ``models``; ``input`` as a string or as items (an optional system or
    developer message, up to ``max_turns - 1`` earlier turns: a user message, then an assistant message or
    function and custom tool calls with their outputs; a last user message of text parts and maybe an image, any
    ``detail``), each message as a string or as parts; ``instructions``; function tools (strict ones closed) and
    custom tools (text, regex and Lark grammars) with every ``tool_choice`` form (named, ``allowed_tools``) and
    ``parallel_tool_calls``; ``text.format`` (``json_object`` only with "JSON" in the input; ``json_schema``,
    strict schemas closed) and ``verbosity``; ``reasoning`` (any effort and summary) on reasoning models and
    ``temperature``/``top_p`` and logprobs (``include``, ``top_logprobs``) on the others; ``max_output_tokens``
    (16 and up), ``max_tool_calls``, ``truncation``, ``store``, ``background``, ``metadata`` up to its limits,
    ``service_tier``, ``stream`` with ``stream_options``, ``user``, ``prompt_cache_key`` and
    ``safety_identifier``. Shrinks to the first model and the input ``"0"``.

    >>> from hypothesis import find
    >>> r = find(response_requests(), lambda r: r.get("tool_choice") == "required")
    >>> r["model"], r["tool_choice"], len(r["tools"]) >= 1
    ('gpt-4o-mini', 'required', True)
    """
    if not models or not all(isinstance(m, str) and m for m in models):
        raise InvalidArgument(f"response_requests(): models must be non-empty model names, got {models!r}")
    if not isinstance(max_turns, int) or max_turns < 1:
        raise InvalidArgument(f"response_requests(): max_turns must be a positive integer, got {max_turns!r}")
    return _requests(list(models), max_turns)


# --- replies and streams ----------------------------------------------------------------------------------------


def _space(*, tools: Sequence[Mapping[str, Any]] | None, tool_choice: str | Mapping[str, Any],
           parallel_tool_calls: bool, text_format: Mapping[str, Any] | None, max_output_tokens: int | None,
           reasoning: bool, summary: bool, logprobs: int | None, kinds: Sequence[str], statuses: Sequence[str],
           model: str | None, for_request: Mapping[str, Any] | None, where: str) -> ResponseSpace:
    """Validate the arguments eagerly; the space they describe."""
    def fail(message: str) -> InvalidArgument:
        return InvalidArgument(f"{where}: {message}")

    if for_request is not None:
        from .responses.items import to_prompt
        from .responses.validation import parse_response_request

        try:
            request = parse_response_request(dict(for_request))[1]
        except APIError as err:
            raise fail(f"for_request is not a valid request: {err.message} (param {err.param!r})") from None
        encrypted = "reasoning.encrypted_content" in (request.include or [])
        padded = request.stream_options is None or request.stream_options.include_obfuscation is not False
        return dataclasses.replace(space_of(to_prompt(request)), model=model or request.model, encrypted=encrypted,
                                   obfuscation=padded)
    defs: list[ToolDef] = []
    for i, tool in enumerate(tools or []):
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        name = tool.get("name") if isinstance(tool, Mapping) else None
        if kind not in ("function", "custom") or not isinstance(name, str) or not re.match(TOOL_NAME_PATTERN, name):
            raise fail(f"tools[{i}] must be {{'type': 'function' or 'custom', 'name': ..., ...}} with a name matching "
                       f"{TOOL_NAME_PATTERN}, got {tool!r}")
        assert isinstance(tool, Mapping)
        if kind == "function":
            params = tool.get("parameters") or {"type": "object", "properties": {}}
            try:
                value_for(params, SeededSource(random.Random(0)), strict=bool(tool.get("strict")))
            except (SchemaError, LookupError, TypeError, ValueError, RecursionError) as exc:
                raise fail(f"tools[{i}].parameters admits no value mockai can make: {exc}") from None
            defs.append(ToolDef(name, parameters=params, strict=bool(tool.get("strict"))))
        else:
            fmt = tool.get("format")
            defs.append(ToolDef(name, custom=True, format=dict(fmt) if isinstance(fmt, Mapping) else None))
    names = {t.name for t in defs}
    forced = tool_choice == "required"
    if isinstance(tool_choice, Mapping):
        named = tool_choice.get("name")
        if named not in names:
            raise fail(f"tool_choice names {named!r}, not one of the tools given ({sorted(names)})")
        defs, forced = [t for t in defs if t.name == named], True
    elif tool_choice == "none":
        defs = []
    elif tool_choice not in ("auto", "required"):
        raise fail(f"tool_choice must be 'auto', 'none', 'required' or {{'type', 'name'}} of a tool given; got "
                   f"{tool_choice!r}")
    schema: Mapping[str, Any] | None = None
    strict = json_object = False
    if text_format is not None:
        if not isinstance(text_format, Mapping):
            raise fail(f"text_format must be a dict such as {{'type': 'json_object'}}, got {text_format!r}")
        kind = text_format.get("type")
        if kind == "json_schema" and ("json_schema" in text_format or not isinstance(text_format.get("schema"),
                                                                                    (Mapping, bool))):
            # The server's 400 for the same body: "Missing required parameter: 'text.format.schema'".
            nested = (" (a nested {'type', 'json_schema': {...}} is chat completions' response_format shape)"
                      if "json_schema" in text_format else "")
            raise fail("text_format of type 'json_schema' is flat in the Responses API: {'type': 'json_schema', "
                       f"'name': ..., 'schema': {{...}}, 'strict': True}}; got {dict(text_format)!r}{nested}")
        if kind == "json_schema":
            schema, strict = text_format.get("schema") or {"type": "object"}, bool(text_format.get("strict"))
            try:
                value_for(schema, SeededSource(random.Random(0)), strict=strict)
            except (SchemaError, LookupError, TypeError, ValueError, RecursionError) as exc:
                raise fail(f"text_format's schema admits no value mockai can make: {exc}") from None
        elif kind == "json_object":
            json_object = True
        elif kind != "text":
            raise fail(f"text_format type must be 'text', 'json_object' or 'json_schema'; got {kind!r}")
    if max_output_tokens is not None and (not isinstance(max_output_tokens, int) or max_output_tokens < 1):
        raise fail(f"max_output_tokens must be a positive integer, got {max_output_tokens!r}")
    if logprobs is not None and (not isinstance(logprobs, int) or not 0 <= logprobs <= 20):
        raise fail(f"logprobs must be None or a number of top_logprobs from 0 to 20, got {logprobs!r}")
    bad = sorted(set(kinds) - set(KINDS))
    if bad or not kinds:
        raise fail(f"kinds must be a non-empty subset of {list(KINDS)}; got {list(kinds)!r}")
    if not set(statuses) <= set(STATUSES) or not statuses:
        raise fail(f"statuses must be a non-empty subset of {list(STATUSES)}; got {list(statuses)!r}")
    if summary and not reasoning:
        raise fail("summary=True needs reasoning=True: only a reasoning item has a summary")
    space = ResponseSpace(tools=tuple(defs), forced=forced and bool(defs), parallel_tool_calls=parallel_tool_calls,
                          schema=schema, strict=strict, json_object=json_object, max_tokens=max_output_tokens,
                          reasoning=reasoning, summary=summary, logprobs=logprobs, kinds=tuple(kinds),  # type: ignore[arg-type]
                          statuses=tuple(statuses), model=model)
    if not space.allowed_kinds():
        raise fail(f"no reply fits: kinds={list(kinds)}, tool_choice={tool_choice!r} and {len(defs)} tool(s) "
                   "leave nothing to draw")
    return space


@st.composite
def _drawn(draw: Callable[[SearchStrategy[Any]], Any], space: ResponseSpace) -> DrawnResponse:

    try:
        return draw_response(HypothesisSource(draw), space)
    except SchemaError:  # a schema no value satisfies (an empty enum, a range with no integer in it)
        from hypothesis import reject

        reject()


def response_streams(*, tools: Sequence[Mapping[str, Any]] | None = None,
                     tool_choice: str | Mapping[str, Any] = "auto", parallel_tool_calls: bool = True,
                     text_format: Mapping[str, Any] | None = None, max_output_tokens: int | None = None,
                     reasoning: bool = False, summary: bool = False, logprobs: int | None = None,
                     kinds: Sequence[str] = KINDS, statuses: Sequence[str] = STATUSES, model: str | None = None,
                     for_request: Mapping[str, Any] | None = None) -> SearchStrategy[DrawnResponse]:
    """Responses streams a correct client must reassemble: :class:`~mockai.response_shapes.DrawnResponse` values
    with ``.events`` (the stream's event dicts; ``.sse()`` their bytes), ``.response`` (the ``response`` object
    they reassemble to, also the terminal event's) and ``.items`` (the output drafts); ``mock.queue(drawn)`` sends
    those items, each text in exactly the drawn deltas (under the engine's ids).

    The output: with ``reasoning`` a reasoning item first (``summary``: one to three summary parts), then one or
    two messages of text (words, spacing, ZWJ emoji, combining marks, right-to-left and CJK text, any code point;
    ``url_citation`` annotations), JSON for ``text_format``, a refusal, or one to three calls of the ``tools``
    given (function arguments valid for their schema, custom tool input for its grammar; one without
    ``parallel_tool_calls``; ``tool_choice`` honoured), maybe after a message; ``completed`` or ``incomplete``
    (cut anywhere, within ``max_output_tokens``) as ``statuses`` allow. Each text travels cut at drawn code
    points, token-sized, one code point per delta, or split inside every ZWJ sequence and flag. ``for_request``
    takes every constraint from a request body instead.

    Shrinks towards one short message, ``completed``, each text in one delta.

    >>> from hypothesis import find
    >>> drawn = find(response_streams(), lambda d: True)
    >>> drawn.events[0]["type"], drawn.events[1]["type"]
    ('response.created', 'response.in_progress')
    >>> [e["sequence_number"] for e in drawn.events] == list(range(len(drawn.events)))
    True
    """
    space = _space(tools=tools, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
                   text_format=text_format, max_output_tokens=max_output_tokens, reasoning=reasoning, summary=summary,
                   logprobs=logprobs, kinds=kinds, statuses=statuses, model=model, for_request=for_request,
                   where="response_streams()")
    return _drawn(space)


def response_objects(*, tools: Sequence[Mapping[str, Any]] | None = None,
                     tool_choice: str | Mapping[str, Any] = "auto", parallel_tool_calls: bool = True,
                     text_format: Mapping[str, Any] | None = None, max_output_tokens: int | None = None,
                     reasoning: bool = False, summary: bool = False, logprobs: int | None = None,
                     kinds: Sequence[str] = KINDS, statuses: Sequence[str] = STATUSES, model: str | None = None,
                     for_request: Mapping[str, Any] | None = None) -> SearchStrategy[dict[str, Any]]:
    """``response`` objects (dicts, as on the wire): the ``.response`` of :func:`response_streams` with the same
    arguments. ``mock.queue(response)`` sends its output (under the engine's ids).

    >>> from hypothesis import find
    >>> find(response_objects(kinds=["refusal"]), lambda r: True)["output"][0]["content"][0]["refusal"]
    "I'm sorry, but I can't help with that."
    """
    space = _space(tools=tools, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
                   text_format=text_format, max_output_tokens=max_output_tokens, reasoning=reasoning, summary=summary,
                   logprobs=logprobs, kinds=kinds, statuses=statuses, model=model, for_request=for_request,
                   where="response_objects()")
    return _drawn(space).map(lambda d: d.response)
