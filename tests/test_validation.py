"""Invalid requests get OpenAI's status, envelope, ``param`` and ``code``; valid ones (with unknown extras) pass."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from conftest import AUTH, MODEL, TIME_TOOL, assert_envelope, chat_body, post, reply, request

from mockai import APIError, Engine
from mockai.app import create_app
from mockai.enums import REASONING_EFFORTS, SERVICE_TIERS, VERBOSITIES
from mockai.errors import param_path
from mockai.validation import parse_chat
from mockai.wire import ChatCompletionRequest

USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}


def fn_tool(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, **extra}}


# (body, param, code) -> 400 invalid_request_error
BAD_REQUESTS = {
    "temperature as a string": (chat_body(temperature="1"), "temperature", "invalid_type"),
    "temperature as a bool": (chat_body(temperature=True), "temperature", "invalid_type"),
    "temperature above 2": (chat_body(temperature=2.5), "temperature", "decimal_above_max_value"),
    "temperature below 0": (chat_body(temperature=-0.5), "temperature", "decimal_below_min_value"),
    "top_p above 1": (chat_body(top_p=1.5), "top_p", "decimal_above_max_value"),
    "presence_penalty above 2": (chat_body(presence_penalty=2.5), "presence_penalty", "decimal_above_max_value"),
    "n zero": (chat_body(n=0), "n", "integer_below_min_value"),
    "n as a string": (chat_body(n="2"), "n", "invalid_type"),
    "n as a float": (chat_body(n=2.0), "n", "invalid_type"),
    "n huge": (chat_body(n=10**30), "n", "integer_above_max_value"),
    "max_tokens zero": (chat_body(max_tokens=0), "max_tokens", "integer_below_min_value"),
    "max_completion_tokens zero": (chat_body(max_completion_tokens=0), "max_completion_tokens",
                                   "integer_below_min_value"),
    "stream as a string": (chat_body(stream="yes"), "stream", "invalid_type"),
    "stream_options without stream": (chat_body(stream_options={"include_usage": True}), "stream_options",
                                      "invalid_value"),
    "missing model": ({"messages": [USER]}, "model", "missing_required_parameter"),
    "model not a string": ({"model": 5, "messages": [USER]}, "model", "invalid_type"),
    "missing messages": ({"model": MODEL}, "messages", "missing_required_parameter"),
    "messages not an array": ({"model": MODEL, "messages": "hi"}, "messages", "invalid_type"),
    "messages empty": ({"model": MODEL, "messages": []}, "messages", "empty_array"),
    "unknown role": ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role",
                     "invalid_value"),
    "unknown role later": ({"model": MODEL, "messages": [USER, {"role": "bot", "content": "x"}]},
                           "messages[1].role", "invalid_value"),
    "missing role": ({"model": MODEL, "messages": [{"content": "x"}]}, "messages[0].role",
                     "missing_required_parameter"),
    "content not a string": ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages[0].content",
                             "invalid_type"),
    "missing content": ({"model": MODEL, "messages": [{"role": "user"}]}, "messages[0].content",
                        "missing_required_parameter"),
    "unknown content part": ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
                             "messages[0].content[0].type", "invalid_value"),
    "image in a system message": (
        {"model": MODEL, "messages": [{"role": "system", "content": [
            {"type": "image_url", "image_url": {"url": "https://x"}}]}]},
        "messages[0].content[0].type", "invalid_value"),
    "tool message answering nothing": (
        {"model": MODEL, "messages": [USER, {"role": "tool", "content": "x", "tool_call_id": "call_1"}]},
        "messages[1].role", None),
    "tool message answering another id": (
        {"model": MODEL, "messages": [USER, {"role": "assistant", "tool_calls": [CALL]},
                                      {"role": "tool", "content": "x", "tool_call_id": "call_2"}]},
        "messages[2].role", None),
    "tool call left unanswered": (
        {"model": MODEL, "messages": [USER, {"role": "assistant", "tool_calls": [CALL]}, USER]},
        "messages[1].role", None),
    "top_logprobs without logprobs": (chat_body(top_logprobs=2), "top_logprobs", "invalid_value"),
    "top_logprobs above 20": (chat_body(logprobs=True, top_logprobs=21), "top_logprobs",
                              "integer_above_max_value"),
    "five stop sequences": (chat_body(stop=["a", "b", "c", "d", "e"]), "stop", "array_above_max_length"),
    "stop not a string": (chat_body(stop=5), "stop", "invalid_type"),
    "json_object without json": (chat_body("Hello", response_format={"type": "json_object"}), "messages", None),
    "unknown response_format": (chat_body(response_format={"type": "yaml"}), "response_format.type",
                                "invalid_value"),
    "response_format a string": (chat_body(response_format="json"), "response_format", "invalid_type"),
    "bad json_schema name": (
        chat_body(response_format={"type": "json_schema", "json_schema": {"name": "bad name", "schema": {}}}),
        "response_format.json_schema.name", "invalid_value"),
    "strict schema not closed": (
        chat_body(response_format={"type": "json_schema", "json_schema": {
            "name": "x", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}),
        "response_format", "invalid_json_schema"),
    "tool name with a space": (chat_body(tools=[fn_tool("bad name")]), "tools[0].function.name", "invalid_value"),
    "tool name with a dot": (chat_body(tools=[fn_tool("ok"), fn_tool("a.b")]), "tools[1].function.name",
                             "invalid_value"),
    "tool name too long": (chat_body(tools=[fn_tool("a" * 65)]), "tools[0].function.name", "invalid_value"),
    "tool name empty": (chat_body(tools=[fn_tool("")]), "tools[0].function.name", "invalid_value"),
    "tool parameters an array": (chat_body(tools=[fn_tool("f", parameters=[1])]), "tools[0].function.parameters",
                                 "invalid_type"),
    "strict tool not closed": (
        chat_body(tools=[fn_tool("f", strict=True, parameters={"type": "object", "properties": {"a": {}}})]),
        "tools[0].function.parameters", "invalid_function_parameters"),
    "tool_choice without tools": (chat_body(tool_choice="auto"), "tool_choice", "invalid_value"),
    "tool_choice unknown string": (chat_body(tools=[TIME_TOOL], tool_choice="always"), "tool_choice",
                                   "invalid_value"),
    "tool_choice names a missing tool": (
        chat_body(tools=[TIME_TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}),
        "tool_choice", "invalid_value"),
    "logit_bias key not a token id": (chat_body(logit_bias={"abc": 1}), "logit_bias", "invalid_value"),
    "logit_bias out of range": (chat_body(logit_bias={"12": 101}), "logit_bias.12", "invalid_value"),
    # Issue 9, item 6: what the real API refuses and mockai accepted.
    "tools empty": (chat_body(tools=[]), "tools", "empty_array"),
    "129 tools": (chat_body(tools=[fn_tool(f"f{i}") for i in range(129)]), "tools", "array_above_max_length"),
    "functions empty": (chat_body(functions=[]), "functions", "empty_array"),
    "stop empty": (chat_body(stop=[]), "stop", "empty_array"),
    "user content empty": ({"model": MODEL, "messages": [{"role": "user", "content": []}]}, "messages[0].content",
                           "empty_array"),
    "system content empty": ({"model": MODEL, "messages": [{"role": "system", "content": []}, USER]},
                             "messages[0].content", "empty_array"),
    "developer content empty": ({"model": MODEL, "messages": [{"role": "developer", "content": []}, USER]},
                                "messages[0].content", "empty_array"),
    "assistant content empty": ({"model": MODEL, "messages": [USER, {"role": "assistant", "content": []}, USER]},
                                "messages[1].content", "empty_array"),
    "tool content empty": (
        {"model": MODEL, "messages": [USER, {"role": "assistant", "tool_calls": [CALL]},
                                      {"role": "tool", "tool_call_id": "call_1", "content": []}]},
        "messages[2].content", "empty_array"),
    "prediction content empty": (chat_body(prediction={"type": "content", "content": []}), "prediction.content",
                                 "empty_array"),
    "model empty": ({"model": "", "messages": [USER]}, None, None),
    "model null": ({"model": None, "messages": [USER]}, "model", "invalid_type"),
    "metadata with 17 keys": (chat_body(metadata={f"k{i}": "v" for i in range(17)}), "metadata",
                              "object_above_max_properties"),
    "metadata key of 65 characters": (chat_body(metadata={"k" * 65: "v"}), "metadata." + "k" * 65,
                                      "string_above_max_length"),
    "metadata value of 513 characters": (chat_body(metadata={"k": "v" * 513}), "metadata.k",
                                         "string_above_max_length"),
    "metadata value not a string": (chat_body(metadata={"k": 1}), "metadata.k", "invalid_type"),
    "input_audio format ogg": (
        {"model": MODEL, "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}]}]},
        "messages[0].content[0].input_audio.format", "invalid_value"),
    # Issue 9, item 1: the closed lists still refuse what the API does not know.
    "image detail unknown": (
        {"model": MODEL, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://x", "detail": "ultra"}}]}]},
        "messages[0].content[0].image_url.detail", "invalid_value"),
    "verbosity unknown": (chat_body(verbosity="loud"), "verbosity", "invalid_value"),
    "modality unknown": (chat_body(modalities=["video"]), "modalities[0]", "invalid_value"),
    "reasoning_effort empty": (chat_body(reasoning_effort=""), "reasoning_effort", "invalid_value"),
    "service_tier empty": (chat_body(service_tier=""), "service_tier", "invalid_value"),
}


@pytest.mark.parametrize(("body", "param", "code"), list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
def test_bad_request(engine: Engine, body: dict[str, Any], param: str, code: str | None) -> None:
    assert_envelope(post(engine, body), 400, param=param, code=code)
    assert engine.calls[-1].error is not None
    assert engine.calls[-1].error.param == param


@pytest.mark.parametrize("raw", [b"{nope", b"", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
                                 b'{"model": "m", "messages": [}'], ids=["garbage", "empty", "not utf-8", "deep",
                                                                       "truncated"])
def test_malformed_json(engine: Engine, raw: bytes) -> None:
    err = assert_envelope(engine.handle(request(raw=raw)), 400, param=None, code=None)
    assert "could not parse the JSON body" in err["message"]


@pytest.mark.parametrize("raw", [b"[1]", b'"hi"', b"3", b"null"], ids=["array", "string", "number", "null"])
def test_body_not_an_object(engine: Engine, raw: bytes) -> None:
    assert_envelope(engine.handle(request(raw=raw)), 400, param=None, code="invalid_type")


@pytest.mark.parametrize("raw", [b'{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":NaN}',
                                 b'{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1e999}'])
def test_non_finite_numbers(engine: Engine, raw: bytes) -> None:
    assert_envelope(engine.handle(request(raw=raw)), 400, param="temperature")


# Huge minimums (minItems 10**8, minLength 10**9) are not here: the real API accepts them and stops writing at
# the output limit, and so does mockai (tests/test_limits.py).
BAD_SCHEMAS = {
    "unknown type": {"type": "object", "properties": {"a": {"type": "strin"}}, "required": ["a"]},
    "false": {"type": "object", "properties": {"a": False}, "required": ["a"]},
    "property not a schema": {"type": "object", "properties": {"a": "x"}, "required": ["a"]},
    "endless $ref": {"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}},
                                     "required": ["c"]}},
                     "type": "object", "properties": {"a": {"$ref": "#/$defs/n"}}, "required": ["a"]},
    "empty range": {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5, "maximum": 1}},
                    "required": ["a"]},
    "empty enum": {"type": "object", "properties": {"a": {"enum": []}}, "required": ["a"]},
    "minLength above maxLength": {"type": "object", "properties": {"a": {"type": "string", "minLength": 9,
                                                                          "maxLength": 2}}, "required": ["a"]},
    "properties a list": {"type": "object", "properties": [1]},
}


# A reference mockai cannot follow passes the API's up-front check (the metaschema does not resolve references):
# it stands for any value, so the answer never depends on whether the tool was called (it was a 400 when it was).
UNRESOLVED_REFS = {
    "remote $ref": {"type": "object", "properties": {"a": {"$ref": "http://x"}}, "required": ["a"]},
    "dangling $ref": {"type": "object", "properties": {"a": {"$ref": "#/$defs/zz"}}, "required": ["a"]},
}


@pytest.mark.parametrize("schema", list(UNRESOLVED_REFS.values()), ids=list(UNRESOLVED_REFS))
def test_a_reference_mockai_cannot_follow_stands_for_any_value(engine: Engine, schema: dict[str, Any]) -> None:
    tool = chat_body(tools=[TIME_TOOL, fn_tool("f", parameters=schema)],
                     tool_choice={"type": "function", "function": {"name": "f"}})
    called = post(engine, tool)
    assert called.status == 200, called.json()
    assert "a" in json.loads(called.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    fmt = post(engine, chat_body(response_format={"type": "json_schema", "json_schema": {"name": "o",
                                                                                       "schema": schema}}))
    assert fmt.status == 200, fmt.json()
    assert "a" in json.loads(fmt.json()["choices"][0]["message"]["content"])


@pytest.mark.parametrize("schema", list(BAD_SCHEMAS.values()), ids=list(BAD_SCHEMAS))
def test_unusable_tool_schema_is_a_400_not_a_500(engine: Engine, schema: dict[str, Any]) -> None:
    body = chat_body(tools=[TIME_TOOL, fn_tool("f", parameters=schema)],
                     tool_choice={"type": "function", "function": {"name": "f"}})
    err = assert_envelope(post(engine, body), 400, param="tools[1].function.parameters",
                          code="invalid_function_parameters")
    assert "function 'f'" in err["message"]


@pytest.mark.parametrize("schema", list(BAD_SCHEMAS.values()), ids=list(BAD_SCHEMAS))
def test_unusable_response_schema_is_a_400_not_a_500(engine: Engine, schema: dict[str, Any]) -> None:
    body = chat_body(response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": schema}})
    assert_envelope(post(engine, body), 400, param="response_format", code="invalid_json_schema")


def test_an_empty_enum_is_named_not_a_python_internal(engine: Engine) -> None:
    body = chat_body(tools=[fn_tool("f", parameters=BAD_SCHEMAS["empty enum"])], tool_choice="required")
    err = assert_envelope(post(engine, body), 400, code="invalid_function_parameters")
    assert err["message"] == "Invalid schema for function 'f': an empty enum admits no value."


# --- issue 9, item 2: malformed schemas are a 400 in the real API's words, never a 500 ----------------------

_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": False}
# schema -> what Python's jsonschema (the real API's metaschema check) says about it
MALFORMED_SCHEMAS: dict[str, tuple[dict[str, Any], str]] = {
    "required a number": ({**_OBJ, "properties": {"a": {"type": "string"}}, "required": 5},
                          "5 is not of type 'array'"),
    "required a string": ({**_OBJ, "properties": {"a": {"type": "string"}}, "required": "a"},
                          "'a' is not of type 'array'"),
    "required holding a number": ({**_OBJ, "properties": {"a": {}}, "required": [5, "a"]},
                                  "5 is not of type 'string'"),
    "required repeated": ({**_OBJ, "properties": {"a": {}}, "required": ["a", "a"]},
                          "['a', 'a'] has non-unique elements"),
    "required true in a property": ({**_OBJ, "properties": {"a": {"type": "string", "required": True}},
                                     "required": ["a"]}, "True is not of type 'array'"),
    "properties null": ({**_OBJ, "properties": None, "required": []}, "None is not of type 'object'"),
    "$defs a list": ({**_OBJ, "properties": {}, "required": [], "$defs": [1]}, "[1] is not of type 'object'"),
    "anyOf a number": ({**_OBJ, "properties": {"a": {"anyOf": 5}}, "required": ["a"]},
                       "5 is not of type 'array'"),
    "anyOf empty": ({**_OBJ, "properties": {"a": {"anyOf": []}}, "required": ["a"]}, "[] should be non-empty"),
    "allOf holding a number": ({**_OBJ, "properties": {"a": {"allOf": [5]}}, "required": ["a"]},
                               "5 is not of type 'object', 'boolean'"),
    "prefixItems a number": ({**_OBJ, "properties": {"a": {"type": "array", "prefixItems": 5}}, "required": ["a"]},
                             "5 is not of type 'array'"),
    "items a number": ({**_OBJ, "properties": {"a": {"type": "array", "items": 5}}, "required": ["a"]},
                       "5 is not of type 'object', 'boolean'"),
    "property a string": ({**_OBJ, "properties": {"a": "x"}, "required": ["a"]},
                          "'x' is not of type 'object', 'boolean'"),
    "additionalProperties a number": ({"type": "object", "properties": {}, "additionalProperties": 5},
                                      "5 is not of type 'object', 'boolean'"),
    "type misspelt": ({**_OBJ, "properties": {"a": {"type": "strin"}}, "required": ["a"]},
                      "'strin' is not valid under any of the given schemas"),
    "type a number": ({**_OBJ, "properties": {"a": {"type": 5}}, "required": ["a"]},
                      "5 is not valid under any of the given schemas"),
    "type an empty list": ({**_OBJ, "properties": {"a": {"type": []}}, "required": ["a"]},
                           "[] is not valid under any of the given schemas"),
    "enum a number": ({**_OBJ, "properties": {"a": {"enum": 5}}, "required": ["a"]}, "5 is not of type 'array'"),
    "minItems negative": ({**_OBJ, "properties": {"a": {"type": "array", "minItems": -1}}, "required": ["a"]},
                          "-1 is less than the minimum of 0"),
    "maxLength a string": ({**_OBJ, "properties": {"a": {"type": "string", "maxLength": "x"}}, "required": ["a"]},
                           "'x' is not of type 'integer'"),
    "minimum a string": ({**_OBJ, "properties": {"a": {"type": "integer", "minimum": "1"}}, "required": ["a"]},
                         "'1' is not of type 'number'"),
    "multipleOf zero": ({**_OBJ, "properties": {"a": {"type": "number", "multipleOf": 0}}, "required": ["a"]},
                        "0 is less than or equal to the minimum of 0"),
    "pattern a number": ({**_OBJ, "properties": {"a": {"type": "string", "pattern": 5}}, "required": ["a"]},
                         "5 is not of type 'string'"),
    "format a number": ({**_OBJ, "properties": {"a": {"type": "string", "format": 5}}, "required": ["a"]},
                        "5 is not of type 'string'"),
    "$ref a number": ({**_OBJ, "properties": {"a": {"$ref": 5}}, "required": ["a"]}, "5 is not of type 'string'"),
    "uniqueItems a string": ({**_OBJ, "properties": {"a": {"type": "array", "uniqueItems": "yes"}},
                              "required": ["a"]}, "'yes' is not of type 'boolean'"),
    "description a number": ({**_OBJ, "properties": {"a": {"type": "string", "description": 5}}, "required": ["a"]},
                             "5 is not of type 'string'"),
}


def _carriers(schema: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str, str, str]]:
    """Every place a request carries a schema: (body, what the message names, param, code). The tools are
    never called (``tool_choice: "none"``): the real API checks every schema up front."""
    def tool(strict: bool) -> dict[str, Any]:
        return chat_body(tools=[TIME_TOOL, fn_tool("f", strict=strict, parameters=schema)], tool_choice="none")

    def fmt(strict: bool) -> dict[str, Any]:
        return chat_body(response_format={"type": "json_schema", "json_schema": {
            "name": "out", "strict": strict, "schema": schema}})

    legacy = chat_body(functions=[{"name": "get_time"}, {"name": "f", "parameters": schema}], function_call="none")
    fn = ("function 'f'", "tools[1].function.parameters", "invalid_function_parameters")
    rf = ("response_format 'out'", "response_format", "invalid_json_schema")
    return {"strict tool": (tool(True), *fn), "tool": (tool(False), *fn), "strict response_format": (fmt(True), *rf),
            "response_format": (fmt(False), *rf),
            "legacy function": (legacy, "function 'f'", "functions[1].parameters", "invalid_function_parameters")}


@pytest.mark.parametrize("carrier", ["strict tool", "tool", "strict response_format", "response_format",
                                     "legacy function"])
@pytest.mark.parametrize("name", list(MALFORMED_SCHEMAS))
def test_malformed_schema_is_a_400_in_the_real_apis_words(engine: Engine, name: str, carrier: str) -> None:
    schema, reason = MALFORMED_SCHEMAS[name]
    body, what, param, code = _carriers(schema)[carrier]
    err = assert_envelope(post(engine, body), 400, param=param, code=code)
    assert err["message"] == f"Invalid schema for {what}: {reason}."


@pytest.mark.parametrize(("schema", "reason"), [
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
     "In context=(), 'additionalProperties' is required to be supplied and to be false."),
    ({**_OBJ, "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]},
     "In context=(), 'required' is required to be supplied and to be an array including every key in properties. "
     "Missing 'b'."),
    ({**_OBJ, "properties": {"a": {"type": "string"}}, "required": ["a", "c"]},
     "In context=(), 'required' must be an array that includes every key in `properties`. Extra required key 'c' "
     "supplied."),
    ({**_OBJ, "properties": {"a": {"type": "object", "properties": {"b": {}}, "required": ["b"]}},
      "required": ["a"]},
     "In context=('properties', 'a'), 'additionalProperties' is required to be supplied and to be false."),
    ({**_OBJ, "properties": {"a": {"$ref": "#/$defs/n"}}, "required": ["a"],
      "$defs": {"n": {"type": "object", "properties": {"x": {}}, "additionalProperties": False}}},
     "In context=('$defs', 'n'), 'required' is required to be supplied and to be an array including every key in "
     "properties. Missing 'x'."),
    ({**_OBJ, "properties": {"a": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {}}]}},
      "required": ["a"]},
     "In context=('properties', 'a', 'anyOf', '1'), 'additionalProperties' is required to be supplied and to be "
     "false."),
], ids=["open", "a property not required", "an extra required key", "nested open", "in $defs", "in anyOf"])
def test_strict_schema_rules(engine: Engine, schema: dict[str, Any], reason: str) -> None:
    carriers = _carriers(schema)
    for key in ("strict tool", "strict response_format"):
        body, what, param, code = carriers[key]
        err = assert_envelope(post(engine, body), 400, param=param, code=code)
        assert err["message"] == f"Invalid schema for {what}: {reason}"
    assert post(engine, carriers["tool"][0]).status == 200, "a non-strict schema need not be closed"


@pytest.mark.parametrize("schema", [
    {**_OBJ, "properties": {"a": {"type": ["string", "null"]}, "b": {"$ref": "#/definitions/b"}},
     "required": ["a", "b"], "definitions": {"b": {"type": "integer", "exclusiveMinimum": 0}},
     "title": "T", "description": "d", "$schema": "https://json-schema.org/draft/2020-12/schema"},
    {**_OBJ, "properties": {"tags": {"type": "array", "items": {"enum": ["x", "y"]}, "minItems": 1,
                                     "uniqueItems": True}}, "required": ["tags"], "x-unknown-keyword": [1, {}]},
    {**_OBJ, "properties": {"n": {"type": "number", "minimum": -1.5, "maximum": 2, "multipleOf": 0.5}},
     "required": ["n"]},
], ids=["types, refs and annotations", "arrays and an unknown keyword", "numbers"])
def test_well_formed_schemas_pass_everywhere(engine: Engine, schema: dict[str, Any]) -> None:
    for name, (body, _, _, _) in _carriers(schema).items():
        res = post(engine, body)
        assert res.status == 200, (name, res.body)


# --- what must be accepted -------------------------------------------------------------------------------

GOOD_REQUESTS = {
    "unknown extra parameter": chat_body(frobnicate={"x": 1}, another_new_feature=True),
    "explicit nulls": chat_body(temperature=None, n=None, stop=None, tools=None),
    "integer temperature": chat_body(temperature=1),
    "every role": {"model": MODEL, "messages": [
        {"role": "system", "content": "s"}, {"role": "developer", "content": [{"type": "text", "text": "d"}]},
        {"role": "user", "name": "bob", "content": [
            {"type": "text", "text": "u"}, {"type": "image_url", "image_url": {"url": "https://x", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-1"}}]},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "function", "name": "f", "content": "x"},
        {"role": "user", "content": "again"}]},
    "json_object with json in a part": {"model": MODEL, "response_format": {"type": "json_object"}, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Answer in JSON"}]}]},
    "four stop sequences": chat_body(stop=["a", "b", "c", "d"]),
    "every known parameter": chat_body(
        temperature=0.5, top_p=0.9, n=2, stream=False, stop="\n", max_tokens=50, max_completion_tokens=40,
        presence_penalty=0.1, frequency_penalty=-0.1, logit_bias={"50256": -100}, logprobs=True, top_logprobs=3,
        seed=7, user="u1", tools=[TIME_TOOL], tool_choice="auto", parallel_tool_calls=False,
        response_format={"type": "text"}, service_tier="auto", metadata={"k": "v"}, store=False,
        modalities=["text"], prediction={"type": "content", "content": "x"}),
    # gpt-4o-mini refuses reasoning_effort, o3 refuses sampling parameters (tests/test_reasoning_models.py)
    "a reasoning model's parameters": {**chat_body(reasoning_effort="low", max_completion_tokens=4000, n=2,
                                                   temperature=1, top_p=1), "model": "o3"},
    "strict schema closed": chat_body(response_format={"type": "json_schema", "json_schema": {
        "name": "x", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}},
                                                "required": ["a"], "additionalProperties": False}}}),
    "metadata at its limits": chat_body(metadata={f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}),
    "128 tools": chat_body(tools=[fn_tool(f"f{i}") for i in range(128)]),
    "image detail original": {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x", "detail": "original"}}]}]},
    "input_audio mp3": {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}}]}]},
    "service_tier fast": chat_body(service_tier="fast"),
    "one stop sequence in a list": chat_body(stop=["\n"]),
}


@pytest.mark.parametrize("body", list(GOOD_REQUESTS.values()), ids=list(GOOD_REQUESTS))
def test_valid_request_is_accepted(engine: Engine, body: dict[str, Any]) -> None:
    res = post(engine, body)
    assert res.status == 200, res.body
    assert res.json()["object"] == "chat.completion"


# --- issue 9, item 1: every value the spec and the SDK list is accepted; the open lists take new ones --------


@pytest.mark.parametrize(("field", "value"), [*(("reasoning_effort", v) for v in REASONING_EFFORTS),
                                              *(("service_tier", v) for v in SERVICE_TIERS),
                                              *(("verbosity", v) for v in VERBOSITIES)])
def test_every_listed_value_passes_the_wire_model(field: str, value: str) -> None:
    # The wire model alone: which models support which effort is the model families' business.
    request = ChatCompletionRequest.model_validate(chat_body(**{field: value}))
    assert getattr(request, field) == value


def test_reasoning_effort_max_and_service_tier_fast_are_not_refused(engine: Engine) -> None:
    request = ChatCompletionRequest.model_validate(chat_body(reasoning_effort="max", service_tier="fast"))
    assert (request.reasoning_effort, request.service_tier) == ("max", "fast")
    # The API serves service_tier=fast as priority processing, and says so in the reply.
    assert reply(engine, chat_body(service_tier="fast"))["service_tier"] == "priority"
    assert reply(engine, chat_body(service_tier="flex"))["service_tier"] == "flex"
    assert reply(engine, chat_body(service_tier="auto"))["service_tier"] == "default"


def test_open_enums_take_a_value_from_a_newer_api(engine: Engine) -> None:
    request = ChatCompletionRequest.model_validate(chat_body(reasoning_effort="ultra", service_tier="turbo"))
    assert (request.reasoning_effort, request.service_tier) == ("ultra", "turbo")
    assert reply(engine, chat_body(service_tier="turbo"))["service_tier"] == "default"  # a value the SDK parses


def test_the_sdk_sends_service_tier_fast(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=[USER], service_tier="fast")
    assert completion.service_tier == "priority"


@pytest.mark.parametrize(("body", "message"), [
    ({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}]}]},
     "Invalid value: 'ogg'. Supported values are: 'wav' and 'mp3'."),
    (chat_body(reasoning_effort=""),
     "Invalid value: ''. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', 'xhigh', and 'max'."),
    (chat_body(verbosity="loud"), "Invalid value: 'loud'. Supported values are: 'low', 'medium', and 'high'."),
    ({"model": "", "messages": [USER]}, "you must provide a model parameter"),
    (chat_body(tools=[]),
     "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead."),
    (chat_body(tools=[fn_tool(f"f{i}") for i in range(129)]),
     "Invalid 'tools': array too long. Expected an array with maximum length 128, but got an array with length 129 "
     "instead."),
    (chat_body(stop=[]),
     "Invalid 'stop': empty array. Expected an array with minimum length 1, but got an empty array instead."),
    ({"model": MODEL, "messages": [{"role": "user", "content": []}]},
     "Invalid 'messages[0].content': empty array. Expected an array with minimum length 1, but got an empty array "
     "instead."),
    (chat_body(metadata={f"k{i}": "v" for i in range(17)}),
     "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object "
     "with 17 properties instead."),
    (chat_body(metadata={"k": "v" * 513}),
     "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, but got a string with "
     "length 513 instead."),
    (chat_body(metadata={"k" * 65: "v"}),
     f"Invalid property name in 'metadata': '{'k' * 65}' is too long. Expected a string with maximum length 64, "
     "but got a string with length 65 instead."),
], ids=["audio format", "empty effort", "verbosity", "empty model", "no tools", "129 tools", "no stop",
        "no content parts", "17 metadata keys", "long metadata value", "long metadata key"])
def test_the_real_apis_messages(engine: Engine, body: dict[str, Any], message: str) -> None:
    assert assert_envelope(post(engine, body), 400)["message"] == message


def test_parse_chat_keeps_unknown_parameters() -> None:
    body, req = parse_chat({"model": "m", "messages": [USER], "new_thing": [1, 2]})
    assert body["new_thing"] == [1, 2]
    assert req.model_extra == {"new_thing": [1, 2]}


def test_parse_chat_raises_api_error() -> None:
    with pytest.raises(APIError) as info:
        parse_chat(b'{"model": "m", "messages": [{"role": "wizard", "content": "x"}]}')
    assert (info.value.status, info.value.param) == (400, "messages[0].role")


@pytest.mark.parametrize(("loc", "expected"), [
    (("messages", 0, "role"), "messages[0].role"), (("tools", 1, "function", "name"), "tools[1].function.name"),
    (("n",), "n"), ((), "")])
def test_param_path(loc: tuple[Any, ...], expected: str) -> None:
    assert param_path(loc) == expected


# --- authentication --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "fragment"), [
    ({}, "didn't provide an API key"),
    ({"authorization": "Basic abc"}, "Invalid authorization header"),
    ({"authorization": "Bearer"}, "Invalid authorization header"),
    ({"authorization": "Bearer   "}, "Invalid authorization header"),
    ({"authorization": "sk-test"}, "Invalid authorization header"),
    ({"api-key": ""}, "didn't provide an API key"),
], ids=["none", "basic", "bearer no token", "bearer blank", "no scheme", "empty azure key"])
def test_missing_or_malformed_key_is_401(engine: Engine, headers: dict[str, str], fragment: str) -> None:
    err = assert_envelope(post(engine, chat_body(), headers=headers), 401, param=None, code="invalid_api_key")
    assert fragment in err["message"]


@pytest.mark.parametrize("headers", [{"authorization": "Bearer anything"}, {"authorization": "bearer x"},
                                     {"api-key": "azure-key"}], ids=["bearer", "lower-case scheme", "azure"])
def test_any_key_accepted_by_default(engine: Engine, headers: dict[str, str]) -> None:
    assert post(engine, chat_body(), headers=headers).status == 200


def test_exact_api_key(make_engine: Any) -> None:
    engine = make_engine(api_key="sk-right-key-1234")
    assert post(engine, chat_body(), headers={"authorization": "Bearer sk-right-key-1234"}).status == 200
    assert post(engine, chat_body(), headers={"api-key": "sk-right-key-1234"}).status == 200
    err = assert_envelope(post(engine, chat_body(), headers={"authorization": "Bearer sk-wrong-key-9876"}), 401,
                          code="invalid_api_key")
    assert "sk-wrong-key" not in err["message"], "the key must be redacted"
    assert "9876" in err["message"]
    assert_envelope(post(engine, chat_body(), headers={"api-key": "sk-wrong"}), 401, code="invalid_api_key")
    assert_envelope(engine.handle(request("GET", "/v1/models", headers={})), 401, code="invalid_api_key")


def test_no_auth(make_engine: Any) -> None:
    engine = make_engine(auth=False)
    assert post(engine, chat_body(), headers={}).status == 200
    assert post(engine, chat_body(), headers={"authorization": "garbage"}).status == 200
    assert engine.handle(request("GET", "/v1/models", headers={})).status == 200


def test_auth_is_checked_before_the_body(engine: Engine) -> None:
    assert_envelope(engine.handle(request(raw=b"{nope", headers={})), 401)


# --- routes, methods and sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nope"), ("POST", "/v1/completions"), ("GET", "/"),
                                              ("POST", "/v2/chat/completions"), ("GET", "/openai/deployments/x")])
def test_unknown_url_is_404(engine: Engine, method: str, path: str) -> None:
    err = assert_envelope(engine.handle(request(method, path, body=chat_body())), 404, param=None)
    assert path in err["message"]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PATCH", "/v1/chat/completions", "GET, POST"), ("PUT", "/chat/completions", "GET, POST"),
    ("DELETE", "/v1/chat/completions", "GET, POST"), ("POST", "/v1/models", "GET"),
    ("DELETE", "/v1/models/gpt-4o", "GET"),
])
def test_wrong_method_is_405(engine: Engine, method: str, path: str, allow: str) -> None:
    res = engine.handle(request(method, path))
    assert_envelope(res, 405)
    assert res.headers["allow"] == allow


def test_surfaces_mounted_on_first_need_serve_as_if_mounted_at_once() -> None:
    """The Responses API, conversations, embeddings and moderations are mounted when first needed (start-up time):
    a fresh engine's 404 still lists them, a wrong method on their paths is still a 405, the first request to
    them is served, and the routes end in the order they were always mounted in."""
    def fresh() -> Engine:
        engine = Engine()
        assert engine._later is None  # nothing mounted yet: the test below would prove nothing otherwise
        return engine

    err = assert_envelope(fresh().handle(request("GET", "/v1/nope")), 404, param=None)
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/conversations", "/v1/embeddings", "/v1/moderations"):
        assert path in err["message"]
    res = fresh().handle(request("GET", "/v1/embeddings"))
    assert_envelope(res, 405)
    assert res.headers["allow"] == "POST"
    engine = fresh()
    assert engine.handle(request("POST", "/v1/embeddings", body={"model": "text-embedding-3-small",
                                                                  "input": "hi"})).status == 200
    engine = fresh()
    res = engine.handle(request("POST", "/v1/responses", body={"model": MODEL, "input": "hi"}))
    assert res.status == 200
    assert res.json()["object"] == "response"
    assert engine.responses.store is engine.responses.store  # one surface, mounted once
    surfaces = [name.split(".")[0] for name in dict.fromkeys(r.name for r in engine.routes)]
    order = list(dict.fromkeys(surfaces))
    assert order[:2] == ["chat", "models"]
    assert order[-4:] == ["responses", "conversations", "embeddings", "moderations"]
    assert len(engine.routes) == len({(r.method, r.path) for r in engine.routes})  # mounted once each
    engine = fresh()
    engine.moderations.words = {"violence": ["dragon*"]}  # asking for a surface mounts them too
    assert engine._later is not None
    res = engine.handle(request("POST", "/v1/moderations", body={"input": "dragons"}))
    assert res.json()["results"][0]["categories"]["violence"] is True
    listed = {r.name.split(".")[0] for r in fresh().routes}  # reading the list mounts them: it is never short
    assert {"chat", "models", "responses", "conversations", "embeddings", "moderations"} <= listed


def test_body_over_the_limit_is_413(make_engine: Any) -> None:
    engine = make_engine(max_body=200)
    assert post(engine, chat_body()).status == 200
    assert_envelope(post(engine, chat_body("x" * 300)), 413)


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_asgi_app_413_without_reading_everything(make_engine: Any, chunked: bool) -> None:
    import json

    engine = make_engine(max_body=1000)
    data = json.dumps(chat_body("x" * 5000)).encode()

    async def parts() -> Any:
        for i in range(0, len(data), 500):
            yield data[i:i + 500]

    transport = httpx.ASGITransport(app=create_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        res = await http.post("/v1/chat/completions", content=parts() if chunked else data, headers=AUTH)
    assert_envelope(res, 413)


@pytest.mark.asyncio
async def test_asgi_app_answers_errors_in_the_envelope(engine: Engine) -> None:
    transport = httpx.ASGITransport(app=create_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert_envelope(await http.get("/v1/nope", headers=AUTH), 404)
        assert_envelope(await http.put("/v1/chat/completions", headers=AUTH), 405)
        assert_envelope(await http.patch("/v1/models", headers=AUTH), 405)
        res = await http.post("/v1/chat/completions", content=b"{nope", headers=AUTH)
        assert_envelope(res, 400)
        assert res.headers["content-type"] == "application/json"
        assert res.headers["x-request-id"].startswith("req_")


# --- lone surrogates: valid JSON, not Unicode text ---------------------------------------------------------

_HI = b'[{"role":"user","content":"hi"}]'


@pytest.mark.parametrize(("raw", "param"), [
    (b'{"model":"gpt-4o","messages":[{"role":"user","content":"cut emoji \\ud83d"}]}', "messages[0].content"),
    (b'{"model":"gpt-4o\\udc00","messages":' + _HI + b"}", "model"),
    (b'{"model":"gpt-4o","stop":["a","\\uDE00"],"messages":' + _HI + b"}", "stop[1]"),
    (b'{"model":"gpt-4o","stop":"\\ud83d","messages":' + _HI + b"}", "stop"),
    (b'{"model":"gpt-4o","user":"u\\ud83dx","messages":' + _HI + b"}", "user"),
    (b'{"model":"gpt-4o","metadata":{"\\ud83d":"x"},"messages":' + _HI + b"}", "metadata"),
    (b'{"model":"gpt-4o","\\ud83d":1,"messages":' + _HI + b"}", None),
    (b'{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"\\ude00\\ud83d"}]}]}',
     "messages[0].content[0].text"),
], ids=["content", "model", "stop item", "stop", "user", "key", "top-level key", "reversed pair"])
def test_lone_surrogate_is_a_400_not_a_500(engine: Engine, raw: bytes, param: str | None) -> None:
    err = assert_envelope(engine.handle(request(raw=raw)), 400, param=param, code="invalid_value")
    assert "surrogate" in err["message"]
    assert engine.calls[-1].error is not None


@pytest.mark.parametrize("raw", [
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"emoji \\ud83d\\ude00"}]}',
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"emoji \\uD83D\\uDE00 and \\u00e9"}]}',
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"an escaped backslash \\\\ud83d"}]}',
    '{"model":"gpt-4o","messages":[{"role":"user","content":"raw \U0001f600"}]}'.encode(),
], ids=["paired", "paired upper case", "escaped backslash", "raw emoji"])
def test_paired_surrogates_are_fine(engine: Engine, raw: bytes) -> None:
    res = engine.handle(request(raw=raw))
    assert res.status == 200, res.body


def test_surrogate_in_utf8_bytes_is_not_json() -> None:
    with pytest.raises(APIError) as exc:
        parse_chat(b'{"model":"m","messages":[{"role":"user","content":"\xed\xa0\xbd"}]}')
    assert exc.value.status == 400
    assert "could not parse the JSON body" in exc.value.message


def test_lone_surrogate_in_a_mapping_body() -> None:
    with pytest.raises(APIError) as exc:
        parse_chat({"model": "m", "messages": [{"role": "user", "content": "x\ud83d"}]})
    assert (exc.value.status, exc.value.param) == (400, "messages[0].content")


# --- tool calls and their results ---------------------------------------------------------------------------

def test_history_ending_in_unanswered_tool_calls_is_a_400(engine: Engine) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {"model": MODEL, "messages": [USER, {"role": "assistant", "tool_calls": [call]}]}
    err = assert_envelope(post(engine, body), 400, param="messages[1].role", code=None)
    assert err["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: c1")


def test_history_ending_in_partly_answered_tool_calls_is_a_400(engine: Engine) -> None:
    calls = [{**CALL, "id": "a"}, {**CALL, "id": "b"}]
    body = {"model": MODEL, "messages": [USER, USER, {"role": "assistant", "tool_calls": calls},
                                         {"role": "tool", "tool_call_id": "a", "content": "x"}]}
    err = assert_envelope(post(engine, body), 400, param="messages[2].role", code=None)
    assert err["message"].endswith("did not have response messages: b")


def test_tool_message_answering_a_custom_tool_call_is_accepted(engine: Engine) -> None:
    custom = {"id": "call_c", "type": "custom", "custom": {"name": "grep", "input": "needle"}}
    messages: list[dict[str, Any]] = [
        USER, {"role": "assistant", "content": None, "tool_calls": [custom, CALL]},
        {"role": "tool", "tool_call_id": "call_c", "content": "found"},
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}]
    res = post(engine, {"model": MODEL, "messages": messages})
    assert res.status == 200, res.body
    unanswered = {"model": MODEL, "messages": [*messages[:2], messages[3], USER]}
    err = assert_envelope(post(engine, unanswered), 400, param="messages[1].role", code=None)
    assert err["message"].endswith("did not have response messages: call_c")


def test_empty_tool_calls_array_is_a_400(engine: Engine) -> None:
    body = {"model": MODEL, "messages": [USER, {"role": "assistant", "content": "ok", "tool_calls": []}, USER]}
    err = assert_envelope(post(engine, body), 400, param="messages[1].tool_calls", code="empty_array")
    assert err["message"] == ("Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum "
                              "length 1, but got an empty array instead.")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/v1/moderations", "/v1/responses"])
@pytest.mark.parametrize(("raw", "named"), [(b"null", "null"), (b"[]", "an array"), (b"5", "an integer"),
                                            (b'"x"', "a string")])
def test_a_body_that_is_not_an_object_is_named_in_jsons_words(path: str, raw: bytes, named: str) -> None:
    """As the real API names it (chat, embeddings and moderations said Python's NoneType, list, int)."""
    res = Engine().handle(request(path=path, raw=raw))
    assert res.status == 400
    assert res.json()["error"]["message"] == (
        f"Invalid type for request body: expected an object, but got {named} instead.")
