"""The fuzz responder on the Responses API (``MockAI(responder="fuzz")``, ``mockai serve --responder fuzz``):
every reply and every stream is valid by the official schema and the SDK's types, each stream reassembles to its
response (the grammar walked event by event, and the SDK's own stream helper), replies stay within what the
request allows, they are deterministic per (seed, request), and the awkward shapes the responder exists for do
turn up: one code point per delta, ZWJ emoji split between deltas, two messages, a message then calls, reasoning
summary parts before the text, annotations with their events, refusals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.lib._parsing._responses import type_to_text_format_param
from responses_spec import allowed, sse_events, strict_response, without_ids

from mockai import MockAI
from mockai.engine import HTTPRequest
from mockai.response_checks import reassemble, stream_problems
from mockai.tokens import split

AUTH = {"authorization": "Bearer sk-test"}
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
          "required": ["city"]}
STRICT = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
          "required": ["city", "days"], "additionalProperties": False}
WEATHER = {"type": "function", "name": "get_weather", "parameters": PARAMS}
TIME = {"type": "function", "name": "get_time", "parameters": STRICT, "strict": True}
SQL = {"type": "custom", "name": "run_sql", "format": {"type": "grammar", "syntax": "regex",
                                                       "definition": "SELECT [a-z]+ FROM t"}}
NOTE = {"type": "custom", "name": "note"}
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
          "required": ["name", "age"], "additionalProperties": False}

# Requests that constrain the reply in every way the responder honours.
KINDS: dict[str, dict[str, Any]] = {
    "plain": {"model": "gpt-4o-mini"},
    "tools auto": {"model": "gpt-4.1", "tools": [WEATHER, TIME, SQL, NOTE]},
    "tools required, one at a time": {"model": "gpt-4o-mini", "tools": [WEATHER, NOTE], "tool_choice": "required",
                                      "parallel_tool_calls": False},
    "a named function": {"model": "gpt-4o-mini", "tools": [WEATHER, TIME],
                         "tool_choice": {"type": "function", "name": "get_time"}},
    "a named custom tool": {"model": "gpt-4o-mini", "tools": [WEATHER, SQL],
                            "tool_choice": {"type": "custom", "name": "run_sql"}},
    "allowed tools": {"model": "gpt-4o-mini", "tools": [WEATHER, TIME, NOTE], "tool_choice": {
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]}},
    "tools none": {"model": "gpt-4o-mini", "tools": [WEATHER], "tool_choice": "none"},
    "json_schema": {"model": "gpt-4o-mini", "text": {"format": {"type": "json_schema", "name": "person",
                                                                 "schema": PERSON, "strict": True}}},
    "json_object": {"model": "gpt-4o-mini", "text": {"format": {"type": "json_object"}}},
    "max_output_tokens": {"model": "gpt-4o-mini", "max_output_tokens": 16, "tools": [WEATHER]},
    "reasoning with a summary": {"model": "o4-mini", "reasoning": {"effort": "low", "summary": "auto"},
                                 "tools": [WEATHER], "include": ["reasoning.encrypted_content"]},
    "reasoning without a summary": {"model": "gpt-5", "max_output_tokens": 64},
    "logprobs": {"model": "gpt-4o-mini", "include": ["message.output_text.logprobs"], "top_logprobs": 3},
}
INPUTS = [f"Question {i}: what about Oslo and Paris?" for i in range(14)]


def body(kind: str, text: str, **extra: Any) -> dict[str, Any]:
    out = {**KINDS[kind], "input": text, **extra}
    if kind in ("json_object",):
        out["input"] = text + " Answer in JSON."
    return out


def post(mock: MockAI, payload: dict[str, Any]) -> Any:
    res = mock.engine.handle(HTTPRequest("POST", "/v1/responses", headers=AUTH, body=json.dumps(payload).encode()))
    assert res.status == 200, res.body[:500]
    return res


@pytest.mark.parametrize("kind", KINDS)
def test_every_fuzzed_response_and_stream_is_valid_reassembles_and_stays_within_the_request(kind: str) -> None:
    mock = MockAI(responder="fuzz", seed=5, clock=1_700_000_000)
    for text in INPUTS:
        payload = body(kind, text)
        plain = strict_response(post(mock, payload).json())
        assert allowed(payload, plain) == [], (payload, plain)
        events = sse_events(post(mock, {**payload, "stream": True}).content())
        assert stream_problems(events) == []
        final = events[-1]["response"]
        assert without_ids(final) == without_ids(plain)  # the same reply, streamed (invariant 3)
        assert without_ids(reassemble(events)) == without_ids(plain["output"])


def test_the_sdk_reads_every_fuzzed_response_and_stream() -> None:
    mock = MockAI(responder="fuzz", seed=8)
    client = mock.client()
    finals = 0
    for kind in KINDS:
        for text in INPUTS[:6]:
            payload = body(kind, text)
            created = client.responses.create(**payload)
            with client.responses.stream(**payload) as stream:
                deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
                if created.status == "completed":
                    final = stream.get_final_response()
                    assert final.output_text == created.output_text == deltas
                    finals += 1
                else:  # the SDK's helper wants response.completed: an incomplete stream must say so
                    with pytest.raises(RuntimeError, match=r"response\.completed"):
                        stream.get_final_response()
    assert finals > 20


class Person(pydantic.BaseModel):
    name: str
    age: int


FORMAT = type_to_text_format_param(Person)  # what responses.parse sends


def test_structured_outputs_parse_with_the_sdk_sync_and_async() -> None:
    mock = MockAI(responder="fuzz", seed=2)
    client = mock.client()
    parsed = 0
    for text in INPUTS:
        status = client.responses.create(model="gpt-4o-mini", input=text, text={"format": FORMAT}).status
        try:
            got = client.responses.parse(model="gpt-4o-mini", input=text, text_format=Person)
        except pydantic.ValidationError:  # JSON cut short: the SDK's parse fails on it, as on the real API's
            assert status == "incomplete"
            continue
        assert isinstance(got.output_parsed, Person) or got.output[0].content[0].type == "refusal"
        parsed += 1

    async def streamed() -> list[Any]:
        aclient = mock.async_client()
        out = []
        for text in INPUTS:
            status = (await aclient.responses.create(model="gpt-4o-mini", input=text,
                                                      text={"format": FORMAT})).status
            async with aclient.responses.stream(model="gpt-4o-mini", input=text, text_format=Person) as stream:
                try:
                    types = [event.type async for event in stream]
                except pydantic.ValidationError:  # output_text.done of JSON cut short: the SDK parses it
                    assert status == "incomplete"
                    continue
                if types[-1] == "response.completed":
                    out.append((await stream.get_final_response()).output_parsed)
        return out

    assert parsed >= 5
    finals = asyncio.run(streamed())
    assert len(finals) >= 5
    assert all(isinstance(p, Person) for p in finals if p is not None)


def _features(events: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    types = [e["type"] for e in events]
    items = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    deltas = [e["delta"] for e in events if e["type"].endswith(".delta")]
    if items.count("message") >= 2:
        out.add("two messages")
    if "message" in items and any(t.endswith("call") for t in items[items.index("message"):]):
        out.add("a message then calls")
    if items[:1] == ["reasoning"] and "message" in items:
        out.add("reasoning before text")
    if types.count("response.reasoning_summary_part.added") >= 2:
        out.add("several summary parts")
    if "response.output_text.annotation.added" in types:
        out.add("annotations")
    if "response.refusal.delta" in types:
        out.add("a refusal")
    if "response.custom_tool_call_input.delta" in types:
        out.add("custom tool input")
    if sum(len(d) == 1 for d in deltas) >= 8 and all(len(d) == 1 for d in deltas[-8:]):
        out.add("one code point per delta")
    joined = "".join(deltas)
    if "\u200d" in joined and any(d.endswith("\u200d") or d.startswith("\u200d") for d in deltas):
        out.add("a ZWJ sequence split between deltas")
    if any(len(split(d)) > 1 for d in deltas) or events[-1]["type"] == "response.incomplete":
        out.add("pieces larger than a token, or a cut")
    return out


def test_the_awkward_shapes_turn_up() -> None:
    mock = MockAI(responder="fuzz", seed=1)
    seen: set[str] = set()
    for i in range(150):
        kind = ("plain", "tools auto", "reasoning with a summary")[i % 3]
        seen |= _features(sse_events(post(mock, body(kind, f"Tell me about item {i}.", stream=True)).content()))
    assert seen == {"two messages", "a message then calls", "reasoning before text", "several summary parts",
                    "annotations", "a refusal", "custom tool input", "one code point per delta",
                    "a ZWJ sequence split between deltas", "pieces larger than a token, or a cut"}


def test_deterministic_per_seed_and_request() -> None:
    payload = body("reasoning with a summary", "Same question")

    def answers(seed: int) -> list[bytes]:
        mock = MockAI(responder="fuzz", seed=seed, clock=1_700_000_000)
        return [post(mock, payload).content(), post(mock, {**payload, "stream": True}).content()]

    first = answers(4)
    assert answers(4) == first
    assert answers(5) != first
    other = MockAI(responder="fuzz", seed=4, clock=1_700_000_000)
    assert post(other, {**payload, "input": "Another question"}).content() != first[0]


def test_over_the_socket_with_wire_fragments() -> None:
    """What ``mockai serve --responder fuzz`` sends: fragments of events, and of UTF-8 characters, on the wire."""
    mock = MockAI(responder="fuzz", seed=6, fuzz_fragments=1.0, clock=1_700_000_000)
    with mock.serve() as server, openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        for text in INPUTS[:5]:
            payload = body("tools auto", text)
            created = client.responses.create(**payload)
            with httpx.stream("POST", server.base_url + "/responses", json={**payload, "stream": True},
                              headers=AUTH, timeout=10) as res:
                writes = list(res.iter_raw())
            events = sse_events(b"".join(writes))
            assert stream_problems(events) == []
            assert without_ids(events[-1]["response"]) == without_ids(created.model_dump(mode="json",
                                                                                         exclude_unset=True))
            with client.responses.stream(**payload) as stream:
                deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
            assert deltas == created.output_text
    assert {c.responder for c in mock.calls} == {"fuzz"}


def test_scripted_rules_answer_first_and_a_content_fault_rewrites_a_fuzzed_reply() -> None:
    mock = MockAI(responder="fuzz", seed=3)
    mock.on(last_user="scripted").reply("Exactly this.")
    mock.on(last_user="truncate").fault("length")
    client = mock.client()
    assert client.responses.create(model="gpt-4o-mini", input="scripted please").output_text == "Exactly this."
    for i in range(5):
        payload = {"model": "o4-mini", "input": f"truncate {i}", "reasoning": {"summary": "auto"}}
        plain = strict_response(post(mock, payload).json())
        assert plain["status"] == "incomplete"
        events = sse_events(post(mock, {**payload, "stream": True}).content())
        assert stream_problems(events) == []
    assert [c.responder for c in mock.calls][:1] == ["script"]


@pytest.mark.parametrize("responder", ["default", "fuzz"])
def test_a_custom_tools_grammar_holds_for_either_responder(responder: str) -> None:
    """A regression: the Responses API sends a custom tool's grammar flat (``format.syntax``), chat nests it
    (``format.grammar.syntax``); the generator read only the nested form, so Responses inputs ignored it. And the
    echoed tool left ``description: null``, which the schema does not allow."""
    import re

    mock = MockAI(responder=responder, seed=9)
    for i in range(6):
        payload = {"model": "gpt-4o-mini", "input": f"Run query {i}", "tools": [SQL],
                   "tool_choice": {"type": "custom", "name": "run_sql"}}
        response = strict_response(post(mock, payload).json())
        assert "description" not in response["tools"][0]
        calls = [item for item in response["output"] if item["type"] == "custom_tool_call"]
        if response["status"] == "completed":
            assert calls
            assert all(re.fullmatch(SQL["format"]["definition"], c["input"]) for c in calls), calls


@pytest.mark.parametrize("module", ["mockai.fuzz", "mockai.response_shapes", "mockai.response_checks",
                                    "mockai.responses.render"])
def test_the_examples_in_the_docstrings_hold(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0


def test_logprobs_without_top_logprobs_send_no_alternatives() -> None:
    """``include: ["message.output_text.logprobs"]`` without ``top_logprobs``: ``top_logprobs: []`` per token (the
    fuzz responder sent the token itself); with ``top_logprobs`` n, n alternatives, the token first."""
    mock = MockAI(responder="fuzz", seed=3, clock=1_700_000_000)
    seen = 0
    for i in range(10):
        for extra, want in (({}, 0), ({"top_logprobs": 0}, 0), ({"top_logprobs": 2}, 2)):
            payload = {"model": "gpt-4o-mini", "input": f"hi {i}", "include": ["message.output_text.logprobs"],
                       **extra}
            response = post(mock, payload).json()
            for item in response["output"]:
                for part in item.get("content") or [] if item["type"] == "message" else []:
                    for lp in part.get("logprobs") or []:
                        assert len(lp["top_logprobs"]) == want, (extra, lp)
                        assert not want or lp["top_logprobs"][0]["token"] == lp["token"]
                        seen += 1
    assert seen > 0


def test_a_format_schema_no_value_satisfies_is_a_400_on_every_request() -> None:
    """As for chat: the fuzz responder checks the schemas up front, not only when it draws JSON or a call."""
    schema = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5, "maximum": 1}},
              "required": ["a"]}
    for responder in ("default", "fuzz"):
        mock = MockAI(responder=responder, seed=0, clock=1_700_000_000)
        errors = set()
        for i in range(20):
            payload = {"model": "gpt-4o-mini", "input": f"q{i}",
                       "text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}}
            res = mock.engine.handle(HTTPRequest("POST", "/v1/responses", headers=AUTH,
                                                 body=json.dumps(payload).encode()))
            assert res.status == 400, (responder, i, res.body[:300])
            error = json.loads(res.body)["error"]
            errors.add((error["message"], error["param"], error["code"]))
        assert len(errors) == 1, errors
        if responder == "default":
            want = errors
    assert errors == want
