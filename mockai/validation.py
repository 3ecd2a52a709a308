"""Request validation with the errors OpenAI sends.

Structure and ranges come from the wire models; the rules that span fields (a tool result must answer a tool
call, ``top_logprobs`` needs ``logprobs``, ``json_object`` needs the word "json", strict schemas must be closed)
are checked here. Each failure is an :class:`~mockai.errors.APIError` whose ``param`` names the field.

>>> try:
...     parse_chat(b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "hi"}]}')
... except APIError as err:
...     print(err.status, err.param)
400 messages[0].role
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from . import capabilities
from .deferred import built
from .errors import APIError, from_validation, invalid, json_type, param_path, unparsable_json
from .generate import message_text
from .http import loads
from .wire import (
    METADATA_MAX_KEY,
    METADATA_MAX_KEYS,
    AssistantMessage,
    ChatCompletionRequest,
    FunctionTool,
    JsonObjectFormat,
    JsonSchemaFormat,
    NamedFunction,
    NamedToolChoice,
    ToolMessage,
)

# Only a UTF-8 body with a JSON escape of a UTF-16 surrogate (``\\ud83d``) can hold a lone surrogate, so only
# such bodies are walked. A surrogate encoded straight into UTF-8 bytes is invalid UTF-8 (``json.loads`` lets it
# through).
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATES = re.compile(_ESCAPED_SURROGATE.pattern + b"|" + _RAW_SURROGATE.pattern)


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body, or the 400 OpenAI answers: for text that is not JSON, and for a string holding a
    lone UTF-16 surrogate (``"\\ud83d"`` without its pair: valid JSON, but not Unicode text)."""
    try:
        body = loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise unparsable_json() from None
    # (An object's first two bytes, '{"', are what json.detect_encoding reads as UTF-8 without a BOM.)
    utf8 = raw.startswith(b'{"') or json.detect_encoding(raw).startswith("utf-8")
    if utf8 and _SURROGATES.search(raw) is None:  # the usual case: one scan finds neither kind
        return body
    if utf8 and _RAW_SURROGATE.search(raw):  # not UTF-8 at all, as a stray \xff is not
        raise unparsable_json()
    if not utf8 or _ESCAPED_SURROGATE.search(raw):
        check_unicode(body)
    return body


def check_unicode(value: Any) -> None:
    """Raise OpenAI's 400 if any string in ``value`` (object keys too) holds a lone surrogate, naming its field.

    A paired surrogate escape (``"\\ud83d\\ude00"``) is decoded to the one character it stands for and is fine.
    """
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(value, ())]
    while stack:  # a loop, not recursion: a body may nest as deep as the JSON parser allows
        item, loc = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise _lone_surrogate(item, loc)
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise _lone_surrogate(key, loc)
            stack.extend(((v, (*loc, k)) for k, v in reversed(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend(((v, (*loc, i)) for i, v in reversed(list(enumerate(item)))))


def _lone_surrogate(text: str, loc: tuple[int | str, ...]) -> APIError:
    found = _SURROGATE.search(text)
    code = f"\\u{ord(found.group()):04x}" if found else "a surrogate"
    param = param_path(loc) or None
    where = f"Invalid '{param}'" if param else "Invalid request body"
    return invalid(f"{where}: string contains a lone surrogate ({code}), which is not valid Unicode. Expected "
                   "a string of valid Unicode characters, where each UTF-16 surrogate escape is part of a pair.",
                   param)


def parse_chat(raw: bytes | Mapping[str, Any]) -> tuple[dict[str, Any], ChatCompletionRequest]:
    """The JSON body and the validated request, or the :class:`APIError` the real API would answer."""
    if isinstance(raw, (bytes, bytearray)):
        body = parse_json(raw)
    else:
        body = dict(raw)
        check_unicode(body)
    if not isinstance(body, dict):
        raise invalid(
            f"Invalid type for request body: expected an object, but got {json_type(body)} instead.",
            None, "invalid_type")
    if body.get("model") == "":
        # An empty model is a string, so it passes the API's schema check and reaches its router, which answers
        # this; a missing or null one is refused by the schema check like any other parameter.
        raise APIError(400, "you must provide a model parameter")
    try:
        request = built(ChatCompletionRequest).model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc.errors(include_url=False), body) from None
    check_chat(request)
    return body, request


def check_chat(request: ChatCompletionRequest) -> None:
    """The cross-field rules of ``POST /chat/completions``."""
    _check_tool_results(request)
    if request.top_logprobs is not None and not request.logprobs:
        raise invalid("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is "
                      "specified.", "top_logprobs")
    if request.stream_options is not None and not request.stream:
        raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                      "stream_options")
    for token, bias in (request.logit_bias or {}).items():
        if not token.isdigit():
            raise invalid(f"Invalid key in 'logit_bias': {token}. Keys must be token ids as strings.",
                          "logit_bias")
        if not -100 <= bias <= 100:
            raise invalid(f"Invalid 'logit_bias[{token}]': value {bias} must be between -100 and 100.",
                          f"logit_bias.{token}")
    _check_metadata(request)
    _check_tools(request)
    _check_functions(request)
    _check_schemas(request)
    fmt = request.response_format
    if isinstance(fmt, JsonObjectFormat) and not any(
        "json" in message_text(getattr(m, "content", None)).lower() for m in request.messages
    ):
        raise invalid("'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                      "'json_object'.", "messages", None)
    capabilities.check(request)  # the model family's rules, audio output, tools named by tool_choice


def _check_tool_results(request: ChatCompletionRequest) -> None:
    """Each tool message answers a call of the assistant message just before it, and every call is answered
    before the next other message or the end of the history. Function and custom tool calls alike."""
    pending: dict[str, int] = {}
    answered: set[str] = set()
    for i, msg in enumerate(request.messages):
        if isinstance(msg, ToolMessage):
            if msg.tool_call_id not in pending:
                raise invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
                    "'tool_calls'.", f"messages[{i}].role", None)
            answered.add(msg.tool_call_id)
            continue
        if pending:
            _check_answered(pending, answered)
            pending, answered = {}, set()
        if isinstance(msg, AssistantMessage) and msg.tool_calls:
            pending = {c.id: i for c in msg.tool_calls}
    if pending:
        _check_answered(pending, answered)


def _check_answered(pending: Mapping[str, int], answered: set[str]) -> None:
    missing = [cid for cid in pending if cid not in answered]
    if missing:
        raise invalid(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(missing)}",
            f"messages[{pending[missing[0]]}].role", None)


def _check_functions(request: ChatCompletionRequest) -> None:
    """The deprecated ``functions``/``function_call`` pair."""
    choice = request.function_call
    names = {f.name for f in request.functions or []}
    if choice is not None and not names:
        raise invalid("Invalid value for 'function_call': 'function_call' is only allowed when 'functions' are "
                      "specified.", "function_call")
    if isinstance(choice, NamedFunction) and choice.name not in names:
        raise invalid(f"Invalid value for 'function_call': function '{choice.name}' not found in 'functions'.",
                      "function_call")


def _check_tools(request: ChatCompletionRequest) -> None:
    tools = request.tools or []
    choice = request.tool_choice
    if choice is not None and not tools:
        raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                      "tool_choice")
    if request.parallel_tool_calls is not None and not tools:
        raise invalid("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' "
                      "are specified.", "parallel_tool_calls")
    if isinstance(choice, NamedToolChoice) and choice.function.name not in {f.name for f in request.function_tools}:
        raise invalid(f"Invalid value for 'tool_choice': function '{choice.function.name}' not found in 'tools'.",
                      "tool_choice")


def _check_metadata(request: ChatCompletionRequest) -> None:
    """At most 16 pairs, keys up to 64 characters (values up to 512 are checked by the wire model)."""
    metadata = request.metadata or {}
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid(f"Invalid 'metadata': too many properties. Expected an object with at most {METADATA_MAX_KEYS} "
                      f"properties, but got an object with {len(metadata)} properties instead.", "metadata",
                      "object_above_max_properties")
    for key in metadata:
        if len(key) > METADATA_MAX_KEY:
            raise invalid(f"Invalid property name in 'metadata': '{key}' is too long. Expected a string with maximum "
                          f"length {METADATA_MAX_KEY}, but got a string with length {len(key)} instead.",
                          f"metadata.{key}", "string_above_max_length")


# --- the JSON schemas a request carries -------------------------------------------------------------------


def _check_schemas(request: ChatCompletionRequest) -> None:
    """Every schema in the request (tool and function parameters, the response format) is a JSON schema by
    the metaschema's rules, strict or not, and a strict one follows structured outputs' rules too.

    The real API checks them all up front, whether or not a tool ends up called, and words its errors like
    Python's ``jsonschema``: ``Invalid schema for function 'f': 5 is not of type 'array'.``"""
    for i, tool in enumerate(request.tools or []):
        if isinstance(tool, FunctionTool) and tool.function.parameters is not None:
            check_schema(tool.function.parameters, f"function '{tool.function.name}'",
                          f"tools[{i}].function.parameters", "invalid_function_parameters", bool(tool.function.strict))
    for i, function in enumerate(request.functions or []):
        if function.parameters is not None:
            check_schema(function.parameters, f"function '{function.name}'", f"functions[{i}].parameters",
                          "invalid_function_parameters", bool(function.strict))
    fmt = request.response_format
    if isinstance(fmt, JsonSchemaFormat) and fmt.json_schema.schema_ is not None:
        check_schema(fmt.json_schema.schema_, f"response_format '{fmt.json_schema.name}'", "response_format",
                      "invalid_json_schema", bool(fmt.json_schema.strict))


def check_schema(schema: Mapping[str, Any], what: str, param: str, code: str, strict: bool) -> None:
    """Raise the real API's 400 (``code``, ``param``) if ``schema`` is no JSON schema, or breaks strict mode's
    rules when ``strict``; ``what`` is how the message names its owner (``function 'f'``).

    >>> try:
    ...     check_schema({"type": "object", "required": 5}, "function 'f'", "tools[0].function.parameters",
    ...                  "invalid_function_parameters", strict=False)
    ... except APIError as err:
    ...     print(err.message)
    Invalid schema for function 'f': 5 is not of type 'array'.
    """
    problem = schema_problem(schema)
    if problem is not None:
        raise invalid(f"Invalid schema for {what}: {problem}.", param, code)
    if strict:
        problem = strict_problem(schema)
        if problem is not None:
            raise invalid(f"Invalid schema for {what}: {problem}", param, code)


_SIMPLE_TYPES = frozenset(("array", "boolean", "integer", "null", "number", "object", "string"))
# Keywords whose value is a schema, a non-empty array of schemas, or an object of schemas.
_SUBSCHEMA = ("additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else",
              "unevaluatedItems", "unevaluatedProperties")
_SUBSCHEMA_ARRAYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains",
           "maxContains")
_STRINGS = ("$ref", "$id", "$schema", "$anchor", "$comment", "pattern", "format", "title", "description",
            "contentEncoding", "contentMediaType")


def schema_problem(schema: Any) -> str | None:
    """What makes ``schema`` no JSON schema, in the words of Python's ``jsonschema`` (the real API's), or
    ``None``. Only what every draft OpenAI may read rejects: ``items`` may be a schema or an array of them,
    ``exclusiveMinimum`` a number or a boolean; unknown keywords are fine.

    >>> schema_problem({"type": "object", "required": "a"})
    "'a' is not of type 'array'"
    >>> schema_problem({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}) is None
    True
    """
    stack = [schema]
    while stack:  # a loop, not recursion: a schema may nest as deep as the JSON parser allows
        node = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            return f"{_repr(node)} is not of type 'object', 'boolean'"
        problem = _keyword_problem(node, stack)
        if problem is not None:
            return problem
    return None


def _keyword_problem(node: dict[str, Any], stack: list[Any]) -> str | None:
    """The first keyword of ``node`` whose value has the wrong shape; its subschemas go on ``stack``."""
    for key, value in node.items():
        if key in _SUBSCHEMA:
            stack.append(value)
        elif key == "items":
            if isinstance(value, list):
                stack.extend(value)
            else:
                stack.append(value)
        elif key in _SUBSCHEMA_ARRAYS:
            if not isinstance(value, list):
                return f"{_repr(value)} is not of type 'array'"
            if not value:
                return "[] should be non-empty"
            stack.extend(value)
        elif key in _SUBSCHEMA_MAPS:
            if not isinstance(value, dict):
                return f"{_repr(value)} is not of type 'object'"
            stack.extend(value.values())
        elif key == "type":
            names = value if isinstance(value, list) else [value]
            if not names or not all(isinstance(n, str) and n in _SIMPLE_TYPES for n in names) or (
                    len(set(names)) != len(names)):
                return f"{_repr(value)} is not valid under any of the given schemas"
        elif key == "required":
            problem = _strings_problem(value)
            if problem is not None:
                return problem
        elif key == "enum" and not isinstance(value, list):
            return f"{_repr(value)} is not of type 'array'"
        elif key in _COUNTS:
            if not _is_int(value):
                return f"{_repr(value)} is not of type 'integer'"
            if value < 0:
                return f"{value} is less than the minimum of 0"
        elif key in ("minimum", "maximum", "multipleOf") or (
                key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool)):
            if not _is_number(value):
                return f"{_repr(value)} is not of type 'number'"
            if key == "multipleOf" and value <= 0:
                return f"{value} is less than or equal to the minimum of 0"
        elif key in _STRINGS and not isinstance(value, str):
            return f"{_repr(value)} is not of type 'string'"
        elif key == "uniqueItems" and not isinstance(value, bool):
            return f"{_repr(value)} is not of type 'boolean'"
    return None


def _strings_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"{_repr(value)} is not of type 'array'"
    for item in value:
        if not isinstance(item, str):
            return f"{_repr(item)} is not of type 'string'"
    if len(set(value)) != len(value):
        return f"{_repr(value)} has non-unique elements"
    return None


def _is_int(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _repr(value: Any, limit: int = 200) -> str:
    """A value as Python's ``jsonschema`` shows it (``True``, ``None``, ``'a'``), cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def strict_problem(schema: Mapping[str, Any]) -> str | None:
    """What structured outputs' strict mode refuses in a schema :func:`schema_problem` accepts: every object
    closed (``additionalProperties: false``) with every property, and only those, in ``required``. The
    message names the place as the real API does: ``In context=('properties', 'a'), ...``.

    >>> strict_problem({"type": "object", "properties": {"a": {}}, "additionalProperties": True})
    "In context=(), 'additionalProperties' is required to be supplied and to be false."
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
            props: dict[str, Any] = node.get("properties") or {}
            required: list[str] = node.get("required") or []
            reason = None
            if node.get("additionalProperties") is not False:
                reason = "'additionalProperties' is required to be supplied and to be false."
            elif missing := [k for k in props if k not in required]:
                reason = ("'required' is required to be supplied and to be an array including every key in "
                          f"properties. Missing '{missing[0]}'.")
            elif extra := [k for k in required if k not in props]:
                reason = ("'required' must be an array that includes every key in `properties`. Extra required "
                          f"key '{extra[0]}' supplied.")
            if reason is not None:
                return f"In context={path}, {reason}"
            stack.extend((sub, (*path, "properties", key)) for key, sub in reversed(props.items()))
        for key in ("items", "additionalItems", "not"):
            if isinstance(node.get(key), dict):
                stack.append((node[key], (*path, key)))
        for key in _SUBSCHEMA_ARRAYS:
            stack.extend((sub, (*path, key, str(i))) for i, sub in enumerate(node.get(key) or []))
        for key in ("$defs", "definitions"):
            stack.extend((sub, (*path, key, name)) for name, sub in (node.get(key) or {}).items())
    return None
