"""pydantic-ai's Responses model (``OpenAIResponsesModel`` with an ``OpenAIProvider``), unchanged, against mockai
through both doors: in-process (patch mode, or the provider given ``mock.async_client()``) and over a real socket.
Each test has a tool and most a structured output (``output_type=`` a pydantic model)."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import pytest
from conftest import KEY
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

from mockai import MockAI, call

pytest.importorskip("pydantic_ai")
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.openai import OpenAIResponsesModel, OpenAIResponsesModelSettings
from pydantic_ai.providers.openai import OpenAIProvider

INSTRUCTIONS = "You answer questions about cities. Look their population up."


class City(BaseModel):
    name: str
    country: str
    population: int = Field(ge=0)
    climate: Literal["cold", "mild", "hot"]


OSLO = City(name="Oslo", country="Norway", population=709_037, climate="cold")


def city_agent(model: OpenAIResponsesModel, runs: list[str], **kwargs: Any) -> Agent[None, Any]:
    """An agent with a ``population`` tool that records the city of every run."""
    agent: Agent[None, Any] = Agent(model, instructions=INSTRUCTIONS, **kwargs)

    @agent.tool_plain
    def population(city: str) -> int:
        """The population of a city."""
        runs.append(city)
        return 709_037

    return agent


def test_run_sync_with_a_tool_and_a_tool_output_in_patch_mode(sync_loop: None) -> None:
    """The default structured output: pydantic-ai offers a ``final_result`` tool and requires a tool call."""
    runs: list[str] = []
    with MockAI(seed=1) as mock:
        mock.on(last_user="Oslo", tool_result=False).reply(tool_calls=[call("population", city="Oslo")])
        mock.on(tool_result="population").reply(tool_calls=[call("final_result", **OSLO.model_dump())])
        agent = city_agent(OpenAIResponsesModel("gpt-4.1", provider=OpenAIProvider(api_key=KEY)), runs,
                           output_type=City)
        result = agent.run_sync("Tell me about Oslo.")

    assert result.output == OSLO
    assert runs == ["Oslo"]
    assert [c.route for c in mock.calls] == ["responses", "responses"]
    first, second = mock.calls
    assert first.request.instructions == INSTRUCTIONS
    assert first.body is not None
    assert first.body["tool_choice"] == "required"
    tools = {t["name"]: t for t in first.body["tools"]}
    assert list(tools) == ["population", "final_result"]
    assert tools["population"]["parameters"]["required"] == ["city"]
    assert set(tools["final_result"]["parameters"]["properties"]) == set(City.model_fields)
    # the follow-up gives back the call mockai made and the tool's result for it
    made = first.response.json()["output"][0]
    assert second.body is not None
    given, output = second.body["input"][-2:]
    assert (given["type"], given["call_id"], given["name"]) == ("function_call", made["call_id"], "population")
    assert output == {"type": "function_call_output", "call_id": made["call_id"], "output": "709037"}
    assert second.prompt is not None
    assert second.prompt.tool_result == "population"
    final = second.response.json()["output"][0]
    assert (final["name"], json.loads(final["arguments"])) == ("final_result", OSLO.model_dump())
    assert result.usage.requests == 2
    assert result.usage.input_tokens == sum(c.response.json()["usage"]["input_tokens"] for c in mock.calls)


@pytest.mark.asyncio
async def test_run_with_native_structured_output_over_a_socket() -> None:
    """``NativeOutput``: a ``json_schema`` text format, which the generator fills with JSON the schema accepts."""
    runs: list[str] = []
    mock = MockAI(seed=2)
    mock.on(last_user="Oslo", tool_result=False).reply(tool_calls=[call("population", city="Oslo")])
    with mock.serve() as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=10)
        model = OpenAIResponsesModel("gpt-4.1", provider=OpenAIProvider(openai_client=client))
        settings = OpenAIResponsesModelSettings(temperature=0.2, parallel_tool_calls=False, openai_truncation="auto",
                                                openai_text_verbosity="low", openai_store=True)
        agent = city_agent(model, runs, output_type=NativeOutput(City), model_settings=settings)
        result = await agent.run("Tell me about Oslo.")
        await client.close()

    assert runs == ["Oslo"]
    assert isinstance(result.output, City)
    second = mock.calls.last
    assert second.body is not None
    fmt = second.body["text"]["format"]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "City", True)
    assert second.body["text"]["verbosity"] == "low"
    assert (second.body["truncation"], second.body["parallel_tool_calls"]) == ("auto", False)
    text = second.response.json()["output"][0]["content"][0]["text"]
    jsonschema.validate(json.loads(text), fmt["schema"])
    assert result.output == City.model_validate_json(text)
    assert result.response.provider_response_id == second.response.json()["id"]


@pytest.mark.asyncio
async def test_run_stream_with_a_tool_in_process() -> None:
    """``run_stream`` on the provider given ``mock.async_client()``: the tool call arrives streamed, then the
    answer in token-sized deltas that add up to the stored response."""
    runs: list[str] = []
    mock = MockAI(seed=3)
    mock.on(last_user="Oslo", tool_result=False).reply(tool_calls=[call("population", city="Oslo")])
    client = mock.async_client()
    agent = city_agent(OpenAIResponsesModel("gpt-4.1", provider=OpenAIProvider(openai_client=client)), runs)
    async with agent.run_stream("Tell me about Oslo.") as result:
        deltas = [d async for d in result.stream_text(delta=True, debounce_by=None)]
        output = await result.get_output()
    responses = [m for m in result.all_messages() if isinstance(m, ModelResponse)]
    stored = [await client.responses.retrieve(str(m.provider_response_id)) for m in responses]
    await client.close()

    assert runs == ["Oslo"]
    assert len(deltas) > 3
    assert "".join(deltas) == output == stored[-1].output_text
    assert output
    assert result.response.finish_reason == "stop"
    streamed = mock.calls.filter(route="responses")
    assert [c.stream for c in streamed] == [True, True]
    assert streamed[1].prompt is not None
    assert streamed[1].prompt.tool_result == "population"
    calls = [p for m in responses for p in m.parts if isinstance(p, ToolCallPart)]
    assert [(p.tool_name, p.args_as_dict(), p.tool_call_id) for p in calls] == [
        ("population", {"city": "Oslo"}, stored[0].output[0].call_id)]  # type: ignore[union-attr]
    assert result.usage.output_tokens == sum(s.usage.output_tokens for s in stored if s.usage)


@pytest.mark.asyncio
async def test_history_through_previous_response_id_on_a_reasoning_model() -> None:
    """``openai_previous_response_id="auto"`` sends only the new turn; mockai rebuilds the rest from what it
    stored. A reasoning model gets ``reasoning`` and its encrypted content back."""
    runs: list[str] = []
    with MockAI(seed=4) as mock:
        mock.on(last_user="Oslo", tool_result=False).reply(tool_calls=[call("population", city="Oslo")])
        settings = OpenAIResponsesModelSettings(openai_reasoning_effort="low", openai_reasoning_summary="detailed",
                                                openai_previous_response_id="auto")
        agent = city_agent(OpenAIResponsesModel("o4-mini", provider=OpenAIProvider(api_key=KEY)), runs,
                           model_settings=settings)
        first = await agent.run("How many people live in Oslo?")
        second = await agent.run("And is it bigger than Bergen?", message_history=first.all_messages())

    assert runs == ["Oslo"]
    assert first.output
    assert second.output
    calls = mock.calls.filter(route="responses")
    assert len(calls) == 3
    ids = [c.response.json()["id"] for c in calls]
    for c, previous in zip(calls[1:], ids, strict=False):
        assert c.body is not None
        assert c.body["previous_response_id"] == previous
    assert calls[2].body is not None
    assert calls[2].body["input"] == [{"role": "user", "content": "And is it bigger than Bergen?"}]
    history = calls[2].prompt
    assert history is not None
    assert [t.text for t in history.turns if t.role == "user"] == ["How many people live in Oslo?",
                                                                   "And is it bigger than Bergen?"]
    assert [t.role for t in history.turns].count("tool") == 1
    for c in calls:
        assert c.body is not None
        assert c.body["reasoning"]["effort"] == "low"
        assert "reasoning.encrypted_content" in c.body["include"]
        kinds = [i["type"] for i in c.response.json()["output"]]
        assert kinds[0] == "reasoning"
        assert c.response.json()["output"][0]["encrypted_content"]
    assert second.response.provider_response_id == ids[2]
