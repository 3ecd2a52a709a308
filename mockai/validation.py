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
from .errors import APIError, from_validation, invalid, param_path, unparsable_json
from .generate import message_text
from .wire import (
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


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body, or the 400 OpenAI answers: for text that is not JSON, and for a string holding a
    lone UTF-16 surrogate (``"\\ud83d"`` without its pair: valid JSON, but not Unicode text)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise unparsable_json() from None
    utf8 = json.detect_encoding(raw).startswith("utf-8")
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
            f"Invalid type for request body: expected an object, but got {type(body).__name__} instead.",
            None, "invalid_type")
    try:
        request = ChatCompletionRequest.model_validate(body)
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
    _check_tools(request)
    _check_functions(request)
    fmt = request.response_format
    if isinstance(fmt, JsonObjectFormat) and not any(
        "json" in message_text(getattr(m, "content", None)).lower() for m in request.messages
    ):
        raise invalid("'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                      "'json_object'.", "messages", None)
    if isinstance(fmt, JsonSchemaFormat) and fmt.json_schema.strict:
        _check_strict_schema(fmt.json_schema.schema_ or {}, f"response_format '{fmt.json_schema.name}'",
                             "response_format")
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
        _check_answered(pending, answered)
        pending, answered = {}, set()
        if isinstance(msg, AssistantMessage) and msg.tool_calls:
            pending = {c.id: i for c in msg.tool_calls}
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
    for i, tool in enumerate(tools):
        if isinstance(tool, FunctionTool) and tool.function.strict and tool.function.parameters is not None:
            _check_strict_schema(tool.function.parameters, f"function '{tool.function.name}'",
                                 f"tools[{i}].function.parameters")


def _check_strict_schema(schema: Mapping[str, Any], what: str, param: str, path: tuple[str, ...] = ()) -> None:
    """Strict structured outputs need closed objects whose every property is required."""
    def fail(reason: str) -> APIError:
        return invalid(f"Invalid schema for {what}: In context={path}, {reason}", param, "invalid_json_schema")

    if not isinstance(schema, Mapping):
        return
    is_object = schema.get("type") == "object" or (
        isinstance(schema.get("type"), list) and "object" in schema["type"]) or "properties" in schema
    if is_object:
        if schema.get("additionalProperties") is not False:
            raise fail("'additionalProperties' is required to be supplied and to be false.")
        props = schema["properties"] if isinstance(schema.get("properties"), Mapping) else {}
        required = schema["required"] if isinstance(schema.get("required"), list) else []
        missing = [k for k in props if k not in required]
        if missing:
            raise fail(f"'required' is required to be supplied and to be an array including every key in "
                       f"properties. Missing '{missing[0]}'.")
        for key, sub in props.items():
            _check_strict_schema(sub, what, param, (*path, "properties", key))
    for key in ("items",):
        if isinstance(schema.get(key), Mapping):
            _check_strict_schema(schema[key], what, param, (*path, key))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        subs = schema.get(key)
        for i, sub in enumerate(subs if isinstance(subs, list) else []):
            _check_strict_schema(sub, what, param, (*path, key, str(i)))
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        for name, sub in (defs.items() if isinstance(defs, Mapping) else ()):
            _check_strict_schema(sub, what, param, (*path, key, name))
