"""Requests whose answer would be huge: a few hundred bytes of schema asking for millions of values.

The real model writes until its output limit (or ``max_tokens``) and stops with ``finish_reason: "length"``;
mockai does the same, within a budget of work that holds across every nesting level, and over the socket it
makes such answers off the event loop so every other client is still answered.
"""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from typing import Any

import openai
import pytest

from mockai import MockAI, tokens
from mockai.app import heavy
from mockai.chat import prompt_of
from mockai.generate import Generator
from mockai.prompt import Prompt
from mockai.wire import ChatCompletionRequest

USER: Any = [{"role": "user", "content": "Fill the grid."}]


def nested(levels: int, size: int = 1000) -> dict[str, Any]:
    """``levels`` arrays of ``size`` integers each inside another: ``size ** levels`` integers in all."""
    schema: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 999}
    for _ in range(levels):
        schema = {"type": "array", "minItems": size, "items": schema}
    return {"type": "object", "properties": {"grid": schema}, "required": ["grid"], "additionalProperties": False}


def structured(schema: dict[str, Any]) -> Any:
    return {"type": "json_schema", "json_schema": {"name": "grid", "strict": True, "schema": schema}}


def closed(prefix: str) -> Any:
    """The JSON a prefix of a ``nested`` value starts, closed where it was cut (no strings in it to mind)."""
    text = prefix.rstrip(",")
    opened = [c for c in text if c in "[{"]
    for c in text:
        if c in "]}":
            opened.pop()
    return json.loads(text + "".join("]" if c == "[" else "}" for c in reversed(opened)))


@pytest.fixture
def client() -> openai.OpenAI:
    return MockAI(seed=3).client(max_retries=0)


@pytest.mark.parametrize("levels", [2, 3, 4, 6])
def test_nested_arrays_stop_at_the_model_output_limit(client: openai.OpenAI, levels: int) -> None:
    """280 bytes used to make an 18 MB reply (two levels) or run for minutes (three); now every depth ends where
    the model would stop writing, in bounded memory."""
    tracemalloc.start()
    try:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=USER,
                                               response_format=structured(nested(levels)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    choice = reply.choices[0]
    assert choice.finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == tokens.max_output("gpt-4o-mini") == 16_384
    content = choice.message.content or ""
    assert len(tokens.split(content)) == 16_384
    assert content.startswith('{"grid":' + "[" * levels)
    grid = closed(content)["grid"]
    for _ in range(levels - 1):  # depth first: the first inner array is whole, the cut is in a later one
        assert len(grid[0]) == 1000 or (len(grid) == 1 and len(grid[0]) < 1000)
        grid = grid[0]
    assert all(isinstance(v, int) and 0 <= v <= 999 for v in grid)
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB at the peak"


def test_max_tokens_cuts_first_and_the_stream_agrees(client: openai.OpenAI) -> None:
    body: Any = {"model": "gpt-4o", "messages": USER, "response_format": structured(nested(3)), "max_tokens": 300}
    reply = client.chat.completions.create(**body)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 300
    stream = client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True})
    text, finish, usage = "", None, None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    assert (text, finish) == (reply.choices[0].message.content, "length")
    assert usage is not None
    assert usage.completion_tokens == 300


def test_the_sdk_parse_helper_sees_the_cut_as_the_real_api_makes_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(model="gpt-4o-mini", messages=USER, response_format=structured(nested(2)))


def test_each_choice_gets_its_share_of_the_reply_limit() -> None:
    request = ChatCompletionRequest.model_validate({"model": "gpt-4.1", "messages": USER, "n": 64,
                                                    "response_format": structured(nested(3))})
    reply = Generator().generate(prompt_of(request), key=b"k", seed=0)
    share = tokens.MAX_REPLY_TOKENS // 64
    assert [c.finish_reason for c in reply.choices] == ["length"] * 64
    assert all(c.completion_tokens() == share for c in reply.choices)


def test_tool_arguments_too_big_end_the_reply_with_length(client: openai.OpenAI) -> None:
    tool: Any = {"type": "function", "function": {"name": "fill", "strict": True, "parameters": nested(3)}}
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[tool], tool_choice="required")
    choice = reply.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.tool_calls
    assert choice.message.tool_calls[0].function.arguments.startswith('{"grid":[[[')  # type: ignore[union-attr]
    assert reply.usage is not None
    assert reply.usage.completion_tokens <= 16_384


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": "string", "minLength": 10**9}}, "required": ["a"]},
    {"type": "object", "minProperties": 10**6},
    {"type": "array", "minItems": 10**8, "items": {"type": "object"}},
], ids=["minLength", "minProperties", "empty objects"])
def test_other_huge_minimums_are_cut_not_refused(client: openai.OpenAI, schema: dict[str, Any]) -> None:
    """The real API accepts these schemas (non-strict) and writes until its limit: never a 400, never a hang."""
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "big", "schema": schema}}
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=USER, response_format=fmt)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert 0 < reply.usage.completion_tokens <= 16_384


def test_a_minimum_no_value_can_meet_is_still_a_400(client: openai.OpenAI) -> None:
    schema = {"type": "array", "minItems": 10**6, "items": {"enum": [1, 2, 3, 4, 5]}, "uniqueItems": True}
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "big", "schema": schema}}
    with pytest.raises(openai.BadRequestError, match="cannot make 1000000 items"):
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, response_format=fmt)


def test_heavy_bodies_are_recognised() -> None:
    light = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there"}], "stream": True}
    assert not heavy(json.dumps(light).encode())
    for extra in ({"response_format": structured(nested(2))}, {"n": 2}, {"logprobs": True},
                  {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}):
        assert heavy(json.dumps({**light, **extra}).encode()), extra
    assert heavy(b'{"response_format": {"type": "json_schema", "json_schema": {"name": "x", "sch\\u0065ma": {}}}}')
    assert heavy(json.dumps({**light, "messages": [{"role": "user", "content": "x" * 300_000}]}).encode())


def test_a_small_request_is_answered_while_a_huge_one_is_made() -> None:
    """Over a real socket: the huge answer is made in a worker thread, so the event loop answers others at once."""
    mock = MockAI(seed=3)
    started, finished = threading.Event(), threading.Event()
    generate = mock.engine.generator.generate

    def traced(prompt: Prompt, *, key: bytes, seed: int) -> Any:
        if prompt.format is not None:
            started.set()
        return generate(prompt, key=key, seed=seed)

    mock.engine.generator.generate = traced  # type: ignore[method-assign]
    with mock.serve() as server, openai.OpenAI(base_url=server.base_url, api_key="sk-limits", max_retries=0,
                                                 timeout=120) as client:
        big: dict[str, Any] = {}

        def ask_big() -> None:
            big["reply"] = client.chat.completions.create(model="gpt-5", messages=USER,
                                                          response_format=structured(nested(3)))
            finished.set()

        worker = threading.Thread(target=ask_big)
        worker.start()
        assert started.wait(30)
        began = time.monotonic()
        small = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        took = time.monotonic() - began
        answered_first = not finished.is_set()
        worker.join(120)
    assert small.choices[0].finish_reason == "stop"
    assert answered_first, f"the small request waited for the huge one ({took:.2f} s)"
    assert big["reply"].choices[0].finish_reason == "length"
    assert big["reply"].usage.completion_tokens == 128_000
