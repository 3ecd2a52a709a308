"""MockAI, the object a test author holds: scripting through the real ``openai`` SDK (sync, async, streaming),
strict mode, and the patch-mode context manager."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from mockai import MockAI, Reply, call, error
from mockai.wire import ChatCompletionRequest

MODEL = "gpt-4o-mini"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def ask(client: openai.OpenAI, text: str, **params: Any) -> Any:
    params.setdefault("model", MODEL)
    return client.chat.completions.create(messages=user(text), **params)


def text_of(client: openai.OpenAI, text: str, **params: Any) -> str | None:
    content: str | None = ask(client, text, **params).choices[0].message.content
    return content


@pytest.fixture
def mock() -> MockAI:
    return MockAI(seed=3)


@pytest.fixture
def client(mock: MockAI) -> openai.OpenAI:
    return mock.client(max_retries=0)


# --- queue ---------------------------------------------------------------------------------------------------


def test_queue_answers_in_order_then_generator_takes_over(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue("first", "second")
    assert text_of(client, "a") == "first"
    assert text_of(client, "b") == "second"
    generated = text_of(client, "c")
    assert generated not in (None, "", "first", "second")
    assert [c.responder for c in mock.calls] == ["script", "script", "generator"]
    assert mock.unused() == []


def test_reply_shortcut_and_fail_shortcut(mock: MockAI, client: openai.OpenAI) -> None:
    mock.fail(429, times=2)
    mock.reply("after the storm")
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            ask(client, "x")
    assert text_of(client, "x") == "after the storm"
    with pytest.raises(ValueError, match="needs content"):
        mock.reply()


def test_rules_take_precedence_over_the_queue(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue("from the queue")
    mock.on(last_user="rule").reply("from the rule")
    assert text_of(client, "hit the rule") == "from the rule"
    assert text_of(client, "other") == "from the queue"


# --- every matcher -------------------------------------------------------------------------------------------


def test_model_matcher_exact_and_regex(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(model="gpt-4o").reply("exact")
    mock.on(model=re.compile(r"gpt-4\.1.*")).reply("regex")
    assert text_of(client, "x", model="gpt-4o") == "exact"
    assert text_of(client, "x", model="gpt-4.1-mini") == "regex"
    # exact means exact: gpt-4o-mini is not gpt-4o, and the model regex must match the whole name
    assert text_of(client, "x", model="gpt-4o-mini") not in ("exact", "regex")
    assert text_of(client, "x", model="xgpt-4.1") not in ("exact", "regex")


def test_last_user_substring_is_case_insensitive_and_regex_searches(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="WEATHER").reply("substring")
    mock.on(last_user=re.compile(r"^hello\b")).reply("regex")
    assert text_of(client, "what's the weather?") == "substring"
    assert text_of(client, "hello world") == "regex"
    assert text_of(client, "say hello") not in ("substring", "regex")


def test_last_user_looks_only_at_the_last_user_message(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="apples").reply("apples rule")
    mock.on(any_message="apples").reply("any rule")
    messages = [{"role": "user", "content": "I like apples"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "and pears"}]
    reply = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "any rule"


def test_any_message_matches_system_and_earlier_messages(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(any_message=re.compile(r"pirate")).reply("Arr!")
    messages = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "hi"}]
    assert client.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content == "Arr!"  # type: ignore[arg-type]
    assert text_of(client, "hi") != "Arr!"


def test_has_tools_matcher(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(has_tools=True).reply("tools")
    mock.on(has_tools=False).reply("no tools")
    assert text_of(client, "x", tools=[WEATHER_TOOL]) == "tools"
    assert text_of(client, "x") == "no tools"


def _tool_conversation(name: str, call_id: str = "call_1") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "result"},
    ]


def test_tool_result_by_name_true_and_false(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(tool_result="get_weather").reply("weather result")
    mock.on(tool_result=True).reply("some tool result")
    mock.on(tool_result=False).reply("not a tool result")
    create = client.chat.completions.create
    assert create(model=MODEL, messages=_tool_conversation("get_weather"),  # type: ignore[arg-type]
                  tools=[WEATHER_TOOL, TIME_TOOL]).choices[0].message.content == "weather result"
    assert create(model=MODEL, messages=_tool_conversation("get_time"),  # type: ignore[arg-type]
                  tools=[WEATHER_TOOL, TIME_TOOL]).choices[0].message.content == "some tool result"
    assert text_of(client, "plain") == "not a tool result"


def test_stream_matcher(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(stream=True).reply("streamed")
    mock.on(stream=False).reply("whole")
    chunks = list(ask(client, "x", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed"
    assert text_of(client, "x") == "whole"


def test_where_callable_sees_the_validated_request(mock: MockAI, client: openai.OpenAI) -> None:
    seen: list[Any] = []

    def cold(request: ChatCompletionRequest) -> bool:
        seen.append(request)
        return request.temperature == 0

    mock.on(where=cold).reply("deterministic")
    assert text_of(client, "x", temperature=0) == "deterministic"
    assert text_of(client, "x", temperature=1) != "deterministic"
    assert all(isinstance(r, ChatCompletionRequest) for r in seen)
    assert len(seen) == 2


def test_all_conditions_of_a_rule_must_match(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(model="gpt-4o", last_user="hi", stream=False).reply("all three")
    assert text_of(client, "hi", model="gpt-4o") == "all three"
    assert text_of(client, "hi", model=MODEL) != "all three"
    assert text_of(client, "bye", model="gpt-4o") != "all three"


# --- times, sequence ---------------------------------------------------------------------------------------


def test_times_limits_a_rule_then_the_next_rule_answers(mock: MockAI, client: openai.OpenAI) -> None:
    limited = mock.on(last_user="q").reply("limited", times=2)
    mock.on(last_user="q").reply("fallback")
    assert [text_of(client, "q") for _ in range(3)] == ["limited", "limited", "fallback"]
    assert limited.call_count == 2
    assert limited.exhausted


def test_times_on_on(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="q", times=1).reply("once")
    assert text_of(client, "q") == "once"
    assert text_of(client, "q") != "once"


def test_sequence_answers_in_order_then_stops_matching(mock: MockAI, client: openai.OpenAI) -> None:
    rule = mock.on(last_user="q").sequence("one", {"content": "two"}, error(500))
    assert text_of(client, "q") == "one"
    assert text_of(client, "q") == "two"
    with pytest.raises(openai.InternalServerError):
        ask(client, "q")
    assert text_of(client, "q") not in ("one", "two")
    assert rule.call_count == 3
    assert mock.calls[-1].responder == "generator"


# --- kinds of replies --------------------------------------------------------------------------------------


def test_reply_tool_calls(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(has_tools=True).reply(tool_calls=[call("get_weather", city="Oslo"), call("get_time", "{}")])
    choice = ask(client, "x", tools=[WEATHER_TOOL, TIME_TOOL]).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"}), ("get_time", {})]
    assert all(c.id.startswith("call_") for c in calls)
    assert len({c.id for c in calls}) == 2


def test_reply_json_is_compact_json_content(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on().reply(json={"a": [1, 2], "b": None})
    content = text_of(client, "x")
    assert content is not None
    assert json.loads(content) == {"a": [1, 2], "b": None}


def test_reply_refusal(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on().reply(refusal="I can't help with that.")
    message = ask(client, "x").choices[0].message
    assert message.refusal == "I can't help with that."
    assert message.content is None


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_reply_finish_reason(mock: MockAI, client: openai.OpenAI, reason: str) -> None:
    mock.on().reply("cut", finish_reason=reason)
    assert ask(client, "x").choices[0].finish_reason == reason


def test_reply_rejects_an_unknown_finish_reason(mock: MockAI, client: openai.OpenAI) -> None:
    with pytest.raises(ValueError, match="finish_reason 'bogus' is not one of stop, length"):
        mock.on().reply("x", finish_reason="bogus")  # checked when scripted, not at the first request
    assert mock.rules == []  # and no half-made rule is left to fail teardown
    mock.on().respond(lambda request: {"content": "x", "finish_reason": "bogus"})
    with pytest.raises(ValueError, match="finish_reason 'bogus'"):  # a callable's reply: raised in the test
        ask(client, "x")


def test_respond_with_a_callable_of_the_request(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on().respond(lambda req: f"echo: {req.messages[-1].content} ({req.model})")
    assert text_of(client, "ping") == f"echo: ping ({MODEL})"
    assert text_of(client, "pong", model="gpt-4o") == "echo: pong (gpt-4o)"


def test_callable_may_return_any_reply_spec(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on().respond(lambda req: error(429) if req.temperature == 2 else call("get_time"))
    assert ask(client, "x", tools=[TIME_TOOL]).choices[0].message.tool_calls[0].function.name == "get_time"
    with pytest.raises(openai.RateLimitError):
        ask(client, "x", temperature=2)


def test_error_429_surfaces_as_rate_limit_error(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="busy").error(429, "Slow down.", code="rate_limit_exceeded",
                                    headers={"retry-after": "7"})
    with pytest.raises(openai.RateLimitError) as info:
        ask(client, "busy")
    err = info.value
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded"
    assert "Slow down." in err.message
    assert err.response.headers["retry-after"] == "7"
    assert mock.calls.last.status == 429


@pytest.mark.parametrize(("status", "exc"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError), (403, openai.PermissionDeniedError),
    (404, openai.NotFoundError), (409, openai.ConflictError), (422, openai.UnprocessableEntityError),
    (500, openai.InternalServerError), (503, openai.InternalServerError),
])
def test_errors_map_to_the_sdk_exceptions(mock: MockAI, client: openai.OpenAI, status: int,
                                          exc: type[Exception]) -> None:
    mock.queue(error(status))
    with pytest.raises(exc):
        ask(client, "x")


def test_sdk_retries_through_scripted_errors(mock: MockAI) -> None:
    mock.queue(error(429, headers={"retry-after-ms": "1"}), error(503, headers={"retry-after-ms": "1"}), "ok")
    client = mock.client(max_retries=2)
    assert text_of(client, "x") == "ok"
    assert mock.call_count == 3
    assert [c.http.headers["x-stainless-retry-count"] for c in mock.calls] == ["0", "1", "2"]


def test_full_completion_dict_as_reply(mock: MockAI, client: openai.OpenAI) -> None:
    completion = {
        "id": "chatcmpl-ignored", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "zero"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_fixed", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
             "finish_reason": "tool_calls"},
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    mock.queue(completion)
    reply = ask(client, "x", n=2)
    assert reply.model == "gpt-4o-2024-08-06"
    assert [c.message.content for c in reply.choices] == ["zero", None]
    assert reply.choices[1].message.tool_calls[0].id == "call_fixed"
    assert reply.choices[1].finish_reason == "tool_calls"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 7)


def test_openai_chat_completion_object_as_reply(mock: MockAI, client: openai.OpenAI) -> None:
    recorded = ChatCompletion.model_validate({
        "id": "chatcmpl-rec", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "recorded answer"},
                     "finish_reason": "stop", "logprobs": None}],
    })
    mock.queue(recorded)
    reply = ask(client, "x")
    assert reply.choices[0].message.content == "recorded answer"
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert reply.id != "chatcmpl-rec"  # ids are the engine's: unique per call


def test_reply_object_as_reply(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue(Reply.text("from a Reply", finish_reason="length"))
    choice = ask(client, "x").choices[0]
    assert (choice.message.content, choice.finish_reason) == ("from a Reply", "length")


def test_one_choice_replicates_for_n(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(has_tools=True).reply(tool_calls=[call("get_time")])
    reply = ask(client, "x", n=3, tools=[TIME_TOOL])
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert [c.message.tool_calls[0].function.name for c in reply.choices] == ["get_time"] * 3
    mock.queue("same")
    chunks = list(ask(client, "y", n=2, stream=True))
    texts: dict[int, str] = {}
    for chunk in chunks:
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
    assert texts == {0: "same", 1: "same"}


def test_each_call_gets_a_unique_id(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on().reply("same")
    ids = {ask(client, "same question").id for _ in range(5)}
    assert len(ids) == 5


# --- a multi-turn agent loop ------------------------------------------------------------------------------


def run_agent(client: openai.OpenAI, question: str, tools: dict[str, Any]) -> str:
    """A minimal agent: call the model, run the tools it asks for, send the results back, until it answers."""
    messages: list[Any] = [{"role": "user", "content": question}]
    specs = [{"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
             for n in tools]
    for _ in range(5):
        message = client.chat.completions.create(model=MODEL, messages=messages, tools=specs).choices[0].message  # type: ignore[arg-type]
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for tc in message.tool_calls:
            result = tools[tc.function.name](**json.loads(tc.function.arguments))
            messages.append({"role": "tool", "tool_call_id": tc.id, "content": json.dumps(result)})
    raise AssertionError("the agent did not finish")


def test_agent_loop_scripted_in_three_lines(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="weather", tool_result=False).reply(tool_calls=[call("get_weather", city="Oslo")])
    mock.on(tool_result="get_weather").reply(tool_calls=[call("get_time", zone="CET")])
    mock.on(tool_result="get_time").respond(lambda req: f"At {req.messages[-1].content}, it is 12°C in Oslo.")

    ran: list[tuple[str, dict[str, Any]]] = []
    tools = {
        "get_weather": lambda **kw: ran.append(("get_weather", kw)) or {"temp": 12},
        "get_time": lambda **kw: ran.append(("get_time", kw)) or "09:00",
    }
    answer = run_agent(client, "What's the weather in Oslo?", tools)
    assert answer == 'At "09:00", it is 12°C in Oslo.'
    assert ran == [("get_weather", {"city": "Oslo"}), ("get_time", {"zone": "CET"})]
    assert mock.call_count == 3
    # the tool result the app sent back is in the journal
    assert mock.calls[1].request is not None
    assert mock.calls[1].request.messages[-1].content == '{"temp": 12}'
    mock.verify()


# --- structured outputs -------------------------------------------------------------------------------------


class Person(BaseModel):
    name: str
    age: int


def test_parse_with_a_pydantic_model(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(where=lambda r: r.response_format is not None).reply(json={"name": "Ada", "age": 36})
    completion = client.chat.completions.parse(model=MODEL, messages=user("Extract: Ada, 36"),  # type: ignore[arg-type]
                                               response_format=Person)
    parsed = completion.choices[0].message.parsed
    assert parsed == Person(name="Ada", age=36)
    body = mock.calls.last.body
    assert body is not None
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "Person"


def test_parse_with_a_refusal(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue({"refusal": "No."})
    message = client.chat.completions.parse(model=MODEL, messages=user("x"),  # type: ignore[arg-type]
                                            response_format=Person).choices[0].message
    assert message.refusal == "No."
    assert message.parsed is None


# --- streaming and async ------------------------------------------------------------------------------------


def test_streaming_by_iteration_reassembles_tool_calls(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(stream=True).reply(tool_calls=[call("get_weather", city="Oslo")])
    args, names, finish = "", [], None
    for chunk in ask(client, "x", stream=True, tools=[WEATHER_TOOL]):
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                if tc.function and tc.function.name:
                    names.append(tc.function.name)
                args += (tc.function.arguments or "") if tc.function else ""
            finish = c.finish_reason or finish
    assert names == ["get_weather"]
    assert json.loads(args) == {"city": "Oslo"}
    assert finish == "tool_calls"


def test_streaming_with_the_stream_helper(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue("Hello, streaming world!")
    with client.chat.completions.stream(model=MODEL, messages=user("x"),  # type: ignore[arg-type]
                                        stream_options={"include_usage": True}) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == "Hello, streaming world!"
    assert len(deltas) > 1
    assert final.choices[0].message.content == "Hello, streaming world!"
    assert final.usage is not None
    assert final.usage.completion_tokens > 0
    assert mock.calls.last.request is not None
    assert mock.calls.last.request.stream is True


def test_stream_helper_parses_structured_output(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue({"json": {"name": "Grace", "age": 85}})
    with client.chat.completions.stream(model=MODEL, messages=user("x"),  # type: ignore[arg-type]
                                        response_format=Person) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Person(name="Grace", age=85)


async def _async_conversation(mock: MockAI) -> None:
    mock.queue("async one")
    mock.on(stream=True).reply("async stream")
    async with mock.async_client(max_retries=0) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=user("x"))  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "async one"
        stream = await client.chat.completions.create(model=MODEL, messages=user("y"), stream=True)  # type: ignore[arg-type]
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "async stream"
        async with client.chat.completions.stream(model=MODEL, messages=user("z")) as helper:  # type: ignore[arg-type]
            final = await helper.get_final_completion()
        assert final.choices[0].message.content == "async stream"
        mock.queue(error(429))
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=user("x"))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_async_client_asyncio(mock: MockAI) -> None:
    await _async_conversation(mock)
    assert mock.call_count == 4


def test_async_client_under_anyio_run(mock: MockAI) -> None:
    import anyio

    anyio.run(_async_conversation, mock)
    assert mock.call_count == 4


# --- strict mode -------------------------------------------------------------------------------------------


def test_strict_mode_lists_every_rule_and_why_it_missed() -> None:
    mock = MockAI(strict=True)
    mock.on(model="gpt-4o").reply("a")
    mock.on(last_user="weather", name="weather rule").reply("b")
    mock.on(has_tools=True).reply("c")
    mock.on(last_user="x", times=1).reply("d")
    client = mock.client(max_retries=0)
    assert text_of(client, "x") == "d"
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "x")
    msg = info.value.message
    assert info.value.code == "mockai_unscripted"
    assert "model is 'gpt-4o-mini', not 'gpt-4o'" in msg
    assert "'weather rule'" in msg
    assert "does not contain 'weather'" in msg
    assert "no tools offered" in msg
    assert "used up (1 of times=1)" in msg
    assert "queue: empty" in msg
    assert "strict=False" in msg
    assert len(mock.unexpected) == 1
    assert mock.unexpected[0] is mock.calls.last
    with pytest.raises(AssertionError, match="1 unexpected request"):
        mock.verify()


def test_strict_mode_lets_scripted_replies_through() -> None:
    mock = MockAI(strict=True)
    mock.queue("scripted")
    assert text_of(mock.client(max_retries=0), "x") == "scripted"
    assert list(mock.unexpected) == []
    mock.verify()


# --- context manager, verify, reset ------------------------------------------------------------------------


def test_with_block_patches_a_plain_sdk_client_and_verifies() -> None:
    with MockAI(seed=1) as mock:
        mock.queue("patched")
        client = openai.OpenAI(api_key="sk-anything", max_retries=0)
        assert text_of(client, "x") == "patched"
    assert mock.calls.last.http.headers["authorization"] == "Bearer sk-anything"


def test_with_block_fails_on_unused_replies() -> None:
    with pytest.raises(AssertionError, match=r"never used[\s\S]*assert_all_called=False"), MockAI() as mock:
        mock.queue("never asked")


def test_with_block_does_not_mask_the_test_error() -> None:
    def failing_test() -> None:
        with MockAI() as mock:
            mock.queue("never asked")
            raise KeyError("the real failure")

    with pytest.raises(KeyError, match="the real failure"):
        failing_test()


def test_assert_all_called_false_allows_unused() -> None:
    with MockAI(assert_all_called=False) as mock:
        mock.queue("never asked")
        mock.on(model="x").reply("y")
    assert len(mock.unused()) == 2


def test_reset_forgets_rules_queue_journal_and_ids(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="x").reply("rule")
    mock.queue("q")
    first_id = ask(client, "x").id
    mock.reset()
    assert (mock.rules, mock.call_count, mock.unused()) == ([], 0, [])
    assert text_of(client, "x") != "rule"
    mock.reset()
    # ids come from (seed, request, occurrence): the same request gets a new id each time, until a reset
    assert ask(client, "x").id == first_id
    assert ask(client, "x").id != first_id


def test_same_seed_same_generated_reply_different_seed_differs() -> None:
    def generated(seed: int) -> str | None:
        return text_of(MockAI(seed=seed).client(), "Tell me something")

    assert generated(5) == generated(5)
    assert generated(5) != generated(6)


def test_auth_and_api_key() -> None:
    mock = MockAI(api_key="sk-right")
    with pytest.raises(openai.AuthenticationError):
        text_of(mock.client(api_key="sk-wrong", max_retries=0), "x")
    assert text_of(mock.client(max_retries=0), "x")  # the mock's own clients carry its key
    assert mock.calls.last.http.headers["authorization"] == "Bearer sk-right"
    assert mock.async_client().api_key == "sk-right"


def test_load_from_dict(mock: MockAI, client: openai.OpenAI) -> None:
    mock.load({"rules": [{"match": {"last_user": "dict"}, "reply": "from a dict"}], "queue": ["queued"]})
    assert text_of(client, "dict") == "from a dict"
    assert text_of(client, "other") == "queued"


def test_base_url_outside_serve_is_an_error(mock: MockAI) -> None:
    with pytest.raises(RuntimeError, match="not being served"):
        _ = mock.base_url


def test_http_clients_sync_and_async(mock: MockAI) -> None:
    import anyio

    mock.queue("via httpx", "via async httpx")
    body = {"model": MODEL, "messages": user("x")}
    headers = {"authorization": "Bearer k"}
    with mock.http_client() as http:
        assert http.post("/chat/completions", json=body, headers=headers).json()["choices"][0]["message"][
            "content"] == "via httpx"

    async def go() -> str:
        async with mock.async_http_client() as http:
            res = await http.post("/chat/completions", json=body, headers=headers)
            content: str = res.json()["choices"][0]["message"]["content"]
            return content

    assert anyio.run(go) == "via async httpx"


# --- patch mode provides a key; absent optional packages -----------------------------------------------------


def test_patch_mode_provides_a_key_to_clients_built_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a CI without a key
    with MockAI() as mock:
        assert text_of(openai.OpenAI(max_retries=0), "x")  # the code under test builds its own client
    assert "OPENAI_API_KEY" not in os.environ  # not leaked after the block
    assert mock.calls.last.http.headers["authorization"] == "Bearer sk-mockai-test-key"

    mock = MockAI(api_key="sk-configured").start()
    try:
        assert os.environ["OPENAI_API_KEY"] == "sk-configured"
        assert text_of(openai.OpenAI(max_retries=0), "x")
        with MockAI().patch():  # nested: the first one's key stays until the last one stops
            assert os.environ["OPENAI_API_KEY"] == "sk-configured"
        assert os.environ["OPENAI_API_KEY"] == "sk-configured"
    finally:
        mock.stop()
    assert "OPENAI_API_KEY" not in os.environ


def test_patch_mode_keeps_a_key_that_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("OPENAI_API_KEY", "sk-mine")
    with MockAI() as mock:
        assert os.environ["OPENAI_API_KEY"] == "sk-mine"
        text_of(openai.OpenAI(max_retries=0), "x")
    assert os.environ["OPENAI_API_KEY"] == "sk-mine"
    assert mock.calls.last.http.headers["authorization"] == "Bearer sk-mine"


def test_patch_mode_does_not_remove_a_key_changed_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with MockAI():
        monkeypatch.setenv("OPENAI_API_KEY", "sk-set-by-the-test")
    assert os.environ["OPENAI_API_KEY"] == "sk-set-by-the-test"


@pytest.mark.parametrize(("code", "message"), [
    ("import mockai; mockai.MockAI().client()",
     "MockAI.client() builds an openai SDK client, and the openai package is not installed: pip install openai"),
    ("import mockai.strategies",
     "mockai.strategies needs Hypothesis, which is not installed: pip install hypothesis"),
])
def test_an_absent_optional_package_names_the_fix(code: str, message: str) -> None:
    import subprocess
    import sys

    hide = "import sys; sys.modules['openai'] = sys.modules['hypothesis'] = None\n"
    out = subprocess.run([sys.executable, "-c", hide + code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"ImportError: {message}" in out.stderr


def test_misspelled_constructor_arguments_suggest_the_name() -> None:
    with pytest.raises(TypeError, match=r"^MockAI\(\) got an unexpected keyword argument 'strcit'; did you mean "
                                        r"'strict'\? It takes seed, strict, assert_all_called"):
        MockAI(strcit=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"MockAI\.reply\(\) got an unexpected keyword argument 'refusl'"):
        MockAI().reply(refusl="no")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="a reply takes content or json, not both"):
        MockAI().reply("a", json={"k": 1})


def test_a_single_string_where_a_list_is_expected_is_a_list_of_one() -> None:
    """``models="gpt-4o"`` is one model, not six one-letter ones; ``base_urls="…"`` one host to intercept."""
    mock = MockAI(models="gpt-4o", strict_models=True)
    assert mock.engine.config.models == ["gpt-4o"]
    client = mock.client(max_retries=0)
    assert [m.id for m in client.models.list()] == ["gpt-4o"]
    assert ask(client, "Hi", model="gpt-4o").model.startswith("gpt-4o")
    with MockAI(base_urls="http://localhost:1234/v1", assert_all_called=False) as gateway:
        gateway.queue("via the gateway")
        local = openai.OpenAI(base_url="http://localhost:1234/v1", api_key="sk-x", max_retries=0)
        assert text_of(local, "Hi") == "via the gateway"
    with pytest.raises(TypeError, match=r"^models must be a model name or a list of them, not \[1\] \(list\)$"):
        MockAI(models=[1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^base_urls must be a base URL or a list of them, not 3 \(int\)$"):
        MockAI(base_urls=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": "42"}, r"seed must be an int, not '42' \(str\): write seed=42"),
    ({"seed": 1.5}, r"seed must be an int, not 1.5 \(float\)"),
    ({"seed": True}, r"seed must be an int, not True \(bool\)"),
    ({"clock": "now"}, r"clock must be a Unix time in seconds \(clock=1_700_000_000\), a callable returning one "
                       r"\(clock=mockai.Clock\(\), or time.time\), or None for the real time; not 'now' \(str\)"),
])
def test_a_bad_seed_or_clock_fails_at_construction(kwargs: dict[str, Any], message: str) -> None:
    """Not as a 500 (or a %d TypeError) at every request."""
    with pytest.raises(TypeError, match=f"^{message}$"):
        MockAI(**kwargs)


def test_every_documented_clock_and_seed_is_accepted() -> None:
    import time

    from mockai import Clock

    for clock in (None, 1_700_000_000, 1.7e9, time.time, Clock()):
        mock = MockAI(seed=-5, clock=clock)
        assert ask(mock.client(max_retries=0), "Hi").id


def test_an_integer_of_another_type_is_a_seed() -> None:
    """numpy's integers (a seed drawn by a test's own generator) are ints, not a TypeError."""
    import numpy as np

    mock = MockAI(seed=np.int64(7))
    assert type(mock.engine.config.seed) is int
    assert MockAI(seed=7.0).engine.config.seed == 7  # (a whole float worked before seeds were checked)
    assert ask(mock.client(max_retries=0), "Hi").id == ask(MockAI(seed=7).client(max_retries=0), "Hi").id
