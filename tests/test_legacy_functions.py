"""The deprecated `functions` / `function_call` API still answers as the real one does: a `function_call` message
with `finish_reason: "function_call"`, streamed as `delta.function_call` name-then-argument fragments."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from mockai.engine import Config, Engine, HTTPRequest

WEATHER = {"name": "get_weather", "description": "Weather for a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city", "unit"]}}
USER = [{"role": "user", "content": "What is the weather in Oslo?"}]


def post(engine: Engine, body: dict[str, Any]) -> Any:
    res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"},
                                    body=json.dumps(body).encode()))
    return res


def test_a_named_function_call_is_answered_with_valid_arguments() -> None:
    body = {"model": "gpt-4o-mini", "messages": USER, "functions": [WEATHER], "function_call": {"name": "get_weather"}}
    res = post(Engine(Config(seed=2)), body)
    assert res.status == 200
    reply = ChatCompletion.model_validate(res.json(), strict=True)
    choice = reply.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.content is None
    assert choice.message.function_call is not None
    assert choice.message.function_call.name == "get_weather"
    jsonschema.validate(json.loads(choice.message.function_call.arguments), WEATHER["parameters"])


def test_the_stream_reassembles_to_the_same_call() -> None:
    body = {"model": "gpt-4o-mini", "messages": USER, "functions": [WEATHER], "function_call": {"name": "get_weather"}}
    engine = Engine(Config(seed=2))
    whole = post(engine, body).json()["choices"][0]["message"]["function_call"]
    events = post(engine, {**body, "stream": True}).content().decode().split("\n\n")
    chunks = [ChatCompletionChunk.model_validate(json.loads(e[6:]), strict=True) for e in events
              if e.startswith("data: {")]
    deltas = [c.choices[0].delta.function_call for c in chunks if c.choices and c.choices[0].delta.function_call]
    assert deltas[0].name == "get_weather"
    assert deltas[0].arguments == ""
    assert all(d.name is None for d in deltas[1:])
    assert "".join(d.arguments or "" for d in deltas) == whole["arguments"]
    assert chunks[-1].choices[0].finish_reason == "function_call"


@pytest.mark.parametrize(("function_call", "called"), [("none", False), ("auto", True)])
def test_none_answers_in_text_and_auto_calls_a_mentioned_function(function_call: str, called: bool) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Call get_weather for Oslo"}],
            "functions": [WEATHER], "function_call": function_call}
    message = post(Engine(), body).json()["choices"][0]["message"]
    assert ("function_call" in message) is called
    assert (message["content"] is None) is called


def test_after_the_function_result_the_model_answers() -> None:
    messages = [*USER, {"role": "assistant", "content": None,
                        "function_call": {"name": "get_weather", "arguments": '{"city":"Oslo","unit":"c"}'}},
                {"role": "function", "name": "get_weather", "content": "12 C"}]
    choice = post(Engine(), {"model": "gpt-4o-mini", "messages": messages, "functions": [WEATHER]}).json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"]


@pytest.mark.parametrize("body", [
    {"function_call": "auto"},
    {"functions": [WEATHER], "function_call": {"name": "nope"}},
])
def test_bad_function_call_requests_are_400(body: dict[str, Any]) -> None:
    res = post(Engine(), {"model": "gpt-4o-mini", "messages": USER, **body})
    assert res.status == 400
    assert res.json()["error"]["param"] == "function_call"
