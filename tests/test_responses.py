"""The Responses API driven by the real ``openai`` SDK, through both doors (in-process and a real socket), sync and
async: ``responses.create`` / ``stream`` / ``parse`` / ``retrieve`` / ``delete`` / ``cancel`` / ``input_items`` /
``input_tokens`` / ``compact`` and the conversations API.

Every test runs on a :class:`Door`; when it ends, every answer in the mock's journal is held to the official schema,
the SDK's types in strict mode and the stream grammar (:func:`responses_wire.check_journal`), so a test checks the
wire of everything it sent, not only what it asserts.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any, Literal

import jsonschema
import openai
import pytest
from openai.types.conversations import ConversationItem, ConversationItemList
from openai.types.responses import ParsedResponse, Response, ResponseItem, ResponseItemList
from pydantic import BaseModel
from responses_wire import CLOCK, Door, check_journal, close_door, follow, open_door, sse_events, strict_response

from mockai import MockAI

MODEL = "gpt-4o-mini"
WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]},
                   "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}
WEATHER: dict[str, Any] = {"type": "function", "name": "get_weather", "description": "Weather in a city.",
                           "parameters": WEATHER_PARAMS, "strict": True}
# Not strict: an open object with an optional field, as many hand-written tools are.
SEARCH: dict[str, Any] = {"type": "function", "name": "search_docs", "strict": False,
                          "parameters": {"type": "object", "properties": {"query": {"type": "string", "minLength": 3},
                                                                          "limit": {"type": "integer"}},
                                         "required": ["query"]}}
SQL: dict[str, Any] = {"type": "custom", "name": "run_sql", "description": "Runs one SQL query.",
                       "format": {"type": "grammar", "syntax": "regex", "definition": r"SELECT [a-z]+ FROM [a-z]+"}}
NOTE: dict[str, Any] = {"type": "custom", "name": "write_note"}
PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
                   "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                   "role": {"type": "string", "enum": ["admin", "user"]}},
    "required": ["name", "age", "tags", "role"],
    "additionalProperties": False,
}


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]
    role: Literal["admin", "user"]


@pytest.fixture(params=["in-process", "socket"])
def door(request: pytest.FixtureRequest) -> Iterator[Door]:
    d = open_door(request.param)
    yield d
    close_door(d)


@pytest.fixture
def client(door: Door) -> openai.OpenAI:
    return door.client()


def stored(client: openai.OpenAI, response: Response) -> Response:
    """The stored copy of ``response``, which must be byte-for-byte the same object."""
    again = client.responses.retrieve(response.id)
    assert again.model_dump() == response.model_dump()
    return again


def same(a: Response, b: Response) -> bool:
    """The same response, whether the SDK parsed it as a ``ParsedResponse`` (which adds ``parsed`` to text parts
    and ``parsed_arguments`` to function calls) or as a ``Response``."""
    return _unparsed(a.model_dump()) == _unparsed(b.model_dump())


def _unparsed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unparsed(v) for k, v in value.items() if k not in ("parsed", "parsed_arguments")}
    if isinstance(value, list):
        return [_unparsed(v) for v in value]
    return value


def text_of(response: Response) -> str:
    return "".join(p.text for item in response.output if item.type == "message"
                   for p in item.content if p.type == "output_text")


# --- responses.create -----------------------------------------------------------------------------------------


def test_create_text(door: Door, client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Write two sentences about lighthouses.",
                                instructions="Be brief.", metadata={"run": "7"}, temperature=0.5)
    assert r.status == "completed"
    assert r.error is None
    assert r.incomplete_details is None
    assert r.id.startswith("resp_")
    assert r.created_at == CLOCK
    assert r.model.startswith(MODEL + "-")
    assert [item.type for item in r.output] == ["message"]
    message = r.output[0]
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.id.startswith("msg_")
    assert r.output_text
    assert r.output_text == text_of(r)
    assert (r.instructions, r.metadata, r.temperature, r.top_p) == ("Be brief.", {"run": "7"}, 0.5, 1.0)
    assert r.store is True
    assert r.background is False
    assert r.previous_response_id is None
    usage = r.usage
    assert usage is not None
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.output_tokens_details.reasoning_tokens == 0
    stored(client, r)
    call = door.mock.calls.last
    assert call.route == "responses.retrieve"
    assert door.mock.calls[0].prompt is not None
    assert door.mock.calls[0].prompt.texts == [
        "Be brief.", "Write two sentences about lighthouses."]


def test_same_request_same_content_new_ids(client: openai.OpenAI) -> None:
    a = client.responses.create(model=MODEL, input="Tell me about tides.")
    b = client.responses.create(model=MODEL, input="Tell me about tides.")
    assert a.output_text == b.output_text
    assert a.id != b.id
    assert a.output[0].id != b.output[0].id


@pytest.mark.parametrize("tool", [WEATHER, SEARCH], ids=["strict", "not-strict"])
def test_function_tools(client: openai.OpenAI, tool: dict[str, Any]) -> None:
    r = client.responses.create(model=MODEL, input="Look this up for me.", tools=[tool], tool_choice="required")
    calls = [item for item in r.output if item.type == "function_call"]
    assert calls
    assert all(c.name == tool["name"] for c in calls)
    for c in calls:
        assert c.call_id.startswith("call_")
        assert c.id is not None
        assert c.id.startswith("fc_")
        assert c.status == "completed"
        jsonschema.validate(json.loads(c.arguments), tool["parameters"])
    shown = r.tools[0]
    assert shown.type == "function"
    assert shown.name == tool["name"]
    assert shown.strict is tool["strict"]
    assert r.tool_choice == "required"
    stored(client, r)


def test_custom_tools(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Query the users table.", tools=[SQL, NOTE],
                                tool_choice={"type": "custom", "name": "run_sql"})
    [call] = r.output
    assert call.type == "custom_tool_call"
    assert call.name == "run_sql"
    assert call.call_id.startswith("call_")
    assert call.input.startswith("SELECT ")
    assert " FROM " in call.input
    assert r.tool_choice.type == "custom"
    assert r.tool_choice.name == "run_sql"
    free = client.responses.create(model=MODEL, input="Write a note.", tools=[NOTE], tool_choice="required")
    assert [i.type for i in free.output] == ["custom_tool_call"]
    assert free.output[0].input


def test_tool_choice_forms(client: openai.OpenAI) -> None:
    tools = [WEATHER, SEARCH, SQL]
    ask = "Check the weather in Oslo and search the docs."
    none = client.responses.create(model=MODEL, input=ask, tools=tools, tool_choice="none")
    assert [i.type for i in none.output] == ["message"]
    named = client.responses.create(model=MODEL, input=ask, tools=tools,
                                    tool_choice={"type": "function", "name": "search_docs"})
    assert [(i.type, getattr(i, "name", None)) for i in named.output] == [("function_call", "search_docs")]
    allowed = client.responses.create(model=MODEL, input=ask, tools=tools, tool_choice={
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]})
    assert allowed.output
    assert {getattr(i, "name", None) for i in allowed.output} == {"get_weather"}
    assert allowed.tool_choice.type == "allowed_tools"  # type: ignore[union-attr]
    seen = set()
    for n in range(12):  # auto: sometimes text, sometimes a call, never a tool that was not offered
        r = client.responses.create(model=MODEL, input=f"Question {n}: anything new?", tools=tools)
        seen.add(r.output[0].type)
        assert all(getattr(i, "name", "get_weather") in ("get_weather", "search_docs", "run_sql") for i in r.output)
    assert seen == {"message", "function_call", "custom_tool_call"} or (seen >= {"message"} and len(seen) >= 2)


def test_parallel_tool_calls(client: openai.OpenAI) -> None:
    ask = "What's the weather in Oslo and in Paris?"
    counts = set()
    for n in range(10):
        r = client.responses.create(model=MODEL, input=f"{ask} ({n})", tools=[WEATHER], tool_choice="required")
        counts.add(len(r.output))
        ids = [i.call_id for i in r.output if i.type == "function_call"]
        assert len(set(ids)) == len(ids)
        single = client.responses.create(model=MODEL, input=f"{ask} ({n})", tools=[WEATHER], tool_choice="required",
                                         parallel_tool_calls=False)
        assert len(single.output) == 1
        assert single.parallel_tool_calls is False
    assert counts == {1, 2}


def test_text_formats(client: openai.OpenAI) -> None:
    obj = client.responses.create(model=MODEL, input="Answer in JSON.", text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(obj.output_text), dict)
    assert obj.text.format is not None
    assert obj.text.format.type == "json_object"
    fmt = {"type": "json_schema", "name": "person", "schema": PERSON_SCHEMA, "strict": True}
    for n in range(5):
        r = client.responses.create(model=MODEL, input=f"Describe person {n}.", text={"format": fmt})  # type: ignore[typeddict-item]
        jsonschema.validate(json.loads(r.output_text), PERSON_SCHEMA)
    shown = r.text.format
    assert shown is not None
    assert shown.type == "json_schema"
    assert shown.name == "person"
    assert shown.strict is True


def test_max_output_tokens_is_incomplete(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Write a long essay about the history of lighthouses.",
                                max_output_tokens=16)
    assert r.status == "incomplete"
    assert r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage is not None
    assert 0 < r.usage.output_tokens <= 16
    assert r.output[0].status == "incomplete"
    assert r.max_output_tokens == 16
    stored(client, r)


@pytest.mark.parametrize("model", ["o3", "gpt-5"])
def test_reasoning_models(client: openai.OpenAI, model: str) -> None:
    plain = client.responses.create(model=model, input="Why is the sky blue?")
    assert [i.type for i in plain.output] == ["reasoning", "message"]
    reasoning = plain.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.id.startswith("rs_")
    assert reasoning.summary == []
    assert reasoning.encrypted_content is None
    assert plain.usage is not None
    assert plain.usage.output_tokens_details.reasoning_tokens > 0
    assert plain.usage.output_tokens > plain.usage.output_tokens_details.reasoning_tokens
    assert plain.reasoning is not None
    assert plain.reasoning.effort in ("low", "medium", "high")
    summed = client.responses.create(model=model, input="Why is the sky blue?",
                                     reasoning={"effort": "high", "summary": "auto"},
                                     include=["reasoning.encrypted_content"])
    first = summed.output[0]
    assert first.type == "reasoning"
    assert [s.type for s in first.summary] == ["summary_text"]
    assert first.summary[0].text
    assert first.encrypted_content
    assert summed.reasoning is not None
    assert (summed.reasoning.effort, summed.reasoning.summary) == ("high", "auto")
    called = client.responses.create(model=model, input="Weather in Oslo?", tools=[WEATHER], tool_choice="required")
    assert next(i.type for i in called.output) == "reasoning"
    assert called.output[-1].type == "function_call"
    stored(client, summed)


def test_a_reasoning_model_out_of_tokens_says_nothing(client: openai.OpenAI) -> None:
    """When the reasoning spends the whole ``max_output_tokens``, the output is the reasoning item alone (the real
    API sends no empty message), and a stream ends ``response.incomplete`` without a message item."""
    ask = "Explain the whole history of lighthouses in a long essay."
    r = client.responses.create(model="o3", input=ask, max_output_tokens=16)
    assert r.status == "incomplete"
    assert r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"
    assert [i.type for i in r.output] == ["reasoning"]
    assert r.output_text == ""
    assert r.usage is not None
    assert r.usage.output_tokens == r.usage.output_tokens_details.reasoning_tokens == 16
    events = list(client.responses.create(model="o3", input=ask, max_output_tokens=16, stream=True))
    assert [e.item.type for e in events if e.type == "response.output_item.added"] == ["reasoning"]
    assert events[-1].type == "response.incomplete"
    roomy = client.responses.create(model="o3", input=ask, max_output_tokens=4000)
    assert [i.type for i in roomy.output] == ["reasoning", "message"]


def test_reasoning_only_parameters_are_refused_on_other_models(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="Hi", reasoning={"effort": "high"})
    assert info.value.param is not None
    assert info.value.param.startswith("reasoning")


def test_what_a_model_takes_follows_the_model_catalogue(client: openai.OpenAI) -> None:
    """As chat's: GPT-5.1 and 5.2 do not reason unless asked, so they take sampling parameters at their default
    effort; a model the catalogue does not know takes every parameter, and its reply echoes the effort asked."""
    for model in ("gpt-5.1", "gpt-5.2"):
        r = client.responses.create(model=model, input="Hi", temperature=0.2)  # what pydantic-ai sends
        assert (r.temperature, r.reasoning and r.reasoning.effort) == (0.2, "none")
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model=model, input="Hi", temperature=0.2, reasoning={"effort": "low"})
        assert info.value.param == "temperature"
    # How OpenAI's computer-use guide calls it.
    cu = client.responses.create(model="computer-use-preview", input="Hi", reasoning={"summary": "concise"},
                                 truncation="auto")
    assert cu.reasoning is not None
    assert (cu.reasoning.effort, cu.reasoning.summary) == (None, "concise")
    newer = client.responses.create(model="gpt-5.4", input="Hi", reasoning={"effort": "high"}, temperature=0.5)
    assert newer.reasoning is not None
    assert newer.reasoning.effort == "high"
    deployment = client.responses.create(model="my-o4-mini", input="Hi", temperature=0.5,
                                         reasoning={"effort": "low", "summary": "auto"})
    assert deployment.reasoning is not None
    assert (deployment.reasoning.effort, deployment.reasoning.summary) == ("low", "auto")
    assert client.responses.create(model="gpt-5", input="Hi").reasoning.effort == "medium"  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-4o", input="Hi", reasoning={"effort": "low"})
    assert info.value.param == "reasoning.effort"


def test_service_tier_and_effort_are_open_enums(client: openai.OpenAI) -> None:
    """Values a newer SDK sends are accepted, as chat's; the reply's ``service_tier`` stays one every SDK parses
    (a tier mockai does not know is served by ``default``; ``ultrafast`` reports itself, as the SDK's type says)."""
    assert client.responses.create(model=MODEL, input="Hi", service_tier="some-new-tier").service_tier == "default"
    assert client.responses.create(model=MODEL, input="Hi", service_tier="ultrafast").service_tier == "ultrafast"
    assert client.responses.create(model=MODEL, input="Hi", service_tier="fast").service_tier == "priority"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="Hi", service_tier="")
    assert info.value.param == "service_tier"
    # The effort is echoed as asked: not a value this SDK's strict types know, so outside the journal's door.
    lenient = MockAI(seed=1).client()
    r = lenient.responses.create(model="gpt-5", input="Hi", reasoning={"effort": "ultra"})  # type: ignore[arg-type]
    assert r.reasoning is not None
    assert r.reasoning.effort == "ultra"


def test_logprobs(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Say something.", include=["message.output_text.logprobs"],
                                top_logprobs=3)
    part = r.output[0].content[0]  # type: ignore[union-attr]
    assert part.type == "output_text"
    assert part.logprobs
    assert "".join(lp.token for lp in part.logprobs) == part.text
    for lp in part.logprobs:
        assert lp.logprob <= 0
        assert len(lp.top_logprobs) == 3
        assert all(t.logprob <= 0 for t in lp.top_logprobs)
    assert r.top_logprobs == 3
    tokens: list[str] = []
    with client.responses.stream(model=MODEL, input="Say something else.", top_logprobs=2,
                                 include=["message.output_text.logprobs"]) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                assert [lp.token for lp in event.logprobs] == [event.delta]
                assert all(len(lp.top_logprobs or []) == 2 for lp in event.logprobs)
                tokens.append(event.delta)
        streamed = stream.get_final_response()
    assert [lp.token for lp in streamed.output[0].content[0].logprobs] == tokens  # type: ignore[union-attr]
    without = client.responses.create(model=MODEL, input="Say something.")
    assert without.output[0].content[0].logprobs == []  # type: ignore[union-attr]


def test_store_false_is_never_retrievable(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Forget me.", store=False)
    assert r.store is False
    assert r.output_text
    for action in (lambda: client.responses.retrieve(r.id), lambda: client.responses.input_items.list(r.id),
                   lambda: client.responses.delete(r.id)):
        with pytest.raises(openai.NotFoundError) as info:
            action()
        assert r.id in info.value.message
    with pytest.raises(openai.BadRequestError) as chained:
        client.responses.create(model=MODEL, input="And?", previous_response_id=r.id)
    assert chained.value.code == "previous_response_not_found"
    assert chained.value.param == "previous_response_id"


@pytest.mark.parametrize("label", [[], {"a": 1}])
def test_a_malformed_mcp_label_is_a_400(client: openai.OpenAI, label: Any) -> None:
    """A regression: an unhashable ``server_label`` on an MCP tool was a 500 when ``tool_choice`` named MCP."""
    for choice in ({"type": "mcp", "server_label": "wiki"},
                   {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "mcp", "server_label": "wiki"}]}):
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model=MODEL, input="Hi", tools=[{"type": "mcp", "server_label": label}],  # type: ignore[list-item]
                                    tool_choice=choice)  # type: ignore[arg-type]
        assert info.value.param is not None
        assert info.value.param.startswith("tool_choice")


def test_background_completes_on_first_retrieve(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Work on this in the background.", background=True)
    assert r.status == "queued"
    assert r.background is True
    assert r.output == []
    assert r.usage is None
    done = client.responses.retrieve(r.id)
    assert done.status == "completed"
    assert done.output_text
    assert done.usage is not None
    assert done.id == r.id
    assert client.responses.retrieve(r.id).model_dump() == done.model_dump()
    after = client.responses.cancel(r.id)  # already finished: cancelling changes nothing
    assert after.status == "completed"


def test_background_stream_is_queued_first(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model=MODEL, input="Stream in the background.", background=True,
                                          stream=True))
    assert [e.type for e in events[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert [e.response.status for e in events[:3]] == ["queued", "queued", "in_progress"]  # type: ignore[union-attr]
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed"
    assert final.background is True
    assert same(final, client.responses.retrieve(final.id))
    with client.responses.stream(response_id=final.id) as stream:  # the SDK's helper reads the queued event
        assert same(stream.get_final_response(), final)


def test_background_cancel_before_retrieve(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Long job.", background=True)
    cancelled = client.responses.cancel(r.id)
    assert cancelled.status == "cancelled"
    assert cancelled.output == []
    assert cancelled.id == r.id
    assert client.responses.retrieve(r.id).status == "cancelled"
    assert client.responses.cancel(r.id).status == "cancelled"
    plain = client.responses.create(model=MODEL, input="Not in the background.")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(plain.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_unknown")


# --- streams --------------------------------------------------------------------------------------------------


def test_stream_helper_text(client: openai.OpenAI) -> None:
    deltas: list[str] = []
    types: list[str] = []
    with client.responses.stream(model=MODEL, input="Tell me a story.", instructions="Short.") as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
                assert event.snapshot == "".join(deltas)
        final = stream.get_final_response()
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert len(deltas) > 1
    assert "".join(deltas) == final.output_text
    assert same(final, client.responses.retrieve(final.id))


def test_stream_helper_function_call(client: openai.OpenAI) -> None:
    deltas: list[str] = []
    with client.responses.stream(model=MODEL, input="Weather in Oslo?", tools=[WEATHER],
                                 tool_choice="required", parallel_tool_calls=False) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                deltas.append(event.delta)
                assert event.snapshot == "".join(deltas)
            elif event.type == "response.function_call_arguments.done":
                assert event.arguments == "".join(deltas)
                assert event.name == "get_weather"
        final = stream.get_final_response()
    [call] = final.output
    assert call.type == "function_call"
    assert call.arguments == "".join(deltas)
    assert len(deltas) > 1
    jsonschema.validate(json.loads(call.arguments), WEATHER_PARAMS)
    assert same(final, client.responses.retrieve(final.id))


def test_create_stream_true(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="o3", input="Explain tides.", reasoning={"summary": "detailed"},
                                          stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert "response.reasoning_summary_text.delta" in types
    assert "response.output_text.delta" in types
    last = events[-1]
    assert last.type == "response.completed"
    assert last.response.model_dump() == client.responses.retrieve(last.response.id).model_dump()


def test_stream_and_json_are_the_same_reply(door: Door, client: openai.OpenAI) -> None:
    """A stream reassembles to what the same request answers as JSON (content, tool calls, usage)."""
    for params in ({"input": "Describe a harbour."},
                   {"input": "Weather in Oslo and Bergen?", "tools": [WEATHER], "tool_choice": "required"},
                   {"input": "Query it.", "tools": [SQL], "tool_choice": "required"},
                   {"input": "Hmm?", "model": "o3", "reasoning": {"summary": "auto"}}):
        body = {"model": MODEL, **params}
        plain = client.responses.create(**body)
        events = list(client.responses.create(**body, stream=True))
        final = events[-1].response  # type: ignore[union-attr]
        strip = {"id", "created_at", "completed_at", "output"}
        assert {k: v for k, v in final.model_dump().items() if k not in strip} == {
            k: v for k, v in plain.model_dump().items() if k not in strip}
        assert [(i.type, getattr(i, "arguments", None), getattr(i, "input", None), getattr(i, "name", None))
                for i in final.output] == [
            (i.type, getattr(i, "arguments", None), getattr(i, "input", None), getattr(i, "name", None))
            for i in plain.output]
        assert final.output_text == plain.output_text


def test_stream_cut_by_max_output_tokens_ends_incomplete(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="Write a long essay about the history of lighthouses.",
                                 max_output_tokens=16) as stream:
        events = list(stream)
        assert events[-1].type == "response.incomplete"
        with pytest.raises(RuntimeError, match=r"response\.completed"):  # what the SDK does with a cut response
            stream.get_final_response()
    last = events[-1].response  # type: ignore[union-attr]
    assert last.status == "incomplete"
    assert last.incomplete_details.reason == "max_output_tokens"
    assert last.model_dump() == client.responses.retrieve(last.id).model_dump()


def test_stream_bytes(door: Door) -> None:
    """What the SDK hides: ``event:`` lines, no ``[DONE]``, the content type; checked by plain httpx."""
    raw = door.raw()
    body = {"model": MODEL, "input": "Hello!", "stream": True}
    with raw.stream("POST", "/responses", json=body) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        data = res.read()
    events = sse_events(data)
    final = follow(events)
    assert final == raw.get(f"/responses/{final['id']}").json()


# --- parse ----------------------------------------------------------------------------------------------------


def test_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    r = client.responses.parse(model=MODEL, input="Describe a person.", text_format=Person)
    assert isinstance(r, ParsedResponse)
    assert isinstance(r.output_parsed, Person)
    assert r.output_parsed.role in ("admin", "user")
    assert 0 <= r.output_parsed.age <= 150
    assert r.text.format is not None
    assert r.text.format.type == "json_schema"
    with client.responses.stream(model=MODEL, input="Describe a person.", text_format=Person) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Person)


class GetWeather(BaseModel):
    city: str
    days: int


def test_parse_with_a_pydantic_function_tool(client: openai.OpenAI) -> None:
    """``pydantic_function_tool`` (chat's shape, converted by the SDK): strict arguments the SDK parses back."""
    r = client.responses.parse(model=MODEL, input="Weather in Oslo and Rome?",
                               tools=[openai.pydantic_function_tool(GetWeather)], tool_choice="required")
    calls = [i for i in r.output if i.type == "function_call"]
    assert calls
    for c in calls:
        assert isinstance(c.parsed_arguments, GetWeather)
        assert c.parsed_arguments.model_dump() == json.loads(c.arguments)
    assert r.tools[0].strict is True  # type: ignore[union-attr]
    with client.responses.stream(model=MODEL, input="Weather?", tools=[openai.pydantic_function_tool(GetWeather)],
                                 tool_choice="required", parallel_tool_calls=False) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output[0].parsed_arguments, GetWeather)  # type: ignore[union-attr]


# --- stored responses -----------------------------------------------------------------------------------------


def test_retrieve_stream_replays_the_events(client: openai.OpenAI) -> None:
    original = list(client.responses.create(model=MODEL, input="A story about rivers.", stream=True))
    rid = original[-1].response.id  # type: ignore[union-attr]
    replay = list(client.responses.retrieve(rid, stream=True))
    assert [e.model_dump() for e in replay] == [e.model_dump() for e in original]
    tail = list(client.responses.retrieve(rid, stream=True, starting_after=3))
    assert [e.model_dump() for e in tail] == [e.model_dump() for e in original[4:]]
    with client.responses.stream(response_id=rid, starting_after=5) as stream:
        resumed = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in resumed] == list(range(6, len(original)))
    assert final.output_text == client.responses.retrieve(rid).output_text


def test_input_items_pagination(client: openai.OpenAI) -> None:
    items: list[Any] = [{"role": "user", "content": f"message {n}"} for n in range(5)]
    items.insert(2, {"role": "assistant", "content": "an answer"})
    r = client.responses.create(model=MODEL, input=items)
    page = client.responses.input_items.list(r.id)
    texts = [i.content[0].text for i in page.data]  # type: ignore[union-attr]
    assert texts == ["message 4", "message 3", "message 2", "an answer", "message 1", "message 0"]  # newest first
    assert page.has_more is False
    assert page.first_id == page.data[0].id
    assert page.last_id == page.data[-1].id
    assert page.data[3].role == "assistant"
    assert page.data[3].content[0].type == "output_text"
    asc = client.responses.input_items.list(r.id, order="asc", limit=2)
    assert [i.content[0].text for i in asc.data] == ["message 0", "message 1"]
    assert asc.has_more
    nxt = client.responses.input_items.list(r.id, order="asc", limit=2, after=asc.last_id)
    assert [i.content[0].text for i in nxt.data] == ["an answer", "message 2"]  # type: ignore[union-attr]
    walked = [i.id for i in client.responses.input_items.list(r.id, limit=2)]  # the SDK follows the pages
    assert walked == [i.id for i in page.data]
    assert len(set(walked)) == 6
    before = client.responses.input_items.list(r.id, order="asc", extra_query={"before": page.data[0].id})
    assert len(before.data) == 5
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.input_items.list(r.id, limit=101)
    assert info.value.param == "limit"


# One input item of each type whose listed form (the SDK's ``ResponseItem``, ``ConversationItem``) requires
# ``status``, sent without it: fields as the SDK's input types have them (some make ``status`` required there;
# mockai keeps built-in tool items as sent, so it lists those too).
UNSTATUSED_ITEMS: dict[str, dict[str, Any]] = {
    "message": {"type": "message", "role": "assistant", "content": "Earlier."},
    "function_call": {"type": "function_call", "call_id": "call_f", "name": "get_weather", "arguments": "{}"},
    "function_call_output": {"type": "function_call_output", "call_id": "call_f", "output": "12C"},
    "custom_tool_call": {"type": "custom_tool_call", "call_id": "call_c", "name": "run_sql", "input": "SELECT 1"},
    "custom_tool_call_output": {"type": "custom_tool_call_output", "call_id": "call_c", "output": "1"},
    "computer_call": {"type": "computer_call", "id": "cu_1", "call_id": "call_cu", "pending_safety_checks": [],
                      "action": {"type": "screenshot"}},
    "computer_call_output": {"type": "computer_call_output", "call_id": "call_cu",
                             "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"}},
    "file_search_call": {"type": "file_search_call", "id": "fs_1", "queries": ["tides"]},
    "web_search_call": {"type": "web_search_call", "id": "ws_1", "action": {"type": "search", "query": "tides"}},
    "image_generation_call": {"type": "image_generation_call", "id": "ig_1", "result": None},
    "code_interpreter_call": {"type": "code_interpreter_call", "id": "ci_1", "container_id": "cntr_1",
                              "code": "print(1)", "outputs": None},
    "local_shell_call": {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_ls",
                         "action": {"type": "exec", "command": ["ls"], "env": {}}},
    "shell_call": {"type": "shell_call", "call_id": "call_sh", "environment": None,
                   "action": {"commands": ["ls"], "timeout_ms": None, "max_output_length": None}},
    "shell_call_output": {"type": "shell_call_output", "call_id": "call_sh", "max_output_length": None, "output": [
        {"stdout": "a.txt", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]},
    "apply_patch_call": {"type": "apply_patch_call", "call_id": "call_ap",
                         "operation": {"type": "delete_file", "path": "a.txt"}},
    "apply_patch_call_output": {"type": "apply_patch_call_output", "call_id": "call_ap"},
    "tool_search_call": {"type": "tool_search_call", "call_id": "call_ts", "arguments": {"query": "tides"},
                         "execution": "client"},
    "tool_search_output": {"type": "tool_search_output", "call_id": "call_ts", "tools": [], "execution": "client"},
    "program_output": {"type": "program_output", "id": "po_1", "call_id": "call_pg", "result": "1"},
}


def _status_required(union: Any) -> set[str]:
    """The ``type`` of each member of an SDK item union whose ``status`` is required."""
    while typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)
            if "status" in m.model_fields and m.model_fields["status"].is_required()}


def test_listed_items_have_the_status_their_type_requires(client: openai.OpenAI) -> None:
    """Input items sent without ``status`` are listed ``completed`` (``input_items`` and a conversation's items)
    wherever the SDK's listed types require it, so they parse strictly."""
    assert _status_required(ResponseItem) | _status_required(ConversationItem) == set(UNSTATUSED_ITEMS)
    items = list(UNSTATUSED_ITEMS.values())
    r = client.responses.create(model=MODEL, input=[*items, {"role": "user", "content": "Go on."}])
    listed = client.responses.input_items.with_raw_response.list(r.id, order="asc", limit=100).http_response.json()
    ResponseItemList.model_validate(listed, strict=True)
    assert [i["status"] for i in listed["data"][:-1]] == ["completed"] * len(items)
    conv = client.conversations.create()
    added = client.conversations.items.with_raw_response.create(conv.id, items=items[:20]).http_response.json()
    ConversationItemList.model_validate(added, strict=True)
    again = client.conversations.items.with_raw_response.list(conv.id, limit=100).http_response.json()
    ConversationItemList.model_validate(again, strict=True)


def test_delete(client: openai.OpenAI) -> None:
    r = client.responses.create(model=MODEL, input="Delete me.")
    assert client.responses.delete(r.id) is None  # the SDK reads no body; the wire's is checked by the journal
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(r.id)


def test_input_tokens_count(client: openai.OpenAI) -> None:
    short = client.responses.input_tokens.count(model=MODEL, input="Hello")
    long = client.responses.input_tokens.count(model=MODEL, input="Hello " * 50, instructions="Be brief.")
    assert short.object == "response.input_tokens"
    assert 0 < short.input_tokens < long.input_tokens
    r = client.responses.create(model=MODEL, input="Hello")
    assert r.usage is not None
    assert r.usage.input_tokens == short.input_tokens
    chained = client.responses.input_tokens.count(model=MODEL, input="And more?", previous_response_id=r.id)
    assert chained.input_tokens > short.input_tokens
    assert client.responses.input_tokens.count(input="Hello").input_tokens > 0  # the model may be left out


def test_compact(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="Remember the number 42.")
    compacted = client.responses.compact(model=MODEL, input="What was it?", previous_response_id=first.id)
    assert compacted.object == "response.compaction"
    assert compacted.id.startswith("resp_")
    kinds = [i.type for i in compacted.output]
    assert kinds[-1] == "compaction"
    assert kinds[:-1] == ["message", "message"]
    assert compacted.usage.input_tokens > 0


def test_previous_response_id_with_tool_outputs(door: Door, client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="What's the weather in Oslo?", tools=[WEATHER],
                                    tool_choice="required", parallel_tool_calls=False)
    [call] = first.output
    assert call.type == "function_call"
    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 12}'}])
    assert second.previous_response_id == first.id
    assert [i.type for i in second.output] == ["message"]
    prompt = door.mock.calls.last.prompt
    assert prompt is not None
    assert prompt.tool_result == "get_weather"
    assert prompt.texts[:1] == ["What's the weather in Oslo?"]
    assert prompt.texts[-1] == '{"temp_c": 12}'
    third = client.responses.create(model=MODEL, previous_response_id=second.id, input="Thanks! And tomorrow?",
                                    instructions="Answer in French.")
    fourth = client.responses.create(model=MODEL, previous_response_id=third.id, input="Merci.")
    # A previous response's instructions are not carried over (the real API's rule): only its input and output.
    assert "Answer in French." not in door.mock.calls.last.prompt.texts  # type: ignore[union-attr]
    assert fourth.instructions is None
    assert door.mock.calls.last.prompt.texts[0] == "What's the weather in Oslo?"  # type: ignore[union-attr]
    assert third.previous_response_id == second.id
    listed = client.responses.input_items.list(second.id)
    assert [i.type for i in listed.data] == ["function_call_output"]
    with pytest.raises(openai.BadRequestError) as unanswered:
        client.responses.create(model=MODEL, previous_response_id=first.id, input="Forget the tool.")
    assert unanswered.value.param == "input"
    with pytest.raises(openai.BadRequestError) as stranger:
        client.responses.create(model=MODEL, previous_response_id=first.id, input=[
            {"type": "function_call_output", "call_id": "call_nobody", "output": "x"}])
    assert "call_nobody" in stranger.value.message
    with pytest.raises(openai.BadRequestError) as missing:
        client.responses.create(model=MODEL, previous_response_id="resp_missing", input="Hi")
    assert missing.value.code == "previous_response_not_found"


def test_item_references_name_any_stored_item(door: Door, client: openai.OpenAI) -> None:
    """An ``item_reference`` names any stored item of the project (not only the chain's): it is read as that item
    and listed as it; an unknown id is the real API's 404."""
    first = client.responses.create(model=MODEL, input="Tell me about tides.")
    asked = client.responses.input_items.list(first.id).data[0]
    second = client.responses.create(model=MODEL, input=[  # no previous_response_id
        {"type": "item_reference", "id": asked.id}, {"type": "item_reference", "id": first.output[0].id},
        {"role": "user", "content": "Shorter, please."}])
    assert door.mock.calls.last.prompt.texts == [  # type: ignore[union-attr]
        "Tell me about tides.", first.output_text, "Shorter, please."]
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [i.id for i in listed[:2]] == [asked.id, first.output[0].id]
    assert listed[1].model_dump() == first.output[0].model_dump()
    note = {"type": "message", "role": "user", "content": "Kept in a conversation."}
    conv = client.conversations.create(items=[{"type": "item_reference", "id": first.output[0].id}, note])
    kept = client.conversations.items.list(conv.id, order="asc").data
    assert kept[0].id == first.output[0].id
    client.responses.create(model=MODEL, input=[{"type": "item_reference", "id": kept[1].id}])
    assert door.mock.calls.last.prompt.texts == ["Kept in a conversation."]  # type: ignore[union-attr]
    unknown: list[Any] = [{"type": "item_reference", "id": "msg_nope"}]
    for attempt in (lambda: client.responses.create(model=MODEL, input=unknown),
                    lambda: client.responses.input_tokens.count(model=MODEL, input=unknown),
                    lambda: client.conversations.items.create(conv.id, items=unknown)):
        with pytest.raises(openai.NotFoundError) as info:
            attempt()
        assert info.value.body == {"message": "Item with id 'msg_nope' not found.", "type": "invalid_request_error",
                                   "param": "input", "code": None}


def test_a_tool_loop_in_one_input(client: openai.OpenAI) -> None:
    """The stateless form: the previous output items sent back with the tool output (``store: false`` apps)."""
    first = client.responses.create(model=MODEL, input="Weather in Oslo?", tools=[WEATHER], tool_choice="required",
                                    store=False)
    history: list[Any] = [{"role": "user", "content": "Weather in Oslo?"},
                          *[i.model_dump(exclude_none=True) for i in first.output]]
    history += [{"type": "function_call_output", "call_id": i.call_id, "output": "12C"}
                for i in first.output if i.type == "function_call"]
    second = client.responses.create(model=MODEL, input=history, tools=[WEATHER], store=False)
    assert [i.type for i in second.output] == ["message"]


# --- conversations --------------------------------------------------------------------------------------------


def test_conversations_crud(client: openai.OpenAI) -> None:
    conv = client.conversations.create(metadata={"topic": "tides"}, items=[
        {"type": "message", "role": "user", "content": "Hello"},
        {"type": "message", "role": "assistant", "content": "Hi! How can I help?"}])
    assert conv.id.startswith("conv_")
    assert conv.object == "conversation"
    assert conv.metadata == {"topic": "tides"}
    assert client.conversations.retrieve(conv.id).model_dump() == conv.model_dump()
    updated = client.conversations.update(conv.id, metadata={"topic": "waves"})
    assert updated.metadata == {"topic": "waves"}
    assert client.conversations.retrieve(conv.id).metadata == updated.metadata
    items = client.conversations.items.list(conv.id, order="asc")
    assert [(i.type, i.role) for i in items.data] == [("message", "user"), ("message", "assistant")]  # type: ignore[union-attr]
    added = client.conversations.items.create(conv.id, items=[{"type": "message", "role": "user", "content": "More"}])
    assert len(added.data) == 1
    assert added.data[0].content[0].text == "More"
    got = client.conversations.items.retrieve(added.data[0].id, conversation_id=conv.id)
    assert got.model_dump() == added.data[0].model_dump()
    newest = client.conversations.items.list(conv.id, limit=1)
    assert newest.data[0].id == added.data[0].id
    assert newest.has_more
    rest = client.conversations.items.list(conv.id, limit=5, after=newest.data[0].id)
    assert len(rest.data) == 2
    assert not rest.has_more
    after_delete = client.conversations.items.delete(added.data[0].id, conversation_id=conv.id)
    assert after_delete.id == conv.id
    assert len(client.conversations.items.list(conv.id).data) == 2
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[0].id, conversation_id=conv.id)
    deleted = client.conversations.delete(conv.id)
    assert deleted.deleted is True
    assert deleted.id == conv.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)
    empty = client.conversations.create()
    assert client.conversations.items.list(empty.id).data == []


def test_responses_in_a_conversation(door: Door, client: openai.OpenAI) -> None:
    conv = client.conversations.create(items=[{"type": "message", "role": "user", "content": "My name is Ada."}])
    first = client.responses.create(model=MODEL, input="What's my name?", conversation=conv.id)
    assert first.conversation is not None
    assert first.conversation.id == conv.id
    assert door.mock.calls.last.prompt.texts == ["My name is Ada.", "What's my name?"]  # type: ignore[union-attr]
    second = client.responses.create(model=MODEL, input="And again?", conversation={"id": conv.id})
    texts = door.mock.calls.last.prompt.texts  # type: ignore[union-attr]
    assert texts == ["My name is Ada.", "What's my name?", first.output_text, "And again?"]
    listed = client.conversations.items.list(conv.id, order="asc")
    assert [(i.type, getattr(i, "role", None)) for i in listed.data] == [
        ("message", "user"), ("message", "user"), ("message", "assistant"), ("message", "user"),
        ("message", "assistant")]
    assert listed.data[2].id == first.output[0].id
    assert listed.data[4].id == second.output[0].id
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="x", conversation=conv.id, previous_response_id=first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=MODEL, input="x", conversation="conv_missing")


# --- async ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_everything(door: Door) -> None:
    async with door.async_client() as client:
        r = await client.responses.create(model=MODEL, input="Hello async.", metadata={"k": "v"})
        assert r.output_text
        assert r.metadata == {"k": "v"}
        assert (await client.responses.retrieve(r.id)).model_dump() == r.model_dump()
        deltas = []
        async with client.responses.stream(model=MODEL, input="Stream it.", tools=[WEATHER]) as stream:
            async for event in stream:
                if event.type in ("response.output_text.delta", "response.function_call_arguments.delta"):
                    deltas.append(event.delta)
            final = await stream.get_final_response()
        assert "".join(deltas) == (final.output_text or final.output[0].arguments)  # type: ignore[union-attr]
        assert same(await client.responses.retrieve(final.id), final)
        raw = [e async for e in await client.responses.create(model="gpt-5", input="Hm.", stream=True)]
        assert raw[-1].type == "response.completed"
        assert raw[-1].response.output[0].type == "reasoning"
        parsed = await client.responses.parse(model=MODEL, input="A person.", text_format=Person)
        assert isinstance(parsed.output_parsed, Person)
        listed = [i async for i in client.responses.input_items.list(r.id, limit=1)]
        assert len(listed) == 1
        assert listed[0].type == "message"
        bg = await client.responses.create(model=MODEL, input="bg", background=True)
        assert (await client.responses.cancel(bg.id)).status == "cancelled"
        count = await client.responses.input_tokens.count(model=MODEL, input="Hello async.")
        assert r.usage is not None
        assert count.input_tokens == r.usage.input_tokens
        compacted = await client.responses.compact(model=MODEL, input="Hello")
        assert compacted.output[-1].type == "compaction"
        conv = await client.conversations.create(metadata={"a": "b"})
        await client.responses.create(model=MODEL, input="In a conversation.", conversation=conv.id)
        items = await client.conversations.items.list(conv.id)
        assert [getattr(i, "role", None) for i in items.data] == ["assistant", "user"]
        one = await client.conversations.items.retrieve(items.data[0].id, conversation_id=conv.id)
        assert one.id == items.data[0].id
        await client.conversations.items.delete(one.id, conversation_id=conv.id)
        assert (await client.conversations.update(conv.id, metadata={"a": "c"})).metadata == {"a": "c"}
        assert (await client.conversations.delete(conv.id)).deleted
        await client.responses.delete(r.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(r.id)


# --- the journal check itself ---------------------------------------------------------------------------------


def test_the_journal_check_catches_a_bad_body(door: Door, client: openai.OpenAI) -> None:
    """The check every test ends with fails on a body the SDK would still read (a blind spot otherwise)."""
    r = client.responses.create(model=MODEL, input="Hi")
    call = door.mock.calls.last
    good = call.response.body
    bad = json.loads(good)
    bad["output"][0]["content"][0].pop("annotations")
    call.response.body = json.dumps(bad).encode()
    try:
        with pytest.raises(AssertionError, match="not a valid Response at output/0"):
            check_journal(door.mock)
    finally:
        call.response.body = good
    store = door.mock.engine.responses.store
    record = store.get(r.id)
    assert record is not None
    store.update(r.id, {**record, "response": {**record["response"], "metadata": {"changed": "yes"}}})
    client.responses.retrieve(r.id)
    with pytest.raises(AssertionError, match="the stored response differs"):
        check_journal(door.mock)
    store.update(r.id, record)
    door.mock.calls[:] = [c for c in door.mock.calls if not (c.route == "responses.retrieve"
                                                             and b'"changed"' in c.response.body)]
    assert strict_response(json.loads(good))["id"] == r.id
