"""Faults: kinds and how they are asked for, what each answers, and the seeded schedule (mockai.faults)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from mockai import Config, Engine, Fault, HTTPResponse, MockAI, fault
from mockai.cli import main
from mockai.faults import KINDS, duration, parse_schedule, retry_headers
from mockai.scenario import ScenarioError, load_scenario

AUTH = {"authorization": "Bearer sk-test"}
RATE_HEADERS = {f"x-ratelimit-{what}-{unit}" for what in ("limit", "remaining", "reset")
                for unit in ("requests", "tokens")}


def body(content: str = "Tell me about the sea", **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **params}


def post(mock: MockAI, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> HTTPResponse:
    from mockai.engine import HTTPRequest

    return mock.engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={**AUTH, **(headers or {})},
                                          body=json.dumps(payload or body()).encode()))


def envelope(res: HTTPResponse) -> dict[str, Any]:
    data = json.loads(res.body)
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    assert data["error"]["message"]
    return dict(data["error"])


def events(res: HTTPResponse) -> list[bytes]:
    assert res.events is not None
    return res.events


# --- parsing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "kind", "arg"), [
    ("429", "429", None), ("rate_limit", "429", None), ("429=0.05", "429", 0.05), ("cut:3", "cut", 3.0),
    (" Disconnect ", "reset", None), ("overloaded", "503", None), ("quota", "quota", None), ("418", "418", None),
    ("hang=2.5", "hang", 2.5), ("stream_error", "error_event", None),
])
def test_fault_specs_parse(spec: str, kind: str, arg: float | None) -> None:
    f = Fault.parse(spec)
    assert (f.kind, f.arg) == (kind, arg)
    assert Fault.parse(str(f)) == f


@pytest.mark.parametrize(("spec", "message"), [
    ("nope", "unknown fault 'nope'"), ("cut=x", "must be a number"), ("hang=-1", ">= 0"), ("700", "unknown fault"),
    ("refusal=2", "takes no argument"), ("cut=nan", "finite"),
])
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.parse(spec)


def test_schedules_parse_from_strings_and_mappings() -> None:
    assert parse_schedule("429:0.05,500:0.01,disconnect:0.02") == {"429": 0.05, "500": 0.01, "reset": 0.02}
    assert parse_schedule("cut=3:0.1, hang:2:0.1") == {"cut=3": 0.1, "hang=2": 0.1}
    assert parse_schedule({"rate_limit": 0.5}) == {"429": 0.5}
    assert parse_schedule(None) == {}
    for bad, message in [("429", "FAULT:PROBABILITY"), ("429:x", "not a number"), ("429:1.5", "between 0 and 1"),
                         ("429:0.6,500:0.6", "more than 1"), ("bogus:0.1", "unknown fault")]:
        with pytest.raises(ValueError, match=message):
            parse_schedule(bad)


def test_durations_and_retry_headers_look_like_openais() -> None:
    assert [duration(s) for s in (0, 0.12, 1, 8.64, 60, 360, 90.5)] == ["0s", "120ms", "1s", "8.64s", "1m0s",
                                                                         "6m0s", "1m30.5s"]
    assert retry_headers(0.05) == {"retry-after": "1", "retry-after-ms": "50"}
    assert retry_headers(20) == {"retry-after": "20", "retry-after-ms": "20000"}


# --- error faults ---------------------------------------------------------------------------------------------


def test_a_429_fault_has_the_real_headers_and_envelope() -> None:
    mock = MockAI()
    mock.fault("429", 0.05)
    res = post(mock)
    assert res.status == 429
    err = envelope(res)
    assert (err["type"], err["code"]) == ("requests", "rate_limit_exceeded")
    assert "Rate limit reached for gpt-4o-mini" in err["message"]
    assert set(res.headers) >= RATE_HEADERS
    assert (res.headers["retry-after"], res.headers["retry-after-ms"]) == ("1", "50")
    assert res.headers["x-ratelimit-remaining-requests"] == "0"
    assert res.headers["x-request-id"].startswith("req_")
    assert post(mock).status == 200


@pytest.mark.parametrize(("spec", "status", "type_", "code"), [
    ("400", 400, "invalid_request_error", None), ("401", 401, "invalid_request_error", "invalid_api_key"),
    ("403", 403, "invalid_request_error", "unsupported_country_region_territory"),
    ("404", 404, "invalid_request_error", "model_not_found"), ("409", 409, "invalid_request_error", None),
    ("422", 422, "invalid_request_error", None), ("quota", 429, "insufficient_quota", "insufficient_quota"),
    ("500", 500, "server_error", None), ("502", 502, "cf_bad_gateway", None), ("503", 503, "server_error", None),
    ("504", 504, "cf_gateway_timeout", None), ("418", 418, "invalid_request_error", None),
])
def test_error_faults_use_the_real_statuses_and_envelopes(spec: str, status: int, type_: str,
                                                          code: str | None) -> None:
    mock = MockAI()
    mock.fault(spec)
    res = post(mock)
    assert res.status == status
    err = envelope(res)
    assert (err["type"], err["code"]) == (type_, code)
    assert "retry-after" not in res.headers
    assert mock.calls.last.fault == spec
    assert mock.calls.last.error is not None


def test_an_error_fault_argument_is_a_retry_after() -> None:
    mock = MockAI()
    mock.fault("503", 0.25)
    res = post(mock)
    assert "overloaded" in envelope(res)["message"]
    assert (res.headers["retry-after"], res.headers["retry-after-ms"]) == ("1", "250")


# --- connection faults in-process -----------------------------------------------------------------------------


def test_reset_and_hang_become_the_errors_a_client_sees_in_process() -> None:
    mock = MockAI()
    mock.fault("reset")
    mock.fault("hang=5")
    with mock.http_client(headers=AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="reset fault"):
            client.post("/chat/completions", json=body())
        with pytest.raises(httpx.ReadTimeout, match="hang fault"):
            client.post("/chat/completions", json=body())
        assert client.post("/chat/completions", json=body()).status_code == 200
    assert [c.fault for c in mock.calls] == ["reset", "hang=5", None]
    assert [c.status for c in mock.calls] == [0, 0, 200]
    assert mock.calls[1].response.delivery is not None
    assert mock.calls[1].response.delivery.hang == 5


def test_a_hang_is_bounded() -> None:
    mock = MockAI()
    mock.fault("hang=100000")
    delivery = post(mock).delivery
    assert delivery is not None
    assert delivery.hang == 600


# --- stream faults --------------------------------------------------------------------------------------------


def test_cut_sends_k_events_then_drops_the_connection() -> None:
    mock = MockAI()
    mock.fault("cut=3")
    with mock.http_client(headers=AUTH) as client, client.stream("POST", "/chat/completions",
                                                                 json=body(stream=True)) as res:
        got: list[str] = []
        with pytest.raises(httpx.RemoteProtocolError, match="cut fault"):
            got.extend(line for line in res.iter_lines() if line)
    assert len(got) == 3
    assert all(line.startswith("data: {") for line in got)


def test_cut_defaults_to_half_the_stream_and_cuts_a_json_reply_after_its_headers() -> None:
    mock = MockAI()
    whole = len(events(post(mock, body(stream=True))))
    mock.fault("cut")
    d = post(mock, body(stream=True)).delivery
    assert d is not None
    assert d.cut_after == (whole - 1) // 2
    mock.fault("cut")
    d = post(mock).delivery
    assert d is not None
    assert d.cut_after == 0


@pytest.mark.parametrize("door", ["in-process", "socket"])
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_the_journal_of_a_cut_stream_holds_the_bytes_the_client_received(door: str, api: str) -> None:
    """The journal promises the bytes on the wire: a cut stream's events are the ones sent, not the ones planned."""
    mock = MockAI(seed=3)
    mock.fault("cut=3")
    path, payload = (("/chat/completions", body(stream=True)) if api == "chat" else
                     ("/responses", {"model": "gpt-4o-mini", "input": "Tell me about the sea", "stream": True}))
    received = bytearray()

    def read(client: httpx.Client) -> None:
        with client.stream("POST", path, json=payload) as res, pytest.raises(httpx.RemoteProtocolError):  # noqa: PT012
            for piece in res.iter_raw():
                received.extend(piece)

    if door == "in-process":
        with mock.http_client(headers=AUTH) as client:
            read(client)
    else:
        with mock.serve() as server, httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as client:
            read(client)
    call = mock.calls.last
    assert call.fault == "cut=3"
    assert len(call.response.events or []) == 3
    assert call.response.content() == bytes(received)
    assert b"[DONE]" not in received
    assert b"response.completed" not in received
    assert "cut after 3 events" in mock.calls.transcript()


def test_the_transcript_of_a_cut_or_failed_stream_shows_what_was_sent_not_the_whole_reply() -> None:
    mock = MockAI()
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    mock.queue(fault("cut=3", reply=text))
    mock.queue(fault("error_event=3", reply=text))
    for _ in range(2):
        with mock.http_client(headers=AUTH) as client, client.stream(
                "POST", "/chat/completions", json=body(stream=True)) as res, \
                contextlib.suppress(httpx.RemoteProtocolError):
            res.read()
    cut, failed = mock.calls.transcript().split("#2")
    assert "sent before the cut:" in cut
    assert "sent before the error:" in failed
    assert "error (in the stream): server_error" in failed
    assert "kappa" not in cut
    assert "kappa" not in failed


def test_a_cut_json_reply_is_journaled_without_the_body_it_never_sent() -> None:
    mock = MockAI()
    mock.fault("cut")
    with mock.http_client(headers=AUTH) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=body())
    assert mock.calls.last.response.content() == b""
    assert mock.calls.last.reply is not None  # what was planned stays in the reply


def _slow_stream(mock: MockAI, client: httpx.Client) -> tuple[httpx.Response, Iterator[bytes], bytes]:
    """A stream at 0.15 s an event (no fault), open after two events have arrived (while its iterator lives)."""
    request = client.build_request("POST", "/chat/completions", json=body(stream=True))
    res = client.send(request, stream=True)
    received = b""
    pieces = res.iter_raw()
    while received.count(b"\n\n") < 2:
        received += next(pieces)
    return res, pieces, received


def test_a_stream_the_client_left_is_journaled_as_far_as_it_was_sent() -> None:
    mock = MockAI(seed=5, latency={"ttft": 0, "per_token": 0.15, "jitter": 0})
    with mock.serve() as server, httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as client:
        res, pieces, received = _slow_stream(mock, client)
        pieces.close()  # the client leaves mid-stream
        res.close()
        deadline = time.monotonic() + 5
        while mock.calls.last.ended is None and time.monotonic() < deadline:
            time.sleep(0.02)
    call = mock.calls.last
    assert call.ended == "client"
    sent = call.response.content()
    assert sent.startswith(received)
    assert b"[DONE]" not in sent
    assert 2 <= len(call.response.events or []) < 10
    assert "the client left after" in mock.calls.transcript()


def test_a_reply_the_client_left_before_its_head_is_journaled_as_never_answered() -> None:
    mock = MockAI(seed=5, latency={"ttft": 1.5, "per_token": 0, "jitter": 0})
    with mock.serve() as server, httpx.Client(base_url=server.base_url, headers=AUTH, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/chat/completions", json=body())
        deadline = time.monotonic() + 5
        while mock.calls.last.ended is None and time.monotonic() < deadline:
            time.sleep(0.02)
    call = mock.calls.last
    assert (call.ended, call.status, call.response.content()) == ("client", 0, b"")
    assert call.reply is not None  # what was planned stays in the reply
    transcript = mock.calls.transcript()
    assert "-> no answer" in transcript
    assert "nothing was sent: the client left first" in transcript
    assert (call.reply.choices[0].content or "")[:40] not in transcript


def test_a_hang_the_client_gave_up_on_is_the_fault_not_a_client_that_left() -> None:
    mock = MockAI(seed=5)
    mock.fault("hang=1.5")
    with mock.serve() as server, httpx.Client(base_url=server.base_url, headers=AUTH, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/chat/completions", json=body())
        time.sleep(0.3)
    call = mock.calls.last
    assert (call.fault, call.ended, call.status) == ("hang=1.5", None, 0)
    transcript = mock.calls.transcript()
    assert "-> no answer" in transcript
    assert "streamed live" not in transcript


def test_a_stream_cut_short_by_the_server_stopping_is_journaled_as_far_as_it_was_sent() -> None:
    mock = MockAI(seed=5, latency={"ttft": 0, "per_token": 0.15, "jitter": 0})
    server = mock.serve().start()
    client = httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10)
    try:
        res, pieces, received = _slow_stream(mock, client)
        server.stop()  # waits 2 s for the stream, then cancels it
        call = mock.calls.last
        assert call.ended == "stopped"
        assert call.response.content().startswith(received)
        assert b"[DONE]" not in call.response.content()
        assert "the server stopped after" in mock.calls.transcript()
        pieces.close()
        res.close()
    finally:
        client.close()
        server.stop()


def test_an_error_event_arrives_mid_stream_and_ends_it() -> None:
    mock = MockAI()
    mock.fault("error_event=2")
    evs = events(post(mock, body(stream=True)))
    assert len(evs) == 3
    assert all(json.loads(e[6:])["object"] == "chat.completion.chunk" for e in evs[:2])
    last = json.loads(evs[2][len(b"data: "):])
    assert last["error"]["type"] == "server_error"
    assert b"[DONE]" not in b"".join(evs)
    mock.fault("error_event")
    res = post(mock)
    assert res.status == 500
    assert envelope(res)["type"] == "server_error"


def test_a_malformed_event_is_invalid_json_and_the_rest_follow() -> None:
    mock = MockAI()
    whole = events(post(mock, body(stream=True)))
    mock.fault("malformed=1")
    evs = events(post(mock, body(stream=True)))
    assert len(evs) == len(whole)
    assert evs[1].startswith(b"data: {")
    assert evs[1].endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(evs[1][6:])
    json.loads(evs[2][6:])
    assert evs[-1] == b"data: [DONE]\n\n"
    mock.fault("malformed")
    with pytest.raises(json.JSONDecodeError):
        json.loads(post(mock).body)


def test_a_stall_is_one_long_gap_in_the_middle_of_a_stream() -> None:
    mock = MockAI(latency="ttft=0,per_token=0.001")
    mock.fault("stall=0.5")
    res = post(mock, body(stream=True))
    assert res.delivery is not None
    gaps = list(res.delivery.gaps or [])
    assert len(gaps) == len(events(res)) - 1
    assert max(gaps) == pytest.approx(0.501)
    assert sorted(gaps)[-2] == pytest.approx(0.001)
    mock.fault("stall=0.5")
    d = post(mock).delivery
    assert d is not None
    assert d.delay >= 0.5


def test_empty_is_a_200_with_no_body() -> None:
    mock = MockAI()
    mock.fault("empty", times=2)
    res = post(mock)
    assert (res.status, res.body, res.headers["content-type"]) == (200, b"", "application/json")
    res = post(mock, body(stream=True))
    assert (res.status, res.content()) == (200, b"")
    assert res.headers["content-type"].startswith("text/event-stream")


# --- content faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["length", "content_filter"])
def test_content_stops_mid_reply(kind: str) -> None:
    from openai.types.chat import ChatCompletion

    mock = MockAI()
    mock.queue(fault(kind, 2, reply="One two three four five six"))
    data = post(mock).json()
    ChatCompletion.model_validate(data, strict=True)
    choice = data["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("One two", kind)
    assert data["usage"]["completion_tokens"] == 2


def test_length_cuts_a_stream_and_tool_arguments_too() -> None:
    from mockai import call

    mock = MockAI()
    mock.queue(fault("length", reply={"tool_calls": [call("get_weather", city="Oslo", unit="celsius")]}))
    data = post(mock).json()
    args = data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert data["choices"][0]["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(args)
    mock.fault("length=3")
    chunks = [json.loads(e[6:]) for e in events(post(mock, body(stream=True)))[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert len(text.split()) <= 3


def test_length_keeps_a_custom_calls_type_and_id() -> None:
    """A cut custom call is still a custom call (it came back as a function call), on both wires."""
    from mockai import ToolCall

    mock = MockAI()
    for _ in range(2):
        mock.queue(fault("length", reply={"tool_calls": [ToolCall("run_sql", "SELECT name FROM users", "call_1",
                                                                  type="custom")]}))
    tools = [{"type": "custom", "custom": {"name": "run_sql"}}]
    data = post(mock, body(tools=tools)).json()
    (made,) = data["choices"][0]["message"]["tool_calls"]
    assert (made["type"], made["id"], data["choices"][0]["finish_reason"]) == ("custom", "call_1", "length")
    assert "SELECT name FROM users".startswith(made["custom"]["input"])
    assert made["custom"]["input"] != "SELECT name FROM users"
    from mockai.engine import HTTPRequest

    res = mock.engine.handle(HTTPRequest("POST", "/v1/responses", headers=AUTH, body=json.dumps(
        {"model": "gpt-4o-mini", "input": "q", "tools": [{"type": "custom", "name": "run_sql"}]}).encode()))
    out = res.json()
    assert [item["type"] for item in out["output"]] == ["custom_tool_call"]
    assert (out["status"], out["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})


def test_refusal_and_empty_content() -> None:
    mock = MockAI()
    mock.fault("refusal")
    mock.fault("empty_content")
    msg = post(mock).json()["choices"][0]["message"]
    assert msg["content"] is None
    assert msg["refusal"].startswith("I'm sorry")
    msg = post(mock).json()["choices"][0]["message"]
    assert (msg["content"], msg["refusal"]) == ("", None)


# --- how faults are asked for ---------------------------------------------------------------------------------


def test_queued_faults_come_before_rules_and_replies() -> None:
    mock = MockAI()
    mock.on(last_user="sea").reply("Scripted")
    mock.fault("500", times=2)
    statuses = [post(mock).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert mock.calls.last.response.json()["choices"][0]["message"]["content"] == "Scripted"
    assert [c.fault for c in mock.calls] == ["500", "500", None]


def test_faults_by_call_number() -> None:
    mock = MockAI()
    mock.fault("503", on_call=2)
    mock.fault("reset", on_call=4)
    assert [post(mock).status for _ in range(5)] == [200, 503, 200, 0, 200]
    mock.reset()
    assert post(mock).status == 200  # the count starts over, and the plan was cleared
    with pytest.raises(ValueError, match="from 1"):
        mock.fault("500", on_call=0)
    with pytest.raises(ValueError, match="at least 1"):
        mock.fault("500", times=0)


def test_unused_faults_fail_verification() -> None:
    mock = MockAI()
    mock.fault("429", times=2)
    mock.fault("500", on_call=9)
    post(mock)
    assert mock.unused() == ["queued fault 429 was never used",
                             "fault 500 for call #9 was never used (only 1 request for a model reply came)"]
    with pytest.raises(AssertionError, match="queued fault 429"):
        mock.verify()


def test_rule_faults() -> None:
    mock = MockAI()
    rule = mock.on(model="gpt-4o").fault("429", 0.01, times=1)
    cut = mock.on(last_user="cut me").reply("one two three four").fault("cut=2")
    generated = mock.on(last_user="stall").fault("stall=0.1")
    assert rule.describe() == "on(model='gpt-4o', times=1, fault=429=0.01)"
    assert post(mock, {**body(), "model": "gpt-4o"}).status == 429
    assert post(mock, {**body(), "model": "gpt-4o"}).status == 200  # times=1: used up
    res = post(mock, body("cut me", stream=True))
    assert res.delivery is not None
    assert res.delivery.cut_after == 2
    assert b"one" in b"".join(events(res))
    assert post(mock, body("stall please")).json()["choices"][0]["message"]["content"]
    assert (cut.call_count, generated.call_count) == (1, 1)
    assert [c.fault for c in mock.calls] == ["429=0.01", None, "cut=2", "stall=0.1"]


def test_a_queued_or_scheduled_fault_wins_over_a_rule_fault() -> None:
    mock = MockAI()
    mock.on(last_user="sea").fault("cut=1")
    mock.fault("length=1")
    post(mock)
    assert mock.calls.last.fault == "length=1"


def test_faulted_replies_in_queues_and_sequences() -> None:
    mock = MockAI()
    mock.queue(fault("429", 0.01), "after the 429")
    mock.on(last_user="seq").sequence("first", fault("500"), fault("refusal"))
    assert post(mock).status == 429
    assert post(mock).json()["choices"][0]["message"]["content"] == "after the 429"
    assert [post(mock, body("seq")).status for _ in range(3)] == [200, 500, 200]
    assert mock.calls.last.response.json()["choices"][0]["message"]["refusal"]


def test_the_header_is_ignored_unless_enabled() -> None:
    off = MockAI()
    assert post(off, headers={"x-mockai-fault": "500"}).status == 200
    on = MockAI(fault_header=True)
    assert post(on, headers={"x-mockai-fault": "500"}).status == 500
    assert post(on, headers={"x-mockai-fault": "cut=2"}).delivery is not None
    assert post(on, headers={"x-mockai-fault": " "}).status == 200
    res = post(on, headers={"x-mockai-fault": "bogus"})
    assert res.status == 400
    err = envelope(res)
    assert err["code"] == "invalid_fault"
    assert "X-Mockai-Fault" in err["message"]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30))
def test_any_header_value_gets_a_fault_or_a_400_never_a_crash(value: str) -> None:
    mock = MockAI(fault_header=True)
    safe = value.encode("latin-1", "replace").decode("latin-1")
    res = post(mock, headers={"x-mockai-fault": safe})
    if res.status == 400:
        assert envelope(res)["code"] == "invalid_fault"
    else:
        assert mock.calls.last.fault is not None or not safe.strip()
        assert not (res.status == 500 and mock.calls.last.fault not in ("500", "error_event"))


# --- the seeded schedule ----------------------------------------------------------------------------------------


def run_schedule(seed: int, bodies: list[dict[str, Any]], schedule: str = "429:0.2,500:0.1,reset:0.1") -> list[Any]:
    engine = MockAI(seed=seed, faults=schedule)
    return [(post(engine, b).status, engine.calls.last.fault) for b in bodies]


def test_a_seeded_schedule_repeats_exactly_and_depends_on_the_seed() -> None:
    bodies = [body(f"question {i % 40}") for i in range(200)]
    first = run_schedule(7, bodies)
    assert first == run_schedule(7, bodies)
    assert first != run_schedule(8, bodies)
    faults = [f for _, f in first]
    assert 0.25 < sum(f is not None for f in faults) / len(faults) < 0.55
    assert {f for f in faults if f} == {"429", "500", "reset"}
    assert {s for s, f in first if f == "reset"} == {0}


def test_a_schedule_draw_depends_on_the_request_not_on_the_order() -> None:
    bodies = [body(f"question {i}") for i in range(60)]
    forward = dict(zip(range(60), run_schedule(3, bodies), strict=True))
    backward = dict(zip(reversed(range(60)), run_schedule(3, list(reversed(bodies))), strict=True))
    assert forward == backward


def test_engines_get_their_schedule_from_the_config_as_json() -> None:
    config = Config(seed=5, faults="429:1", latency="realistic", rpm=100, tpm=10000, fault_header=True)
    engine = Engine(Config(**json.loads(json.dumps(config.__dict__))))
    assert engine.fault_plan.schedule == {"429": 1.0}
    assert engine.fault_plan.header
    assert engine.rate_limiter.rpm == 100
    assert engine.latency.profile.ttft == 0.35
    with pytest.raises(ValueError, match="unknown fault"):
        Engine(Config(faults="nope:0.1"))


# --- scenario files, the journal, the CLI ---------------------------------------------------------------------


def test_scenario_files_ask_for_faults(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(
        "rules:\n"
        "  - match: {model: gpt-flaky}\n"
        "    fault: '503'\n"
        "    times: 1\n"
        "  - match: {last_user: cut}\n"
        "    reply: one two three\n"
        "    fault: cut=1\n"
        "queue:\n"
        "  - {fault: '429=0.01'}\n"
        "  - {fault: length=1, reply: {content: Hello there}}\n")
    mock = MockAI(scenario=path)
    assert post(mock, {**body(), "model": "gpt-flaky"}).status == 503
    assert post(mock).status == 429
    assert post(mock).json()["choices"][0]["message"]["content"] == "Hello"
    res = post(mock, body("cut", stream=True))
    assert res.delivery is not None
    assert res.delivery.cut_after == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("queue:\n  - {fault: sometimes}\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml:2: queue\[0\].fault: .*unknown fault 'sometimes'"):
        load_scenario(bad)


def test_the_control_api_shows_each_calls_fault_and_process_stats() -> None:
    from mockai.engine import HTTPRequest

    mock = MockAI()
    mock.fault("500")
    post(mock)
    calls = mock.engine.handle(HTTPRequest("GET", "/_mockai/calls")).json()["data"]
    assert calls[0]["fault"] == "500"
    stats = mock.engine.handle(HTTPRequest("GET", "/_mockai/stats")).json()
    assert stats["tasks"] is None  # no event loop in-process
    assert stats["calls"] == 1
    assert stats["fds"] > 0


def test_every_kind_is_documented_in_the_cli_help() -> None:
    out = CliRunner().invoke(main, ["serve", "--help"]).output
    for option in ("--faults", "--latency", "--rpm", "--tpm", "--fault-header"):
        assert option in out
    assert set(KINDS) >= {"reset", "hang", "cut", "error_event", "malformed", "stall", "empty"}


def test_the_cli_checks_and_passes_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(options: dict[str, Any], **kwargs: Any) -> None:
        seen.update(options)

    monkeypatch.setattr("mockai.server.serve", fake_run)
    runner = CliRunner()
    bad = runner.invoke(main, ["serve", "--faults", "429:0.5,500:0.7"])
    assert bad.exit_code == 2
    assert "more than 1" in bad.output
    assert runner.invoke(main, ["serve", "--latency", "slowish"]).exit_code == 2
    assert runner.invoke(main, ["serve", "--rpm", "0"]).exit_code == 2
    ok = runner.invoke(main, ["serve", "--faults", "429:0.05,disconnect:0.02", "--seed", "9", "--latency",
                              "realistic", "--rpm", "60", "--tpm", "1000", "--fault-header"])
    assert ok.exit_code == 0, ok.output
    assert {k: seen[k] for k in ("faults", "latency", "rpm", "tpm", "fault_header", "seed")} == {
        "faults": "429:0.05,disconnect:0.02", "latency": "realistic", "rpm": 60, "tpm": 1000, "fault_header": True,
        "seed": 9}
    Engine(Config(**json.loads(json.dumps(seen))))


# --- regressions ---------------------------------------------------------------------------------------------


def _streamed(res: HTTPResponse) -> tuple[str, str | None, dict[str, Any] | None]:
    """(text, finish_reason, usage) of a one-choice stream."""
    text, finish, usage = "", None, None
    for event in res.events or []:
        data = event.removeprefix(b"data: ").strip()
        if data == b"[DONE]":
            continue
        chunk = json.loads(data)
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
    return text, finish, usage


@pytest.mark.parametrize("kind", ["length=1", "content_filter=1", "empty_content", "refusal"])
def test_content_faults_reach_the_wire_for_a_fuzz_reply(kind: str) -> None:
    # A drawn reply (a SplitReply) once kept its pre-drawn chunks: the fault was journalled but not sent.
    mock = MockAI(responder="fuzz", seed=5)
    payload = body(stream=True, stream_options={"include_usage": True}, n=1)
    full, _, _ = _streamed(post(mock, payload))
    assert len(full) > 3
    mock.fault(kind)
    res = post(mock, payload)
    text, finish, usage = _streamed(res)
    assert mock.calls.last.fault == kind
    want = {"length=1": "length", "content_filter=1": "content_filter"}.get(kind, "stop")
    assert finish == want
    reply = mock.calls.last.reply
    assert reply is not None
    assert text == (reply.choices[0].content or "")
    if kind in ("length=1", "content_filter=1"):
        assert usage is not None
        assert usage["completion_tokens"] == reply.choices[0].completion_tokens()
        assert len(text) < len(full)
    if kind == "empty_content":
        assert text == ""


def test_content_faults_reach_the_wire_for_a_queued_drawn_stream() -> None:
    from hypothesis import find

    from mockai.strategies import chunk_streams

    drawn = find(chunk_streams(n=1, include_usage=True, finish_reasons=["stop"]),
                 lambda d: len((d.completion["choices"][0]["message"]["content"] or "").split()) >= 3)
    mock = MockAI()
    mock.queue(fault("length=1", reply=drawn))
    text, finish, usage = _streamed(post(mock, body(stream=True, stream_options={"include_usage": True})))
    assert finish == "length"
    assert text != drawn.completion["choices"][0]["message"]["content"]
    assert usage is not None
    assert usage["completion_tokens"] == 1


def test_duration_is_milliseconds_below_a_second_then_go_style() -> None:
    assert [duration(s) for s in (0, 0.006, 0.9996, 1, 1.5, 12.5, 20, 90, 3600, 3661.25)] == [
        "0s", "6ms", "1s", "1s", "1.5s", "12.5s", "20s", "1m30s", "1h0m0s", "1h1m1.25s"]


def test_a_429_fault_under_an_active_limiter_uses_the_limiters_numbers() -> None:
    mock = MockAI(rpm=60)
    mock.fault("429", 2)
    res = post(mock)
    err = envelope(res)
    assert res.status == 429
    assert res.headers["x-ratelimit-limit-requests"] == "60"
    assert res.headers["x-ratelimit-remaining-requests"] == "0"
    assert res.headers["x-ratelimit-reset-requests"] in ("1s", *(f"{ms}ms" for ms in range(900, 1000)))
    assert (res.headers["retry-after"], res.headers["retry-after-ms"]) == ("2", "2000")
    assert "Limit 60, Used 60, Requested 1. Please try again in 2s." in err["message"]
    assert (err["type"], err["code"]) == ("requests", "rate_limit_exceeded")
