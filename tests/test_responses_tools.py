"""mockai's tools on Responses API requests, driven by the ``openai`` SDK: scripted rules and the queue, the journal,
patch mode, scenario files, faults, rate limits, latency, strict mode and reset.

As in ``test_responses.py``, every answer a test's mock gave is held to the official schema, the SDK's strict types
and the stream grammar when the test ends (:func:`responses_wire.close_door`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from responses_wire import Door, check_journal, close_door, follow, open_door, sse_events

from mockai import MockAI, call, error, fault
from mockai.reply import Choice, Reply, ToolCall
from mockai.responses.wire import CreateResponseRequest
from mockai.scenario import Match

MODEL = "gpt-4o-mini"
WEATHER: dict[str, Any] = {"type": "function", "name": "get_weather", "strict": True,
                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                          "required": ["city"], "additionalProperties": False}}
CHAT_WEATHER: dict[str, Any] = {"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}


@pytest.fixture(params=["in-process", "socket"])
def door(request: pytest.FixtureRequest) -> Iterator[Door]:
    d = open_door(request.param)
    yield d
    close_door(d)


@pytest.fixture
def mock(door: Door) -> MockAI:
    return door.mock


@pytest.fixture
def client(door: Door) -> openai.OpenAI:
    return door.client()


def ask(client: openai.OpenAI, prompt: Any = "Hello", **params: Any) -> Any:
    return client.responses.create(model=params.pop("model", MODEL), input=prompt, **params)


def chat(client: openai.OpenAI, text: str = "Hello", **params: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], **params)


def streamed(client: openai.OpenAI, prompt: Any = "Hello", **params: Any) -> Any:
    """The final response of a stream read with the SDK's helper."""
    with client.responses.stream(model=MODEL, input=prompt, **params) as stream:
        return stream.get_final_response()


# --- scripted rules -------------------------------------------------------------------------------------------


def test_rules_match_the_api_and_the_last_user_message(mock: MockAI, client: openai.OpenAI) -> None:
    only_responses = mock.on(api="responses", last_user="weather").reply("Responses: sunny.")
    only_chat = mock.on(api="chat", last_user="weather").reply("Chat: sunny.")
    assert ask(client, "What's the weather?").output_text == "Responses: sunny."
    assert chat(client, "What's the weather?").choices[0].message.content == "Chat: sunny."
    assert streamed(client, "And the weather now?").output_text == "Responses: sunny."
    assert (only_responses.call_count, only_chat.call_count) == (2, 1)
    assert ask(client, "Something else").output_text != "Responses: sunny."


def test_tool_result_matches_a_function_call_output(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(tool_result=False, has_tools=True).reply(tool_calls=[call("get_weather", city="Oslo")])
    answered = mock.on(tool_result="get_weather").reply("12°C in Oslo.")
    first = ask(client, "Weather in Oslo?", tools=[WEATHER])
    [fc] = first.output
    assert fc.type == "function_call"
    assert (fc.name, json.loads(fc.arguments)) == ("get_weather", {"city": "Oslo"})
    assert fc.call_id.startswith("call_")
    output = {"type": "function_call_output", "call_id": fc.call_id, "output": "12"}
    chained = client.responses.create(model=MODEL, previous_response_id=first.id, input=[output], tools=[WEATHER])
    assert chained.output_text == "12°C in Oslo."
    inline = client.responses.create(model=MODEL, tools=[WEATHER], input=[
        {"role": "user", "content": "Weather in Oslo?"}, fc.model_dump(exclude_none=True), output])
    assert inline.output_text == "12°C in Oslo."
    assert answered.call_count == 2
    assert mock.calls.last.prompt is not None
    assert mock.calls.last.prompt.tool_result == "get_weather"


def test_tool_result_for_a_custom_tool(mock: MockAI, client: openai.OpenAI) -> None:
    sql = {"type": "custom", "name": "run_sql"}
    mock.on(tool_result=False).reply(tool_calls=[ToolCall("run_sql", "SELECT 1", type="custom")])
    mock.on(tool_result="run_sql").reply("One row.")
    first = ask(client, "Count the rows.", tools=[sql])
    [ctc] = first.output
    assert ctc.type == "custom_tool_call"
    assert ctc.input == "SELECT 1"
    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=[sql], input=[
        {"type": "custom_tool_call_output", "call_id": ctc.call_id, "output": "1"}])
    assert second.output_text == "One row."


def test_any_message_sees_instructions_and_history(mock: MockAI, client: openai.OpenAI) -> None:
    rule = mock.on(any_message="pirate").reply("Arr!")
    assert ask(client, "Hello", instructions="Talk like a pirate.").output_text == "Arr!"
    first = ask(client, "I am a pirate.")
    assert first.output_text == "Arr!"
    assert client.responses.create(model=MODEL, input="Hi again", previous_response_id=first.id).output_text == "Arr!"
    assert ask(client, "Hello").output_text != "Arr!"
    assert rule.call_count == 3


def test_where_receives_the_create_response_request(mock: MockAI, client: openai.OpenAI) -> None:
    seen: list[Any] = []

    def wants_json(request: Any) -> bool:
        seen.append(request)
        return request.text is not None and request.text.format is not None and \
            request.text.format.type == "json_object"

    mock.on(where=wants_json).reply(json={"ok": True})
    assert json.loads(ask(client, "Answer in JSON.", text={"format": {"type": "json_object"}}).output_text) == {
        "ok": True}
    assert ask(client, "Plain.").output_text != '{"ok":true}'
    assert all(isinstance(r, CreateResponseRequest) for r in seen)
    assert len(seen) == 2


# --- the queue: every kind of scripted reply on the Responses wire --------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_queued_replies_render_on_the_responses_wire(mock: MockAI, client: openai.OpenAI, stream: bool) -> None:
    get = streamed if stream else ask
    full = {"id": "resp_recorded", "object": "response", "model": "gpt-4o-2024-08-06", "status": "completed",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Thinking."}]},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                    {"type": "output_text", "text": "See the docs.", "annotations": [
                        {"type": "url_citation", "url": "https://example.com", "title": "Docs", "start_index": 4,
                         "end_index": 12}]}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_recorded", "name": "lookup",
                 "arguments": "{\"q\":1}", "status": "completed"}]}
    mock.queue("Plain text.", call("get_weather", city="Oslo"), {"refusal": "I can't."}, {"json": {"n": 1}},
               Reply([Choice(content="Cut sh", finish_reason="length")]), full,
               fault("cut=2", reply="Never whole"), error(503))

    assert get(client).output_text == "Plain text."
    [fc] = get(client).output
    assert fc.type == "function_call"
    assert (fc.name, fc.arguments) == ("get_weather", '{"city":"Oslo"}')
    refused = get(client).output[0]
    assert refused.type == "message"
    assert [(p.type, getattr(p, "refusal", None)) for p in refused.content] == [("refusal", "I can't.")]
    assert json.loads(get(client).output_text) == {"n": 1}
    if stream:
        with client.responses.stream(model=MODEL, input="Hello") as s:
            events = list(s)
        assert events[-1].type == "response.incomplete"
        cut = events[-1].response  # type: ignore[union-attr]
    else:
        cut = ask(client)
    assert cut.status == "incomplete"
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output_text == "Cut sh"
    rich = get(client)
    assert [i.type for i in rich.output] == ["reasoning", "message", "function_call"]
    assert rich.model == "gpt-4o-2024-08-06"
    assert rich.output[0].summary[0].text == "Thinking."  # type: ignore[union-attr]
    assert rich.output[1].content[0].annotations[0].url == "https://example.com"  # type: ignore[union-attr]
    assert rich.output[2].call_id == "call_recorded"  # type: ignore[union-attr]
    assert rich.id != "resp_recorded"  # ids are the engine's: a recorded id would collide on a second use
    if stream:
        with pytest.raises(openai.APIConnectionError):
            streamed(client)
    else:
        with pytest.raises(openai.APIConnectionError):  # a JSON reply cut after its headers
            ask(client)
    with pytest.raises(openai.InternalServerError) as info:
        get(client)
    assert info.value.status_code == 503
    assert not mock.engine.script.pending


def test_one_scripted_reply_answers_chat_and_responses(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="weather").reply("It is 12°C.", tool_calls=[call("get_weather", city="Oslo")])
    completion = chat(client, "weather?", tools=[CHAT_WEATHER]).choices[0]
    response = ask(client, "weather?", tools=[WEATHER])
    assert completion.message.content == response.output_text == "It is 12°C."
    [chat_call] = completion.message.tool_calls
    [resp_call] = [i for i in response.output if i.type == "function_call"]
    assert (chat_call.function.name, chat_call.function.arguments) == (resp_call.name, resp_call.arguments)
    assert completion.finish_reason == "tool_calls"
    assert response.status == "completed"
    mock.on(last_user="refuse").reply(refusal="No.")
    assert chat(client, "refuse").choices[0].message.refusal == "No."
    assert ask(client, "refuse").output[0].content[0].refusal == "No."  # type: ignore[union-attr]


# --- the journal ----------------------------------------------------------------------------------------------


def test_the_journal(mock: MockAI, client: openai.OpenAI) -> None:
    ask(client, "First question", instructions="Be brief.")
    chat(client, "A chat question")
    r = ask(client, [{"role": "user", "content": [{"type": "input_text", "text": "Second"},  # type: ignore[arg-type]
                                                   {"type": "input_text", "text": "question"}]}], metadata={"a": "1"})
    client.responses.retrieve(r.id)
    last = mock.calls.last
    assert last.route == "responses.retrieve"
    responses = mock.calls.filter(route="responses")
    assert len(responses) == 2
    assert responses.last.last_user_text == "Second question"
    assert responses[0].prompt is not None
    assert responses[0].prompt.api == "responses"
    assert [(t.role, t.text) for t in responses[0].prompt.turns] == [("developer", "Be brief."),
                                                                      ("user", "First question")]
    assert isinstance(responses[0].request, CreateResponseRequest)
    assert responses[0].model == MODEL
    assert mock.calls.filter(route="chat").last.last_user_text == "A chat question"
    mock.calls.assert_any_call(model=MODEL, last_user="second", metadata={"a": "1"})
    mock.calls.assert_any_call(last_user=re.compile(r"^First"), instructions="Be brief.")
    with pytest.raises(AssertionError, match="no call with"):
        mock.calls.assert_any_call(last_user="never asked")
    assert "POST /v1/responses" in responses[0].describe()


# --- patch mode -----------------------------------------------------------------------------------------------


def test_patch_mode_sync_and_async() -> None:
    import asyncio

    with MockAI(seed=1) as mock:
        mock.on(api="responses").reply("Patched.")
        r = openai.OpenAI().responses.create(model=MODEL, input="Hello")
        assert r.output_text == "Patched."
        with openai.OpenAI().responses.stream(model=MODEL, input="Hello") as stream:
            assert stream.get_final_response().output_text == "Patched."

        async def run() -> str:
            async with openai.AsyncOpenAI() as client:
                done = await client.responses.create(model=MODEL, input="Hello")
                got = await client.responses.retrieve(done.id)
                return got.output_text

        assert asyncio.run(run()) == "Patched."
        assert mock.calls.filter(route="responses").call_count == 3
        check_journal(mock)


# --- scenario files -------------------------------------------------------------------------------------------


SCENARIO = """\
rules:
  - name: weather call
    match: {api: responses, last_user: weather, tool_result: false}
    reply: {tool_calls: [{name: get_weather, arguments: {city: Oslo}}]}
  - match: {api: responses, tool_result: get_weather}
    reply: "12°C and clear."
  - match: {api: chat}
    reply: "This is chat."
queue:
  - {refusal: "Not that."}
"""


def test_a_yaml_scenario_answers_responses_requests(door: Door, tmp_path: Path) -> None:
    path = tmp_path / "responses.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    door.mock.load(path)
    client = door.client()
    first = ask(client, "Weather in Oslo?", tools=[WEATHER])
    assert first.output[0].type == "function_call"
    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": first.output[0].call_id, "output": "12"}])  # type: ignore[union-attr]
    assert second.output_text == "12°C and clear."
    assert chat(client, "Weather in Oslo?").choices[0].message.content == "This is chat."
    assert ask(client, "Something else").output[0].content[0].refusal == "Not that."  # type: ignore[union-attr]
    assert door.mock.unused() == []


def test_scenario_api_values() -> None:
    from mockai.matchers import APIS

    assert set(Match.model_fields["api"].annotation.__args__[0].__args__) == set(APIS)  # type: ignore[union-attr]
    mock = MockAI()
    with pytest.raises(Exception, match=r"match\.api"):
        mock.load({"rules": [{"match": {"api": "completions"}, "reply": "x"}]})


# --- faults ---------------------------------------------------------------------------------------------------


def test_fault_429_has_the_chat_headers(door: Door, client: openai.OpenAI) -> None:
    door.mock.fault("429", times=2)
    with pytest.raises(openai.RateLimitError) as responses_err:
        ask(client)
    with pytest.raises(openai.RateLimitError) as chat_err:
        chat(client)
    got, want = responses_err.value.response.headers, chat_err.value.response.headers
    names = {k for k in want if k.startswith(("x-ratelimit-", "retry-after"))}
    assert len(names) == 8
    assert {k: got[k] for k in names if "tokens" not in k} == {k: want[k] for k in names if "tokens" not in k}
    assert names <= set(got)
    assert responses_err.value.code == "rate_limit_exceeded"
    assert door.mock.calls.filter(route="responses").last.fault == "429"


def test_fault_cut_drops_the_stream(mock: MockAI, client: openai.OpenAI) -> None:
    mock.fault("cut=3")
    seen = []
    with pytest.raises(openai.APIConnectionError), client.responses.stream(model=MODEL, input="Hello") as stream:
        seen.extend(e.type for e in stream)
    assert seen == ["response.created", "response.in_progress", "response.output_item.added"]


def test_fault_error_event_raises_in_the_sdk(door: Door, client: openai.OpenAI) -> None:
    door.mock.fault("error_event=5")
    seen = []
    with pytest.raises(openai.APIError, match="The server had an error") as info, \
            client.responses.stream(model=MODEL, input="Tell me a long story.") as stream:
        seen.extend(e.type for e in stream)
    assert len(seen) == 5
    assert info.value.body == {"type": "server_error", "code": None,
                               "message": info.value.message, "param": None}
    raw = door.mock.calls.last.response.events
    assert raw is not None
    events = sse_events(raw)
    assert events[-1]["type"] == "error"
    assert follow(events)["type"] == "error"
    door.mock.fault("error_event")
    with pytest.raises(openai.APIError):
        list(client.responses.create(model=MODEL, input="Again", stream=True))


def test_content_faults(mock: MockAI, client: openai.OpenAI) -> None:
    mock.fault("length=3")
    cut = ask(client, "Tell me a long story.")
    assert cut.status == "incomplete"
    assert cut.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    assert cut.usage is not None
    assert cut.output_text
    mock.fault("refusal")
    refused = streamed(client, "Hello")
    assert refused.output[0].content[0].type == "refusal"  # type: ignore[union-attr]
    assert refused.output_text == ""
    mock.fault("content_filter")
    filtered = ask(client, "Hello")
    assert filtered.incomplete_details.reason == "content_filter"  # type: ignore[union-attr]


def test_faults_for_one_rule_and_in_sequence(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(api="responses", last_user="flaky").sequence(error(500), fault("length=2", reply="One two three four"),
                                                         "Fine now.")
    with pytest.raises(openai.InternalServerError):
        ask(client, "flaky")
    assert ask(client, "flaky").output_text == "One two"
    assert ask(client, "flaky").output_text == "Fine now."


def test_stall_over_the_socket() -> None:
    door = open_door("socket")
    try:
        door.mock.fault("stall=0.6")
        client = door.raw()
        start = time.monotonic()
        arrivals = []
        with client.stream("POST", "/responses", json={"model": MODEL, "input": "Hi", "stream": True}) as res:
            for line in res.iter_lines():
                if line.startswith("event: "):
                    arrivals.append(time.monotonic() - start)
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert gaps[max(1, len(gaps) // 2) - 1] >= 0.5  # the pause sits in the middle of the stream
    finally:
        close_door(door)


def test_latency_over_the_socket() -> None:
    door = open_door("socket", latency="ttft=0.3,per_token=0.02")
    try:
        client = door.raw()
        start = time.monotonic()
        arrivals = []
        with client.stream("POST", "/responses", json={"model": MODEL, "input": "Hi", "stream": True}) as res:
            for line in res.iter_lines():
                if line.startswith("event: "):
                    arrivals.append(time.monotonic() - start)
        assert arrivals[0] >= 0.25
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert sum(gaps) >= 0.015 * len(gaps)
        begin = time.monotonic()
        assert client.post("/responses", json={"model": MODEL, "input": "Hi"}).status_code == 200
        assert time.monotonic() - begin >= 0.3
    finally:
        close_door(door)


# --- rate limits ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [{"rpm": 2}, {"tpm": 60}])
def test_rate_limits_answer_like_chat(limit: dict[str, int]) -> None:
    from mockai import Clock

    def run(api: str) -> tuple[httpx.Headers, dict[str, Any], list[httpx.Headers]]:
        door = open_door("in-process", clock=Clock(), **limit)
        try:
            client = door.client()
            oks = []
            for _ in range(5):
                try:
                    if api == "chat":
                        raw = client.chat.completions.with_raw_response.create(
                            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=16)
                    else:
                        raw = client.responses.with_raw_response.create(model=MODEL, input="Hi",
                                                                        max_output_tokens=16)
                    oks.append(raw.headers)
                except openai.RateLimitError as exc:
                    return exc.response.headers, exc.body, oks  # type: ignore[return-value]
            raise AssertionError("no 429")
        finally:
            close_door(door)

    chat_headers, chat_body, chat_oks = run("chat")
    resp_headers, resp_body, resp_oks = run("responses")
    assert len(resp_oks) == len(chat_oks) >= 1
    names = {k for k in chat_headers if k.startswith(("x-ratelimit-", "retry-after"))}
    assert names
    assert names == {k for k in resp_headers if k.startswith(("x-ratelimit-", "retry-after"))}
    if "rpm" in limit:  # the same request counts: the same numbers (token counts differ between the two APIs)
        assert {k: resp_headers[k] for k in names} == {k: chat_headers[k] for k in names}
        assert resp_headers["x-ratelimit-remaining-requests"] == "0"
    assert resp_body["code"] == chat_body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    assert resp_body["type"] == chat_body["type"]  # type: ignore[index]
    for ok in resp_oks:
        assert {k for k in ok if k.startswith("x-ratelimit-")} == {k for k in chat_oks[0]
                                                                    if k.startswith("x-ratelimit-")}


# --- strict mode ----------------------------------------------------------------------------------------------


def test_strict_mode_says_why_rules_missed() -> None:
    door = open_door("in-process", strict=True)
    try:
        door.mock.on(api="chat", last_user="hello").reply("Chat only.")
        door.mock.on(api="responses", last_user="weather").reply("Sunny.")
        door.mock.on(api="responses", where=lambda r: r.store is False).reply("Unstored.")
        client = door.client()
        assert ask(client, "weather?").output_text == "Sunny."
        with pytest.raises(openai.BadRequestError) as info:
            ask(client, "hello there")
        message = info.value.message
        assert info.value.code == "mockai_unscripted"
        assert "the API is 'responses', not 'chat'" in message
        assert "the last user message 'hello there' does not contain 'weather'" in message
        assert "where=<lambda> returned False" in message
        assert "queue: empty" in message
        assert len(door.mock.unexpected) == 1
        problems = "\n".join(door.mock.problems())
        assert "1 unexpected request" in problems
        assert "hello there" in problems
    finally:
        door.mock.engine.calls[:] = [c for c in door.mock.calls if not c.unexpected]
        close_door(door)


# --- reset ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["MockAI.reset()", "POST /_mockai/reset"])
def test_reset_forgets_stored_responses_and_conversations(door: Door, client: openai.OpenAI, how: str) -> None:
    r = ask(client, "Remember me.")
    bg = client.responses.create(model=MODEL, input="Queued.", background=True)
    conv = client.conversations.create(items=[{"type": "message", "role": "user", "content": "Hi"}])
    in_conv = ask(client, "In it.", conversation=conv.id)
    assert client.responses.retrieve(r.id).id == r.id
    if how == "MockAI.reset()":
        door.mock.reset()
    else:
        assert door.raw().post(door.root + "/_mockai/reset").json() == {"reset": True}
    for rid in (r.id, bg.id, in_conv.id):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(rid)
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model=MODEL, input="x", previous_response_id=rid)
        assert info.value.code == "previous_response_not_found"
    for action in (lambda: client.conversations.retrieve(conv.id), lambda: client.conversations.items.list(conv.id),
                   lambda: client.responses.create(model=MODEL, input="x", conversation=conv.id)):
        with pytest.raises(openai.NotFoundError):
            action()
    again = ask(client, "Remember me.")
    assert again.id == r.id  # ids start over, and nothing stored collides with them
    assert client.responses.retrieve(again.id).output_text == again.output_text


def test_concurrent_requests_over_the_socket_keep_their_chains() -> None:
    """Chains built by several threads at once each see only their own history."""
    door = open_door("socket")
    try:
        client = door.client()
        failures: list[str] = []

        def converse(n: int) -> None:
            previous = None
            for turn in range(3):
                r = client.responses.create(model=MODEL, input=f"thread {n} turn {turn}",
                                            previous_response_id=previous)
                previous = r.id
            items = client.responses.input_items.list(previous)  # type: ignore[arg-type]
            if [i.content[0].text for i in items.data] != [f"thread {n} turn 2"]:  # type: ignore[union-attr]
                failures.append(f"thread {n}: {items.data}")

        threads = [threading.Thread(target=converse, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        chains = [c for c in door.mock.calls.filter(route="responses") if c.prompt is not None]
        for c in chains:
            thread = c.last_user_text.split()[1]
            assert all(t.split()[1] == thread for t in c.prompt.texts if t.startswith("thread"))  # type: ignore[union-attr]
    finally:
        close_door(door)
