"""Recording for real, offline: a second mockai server on a real socket is the upstream. Each test records through
mockai (in-process, sync and async, and over the socket door), then replays with no upstream at all, and the
client (the real ``openai`` SDK) must see the same thing both times."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockai import MockAI, call
from mockai.cassettes import load
from mockai.cassettes.store import compact, journal_path
from mockai.engine import Delivery, Exchange, HTTPResponse

REAL_KEY = "sk-proj-Q3vX8kLm2NpR7sT1uW4yZ6aB9cD0eF5gH-live-key"
MODEL = "gpt-4o-mini"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
GAP = 0.05


def _timing(ex: Exchange, res: HTTPResponse) -> HTTPResponse:
    """The upstream's finisher: streams get real gaps; some prompts drop the connection."""
    text = ex.call.last_user_text
    if "cut" in text:
        res.delivery = Delivery(cut_after=3)
    elif "reset" in text:
        res.delivery = Delivery(reset=True)
    elif res.events is not None and "slow" in text:
        res.delivery = Delivery(delay=GAP, gaps=[GAP])
    return res


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A mockai server acting as OpenAI: scripted tool calls and errors, timed streams, dropped connections."""
    up = MockAI(seed=11, clock=1_700_000_000, api_key=REAL_KEY, assert_all_called=False)
    up.engine.finishers.append(_timing)
    up.on(tool_result="get_weather").reply("It is 12°C in Oslo.")
    up.on(last_user="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
    up.on(last_user="slow").reply("one two three four five")
    up.on(last_user="rate").error(429, code="rate_limit_exceeded", headers={"retry-after": "7"})
    up.on(last_user="boom").error(500)
    with up.serve() as server:
        yield server.base_url


def ask(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **kw}


def run(client: openai.OpenAI, body: dict[str, Any]) -> Any:
    """What the client sees: the reply, the chunks of a stream, or the error (class, status, body)."""
    try:
        if body.get("stream"):
            return [c.model_dump() for c in client.chat.completions.create(**body)]
        return client.chat.completions.create(**body).model_dump()
    except openai.APIStatusError as exc:
        return (type(exc).__name__, exc.status_code, exc.body)
    except openai.APIConnectionError as exc:
        return (type(exc).__name__,)


async def arun(client: openai.AsyncOpenAI, body: dict[str, Any]) -> Any:
    try:
        if body.get("stream"):
            return [c.model_dump() async for c in await client.chat.completions.create(**body)]
        return (await client.chat.completions.create(**body)).model_dump()
    except openai.APIStatusError as exc:
        return (type(exc).__name__, exc.status_code, exc.body)
    except openai.APIConnectionError as exc:
        return (type(exc).__name__,)


CASES = [
    ask("Hi there"),
    ask("Stream this please", stream=True, stream_options={"include_usage": True}),
    ask("What's the weather in Oslo?", tools=[WEATHER]),
    ask("What's the weather in Oslo, streamed?", tools=[WEATHER], stream=True),
    ask("Please rate limit me"),
    ask("boom"),
    ask("cut this stream", stream=True),
    ask("reset the connection"),
]


def sync_client(mock: MockAI) -> openai.OpenAI:
    return mock.client(api_key=REAL_KEY, max_retries=0)


def on_disk(path: Path) -> str:
    """Everything mockai wrote beside the cassette: the file, its journal, any temporary file."""
    return "".join(f.read_text() for f in sorted(path.parent.iterdir()) if f.name.startswith((path.name, ".")))


def assert_no_secret(path: Path) -> None:
    for _ in ("journal", "file"):  # as recorded (the journal), then folded into the cassette file
        text = on_disk(path)
        assert REAL_KEY not in text
        assert REAL_KEY[10:30] not in text
        compact(path)
    assert not journal_path(path).exists()
    json.loads(path.read_text())


def test_record_in_process_then_replay(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "sync.json"
    recorder = MockAI(cassette=path, record_mode="once", upstream=upstream)
    recorded = [run(sync_client(recorder), body) for body in CASES]
    assert len(recorder.cassette or []) == len(CASES)
    assert recorded[4][:2] == ("RateLimitError", 429)
    assert recorded[5][:2] == ("InternalServerError", 500)
    assert recorded[6] == ("APIConnectionError",)
    assert recorded[7] == ("APIConnectionError",)
    assert recorded[2]["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert_no_secret(path)

    replayer = MockAI(cassette=path)  # record_mode none, no upstream: nothing can reach the network
    assert [run(sync_client(replayer), body) for body in CASES] == recorded
    assert replayer.cassette is not None
    assert replayer.cassette.misses == []
    assert [c.responder for c in replayer.calls] == ["cassette"] * len(CASES)


def test_record_async_then_replay_async_and_sync(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "async.json"

    async def go(mock: MockAI) -> list[Any]:
        client = mock.async_client(api_key=REAL_KEY, max_retries=0)
        return [await arun(client, body) for body in CASES]

    recorded = asyncio.run(go(MockAI(cassette=path, record_mode="once", upstream=upstream)))
    assert_no_secret(path)
    assert asyncio.run(go(MockAI(cassette=path))) == recorded
    assert [run(sync_client(MockAI(cassette=path)), body) for body in CASES] == recorded


def test_record_through_the_socket_door_then_replay_in_process(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "socket.json"
    recorder = MockAI(cassette=path, record_mode="once", upstream=upstream)
    with recorder.serve() as server, openai.OpenAI(base_url=server.base_url, api_key=REAL_KEY, max_retries=0) as client:
        recorded = [run(client, body) for body in CASES]
    assert recorded[6] == ("APIConnectionError",)  # the upstream dropped mid-stream, so did mockai
    assert_no_secret(path)
    assert [run(sync_client(MockAI(cassette=path)), body) for body in CASES] == recorded
    with MockAI(cassette=path, replay_speed=0).serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-any", max_retries=0) as client:
        assert [run(client, body) for body in CASES] == recorded


def arrivals(url: str, body: dict[str, Any]) -> list[float]:
    """When each SSE event reached a raw httpx client, in seconds from sending the request."""
    out: list[float] = []
    t0 = time.perf_counter()
    with httpx.stream("POST", url + "/chat/completions", json=body, headers={"authorization": f"Bearer {REAL_KEY}"},
                      timeout=10) as res:
        for line in res.iter_lines():
            if line.startswith("data:"):
                out.append(time.perf_counter() - t0)
    return out


def test_streams_are_passed_through_as_they_arrive_and_replayed_with_their_timing(upstream: str,
                                                                                  tmp_path: Path) -> None:
    path = tmp_path / "timing.json"
    body = ask("slow stream", stream=True)
    with MockAI(cassette=path, record_mode="once", upstream=upstream).serve() as server:
        live = arrivals(server.base_url, body)
    n = len(live)
    assert n >= 6
    # forwarded event by event: the first event arrived long before the last (not one buffered blob)
    assert live[-1] - live[0] >= (n - 2) * GAP * 0.8
    events = load(path)[0]["response"]["events"]
    offsets = [e["at"] for e in events]
    assert offsets[0] >= GAP * 0.8
    assert all(b - a >= GAP * 0.6 for a, b in itertools.pairwise(offsets[1:]))

    with MockAI(cassette=path).serve() as server:  # replay_speed 1: the recorded timing
        replayed = arrivals(server.base_url, body)
    assert len(replayed) == n
    assert replayed[-1] - replayed[0] >= (offsets[-1] - offsets[0]) * 0.8
    with MockAI(cassette=path, replay_speed=4).serve() as server:
        fast = arrivals(server.base_url, body)
    assert fast[-1] - fast[0] < (offsets[-1] - offsets[0]) * 0.6
    with MockAI(cassette=path, replay_speed=0).serve() as server:
        instant = arrivals(server.base_url, body)
    assert instant[-1] - instant[0] < GAP  # one write: no gaps at all


def test_new_episodes_replays_hits_and_records_misses(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "episodes.json"
    first = run(sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream)), ask("Hi there"))
    mock = MockAI(cassette=path, record_mode="new_episodes", upstream=upstream)
    client = sync_client(mock)
    assert run(client, ask("Hi there")) == first
    second = run(client, ask("Something new"))
    assert [c.responder for c in mock.calls] == ["cassette", "cassette"]
    assert len(load(path)) == 2
    replay = sync_client(MockAI(cassette=path))
    assert [run(replay, ask("Hi there")), run(replay, ask("Something new"))] == [first, second]


def test_identical_requests_replay_in_recorded_order(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "repeat.json"
    client = sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream))
    recorded = [run(client, ask("Same question")) for _ in range(3)]
    assert len({r["id"] for r in recorded}) == 3
    replay = sync_client(MockAI(cassette=path))
    assert [run(replay, ask("Same question")) for _ in range(3)] == recorded
    fourth = run(replay, ask("Same question"))
    assert fourth[:2] == ("BadRequestError", 400)
    assert "already replayed" in fourth[2]["message"]
    again = sync_client(MockAI(cassette=path, allow_playback_repeats=True))
    assert [run(again, ask("Same question")) for _ in range(4)] == [*recorded, recorded[-1]]


def test_all_mode_records_everything_again(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "all.json"
    run(sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream)), ask("Old"))
    mock = MockAI(cassette=path, record_mode="all", upstream=upstream)
    run(sync_client(mock), ask("New one"))
    run(sync_client(mock), ask("New two"))
    users = [i["request"]["body"]["messages"][0]["content"] for i in load(path)]
    assert users == ["New one", "New two"]


def test_once_with_an_existing_cassette_only_replays(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "once.json"
    run(sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream)), ask("Recorded"))
    mock = MockAI(cassette=path, record_mode="once", upstream=upstream)
    assert mock.cassette is not None
    assert not mock.cassette.recording
    assert run(sync_client(mock), ask("Not recorded"))[:2] == ("BadRequestError", 400)


def test_recording_works_in_patch_mode_with_other_hosts_failing(upstream: str, tmp_path: Path) -> None:
    """The pytest fixture's situation: api.openai.com is intercepted and other hosts fail, yet the recorder's own
    upstream requests go out."""
    path = tmp_path / "patched.json"
    mock = MockAI(cassette=path, record_mode="once", upstream=upstream)
    with mock:
        reply = openai.OpenAI(api_key=REAL_KEY, max_retries=0).chat.completions.create(**ask("Hi there"))
    with MockAI(cassette=path):
        again = openai.OpenAI(api_key="sk-other", max_retries=0).chat.completions.create(**ask("Hi there"))
    assert again.model_dump() == reply.model_dump()


def test_an_unreachable_upstream_is_a_502_and_is_not_recorded(tmp_path: Path,
                                                              unused_port: Callable[[], int]) -> None:
    path = tmp_path / "down.json"
    mock = MockAI(cassette=path, record_mode="once", upstream=f"http://127.0.0.1:{unused_port()}/v1")
    result = run(sync_client(mock), ask("Hi"))
    assert result[:2] == ("InternalServerError", 502)
    assert "could not reach the upstream" in result[2]["message"]
    assert not path.exists()


@pytest.fixture
def unused_port() -> Callable[[], int]:
    import socket

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return pick


# --- regressions -------------------------------------------------------------------------------------------

SUITE = """
import openai
import pytest

pytestmark = pytest.mark.mockai(cassette="suite.json", upstream={upstream!r})


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ask(mockai, n):
    client = openai.OpenAI(api_key={key!r}, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{{"role": "user", "content": f"Question {{n}}"}}])
    assert reply.choices[0].message.content
"""


def test_all_mode_keeps_every_interaction_recorded_during_one_pytest_run(upstream: str, tmp_path: Path,
                                                                         pytester: pytest.Pytester) -> None:
    path = tmp_path / "suite.json"
    run(sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream)), ask("Old"))
    pytester.makeconftest(f"""
import pytest

@pytest.fixture
def mockai_cassette_dir():
    return {str(tmp_path)!r}
""")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_suite=SUITE.format(upstream=upstream, key=REAL_KEY))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--mockai-record-mode=all")
    result.assert_outcomes(passed=3)
    users = [i["request"]["body"]["messages"][0]["content"] for i in load(path)]
    assert users == ["Question 1", "Question 2", "Question 3"]  # "Old" replaced, none of this run's lost
    assert_no_secret(path)


def test_query_parameters_and_more_secret_headers_never_reach_the_file(upstream: str, tmp_path: Path) -> None:
    from urllib.parse import quote, quote_plus

    path = tmp_path / "secrets.json"
    query_key = "AIzaSyD4-Qk3yInTheQuery-9f8e7d6c5b4a3210zyx"
    signature = "sv+Sig/Nature=Padd1ng0123456789abcdef=="
    header_key = "xk-live-4c3b2a1908f7e6d5c4b3a29180706f5e"
    proxy_token = "cHJveHl1c2VyOnByb3h5LXBhc3N3b3JkLTEyMzQ1"
    session = "sess-7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
    azure_key = "0123456789abcdef0123456789abcdef"
    goog_key = "AIzaSyA-GoogleHeaderKey-0123456789abcd"

    def make(mock: MockAI) -> openai.OpenAI:
        return mock.client(api_key=REAL_KEY, max_retries=0,
                           default_query={"api_key": query_key, "sig": signature, "page": "2"},
                           default_headers={"X-Api-Key": header_key, "Proxy-Authorization": f"Basic {proxy_token}",
                                            "X-Session-Token": session, "Ocp-Apim-Subscription-Key": azure_key,
                                            "x-goog-api-key": goog_key})

    live = run(make(MockAI(cassette=path, record_mode="once", upstream=upstream)), ask("Hi there"))
    for _ in ("journal", "file"):
        text = on_disk(path)
        for secret in (query_key, signature, header_key, proxy_token, session, azure_key, goog_key):
            for form in (secret, quote(secret, safe=""), quote_plus(secret)):
                assert form not in text, form
        compact(path)
    assert_no_secret(path)
    request = load(path)[0]["request"]
    assert "page=2" in request["query"]
    assert request["headers"]["x-api-key"] == "REDACTED"
    assert request["headers"]["proxy-authorization"] == "REDACTED"
    assert run(make(MockAI(cassette=path)), ask("Hi there")) == live  # the scrubbed query still matches


def test_a_dropped_stream_never_replays_as_a_success(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    body = ask("cut this stream", stream=True)
    run(sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream)), body)
    assert load(path)[0]["response"]["dropped"] is True
    replay = MockAI(cassette=path, allow_playback_repeats=True)
    assert run(sync_client(replay), ask("cut this stream")) == ("APIConnectionError",)
    assert run(sync_client(replay), body) == ("APIConnectionError",)  # the recorded events, then the drop
    with replay.serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as socket_client:
        assert run(socket_client, ask("cut this stream")) == ("APIConnectionError",)


def test_an_answer_closed_unread_still_closes_its_upstream_connection(upstream: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded answer opened as a stream and closed before any of its body was read closes the recording's
    connection to the upstream then (it was left to the garbage collector, whose ResourceWarning fails whichever
    test runs when it comes)."""
    from mockai.cassettes import proxy

    closed: list[str] = []
    real_close, real_aclose = proxy._Direct.close, proxy._AsyncDirect.aclose

    def close(transport: proxy._Direct) -> None:
        closed.append("sync")
        real_close(transport)

    async def aclose(transport: proxy._AsyncDirect) -> None:
        closed.append("async")
        await real_aclose(transport)

    monkeypatch.setattr(proxy._Direct, "close", close)
    monkeypatch.setattr(proxy._AsyncDirect, "aclose", aclose)
    headers = {"authorization": f"Bearer {REAL_KEY}"}
    recorder = MockAI(cassette=tmp_path / "sync.json", record_mode="once", upstream=upstream)
    with recorder.http_client() as http:
        with http.stream("POST", "/chat/completions", json=ask("Hi there"), headers=headers) as res:
            assert res.status_code == 200
            assert closed == []
        assert closed == ["sync"]

    async def go() -> None:
        recorder = MockAI(cassette=tmp_path / "async.json", record_mode="once", upstream=upstream)
        async with recorder.async_http_client() as http:
            async with http.stream("POST", "/chat/completions", json=ask("Hi there"), headers=headers) as res:
                assert res.status_code == 200
                assert closed == ["sync"]
            assert closed == ["sync", "async"]

    asyncio.run(go())


def _chunks(client: openai.OpenAI, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks as sent (fields left out stay out), without their ids and padding (each live call gets its own)."""
    return [{k: v for k, v in c.model_dump(exclude_unset=True).items() if k not in ("id", "obfuscation")}
            for c in client.chat.completions.create(**body)]


def test_include_usage_on_replay_follows_the_request_not_the_recording(upstream: str, tmp_path: Path) -> None:
    with_usage = ask("Stream usage", stream=True, stream_options={"include_usage": True})
    without = ask("Stream usage", stream=True)
    with openai.OpenAI(base_url=upstream, api_key=REAL_KEY, max_retries=0) as live:
        live_with = _chunks(live, with_usage)
        live_without = _chunks(live, without)
    assert live_with[-1]["choices"] == []
    assert live_with[-1]["usage"]["total_tokens"] > 0
    assert all("usage" not in c for c in live_without)
    for recorded_body, name in [(with_usage, "with.json"), (without, "without.json")]:
        path = tmp_path / name
        _chunks(sync_client(MockAI(cassette=path, record_mode="once", upstream=upstream)), recorded_body)
        replay = MockAI(cassette=path, allow_playback_repeats=True)
        assert _chunks(sync_client(replay), without) == live_without, name
        assert _chunks(sync_client(replay), with_usage) == live_with, name


# --- while recording, the upstream judges requests (issue 9, point 11) -------------------------------------


class Lenient:
    """An upstream that judges requests differently from mockai (an OpenAI-compatible API, or a newer OpenAI): it
    accepts a role mockai does not know, answers its own 400 for ``temperature`` above 2 and for bodies that are
    not JSON, and keeps the bytes of every request it received."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[bytes] = []
        lenient = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                lenient.received.append(raw)
                status, body = lenient.answer(raw, len(lenient.received))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("x-request-id", f"req_upstream_{len(lenient.received)}")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def answer(raw: bytes, n: int) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"error": {"message": "We could not parse the JSON body of your request (upstream).",
                                   "type": "invalid_request_error", "param": None, "code": None}}
        if body.get("temperature", 1) > 2:
            return 400, {"error": {"message": "Invalid 'temperature': decimal above maximum value. Expected a value "
                                              f"<= 2, but got {body['temperature']} instead (upstream).",
                                   "type": "invalid_request_error", "param": "temperature",
                                   "code": "decimal_above_max_value"}}
        return 200, {"id": f"chatcmpl-upstream{n}", "object": "chat.completion", "created": 1_700_000_000,
                     "model": body.get("model", ""), "choices": [{
                         "index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "refusal": None,
                                     "content": f"The upstream read {len(body['messages'])} message(s)."}}],
                     "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}


@pytest.fixture
def lenient() -> Iterator[Lenient]:
    import threading

    upstream = Lenient()
    thread = threading.Thread(target=upstream.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.server.shutdown()
        upstream.server.server_close()
        thread.join(5)


HOT = ask("Hot take, please", temperature=5)  # mockai and the upstream both reject it, each with its own error
CRITIC = {"model": MODEL, "messages": [{"role": "critic", "content": "Judge me"}]}  # only mockai rejects it
NOT_JSON = b'{"model": "gpt-4o-mini", "messages": ['


def post_raw(mock: MockAI, content: bytes) -> httpx.Response:
    return mock.http_client().post("/chat/completions", content=content,
                                   headers={"authorization": f"Bearer {REAL_KEY}", "content-type": "application/json"})


def test_while_recording_requests_mockai_rejects_go_to_the_upstream_and_replay_its_answer(
        lenient: Lenient, tmp_path: Path) -> None:
    path = tmp_path / "judged.json"
    alone = sync_client(MockAI())
    assert run(alone, HOT)[2]["code"] == "integer_above_max_value"  # mockai's own judgement, without a cassette
    assert run(alone, CRITIC)[2]["param"] == "messages[0].role"

    recorder = MockAI(cassette=path, record_mode="once", upstream=lenient.url)
    client = sync_client(recorder)
    recorded = [run(client, HOT), run(client, CRITIC)]
    raw = post_raw(recorder, NOT_JSON)
    assert recorded[0][:2] == ("BadRequestError", 400)
    assert recorded[0][2]["code"] == "decimal_above_max_value"  # the upstream's error, not mockai's
    assert recorded[1]["choices"][0]["message"]["content"] == "The upstream read 1 message(s)."
    assert (raw.status_code, raw.json()["error"]["message"]) == (
        400, "We could not parse the JSON body of your request (upstream).")
    assert [json.loads(b) for b in lenient.received[:2]] == [HOT, CRITIC]  # forwarded as the client sent them
    assert lenient.received[2] == NOT_JSON
    assert [c.responder for c in recorder.calls] == ["cassette"] * 3
    assert recorder.calls[1].body == CRITIC
    assert_no_secret(path)
    assert load(path)[2]["request"]["body"] == NOT_JSON.decode()

    replayer = MockAI(cassette=path)  # record mode none, no upstream: the recorded answers, errors included
    replay = sync_client(replayer)
    assert [run(replay, HOT), run(replay, CRITIC)] == recorded
    again = post_raw(replayer, NOT_JSON)
    assert (again.status_code, again.json()) == (400, raw.json())
    assert again.headers["x-request-id"] == raw.headers["x-request-id"] == "req_upstream_3"
    replayer.reset()  # playback starts over
    with replayer.serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-any", max_retries=0) as socket_client:
        assert [run(socket_client, HOT), run(socket_client, CRITIC)] == recorded
    # a rejected request the cassette lacks is judged by mockai, as without a cassette: not a cassette miss
    other = run(replay, ask("Hot take, please", temperature=7))
    assert other[:2] == ("BadRequestError", 400)
    assert other[2]["code"] == "integer_above_max_value"
    assert replayer.cassette is not None
    assert replayer.cassette.misses == []
    assert len(lenient.received) == 3


def test_new_episodes_and_all_forward_what_the_cassette_lacks_and_strict_models_defers_too(
        lenient: Lenient, tmp_path: Path) -> None:
    path = tmp_path / "episodes.json"
    newer = ask("Hello, new model", model="gpt-9-preview")  # unknown to this mock's strict model list
    strict = {"strict_models": True, "models": [MODEL]}
    assert run(sync_client(MockAI(**strict)), newer)[:2] == ("NotFoundError", 404)  # type: ignore[arg-type]

    first = run(sync_client(MockAI(cassette=path, record_mode="once", upstream=lenient.url, **strict)), newer)
    assert first["model"] == "gpt-9-preview"
    episodes = MockAI(cassette=path, record_mode="new_episodes", upstream=lenient.url, **strict)
    client = sync_client(episodes)
    assert run(client, newer) == first  # a hit: replayed, the upstream not asked
    assert len(lenient.received) == 1
    hot = run(client, HOT)  # a miss: forwarded, unjudged
    assert hot[2]["code"] == "decimal_above_max_value"
    assert len(lenient.received) == 2
    assert len(load(path)) == 2

    rerecord = MockAI(cassette=path, record_mode="all", upstream=lenient.url, **strict)
    # all: asked again, never replayed; the socket door forwards alike
    with rerecord.serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key=REAL_KEY, max_retries=0) as socket_client:
        assert run(socket_client, newer)["id"] == "chatcmpl-upstream3"
    assert len(lenient.received) == 3
    assert [i["request"]["body"] for i in load(path)] == [newer]
    replay = sync_client(MockAI(cassette=path, **strict))
    assert run(replay, newer)["id"] == "chatcmpl-upstream3"


def test_recording_still_needs_a_key(lenient: Lenient, tmp_path: Path) -> None:
    """mockai's own door check stays: without a key the request is refused before any upstream sees it (pass
    auth=False to forward requests that carry none)."""
    recorder = MockAI(cassette=tmp_path / "keyless.json", record_mode="once", upstream=lenient.url)
    res = recorder.http_client().post("/chat/completions", json=CRITIC)
    assert res.status_code == 401
    assert res.json()["error"]["code"] == "invalid_api_key"
    assert lenient.received == []
    open_door = MockAI(cassette=tmp_path / "keyless.json", record_mode="once", upstream=lenient.url, auth=False)
    assert open_door.http_client().post("/chat/completions", json=CRITIC).status_code == 200
    assert len(lenient.received) == 1


# --- recording beside a large cassette (issue 9, point 12) -------------------------------------------------


def filler(i: int) -> dict[str, Any]:
    """A recorded interaction of about 1.7 KB, as bench/cassettes.py builds them."""
    answer = "The keeper trimmed the wick and watched the beam sweep the dark water. " * 12
    return {"request": {"method": "POST", "path": "/v1/chat/completions", "query": "",
                        "headers": {"authorization": "REDACTED"}, "body": ask(f"Filler question {i}")},
            "response": {"status": 200, "headers": {"content-type": "application/json"}, "elapsed": 0.4,
                         "body": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1, "model": MODEL,
                                  "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
                                      "role": "assistant", "content": answer, "refusal": None}}]}}}


def test_new_episodes_beside_a_large_cassette_append_and_never_rewrite_it_on_the_request_path(
        upstream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from mockai.cassettes import save, store, writer

    path = tmp_path / "large.json"
    save(path, [filler(i) for i in range(600)])
    before = path.read_bytes()
    assert len(before) > 1_000_000
    rewrites: list[tuple[str, int]] = []
    real = store.write_atomic

    def counted(p: Path, text: str) -> None:
        if Path(p).resolve() == path.resolve():  # the writer may still be folding other tests' cassettes
            rewrites.append((threading.current_thread().name, len(text)))
        real(p, text)

    monkeypatch.setattr(store, "write_atomic", counted)
    monkeypatch.setattr(writer, "IDLE", 600.0)  # nothing written behind while this test looks
    mock = MockAI(cassette=path, record_mode="new_episodes", upstream=upstream)
    client = sync_client(mock)
    grew = []
    for i in range(5):
        size = journal_path(path).stat().st_size if journal_path(path).exists() else 0
        assert run(client, ask(f"New question {i}"))["choices"]
        grew.append(journal_path(path).stat().st_size - size)
        assert run(client, ask(f"Filler question {i}"))["id"] == f"chatcmpl-{i}"  # replayed
    assert rewrites == []  # no whole-file write while answering
    assert path.read_bytes() == before
    assert all(0 < g < 4_000 for g in grew)  # one line per interaction: its own size, not the file's
    assert [c.responder for c in mock.calls] == ["cassette"] * 10
    assert len(load(path)) == 605  # readers see the journal at once

    assert mock.cassette is not None
    mock.cassette.flush()  # one rewrite for all five, on the caller's thread here (the writer's, unasked)
    assert [name for name, _ in rewrites] == [threading.current_thread().name]
    assert not journal_path(path).exists()
    assert len(json.loads(path.read_text())["interactions"]) == 605


def test_the_file_is_written_once_the_cassette_is_quiet_and_replays_postpone_it(
        upstream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mockai.cassettes import writer

    monkeypatch.setattr(writer, "IDLE", 0.5)
    path = tmp_path / "quiet.json"
    recorder = MockAI(cassette=path, record_mode="new_episodes", upstream=upstream, allow_playback_repeats=True)
    client = sync_client(recorder)
    recorded = run(client, ask("Write me down"))
    busy_until = time.monotonic() + 1.5
    while time.monotonic() < busy_until:  # a replay-heavy run: the rewrite waits for it to pause
        assert run(client, ask("Write me down")) == recorded
        time.sleep(0.02)
    assert not path.exists()
    assert journal_path(path).exists()
    deadline = time.monotonic() + 10
    while journal_path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not journal_path(path).exists()
    assert json.loads(path.read_text())["interactions"][0]["request"]["body"] == ask("Write me down")
