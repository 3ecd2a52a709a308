"""Invalid requests get OpenAI's status, envelope, ``param`` and ``code``; valid ones (with unknown extras) pass."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import AUTH, MODEL, TIME_TOOL, assert_envelope, chat_body, post, request

from mockai import APIError, Engine
from mockai.app import create_app
from mockai.errors import param_path
from mockai.validation import parse_chat

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
        "tools[0].function.parameters", "invalid_json_schema"),
    "tool_choice without tools": (chat_body(tool_choice="auto"), "tool_choice", "invalid_value"),
    "tool_choice unknown string": (chat_body(tools=[TIME_TOOL], tool_choice="always"), "tool_choice",
                                   "invalid_value"),
    "tool_choice names a missing tool": (
        chat_body(tools=[TIME_TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}),
        "tool_choice", "invalid_value"),
    "logit_bias key not a token id": (chat_body(logit_bias={"abc": 1}), "logit_bias", "invalid_value"),
    "logit_bias out of range": (chat_body(logit_bias={"12": 101}), "logit_bias.12", "invalid_value"),
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
    "remote $ref": {"type": "object", "properties": {"a": {"$ref": "http://x"}}, "required": ["a"]},
    "dangling $ref": {"type": "object", "properties": {"a": {"$ref": "#/$defs/zz"}}, "required": ["a"]},
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
}


@pytest.mark.parametrize("body", list(GOOD_REQUESTS.values()), ids=list(GOOD_REQUESTS))
def test_valid_request_is_accepted(engine: Engine, body: dict[str, Any]) -> None:
    res = post(engine, body)
    assert res.status == 200, res.body
    assert res.json()["object"] == "chat.completion"


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
    ("GET", "/v1/chat/completions", "POST"), ("PUT", "/chat/completions", "POST"),
    ("DELETE", "/v1/chat/completions", "POST"), ("POST", "/v1/models", "GET"), ("DELETE", "/v1/models/gpt-4o", "GET"),
])
def test_wrong_method_is_405(engine: Engine, method: str, path: str, allow: str) -> None:
    res = engine.handle(request(method, path))
    assert_envelope(res, 405)
    assert res.headers["allow"] == allow


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
        assert_envelope(await http.get("/v1/chat/completions", headers=AUTH), 405)
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
