"""Cassettes for the Responses API: recorded for real (a second mockai server on a real socket is the upstream,
with the credentials mockai must never write), replayed offline through every door with the same result for the
``openai`` SDK: JSON and streams (``event:`` + ``data:`` lines, no ``[DONE]``), tool calls and their follow-ups
with ``previous_response_id``, retrieval of stored responses, errors, dropped streams, timing. A recorded stream
answers a plain request with its final response and a recorded response answers a stream request with its
events; a chat recording never answers a Responses request (nor the reverse), whatever the matchers; a follow-up
about a replayed response that was not recorded is a miss that says why."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from responses_spec import sse_events, strict_response

from mockai import MockAI, call
from mockai.cassettes import example, load, save, transcript
from mockai.cassettes.replay import respond
from mockai.cassettes.store import compact
from mockai.engine import Delivery, Exchange, HTTPRequest, HTTPResponse
from mockai.response_checks import stream_problems

REAL_KEY = "sk-proj-R3sp0nsesK3yQ3vX8kLm2NpR7sT1uW4y-live-key"
MODEL = "gpt-4o-mini"
WEATHER = {"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    "strict": True}
GAP = 0.05


def _finish(ex: Exchange, res: HTTPResponse) -> HTTPResponse:
    """The upstream's finisher: some streams are slow, some are cut off."""
    text = ex.call.last_user_text
    if "cut" in text and res.events is not None:
        res.delivery = Delivery(cut_after=4)
    elif res.events is not None and "slow" in text:
        res.delivery = Delivery(delay=GAP, gaps=[GAP])
    return res


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A mockai server acting as OpenAI: scripted tool calls and errors, timed and cut streams; it stores its
    responses, so previous_response_id, retrieve and input_items work against it."""
    up = MockAI(seed=12, clock=1_700_000_000, api_key=REAL_KEY, assert_all_called=False)
    up.engine.finishers.append(_finish)
    up.on(tool_result="get_weather").reply("It is 12°C in Oslo.")
    up.on(last_user="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
    up.on(last_user="slow").reply("one two three four five six")
    up.on(last_user="rate").error(429, code="rate_limit_exceeded", headers={"retry-after": "7"})
    up.on(last_user="boom").error(500)
    with up.serve() as server:
        yield server.base_url


def seen(what: Any) -> Any:
    """What the client saw, as plain data."""
    return what.model_dump(mode="json") if hasattr(what, "model_dump") else what


def session(client: openai.OpenAI) -> list[Any]:
    """A Responses session through the SDK: what it sees at each step (replies, events, errors)."""
    out: list[Any] = []

    def step(make: Any) -> Any:
        try:
            value = make()
            out.append(seen(value))
            return value
        except openai.APIStatusError as exc:
            out.append((type(exc).__name__, exc.status_code, exc.body))
        except openai.APIConnectionError as exc:
            out.append((type(exc).__name__,))
        return None

    first = step(lambda: client.responses.create(model=MODEL, input="Hi there", instructions="Be brief."))
    step(lambda: [seen(e) for e in client.responses.create(model=MODEL, input="Stream this please", stream=True)])
    called = step(lambda: client.responses.create(model=MODEL, input="What's the weather in Oslo?", tools=[WEATHER]))
    if called is not None:
        fc = called.output[0]
        step(lambda: client.responses.create(model=MODEL, previous_response_id=called.id, tools=[WEATHER], input=[
            {"type": "function_call_output", "call_id": fc.call_id, "output": '{"temp_c": 12}'}]))
    if first is not None:
        step(lambda: client.responses.retrieve(first.id))
        step(lambda: client.responses.input_items.list(first.id))
    step(lambda: [seen(e) for e in client.responses.create(model=MODEL, input="weather, streamed", stream=True,
                                                           tools=[WEATHER])])
    step(lambda: client.responses.create(model=MODEL, input="Please rate limit me"))
    step(lambda: client.responses.create(model=MODEL, input="boom"))
    step(lambda: [seen(e) for e in client.responses.create(model=MODEL, input="cut this stream", stream=True)])
    with client.responses.stream(model=MODEL, input="slow and steady") as stream:
        out.append([e.type for e in stream])
        out.append(stream.get_final_response().output_text)
    return out


def on_disk(path: Path) -> str:
    return "".join(f.read_text() for f in sorted(path.parent.iterdir()) if f.name.startswith((path.name, ".")))


def assert_no_secret(path: Path) -> None:
    for _ in ("journal", "file"):
        text = on_disk(path)
        assert REAL_KEY not in text
        assert REAL_KEY[8:30] not in text
        compact(path)
    json.loads(path.read_text())


def test_record_a_responses_session_then_replay_it_through_every_door(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "responses.json"
    recorder = MockAI(cassette=path, record_mode="once", upstream=upstream)
    recorded = session(recorder.client(api_key=REAL_KEY, max_retries=0))
    assert recorded[3]["output"][0]["content"][0]["text"] == "It is 12°C in Oslo."  # the follow-up, upstream
    assert recorded[4]["id"] == recorded[0]["id"]  # retrieved from the upstream's store
    assert recorded[7][:2] == ("RateLimitError", 429)
    assert recorded[8][:2] == ("InternalServerError", 500)
    assert recorded[9] == ("APIConnectionError",)
    assert {c.responder for c in recorder.calls} == {"cassette"}
    assert_no_secret(path)

    streams = [i for i in load(path) if "events" in i["response"]]
    assert streams
    for inter in streams:  # each event kept as its name and its JSON, so it can be scrubbed and converted
        assert all("raw" not in e and e["event"] == e["data"]["type"] for e in inter["response"]["events"])

    replayer = MockAI(cassette=path)  # record_mode none, no upstream: nothing reaches the network
    assert session(replayer.client(api_key="sk-other", max_retries=0)) == recorded
    assert replayer.cassette is not None
    assert replayer.cassette.misses == []
    assert {c.responder for c in replayer.calls} == {"cassette"}

    async def go() -> list[Any]:
        client = MockAI(cassette=path).async_client(max_retries=0)
        first = await client.responses.create(model=MODEL, input="Hi there", instructions="Be brief.")
        events = [seen(e) async for e in await client.responses.create(model=MODEL, input="Stream this please",
                                                                         stream=True)]
        return [seen(first), events]

    assert asyncio.run(go()) == recorded[:2]
    with MockAI(cassette=path, replay_speed=0).serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-any", max_retries=0) as client:
        assert session(client) == recorded


def test_record_modes_new_episodes_and_all_for_responses(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "modes.json"

    def ask(mock: MockAI, text: str, **kw: Any) -> Any:
        return seen(mock.client(api_key=REAL_KEY, max_retries=0).responses.create(model=MODEL, input=text, **kw))

    first = ask(MockAI(cassette=path, record_mode="once", upstream=upstream), "Old question")
    episodes = MockAI(cassette=path, record_mode="new_episodes", upstream=upstream)
    assert ask(episodes, "Old question") == first  # replayed
    streamed = [e.type for e in episodes.client(api_key=REAL_KEY).responses.create(model=MODEL, input="New one",
                                                                                  stream=True)]
    assert [c.responder for c in episodes.calls] == ["cassette", "cassette"]
    assert [i["request"]["body"]["input"] for i in load(path)] == ["Old question", "New one"]
    replay = MockAI(cassette=path).client(max_retries=0)
    assert [e.type for e in replay.responses.create(model=MODEL, input="New one", stream=True)] == streamed

    again = MockAI(cassette=path, record_mode="all", upstream=upstream)
    ask(again, "Only this")
    assert [i["request"]["body"]["input"] for i in load(path)] == ["Only this"]


def test_a_key_echoed_inside_events_is_scrubbed_and_the_request_still_matches(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "echo.json"
    body = {"model": MODEL, "input": "Echo", "user": f"owner of {REAL_KEY}", "metadata": {"k": REAL_KEY}}
    recorder = MockAI(cassette=path, record_mode="once", upstream=upstream).client(api_key=REAL_KEY, max_retries=0)
    live = [e.type for e in recorder.responses.create(**body, stream=True)]
    assert_no_secret(path)
    events = load(path)[0]["response"]["events"]
    assert events[-1]["data"]["response"]["metadata"] == {"k": "REDACTED"}
    # replayed by the same code with the same key: the key in the body is scrubbed before matching, as recorded
    replay = MockAI(cassette=path).client(api_key=REAL_KEY, max_retries=0)
    assert [e.type for e in replay.responses.create(**body, stream=True)] == live


def test_a_replayed_stream_is_the_recorded_bytes_framed_as_the_responses_api(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "bytes.json"
    body = {"model": MODEL, "input": "Stream the bytes", "stream": True}
    headers = {"authorization": f"Bearer {REAL_KEY}"}
    recorder = MockAI(cassette=path, record_mode="once", upstream=upstream)
    with recorder.serve() as server:
        live = httpx.post(server.base_url + "/responses", json=body, headers=headers).content
    replay = MockAI(cassette=path).engine.handle(HTTPRequest("POST", "/v1/responses", headers=headers,
                                                              body=json.dumps(body).encode()))
    assert replay.content() == live  # byte for byte what the upstream sent
    assert b"data: [DONE]" not in replay.content()
    assert stream_problems(sse_events(replay.content())) == []


def test_a_stream_answers_a_plain_request_and_a_response_answers_a_stream_request(upstream: str,
                                                                                  tmp_path: Path) -> None:
    streamed, plain = tmp_path / "streamed.json", tmp_path / "plain.json"
    ask = {"model": MODEL, "input": "What's the weather in Oslo?", "tools": [WEATHER]}
    recorder = MockAI(cassette=streamed, record_mode="once", upstream=upstream).client(api_key=REAL_KEY)
    events = list(recorder.responses.create(**ask, stream=True))
    final = events[-1].response.model_dump(mode="json", exclude_unset=True)
    as_json = MockAI(cassette=streamed).client().responses.create(**ask)
    assert as_json.model_dump(mode="json", exclude_unset=True) == final  # the terminal event's response, ids too
    strict_response(as_json.model_dump(mode="json", exclude_unset=True))

    created = MockAI(cassette=plain, record_mode="once", upstream=upstream).client(api_key=REAL_KEY).responses.create(
        **ask)
    mock = MockAI(cassette=plain, allow_playback_repeats=True)
    res = mock.engine.handle(HTTPRequest("POST", "/v1/responses", headers={"authorization": "Bearer sk-x"},
                                         body=json.dumps({**ask, "stream": True}).encode()))
    assert res.headers["content-type"].startswith("text/event-stream")
    rebuilt = sse_events(res.content())
    assert stream_problems(rebuilt) == []
    assert rebuilt[-1]["response"] == created.model_dump(mode="json", exclude_unset=True)
    with mock.client().responses.stream(**ask) as stream:
        assert stream.get_final_response().output[0].call_id == created.output[0].call_id


def _responses_interaction(**response: Any) -> dict[str, Any]:
    return {"request": {"method": "POST", "path": "/v1/responses", "body": {"model": MODEL, "input": "Hi"}},
            "response": {"status": 200, "headers": {"content-type": "text/event-stream"}, "elapsed": 0.1, **response}}


def test_unconvertible_recordings_say_so() -> None:
    failed = _responses_interaction(events=[
        {"at": 0.0, "event": "response.created", "data": {"type": "response.created", "sequence_number": 0,
                                                          "response": {"id": "resp_1", "status": "in_progress"}}},
        {"at": 0.1, "event": "error", "data": {"type": "error", "code": "server_error", "message": "It broke.",
                                               "param": None, "sequence_number": 1}}])
    res = respond(failed, stream=False)
    assert res.status == 500
    assert res.json() == {"error": {"message": "It broke.", "type": "server_error", "param": None,
                                    "code": "server_error"}}
    assert respond(failed, stream=True).content().count(b"event: ") == 2  # as recorded

    unfinished = _responses_interaction(events=failed["response"]["events"][:1])
    res = respond(unfinished, stream=False)
    assert (res.status, res.json()["error"]["code"]) == (400, "cassette_miss")
    assert "without its final response event" in res.json()["error"]["message"]

    queued = _responses_interaction(body={"id": "resp_2", "object": "response", "status": "queued", "output": []})
    queued["response"]["headers"] = {"content-type": "application/json"}
    res = respond(queued, stream=True)
    assert (res.status, res.json()["error"]["code"]) == (400, "cassette_miss")
    assert respond(queued, stream=False).json()["status"] == "queued"


def test_events_recorded_whole_by_an_older_mockai_still_convert() -> None:
    events = sse_events(b"".join(MockAI(clock=1).engine.handle(HTTPRequest(
        "POST", "/v1/responses", headers={"authorization": "Bearer k"},
        body=b'{"model": "gpt-4o-mini", "input": "Hi", "stream": true}')).events or []))
    raw = [{"at": 0.0, "raw": f"event: {e['type']}\ndata: {json.dumps(e)}"} for e in events]
    res = respond(_responses_interaction(events=raw), stream=False)
    assert res.json() == events[-1]["response"]


# --- never across APIs ------------------------------------------------------------------------------------------


def _chat_interaction(text: str) -> dict[str, Any]:
    return {"request": {"method": "POST", "path": "/v1/chat/completions",
                        "body": {"model": MODEL, "messages": [{"role": "user", "content": text}]}},
            "response": {"status": 200, "headers": {"content-type": "application/json"},
                         "body": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
                                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                      "role": "assistant", "content": "From chat."}}]}}}


@pytest.mark.parametrize("match_on", [None, ["method", "last_user"], ["last_user"], ["model"]])
def test_a_chat_recording_never_answers_a_responses_request_nor_the_reverse(tmp_path: Path,
                                                                           match_on: Any) -> None:
    path = tmp_path / "chat.json"
    save(path, [_chat_interaction("Hi"), _responses_interaction(body={
        "id": "resp_9", "object": "response", "created_at": 1, "status": "completed", "model": MODEL,
        "output": [], "usage": None})])
    mock = MockAI(cassette=path, match_on=match_on, allow_playback_repeats=True)
    client = mock.client(max_retries=0)
    # each finds the recording of its own API, whatever the matchers
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}]).id == "chatcmpl-1"
    assert client.responses.create(model=MODEL, input="Hi").id == "resp_9"
    only_chat = tmp_path / "only_chat.json"
    save(only_chat, [_chat_interaction("Hi")])
    mock = MockAI(cassette=only_chat, match_on=match_on)
    with pytest.raises(openai.BadRequestError) as info:
        mock.client(max_retries=0).responses.create(model=MODEL, input="Hi")
    assert info.value.code == "cassette_miss"
    if match_on is not None:
        assert "api differs: recorded 'chat', got 'responses'" in str(info.value.body)


# --- stored responses on replay -------------------------------------------------------------------------------


def test_a_follow_up_about_a_replayed_response_replays_when_recorded_and_is_an_explained_miss_otherwise(
        upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "stored.json"
    client = MockAI(cassette=path, record_mode="once", upstream=upstream).client(api_key=REAL_KEY, max_retries=0)
    first = client.responses.create(model=MODEL, input="Remember Oslo")
    again = client.responses.retrieve(first.id)
    assert again.id == first.id

    replay = MockAI(cassette=path)
    sdk = replay.client(max_retries=0)
    assert sdk.responses.create(model=MODEL, input="Remember Oslo").id == first.id
    assert sdk.responses.retrieve(first.id) == again  # recorded: replayed
    with pytest.raises(openai.BadRequestError) as info:  # not recorded: a miss that says why
        sdk.responses.input_items.list(first.id)
    assert info.value.code == "cassette_miss"
    assert f"The response {first.id} comes from this cassette" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model=MODEL, input="And Paris?", previous_response_id=first.id)
    assert info.value.code == "cassette_miss"
    assert replay.cassette is not None
    assert len(replay.cassette.misses) == 2
    with pytest.raises(openai.NotFoundError):  # an id the cassette never saw: the API's own 404
        sdk.responses.retrieve("resp_unknown")
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.responses.create(model=MODEL, input="x", previous_response_id="resp_unknown")
    assert bad.value.code == "previous_response_not_found"


# --- timing ---------------------------------------------------------------------------------------------------


def arrivals(url: str, body: dict[str, Any]) -> list[float]:
    out: list[float] = []
    t0 = time.perf_counter()
    with httpx.stream("POST", url + "/responses", json=body, headers={"authorization": f"Bearer {REAL_KEY}"},
                      timeout=10) as res:
        for line in res.iter_lines():
            if line.startswith("event:"):
                out.append(time.perf_counter() - t0)
    return out


def test_responses_streams_replay_with_their_timing(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "timing.json"
    body = {"model": MODEL, "input": "slow stream", "stream": True}
    with MockAI(cassette=path, record_mode="once", upstream=upstream).serve() as server:
        live = arrivals(server.base_url, body)
    assert len(live) >= 8
    offsets = [e["at"] for e in load(path)[0]["response"]["events"]]
    assert all(b - a >= GAP * 0.6 for a, b in itertools.pairwise(offsets[1:]))
    with MockAI(cassette=path).serve() as server:
        replayed = arrivals(server.base_url, body)
    assert len(replayed) == len(live)
    assert replayed[-1] - replayed[0] >= (offsets[-1] - offsets[0]) * 0.8
    with MockAI(cassette=path, replay_speed=0).serve() as server:
        instant = arrivals(server.base_url, body)
    assert instant[-1] - instant[0] < GAP


# --- the example, and the transcript ---------------------------------------------------------------------------


def test_the_responses_example_cassette_replays() -> None:
    path = example("responses")
    inters = load(path)
    mock = MockAI(cassette=path, allow_playback_repeats=True)
    client = mock.client()
    body = inters[0]["request"]["body"]
    streamed = list(client.responses.create(**body))
    assert stream_problems([e.model_dump(mode="json", exclude_unset=True) for e in streamed]) == []
    plain = client.responses.create(**{k: v for k, v in body.items() if k != "stream"})
    assert plain.output_text == "One, two, three, four, five."
    strict_response(plain.model_dump(mode="json", exclude_unset=True))
    called = client.responses.create(**inters[1]["request"]["body"])
    assert called.output[0].type == "function_call"
    final = client.responses.create(**inters[2]["request"]["body"])
    assert final.output_text == "It is 12°C and clear in Oslo."
    assert mock.cassette is not None
    assert mock.cassette.misses == []


def test_the_transcript_reads_responses_interactions() -> None:
    text = transcript(load(example("responses")), "responses.json")
    assert "user: Count to five." in text
    assert "assistant: One, two, three, four, five." in text
    assert "assistant: -> get_weather(" in text
    assert "tool: [call_" in text
    assert "[completed]" in text


@pytest.mark.parametrize("module", ["mockai.cassettes", "mockai.cassettes.matching", "mockai.cassettes.replay",
                                    "mockai.cassettes.tools", "mockai.cassettes.cassette"])
def test_the_examples_in_the_docstrings_hold(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0


def test_an_invalid_follow_up_keeps_mockais_own_error(tmp_path: Path) -> None:
    path = tmp_path / "invalid.json"
    save(path, [_responses_interaction(body={"id": "resp_held", "object": "response", "status": "completed",
                                              "output": []})])
    client = MockAI(cassette=path).client(max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:  # a bad temperature is a bad temperature, cassette or not
        client.responses.create(model=MODEL, input="x", previous_response_id="resp_held", temperature=9)
    assert info.value.code == "decimal_above_max_value"
    with pytest.raises(openai.BadRequestError) as miss:
        client.responses.create(model=MODEL, input="x", previous_response_id="resp_held")
    assert miss.value.code == "cassette_miss"
