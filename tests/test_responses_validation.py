"""``POST /v1/responses`` bodies: what the real API accepts parses, what it rejects is the 400 it sends (``param``,
``code`` and, where known, the message), no input at all gives anything but an OpenAI-shaped 4xx; the enums match
the official schema and the SDK; the API-neutral :class:`~mockai.prompt.Prompt` and the ``input_items`` listing.

Messages marked "observed" are the real API's own words (taken from published recordings of its answers); the
others are the closest in its style, as the comments in :mod:`mockai.responses.validation` say.
"""

from __future__ import annotations

import copy
import doctest
import functools
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
    conversation_not_found,
    is_reasoning_model,
    parse_response_request,
    previous_response_not_found,
    prompt_not_found,
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
    assert err.message
    assert set(err.envelope()["error"]) == {"message", "type", "param", "code"}
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
    "tool_choice none without tools": body(tool_choice="none"),
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
    # GPT-5.1 and later do not reason unless asked (default effort "none"): pydantic-ai sends exactly this.
    "sampling on gpt-5.1 at its default effort": body(model="gpt-5.1", temperature=0.2, top_p=0.5),
    "logprobs on gpt-5.2 at its default effort": body(model="gpt-5.2-2025-12-11", top_logprobs=3,
                                                      include=["message.output_text.logprobs"]),
    # Models the catalogue does not know take every parameter, as chat's (docs/api/chat.md).
    "reasoning summary on computer-use-preview": body(model="computer-use-preview", reasoning={"summary": "concise"},
                                                      truncation="auto"),
    "everything on a newer model": body(model="gpt-5.4", reasoning={"effort": "high"}, temperature=0.2,
                                        include=["message.output_text.logprobs"], top_logprobs=2),
    "everything on an Azure deployment": body(model="my-o4-mini", reasoning={"effort": "low", "summary": "auto"},
                                              temperature=0.7),
    "reasoning on a fine-tune of an unknown base": body(model="ft:gpt-6-astra:acme::x", reasoning={"effort": "low"},
                                                        top_p=0.5),
    "reasoning on gpt-5-chat": body(model="gpt-5-chat-latest", reasoning={"effort": "low"}),
    # Open enums, as chat's (mockai.enums): the API keeps adding values.
    "a service_tier from a newer SDK": body(service_tier="some-new-tier"),
    "an effort from a newer SDK": body(model="gpt-5", reasoning={"effort": "ultra"}),
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
    "identifiers": body(user="u1", safety_identifier="s" * 128, prompt_cache_key="k", prompt_cache_retention="24h",
                        service_tier="flex", truncation="auto", instructions="Be brief."),
    "nullable fields null": body(**dict.fromkeys((
        "previous_response_id", "conversation", "include", "tool_choice", "metadata", "temperature", "top_p",
        "parallel_tool_calls", "stream", "stream_options", "background", "max_output_tokens", "max_tool_calls",
        "reasoning", "safety_identifier", "prompt_cache_key", "truncation", "instructions", "store",
        "service_tier", "top_logprobs"))),
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
    assert sent[0]["text"]["format"]["strict"] is True
    assert sent[0]["tools"][0]["strict"] is True


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
    "effort empty": (body(model="o3", reasoning={"effort": ""}), "reasoning.effort", "invalid_value"),
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
    "service_tier empty": (body(service_tier=""), "service_tier", "invalid_value"),
    "service_tier a number": (body(service_tier=1), "service_tier", "invalid_type"),
    "prompt_cache_retention unknown": (body(prompt_cache_retention="1h"), "prompt_cache_retention", "invalid_value"),
    # the rest
    "stream a string": (body(stream="yes"), "stream", "invalid_type"),
    "store a string": (body(store="yes"), "store", "invalid_type"),
    "background a string": (body(background="yes"), "background", "invalid_type"),
    "parallel_tool_calls a string": (body(parallel_tool_calls="yes"), "parallel_tool_calls", "invalid_type"),
    "instructions an object": (body(instructions={"a": 1}), "instructions", "invalid_type"),
    "instructions as items": (body(instructions=[USER]), "instructions", "invalid_type"),
    "user an object": (body(user={"a": 1}), "user", "invalid_type"),
    "safety_identifier too long": (body(safety_identifier="s" * 129), "safety_identifier", "string_above_max_length"),
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
    "reasoning on a fine-tune of gpt-4o-mini": (body(model="ft:gpt-4o-mini:acme::x", reasoning={"summary": "auto"}),
                                                "reasoning.summary", "unsupported_parameter"),
    "sampling on gpt-5.1 asked to reason": (body(model="gpt-5.1", reasoning={"effort": "low"}, temperature=0.2),
                                            "temperature", None),
    "logprobs on gpt-5.2 asked to reason": (body(model="gpt-5.2", reasoning={"effort": "medium"}, top_logprobs=2),
                                            "top_logprobs", "unsupported_parameter"),
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
    "safety_identifier": (body(safety_identifier="s" * 129),
                          "Invalid 'safety_identifier': string too long. Expected a string with maximum length 128, "
                          "but got a string with length 129 instead."),
}


@pytest.mark.parametrize("case", MESSAGES)
def test_the_message_is_the_real_apis(case: str) -> None:
    sent, message = MESSAGES[case]
    assert rejected(sent).message == message


def test_item_type_errors_list_every_item_type_sorted() -> None:
    err = rejected(body(input=[{"type": "bogus_item"}]))
    listed = err.message.removeprefix("Invalid value: 'bogus_item'. Supported values are: ").rstrip(".")
    names = [n.strip().removeprefix("and ").strip("'") for n in listed.split(", ")]
    assert names == sorted(values.ITEM_TYPES)
    assert "web_search_call" in names


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
    check_call_outputs(request, known_call_ids=None)  # not known yet: outputs are not checked


def test_calls_in_the_input_are_answered_in_the_input_even_with_a_chain() -> None:
    for chain in ({"previous_response_id": "resp_1"}, {"conversation": "conv_1"}):
        err = rejected(body(**chain, input=[USER, CALL]))
        assert (err.param, err.message) == ("input", "No tool output found for function call call_1.")
        parse(body(**chain, input=[USER, CALL, OUTPUT]))


def test_calls_the_previous_response_left_open_must_be_answered() -> None:
    request = parse(body(previous_response_id="resp_1", input="What now?"))
    with pytest.raises(APIError) as info:
        check_call_outputs(request, known_call_ids={"call_9"}, unanswered_call_ids={"call_9"})
    assert (info.value.param, info.value.message) == ("input", "No tool output found for function call call_9.")
    answered = parse(body(previous_response_id="resp_1", input=[{**OUTPUT, "call_id": "call_9"}]))
    check_call_outputs(answered, known_call_ids={"call_9"}, unanswered_call_ids={"call_9"})


def test_missing_state_errors_are_the_real_apis() -> None:
    """What the engine answers once it has looked the chain up (observed wording, status and ``param``)."""
    assert previous_response_not_found("resp_x").envelope() == {"error": {
        "message": "Previous response with id 'resp_x' not found.", "type": "invalid_request_error",
        "param": "previous_response_id", "code": "previous_response_not_found"}}
    assert previous_response_not_found("resp_x").status == 400
    for err, message in ((conversation_not_found("conv_x"), "Conversation with id 'conv_x' not found."),
                         (prompt_not_found("pmpt_x"), "Prompt with id 'pmpt_x' not found.")):
        assert (err.status, err.message, err.param, err.code, err.type) == (404, message, None, None,
                                                                            "invalid_request_error")


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


# --- enums: the official schema and the SDK -----------------------------------------------------------------------


@functools.cache
def _spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip(f"the official schema is not beside the project ({SPEC_PATH})")
    defs: dict[str, Any] = json.loads(SPEC_PATH.read_text())["$defs"]
    return defs


def _node(node: Any) -> Any:
    defs = _spec()
    while isinstance(node, dict) and "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _prop(name: str, prop: str) -> Any:
    """A property of a schema, through ``allOf`` and ``$ref``."""
    stack = [_node(_spec()[name])]
    while stack:
        node = _node(stack.pop())
        if prop in node.get("properties", {}):
            return node["properties"][prop]
        stack.extend(node.get("allOf", []))
    raise KeyError(f"{name}.{prop}")


def spec_enum(node: Any) -> set[str]:
    """The string values an enum schema (or a nullable one, or a union of enums) allows."""
    node = _node(_spec()[node] if isinstance(node, str) else node)
    found = set(node.get("enum", []))
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        found |= spec_enum(branch)
    return {v for v in found if isinstance(v, str)}


def spec_tags(node: Any) -> set[str]:
    """The ``type`` values of the branches of a union schema (nested unions included)."""
    node = _node(_spec()[node] if isinstance(node, str) else node)
    tags: set[str] = set()
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        resolved = _node(branch)
        props = dict(resolved.get("properties", {}))
        for part in resolved.get("allOf", []):
            props.update(_node(part).get("properties", {}))
        tags |= spec_enum(props["type"]) if "type" in props else spec_tags(resolved)
    return tags


def sdk_literals(tp: Any) -> set[str]:
    """The string values of the ``Literal`` s inside an SDK type (through ``Optional``, ``Required``, unions)."""
    if typing.get_origin(tp) is typing.Literal:
        return {v for v in typing.get_args(tp) if isinstance(v, str)}
    return set().union(*(sdk_literals(a) for a in typing.get_args(tp))) if typing.get_args(tp) else set()


def sdk_hint(cls: Any, name: str) -> set[str]:
    return sdk_literals(typing.get_type_hints(cls)[name])


def sdk_tags(union: Any) -> set[str]:
    """The ``type`` values of the TypedDicts of an SDK union."""
    members = typing.get_args(union) or (union,)
    return set().union(*(sdk_hint(m, "type") for m in members if isinstance(m, type) and "type" in
                         typing.get_type_hints(m)))


def args(name: str) -> set[str]:
    return set(typing.get_args(getattr(values, name)))


Create = response_create_params.ResponseCreateParamsBase
# Literal type in mockai.responses.values -> (what mockai accepts, the schema's values, the SDK's values)
ENUMS: dict[str, tuple[Callable[[], set[str]], Callable[[], set[str]], Callable[[], set[str]]]] = {
    "Include": (lambda: args("Include"), lambda: spec_enum("IncludeEnum"), lambda: sdk_literals(ResponseIncludable)),
    "ServiceTier": (lambda: args("ServiceTier"), lambda: spec_enum("ServiceTierResponses"),
                    lambda: sdk_literals(ServiceTier)),
    "Truncation": (lambda: args("Truncation"), lambda: spec_enum(_prop("CreateResponse", "truncation")),
                   lambda: sdk_hint(Create, "truncation")),
    "PromptCacheRetention": (lambda: args("PromptCacheRetention"),
                             lambda: spec_enum(_prop("CreateResponse", "prompt_cache_retention")),
                             lambda: sdk_hint(Create, "prompt_cache_retention")),
    "ReasoningEffort": (lambda: args("ReasoningEffort"), lambda: spec_enum("ReasoningEffort"),
                        lambda: sdk_literals(shared_params.ReasoningEffort)),
    "ReasoningSummary": (lambda: args("ReasoningSummary"),
                         lambda: spec_enum(_prop("Reasoning", "summary")) | spec_enum(_prop("Reasoning",
                                                                                            "generate_summary")),
                         lambda: sdk_hint(shared_params.Reasoning, "summary")
                         | sdk_hint(shared_params.Reasoning, "generate_summary")),
    "ReasoningContext": (lambda: args("ReasoningContext"), lambda: spec_enum(_prop("Reasoning", "context")),
                         lambda: sdk_hint(shared_params.Reasoning, "context")),
    "Verbosity": (lambda: args("Verbosity"), lambda: spec_enum("Verbosity"),
                  lambda: sdk_hint(ResponseTextConfigParam, "verbosity")),
    "Role": (lambda: args("Role"), lambda: spec_enum(_prop("EasyInputMessage", "role")),
             lambda: sdk_hint(EasyInputMessageParam, "role")),
    "Phase": (lambda: args("Phase"), lambda: spec_enum("MessagePhase"), lambda: sdk_hint(EasyInputMessageParam,
                                                                                          "phase")),
    "ItemStatus": (lambda: args("ItemStatus"), lambda: spec_enum(_prop("FunctionToolCall", "status")),
                   lambda: sdk_hint(ResponseFunctionToolCallParam, "status")),
    "ImageDetail": (lambda: args("ImageDetail"), lambda: spec_enum("ImageDetail"),
                    lambda: sdk_hint(ResponseInputImageParam, "detail")),
    "FileDetail": (lambda: args("FileDetail"), lambda: spec_enum("FileInputDetail"),
                   lambda: sdk_hint(ResponseInputFileParam, "detail")),
    # The schema has no audio part yet; the SDK's (used by evals) and the real API's list of parts have one.
    "AudioFormat": (lambda: args("AudioFormat"), set,
                    lambda: sdk_hint(openai.types.responses.response_input_audio_param.InputAudio, "format")),
    "GrammarSyntax": (lambda: args("GrammarSyntax"), lambda: spec_enum("GrammarSyntax1"),
                      lambda: sdk_hint(Grammar, "syntax")),
    "ToolChoiceOption": (lambda: args("ToolChoiceOption"), lambda: spec_enum("ToolChoiceOptions"),
                         lambda: sdk_literals(ToolChoiceOptions)),
    "AllowedToolsMode": (lambda: args("AllowedToolsMode"), lambda: spec_enum(_prop("ToolChoiceAllowed", "mode")),
                         lambda: sdk_hint(ToolChoiceAllowedParam, "mode")),
    "HostedToolChoice": (lambda: args("HostedToolChoice"), lambda: spec_enum(_prop("ToolChoiceTypes", "type")),
                         lambda: sdk_hint(ToolChoiceTypesParam, "type")),
    "SpecificToolChoice": (lambda: args("SpecificToolChoice"),
                           lambda: spec_tags("ToolChoiceParam") - {"function", "custom", "mcp", "allowed_tools"}
                           - spec_enum(_prop("ToolChoiceTypes", "type")),
                           lambda: sdk_tags(ToolChoiceApplyPatchParam) | sdk_tags(ToolChoiceShellParam)
                           | sdk_tags(response_create_params.ToolChoiceSpecificProgrammaticToolCallingParam)),
    "BuiltinToolType": (lambda: set(values.TOOL_TYPES), lambda: spec_tags("Tool"),
                        lambda: sdk_tags(tool_param.ToolParam)),
    "ModelledItemType": (lambda: set(values.ITEM_TYPES), lambda: spec_tags("InputItem"),
                         lambda: sdk_tags(response_input_item_param.ResponseInputItemParam)),
    "OtherItemType": (lambda: set(values.ITEM_TYPES), lambda: spec_tags("InputItem"),
                      lambda: sdk_tags(response_input_item_param.ResponseInputItemParam)),
    "INPUT_PARTS": (lambda: set(values.INPUT_PARTS), lambda: spec_tags("InputContent") | {"input_audio"},
                    lambda: sdk_tags(ResponseInputContentParam) | {"input_audio"}),
    "OUTPUT_PARTS": (lambda: set(values.OUTPUT_PARTS), lambda: spec_tags("OutputMessageContent"),
                     lambda: sdk_tags(OutputContentParam)),
    "text.format": (lambda: _wire_tags(mockai.responses.wire.TextFormat),
                    lambda: spec_tags("TextResponseFormatConfiguration"),
                    lambda: sdk_tags(openai.types.responses.ResponseFormatTextConfigParam)),
    "custom tool format": (lambda: _wire_tags(mockai.responses.wire.CustomTool.model_fields["format"].annotation),
                           lambda: spec_tags(_prop("CustomToolParam", "format")),
                           lambda: sdk_tags(shared_params.CustomToolInputFormat)),
}


def _wire_tags(annotation: Any) -> set[str]:
    """The ``type`` values of the models of a (possibly annotated, possibly optional) union."""
    found: set[str] = set()
    for member in typing.get_args(annotation) or (annotation,):
        if isinstance(member, type) and issubclass(member, pydantic.BaseModel):
            found |= set(typing.get_args(member.model_fields["type"].annotation))
        elif typing.get_args(member):
            found |= _wire_tags(member)
    return found


@pytest.mark.parametrize("name", ENUMS)
def test_enum_matches_the_sdk(name: str) -> None:
    ours, _, sdk = ENUMS[name]
    assert sdk(), "the SDK type was not found"
    if name in ("ModelledItemType", "OtherItemType"):  # the SDK's items and the schema's differ by one
        assert sdk() <= ours()
    else:
        assert sdk() == ours()


@pytest.mark.parametrize("name", [n for n in ENUMS if n != "AudioFormat"])
def test_enum_matches_the_schema(name: str) -> None:
    """mockai accepts every value of the schema, and nothing beyond the schema and the SDK."""
    ours, spec, sdk = ENUMS[name]
    assert spec(), "the schema's enum was not found"
    assert spec() <= ours()
    assert ours() <= spec() | sdk()


def test_every_enum_is_checked() -> None:
    literals = {n for n in dir(values) if typing.get_origin(getattr(values, n)) is typing.Literal}
    assert literals - set(ENUMS) == set()
    assert set(values.ITEM_TYPES) == set(values.MODELLED_ITEM_TYPES) | set(values.OTHER_ITEM_TYPES)


# --- never anything but a 4xx ---------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
KEYS = st.sampled_from([*CreateResponseRequest.model_fields, "messages", "response_format"]) | st.text(max_size=8)
# Shapes a body's fields hold, so random values reach past the first check.
SHAPED = st.one_of(
    JSON_VALUES,
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(values.ITEM_TYPES) | st.text(max_size=5)},
                                   optional={"role": st.sampled_from(values.ROLES), "content": JSON_VALUES,
                                             "call_id": st.sampled_from(["call_1", "call_2"]),
                                             "output": JSON_VALUES, "id": st.text(max_size=5)}), max_size=4),
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(values.TOOL_TYPES)},
                                   optional={"name": st.text(max_size=6), "parameters": JSON_VALUES,
                                             "strict": st.booleans()}), max_size=3),
)
BODIES = st.dictionaries(KEYS, SHAPED, max_size=8).map(lambda d: {"model": MODEL, **d})


def answers(raw: bytes | dict[str, Any]) -> None:
    """What a door does with a body: parse it (an :class:`APIError` must be a 4xx in the envelope), then build
    the prompt and the input listing of what parsed."""
    try:
        _, request = parse_response_request(raw)
    except APIError as err:
        failed: APIError | None = err
    else:
        failed = None
    if failed is not None:
        assert 400 <= failed.status < 500
        json.dumps(failed.envelope())
        return
    to_prompt(request, history=[Turn("user", "before")], resolve=lambda _id: {"role": "user", "content": "x"})
    listed = input_items(request, lambda prefix, index: f"{prefix}_{index}", resolve=lambda _id: None)
    if isinstance(raw, bytes):  # no deeper than the JSON parser allowed, so it can be written back
        json.dumps(listed)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_any_json_body_parses_or_is_a_4xx(value: dict[str, Any]) -> None:
    answers(json.dumps(value).encode())
    answers(value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_parse_or_are_a_4xx(raw: bytes) -> None:
    answers(raw)


def _positions(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a JSON value."""
    found: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            found.append((node, key))
            stack.append(node[key])
    return found


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ACCEPTED)), st.data())
def test_mutated_valid_bodies_parse_or_are_a_4xx(case: str, data: st.DataObject) -> None:
    mutated = copy.deepcopy(ACCEPTED[case])
    for _ in range(data.draw(st.integers(1, 3))):
        container, key = data.draw(st.sampled_from(_positions(mutated)))
        if isinstance(container, dict) and data.draw(st.booleans()):
            del container[key]
        else:
            container[key] = data.draw(SHAPED)
        if not _positions(mutated):
            break
    answers(json.dumps(mutated).encode())


def test_deeply_nested_values_are_not_a_500() -> None:
    deep: Any = "leaf"
    for _ in range(1500):
        deep = {"properties": {"a": deep}, "type": "object"}
    strict = {"type": "json_schema", "name": "deep", "schema": deep, "strict": True}
    with pytest.raises(APIError) as info:  # a Mapping body: deeper than JSON text could carry here
        parse_response_request(body(text={"format": strict}))
    assert (info.value.status, info.value.param) == (400, "text.format.schema")
    answers(body(input=[{"role": "user", "content": "hi", "future": deep}], extra=deep))
    assert rejected(b'{"model": "m", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}").param is None


# A regression: the strict-schema check (shared with chat) raised on these instead of answering.
MALFORMED_STRICT = [
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": None, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": "a", "additionalProperties": False},
    {"type": "object", "properties": [{"a": 1}], "required": [], "additionalProperties": False},
    {"anyOf": 5}, {"anyOf": {"a": 1}}, {"$defs": ["x"]}, {"definitions": 3},
]


@pytest.mark.parametrize("schema", MALFORMED_STRICT)
def test_malformed_strict_schemas_are_answered(schema: dict[str, Any]) -> None:
    from mockai.validation import parse_chat

    fmt = {"type": "json_schema", "name": "x", "schema": schema, "strict": True}
    bodies: list[tuple[Callable[[dict[str, Any]], Any], dict[str, Any]]] = [
        (parse_response_request, body(text={"format": fmt})),
        (parse_response_request, body(tools=[{**WEATHER, "parameters": schema}])),
        (parse_chat, {"model": MODEL, "messages": [USER], "response_format": {
            "type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}}),
        (parse_chat, {"model": MODEL, "messages": [USER], "tools": [{"type": "function", "function": {
            "name": "f", "parameters": schema, "strict": True}}]}),
    ]
    for parse_body, sent in bodies:
        err = _error_of(parse_body, sent)
        assert err is None or (err.status, err.param is not None) == (400, True)
    if "required" in schema and not isinstance(schema["required"], list):
        assert rejected(body(text={"format": fmt})).message.endswith(("Missing 'a'.", "is not of type 'array'."))


def _error_of(parse_body: Callable[[dict[str, Any]], Any], sent: dict[str, Any]) -> APIError | None:
    try:
        parse_body(sent)
    except APIError as err:
        return err
    return None


# --- the API-neutral view -------------------------------------------------------------------------------------------


def test_to_prompt_turns() -> None:
    request = parse(body(instructions="Answer in English.", tools=[WEATHER, SQL_TOOL], input=[
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Weather in"}, {"type": "input_image", "image_url": "https://x/a.png"},
            {"type": "input_text", "text": "Oslo and Bergen?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        CALL, {"type": "web_search_call", "id": "ws_1", "status": "completed"}, {**CALL, "call_id": "call_2",
                                                                                 "arguments": '{"city": "Bergen"}'},
        CUSTOM_CALL, OUTPUT, {**OUTPUT, "call_id": "call_2", "output": [{"type": "input_text", "text": "9C"},
                                                                        {"type": "input_text", "text": "rain"}]},
        CUSTOM_OUTPUT, ASSISTANT_ITEM, {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        {"role": "system", "content": "Stay calm."}, USER]))
    prompt = to_prompt(request, history=[Turn("user", "Earlier?"), Turn("assistant", "Earlier.")])
    assert prompt.turns == (
        Turn("developer", "Answer in English."),
        Turn("user", "Earlier?"), Turn("assistant", "Earlier."),
        Turn("developer", "Be brief."),
        Turn("user", "Weather in Oslo and Bergen?"),
        Turn("assistant", calls=(CallRef("call_1", "get_weather", '{"city": "Oslo"}'),
                                 CallRef("call_2", "get_weather", '{"city": "Bergen"}'),
                                 CallRef("call_c", "run_sql", "SELECT 1", custom=True))),
        Turn("tool", '{"temp_c": 12}', answers="call_1"),
        Turn("tool", "9C rain", answers="call_2"),
        Turn("tool", "1", answers="call_c"),
        Turn("assistant", "It is 12C."),
        Turn("assistant", "No."),
        Turn("system", "Stay calm."),
        Turn("user", "What's the weather in Oslo?"),
    )
    assert prompt.api == "responses"
    assert prompt.last_user_text == "What's the weather in Oslo?"


def test_to_prompt_string_input_and_tool_result() -> None:
    assert to_prompt(parse(body(input="Hi"))).turns == (Turn("user", "Hi"),)
    prompt = to_prompt(parse(body(tools=[WEATHER], input=[USER, CALL, OUTPUT])))
    assert prompt.tool_result == "get_weather"
    chained = to_prompt(parse(body(previous_response_id="resp_1", input=[OUTPUT])),
                        history=[Turn("assistant", calls=(CallRef("call_1", "get_weather"),))])
    assert chained.tool_result == "get_weather"


def test_to_prompt_tools_choice_format_and_limits() -> None:
    request = parse(body(
        model="o4-mini", tools=[WEATHER, {"type": "function", "name": "noop"}, SQL_TOOL, {"type": "web_search"}],
        tool_choice={"type": "function", "name": "get_weather"}, parallel_tool_calls=False, max_output_tokens=64,
        text={"format": {"type": "json_schema", "name": "city", "schema": CLOSED, "strict": True}}, stream=True,
        reasoning={"effort": "low", "generate_summary": "concise"}, future_flag=True))
    prompt = to_prompt(request)
    assert prompt.tools == (
        ToolDef("get_weather", parameters=CLOSED, strict=True, description="Current weather",
                param="tools[0].parameters"),
        ToolDef("noop", param="tools[1].parameters"),
        ToolDef("run_sql", custom=True, description="Runs SQL", param="tools[2]",
                format={"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}}),
    )
    assert prompt.choosing == Choosing("named", only=("get_weather",))
    assert [t.name for t in prompt.callable_tools()] == ["get_weather"]
    assert prompt.parallel_tool_calls is False
    assert prompt.format == OutputFormat("json_schema", name="city", schema=CLOSED, strict=True, param="text.format")
    assert (prompt.token_limit, prompt.stream, prompt.model) == (64, True, "o4-mini")
    assert (prompt.reasoning_effort, prompt.reasoning_summary) == ("low", "concise")
    assert prompt.extra == {"future_flag": True}
    assert (prompt.logprobs, prompt.top_logprobs, prompt.n, prompt.stop) == (False, 0, 1, ())
    plain = to_prompt(parse(body(top_logprobs=3)))
    assert (plain.format, plain.choosing, plain.logprobs, plain.top_logprobs, plain.token_limit) == (
        None, AUTO, False, 0, None)
    logprobs = to_prompt(parse(body(top_logprobs=3, include=["message.output_text.logprobs"])))
    assert (logprobs.logprobs, logprobs.top_logprobs) == (True, 3)
    json_object = to_prompt(parse(body(input="json please", text={"format": {"type": "json_object"}})))
    assert json_object.format == OutputFormat("json_object", param="text.format")


@pytest.mark.parametrize(("choice", "tools", "expected"), [
    (None, [WEATHER], AUTO),
    ("auto", [WEATHER], AUTO),
    ("none", [WEATHER], Choosing("none")),
    ("required", [WEATHER], Choosing("required")),
    ({"type": "custom", "name": "run_sql"}, [SQL_TOOL], Choosing("named", only=("run_sql",))),
    ({"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_weather"},
                                                         {"type": "file_search"}]},
     [WEATHER, SQL_TOOL, {"type": "file_search"}], Choosing("auto", only=("get_weather",))),
    ({"type": "file_search"}, [WEATHER, {"type": "file_search"}], Choosing("auto", only=())),
    ({"type": "shell"}, [{"type": "shell"}], Choosing("auto", only=())),
])
def test_tool_choice_as_choosing(choice: Any, tools: list[Any], expected: Choosing) -> None:
    assert to_prompt(parse(body(tools=tools, tool_choice=choice))).choosing == expected


def test_item_references_are_resolved_by_the_caller() -> None:
    stored = {"msg_7": {"id": "msg_7", "type": "message", "role": "user", "status": "completed",
                        "content": [{"type": "input_text", "text": "Stored question"}]},
              "bad_1": {"type": "message"}}
    request = parse(body(previous_response_id="resp_1", input=[
        {"type": "item_reference", "id": "msg_7"}, {"id": "bad_1"}, {"id": "gone"}, USER]))
    assert to_prompt(request).turns == (Turn("user", USER["content"]),)
    assert to_prompt(request, resolve=stored.get).turns == (Turn("user", "Stored question"), Turn("user",
                                                                                               USER["content"]))
    listed = input_items(request, lambda p, i: f"{p}_{i}", resolve=stored.get)
    assert listed[0] == stored["msg_7"]
    assert listed[2] == {"type": "item_reference", "id": "gone"}


# --- the input_items listing ----------------------------------------------------------------------------------------


def new_id(prefix: str, index: int) -> str:
    return f"{prefix}_{index:04d}"


def test_a_string_input_is_one_user_message() -> None:
    """check-responses' ``input_items``: the content is exactly one ``input_text`` part."""
    listed = input_items(parse(body(input="Write two sentences.")), new_id)
    assert listed == [{"type": "message", "role": "user", "content": [{"type": "input_text",
                                                                       "text": "Write two sentences."}],
                       "id": "msg_0000", "status": "completed"}]


def test_input_items_ids_status_and_parts() -> None:
    request = parse(body(instructions="Not listed.", input=[
        {"role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}], "id": "msg_own"},
        CALL_ITEM, OUTPUT, CUSTOM_CALL, CUSTOM_OUTPUT,
        {"role": "assistant", "content": "It is 12C."},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}},
        {**OUTPUT, "call_id": "call_c", "output": [{"type": "input_image", "file_id": "file-1"}]}]))
    listed = input_items(request, new_id)
    assert [(it["type"], it["id"]) for it in listed] == [
        ("message", "msg_0000"), ("message", "msg_own"), ("function_call", "fc_1"),
        ("function_call_output", "fco_0003"), ("custom_tool_call", "ctc_0004"),
        ("custom_tool_call_output", "ctco_0005"), ("message", "msg_0006"), ("reasoning", "rs_1"),
        ("web_search_call", "ws_0008"), ("function_call_output", "fco_0009")]
    assert listed[0]["role"] == "developer"
    assert listed[1]["content"] == [{"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"}]
    assert listed[3] == {"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 12}',
                         "id": "fco_0003", "status": "completed"}
    assert listed[6]["content"] == [{"type": "output_text", "text": "It is 12C.", "annotations": [],
                                     "logprobs": []}]
    assert listed[8]["action"] == {"type": "search", "query": "q"}
    assert listed[9]["output"][0]["detail"] == "auto"
    assert all(it.get("status") == "completed" for it in listed if it["type"] != "reasoning")
    assert input_items(request, new_id) == listed  # the same ids for the same request


def test_input_items_are_what_the_sdk_and_the_schema_list() -> None:
    request = parse(body(input=[
        USER, {"role": "system", "content": [{"type": "input_text", "text": "x"},
                                             {"type": "input_image", "image_url": "https://x/a.png"}]},
        CALL, OUTPUT, CUSTOM_CALL, CUSTOM_OUTPUT, {"role": "assistant", "content": "It is 12C."}, ASSISTANT_ITEM,
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Thinking."}]}]))
    data = input_items(request, new_id)
    page = {"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"],
            "has_more": False}
    parsed = ResponseItemList.model_validate(page)
    kinds = [type(item).__name__ for item in parsed.data]
    assert kinds == ["ResponseInputMessageItem", "ResponseInputMessageItem", "ResponseFunctionToolCallItem",
                     "ResponseFunctionToolCallOutputItem", "ResponseCustomToolCallItem",
                     "ResponseCustomToolCallOutputItem", "ResponseOutputMessage", "ResponseOutputMessage",
                     "ResponseReasoningItem"]
    validator = jsonschema.Draft202012Validator({"$defs": _spec(), "$ref": "#/$defs/ResponseItemList"})
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(page)]
    assert errors == []


def test_input_items_do_not_walk_deep_values() -> None:
    """A regression: ``model_dump`` of an item holding deeply nested JSON raised, a 500 at the listing."""
    deep: Any = 1
    for _ in range(2000):
        deep = {"a": deep}
    _, request = parse_response_request(body(input=[{"role": "user", "content": "hi", "future": deep}]))
    listed = input_items(request, new_id)
    assert listed[0]["future"] is not None


# --- the rest -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [mockai.responses.values, mockai.responses.wire, mockai.responses.validation,
                                    mockai.responses.items])
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
