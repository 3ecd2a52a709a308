"""Validation of ``POST /v1/responses`` bodies with the errors the real API sends.

Structure, types and ranges come from :mod:`mockai.responses.wire`; this module adds what the models cannot say:
the order the real API reports problems in (``model``, then ``input``, then the other fields), its wording for
input items, and the rules that span fields (a tool output must answer a call, a named ``tool_choice`` must be
offered, ``json_object`` needs the word "json", strict schemas must be closed, ``previous_response_id`` excludes
``conversation``, parameters a model does not take). Messages the real API is known to send are reproduced; where
its wording is unknown the message is written in its style and the comment says so.

>>> try:
...     parse_response_request(b'{"model": "gpt-4o-mini", "input": "Hi", "max_output_tokens": 8}')
... except APIError as err:
...     print(err.status, err.param, err.code)
400 max_output_tokens integer_below_min_value
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ..deferred import built
from ..errors import APIError, _most_specific, from_validation, invalid, json_type
from ..models import effort, family
from ..validation import check_schema, check_unicode, parse_json
from .values import INPUT_PARTS, ITEM_TYPES, OUTPUT_PARTS, PART_TYPES, ROLES
from .wire import (
    AllowedToolsChoice,
    BuiltinTool,
    CreateResponseRequest,
    CustomChoice,
    CustomToolCall,
    CustomToolCallOutput,
    FormatJsonObject,
    FormatJsonSchema,
    FunctionCall,
    FunctionCallOutput,
    FunctionChoice,
    FunctionTool,
    HostedChoice,
    InputText,
    McpChoice,
    Message,
    OutputText,
    Refusal,
    SpecificChoice,
    Tool,
    item_tag,
)

# Names that read as a reasoning model's, for a model the catalogue does not know.
_REASONING_NAME = re.compile(r"(ft:)?(o\d|gpt-5(?!-chat)|gpt-oss|codex)")


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` reasons: the catalogue's word for a model it knows (:func:`mockai.models.family`), a
    guess from the name for the others (o-series, gpt-5 but ``gpt-5-chat``, gpt-oss, codex).

    Validation does not use the guess (a model the catalogue does not know takes every parameter): the request
    strategies do, to draw what such a model would likely be sent.
    """
    fam = family(model)
    if fam is not None:
        return fam.reasoning
    return _REASONING_NAME.match(model) is not None


def parse_response_request(
    raw: bytes | Mapping[str, Any],
    known_call_ids: Collection[str] | None = None,
    *,
    model_checks: bool = True,
) -> tuple[dict[str, Any], CreateResponseRequest]:
    """The JSON body and the validated request, or the :class:`APIError` the real API would answer.

    ``known_call_ids`` are the calls of the previous response chain (``previous_response_id`` or
    ``conversation``), which a tool output may answer. With a chain and without them, whether each output answers
    a call is left to the caller (:func:`check_call_outputs` once it has the chain), as are the parameters the
    model does not take when ``model_checks`` is false (:func:`check_model_support`): the real API looks the chain
    up before it checks those.

    >>> body, request = parse_response_request({"model": "gpt-4o-mini", "previous_response_id": "resp_1",
    ...     "input": [{"type": "function_call_output", "call_id": "call_1", "output": "12C"}]})
    >>> check_call_outputs(request, known_call_ids={"call_1"})
    """
    if isinstance(raw, (bytes, bytearray)):
        body = parse_json(bytes(raw))
    else:
        body = dict(raw)
        check_unicode(body)
    if not isinstance(body, dict):
        raise invalid(f"Invalid type for request body: expected an object, but got {json_type(body)} instead.",
                      None, "invalid_type")
    _check_required(body)
    _check_moved(body)
    if isinstance(body.get("input"), list):
        _check_items(body["input"])
    try:
        request = built(CreateResponseRequest).model_validate(body)
    except ValidationError as exc:
        raise _from_errors(exc.errors(include_url=False), body) from None
    except RecursionError:
        raise invalid("The request body is nested too deeply.", None) from None
    check_request(request)
    check_call_outputs(request, () if known_call_ids is None and not _chained(request) else known_call_ids)
    if model_checks:
        check_model_support(request)
    return body, request


# --- before the models: presence, moved parameters and input items ------------------------------------------


# Chat completions parameters the Responses API names differently; it answers them with a pointer.
_MOVED = {"messages": "input", "response_format": "text.format", "reasoning_effort": "reasoning.effort",
          "max_completion_tokens": "max_output_tokens"}


def _check_required(body: Mapping[str, Any]) -> None:
    """``model`` and ``input`` are required unless a reusable ``prompt`` supplies them; null is not absent."""
    if body.get("prompt") is not None:
        return
    for name in ("model", "input"):
        if name not in body:
            raise APIError(400, f"Missing required parameter: '{name}'.", param=name,
                           code="missing_required_parameter")
        if body[name] is None:
            wanted = "a string" if name == "model" else "one of a string or array of input items"
            raise invalid(f"Invalid type for '{name}': expected {wanted}, but got null instead.", name,
                          "invalid_type")


def _check_moved(body: Mapping[str, Any]) -> None:
    for old, new in _MOVED.items():
        if old in body:
            raise APIError(400, f"Unsupported parameter: '{old}'. In the Responses API, this parameter has moved to "
                                f"'{new}'. Try again with the new parameter. See the API documentation for more "
                                "information: https://platform.openai.com/docs/api-reference/responses/create.",
                           param=None, code="unsupported_parameter")


def _check_items(items: Sequence[Any]) -> None:
    """What the real API says about an item before its fields: not an object, an unknown ``type``, an unknown
    ``role`` (both named by ``input[i]``), and a content part of the wrong kind for the role (``input[i].content[j]``).
    """
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"Invalid type for '{where}': expected an input item, but got {json_type(item)} instead.",
                          where, "invalid_type")
        kind = item.get("type")
        if kind is not None and kind not in ITEM_TYPES:
            shown = kind if isinstance(kind, str) else ""
            raise invalid(f"Invalid value: '{shown}'. Supported values are: {_listed(ITEM_TYPES)}.", where)
        if item_tag(item) != "message":
            continue
        role = item.get("role")
        if role not in ROLES:
            shown = role if isinstance(role, str) else ""
            raise invalid(f"Invalid value: '{shown}'. Supported values are: {_listed(ROLES)}.", where)
        allowed = OUTPUT_PARTS if role == "assistant" else INPUT_PARTS
        content = item.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            part_type = part.get("type") if isinstance(part, dict) else None
            if isinstance(part_type, str) and part_type in PART_TYPES and part_type not in allowed:
                raise invalid(f"Invalid value: '{part_type}'. Supported values are: {_listed(allowed)}.",
                              f"{where}.content[{j}]")


# --- pydantic's errors, as the real API words them -------------------------------------------------------------

# Fields whose wrong JSON type the real API describes in its own words (and the types they take).
_TYPE_WORDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "input": ("one of a string or array of input items", (str, list)),
    "tool_choice": ("one of an object or 'none', 'auto', or 'required'", (str, dict)),
    "conversation": ("one of a string or an object", (str, dict)),
    "tools": ("an array of tools", (list,)),
    "metadata": ("a metadata object", (dict,)),
}
_BRANCH_PREFIXES = ("list[", "dict[", "literal[", "union[", "tagged-union[", "function-", "json-or-python[",
                    "nullable[")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _from_errors(errors: Sequence[Mapping[str, Any]], body: Mapping[str, Any]) -> APIError:
    """The first failing field in declaration order (the real API's order), then its most specific error."""
    top = errors[0]["loc"][0] if errors[0]["loc"] else None
    group = [e for e in errors if e["loc"][:1] == (top,)] if top is not None else list(errors)
    value = body.get(top) if isinstance(top, str) else None
    words = _TYPE_WORDS.get(top) if isinstance(top, str) else None
    if words is not None and value is not None and not isinstance(value, words[1]):
        return invalid(f"Invalid type for '{top}': expected {words[0]}, but got {json_type(value)} instead.",
                       str(top), "invalid_type")
    if top == "input" and isinstance(value, list):
        in_items = [e for e in group if len(e["loc"]) > 2 and isinstance(e["loc"][2], int)]
        if in_items:
            first = min(e["loc"][2] for e in in_items)
            group = [e for e in in_items if e["loc"][2] == first]
    # A value that is not a string did not mean the string branch of a union (``tool_choice``).
    group = [e for e in group if e["type"] != "literal_error" or isinstance(e.get("input"), str)] or group
    chosen = dict(_most_specific([{**e, "loc": _clean_loc(e["loc"], body)} for e in group]))
    err = from_validation([chosen], body)
    ctx: Mapping[str, Any] = chosen.get("ctx") or {}
    if chosen["type"] == "literal_error":
        values = _QUOTED.findall(str(ctx.get("expected", "")))
        got = chosen.get("input")
        if isinstance(got, str):
            err.message = f"Invalid value: '{got}'. Supported values are: {_listed(values)}."
        else:
            err.message = (f"Invalid type for '{err.param}': expected one of {_listed(values, 'or')}, but got "
                           f"{json_type(got)} instead.")
            err.code = "invalid_type"
    elif chosen["type"] == "union_tag_invalid":
        tags = _QUOTED.findall(str(ctx.get("expected_tags", "")))
        err.message = f"Invalid value: '{ctx.get('tag')}'. Supported values are: {_listed(tags)}."
    elif chosen["type"] in _BOUNDS and isinstance(ctx.get(_BOUNDS[chosen["type"]][0]), float):
        # A number field: the real API says "decimal" for any value in it and writes a whole bound as one.
        key, above = _BOUNDS[chosen["type"]]
        bound = ctx[key]
        shown = int(bound) if bound.is_integer() else bound
        where, op = ("above maximum", "<" if key == "lt" else "<=") if above else (
            "below minimum", ">" if key == "gt" else ">=")
        err.message = (f"Invalid '{err.param}': decimal {where} value. Expected a value {op} {shown}, but got "
                       f"{chosen.get('input')} instead.")
        err.code = f"decimal_{'above_max' if above else 'below_min'}_value"
    elif chosen["type"] == "string_too_long":
        size = len(str(chosen.get("input")))
        err.message = (f"Invalid '{err.param}': string too long. Expected a string with maximum length "
                       f"{ctx.get('max_length')}, but got a string with length {size} instead.")
    return err


# pydantic's bound errors: the ``ctx`` key of the bound, and whether the value was above it.
_BOUNDS = {"greater_than_equal": ("ge", False), "greater_than": ("gt", False), "less_than_equal": ("le", True),
           "less_than": ("lt", True)}


def _clean_loc(loc: Sequence[int | str], body: Any) -> tuple[int | str, ...]:
    """Drop pydantic's union branches and the tags of input items (``"message"`` for a message sent without
    ``type``, ``"other"`` for the items kept as sent); :func:`from_validation` drops the tags equal to a ``type``."""
    out: list[int | str] = []
    current: Any = body
    after_index = False
    for part in loc:
        if isinstance(part, str) and not (isinstance(current, Mapping) and part in current):
            if part in ("str", "int", "float", "bool", "none") or part.startswith(_BRANCH_PREFIXES):
                continue
            if after_index and isinstance(current, Mapping) and part in ("other", item_tag(current)):
                after_index = False
                continue
        out.append(part)
        after_index = isinstance(part, int)
        if isinstance(current, Mapping) and isinstance(part, str):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(out)


def _listed(values: Iterable[str], conjunction: str = "and") -> str:
    """``'a', 'b', and 'c'``; two values are ``'a' and 'b'``."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return f" {conjunction} ".join(quoted)
    return ", ".join(quoted[:-1]) + f", {conjunction} " + quoted[-1]


# --- rules across fields --------------------------------------------------------------------------------------


def check_request(request: CreateResponseRequest) -> None:
    """The cross-field rules that need only the request (no stored state, no model table)."""
    stateful = _chained(request) or request.prompt is not None
    if request.input in ("", []) and not stateful:
        # The real API's own mix of quotes.
        raise APIError(400, "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must be "
                            "provided.", param=None, code="missing_required_parameter")
    if request.previous_response_id is not None and request.conversation is not None:
        # The real message names the parameters garbled ("Mutually exclusive parameters: ''. ... 'pre..._id'").
        raise APIError(400, "Mutually exclusive parameters: Ensure you are only providing one of: "
                            "'previous_response_id' or 'conversation'.", param=None,
                       code="mutually_exclusive_parameters")
    if request.model == "":
        raise APIError(400, "The requested model '' does not exist.", param="model", code="model_not_found")
    _check_metadata(request.metadata or {})
    _check_tools(request)
    if request.prompt is None:  # a reusable prompt may bring its own tools
        _check_tool_choice(request)
    _check_text(request, stateful)
    if request.stream_options is not None and not request.stream:
        raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    if request.background and request.store is False:
        # Wording unknown: the real API refuses background responses that are not stored.
        raise invalid("Invalid value for 'store': background responses must be stored; leave 'store' out or set "
                      "it to true when 'background' is true.", "store")


def _chained(request: CreateResponseRequest) -> bool:
    return request.previous_response_id is not None or request.conversation is not None


def _check_metadata(metadata: Mapping[str, str]) -> None:
    """At most 16 pairs, keys of at most 64 characters, values of at most 512 (as chat's ``metadata``)."""
    if len(metadata) > 16:
        raise invalid(f"Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but "
                      f"got an object with {len(metadata)} properties instead.", "metadata",
                      "object_above_max_properties")
    for key, value in metadata.items():
        if len(key) > 64:
            # Wording unknown; in the style of the real API's string limits.
            raise invalid(f"Invalid 'metadata': key too long. Expected keys with maximum length 64, but got a key "
                          f"with length {len(key)} instead.", "metadata", "string_above_max_length")
        if len(value) > 512:
            raise invalid(f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, but "
                          f"got a string with length {len(value)} instead.", f"metadata.{key}",
                          "string_above_max_length")


def _check_tools(request: CreateResponseRequest) -> None:
    """Every function's parameters must be a JSON schema, and a strict function's a closed one, as chat's
    (``strict`` left out is not held to strict mode's rules: the real API then uses strict mode only when the
    schema allows it)."""
    for i, tool in enumerate(request.tools or []):
        if isinstance(tool, FunctionTool) and tool.parameters is not None:
            _strict(tool.parameters, f"function '{tool.name}'", f"tools[{i}].parameters",
                    "invalid_function_parameters", bool(tool.strict))


def _strict(schema: Mapping[str, Any], what: str, param: str, code: str, strict: bool = True) -> None:
    try:
        check_schema(schema, what, param, code, strict)
    except RecursionError:
        raise invalid(f"Invalid schema for {what}: the schema is nested too deeply.", param, code) from None


# Built-in tool types a hosted ``tool_choice`` (or an ``allowed_tools`` entry) may name interchangeably.
_FAMILIES = (
    frozenset({"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}),
    frozenset({"computer", "computer_use", "computer_use_preview"}),
)


def _offered(tools: Sequence[Tool], kind: str) -> bool:
    family = next((f for f in _FAMILIES if kind in f), frozenset({kind}))
    return any(t.type in family for t in tools)


def _not_offered(kind: str) -> APIError:
    return invalid(f"Tool choice '{kind}' not found in 'tools' parameter.", "tool_choice", None)


def _check_tool_choice(request: CreateResponseRequest) -> None:
    choice, tools = request.tool_choice, request.tools or []
    if choice == "required" and not tools:
        raise invalid("Tool choice 'required' must be specified with 'tools' parameter.", "tool_choice", None)
    if isinstance(choice, FunctionChoice) and choice.name not in {t.name for t in request.function_tools}:
        raise _not_offered("function")
    if isinstance(choice, CustomChoice) and choice.name not in {t.name for t in request.custom_tools}:
        raise _not_offered("custom")
    if isinstance(choice, (HostedChoice, SpecificChoice)) and not _offered(tools, choice.type):
        raise _not_offered(choice.type)
    if isinstance(choice, McpChoice) and choice.server_label not in _mcp_labels(tools):
        raise _not_offered("mcp")
    if isinstance(choice, AllowedToolsChoice):
        for j, entry in enumerate(choice.tools):
            _check_allowed(request, entry, f"tool_choice.tools[{j}]")


def _mcp_labels(tools: Sequence[Tool]) -> list[Any]:
    """The ``server_label`` of each MCP tool, as sent (a list: a malformed label need not be hashable)."""
    return [(t.model_extra or {}).get("server_label") for t in tools if isinstance(t, BuiltinTool) and t.type == "mcp"]


def _check_allowed(request: CreateResponseRequest, entry: Mapping[str, Any], where: str) -> None:
    """An ``allowed_tools`` entry names a tool the request offers. Wording unknown beyond the usual forms."""
    kind = entry.get("type")
    if kind is None:
        raise APIError(400, f"Missing required parameter: '{where}.type'.", param=f"{where}.type",
                       code="missing_required_parameter")
    if kind in ("function", "custom"):
        name = entry.get("name")
        if not isinstance(name, str):
            raise APIError(400, f"Missing required parameter: '{where}.name'.", param=f"{where}.name",
                           code="missing_required_parameter")
        offered = request.function_tools if kind == "function" else request.custom_tools
        if name not in {t.name for t in offered}:
            raise invalid(f"Invalid value for '{where}': {kind} tool '{name}' not found in 'tools'.", where, None)
    elif kind == "mcp":
        if entry.get("server_label") not in _mcp_labels(request.tools or []):
            raise invalid(f"Invalid value for '{where}': mcp server '{entry.get('server_label')}' not found in "
                          "'tools'.", where, None)
    elif not isinstance(kind, str) or not _offered(request.tools or [], kind):
        raise invalid(f"Invalid value for '{where}': tool '{kind}' not found in 'tools'.", where, None)


def _check_text(request: CreateResponseRequest, stateful: bool) -> None:
    fmt = request.text.format if request.text is not None else None
    # Only input messages count, not ``instructions`` (the real API checks no more); with a previous response
    # or a conversation the earlier turns may hold the word, and only the engine sees them.
    if isinstance(fmt, FormatJsonObject) and not stateful and "json" not in _input_text(request).lower():
        raise invalid("Response input messages must contain the word 'json' in some form to use 'text.format' of "
                      "type 'json_object'.", "input", None)
    if isinstance(fmt, FormatJsonSchema):
        _strict(fmt.schema_, f"text.format '{fmt.name}'", "text.format.schema", "invalid_json_schema",
                bool(fmt.strict))


def _input_text(request: CreateResponseRequest) -> str:
    if isinstance(request.input, str):
        return request.input
    return " ".join(message_text(item) for item in request.items if isinstance(item, Message))


def message_text(message: Message) -> str:
    """The text of a message: its string content, or its text and refusal parts joined by spaces (images, files
    and audio add nothing)."""
    if isinstance(message.content, str):
        return message.content
    texts = (p.text if isinstance(p, (InputText, OutputText)) else p.refusal if isinstance(p, Refusal) else ""
             for p in message.content)
    return " ".join(t for t in texts if t)


# --- tool outputs and calls -------------------------------------------------------------------------------------


def check_call_outputs(request: CreateResponseRequest, known_call_ids: Collection[str] | None = (),
                       unanswered_call_ids: Collection[str] = ()) -> None:
    """Every function or custom tool output answers a call (in the input or among ``known_call_ids``, the calls
    of the previous response chain; ``None`` when they are not known yet, which skips this), and every call is
    answered: those in the input by outputs in the input, ``unanswered_call_ids`` (calls the chain left without
    outputs) by outputs in this input."""
    calls = {item.call_id: item for item in request.items if isinstance(item, (FunctionCall, CustomToolCall))}
    answered: set[str] = set()
    for item in request.items:
        if isinstance(item, (FunctionCallOutput, CustomToolCallOutput)):
            if known_call_ids is not None and item.call_id not in calls and item.call_id not in known_call_ids:
                what = "function call" if isinstance(item, FunctionCallOutput) else "custom tool call"
                raise invalid(f"No tool call found for {what} output with call_id {item.call_id}.", "input", None)
            answered.add(item.call_id)
    for call_id in [*calls, *unanswered_call_ids]:
        if call_id not in answered:
            # Known for function calls; the custom tool wording follows it.
            what = "custom tool call" if isinstance(calls.get(call_id), CustomToolCall) else "function call"
            raise invalid(f"No tool output found for {what} {call_id}.", "input", None)


# --- what the model takes ---------------------------------------------------------------------------------------


def check_model_support(request: CreateResponseRequest) -> None:
    """What the model's family (:mod:`mockai.models`) refuses, as chat's :mod:`mockai.capabilities`: a reasoning
    model takes ``temperature``/``top_p`` other than 1 and logprobs only at effort ``"none"`` (the request's
    ``reasoning.effort``, else the family's default: GPT-5.1 and later do not reason unless asked); a model that
    does not reason refuses ``reasoning``. A model the catalogue does not know takes every parameter."""
    model = request.model or ""
    fam = family(model)
    if fam is None:
        return
    reasoning = request.reasoning
    if fam.reasoning:
        if effort(model, reasoning.effort if reasoning is not None else None) == "none":
            return
        for name in ("temperature", "top_p"):
            value = getattr(request, name)
            if value is not None and value != 1:
                raise APIError(400, f"Unsupported parameter: '{name}' is not supported with this model.",
                               param=name, code=None)
        if request.wants_logprobs:
            raise APIError(400, "logprobs are not supported with reasoning models.", param="include",
                           code="unsupported_parameter")
        if request.top_logprobs:
            raise APIError(400, "logprobs are not supported with reasoning models.", param="top_logprobs",
                           code="unsupported_parameter")
    elif reasoning is not None:
        for name in ("effort", "summary", "generate_summary"):
            if getattr(reasoning, name) is not None:
                raise APIError(400, f"Unsupported parameter: 'reasoning.{name}' is not supported with this model.",
                               param=f"reasoning.{name}", code="unsupported_parameter")


# --- what the engine answers when stored state is missing (the real API's words) ------------------------------


def previous_response_not_found(response_id: str) -> APIError:
    """An unknown (or unstored, or deleted) ``previous_response_id``: a 400."""
    return APIError(400, f"Previous response with id '{response_id}' not found.", param="previous_response_id",
                    code="previous_response_not_found")


def conversation_not_found(conversation_id: str) -> APIError:
    """An unknown ``conversation``: a 404 without ``param``."""
    return APIError(404, f"Conversation with id '{conversation_id}' not found.")


def prompt_not_found(prompt_id: str) -> APIError:
    """An unknown reusable ``prompt``: a 404 without ``param``."""
    return APIError(404, f"Prompt with id '{prompt_id}' not found.")


def item_not_found(item_id: str) -> APIError:
    """An ``item_reference`` to an item no stored response or conversation holds: a 404 (``param`` as the real
    API's is not known: ``input``, where the reference is)."""
    return APIError(404, f"Item with id '{item_id}' not found.", param="input")
