"""Stream padding: each Responses delta event ends with ``obfuscation``, as the real API sends it, unless the request
turns it off (the chat chunks' own tests are in ``test_streaming.py``); and a recorded reply a cassette sends as a
stream is padded as a live one is, on both APIs."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from responses_wire import Door, close_door, open_door, sse_events
from test_cassettes import cassette_file, interaction

from mockai import MockAI
from mockai.reply import Choice, Reply, ToolCall
from mockai.response_shapes import ResponseSpace, SeededSource, draw_response
from mockai.responses.render import _DELTAS

OBFUSCATION = re.compile(r"[A-Za-z0-9]{1,16}")
SUM = {"type": "function", "name": "add", "description": "Adds two numbers.",
       "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                      "required": ["a", "b"], "additionalProperties": False}, "strict": True}


@pytest.fixture(params=["in-process", "socket"])
def door(request: pytest.FixtureRequest) -> Iterator[Door]:
    d = open_door(request.param)
    yield d
    close_door(d)


def streamed(door: Door, **body: Any) -> list[dict[str, Any]]:
    """The events of one streamed response, as sent (framing and each event checked)."""
    body = {"model": "o3", "input": "Add 2 and 3, then say why.", "stream": True, **body}
    with door.raw().stream("POST", "/responses", json=body) as res:
        assert res.status_code == 200, res.read()
        return sse_events(res.read())


def test_each_delta_event_ends_with_obfuscation(door: Door) -> None:
    """Text, reasoning summary and function-call argument deltas each end with 1 to 16 letters and digits that
    vary in length; no other event has the field; the SDK reads it (an extra field of its event types)."""
    door.mock.queue(Reply([Choice(content="It is five.", reasoning="Two and three make five.",
                                  tool_calls=[ToolCall("add", '{"a": 2, "b": 3}')], finish_reason="tool_calls")]))
    events = streamed(door, tools=[SUM], reasoning={"summary": "auto"})
    deltas = [e for e in events if e["type"] in _DELTAS]
    assert {e["type"] for e in deltas} >= {"response.output_text.delta", "response.function_call_arguments.delta",
                                           "response.reasoning_summary_text.delta"}
    assert all(list(e)[-1] == "obfuscation" and OBFUSCATION.fullmatch(e["obfuscation"]) for e in deltas)
    assert len({len(e["obfuscation"]) for e in deltas}) > 3
    assert not any("obfuscation" in e for e in events if e["type"] not in _DELTAS)

    with door.client() as client:
        sdk = [getattr(e, "obfuscation", None) for e in client.responses.create(
            model="o3", input="Say why.", stream=True) if e.type == "response.output_text.delta"]
    assert sdk
    assert all(p is not None and OBFUSCATION.fullmatch(p) for p in sdk), sdk


def test_include_obfuscation_false_sends_none_and_nothing_else_changes(door: Door) -> None:
    padded = streamed(door)
    plain = streamed(door, stream_options={"include_obfuscation": False})
    assert not any("obfuscation" in e for e in plain)

    def said(events: list[dict[str, Any]]) -> list[Any]:  # (another body: other ids)
        return [(e["type"], e.get("delta")) for e in events]

    assert said(plain) == said(padded)
    assert any("obfuscation" in e for e in streamed(door, stream_options={"include_obfuscation": True}))


def test_a_stored_stream_replays_padded_unless_asked_not_to(door: Door) -> None:
    """``GET /responses/{id}?stream=true`` pads its deltas too (``include_obfuscation=false`` turns it off), the
    same way each time, from ``starting_after`` on."""
    with door.client() as client:
        rid = client.responses.create(model="gpt-4o-mini", input="Tell me about lighthouses").id
    http = door.raw()

    def replay(query: str) -> list[dict[str, Any]]:
        res = http.get(f"/responses/{rid}?stream=true{query}")
        assert res.status_code == 200, res.text
        return sse_events(res.content, first=int(query.split("starting_after=")[1]) + 1 if "starting_after" in
                          query else 0)

    whole = replay("")
    deltas = [e for e in whole if e["type"] in _DELTAS]
    assert deltas
    assert all(OBFUSCATION.fullmatch(e["obfuscation"]) for e in deltas)
    assert replay("") == whole
    assert replay("&starting_after=3") == whole[4:]
    assert not any("obfuscation" in e for e in replay("&include_obfuscation=false"))


def test_drawn_responses_pad_as_their_space_asks() -> None:
    """A drawn stream follows ``obfuscation`` (a request's ``include_obfuscation``); left to the draw, most are
    padded and some are not, so client code meets both."""
    def padded(space: ResponseSpace, seed: int) -> list[bool]:
        drawn = draw_response(SeededSource(random.Random(seed)), space)
        return ["obfuscation" in e for e in drawn.events if e["type"] in _DELTAS]

    assert not any(any(padded(ResponseSpace(obfuscation=False), seed)) for seed in range(20))
    assert all(all(padded(ResponseSpace(obfuscation=True), seed)) for seed in range(20))
    drawn = [p for p in (padded(ResponseSpace(), seed) for seed in range(40)) if p]
    assert all(len(set(p)) == 1 for p in drawn)  # all of a stream's deltas or none
    assert {p[0] for p in drawn} == {True, False}


@pytest.mark.parametrize("options", [None, {"include_obfuscation": True}, {"include_obfuscation": False}])
def test_streams_drawn_for_a_request_follow_its_include_obfuscation(options: dict[str, bool] | None) -> None:
    from hypothesis import given, settings

    from mockai.response_strategies import response_streams

    request: dict[str, Any] = {"model": "gpt-4o-mini", "input": "Hi", "stream": True}
    if options is not None:
        request["stream_options"] = options

    @settings(max_examples=15, deadline=None)
    @given(response_streams(for_request=request))
    def check(drawn: Any) -> None:
        padded = ["obfuscation" in e for e in drawn.events if e["type"] in _DELTAS]
        assert all(padded) if options != {"include_obfuscation": False} else not any(padded)

    check()


def test_a_recorded_body_sent_as_a_stream_is_padded_unless_the_request_turns_it_off(tmp_path: Any) -> None:
    """A cassette's recorded ``chat.completion`` (or ``response``) answering a stream request is chunked by mockai:
    padded like a live stream, the same way each time, and not at all with ``include_obfuscation: false``."""
    chat = interaction("Hi")
    response = {"id": "resp_rec1", "object": "response", "created_at": 1_700_000_000, "status": "completed",
                "model": "gpt-4o-mini-2024-07-18", "output": [
                    {"id": "msg_rec1", "type": "message", "status": "completed", "role": "assistant",
                     "content": [{"type": "output_text", "text": "Recorded answer.", "annotations": [],
                                  "logprobs": []}]}],
                "usage": {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}
    responses = {"request": {**chat["request"], "path": "/v1/responses",
                             "body": {"model": "gpt-4o-mini", "input": "Hi"}},
                 "response": {**chat["response"], "body": response}}
    path = cassette_file(tmp_path, chat, responses)

    def chat_pads(options: dict[str, Any] | None) -> list[str | None]:
        mock = MockAI(cassette=str(path), allow_playback_repeats=True)
        body: dict[str, Any] = {"stream": True, **({"stream_options": options} if options else {})}
        with mock.client() as client:
            return [c.obfuscation for c in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], **body)]

    def response_pads(options: dict[str, Any] | None) -> list[str | None]:
        mock = MockAI(cassette=str(path), allow_playback_repeats=True)
        body: dict[str, Any] = {"stream": True, **({"stream_options": options} if options else {})}
        with mock.client() as client:
            return [getattr(e, "obfuscation", None) for e in client.responses.create(
                model="gpt-4o-mini", input="Hi", **body) if e.type == "response.output_text.delta"]

    for pads in (chat_pads, response_pads):
        padded = pads(None)
        assert padded
        assert all(p is not None and OBFUSCATION.fullmatch(p) for p in padded), padded
        assert pads(None) == padded
        assert pads({"include_obfuscation": False}) == [None] * len(padded)


def test_a_recorded_padded_stream_given_usage_keeps_the_real_apis_order() -> None:
    """A chat stream recorded as the real API sends it (each chunk padded, no usage) replayed to a request with
    ``include_usage``: ``usage: null`` comes right after ``choices``, ``obfuscation`` stays last, and the usage
    chunk mockai adds is padded as the others are."""
    import json

    from mockai.cassettes.replay import respond

    base = {"id": "chatcmpl-rec9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "service_tier": "default", "system_fingerprint": "fp_1"}
    deltas = [{"role": "assistant", "content": ""}, {"content": "Hello"}, {}]
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "logprobs": None,
                                    "finish_reason": "stop" if not d else None}], "obfuscation": pad}
              for d, pad in zip(deltas, ["abc", "D4", "e5F6g"], strict=True)]
    inter = {"request": {"method": "POST", "path": "/v1/chat/completions", "body": {}},
             "response": {"status": 200, "headers": {"content-type": "text/event-stream"},
                          "events": [{"at": 0.0, "data": c} for c in chunks] + [{"at": 0.0, "data": "[DONE]"}]}}
    res = respond(inter, stream=True, include_usage=True, usage=lambda body: {"prompt_tokens": 1,
                                                                            "completion_tokens": 1,
                                                                            "total_tokens": 2})
    assert res.events is not None
    sent = [json.loads(e[len(b"data: "):]) for e in res.events if e != b"data: [DONE]\n\n"]
    assert [list(c)[-3:] for c in sent[:-1]] == [["choices", "usage", "obfuscation"]] * 3
    assert [c["obfuscation"] for c in sent[:-1]] == ["abc", "D4", "e5F6g"]
    assert sent[-1]["choices"] == []
    assert sent[-1]["usage"]["total_tokens"] == 2
    assert OBFUSCATION.fullmatch(sent[-1]["obfuscation"])
