"""mockai.strategies: every drawn value is valid (SDK strict types, SDK stream accumulation, server validation),
every legal oddity is reachable, drawn values script into the mock in one line (both doors), arguments are
checked eagerly, and the default generator's replies lie in the strategies' space (issue 4, points 1-3 and 5)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from request_types import schema_problems, sdk_problems

from mockai import APIError, Config, Engine, MockAI, wire
from mockai.chat import prompt_of
from mockai.generate import Generator
from mockai.schema import RandomSource
from mockai.shapes import (
    UNICODE_ATOMS,
    ReplySpace,
    SeededSource,
    choices_of,
    draw_stream,
    is_word,
    reassemble,
    reply_problems,
    space_for,
    stream_problems,
    usage_problems,
)
from mockai.strategies import (
    HypothesisSource,
    api_errors,
    assistant_messages,
    chat_completions,
    chat_requests,
    chunk_streams,
    json_for_schema,
    messages,
    refusals,
    tool_calls,
    tools,
)
from mockai.validation import parse_chat

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1,
                                                                             "maximum": 7}},
    "required": ["city"]}}}
STRICT_TIME = {"type": "function", "function": {"name": "get_time", "strict": True, "parameters": {
    "type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
    "required": ["zone"], "additionalProperties": False}}}
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
          "required": ["name", "age"], "additionalProperties": False}


def strict_completion(body: dict[str, Any]) -> ChatCompletion:
    wire.ChatCompletion.model_validate(body, strict=True)
    return ChatCompletion.model_validate(body, strict=True)


def sdk_accumulate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Every chunk through the SDK's strict types and its own stream accumulator; the final completion."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        wire.ChatCompletionChunk.model_validate(chunk, strict=True)
        for _ in state.handle_chunk(ChatCompletionChunk.model_validate(chunk, strict=True)):
            pass
    # get_final_completion() raises on finish_reason length/content_filter by design; the snapshot is the same
    # accumulation without that parsing step.
    return state.current_completion_snapshot.model_dump(mode="json")


def same_reply(got: dict[str, Any], want: dict[str, Any]) -> None:
    """``got`` (an SDK-accumulated or SDK-parsed completion) says what ``want`` says."""
    assert got["id"] == want["id"]
    assert got["model"] == want["model"]
    assert got["created"] == want["created"]
    assert len(got["choices"]) == len(want["choices"])
    for g, w in zip(got["choices"], want["choices"], strict=True):
        assert g["index"] == w["index"]
        assert g["finish_reason"] == w["finish_reason"]
        for key in ("content", "refusal"):
            assert g["message"][key] == w["message"][key], key
        got_calls = [(t["id"], t["function"]["name"], t["function"]["arguments"])
                     for t in g["message"].get("tool_calls") or []]
        assert got_calls == [(t["id"], t["function"]["name"], t["function"]["arguments"])
                             for t in w["message"].get("tool_calls") or []]
        want_lp = (w.get("logprobs") or {}).get("content")
        got_lp = (g.get("logprobs") or {}).get("content")
        got_tokens = [t["token"] for t in got_lp or []]
        want_tokens = [t["token"] for t in want_lp or []]
        if g["index"] > 0 and got_tokens == want_tokens[:1] + want_tokens:
            # openai SDK quirk found by these strategies: ChatCompletionStreamState copies the logprobs of the
            # first chunk of a choice other than 0 into its snapshot, then extends them with the same list again.
            got_tokens = got_tokens[1:]
        assert got_tokens == want_tokens


# --- point 2: every drawn value is valid -------------------------------------------------------------------


@FAST
@given(chunk_streams(tools=[WEATHER, STRICT_TIME]))
def test_every_drawn_stream_is_valid_and_reassembles_with_the_sdk(drawn: Any) -> None:
    strict_completion(drawn.completion)
    final = sdk_accumulate(drawn.chunks)
    same_reply(final, drawn.completion)
    if drawn.reply.meta.include_usage:
        keys = ("prompt_tokens", "completion_tokens", "total_tokens")
        assert [final["usage"][k] for k in keys] == [drawn.completion["usage"][k] for k in keys]
    assert stream_problems(drawn.chunks, drawn.completion) == []
    assert reassemble(drawn.chunks) == choices_of(drawn.completion)
    space = ReplySpace(n=len(drawn.reply.choices), tools=(), kinds=("text", "tools", "refusal"))
    names = {c[1] for ch in choices_of(drawn.completion).values() for c in ch["tool_calls"]}
    assert names <= {"get_weather", "get_time"}
    assert [p for p in reply_problems(drawn.reply, space) if "calls" not in p and "a tools choice" not in p] == []


@FAST
@given(chunk_streams(response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON,
                                                                               "strict": True}},
                     logprobs=2, n=2, include_usage=True))
def test_structured_output_streams_with_logprobs(drawn: Any) -> None:
    final = sdk_accumulate(drawn.chunks)
    same_reply(final, drawn.completion)
    for choice in drawn.completion["choices"]:
        if choice["finish_reason"] == "stop" and choice["message"]["content"] is not None:
            jsonschema.validate(json.loads(choice["message"]["content"]), PERSON)
            assert "".join(t["token"] for t in choice["logprobs"]["content"]) == choice["message"]["content"]
    assert drawn.chunks[-1]["choices"] == []
    assert drawn.chunks[-1]["usage"] == drawn.completion["usage"]
    assert all(c["usage"] is None for c in drawn.chunks[:-1])


@FAST
@given(chat_completions(tools=[WEATHER], max_tokens=5, stop=["\n"]))
def test_completions_honour_max_tokens_and_stop(completion: dict[str, Any]) -> None:
    strict_completion(completion)
    for choice in completion["choices"]:
        assert "\n" not in (choice["message"]["content"] or "")
        if choice["finish_reason"] != "length":
            assert completion["usage"]["completion_tokens"] >= 0
    space = ReplySpace(n=len(completion["choices"]), tools=space_for_weather().tools, max_tokens=5, stop=("\n",))
    from mockai.rules import from_completion

    assert reply_problems(from_completion(completion), space) == []


def space_for_weather() -> ReplySpace:
    _, request = parse_chat({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER]})
    return space_for(prompt_of(request))


@FAST
@given(chat_requests(models=("gpt-4o-mini", "gpt-4.1", "o3", "gpt-5")))
def test_every_drawn_request_is_valid_by_the_schema_and_the_sdk_and_is_answered(body: dict[str, Any]) -> None:
    # Judged by the official schema and the SDK's request types, not by mockai's own parser (issue 9, item 20).
    assert sdk_problems(body) == []
    assert schema_problems(body) == []
    engine = Engine(Config(clock=1_700_000_000))
    from conftest import post

    res = post(engine, body)
    assert res.status == 200, res.content()


@FAST
@given(messages(), tools())
def test_messages_and_tools_make_valid_requests(msgs: list[dict[str, Any]], offered: list[dict[str, Any]]) -> None:
    body = {"model": "gpt-4o-mini", "messages": msgs, "tools": offered}
    assert sdk_problems(body) == []
    assert schema_problems(body) == []
    parse_chat(body)


REACHED = {  # what a valid request may hold and a strategy must be able to draw (issue 9, item 20)
    "service_tier fast": lambda b: b.get("service_tier") == "fast",
    "reasoning_effort max": lambda b: b.get("reasoning_effort") == "max",
    "verbosity": lambda b: "verbosity" in b,
    "image detail original": lambda b: any(
        p.get("image_url", {}).get("detail") == "original" for m in b["messages"]
        if isinstance(m["content"], list) for p in m["content"]),
    "16 metadata keys": lambda b: len(b.get("metadata", {})) == 16,
    "a 512-character metadata value": lambda b: any(len(v) == 512 for v in b.get("metadata", {}).values()),
    "a strict tool": lambda b: any(t["function"].get("strict") for t in b.get("tools", [])),
    "a strict response format": lambda b: bool(b.get("response_format", {}).get("json_schema", {}).get("strict")),
    "four stop sequences": lambda b: isinstance(b.get("stop"), list) and len(b["stop"]) == 4,
}


@pytest.mark.parametrize("name", sorted(REACHED))
def test_chat_requests_reach(name: str) -> None:
    body = find(chat_requests(models=("gpt-4o-mini", "gpt-5")), REACHED[name],
                settings=settings(max_examples=5000, database=None, deadline=None, derandomize=True,
                                  phases=[Phase.generate], suppress_health_check=[HealthCheck.too_slow]))
    assert sdk_problems(body) == []
    assert schema_problems(body) == []


@FAST
@given(st.data())
def test_json_for_schema_is_valid_for_its_schema(data: st.DataObject) -> None:
    schemas = [PERSON, {"type": "array", "items": {"type": "number", "minimum": -1, "maximum": 1}, "maxItems": 4},
               {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
               {"type": "object", "properties": {"tags": {"type": "array", "items": {"enum": ["a", "b"]},
                                                          "uniqueItems": True}}}]
    schema = data.draw(st.sampled_from(schemas))
    strict = data.draw(st.booleans())
    value = data.draw(json_for_schema(schema, strict=strict))
    jsonschema.validate(value, schema)
    if strict and isinstance(value, dict) and "properties" in schema:
        assert set(value) == set(schema["properties"])


@FAST
@given(tool_calls(for_tools=[WEATHER, STRICT_TIME], parallel=False), assistant_messages(), refusals(n=2))
def test_tool_calls_messages_and_refusals(calls: list[dict[str, Any]], message: dict[str, Any],
                                          refused: dict[str, Any]) -> None:
    assert len(calls) == 1
    schema = {"get_weather": WEATHER, "get_time": STRICT_TIME}[calls[0]["function"]["name"]]
    jsonschema.validate(json.loads(calls[0]["function"]["arguments"]), schema["function"]["parameters"])
    assert calls[0]["id"].startswith("call_")
    assert message["role"] == "assistant"
    assert (message["content"] is None) == (message["refusal"] is not None or bool(message.get("tool_calls")))
    strict_completion(refused)
    assert [c["message"]["content"] for c in refused["choices"]] == [None, None]
    assert all(c["message"]["refusal"] for c in refused["choices"])


@FAST
@given(api_errors())
def test_api_errors_reach_the_sdk_as_the_right_exception(err: Any) -> None:
    mock = MockAI()
    mock.queue(err)
    client = mock.client(max_retries=0)
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.status_code == err.status
    body = raised.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert raised.value.response.headers["x-request-id"]
    if err.status == 429:
        assert isinstance(raised.value, openai.RateLimitError)
        assert int(raised.value.response.headers["retry-after-ms"]) >= 1
        assert "x-ratelimit-remaining-requests" in raised.value.response.headers


# --- every legal oddity is reachable -------------------------------------------------------------------------


def _deltas(drawn: Any) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in drawn.chunks if c["choices"]]


def _split_inside(drawn: Any, atom: str) -> bool:
    pieces = [d.get("content") or "" for d in _deltas(drawn)]
    text = "".join(pieces)
    at = text.find(atom)
    if at < 0:
        return False
    edges, pos = set(), 0
    for p in pieces:
        pos += len(p)
        edges.add(pos)
    return any(at < e < at + len(atom) for e in edges)


ODDITIES = {
    "role-only first delta": lambda d: _deltas(d)[0] == {"role": "assistant"},
    "empty delta mid-stream": lambda d: any(c["choices"][0]["delta"] == {} and c["choices"][0]["finish_reason"] is None
                                           for c in d.chunks if c["choices"]),
    "content in the role delta": lambda d: bool(_deltas(d)[0].get("content")),
    "ZWJ emoji split": lambda d: _split_inside(d, UNICODE_ATOMS[3]),
    "combining mark split": lambda d: _split_inside(d, "e\u0301"),
    "tool arguments split": lambda d: sum(1 for x in _deltas(d) for t in x.get("tool_calls") or []
                                          if "id" not in t and t["function"]["arguments"]) >= 2,
    "interleaved choices": lambda d: [c["choices"][0]["index"] for c in d.chunks if c["choices"]][:3] == [0, 1, 0],
    "usage chunk": lambda d: d.chunks[-1]["choices"] == [],
    "finish on length mid-text": lambda d: d.completion["choices"][0]["finish_reason"] == "length"
    and bool(d.completion["choices"][0]["message"]["content"]),
    "content_filter": lambda d: d.completion["choices"][0]["finish_reason"] == "content_filter",
    "refusal": lambda d: d.completion["choices"][0]["message"]["refusal"] is not None,
    "tool calls with content null": lambda d: d.completion["choices"][0]["message"]["content"] is None
    and bool(d.completion["choices"][0]["message"].get("tool_calls")),
    "finish on the last content delta": lambda d: any(
        c["choices"][0]["finish_reason"] and c["choices"][0]["delta"].get("content") for c in d.chunks if c["choices"]),
}


@pytest.mark.parametrize("name", sorted(ODDITIES))
def test_every_oddity_is_drawn_by_the_seeded_source(name: str) -> None:
    space = ReplySpace(n=2, tools=space_for_weather().tools, include_usage=True)
    hits = sum(ODDITIES[name](draw_stream(SeededSource(random.Random(seed)), space)) for seed in range(400))
    assert hits > 0, name


@pytest.mark.parametrize("name", ["role-only first delta", "empty delta mid-stream", "tool arguments split",
                                  "interleaved choices", "finish on length mid-text", "usage chunk"])
def test_hypothesis_finds_each_oddity_and_shrinks_it(name: str) -> None:
    drawn = find(chunk_streams(tools=[WEATHER]), ODDITIES[name],
                 settings=settings(max_examples=3000, database=None, deadline=None, derandomize=True))
    assert ODDITIES[name](drawn)
    assert len(drawn.chunks) <= 12, drawn  # shrunk: only what the oddity needs
    same_reply(sdk_accumulate(drawn.chunks), drawn.completion)


def test_streams_shrink_to_the_real_apis_simplest_stream() -> None:
    drawn = find(chunk_streams(), lambda d: True)
    assert _deltas(drawn) == [{"role": "assistant", "content": "", "refusal": None}, {}]
    assert drawn.completion["choices"][0]["finish_reason"] == "stop"


# --- point 3: into the mock, both doors ------------------------------------------------------------------------


@FAST
@given(chunk_streams(tools=[WEATHER]))
def test_a_drawn_stream_is_sent_exactly_as_drawn_in_process(drawn: Any) -> None:
    mock = MockAI()  # one mock per example: never a function-scoped fixture under @given
    mock.queue(drawn, drawn)
    with mock.http_client() as http:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
        raw = http.post("/chat/completions", json={**body, "stream": True}, headers={"authorization": "Bearer k"})
        assert raw.content == drawn.sse()
        assert raw.headers["content-type"].startswith("text/event-stream")
        plain = http.post("/chat/completions", json=body, headers={"authorization": "Bearer k"})
        assert plain.json() == drawn.completion
    assert mock.calls.last.responder == "script"


@settings(max_examples=10, deadline=None)
@given(chunk_streams(tools=[WEATHER], n=2))
def test_the_sdk_streams_a_drawn_stream_from_the_mock(drawn: Any) -> None:
    mock = MockAI()
    mock.queue(drawn)
    with mock.client().chat.completions.stream(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                               tools=[WEATHER]) as stream:
        for _ in stream:
            pass
        final = stream.current_completion_snapshot.model_dump(mode="json")
    same_reply(final, drawn.completion)


def test_drawn_streams_over_the_socket_are_byte_identical() -> None:
    drawn = [draw_stream(SeededSource(random.Random(seed)), ReplySpace(n=2, include_usage=True))
             for seed in range(5)]
    mock = MockAI()
    mock.queue(*drawn)
    with mock.serve() as server, httpx.Client(base_url=server.base_url) as http:
        for d in drawn:
            res = http.post("/chat/completions", headers={"authorization": "Bearer k"}, json={
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": True})
            assert res.content == d.sse()
    completion = find(chat_completions(kinds=["tools"], tools=[WEATHER]), lambda c: True)
    mock.queue(completion)
    with mock.serve(), httpx.Client() as http_client:
        client = openai.OpenAI(base_url=mock.base_url, api_key="k", http_client=http_client)
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


# --- point 5: the default generator inside the strategies' space ----------------------------------------------


class RecordingSource(RandomSource):
    """A seeded source that records each primitive it returns, to check Hypothesis could return it too."""

    def __init__(self, inner: RandomSource) -> None:
        super().__init__(inner.rng, inner.words)
        self.log: list[tuple[str, Any, Any]] = []

    def integer(self, lo: int, hi: int) -> int:
        v = super().integer(lo, hi)
        self.log.append(("integer", (lo, hi), v))
        return v

    def number(self, lo: float, hi: float) -> float:
        v = super().number(lo, hi)
        self.log.append(("number", (lo, hi), v))
        return v

    def word(self) -> str:
        v = super().word()
        self.log.append(("word", (), v))
        return v


def in_hypothesis_domain(kind: str, args: Any, value: Any) -> bool:
    """Whether HypothesisSource's primitive ``kind`` can return ``value`` (see mockai.strategies)."""
    if kind == "integer":
        return bool(args[0] <= value <= args[1])
    if kind == "number":
        return bool(args[0] <= value <= args[1])  # floats in range; value_for clamps to the same range
    return is_word(value)


@settings(max_examples=60, deadline=None)
@given(chat_requests())
def test_every_generated_reply_lies_in_the_strategies_space(body: dict[str, Any]) -> None:
    _, request = parse_chat(body)
    generator = Generator()
    sources: list[RecordingSource] = []
    make = generator._source
    generator._source = lambda rng: sources.append(RecordingSource(make(rng))) or sources[-1]  # type: ignore
    reply = generator.generate(prompt_of(request), key=b"point-5", seed=7)
    # The same validity predicates every drawn reply satisfies...
    assert reply_problems(reply, space_for(prompt_of(request))) == []
    # ...and every primitive the generator drew for JSON is one the Hypothesis source can draw, so value_for
    # (one implementation for both) would build the same arguments and structured outputs under Hypothesis.
    for source in sources:
        for kind, args, value in source.log:
            assert in_hypothesis_domain(kind, args, value), (kind, args, value)
    # Its stream is one the strategies' splitter covers (token-sized pieces, the real API's first delta).
    engine = Engine(Config(clock=1_700_000_000))
    from conftest import post, sse_chunks

    plain = post(engine, {k: v for k, v in body.items() if k not in ("stream", "stream_options")})
    streamed = post(engine, {**body, "stream": True})
    assert plain.status == streamed.status == 200
    completion = plain.json()
    chunks = sse_chunks(streamed)
    for chunk in chunks:
        chunk["id"] = completion["id"]  # ids differ per call by design; everything else is shared
    assert stream_problems(chunks, completion) == []
    same_reply(sdk_accumulate(chunks), completion)
    # Its usage is one the strategies draw too.
    assert usage_problems(completion["usage"], reply, space_for(prompt_of(request)), completion["model"]) == []


@settings(max_examples=40, deadline=None)
@given(chat_requests(models=("o3-mini", "o4-mini", "gpt-5")))
def test_a_reasoning_models_generated_usage_lies_in_the_strategies_space(body: dict[str, Any]) -> None:
    from conftest import post

    from mockai.rules import from_completion

    _, request = parse_chat(body)
    res = post(Engine(Config(clock=1_700_000_000)), {k: v for k, v in body.items() if k not in ("stream",
                                                                                                "stream_options")})
    assert res.status == 200, res.content()
    completion = res.json()
    assert usage_problems(completion["usage"], from_completion(completion), space_for(prompt_of(request)),
                          completion["model"]) == []


# --- eager argument checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "message"), [
    (lambda: chunk_streams(n=0), r"chunk_streams\(\): n must be an integer from 1 to 128"),
    (lambda: chunk_streams(tools=[{"type": "function", "function": {"name": "bad name"}}]),
     r"tools\[0\].function.name must match"),
    (lambda: chunk_streams(tools=[{"name": "f"}]), r"tools\[0\] must be \{'type': 'function'"),
    (lambda: chunk_streams(tool_choice="get_weather"), r"tool_choice must be 'auto', 'none', 'required' or the name"),
    (lambda: chat_completions(finish_reasons=["done"]), r"finish_reasons must be a non-empty subset"),
    (lambda: chat_completions(max_tokens=3, finish_reasons=["stop"]), r"finish_reasons must include 'length'"),
    (lambda: chat_completions(stop=["a", "b", "c", "d", "e"]), r"stop must be a non-empty string or up to 4"),
    (lambda: chat_completions(kinds=["tools"]), r"no reply fits"),
    (lambda: chat_completions(logprobs=21), r"logprobs must be None or a number of top_logprobs from 0 to 20"),
    (lambda: chat_completions(response_format={"type": "xml"}), r"response_format type must be"),
    # The Responses API's flat text.format shape: the server's 400 says 'response_format.json_schema' is missing.
    (lambda: chat_completions(response_format={"type": "json_schema", "name": "p", "schema": PERSON, "strict": True}),
     r"nests its schema in chat completions: \{'type': 'json_schema', 'json_schema': \{'name': .*"
     r"the Responses API's text.format shape"),
    (lambda: chunk_streams(response_format={"type": "json_schema"}), r"'json_schema': \{'name': \.\.\., 'schema'"),
    # A Responses-style tool_choice: the message shows what was given, not "None".
    (lambda: chunk_streams(tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}),
     r"tool_choice must be .*; got \{'type': 'function', 'name': 'get_weather'\}"),
    (lambda: json_for_schema({"type": "string", "enum": []}), r"the schema admits no value mockai can make: an empty "
     r"enum admits no value$"),
    (lambda: chat_completions(for_request={"model": "m", "messages": []}), r"for_request is not a valid request"),
    (lambda: json_for_schema({"type": "string", "minLength": 5, "maxLength": 2}), r"minLength 5 is above maxLength 2"),
    (lambda: json_for_schema("string"), r"schema must be a JSON schema object or a boolean, got str"),  # type: ignore
    (lambda: tool_calls(for_tools=[]), r"for_tools must name at least one function tool"),
    (lambda: api_errors(statuses=[418]), r"statuses must be a non-empty subset"),
    (lambda: tools(min_size=3, max_size=1), r"need 0 <= min_size <= max_size"),
    (lambda: messages(max_turns=0), r"max_turns must be a positive integer"),
    (lambda: chat_requests(models=[]), r"models must be non-empty model names"),
])
def test_arguments_are_checked_eagerly(make: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make()


def test_for_request_takes_every_constraint_from_the_request() -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "n": 2,
               "tools": [WEATHER], "tool_choice": "required", "stream": True,
               "stream_options": {"include_usage": True}}
    drawn = find(chunk_streams(for_request=request), lambda d: True)
    assert len(drawn.completion["choices"]) == 2
    assert all(c["message"]["tool_calls"] for c in drawn.completion["choices"])
    assert drawn.chunks[-1]["choices"] == []


def test_hypothesis_source_is_a_shapes_source() -> None:
    from mockai.shapes import Source

    def check(src: Source) -> None:
        assert src.integer(1, 1) == 1

    check(HypothesisSource(lambda s: find(s, lambda v: True)))


@settings(max_examples=60, derandomize=True)
@given(api_errors(statuses=[429]))
def test_drawn_429s_have_the_real_types_and_a_retry_after_never_early(err: APIError) -> None:
    if err.code == "insufficient_quota":
        assert err.type == "insufficient_quota"
    else:
        assert err.code == "rate_limit_exceeded"
        assert err.type in ("requests", "tokens")
        assert err.headers[f"x-ratelimit-remaining-{err.type}"] == "0"
        assert f"on {err.type} per min" in err.message
    assert int(err.headers["retry-after"]) * 1000 >= int(err.headers["retry-after-ms"])
    for unit in ("requests", "tokens"):
        assert re.fullmatch(r"0s|[1-9]\d{0,2}ms|(\d+h)?(\d+m)?\d+(\.\d+)?s", err.headers[f"x-ratelimit-reset-{unit}"])


def test_drawn_429s_agree_with_mockais_own() -> None:
    from mockai.engine import HTTPRequest

    mock = MockAI()
    mock.fault("429")
    mock.fault("quota")
    req = HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"},
                      body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}')
    ours = [json.loads(mock.engine.handle(req).body)["error"] for _ in range(2)]
    drawn = [find(api_errors(statuses=[429]), lambda e, c=code: e.code == c).envelope()["error"]  # type: ignore[misc]
             for code in ("rate_limit_exceeded", "insufficient_quota")]
    assert [(e["type"], e["code"]) for e in ours] == [(e["type"], e["code"]) for e in drawn]
    assert ours[1]["message"] == drawn[1]["message"]


# --- audit regressions -----------------------------------------------------------------------------------------


def _top_counts(completion: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(t["token"], [a["token"] for a in t["top_logprobs"]])
            for c in completion["choices"] for t in (c["logprobs"] or {}).get("content") or []]


def test_top_logprobs_0_sends_no_alternatives_and_n_sends_the_token_among_n() -> None:
    """The real API and the generator (``logprobs_for``: ``top[:top_n]``) send ``"top_logprobs": []`` per token
    for ``logprobs`` with ``top_logprobs`` 0 or unset; drawn replies sent one (the token itself)."""
    fast = settings(max_examples=200, database=None, deadline=None, derandomize=True)
    none = find(chat_completions(logprobs=0, n=1, kinds=["text"]),
                lambda c: bool(c["choices"][0]["message"]["content"]), settings=fast)
    assert _top_counts(none)
    assert all(top == [] for _, top in _top_counts(none)), _top_counts(none)
    three = find(chat_completions(logprobs=3, n=1, kinds=["text"]),
                 lambda c: bool(c["choices"][0]["message"]["content"]), settings=fast)
    assert all(len(top) == 3 and top[0] == token for token, top in _top_counts(three))
    for seed in range(30):  # the seeded source (the fuzz responder's) alike
        drawn = draw_stream(SeededSource(random.Random(seed)), ReplySpace(logprobs=0, kinds=("text",)))
        assert all(top == [] for _, top in _top_counts(drawn.completion))
        chunks = [lp for ch in drawn.chunks for c in ch["choices"] for lp in (c["logprobs"] or {}).get("content") or []]
        assert all(lp["top_logprobs"] == [] for lp in chunks)


def test_no_text_before_tool_calls_is_content_null_never_empty() -> None:
    """``assistant_messages()``: "content None with tool calls or a refusal", as the real reply (and the
    generator's) has; drawn tool calls came with ``content: ""`` when the text before them was drawn empty (or
    was all a stop sequence). Streamed, such a choice starts as the generator's does: ``content: null``."""
    spaces = [ReplySpace(tools=space_for_weather().tools, kinds=("tools",), finish_reasons=("tool_calls",)),
              ReplySpace(tools=space_for_weather().tools, kinds=("tools",), stop=(" ", "e", "a"))]
    without_text = 0
    for space in spaces:
        for seed in range(600):
            drawn = draw_stream(SeededSource(random.Random(seed)), space)
            for choice, wire_choice in zip(drawn.reply.choices, drawn.completion["choices"], strict=True):
                if choice.tool_calls:
                    assert choice.content != "", seed
                    assert wire_choice["message"]["content"] != "", seed
                    without_text += choice.content is None
            first = drawn.chunks[0]["choices"][0]["delta"]
            if drawn.completion["choices"][0]["message"]["content"] is None and "content" in first:
                assert first == {"role": "assistant", "content": None, "refusal": None}
                assert sdk_accumulate(drawn.chunks)["choices"][0]["message"]["content"] is None
    assert without_text > 0
    with pytest.raises(Exception, match="No examples found"):
        find(assistant_messages(tools=[WEATHER], kinds=["tools"]),
             lambda m: bool(m.get("tool_calls")) and m["content"] == "",
             settings=settings(max_examples=300, database=None, deadline=None, derandomize=True))


def test_reasoning_models_draw_reasoning_tokens_counted_within_completion_tokens() -> None:
    """Chat replies of a reasoning model (o3-mini, gpt-5...) now and then reason: ``reasoning_tokens`` > 0 within
    ``completion_tokens`` (and within ``max_tokens``), ``total = prompt + completion``; other models never."""
    seen = set()
    for seed in range(60):
        for model, limit in (("o3-mini-2025-01-31", None), ("gpt-5-2025-08-07", 40), ("gpt-4o-mini-2024-07-18", None)):
            space = ReplySpace(n=2, model=model, max_tokens=limit)
            drawn = draw_stream(SeededSource(random.Random(seed)), space)
            usage = drawn.completion["usage"]
            thinking = usage["completion_tokens_details"]["reasoning_tokens"]
            assert usage_problems(usage, drawn.reply, space, model) == []
            assert usage["completion_tokens"] == sum(c.completion_tokens() for c in drawn.reply.choices) + thinking
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
            if limit is not None:
                assert usage["completion_tokens"] <= limit * 2
            if model.startswith("gpt-4o"):
                assert thinking == 0
            else:
                seen.add(model if thinking > 0 else None)
    assert {"o3-mini-2025-01-31", "gpt-5-2025-08-07"} <= seen
    found = find(chat_completions(model="o3-mini-2025-01-31"),
                 lambda c: c["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0,
                 settings=settings(max_examples=300, database=None, deadline=None, derandomize=True))
    strict_completion(found)
    assert found["usage"]["completion_tokens"] >= found["usage"]["completion_tokens_details"]["reasoning_tokens"]


def test_the_module_example_draws_streams_its_request_can_be_answered_with() -> None:
    """The example atop mockai.strategies queues a drawn stream for a client that sends no ``n``: it must draw one
    choice (``chunk_streams()`` draws 1 to 3, and the mock then serves 2 or 3 choices to an n=1 request)."""
    import mockai.strategies as module

    assert module.__doc__ is not None
    call = re.search(r"@given\((chunk_streams\([^)]*\))\)", module.__doc__)
    assert call is not None
    strategy = eval(call.group(1), vars(module))  # the module's own example

    @settings(max_examples=25, database=None, deadline=None, derandomize=True)
    @given(strategy)
    def check(drawn: Any) -> None:
        mock = MockAI()
        mock.queue(drawn)
        stream = mock.client().chat.completions.create(model="gpt-4o-mini", stream=True,
                                                       messages=[{"role": "user", "content": "Hi"}])
        assert {c.index for chunk in stream for c in chunk.choices} == {0}

    check()
