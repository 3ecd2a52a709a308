"""Custom tools and ``allowed_tools``: named and required custom tool calls, inputs that fit the tool's text,
regex or Lark grammar format, ``allowed_tools`` in both modes, the 400s for tools that are not offered, and the
same on both wires, through the real SDK (sync and async, in-process and over a socket)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import lark
import openai
import pytest
from conftest import MODEL, WEATHER_TOOL, assert_envelope, chat_body, post, sse_chunks
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from mockai import Engine, MockAI, wire
from mockai.server import ServerThread

SQL_REGEX = r"SELECT (id|name|email) FROM [a-z]{3,8}( WHERE id = [0-9]{1,4})?"
SQL_TOOL: dict[str, Any] = {"type": "custom", "custom": {
    "name": "run_sql", "description": "Run one SQL query.",
    "format": {"type": "grammar", "grammar": {"syntax": "regex", "definition": SQL_REGEX}}}}
MATH_GRAMMAR = r"""
start: expr
?expr: term (("+" | "-") term)*
?term: factor (("*" | "/") factor)*
?factor: NUMBER | "(" expr ")" | "-" factor
%import common.NUMBER
%import common.WS
%ignore WS
"""
MATH_TOOL: dict[str, Any] = {"type": "custom", "custom": {
    "name": "calculate", "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": MATH_GRAMMAR}}}}
NOTE_TOOL: dict[str, Any] = {"type": "custom", "custom": {"name": "write_note"}}
TEXT_TOOL: dict[str, Any] = {"type": "custom", "custom": {"name": "shell", "format": {"type": "text"}}}
CUSTOM_TOOLS = [SQL_TOOL, MATH_TOOL, NOTE_TOOL, TEXT_TOOL]
ALL_TOOLS = [WEATHER_TOOL, *CUSTOM_TOOLS]


def allowed(mode: str, *names: tuple[str, str]) -> dict[str, Any]:
    return {"type": "allowed_tools", "allowed_tools": {
        "mode": mode, "tools": [{"type": kind, kind: {"name": name}} for kind, name in names]}}


def calls_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for c in body["choices"] for t in c["message"].get("tool_calls") or []]


def check_input(call: dict[str, Any]) -> None:
    """A custom call's input fits its tool's format: the regex matches all of it, the Lark grammar parses it."""
    assert call["type"] == "custom"
    assert set(call) == {"id", "type", "custom"}
    assert call["id"].startswith("call_")
    name, text = call["custom"]["name"], call["custom"]["input"]
    assert isinstance(text, str)
    assert text
    if name == "run_sql":
        assert re.fullmatch(SQL_REGEX, text), text
    elif name == "calculate":
        lark.Lark(MATH_GRAMMAR).parse(text)


def strict_reply(res: Any) -> dict[str, Any]:
    assert res.status == 200, res.body
    body: dict[str, Any] = res.json()
    ChatCompletion.model_validate(body, strict=True)
    wire.ChatCompletion.model_validate(body, strict=True)
    return body


def custom_stream(engine: Engine, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a stream, each valid against mockai's chunk model; the SDK's chunk type (which has no custom
    delta yet) holds every chunk that carries no custom call, and the custom deltas have the documented shape."""
    res = post(engine, {**body, "stream": True})
    assert res.status == 200, res.content()
    chunks = sse_chunks(res)
    for chunk in chunks:
        wire.ChatCompletionChunk.model_validate(chunk, strict=True)
        deltas = [tc for c in chunk["choices"] for tc in c["delta"].get("tool_calls") or []]
        if not any("custom" in tc for tc in deltas):
            ChatCompletionChunk.model_validate(chunk, strict=True)
        for tc in deltas:
            if "custom" not in tc:
                continue
            if "id" in tc:
                assert set(tc) == {"index", "id", "type", "custom"}
                assert tc["type"] == "custom"
                assert set(tc["custom"]) == {"name", "input"}
                assert tc["custom"]["input"] == ""
            else:
                assert set(tc) == {"index", "custom"}
                assert set(tc["custom"]) == {"input"}
    return chunks


def reassembled_calls(chunks: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Each choice's tool calls, folded from the deltas as a client does, in the shape of the JSON reply."""
    out: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunks:
        for c in chunk["choices"]:
            calls = out.setdefault(c["index"], [])
            for tc in c["delta"].get("tool_calls") or []:
                if tc["index"] == len(calls):
                    kind = tc["type"]
                    calls.append({"id": tc["id"], "type": kind, kind: dict(tc[kind])})
                    continue
                call = calls[tc["index"]]
                field = "input" if call["type"] == "custom" else "arguments"
                call[call["type"]][field] += tc[call["type"]][field]
    return out


# --- named and required ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", CUSTOM_TOOLS, ids=lambda t: t["custom"]["name"])
def test_named_custom_tool_is_called(engine: Engine, tool: dict[str, Any]) -> None:
    name = tool["custom"]["name"]
    body = strict_reply(post(engine, chat_body("Hi", tools=ALL_TOOLS, n=5,
                                               tool_choice={"type": "custom", "custom": {"name": name}})))
    for choice in body["choices"]:
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["content"] is None
        [call] = choice["message"]["tool_calls"]
        assert call["custom"]["name"] == name
        check_input(call)


def test_required_with_only_custom_tools_calls_one(engine: Engine) -> None:
    body = strict_reply(post(engine, chat_body("Hi", tools=CUSTOM_TOOLS, tool_choice="required", n=16)))
    assert {c["finish_reason"] for c in body["choices"]} == {"tool_calls"}
    calls = calls_of(body)
    for call in calls:
        check_input(call)
    assert {c["custom"]["name"] for c in calls} == {t["custom"]["name"] for t in CUSTOM_TOOLS}
    assert len({c["id"] for c in calls}) == len(calls)


def test_auto_calls_a_custom_tool_the_user_names(engine: Engine) -> None:
    body = strict_reply(post(engine, chat_body("Please run_sql for me", tools=ALL_TOOLS, n=4)))
    for call in calls_of(body):
        assert call["custom"]["name"] == "run_sql"
    assert len(calls_of(body)) >= 4


def test_mixed_tools_required_calls_both_kinds(engine: Engine) -> None:
    body = strict_reply(post(engine, chat_body("Hi", tools=ALL_TOOLS, tool_choice="required", n=24)))
    kinds = {c["type"] for c in calls_of(body)}
    assert kinds == {"function", "custom"}
    for call in calls_of(body):
        if call["type"] == "function":
            jsonschema.validate(json.loads(call["function"]["arguments"]),
                                WEATHER_TOOL["function"]["parameters"])
        else:
            check_input(call)


def test_inputs_fit_their_grammar_across_many_requests(engine: Engine) -> None:
    """Many draws, not one: every regex input matches all of the pattern, every Lark input parses."""
    for i in range(25):
        for tool in (SQL_TOOL, MATH_TOOL):
            body = strict_reply(post(engine, chat_body(f"Request {i}", tools=[tool], tool_choice="required")))
            for call in calls_of(body):
                check_input(call)


def test_grammars_mockai_cannot_read_give_plain_text(engine: Engine) -> None:
    odd = {"type": "custom", "custom": {"name": "odd", "format": {"type": "grammar", "grammar": {
        "syntax": "lark", "definition": "%declare THING\nstart: THING"}}}}
    body = strict_reply(post(engine, chat_body("Hi", tools=[odd], tool_choice="required")))
    for call in calls_of(body):
        assert call["custom"]["input"].endswith(".")


# --- allowed_tools -----------------------------------------------------------------------------------------


def test_allowed_tools_required_calls_only_the_allowed(engine: Engine) -> None:
    choice = allowed("required", ("function", "get_weather"), ("custom", "run_sql"))
    seen: set[str] = set()
    for i in range(10):
        body = strict_reply(post(engine, chat_body(f"Hi {i}, calculate something", tools=ALL_TOOLS,
                                                   tool_choice=choice, n=3)))
        assert {c["finish_reason"] for c in body["choices"]} == {"tool_calls"}
        for call in calls_of(body):
            name = call["function"]["name"] if call["type"] == "function" else call["custom"]["name"]
            seen.add(name)
    assert seen == {"get_weather", "run_sql"}


def test_allowed_tools_auto_answers_in_text_or_calls_an_allowed_tool(engine: Engine) -> None:
    choice = allowed("auto", ("custom", "write_note"))
    finishes: set[str] = set()
    for i in range(12):
        body = strict_reply(post(engine, chat_body(f"Hello {i}", tools=ALL_TOOLS, tool_choice=choice, n=2)))
        for c in body["choices"]:
            finishes.add(c["finish_reason"])
            if c["finish_reason"] == "stop":
                assert isinstance(c["message"]["content"], str)
                assert c["message"]["content"]
        assert {t["custom"]["name"] for t in calls_of(body)} <= {"write_note"}
    assert finishes == {"stop", "tool_calls"}


def test_allowed_tools_flat_entries_are_read(engine: Engine) -> None:
    """The Responses API spells an entry ``{"type": "function", "name": ...}``; it is accepted here too."""
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "required",
                                                         "tools": [{"type": "custom", "name": "shell"}]}}
    body = strict_reply(post(engine, chat_body("Hi", tools=ALL_TOOLS, tool_choice=choice, n=3)))
    assert {c["custom"]["name"] for c in calls_of(body)} == {"shell"}


# --- the 400s ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tools", "tool_choice", "param", "message"), [
    ([WEATHER_TOOL], {"type": "custom", "custom": {"name": "run_sql"}}, "tool_choice",
     "custom tool 'run_sql' not found in 'tools'"),
    ([SQL_TOOL], {"type": "function", "function": {"name": "run_sql"}}, "tool_choice",
     "function 'run_sql' not found in 'tools'"),
    (ALL_TOOLS, allowed("required", ("function", "get_time")), "tool_choice.allowed_tools.tools[0]",
     "function 'get_time' not found in 'tools'"),
    (ALL_TOOLS, allowed("auto", ("custom", "run_sql"), ("custom", "get_weather")),
     "tool_choice.allowed_tools.tools[1]", "custom tool 'get_weather' not found in 'tools'"),
    (ALL_TOOLS, allowed("required"), "tool_choice.allowed_tools.tools", "empty array"),
    (ALL_TOOLS, {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "web"}]}},
     "tool_choice.allowed_tools.tools[0].type", "Supported values are: 'function' and 'custom'"),
    (ALL_TOOLS, {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function"}]}},
     "tool_choice.allowed_tools.tools[0].function.name", "Missing required parameter"),
])
def test_bad_tool_references_are_400s(engine: Engine, tools: list[dict[str, Any]], tool_choice: dict[str, Any],
                                      param: str, message: str) -> None:
    err = assert_envelope(post(engine, chat_body("Hi", tools=tools, tool_choice=tool_choice)), 400, param=param)
    assert message in err["message"]


def test_sdk_raises_bad_request_for_an_unknown_custom_tool() -> None:
    with MockAI() as mock, pytest.raises(openai.BadRequestError) as info:
        mock.client(max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=[SQL_TOOL],
            tool_choice={"type": "custom", "custom": {"name": "nope"}})
    assert info.value.body["param"] == "tool_choice"  # type: ignore[index]


# --- streams -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_choice", [
    {"type": "custom", "custom": {"name": "run_sql"}},
    "required",
    allowed("required", ("custom", "calculate"), ("function", "get_weather")),
], ids=["named", "required", "allowed"])
def test_stream_reassembles_to_the_reply(make_engine: Any, tool_choice: Any) -> None:
    body = chat_body("Hi", tools=ALL_TOOLS, tool_choice=tool_choice, n=4)
    whole = strict_reply(post(make_engine(seed=5), body))
    chunks = custom_stream(make_engine(seed=5), body)
    calls = reassembled_calls(chunks)
    for choice in whole["choices"]:
        assert calls[choice["index"]] == choice["message"]["tool_calls"]
    finishes = [c["finish_reason"] for ch in chunks for c in ch["choices"] if c["finish_reason"]]
    assert finishes == ["tool_calls"] * 4


def test_first_stream_and_first_reply_share_custom_call_ids(engine: Engine) -> None:
    body = chat_body("Hi", tools=[SQL_TOOL], tool_choice="required")
    whole = strict_reply(post(engine, body))
    assert reassembled_calls(custom_stream(engine, body))[0] == whole["choices"][0]["message"]["tool_calls"]
    again = reassembled_calls(custom_stream(engine, body))[0]
    assert {c["id"] for c in again}.isdisjoint({c["id"] for c in calls_of(whole)})


# --- through the SDK -----------------------------------------------------------------------------------------


def test_sdk_in_process_parses_custom_calls_json_and_stream() -> None:
    with MockAI(seed=2) as mock:
        client = mock.client(max_retries=0)
        kwargs: dict[str, Any] = {"model": "gpt-5", "messages": [{"role": "user", "content": "Hi"}],
                                  "tools": ALL_TOOLS, "tool_choice": {"type": "custom", "custom": {"name": "run_sql"}}}
        completion = client.chat.completions.create(**kwargs)
        [call] = completion.choices[0].message.tool_calls or []
        assert call.type == "custom"
        assert re.fullmatch(SQL_REGEX, call.custom.input)
        pieces, first = [], None
        for chunk in client.chat.completions.create(**kwargs, stream=True):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                first = first or delta
                pieces.append((delta.model_extra or {})["custom"].get("input", ""))
        assert first is not None
        assert first.type == "custom"
        assert first.id == call.id
        assert "".join(pieces) == call.custom.input


def test_sdk_stream_helper_snapshot_holds_the_custom_call() -> None:
    """The SDK's stream helper folds the custom deltas into its snapshot. (Its ``get_final_completion`` cannot
    finish a custom call in openai 3.x, whatever the server: its snapshot types every tool call as a function.)"""
    with MockAI(seed=3) as mock:
        client = mock.client(max_retries=0)
        with client.chat.completions.stream(model="gpt-5", messages=[{"role": "user", "content": "Hi"}],
                                            tools=[MATH_TOOL], tool_choice="required") as events:
            kinds = {event.type for event in events}
            snapshot = events.current_completion_snapshot
        assert "chunk" in kinds
        assert snapshot.choices[0].finish_reason == "tool_calls"
        for call in snapshot.choices[0].message.tool_calls or []:
            custom = (call.model_extra or {})["custom"]
            assert custom["name"] == "calculate"
            lark.Lark(MATH_GRAMMAR).parse(custom["input"])


def test_sdk_over_a_socket(served: ServerThread) -> None:
    with openai.OpenAI(base_url=served.base_url, api_key="sk-test", max_retries=0, timeout=10) as client:
        choice = allowed("required", ("custom", "write_note"))
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=ALL_TOOLS, tool_choice=choice, n=3)
        names = {c.custom.name for ch in completion.choices for c in ch.message.tool_calls or []
                 if c.type == "custom"}
        assert names == {"write_note"}
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                           tools=[WEATHER_TOOL], tool_choice=allowed("auto", ("custom", "x")))


@pytest.mark.asyncio
async def test_async_sdk(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=CUSTOM_TOOLS, tool_choice="required")
    assert completion.choices[0].finish_reason == "tool_calls"
    for call in completion.choices[0].message.tool_calls or []:
        assert call.type == "custom"
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], tools=CUSTOM_TOOLS, tool_choice="required",
        stream=True)
    types = [d.type async for chunk in stream for d in (chunk.choices[0].delta.tool_calls or []) if d.type]
    assert types
    assert set(types) == {"custom"}


def test_a_custom_call_answered_by_a_tool_message_continues(engine: Engine) -> None:
    first = strict_reply(post(engine, chat_body("Hi", tools=[SQL_TOOL], tool_choice="required",
                                                parallel_tool_calls=False)))
    [call] = calls_of(first)
    history = [{"role": "user", "content": "Hi"}, first["choices"][0]["message"],
               {"role": "tool", "tool_call_id": call["id"], "content": "3 rows"}]
    body = strict_reply(post(engine, {"model": MODEL, "messages": history, "tools": [SQL_TOOL]}))
    assert body["choices"][0]["finish_reason"] == "stop"


def test_scripted_custom_calls_keep_their_type() -> None:
    """A scripted ``ToolCall(type="custom")``, or an SDK completion holding a custom call, replies as one."""
    from openai.types.chat import ChatCompletion as SDKCompletion

    from mockai import ToolCall

    with MockAI() as mock:
        mock.on(last_user="first").respond(ToolCall("run_sql", "SELECT 1", type="custom"))
        sdk = SDKCompletion.model_validate({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [{
                "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
                "tool_calls": [{"id": "call_1", "type": "custom", "custom": {"name": "shell", "input": "ls"}}]}}]})
        mock.on(last_user="second").respond(sdk)
        client = mock.client()
        for text, name, given in (("first", "run_sql", "SELECT 1"), ("second", "shell", "ls")):
            completion = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}], tools=CUSTOM_TOOLS)
            [call] = completion.choices[0].message.tool_calls or []
            assert call.type == "custom"
            assert (call.custom.name, call.custom.input) == (name, given)


@pytest.mark.parametrize(("fmt", "param", "code"), [
    ({"type": "json"}, "tools[1].custom.format.type", "invalid_value"),
    ({}, "tools[1].custom.format.type", "missing_required_parameter"),
    ({"type": "grammar"}, "tools[1].custom.format.grammar", "missing_required_parameter"),
    ({"type": "grammar", "grammar": "start: x"}, "tools[1].custom.format.grammar", "invalid_type"),
    ({"type": "grammar", "grammar": {"syntax": "ebnf", "definition": "x"}}, "tools[1].custom.format.grammar.syntax",
     "invalid_value"),
    ({"type": "grammar", "grammar": {"syntax": "regex"}}, "tools[1].custom.format.grammar.definition",
     "missing_required_parameter"),
    ({"type": "grammar", "grammar": {"syntax": "lark", "definition": 5}},
     "tools[1].custom.format.grammar.definition", "invalid_type"),
])
def test_bad_custom_formats_are_400s(engine: Engine, fmt: dict[str, Any], param: str, code: str) -> None:
    tool = {"type": "custom", "custom": {"name": "odd", "format": fmt}}
    assert_envelope(post(engine, chat_body("Hi", tools=[WEATHER_TOOL, tool])), 400, param=param, code=code)
