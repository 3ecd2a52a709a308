"""LangChain's ChatOpenAI, unchanged, against both doors: patch mode in-process and a real socket."""

from __future__ import annotations

import pytest

from mockai import MockAI, call

langchain_openai = pytest.importorskip("langchain_openai")

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
