"""The ``openai-agents`` SDK, unchanged, against mockai's Responses API through both doors: in-process (patch
mode, or the SDK's default client set to ``mock.async_client()``) and over a real socket (``OpenAIResponsesModel``
on an ``AsyncOpenAI`` pointed at ``mock.serve()``). Tracing is off, so nothing leaves the process; each test
flushes the trace exporter while mockai intercepts, so a trace sent anyway would show up in the journal."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Literal

import jsonschema
import pytest
from conftest import KEY
from openai import AsyncOpenAI
from openai.types.shared import Reasoning

from mockai import MockAI, call

agents = pytest.importorskip("agents")
from agents import (  # noqa: E402
    Agent,
    HandoffCallItem,
    HandoffOutputItem,
    MessageOutputItem,
    ModelBehaviorError,
    ModelSettings,
    OpenAIResponsesModel,
    RawResponsesStreamEvent,
    ReasoningItem,
    RunItemStreamEvent,
    Runner,
    ToolCallItem,
    ToolCallOutputItem,
    function_tool,
    handoff,
    set_default_openai_client,
    set_tracing_disabled,
)
from agents.models import _openai_shared  # noqa: E402
from agents.tracing import get_trace_provider  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

FORECASTER = "You answer questions about the weather. Call get_weather first."
TRIAGE = "Hand Spanish speakers over to the Spanish agent."
SPANISH = "You only speak Spanish."


@pytest.fixture(autouse=True)
def no_tracing() -> None:
    # Left off after the test too: a later test must never export traces to api.openai.com.
    set_tracing_disabled(True)


@pytest.fixture
def default_client() -> Iterator[Callable[[AsyncOpenAI], None]]:
    """``default_client(client)``: the SDK's default client for this test (restored afterwards)."""
    previous = _openai_shared.get_default_openai_client()
    yield lambda client: set_default_openai_client(client, use_for_tracing=False)
    _openai_shared.set_default_openai_client(previous)  # type: ignore[arg-type]


class Weather:
    """A function tool that records the arguments of every run."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

        @function_tool
        def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
            """Current weather in a city."""
            self.runs.append({"city": city, "unit": unit})
            return f"12 degrees {unit} and windy in {city}"

        self.tool = get_weather


def flush_traces() -> None:
    """Export pending traces now (to mockai, while it intercepts): none are expected."""
    get_trace_provider().force_flush()


def only_responses(mock: MockAI, count: int) -> None:
    """The journal holds ``count`` calls, every one ``POST /v1/responses`` (no traces, nothing else)."""
    assert [f"{c.http.method} {c.http.path}" for c in mock.calls] == ["POST /v1/responses"] * count


def test_run_sync_with_a_function_tool_in_patch_mode(sync_loop: None) -> None:
    weather = Weather()
    agent = Agent(name="Forecaster", instructions=FORECASTER, model="gpt-4.1", tools=[weather.tool])
    with MockAI(seed=1) as mock:
        mock.on(last_user="weather", tool_result=False).reply(
            tool_calls=[call("get_weather", city="Oslo", unit="celsius")])
        mock.on(tool_result="get_weather").reply("It is 12°C and windy in Oslo.")
        result = Runner.run_sync(agent, "What's the weather in Oslo?")
        flush_traces()

    assert result.final_output == "It is 12°C and windy in Oslo."
    assert weather.runs == [{"city": "Oslo", "unit": "celsius"}]
    assert [type(i) for i in result.new_items] == [ToolCallItem, ToolCallOutputItem, MessageOutputItem]
    only_responses(mock, 2)
    first, second = mock.calls
    # what the agent sent: its instructions and its tool, with the schema the SDK built
    assert first.request.instructions == FORECASTER
    assert first.body is not None
    assert first.body["tools"] == [{**first.body["tools"][0], "type": "function", "name": "get_weather",
                                    "parameters": weather.tool.params_json_schema, "strict": True}]
    assert first.last_user_text == "What's the weather in Oslo?"
    # the follow-up gives back the call mockai made (id and call_id) and the tool's output for it
    made = first.response.json()["output"][0]
    assert second.body is not None
    given, output = second.body["input"][-2:]
    assert (given["type"], given["id"], given["call_id"]) == ("function_call", made["id"], made["call_id"])
    assert json.loads(given["arguments"]) == {"city": "Oslo", "unit": "celsius"}
    assert output == {"type": "function_call_output", "call_id": made["call_id"],
                      "output": "12 degrees celsius and windy in Oslo"}
    assert second.prompt is not None
    assert second.prompt.tool_result == "get_weather"
    assert result.last_response_id == second.response.json()["id"]
    usage = result.context_wrapper.usage
    assert usage.requests == 2
    assert usage.input_tokens == sum(c.response.json()["usage"]["input_tokens"] for c in mock.calls)


@pytest.mark.asyncio
async def test_run_hands_off_to_a_second_agent(default_client: Callable[[AsyncOpenAI], None]) -> None:
    mock = MockAI(seed=2)
    default_client(mock.async_client())
    spanish = Agent(name="Spanish agent", instructions=SPANISH, model="gpt-4.1")
    triage = Agent(name="Triage", instructions=TRIAGE, model="gpt-4.1", tools=[Weather().tool], handoffs=[spanish])
    # each agent is told apart by what mockai receives: its instructions
    mock.on(where=lambda r: r.instructions == TRIAGE).reply(tool_calls=[call("transfer_to_spanish_agent")])
    mock.on(where=lambda r: r.instructions == SPANISH, tool_result="transfer_to_spanish_agent").reply(
        "¡Hola! ¿En qué puedo ayudarte?")

    result = await Runner.run(triage, "Hola, ¿me ayudas con el tiempo?")
    flush_traces()

    assert result.last_agent is spanish
    assert result.final_output == "¡Hola! ¿En qué puedo ayudarte?"
    assert [type(i) for i in result.new_items] == [HandoffCallItem, HandoffOutputItem, MessageOutputItem]
    mock.verify()  # both rules answered
    only_responses(mock, 2)
    first, second = mock.calls
    assert first.prompt is not None
    assert [t.name for t in first.prompt.tools] == ["get_weather", "transfer_to_spanish_agent"]
    assert second.request.instructions == SPANISH
    assert second.prompt is not None
    assert second.prompt.tools == ()
    assert second.prompt.last_user_text == "Hola, ¿me ayudas con el tiempo?"
    assert second.body is not None
    assert json.loads(second.body["input"][-1]["output"]) == {"assistant": "Spanish agent"}


class Escalation(BaseModel):
    reason: str
    priority: int = Field(ge=1, le=3)


@pytest.mark.asyncio
async def test_a_handoff_with_arguments_in_patch_mode() -> None:
    """A handoff with an ``input_type``: the generator, forced to call it, writes arguments its schema accepts."""
    escalations: list[Escalation] = []

    async def on_handoff(ctx: Any, escalation: Escalation) -> None:
        escalations.append(escalation)

    supervisor = Agent(name="Supervisor", instructions="You settle escalations.", model="gpt-4.1")
    to_supervisor = handoff(supervisor, on_handoff=on_handoff, input_type=Escalation)
    desk = Agent(name="Desk", instructions="Escalate everything.", model="gpt-4.1", handoffs=[to_supervisor],
                 model_settings=ModelSettings(tool_choice="required"))
    with MockAI(seed=5) as mock:
        result = await Runner.run(desk, "My order never arrived.")
        flush_traces()

    assert result.last_agent is supervisor
    assert len(escalations) == 1
    only_responses(mock, 2)
    first, second = mock.calls
    sent = first.body["tools"][0]["parameters"] if first.body else None
    made = first.response.json()["output"][0]
    jsonschema.validate(json.loads(made["arguments"]), sent)
    assert escalations[0] == Escalation.model_validate_json(made["arguments"])
    assert second.request.instructions == "You settle escalations."
    assert result.final_output == second.response.json()["output"][0]["content"][0]["text"]


@pytest.mark.asyncio
async def test_run_streamed_over_a_socket() -> None:
    """The generator, made to call a tool (``tool_choice="required"``), streams the call; the SDK runs the tool and
    streams the answer to its output; the stream events are the real grammar and add up to the final output."""
    weather = Weather()
    mock = MockAI(seed=3)
    with mock.serve() as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=10)
        model = OpenAIResponsesModel("gpt-4.1", openai_client=client)
        agent = Agent(name="Forecaster", instructions=FORECASTER, model=model, tools=[weather.tool],
                      model_settings=ModelSettings(tool_choice="required"))
        result = Runner.run_streamed(agent, "What's the weather in Oslo?")
        raw: list[Any] = []
        names: list[str] = []
        async for event in result.stream_events():
            if isinstance(event, RawResponsesStreamEvent):
                raw.append(event.data)
            elif isinstance(event, RunItemStreamEvent):
                names.append(event.name)
        stored = await client.responses.retrieve(str(result.last_response_id))
        await client.close()

    assert len(weather.runs) == 1
    jsonschema.validate(weather.runs[0], weather.tool.params_json_schema)
    assert names == ["tool_called", "tool_output", "message_output_created"]
    # two responses, each numbered from 0, opened by response.created and closed by response.completed
    starts = [i for i, e in enumerate(raw) if e.type == "response.created"]
    assert len(starts) == 2
    for begin, end in zip(starts, [*starts[1:], len(raw)], strict=True):
        events = raw[begin:end]
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert events[1].type == "response.in_progress"
        assert events[-1].type == "response.completed"
    called = [e for e in raw if e.type == "response.function_call_arguments.done"]
    assert [json.loads(e.arguments) for e in called] == weather.runs
    text = "".join(e.delta for e in raw if e.type == "response.output_text.delta")
    assert len([e for e in raw if e.type == "response.output_text.delta"]) > 3
    assert text
    assert text == result.final_output == stored.output_text
    first, second = mock.calls.filter(route="responses")
    assert first.stream
    assert second.stream
    assert first.body is not None
    assert second.body is not None
    assert first.body["tool_choice"] == "required"
    assert "tool_choice" not in second.body  # the SDK resets tool_choice after a tool call
    city = weather.runs[0]["city"]
    assert second.body["input"][-1]["output"] == f"12 degrees {weather.runs[0]['unit']} and windy in {city}"


@pytest.mark.asyncio
async def test_server_side_state_previous_response_id_and_conversations() -> None:
    """The SDK keeping the conversation on the server: ``auto_previous_response_id`` sends only what is new, and
    ``conversation_id`` appends to a conversation; mockai rebuilds the history either way."""
    weather = Weather()
    agent = Agent(name="Forecaster", instructions=FORECASTER, model="gpt-4.1", tools=[weather.tool])
    with MockAI(seed=4) as mock:
        mock.on(last_user="weather", tool_result=False).reply(
            tool_calls=[call("get_weather", city="Bergen", unit="celsius")])
        mock.on(tool_result="get_weather").reply("Rain in Bergen, as always.")
        chained = await Runner.run(agent, "What's the weather in Bergen?", auto_previous_response_id=True)

        client = AsyncOpenAI()  # patch mode: the SDK's own client, built anywhere, reaches mockai
        conversation = await client.conversations.create(items=[{"role": "user", "content": "I live in Bergen."}])
        kept = await Runner.run(agent, "And the weather tomorrow?", conversation_id=conversation.id)
        listed = await client.conversations.items.list(conversation.id, order="asc")
        await client.close()
        flush_traces()

    assert chained.final_output == kept.final_output == "Rain in Bergen, as always."
    assert weather.runs == [{"city": "Bergen", "unit": "celsius"}] * 2
    responses = mock.calls.filter(route="responses")
    assert len(responses) == 4
    # previous_response_id: the second request holds only the tool output, the call lives in the stored response
    follow_up = responses[1]
    assert follow_up.body is not None
    assert follow_up.body["previous_response_id"] == responses[0].response.json()["id"]
    assert [i["type"] for i in follow_up.body["input"]] == ["function_call_output"]
    assert follow_up.prompt is not None
    assert follow_up.prompt.tool_result == "get_weather"
    assert follow_up.prompt.last_user_text == "What's the weather in Bergen?"
    # conversation: the earlier message counts as history, and the conversation ends with the whole exchange
    asked = responses[2]
    assert asked.prompt is not None
    users = [t.text for t in asked.prompt.turns if t.role == "user"]
    assert users == ["I live in Bergen.", "And the weather tomorrow?"]
    assert [(i.type, getattr(i, "role", None)) for i in listed.data] == [
        ("message", "user"), ("message", "user"), ("function_call", None), ("function_call_output", None),
        ("message", "assistant")]
    assert listed.data[-1].content[0].text == "Rain in Bergen, as always."  # type: ignore[union-attr]


class Verdict(BaseModel):
    label: Literal["spam", "ham"]
    confidence: float = Field(ge=0, le=1)


def test_structured_output_from_a_reasoning_model(sync_loop: None) -> None:
    judge = Agent(name="Judge", instructions="Classify the message.", model="o4-mini", output_type=Verdict,
                  model_settings=ModelSettings(reasoning=Reasoning(effort="low", summary="auto")))
    with MockAI(seed=6) as mock:
        result = Runner.run_sync(judge, "WIN A FREE PRIZE NOW!!!")
        flush_traces()

    assert isinstance(result.final_output, Verdict)
    only_responses(mock, 1)
    sent = mock.calls.last.body
    assert sent is not None
    assert sent["reasoning"] == {"effort": "low", "summary": "auto"}
    fmt = sent["text"]["format"]
    assert (fmt["type"], fmt["strict"]) == ("json_schema", True)
    output = mock.calls.last.response.json()["output"]
    assert [i["type"] for i in output] == ["reasoning", "message"]
    jsonschema.validate(json.loads(output[1]["content"][0]["text"]), fmt["schema"])
    reasoning = [i for i in result.new_items if isinstance(i, ReasoningItem)]
    assert [s.text for s in reasoning[0].raw_item.summary] == [output[0]["summary"][0]["text"]]
    assert result.context_wrapper.usage.output_tokens_details.reasoning_tokens > 0


def test_a_truncated_reply_is_reported_by_the_sdk(sync_loop: None) -> None:
    """``max_tokens`` reached: mockai answers ``incomplete`` (``max_output_tokens``), which the SDK raises."""
    agent = Agent(name="Writer", instructions="Write at length.", model="gpt-4.1",
                  model_settings=ModelSettings(max_tokens=16))
    with MockAI(seed=7) as mock, pytest.raises(ModelBehaviorError, match="max_output_tokens"):
        Runner.run_sync(agent, "Write an essay about lighthouses.")
    body = mock.calls.last.response.json()
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert body["usage"]["output_tokens"] == 16
