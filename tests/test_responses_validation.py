"""``POST /v1/responses`` bodies: what the real API accepts parses, what it rejects is the 400 it sends (``param``,
``code`` and, where known, the message), no input at all gives anything but an OpenAI-shaped 4xx; the enums match
the official schema and the SDK; the API-neutral :class:`~mockai.prompt.Prompt` and the ``input_items`` listing.

Messages marked "observed" are the real API's own words (taken from published recordings of its answers); the
others are the closest in its style, as the comments in :mod:`mockai.responses.validation` say.
"""

from __future__ import annotations

import copy
import doctest
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types import shared_params
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseIncludable,
    ResponseInputFileParam,
    ResponseInputImageParam,
    ResponseItemList,
    ResponseTextConfigParam,
    ToolChoiceAllowedParam,
    ToolChoiceApplyPatchParam,
    ToolChoiceOptions,
    ToolChoiceShellParam,
    ToolChoiceTypesParam,
    response_create_params,
    response_input_item_param,
    tool_param,
)
from openai.types.responses.response_function_tool_call_param import ResponseFunctionToolCallParam
from openai.types.responses.response_input_content_param import ResponseInputContentParam
from openai.types.responses.response_output_message_param import Content as OutputContentParam
from openai.types.responses.service_tier import ServiceTier
from openai.types.shared_params.custom_tool_input_format import Grammar

import mockai.responses.items
import mockai.responses.validation
import mockai.responses.values
import mockai.responses.wire
from mockai.errors import APIError
from mockai.prompt import AUTO, CallRef, Choosing, OutputFormat, ToolDef, Turn
from mockai.responses import values
from mockai.responses.items import input_items, to_prompt
from mockai.responses.validation import (
    check_call_outputs,
    check_model_support,
    is_reasoning_model,
    parse_response_request,
)
from mockai.responses.wire import CreateResponseRequest

MODEL = "gpt-4o-mini"
SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openai-spec" / "openai-responses.schema.json"

USER = {"role": "user", "content": "What's the weather in Oslo?"}
CLOSED = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}
OPEN = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather", "parameters": CLOSED,
           "strict": True}
CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 12}'}
# A function call as a response's ``output`` holds it, given back as input (check-responses does this).
CALL_ITEM = {"id": "fc_1", "type": "function_call", "status": "completed", **{k: CALL[k] for k in CALL if k != "type"}}
ASSISTANT_ITEM = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                  "phase": "final_answer",
                  "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "It is 12C."}]}
CUSTOM_CALL = {"type": "custom_tool_call", "call_id": "call_c", "name": "run_sql", "input": "SELECT 1"}
CUSTOM_OUTPUT = {"type": "custom_tool_call_output", "call_id": "call_c", "output": "1"}
SQL_TOOL = {"type": "custom", "name": "run_sql", "description": "Runs SQL",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}


def body(**params: Any) -> dict[str, Any]:
    """A minimal valid request body with ``params`` merged in."""
    return {"model": MODEL, "input": "Write two sentences about lighthouses.", **params}


def parse(value: dict[str, Any], **kw: Any) -> CreateResponseRequest:
    return parse_response_request(json.dumps(value).encode(), **kw)[1]


def rejected(value: Any, status: int = 400, **kw: Any) -> APIError:
    """The error ``value`` (a body, or raw bytes) gets; it must be an OpenAI-shaped ``invalid_request_error``."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    with pytest.raises(APIError) as info:
        parse_response_request(raw, **kw)
    err = info.value
    assert err.status == status
    assert err.type == "invalid_request_error"
    assert err.message and set(err.envelope()["error"]) == {"message", "type", "param", "code"}
    return err


# --- accepted -----------------------------------------------------------------------------------------------------

ACCEPTED: dict[str, dict[str, Any]] = {
    "string input": body(),
    "messages without type": body(input=[{"role": r, "content": "hi"} for r in ("developer", "system", "user")]),
    "message with type": body(input=[{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "hi"}]}]),
    "image without detail": body(input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"}, {"type": "input_image", "image_url": "https://x/a.png"}]}]),
    "image by file id with detail": body(input=[{"role": "user", "content": [
        {"type": "input_image", "file_id": "file-1", "detail": "original"}]}]),
    "file parts": body(input=[{"role": "user", "content": [
        {"type": "input_file", "file_id": "file-1"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,AAAA"},
        {"type": "input_file", "file_url": "https://x/a.pdf", "detail": "high"}]}]),
    "audio part": body(input=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]),
    "assistant string given back": body(input=[USER, {"role": "assistant", "content": "It is 12C."}, USER]),
    "assistant parts given back": body(input=[USER, ASSISTANT_ITEM, {"role": "assistant", "content": [
        {"type": "output_text", "text": "x"}, {"type": "refusal", "refusal": "no"}]}, USER]),
    "message id, status and phase": body(input=[{"role": "user", "content": "hi", "id": "msg_x",
                                                 "status": "completed"}]),
    "call and output inline": body(tools=[WEATHER], input=[USER, CALL, OUTPUT]),
    "call item from an output, given back": body(tools=[WEATHER], tool_choice="auto", input=[USER, CALL_ITEM, OUTPUT]),
    "output as parts": body(input=[USER, CALL, {**OUTPUT, "output": [
        {"type": "input_text", "text": "12C"}, {"type": "input_image", "image_url": "https://x/chart.png"}]}]),
    "parallel calls then outputs": body(input=[USER, CALL, {**CALL, "call_id": "call_2"}, OUTPUT,
                                               {**OUTPUT, "call_id": "call_2"}]),
    "custom tool call and output": body(tools=[SQL_TOOL], input=[USER, CUSTOM_CALL, CUSTOM_OUTPUT]),
    "reasoning items": body(model="o4-mini", input=[
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Thinking."}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA"}, USER]),
    "item references": body(previous_response_id="resp_1", input=[
        {"type": "item_reference", "id": "msg_1"}, {"id": "fc_1"}, {"type": None, "id": "msg_2"}]),
    "built-in tool items kept as sent": body(input=[
        USER, {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        {"type": "computer_call_output", "call_id": "c", "output": {"type": "computer_screenshot"}},
        {"type": "mcp_approval_response", "approval_request_id": "a", "approve": True},
        {"type": "compaction", "encrypted_content": "x"}, {"type": "configuration_update", "x": 1}]),
    "function tools, loose and strict": body(tools=[
        WEATHER, {"type": "function", "name": "noop"},
        {"type": "function", "name": "loose", "parameters": OPEN, "strict": False, "description": None},
        {"type": "function", "name": "open_default", "parameters": OPEN}]),
    "custom tools": body(tools=[SQL_TOOL, {"type": "custom", "name": "free"},
                                {"type": "custom", "name": "text_in", "format": {"type": "text"}}]),
    "built-in tools": body(tools=[
        {"type": "web_search"}, {"type": "web_search_preview", "search_context_size": "low"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.example/sse"},
        {"type": "code_interpreter", "container": {"type": "auto"}}, {"type": "image_generation"},
        {"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "browser"},
        {"type": "local_shell"}, {"type": "shell"}, {"type": "apply_patch"}]),
    "tool_choice options": body(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False,
                                max_tool_calls=3),
    "tool_choice none and auto without tools": body(tool_choice="none"),
    "tool_choice function": body(tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}),
    "tool_choice custom": body(tools=[SQL_TOOL], tool_choice={"type": "custom", "name": "run_sql"}),
    "tool_choice hosted": body(tools=[{"type": "web_search_preview"}], tool_choice={"type": "web_search_preview"}),
    "tool_choice hosted, dated tool": body(tools=[{"type": "web_search_preview_2025_03_11"}],
                                          tool_choice={"type": "web_search_preview"}),
    "tool_choice computer": body(tools=[{"type": "computer_use_preview"}], tool_choice={"type": "computer_use"}),
    "tool_choice mcp": body(tools=[{"type": "mcp", "server_label": "wiki"}],
                            tool_choice={"type": "mcp", "server_label": "wiki", "name": "search"}),
    "tool_choice shell and apply_patch": body(tools=[{"type": "shell"}, {"type": "apply_patch"}],
                                              tool_choice={"type": "apply_patch"}),
    "tool_choice allowed_tools": body(tools=[WEATHER, SQL_TOOL, {"type": "file_search"}], tool_choice={
        "type": "allowed_tools", "mode": "required", "tools": [
            {"type": "function", "name": "get_weather"}, {"type": "custom", "name": "run_sql"},
            {"type": "file_search"}]}),
    "tool_choice with a reusable prompt's tools": body(prompt={"id": "pmpt_1"},
                                                       tool_choice={"type": "function", "name": "from_prompt"}),
    "text formats": body(text={"format": {"type": "text"}, "verbosity": "low"}),
    "json_object with json in the input": body(input="Answer in JSON.", text={"format": {"type": "json_object"}}),
    "json_object after a previous response": body(previous_response_id="resp_1",
                                                  text={"format": {"type": "json_object"}}),
    "json_schema strict": body(text={"format": {"type": "json_schema", "name": "city", "schema": CLOSED,
                                                "strict": True, "description": "A city"}}),
    "json_schema loose": body(text={"format": {"type": "json_schema", "name": "city", "schema": OPEN}}),
    "reasoning on a reasoning model": body(model="o3", reasoning={"effort": "high", "summary": "auto"},
                                           include=["reasoning.encrypted_content"], store=False),
    "reasoning, deprecated spelling": body(model="gpt-5", reasoning={"generate_summary": "concise", "effort": "max"}),
    "reasoning object left empty on any model": body(reasoning={}),
    "sampling at 1 on a reasoning model": body(model="gpt-5-mini", temperature=1, top_p=1),
    "sampling with effort none": body(model="gpt-5.1", reasoning={"effort": "none"}, temperature=0.2, top_p=0.5),
    "sampling on gpt-5-chat": body(model="gpt-5-chat-latest", temperature=0.2),
    "sampling bounds": body(temperature=0, top_p=0),
    "sampling bounds high": body(temperature=2, top_p=1.0),
    "logprobs": body(include=["message.output_text.logprobs"], top_logprobs=20),
    "every include value": body(include=list(values.INCLUDE)),
    "max_output_tokens at 16": body(max_output_tokens=16),
    "stored and streamed": body(store=True, stream=True, stream_options={"include_obfuscation": False}),
    "background stored by default": body(background=True),
    "metadata at its limits": body(metadata={f"{i:0>64}": "v" * 512 for i in range(16)}),
    "conversation by id": body(conversation="conv_1"),
    "conversation object": body(conversation={"id": "conv_1"}),
    "reusable prompt without model or input": {"prompt": {"id": "pmpt_1", "version": "2",
                                                          "variables": {"city": "Oslo"}}},
    "identifiers": body(user="u1", safety_identifier="s" * 64, prompt_cache_key="k", prompt_cache_retention="24h",
                        service_tier="flex", truncation="auto", instructions="Be brief."),
    "nullable fields null": body(**{k: None for k in (
        "previous_response_id", "conversation", "include", "tool_choice", "metadata", "temperature", "top_p",
        "parallel_tool_calls", "stream", "stream_options", "background", "max_output_tokens", "max_tool_calls",
        "reasoning", "safety_identifier", "prompt_cache_key", "truncation", "instructions", "store",
        "service_tier", "top_logprobs")}),
    "unknown parameters are new features": body(brand_new={"x": 1}, text={"verbosity": "high", "future": 1},
                                                input=[{"role": "user", "content": "hi", "future": True}]),
    "previous response outputs (checked by the engine)": body(previous_response_id="resp_1", input=[OUTPUT]),
    "conversation outputs (checked by the engine)": body(conversation="conv_1", input=[CUSTOM_OUTPUT]),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_the_real_api_accepts_this(case: str) -> None:
    sent = ACCEPTED[case]
    got, request = parse_response_request(json.dumps(sent).encode())
    assert got == sent
    assert parse_response_request(sent)[1] == request  # a Mapping body validates alike


def test_what_the_sdk_sends_is_accepted() -> None:
    """Bodies the ``openai`` SDK builds (``responses.parse`` with a pydantic model and a function tool, a stream
    with typed items) parse: strict schemas from the SDK are closed, chat-shaped tools are converted."""
    sent: list[dict[str, Any]] = []

    def capture(req: httpx.Request) -> httpx.Response:
        sent.append(json.loads(req.content))
        return httpx.Response(400, json={"error": {"message": "captured", "type": "invalid_request_error",
                                                   "param": None, "code": None}})

    client = openai.OpenAI(api_key="sk-test", base_url="http://mockai.test/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(capture)))

    class Person(pydantic.BaseModel):
        name: str
        tags: list[str]

    class GetWeather(pydantic.BaseModel):
        city: str

    calls: list[Callable[[], Any]] = [
        lambda: client.responses.parse(model=MODEL, input="Describe a lighthouse keeper.", text_format=Person,
                                       tools=[openai.pydantic_function_tool(GetWeather)]),
        lambda: client.responses.create(model="o4-mini", stream=True, reasoning={"effort": "low"}, input=[
            {"role": "developer", "content": "Be brief."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "ok"}]),
    ]
    for call in calls:
        with pytest.raises(openai.BadRequestError):
            call()
    assert len(sent) == len(calls)
    for value in sent:
        parse(value)
    assert sent[0]["text"]["format"]["strict"] is True and sent[0]["tools"][0]["strict"] is True


# --- rejected: param and code -------------------------------------------------------------------------------------

# (body, param, code) -> 400 invalid_request_error
REJECTED: dict[str, tuple[Any, str | None, str | None]] = {
    # check-responses' bad_requests
    "no model": ({"input": "hi"}, "model", "missing_required_parameter"),
    "input a number": (body(input=42), "input", "invalid_type"),
    "temperature 5": (body(temperature=5), "temperature", "decimal_above_max_value"),
    "json_schema without name": (body(text={"format": {"type": "json_schema", "schema": CLOSED}}),
                                 "text.format.name", "missing_required_parameter"),
    "unknown role": (body(input=[{"role": "wizard", "content": "hi"}]), "input[0]", "invalid_value"),
    # model and input
    "model null": (body(model=None), "model", "invalid_type"),
    "model a number": (body(model=7), "model", "invalid_type"),
    "model empty": (body(model=""), "model", "model_not_found"),
    "no input": ({"model": MODEL}, "input", "missing_required_parameter"),
    "no input, with a previous response": ({"model": MODEL, "previous_response_id": "resp_1"}, "input",
                                           "missing_required_parameter"),
    "input null": (body(input=None), "input", "invalid_type"),
    "input an object": (body(input={"a": 1}), "input", "invalid_type"),
    "input empty string": (body(input=""), None, "missing_required_parameter"),
    "input empty array": (body(input=[]), None, "missing_required_parameter"),
    # input items
    "item a number": (body(input=[7]), "input[0]", "invalid_type"),
    "item null": (body(input=[USER, None]), "input[1]", "invalid_type"),
    "item type unknown": (body(input=[{"type": "bogus_item"}]), "input[0]", "invalid_value"),
    "item type not a string": (body(input=[{"type": 7, "role": "user", "content": "hi"}]), "input[0]",
                               "invalid_value"),
    "item empty": (body(input=[{}]), "input[0]", "invalid_value"),
    "message without role": (body(input=[{"content": "hi"}]), "input[0]", "invalid_value"),
    "message type, no role": (body(input=[{"type": "message", "content": "hi"}]), "input[0]", "invalid_value"),
    "message without content": (body(input=[{"role": "user"}]), "input[0].content", "missing_required_parameter"),
    "content a number": (body(input=[{"role": "user", "content": 5}]), "input[0].content", "invalid_type"),
    "part type unknown": (body(input=[{"role": "user", "content": [{"type": "bogus", "text": "x"}]}]),
                          "input[0].content[0].type", "invalid_value"),
    "part type missing": (body(input=[{"role": "user", "content": [{"text": "x"}]}]),
                          "input[0].content[0].type", "missing_required_parameter"),
    "chat-shaped part": (body(input=[USER, {"role": "user", "content": [{"type": "text", "text": "x"}]}]),
                         "input[1].content[0].type", "invalid_value"),
    "input_text without text": (body(input=[{"role": "user", "content": [{"type": "input_text"}]}]),
                                "input[0].content[0].text", "missing_required_parameter"),
    "output_text in a user message": (body(input=[{"role": "user", "content": [{"type": "output_text",
                                                                                "text": "x"}]}]),
                                      "input[0].content[0]", "invalid_value"),
    "input_text in an assistant message": (body(input=[USER, {"role": "assistant", "content": [
        {"type": "input_text", "text": "x"}]}]), "input[1].content[0]", "invalid_value"),
    "image detail unknown": (body(input=[{"role": "user", "content": [{"type": "input_image", "image_url": "u",
                                                                       "detail": "huge"}]}]),
                             "input[0].content[0].detail", "invalid_value"),
    "audio format unknown": (body(input=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}]}]),
        "input[0].content[0].input_audio.format", "invalid_value"),
    "phase unknown": (body(input=[{**ASSISTANT_ITEM, "phase": "bogus"}, USER]), "input[0].phase", "invalid_value"),
    "status unknown": (body(input=[{**CALL_ITEM, "status": "done"}]), "input[0].status", "invalid_value"),
    "function_call without name": (body(input=[USER, {k: v for k, v in CALL.items() if k != "name"}]),
                                   "input[1].name", "missing_required_parameter"),
    "function_call arguments an object": (body(input=[{**CALL, "arguments": {"city": "Oslo"}}, OUTPUT]),
                                          "input[0].arguments", "invalid_type"),
    "output without call_id": (body(input=[{"type": "function_call_output", "output": "x"}]),
                               "input[0].call_id", "missing_required_parameter"),
    "output a number": (body(input=[CALL, {**OUTPUT, "output": 12}]), "input[1].output", "invalid_type"),
    "output part of the wrong kind": (body(input=[CALL, {**OUTPUT, "output": [{"type": "output_text", "text": "x"}]}]),
                                      "input[1].output[0].type", "invalid_value"),
    "custom output without output": (body(input=[CUSTOM_CALL, {"type": "custom_tool_call_output",
                                                              "call_id": "call_c"}]),
                                     "input[1].output", "missing_required_parameter"),
    "reference without id": (body(input=[{"type": "item_reference"}]), "input[0].id", "missing_required_parameter"),
    "reasoning summary not a list": (body(input=[{"type": "reasoning", "summary": "x"}, USER]), "input[0].summary",
                                     "invalid_type"),
    "first bad item wins": (body(input=[USER, {"role": "user", "content": 5}, {"role": "user", "content": [
        {"type": "bogus"}]}]), "input[1].content", "invalid_type"),
    # moved chat parameters
    "messages": (body(messages=[USER]), None, "unsupported_parameter"),
    "response_format": (body(response_format={"type": "json_object"}), None, "unsupported_parameter"),
    "reasoning_effort": (body(model="o3", reasoning_effort="low"), None, "unsupported_parameter"),
    "max_completion_tokens": (body(max_completion_tokens=100), None, "unsupported_parameter"),
    # tools
    "tools a string": (body(tools="x"), "tools", "invalid_type"),
    "tool without type": (body(tools=[{}]), "tools[0].type", "missing_required_parameter"),
    "tool type unknown": (body(tools=[WEATHER, {"type": "teleport"}]), "tools[1].type", "invalid_value"),
    "function without name": (body(tools=[{"type": "function"}]), "tools[0].name", "missing_required_parameter"),
    "chat-shaped function": (body(tools=[{"type": "function", "function": {"name": "f"}}]), "tools[0].name",
                             "missing_required_parameter"),
    "function name with a dot": (body(tools=[{**WEATHER, "name": "weather.get"}]), "tools[0].name",
                                 "invalid_value"),
    "function strict a string": (body(tools=[{**WEATHER, "strict": "yes"}]), "tools[0].strict", "invalid_type"),
    "function parameters a string": (body(tools=[{**WEATHER, "parameters": "{}"}]), "tools[0].parameters",
                                     "invalid_type"),
    "strict function, open object": (body(tools=[{**WEATHER, "parameters": OPEN}]), "tools[0].parameters",
                                     "invalid_function_parameters"),
    "strict function, property not required": (
        body(tools=[{**WEATHER, "parameters": {**CLOSED, "properties": {"city": {"type": "string"},
                                                                         "unit": {"type": "string"}}}}]),
        "tools[0].parameters", "invalid_function_parameters"),
    "custom format unknown": (body(tools=[{"type": "custom", "name": "x", "format": {"type": "json"}}]),
                              "tools[0].format.type", "invalid_value"),
    "grammar syntax unknown": (body(tools=[{**SQL_TOOL, "format": {"type": "grammar", "syntax": "peg",
                                                                   "definition": "x"}}]),
                               "tools[0].format.syntax", "invalid_value"),
    "grammar without definition": (body(tools=[{**SQL_TOOL, "format": {"type": "grammar", "syntax": "lark"}}]),
                                   "tools[0].format.definition", "missing_required_parameter"),
    # tool_choice
    "tool_choice a number": (body(tools=[WEATHER], tool_choice=7), "tool_choice", "invalid_type"),
    "tool_choice unknown string": (body(tools=[WEATHER], tool_choice="bogus"), "tool_choice", "invalid_value"),
    "tool_choice type unknown": (body(tools=[WEATHER], tool_choice={"type": "teleport"}), "tool_choice.type",
                                 "invalid_value"),
    "tool_choice function without name": (body(tools=[WEATHER], tool_choice={"type": "function"}),
                                          "tool_choice.name", "missing_required_parameter"),
    "chat-shaped tool_choice": (body(tools=[WEATHER], tool_choice={"type": "function",
                                                                   "function": {"name": "get_weather"}}),
                                "tool_choice.name", "missing_required_parameter"),
    "tool_choice function not offered": (body(tools=[WEATHER], tool_choice={"type": "function", "name": "other"}),
                                         "tool_choice", None),
    "tool_choice function, only a custom tool": (body(tools=[SQL_TOOL], tool_choice={"type": "function",
                                                                                     "name": "run_sql"}),
                                                 "tool_choice", None),
    "tool_choice custom not offered": (body(tools=[WEATHER], tool_choice={"type": "custom", "name": "get_weather"}),
                                       "tool_choice", None),
    "tool_choice hosted not offered": (body(tools=[WEATHER], tool_choice={"type": "file_search"}), "tool_choice",
                                       None),
    "tool_choice mcp other server": (body(tools=[{"type": "mcp", "server_label": "wiki"}],
                                          tool_choice={"type": "mcp", "server_label": "git"}), "tool_choice", None),
    "tool_choice mcp without server_label": (body(tools=[{"type": "mcp", "server_label": "wiki"}],
                                                  tool_choice={"type": "mcp"}),
                                             "tool_choice.server_label", "missing_required_parameter"),
    "tool_choice shell not offered": (body(tools=[{"type": "apply_patch"}], tool_choice={"type": "shell"}),
                                      "tool_choice", None),
    "tool_choice required without tools": (body(tool_choice="required"), "tool_choice", None),
    "allowed_tools mode unknown": (body(tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "none",
                                                                      "tools": []}),
                                   "tool_choice.mode", "invalid_value"),
    "allowed_tools without tools": (body(tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "auto"}),
                                    "tool_choice.tools", "missing_required_parameter"),
    "allowed_tools names a function not offered": (
        body(tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "auto", "tools": [
            {"type": "function", "name": "get_weather"}, {"type": "function", "name": "get_time"}]}),
        "tool_choice.tools[1]", None),
    "allowed_tools names a hosted tool not offered": (
        body(tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "auto", "tools": [
            {"type": "code_interpreter"}]}), "tool_choice.tools[0]", None),
    "allowed_tools names an mcp server not offered": (
        body(tools=[{"type": "mcp", "server_label": "wiki"}], tool_choice={"type": "allowed_tools", "mode": "auto",
                                                                           "tools": [{"type": "mcp",
                                                                                      "server_label": "git"}]}),
        "tool_choice.tools[0]", None),
    "allowed_tools entry without name": (
        body(tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function"}]}),
        "tool_choice.tools[0].name", "missing_required_parameter"),
    "allowed_tools entry without type": (
        body(tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "auto", "tools": [{"name": "x"}]}),
        "tool_choice.tools[0].type", "missing_required_parameter"),
    # text
    "text a string": (body(text="json"), "text", "invalid_type"),
    "format type unknown": (body(text={"format": {"type": "yaml"}}), "text.format.type", "invalid_value"),
    "chat-shaped json_schema": (body(text={"format": {"type": "json_schema", "json_schema": {"name": "x",
                                                                                            "schema": CLOSED}}}),
                                "text.format.name", "missing_required_parameter"),
    "json_schema without schema": (body(text={"format": {"type": "json_schema", "name": "x"}}), "text.format.schema",
                                   "missing_required_parameter"),
    "json_schema name with a space": (body(text={"format": {"type": "json_schema", "name": "a b", "schema": CLOSED}}),
                                      "text.format.name", "invalid_value"),
    "json_schema strict a string": (body(text={"format": {"type": "json_schema", "name": "x", "schema": CLOSED,
                                                          "strict": "true"}}),
                                    "text.format.strict", "invalid_type"),
    "strict json_schema, open object": (body(text={"format": {"type": "json_schema", "name": "x", "schema": OPEN,
                                                              "strict": True}}),
                                        "text.format.schema", "invalid_json_schema"),
    "json_object without json": (body(text={"format": {"type": "json_object"}}), "input", None),
    "json_object, json only in instructions": (body(instructions="Reply in JSON.",
                                                    text={"format": {"type": "json_object"}}), "input", None),
    "verbosity unknown": (body(text={"verbosity": "loud"}), "text.verbosity", "invalid_value"),
    # reasoning
    "reasoning a string": (body(model="o3", reasoning="low"), "reasoning", "invalid_type"),
    "effort unknown": (body(model="o3", reasoning={"effort": "extreme"}), "reasoning.effort", "invalid_value"),
    "effort a number": (body(model="o3", reasoning={"effort": 5}), "reasoning.effort", "invalid_type"),
    "summary unknown": (body(model="o3", reasoning={"summary": "short"}), "reasoning.summary", "invalid_value"),
    # numbers
    "temperature a string": (body(temperature="1"), "temperature", "invalid_type"),
    "temperature a bool": (body(temperature=True), "temperature", "invalid_type"),
    "temperature below 0": (body(temperature=-0.5), "temperature", "decimal_below_min_value"),
    "top_p above 1": (body(top_p=1.5), "top_p", "decimal_above_max_value"),
    "max_output_tokens 15": (body(max_output_tokens=15), "max_output_tokens", "integer_below_min_value"),
    "max_output_tokens 0": (body(max_output_tokens=0), "max_output_tokens", "integer_below_min_value"),
    "max_output_tokens a string": (body(max_output_tokens="100"), "max_output_tokens", "invalid_type"),
    "max_output_tokens a float": (body(max_output_tokens=100.0), "max_output_tokens", "invalid_type"),
    "max_tool_calls 0": (body(max_tool_calls=0), "max_tool_calls", "integer_below_min_value"),
    "top_logprobs 21": (body(top_logprobs=21), "top_logprobs", "integer_above_max_value"),
    "top_logprobs -1": (body(top_logprobs=-1), "top_logprobs", "integer_below_min_value"),
    # enums and lists
    "include unknown": (body(include=["message.output_text.logprobs", "bogus.thing"]), "include[1]",
                        "invalid_value"),
    "include a string": (body(include="reasoning.encrypted_content"), "include", "invalid_type"),
    "truncation unknown": (body(truncation="bogus"), "truncation", "invalid_value"),
    "truncation an object": (body(truncation={"a": 1}), "truncation", "invalid_type"),
    "service_tier unknown": (body(service_tier="bogus"), "service_tier", "invalid_value"),
    "prompt_cache_retention unknown": (body(prompt_cache_retention="1h"), "prompt_cache_retention", "invalid_value"),
    # the rest
    "stream a string": (body(stream="yes"), "stream", "invalid_type"),
    "store a string": (body(store="yes"), "store", "invalid_type"),
    "background a string": (body(background="yes"), "background", "invalid_type"),
    "parallel_tool_calls a string": (body(parallel_tool_calls="yes"), "parallel_tool_calls", "invalid_type"),
    "instructions an object": (body(instructions={"a": 1}), "instructions", "invalid_type"),
    "instructions as items": (body(instructions=[USER]), "instructions", "invalid_type"),
    "user an object": (body(user={"a": 1}), "user", "invalid_type"),
    "safety_identifier too long": (body(safety_identifier="s" * 65), "safety_identifier", "string_above_max_length"),
    "stream_options a string": (body(stream=True, stream_options="x"), "stream_options", "invalid_type"),
    "stream_options without stream": (body(stream_options={"include_obfuscation": True}), "stream_options",
                                      "invalid_value"),
    "background not stored": (body(background=True, store=False), "store", "invalid_value"),
    "previous_response_id an object": (body(previous_response_id={"a": 1}), "previous_response_id",
                                       "invalid_type"),
    "conversation a number": (body(conversation=5), "conversation", "invalid_type"),
    "conversation object without id": (body(conversation={}), "conversation.id", "missing_required_parameter"),
    "previous_response_id and conversation": (body(previous_response_id="resp_1", conversation="conv_1"), None,
                                              "mutually_exclusive_parameters"),
    "prompt a string": (body(prompt="pmpt_1"), "prompt", "invalid_type"),
    "prompt without id": (body(prompt={"version": "1"}), "prompt.id", "missing_required_parameter"),
    "prompt_cache_options a string": (body(prompt_cache_options="x"), "prompt_cache_options", "invalid_type"),
    "prompt_cache_key an object": (body(prompt_cache_key={"a": 1}), "prompt_cache_key", "invalid_type"),
    "context_management a string": (body(context_management="x"), "context_management", "invalid_type"),
    "moderation a string": (body(moderation="x"), "moderation", "invalid_type"),
    "metadata a string": (body(metadata="x"), "metadata", "invalid_type"),
    "metadata value a number": (body(metadata={"k": 1}), "metadata.k", "invalid_type"),
    "metadata 17 keys": (body(metadata={f"k{i}": "v" for i in range(17)}), "metadata", "object_above_max_properties"),
    "metadata key of 65": (body(metadata={"k" * 65: "v"}), "metadata", "string_above_max_length"),
    "metadata value of 513": (body(metadata={"note": "v" * 513}), "metadata.note", "string_above_max_length"),
    # tool outputs and calls
    "output answering no call": (body(tools=[WEATHER], tool_choice="auto", input=[
        {**OUTPUT, "call_id": "call_doesnotexist"}]), "input", None),
    "custom output answering no call": (body(input=[USER, CUSTOM_OUTPUT]), "input", None),
    "output answering a call of the other kind": (body(input=[CALL, {**OUTPUT, "call_id": "call_c"}]), "input",
                                                  None),
    "call without output": (body(input=[USER, CALL, USER]), "input", None),
    "custom call without output": (body(input=[USER, CUSTOM_CALL]), "input", None),
    # what the model takes
    "temperature on a reasoning model": (body(model="o3", temperature=0.5), "temperature", None),
    "top_p on gpt-5": (body(model="gpt-5", top_p=0.5), "top_p", None),
    "logprobs on a reasoning model": (body(model="o4-mini", include=["message.output_text.logprobs"]), "include",
                                      "unsupported_parameter"),
    "top_logprobs on a reasoning model": (body(model="gpt-5-nano", top_logprobs=2), "top_logprobs",
                                          "unsupported_parameter"),
    "reasoning effort on gpt-4o": (body(model="gpt-4o", reasoning={"effort": "low"}), "reasoning.effort",
                                   "unsupported_parameter"),
    "reasoning summary on gpt-4.1": (body(model="gpt-4.1", reasoning={"summary": "auto"}), "reasoning.summary",
                                     "unsupported_parameter"),
    "reasoning on gpt-5-chat": (body(model="gpt-5-chat-latest", reasoning={"effort": "low"}), "reasoning.effort",
                                "unsupported_parameter"),
    # the body itself
    "not JSON": (b'{"model": "gpt-4o-mini", "input": [', None, None),
    "an array": ([body()], None, "invalid_type"),
    "a lone surrogate": (b'{"model": "gpt-4o-mini", "input": "\\ud83d"}', "input", "invalid_value"),
}


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_like_the_real_api(case: str) -> None:
    sent, param, code = REJECTED[case]
    err = rejected(sent)
    assert (err.param, err.code) == (param, code), err.message


def test_every_request_field_has_a_rejection() -> None:
    """A field of the request model that no rejection above names is a blind spot."""
    named = {param.split(".")[0].split("[")[0] for _, param, _ in REJECTED.values() if param}
    assert set(CreateResponseRequest.model_fields) - named == set()


# The real API's own words (observed), and mockai's for rules whose wording is not known.
MESSAGES: dict[str, tuple[Any, str]] = {
    "max_output_tokens below 16": (
        body(max_output_tokens=10),
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead."),
    "no model": ({"input": "hi"}, "Missing required parameter: 'model'."),
    "input a number": (body(input=7), "Invalid type for 'input': expected one of a string or array of input items, "
                                      "but got an integer instead."),
    "empty input": (body(input=[]),
                    "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must be provided."),
    "unknown role": (body(input=[{"role": "bogus", "content": "x"}]),
                     "Invalid value: 'bogus'. Supported values are: 'assistant', 'system', 'developer', and 'user'."),
    "item a number": (body(input=[7]), "Invalid type for 'input[0]': expected an input item, but got an integer "
                                       "instead."),
    "assistant input_text": (body(input=[{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]),
                             "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'."),
    "user output_text": (body(input=[{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]),
                         "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image', "
                         "'input_file', and 'input_audio'."),
    "format unknown": (body(text={"format": {"type": "bogus"}}),
                       "Invalid value: 'bogus'. Supported values are: 'json_object', 'text', and 'json_schema'."),
    "truncation": (body(truncation="bogus"), "Invalid value: 'bogus'. Supported values are: 'auto' and 'disabled'."),
    "truncation object": (body(truncation={"a": 1}), "Invalid type for 'truncation': expected one of 'auto' or "
                                                     "'disabled', but got an object instead."),
    "tool_choice a number": (body(tool_choice=7), "Invalid type for 'tool_choice': expected one of an object or "
                                                  "'none', 'auto', or 'required', but got an integer instead."),
    "tool_choice unknown": (body(tools=[WEATHER], tool_choice="bogus"),
                            "Invalid value: 'bogus'. Supported values are: 'none', 'auto', and 'required'."),
    "tools a string": (body(tools="x"), "Invalid type for 'tools': expected an array of tools, but got a string "
                                        "instead."),
    "metadata a string": (body(metadata="x"), "Invalid type for 'metadata': expected a metadata object, but got a "
                                              "string instead."),
    "metadata 17": (body(metadata={f"k{i}": "v" for i in range(17)}),
                    "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got "
                    "an object with 17 properties instead."),
    "max_tool_calls 0": (body(max_tool_calls=0), "Invalid 'max_tool_calls': integer below minimum value. Expected a "
                                                 "value >= 1, but got 0 instead."),
    "temperature 5": (body(temperature=5), "Invalid 'temperature': decimal above maximum value. Expected a value "
                                           "<= 2, but got 5 instead."),
    "temperature on o3": (body(model="o3", temperature=0.5),
                          "Unsupported parameter: 'temperature' is not supported with this model."),
    "logprobs on o3": (body(model="o3", top_logprobs=1), "logprobs are not supported with reasoning models."),
    "reasoning on gpt-4o": (body(model="gpt-4o", reasoning={"effort": "low"}),
                            "Unsupported parameter: 'reasoning.effort' is not supported with this model."),
    "orphan output": (body(input=[OUTPUT]), "No tool call found for function call output with call_id call_1."),
    "unanswered call": (body(input=[USER, CALL]), "No tool output found for function call call_1."),
    "tool_choice not offered": (body(tools=[WEATHER], tool_choice={"type": "function", "name": "x"}),
                                "Tool choice 'function' not found in 'tools' parameter."),
    "json_object": (body(text={"format": {"type": "json_object"}}),
                    "Response input messages must contain the word 'json' in some form to use 'text.format' of type "
                    "'json_object'."),
    "messages": (body(messages=[USER]), "Unsupported parameter: 'messages'. In the Responses API, this parameter has "
                                        "moved to 'input'. Try again with the new parameter. See the API documentation "
                                        "for more information: https://platform.openai.com/docs/api-reference/"
                                        "responses/create."),
    "strict function": (body(tools=[{**WEATHER, "parameters": OPEN}]),
                        "Invalid schema for function 'get_weather': In context=(), 'additionalProperties' is required "
                        "to be supplied and to be false."),
    "safety_identifier": (body(safety_identifier="s" * 65),
                          "Invalid 'safety_identifier': string too long. Expected a string with maximum length 64, "
                          "but got a string with length 65 instead."),
}


@pytest.mark.parametrize("case", MESSAGES)
def test_the_message_is_the_real_apis(case: str) -> None:
    sent, message = MESSAGES[case]
    assert rejected(sent).message == message


def test_item_type_errors_list_every_item_type_sorted() -> None:
    err = rejected(body(input=[{"type": "bogus_item"}]))
    listed = err.message.removeprefix("Invalid value: 'bogus_item'. Supported values are: ").rstrip(".")
    names = [n.strip().removeprefix("and ").strip("'") for n in listed.split(", ")]
    assert names == sorted(values.ITEM_TYPES) and "web_search_call" in names


def test_errors_come_in_the_real_apis_field_order() -> None:
    """``model``, then ``input`` (its first bad item), then the other fields as the real API checks them."""
    assert rejected({"input": 7, "truncation": "x"}).param == "model"
    assert rejected(body(input=[{}], truncation="bogus", temperature=0.5)).param == "input[0]"
    assert rejected(body(input=7, previous_response_id={"a": 1})).param == "input"
    assert rejected(body(include=["bogus"], tools="x")).param == "include[0]"
    assert rejected(body(tools="x", metadata="x")).param == "tools"
    assert rejected(body(metadata="x", text="x")).param == "metadata"
    assert rejected(body(text="x", temperature="x")).param == "text"
    assert rejected(body(temperature="x", top_p="x")).param == "temperature"
    assert rejected(body(stream="x", stream_options="x")).param == "stream"
    assert rejected(body(background="x", max_output_tokens="x")).param == "background"
    assert rejected(body(max_output_tokens="x", max_tool_calls="x")).param == "max_output_tokens"
    assert rejected(body(truncation="x", instructions=7)).param == "truncation"
    assert rejected(body(store="x", service_tier="bogus")).param == "store"
    # structure before the rules across fields, and those before what the model takes
    assert rejected(body(model="o3", temperature=0.5, top_logprobs=1)).param == "temperature"
    assert rejected(body(model="o3", include=["message.output_text.logprobs"], top_logprobs=1)).param == "include"
    assert rejected(body(model="o3", temperature=0.5, input=[OUTPUT])).param == "input"


# --- tool outputs across a previous response ------------------------------------------------------------------


def test_outputs_may_answer_the_calls_of_the_previous_response() -> None:
    chained = body(previous_response_id="resp_1", input=[OUTPUT])
    assert parse(chained, known_call_ids={"call_1"}).items[0].call_id == "call_1"  # type: ignore[union-attr]
    err = rejected(chained, known_call_ids={"call_other"})
    assert (err.param, err.message) == ("input", "No tool call found for function call output with call_id call_1.")
    # without the chain's calls the check is the caller's
    request = parse(chained)
    with pytest.raises(APIError, match="call_id call_1"):
        check_call_outputs(request, known_call_ids=())
    check_call_outputs(request, known_call_ids=["call_1"])


def test_calls_the_previous_response_left_open_must_be_answered() -> None:
    request = parse(body(previous_response_id="resp_1", input="What now?"))
    with pytest.raises(APIError) as info:
        check_call_outputs(request, known_call_ids={"call_9"}, unanswered_call_ids={"call_9"})
    assert (info.value.param, info.value.message) == ("input", "No tool output found for function call call_9.")
    answered = parse(body(previous_response_id="resp_1", input=[{**OUTPUT, "call_id": "call_9"}]))
    check_call_outputs(answered, known_call_ids={"call_9"}, unanswered_call_ids={"call_9"})


# --- what the model takes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "reasoning"), [
    ("o1", True), ("o3-mini", True), ("o4-mini-2025-04-16", True), ("gpt-5", True), ("gpt-5-nano", True),
    ("gpt-5.1", True), ("gpt-oss-120b", True), ("codex-mini-latest", True), ("ft:o4-mini:acme::x", True),
    ("gpt-4o", False), ("gpt-4o-mini", False), ("gpt-4.1-nano", False), ("gpt-3.5-turbo", False),
    ("gpt-5-chat-latest", False), ("ft:gpt-4o-mini:acme::x", False), ("omni-moderation-latest", False),
])
def test_is_reasoning_model(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


def test_model_checks_may_be_left_for_after_the_state_lookup() -> None:
    """The real API looks a previous response up before it checks what the model takes."""
    sent = body(model="o3", temperature=0.5, previous_response_id="resp_1")
    request = parse(sent, model_checks=False)
    with pytest.raises(APIError, match="'temperature' is not supported"):
        check_model_support(request)
    assert rejected(sent).param == "temperature"
