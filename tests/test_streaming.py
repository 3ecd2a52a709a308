"""Streams: OpenAI's SSE framing, chunk by chunk, and reassembly to exactly the non-stream reply."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pydantic
import pytest
from conftest import (
    TIME_TOOL,
    WEATHER_TOOL,
    chat_body,
    choices_of,
    post,
    reassemble,
    reply,
    sse_chunks,
    stream,
    strict_chunks,
)
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

from mockai import Engine, streaming, tokens, wire
from mockai.reply import Audio, Choice, Reply, ToolCall
from mockai.streaming import DONE, Meta, chunks, sse

TOOLS = [WEATHER_TOOL, TIME_TOOL]

REQUESTS = {
    "plain": chat_body("Hello"),
    "n=3": chat_body("Hello", n=3),
    "tools required, n=4": chat_body("Hi", tools=TOOLS, tool_choice="required", n=4),
    "tools auto, n=6": chat_body("Hi", tools=TOOLS, n=6),
    "logprobs": chat_body("Hi", logprobs=True, top_logprobs=3, n=2),
    "stop": chat_body("Tell me", stop=["e"]),
    "max_tokens": chat_body("Write a long essay", max_tokens=5, n=2),
    "max_tokens with tools": chat_body(tools=[WEATHER_TOOL], tool_choice="required", max_tokens=4),
    "json_object": chat_body("json please", response_format={"type": "json_object"}),
    "json_schema": chat_body(response_format={"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}),
}


@pytest.mark.parametrize("body", list(REQUESTS.values()), ids=list(REQUESTS))
def test_stream_reassembles_to_the_reply(make_engine: Any, body: dict[str, Any]) -> None:
    whole = reply(make_engine(seed=2), body)
    parts = stream(make_engine(seed=2), body)
    assert reassemble(parts) == choices_of(whole)
    for chunk in parts:
        assert chunk["model"] == whole["model"]
        assert chunk["created"] == whole["created"]
        assert chunk["system_fingerprint"] == whole["system_fingerprint"]
        assert chunk["service_tier"] == whole["service_tier"]


@pytest.mark.parametrize("body", list(REQUESTS.values()), ids=list(REQUESTS))
def test_stream_framing(engine: Engine, body: dict[str, Any]) -> None:
    parts = stream(engine, body)
    n = body.get("n", 1)
    assert len({c["id"] for c in parts}) == 1
    assert parts[0]["id"].startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" for c in parts)
    assert all(len(c["choices"]) == 1 for c in parts)
    assert all("usage" not in c for c in parts), "no usage unless include_usage"
    by_choice: dict[int, list[dict[str, Any]]] = {}
    for c in parts:
        by_choice.setdefault(c["choices"][0]["index"], []).append(c["choices"][0])
    assert sorted(by_choice) == list(range(n))
    for events in by_choice.values():
        first, *middle, last = events
        assert first["delta"]["role"] == "assistant"
        assert first["finish_reason"] is None
        assert last["delta"] == {}
        assert last["finish_reason"] in ("stop", "length", "tool_calls")
        assert all(e["finish_reason"] is None for e in middle)
        assert all("role" not in e["delta"] for e in middle)
        seen_calls: set[int] = set()
        for e in middle:
            delta = e["delta"]
            if "content" in delta:
                assert delta["content"]
                assert tokens.split(delta["content"]) == [delta["content"]], "content arrives token by token"
            for tc in delta.get("tool_calls", []):
                if tc["index"] not in seen_calls:
                    seen_calls.add(tc["index"])
                    assert tc["id"].startswith("call_")
                    assert tc["type"] == "function"
                    assert tc["function"]["name"] in ("get_weather", "get_time")
                    assert tc["function"]["arguments"] == ""
                else:
                    assert set(tc) == {"index", "function"}
                    assert set(tc["function"]) == {"arguments"}
                    assert tc["function"]["arguments"]
            if "content" not in delta and "tool_calls" not in delta:
                pytest.fail(f"unexpected delta {delta}")


def test_choices_interleave(engine: Engine) -> None:
    parts = stream(engine, chat_body("Hello", n=3))
    order = [c["choices"][0]["index"] for c in parts]
    assert order[:6] == [0, 1, 2, 0, 1, 2]


def test_tool_call_first_delta(engine: Engine) -> None:
    parts = stream(engine, chat_body("Hi", tools=[TIME_TOOL], tool_choice="required", parallel_tool_calls=False))
    deltas = [c["choices"][0]["delta"] for c in parts]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    head = deltas[1]["tool_calls"][0]
    assert set(head) == {"index", "id", "type", "function"}
    assert head["index"] == 0
    assert head["function"] == {"name": "get_time", "arguments": ""}
    args = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:-1])
    assert json.loads(args)["zone"] in ("UTC", "CET")


def test_include_usage(make_engine: Any) -> None:
    body = chat_body("Hello", n=2, stream_options={"include_usage": True})
    whole = reply(make_engine(), {k: v for k, v in body.items() if k != "stream_options"})
    parts = stream(make_engine(), body)
    *rest, last = parts
    assert all(c["usage"] is None for c in rest)
    assert all(len(c["choices"]) == 1 for c in rest)
    assert last["choices"] == []
    assert last["usage"] == whole["usage"]
    assert last["id"] == rest[0]["id"]
    assert reassemble(rest) == choices_of(whole)


def test_include_usage_false(engine: Engine) -> None:
    parts = stream(engine, chat_body(stream_options={"include_usage": False}))
    assert all(c["choices"] for c in parts)
    assert all(c.get("usage") is None for c in parts)


OBFUSCATION = re.compile(r"[A-Za-z0-9]{1,16}")


@pytest.mark.parametrize("usage", [False, True], ids=["", "usage"])
def test_every_chunk_ends_with_obfuscation_unless_the_request_turns_it_off(make_engine: Any, usage: bool) -> None:
    """As the real API sends them: each chunk, the usage chunk too, ends with ``obfuscation`` (after ``usage``),
    1 to 16 letters and digits that vary in length; the same request pads the same way; with
    ``include_obfuscation: false`` no chunk has the field, and the stream says the same otherwise."""
    options = {"include_usage": usage}
    body = chat_body("Tell me about lighthouses", n=2, stream_options=options)
    padded = stream(make_engine(seed=4), body)
    assert all(list(c)[-2:] == ["usage", "obfuscation"] if usage else list(c)[-1] == "obfuscation" for c in padded)
    pads = [c["obfuscation"] for c in padded]
    assert all(OBFUSCATION.fullmatch(p) for p in pads), pads
    assert len({len(p) for p in pads}) > 3, pads
    assert [ChatCompletionChunk.model_validate(c, strict=True).obfuscation for c in padded] == pads
    assert stream(make_engine(seed=4), body) == padded

    def said(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:  # (another body: another id)
        return [{k: v for k, v in c.items() if k not in ("id", "obfuscation")} for c in chunks]

    asked = stream(make_engine(seed=4), {**body, "stream_options": {**options, "include_obfuscation": True}})
    assert all(OBFUSCATION.fullmatch(c["obfuscation"]) for c in asked)
    plain = stream(make_engine(seed=4), {**body, "stream_options": {**options, "include_obfuscation": False}})
    assert all("obfuscation" not in c for c in plain)
    assert said(plain) == said(asked) == said(padded)
    assert "obfuscation" not in reply(make_engine(seed=4), chat_body("Tell me about lighthouses"))


@pytest.mark.asyncio
async def test_the_sdk_reads_obfuscation_through_both_doors(client: Any, aclient: Any) -> None:
    """The SDK's chunks carry it, over a socket (sync) and in-process (async); turned off, they carry ``None``."""
    messages = [{"role": "user", "content": "Tell me about lighthouses"}]
    pads = [c.obfuscation for c in client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                                                    stream=True)]
    assert pads
    assert all(p is not None and OBFUSCATION.fullmatch(p) for p in pads), pads
    seen = [c.obfuscation async for c in await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                                                                stream=True)]
    assert seen == pads  # the same engine seed: the same stream, padding and all
    off = await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                stream_options={"include_obfuscation": False})
    assert [c.obfuscation async for c in off] == [None] * len(pads)


def test_drawn_streams_pad_as_their_request_asks(make_engine: Any) -> None:
    """A stream drawn for a request (the fuzz responder's) follows its ``include_obfuscation``; one drawn for no
    request is padded on most draws and not on others, so client code meets both."""
    import random

    fuzz = make_engine(responder="fuzz", seed=2)
    for i in range(10):
        asked = stream(fuzz, chat_body(f"Hi {i}", stream_options={"include_obfuscation": i % 2 == 0}))
        assert all(("obfuscation" in c) == (i % 2 == 0) for c in asked)

    from mockai.shapes import ReplySpace, SeededSource, draw_stream

    def padded(space: ReplySpace, seed: int) -> list[bool]:
        return ["obfuscation" in c for c in draw_stream(SeededSource(random.Random(seed)), space).chunks]

    assert not any(any(padded(ReplySpace(obfuscation=False), seed)) for seed in range(20))
    assert all(all(padded(ReplySpace(obfuscation=True), seed)) for seed in range(20))
    drawn = [padded(ReplySpace(), seed) for seed in range(40)]
    assert all(len(set(d)) == 1 for d in drawn)  # all of a stream's chunks or none
    assert {d[0] for d in drawn} == {True, False}


def test_sse_bytes(engine: Engine) -> None:
    res = post(engine, chat_body(stream=True))
    assert res.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert res.headers["cache-control"] == "no-cache"
    assert res.events is not None
    assert res.events[-1] == DONE == b"data: [DONE]\n\n"
    for event in res.events:
        assert event.startswith(b"data: ")
        assert event.endswith(b"\n\n")
        assert event.count(b"\n") == 2
    assert len(sse_chunks(res)) == len(res.events) - 1


def test_stream_and_reply_ids_differ_but_content_agrees(engine: Engine) -> None:
    whole = reply(engine, chat_body("Hi"))
    parts = stream(engine, chat_body("Hi"))
    assert whole["id"] != parts[0]["id"]
    assert reassemble(parts)[0]["content"] == whole["choices"][0]["message"]["content"]


def test_strict_chunk_validation_can_fail(engine: Engine) -> None:
    chunk = stream(engine, chat_body())[1]
    broken = {**chunk, "choices": [{**chunk["choices"][0], "index": "0"}]}
    with pytest.raises(pydantic.ValidationError):
        ChatCompletionChunk.model_validate(broken, strict=True)
    with pytest.raises(pydantic.ValidationError):
        strict_chunks([broken])


# --- the chunker on its own ------------------------------------------------------------------------------

META = Meta(id="chatcmpl-x", created=7, model="m", system_fingerprint="fp_1")


def test_chunks_of_text() -> None:
    out = chunks(Reply.text("Hi there, friend"), META)
    assert [c["choices"][0]["delta"] for c in out] == [
        {"role": "assistant", "content": "", "refusal": None}, {"content": "Hi"}, {"content": " there"},
        {"content": ","}, {"content": " friend"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in out] == [None] * 5 + ["stop"]
    strict_chunks(out)


def test_chunks_of_refusal() -> None:
    out = chunks(Reply([Choice(content=None, refusal="I can't help with that.")]), META)
    strict_chunks(out)
    assert "".join(c["choices"][0]["delta"].get("refusal") or "" for c in out) == "I can't help with that."


def test_chunks_of_given_tool_calls() -> None:
    calls = [ToolCall("a", '{"x":1}', id="call_A"), ToolCall("b", "{}", id="call_B")]
    out = chunks(Reply([Choice(content=None, tool_calls=calls, finish_reason="tool_calls")]), META)
    strict_chunks(out)
    rebuilt = reassemble(out)[0]["tool_calls"]
    assert rebuilt == [{"id": "call_A", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
                       {"id": "call_B", "type": "function", "function": {"name": "b", "arguments": "{}"}}]


def test_chunks_of_a_custom_tool_call() -> None:
    calls = [ToolCall("run_sql", "SELECT name FROM users", id="call_C", type="custom")]
    out = chunks(Reply([Choice(content=None, tool_calls=calls, finish_reason="tool_calls")]), META)
    deltas = [c["choices"][0]["delta"] for c in out]
    assert deltas[1] == {"tool_calls": [{"index": 0, "id": "call_C", "type": "custom",
                                         "custom": {"name": "run_sql", "input": ""}}]}
    fragments = [d["tool_calls"][0] for d in deltas[2:-1]]
    assert all(set(f) == {"index", "custom"} for f in fragments)
    assert "".join(f["custom"]["input"] for f in fragments) == "SELECT name FROM users"
    assert len(fragments) > 1
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"
    for chunk in out:
        wire.ChatCompletionChunk.model_validate(chunk, strict=True)


def test_chunks_of_a_spoken_reply() -> None:
    data = bytes(range(256)) * 50
    spoken = Audio(transcript="Hello there", data=data, format="pcm16", tokens=4, id="audio_1", expires_at=99)
    out = strict_chunks(chunks(Reply([Choice(content=None, audio=spoken)]), META))
    deltas = [c["choices"][0]["delta"] for c in out]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    assert deltas[1]["audio"] == {"id": "audio_1", "transcript": "Hello"}
    parts = [d["audio"] for d in deltas[1:-2]]
    assert "".join(p.get("transcript", "") for p in parts) == "Hello there"
    assert base64.b64decode("".join(p.get("data", "") for p in parts)) == data
    assert [c["choices"][0]["finish_reason"] for c in out[-2:]] == ["stop", None]
    assert deltas[-2] == {}
    assert deltas[-1] == {"audio": {"expires_at": 99}}
    body = streaming.body(Reply([Choice(content=None, audio=spoken)]), META)
    assert body["choices"][0]["message"]["audio"] == {
        "id": "audio_1", "data": base64.b64encode(data).decode(), "expires_at": 99, "transcript": "Hello there"}


def test_chunks_usage_chunk() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    meta = Meta(id="chatcmpl-x", created=7, model="m", usage=usage, include_usage=True)
    out = chunks(Reply.text("Hi"), meta)
    assert out[-1]["choices"] == []
    assert out[-1]["usage"] == usage
    assert all(c["usage"] is None for c in out[:-1])
    strict_chunks(out)


def test_sse_framing() -> None:
    events = sse([{"a": "é\n"}, {"b": 1}])
    assert events == ['data: {"a":"é\\n"}\n\n'.encode(), b'data: {"b":1}\n\n', b"data: [DONE]\n\n"]


def test_chunks_keep_every_character() -> None:
    """Regression: the splitter dropped "_", so streamed snake_case content and arguments lost characters."""
    text = "call get_weather with __init__ and 3_000 ünïcödé!"
    args = '{"first_name":"a_b"}'
    out = chunks(Reply([Choice(content=text), Choice(content=None, tool_calls=[ToolCall("f", args, id="call_1")],
                                                   finish_reason="tool_calls")]), META)
    rebuilt = reassemble(out)
    assert rebuilt[0]["content"] == text
    assert rebuilt[1]["tool_calls"][0]["function"]["arguments"] == args


@pytest.mark.parametrize("reply", [
    Reply.text("Hello, world! \\u00e9 \"quoted\" \n and a tab\t."),
    Reply.text("cut short", finish_reason="length"),
    Reply([Choice(content="two"), Choice(content="choices")]),
    Reply([Choice(content="", finish_reason="stop")]),
    Reply([Choice(content="with a refusal too", refusal="no")]),
], ids=["text", "length", "two choices", "empty", "refusal"])
@pytest.mark.parametrize("usage", [False, True], ids=["", "usage"])
@pytest.mark.parametrize("padding", [None, streaming.padding("chatcmpl-x")], ids=["", "obfuscation"])
def test_a_streams_fast_encoding_is_byte_for_byte_its_chunks(reply: Reply, usage: bool, padding: str | None) -> None:
    """``encode`` writes the usual stream (one choice of text) without making each chunk's objects: its bytes
    are exactly those of the chunks it stands for, and every other reply takes the general path."""
    meta = streaming.Meta(id="chatcmpl-x", created=1, model="gpt-4o-mini", system_fingerprint="fp_1",
                          usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, include_usage=usage,
                          obfuscation=padding)
    assert streaming.encode(reply.copy(), meta) == streaming.sse(streaming.chunks(reply.copy(), meta))
    general = [streaming.dumps(choice) for choice in streaming._choices(reply.copy())]
    for _ in range(2):  # written, then remembered
        assert streaming.choice_parts(reply.copy()) == general
        assert streaming.encode(reply.copy(), meta) == streaming.sse(streaming.chunks(reply.copy(), meta))


@given(st.text(max_size=1_200), st.sampled_from(["stop", "length", "content_filter"]))
def test_a_text_streams_remembered_parts_are_its_chunks(text: str, finish: str) -> None:
    """Text streams are written once per text (scripted replies repeat): long and short, first seen or not."""
    reply = Reply.text(text, finish_reason=finish)
    meta = streaming.Meta(id="chatcmpl-x", created=1, model="gpt-4o-mini")
    for _ in range(2):
        assert streaming.encode(reply.copy(), meta) == streaming.sse(streaming.chunks(reply.copy(), meta))
        assert streaming.choice_parts(reply.copy()) == [streaming.dumps(c) for c in streaming._choices(reply.copy())]


def test_without_orjson_replies_are_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the platform has no orjson wheel the standard library writes the bodies: the same JSON, and the
    same bytes for everything but some floats' spelling (none here)."""
    from mockai import http
    from mockai.engine import Config

    engine = Engine(Config(seed=3, clock=1))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Héllo \u2028 \"there\""}], "n": 2}

    def answer() -> list[bytes]:
        engine.reset()
        out = []
        for extra in ({"stream": True, "stream_options": {"include_usage": True}}, {}):
            res = engine.handle(http.HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"},
                                                 body=json.dumps({**body, **extra}).encode()))
            assert res.status == 200, res.content()
            out.append(res.content())
        return out

    fast = answer()
    monkeypatch.setattr(http, "_orjson", None)
    assert answer() == fast
    assert http.dumps({"a": 10**30}) == b'{"a":1000000000000000000000000000000}'  # past orjson's 64 bits too
