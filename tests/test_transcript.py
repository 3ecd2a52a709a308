"""Readable journals: one-line reprs of a call, the journal and a MockAI; the transcript (``calls.show()``,
``str(calls)``) for chat, the Responses API, streams, tool calls, errors, faults, cassettes and listings."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mockai import MockAI, call
from mockai.http import HTTPRequest, HTTPResponse
from mockai.journal import Call, CallList
from mockai.transcript import error_of, tokens_of

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def mock() -> MockAI:
    return MockAI(seed=1, clock=1_700_000_000)


def converse(mock: MockAI) -> openai.OpenAI:
    """A tool call answered by a named rule, the tool result answered by the queue (as a stream)."""
    mock.on(last_user="weather", tool_result=False, name="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
    mock.queue("It is 12°C in Oslo.")
    client = mock.client(max_retries=0)
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What's the weather in Oslo?"}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER])
    tool_call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": tool_call.id, "content": "12C, light rain"}]
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER], stream=True,
                                            stream_options={"include_usage": True}):
        pass
    return client


def test_reprs_are_one_short_line(mock: MockAI) -> None:
    assert repr(mock) == "<MockAI seed=1 rules=0 queued=0 calls=0>"
    assert repr(mock.calls) == "<CallList: no calls>"
    converse(mock)
    for text in (repr(mock.calls[0]), repr(mock.calls), repr(mock)):
        assert "\n" not in text
        assert len(text) < 300, text
    assert repr(mock.calls[0]) == ("<Call POST /v1/chat/completions -> 200 model='gpt-4o-mini' "
                                   "last_user=\"What's the weather in Oslo?\" tools=['get_weather']>")
    assert repr(mock.calls).startswith("<CallList: 2 calls, last: POST /v1/chat/completions -> 200 ")
    assert repr(mock).startswith("<MockAI seed=1 rules=1 queued=0 calls=2, last: POST /v1/chat/completions")
    # a dataclass repr would dump the request, the response bytes and the reply: kilobytes per call
    assert "HTTPRequest" not in repr(mock.calls)
    assert "b'" not in repr(mock.calls)


def test_transcript_shows_the_conversation_tool_calls_and_replies(mock: MockAI) -> None:
    converse(mock)
    text = str(mock.calls)
    first, second = text.split("\n\n")[1:]
    assert first.splitlines() == [
        "#0 POST /v1/chat/completions model=gpt-4o-mini -> 200 by rule 'weather'",
        "  tools: get_weather",
        "  system: Be brief.",
        "  user: What's the weather in Oslo?",
        '  assistant: -> get_weather({"city":"Oslo"})  [tool_calls]',
    ]
    lines = second.splitlines()
    assert lines[0] == "#1 POST /v1/chat/completions model=gpt-4o-mini stream -> 200 by queue #1"
    tool_id = mock.calls[0].reply.choices[0].tool_calls[0].id  # type: ignore[union-attr]
    assert f"  tool: [{tool_id}] 12C, light rain" in lines
    assert "  assistant: It is 12°C in Oslo.  [stop]" in lines
    assert lines[-1].startswith("  stream: ")
    assert "events" in lines[-1]


def test_show_prints_the_transcript(mock: MockAI, capsys: pytest.CaptureFixture[str]) -> None:
    converse(mock)
    mock.calls.show()
    assert capsys.readouterr().out == mock.calls.transcript() + "\n"
    mock.calls.show(last=1)
    out = capsys.readouterr().out
    assert out.startswith("2 calls (the first 1 left out; the last 1 shown)")
    assert "#0 " not in out
    assert "#1 " in out


def test_transcript_caps_say_what_they_left_out(mock: MockAI) -> None:
    client = mock.client(max_retries=0)
    for i in range(30):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"Q{i} " * 40}])
    text = mock.calls.transcript(last=20, max_chars=2000)
    assert len(text) <= 2000 + 200
    head = text.splitlines()[0]
    assert head.startswith("30 calls (the first ")
    kept = int(head.split("the last ")[1].split()[0])
    assert 1 <= kept < 20
    assert f"#{29} " in text
    assert "#9 " not in text
    # a single call larger than the budget is clipped, and says so
    one = CallList([mock.calls[-1]]).transcript(max_chars=300)
    assert "(cut: the call's text is over 300 characters)" in one


def test_stream_timing_and_faults_are_in_the_transcript() -> None:
    mock = MockAI(seed=2, latency="ttft=0.3,per_token=0.02", fault_header=True)
    client = mock.client(max_retries=0)
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                            stream=True):
        pass
    with pytest.raises(openai.APIConnectionError):
        for _ in client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
                {"role": "user", "content": "Hi"}], extra_headers={"x-mockai-fault": "cut=3"}):
            pass
    first, cut = mock.calls.transcript().split("\n\n")[1:]
    events = len(mock.calls[0].response.events or [])
    assert f"  stream: {events} events; first after 300 ms, then 20 ms apart; " in first
    assert "#1 POST /v1/chat/completions model=gpt-4o-mini stream -> 200 by generator fault=cut=3" in cut
    assert "cut after 3 events: the connection was dropped (fault)" in cut


def test_responses_api_and_errors_read_alike(mock: MockAI) -> None:
    mock.queue("A haiku about rain.")
    client = mock.client(max_retries=0)
    client.responses.create(model="gpt-4o-mini", instructions="Be a poet.", input="Write a haiku")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                       temperature=7)
    client.models.list()
    blocks = mock.calls.transcript().split("\n\n")[1:]
    assert blocks[0].splitlines() == [
        "#0 POST /v1/responses model=gpt-4o-mini -> 200 by queue #1",
        "  developer: Be a poet.",
        "  user: Write a haiku",
        "  assistant: A haiku about rain.  [stop]",
    ]
    assert blocks[1].startswith("#1 POST /v1/chat/completions -> 400")
    assert "error: invalid_request_error integer_above_max_value (param temperature): Invalid 'temperature'" \
        in blocks[1]
    assert blocks[2].startswith("#2 GET /v1/models -> 200")
    assert "reply: a list of" in blocks[2]
    assert error_of(mock.calls[1]) == {"message": mock.calls[1].error.message,  # type: ignore[union-attr]
                                       "type": "invalid_request_error", "param": "temperature",
                                       "code": "integer_above_max_value"}
    assert error_of(mock.calls[0]) is None


def test_tokens_come_from_the_usage_the_answer_reported(mock: MockAI) -> None:
    client = mock.client(max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert reply.usage is not None
    assert tokens_of(mock.calls[0]) == (reply.usage.prompt_tokens, reply.usage.completion_tokens)
    response = client.responses.create(model="gpt-4o-mini", input="Hi \"prompt_tokens\": 999", stream=True)
    final = next(e for e in response if e.type == "response.completed").response
    assert final.usage is not None
    assert tokens_of(mock.calls[1]) == (final.usage.input_tokens, final.usage.output_tokens)
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                            stream=True):
        pass
    assert tokens_of(mock.calls[2]) == (None, None)  # no include_usage: the stream reported none


_PIECES = st.sampled_from([b'"prompt_tokens"', b'"input_tokens"', b'"completion_tokens"', b'"output_tokens"',
                           b": ", b":", b" ", b"12", b"7", b"null", b'"', b"{", b"}", b",", b"x" * 300])


@given(st.lists(_PIECES, max_size=12).map(b"".join))
@example(b'{"prompt_tokens": 12, "x": {"prompt_tokens": null}}')  # the last key has no number: the one before
@example(b'"input_tokens":7' + b"x" * 600 + b'"prompt_tokens" :12')
def test_tokens_are_the_last_numbers_reported_in_the_body(body: bytes) -> None:
    """The usage is read from the last ``"prompt_tokens"``/``"input_tokens"`` (and output) key followed by a
    number: as a scan of every match would read it."""
    def last(names: str) -> int | None:
        found = re.findall(rb'"(?:%s)"\s*:\s*(\d+)' % names.encode(), body)
        return int(found[-1]) if found else None

    answered = Call(http=HTTPRequest("POST", "/v1/chat/completions"), route="chat",
                    response=HTTPResponse(200, {}, body=body))
    assert tokens_of(answered) == (last("prompt_tokens|input_tokens"), last("completion_tokens|output_tokens"))


def test_answers_sent_as_recorded_are_read_from_the_response(tmp_path: Path) -> None:
    """A cassette's answer has no Reply: the transcript reads the recorded body and folds a recorded stream."""
    upstream = MockAI(seed=3)
    upstream.queue("Recorded words.", "Streamed words.")
    path = tmp_path / "c.json"
    with upstream.serve() as server:
        recorder = MockAI(cassette=path, record_mode="once", upstream=server.base_url)
        send(recorder)
        recorder.cassette.flush()  # type: ignore[union-attr]
        assert "by cassette (recorded)" in recorder.calls.transcript()
    mock = MockAI(cassette=path)
    send(mock)
    text = mock.calls.transcript()
    assert mock.calls[0].reply is None
    assert "#0 POST /v1/chat/completions model=gpt-4o-mini -> 200 by cassette\n" in text
    assert "  assistant: Recorded words.  [stop]" in text
    assert "  assistant: Streamed words.  [stop]" in text


def send(mock: MockAI) -> None:
    client = mock.client(max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "one"}])
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "two"}],
                                            stream=True):
        pass
