"""LangChain's ChatOpenAI, unchanged, against both doors (patch mode in-process and a real socket), on chat
completions and on the Responses API (``use_responses_api=True``)."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from mockai import MockAI, call

langchain_openai = pytest.importorskip("langchain_openai")
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_invoke_stream_and_tools_in_process() -> None:
    with MockAI(seed=3) as mock:
        mock.queue("Bonjour !")
        mock.on(last_user="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
        llm = langchain_openai.ChatOpenAI(model="gpt-4o-mini", api_key="sk-test")

        assert llm.invoke("Say hello in French").content == "Bonjour !"
        streamed = list(llm.stream("Tell me about lighthouses"))
        assert len(streamed) > 3  # token-sized deltas, not one blob
        text = "".join(str(c.content) for c in streamed)
        generated = mock.calls.last
        assert generated.request is not None
        assert generated.request.stream
        message = llm.bind_tools([WEATHER]).invoke("What is the weather in Oslo?")
        assert message.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"},
                                       "id": message.tool_calls[0]["id"], "type": "tool_call"}]
    # the stream carried exactly what the generator makes for that request without streaming
    plain = MockAI(seed=3).client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me about lighthouses"}])
    assert text == plain.choices[0].message.content


@pytest.mark.asyncio
async def test_async_over_a_socket() -> None:
    mock = MockAI()
    mock.queue("Over the wire.")
    with mock.serve() as server:
        llm = langchain_openai.ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", base_url=server.base_url)
        reply = await llm.ainvoke("hi")
    assert reply.content == "Over the wire."
    assert mock.calls.last.http.headers["authorization"] == "Bearer sk-test"


# --- the Responses API (use_responses_api=True) ----------------------------------------------------------------


class Pet(BaseModel):
    """A pet."""

    name: str
    age: int = Field(ge=0, le=40)
    kind: Literal["cat", "dog"]


def weather_tool(runs: list[dict[str, str]]) -> Any:
    @tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
        """Current weather in a city."""
        runs.append({"city": city, "unit": unit})
        return f"12 degrees {unit} in {city}"

    return get_weather


def responses_llm(**kwargs: Any) -> Any:
    kwargs.setdefault("model", "gpt-4o-mini")
    return langchain_openai.ChatOpenAI(api_key="sk-test", use_responses_api=True, **kwargs)


def test_responses_invoke_and_stream_in_process() -> None:
    with MockAI(seed=3) as mock:
        mock.queue("Bonjour !")
        llm = responses_llm()
        said = llm.invoke("Say hello in French")
        streamed = list(llm.stream("Tell me about lighthouses"))
    assert said.text == "Bonjour !"
    first, second = mock.calls
    assert (first.route, second.route) == ("responses", "responses")
    body = first.response.json()
    assert said.id == body["id"] == said.response_metadata["id"]
    assert said.response_metadata["status"] == "completed"
    assert said.usage_metadata is not None
    assert (said.usage_metadata["input_tokens"], said.usage_metadata["output_tokens"]) == (
        body["usage"]["input_tokens"], body["usage"]["output_tokens"])
    assert second.stream
    pieces = [c.text for c in streamed if c.text]
    assert len(pieces) > 3  # token-sized deltas, not one blob
    whole = streamed[0]
    for chunk in streamed[1:]:
        whole += chunk
    assert whole.response_metadata["status"] == "completed"
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["output_tokens"] > 0
    # the stream carried what the generator makes for that request without streaming
    plain = MockAI(seed=3).client().responses.create(model="gpt-4o-mini", input=[
        {"content": "Tell me about lighthouses", "role": "user", "type": "message"}])
    assert "".join(pieces) == plain.output_text


def test_responses_bind_tools_round_trip_in_process() -> None:
    runs: list[dict[str, str]] = []
    get_weather = weather_tool(runs)
    with MockAI(seed=4) as mock:
        mock.on(last_user="weather", tool_result=False).reply(
            tool_calls=[call("get_weather", city="Oslo", unit="celsius")])
        mock.on(tool_result="get_weather").reply("It is 12°C in Oslo.")
        llm = responses_llm().bind_tools([get_weather])
        history: list[Any] = [HumanMessage("What is the weather in Oslo?")]
        asked = llm.invoke(history)
        history += [asked, get_weather.invoke(asked.tool_calls[0])]
        answered = llm.invoke(history)

    made = mock.calls[0].response.json()["output"][0]
    assert asked.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo", "unit": "celsius"},
                                 "id": made["call_id"], "type": "tool_call"}]
    assert runs == [{"city": "Oslo", "unit": "celsius"}]
    assert isinstance(history[-1], ToolMessage)
    assert answered.text == "It is 12°C in Oslo."
    sent = mock.calls[1].body
    assert sent is not None
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["input"][-1] == {"type": "function_call_output", "output": "12 degrees celsius in Oslo",
                                 "call_id": made["call_id"]}
    assert mock.calls[1].prompt is not None
    assert mock.calls[1].prompt.tool_result == "get_weather"


def test_responses_structured_output_in_process() -> None:
    with MockAI(seed=5) as mock:
        mock.on(has_tools=True).reply(tool_calls=[call("Pet", name="Rex", age=3, kind="dog")])
        llm = responses_llm()
        drawn = llm.with_structured_output(Pet).invoke("Describe a pet")
        called = llm.with_structured_output(Pet, method="function_calling").invoke("Describe a pet")
        raw = llm.with_structured_output(Pet, include_raw=True).invoke("Describe another pet")

    # json_schema (the default): the generator writes JSON the schema accepts
    assert isinstance(drawn, Pet)
    fmt = mock.calls[0].body["text"]["format"] if mock.calls[0].body else None
    assert fmt is not None
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "Pet", True)
    text = mock.calls[0].response.json()["output"][0]["content"][0]["text"]
    jsonschema.validate(json.loads(text), fmt["schema"])
    assert drawn == Pet.model_validate_json(text)
    # function_calling: a forced call of a "Pet" tool, parsed from its arguments
    assert called == Pet(name="Rex", age=3, kind="dog")
    forced = mock.calls[1].body
    assert forced is not None
    assert forced["tool_choice"] == {"type": "function", "name": "Pet"}
    assert raw["parsing_error"] is None
    assert raw["parsed"] == Pet.model_validate_json(raw["raw"].text)


@pytest.mark.asyncio
async def test_responses_async_over_a_socket_with_server_side_state() -> None:
    """``use_previous_response_id``: only the new messages are sent; a streamed tool call (the generator, made to
    call a tool with ``tool_choice="any"``) comes back whole, with arguments valid for the tool's schema."""
    runs: list[dict[str, str]] = []
    get_weather = weather_tool(runs)
    mock = MockAI(seed=6)
    with mock.serve() as server:
        llm = responses_llm(base_url=server.base_url, use_previous_response_id=True)
        first = await llm.ainvoke("Hi, I'm planning a trip.")
        history: list[Any] = [HumanMessage("Hi, I'm planning a trip."), first, HumanMessage("Weather in Rome?")]
        whole = None
        async for chunk in llm.bind_tools([get_weather], tool_choice="any").astream(history):
            whole = chunk if whole is None else whole + chunk
        assert whole is not None
        history += [whole, get_weather.invoke(whole.tool_calls[0])]
        final = await llm.bind_tools([get_weather]).ainvoke(history)

    assert len(whole.tool_calls) == 1
    jsonschema.validate(whole.tool_calls[0]["args"], get_weather.tool_call_schema.model_json_schema())
    assert runs == [whole.tool_calls[0]["args"]]
    calls = mock.calls.filter(route="responses")
    assert len(calls) == 3
    assert calls[1].body is not None
    assert calls[1].body["previous_response_id"] == first.response_metadata["id"]
    assert calls[1].body["input"] == [{"content": "Weather in Rome?", "role": "user", "type": "message"}]
    assert calls[2].body is not None
    assert calls[2].body["previous_response_id"] == whole.response_metadata["id"]
    assert [i["type"] for i in calls[2].body["input"]] == ["function_call_output"]
    assert calls[2].prompt is not None
    assert calls[2].prompt.tool_result == "get_weather"  # the call, from the stored streamed response
    assert [t.text for t in calls[2].prompt.turns if t.role == "user"] == ["Hi, I'm planning a trip.",
                                                                           "Weather in Rome?"]
    assert final.text
    assert final.response_metadata["id"] == calls[2].response.json()["id"]


def test_responses_reasoning_items_given_back_in_process() -> None:
    """A reasoning model with ``store=False``: its reasoning (summary and encrypted content) goes back as input."""
    with MockAI(seed=7) as mock:
        llm = responses_llm(model="o4-mini", reasoning={"effort": "low", "summary": "auto"}, store=False,
                            include=["reasoning.encrypted_content"], output_version="responses/v1")
        first = llm.invoke([SystemMessage("Be brief."), HumanMessage("Why is the sky blue?")])
        again = llm.invoke([SystemMessage("Be brief."), HumanMessage("Why is the sky blue?"), first,
                            HumanMessage("Shorter, please.")])

    blocks = [b for b in first.content if isinstance(b, dict)]
    reasoning = next(b for b in blocks if b["type"] == "reasoning")
    assert reasoning["summary"][0]["text"]
    assert reasoning["encrypted_content"]
    assert again.text
    sent = mock.calls[1].body
    assert sent is not None
    given = next(i for i in sent["input"] if i.get("type") == "reasoning")
    assert (given["id"], given["encrypted_content"]) == (reasoning["id"], reasoning["encrypted_content"])
    assert mock.calls[1].prompt is not None
    assert [t.role for t in mock.calls[1].prompt.turns] == ["system", "user", "assistant", "user"]
    assert mock.calls[1].response.json()["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
