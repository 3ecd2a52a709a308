"""Latency profiles (mockai.latency): parsing, seeded timing, and real timing over the socket door."""

from __future__ import annotations

import itertools
import json
import random
import socket
import time
from typing import Any

import pytest

from mockai import Latency, MockAI
from mockai.engine import HTTPRequest, HTTPResponse
from mockai.latency import PROFILES

AUTH = {"authorization": "Bearer sk-test"}


def post(mock: MockAI, **params: Any) -> HTTPResponse:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about the sea"}], **params}
    return mock.engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers=AUTH,
                                          body=json.dumps(body).encode()))


def test_profiles_and_custom_specs_parse() -> None:
    assert Latency.parse(None) == Latency.parse("none") == Latency()
    assert Latency.parse("Realistic") == PROFILES["realistic"] == Latency(0.35, 0.012, 0.25)
    assert Latency.parse("ttft=0.2, per_token=0.01 ,jitter=0.1") == Latency(0.2, 0.01, 0.1)
    assert Latency.parse({"per_token": 0.5}) == Latency(0, 0.5, 0)
    assert Latency.parse(Latency(1, 2, 0)) == Latency(1, 2, 0)


@pytest.mark.parametrize(("spec", "message"), [
    ("fast", "unknown latency profile"), ("ttft=x", "not a number"), ("speed=1", "unknown latency field"),
    ("ttft=-1", "between 0 and"), ("jitter=2", "jitter"), ({"ttft": float("inf")}, "between 0 and"),
])
def test_bad_latency_specs_say_what_is_wrong(spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Latency.parse(spec)


def test_a_stream_gets_a_first_token_delay_and_a_gap_per_event() -> None:
    mock = MockAI(latency="ttft=0.2,per_token=0.01")
    res = post(mock, stream=True)
    assert res.events is not None
    assert res.delivery is not None
    assert res.delivery.delay == 0.2
    assert list(res.delivery.gaps or []) == [0.01] * (len(res.events) - 1)


def test_a_json_reply_waits_for_all_its_tokens_and_an_error_for_the_first() -> None:
    mock = MockAI(latency="ttft=0.2,per_token=0.01")
    res = post(mock)
    tokens = res.json()["usage"]["completion_tokens"]
    assert res.delivery is not None
    assert res.delivery.delay == pytest.approx(0.2 + tokens * 0.01)
    mock.fault("500")
    res = post(mock)
    assert res.delivery is not None
    assert res.delivery.delay == pytest.approx(0.2)


def test_jitter_is_bounded_seeded_and_differs_per_call() -> None:
    def timings(seed: int) -> list[tuple[float, tuple[float, ...]]]:
        mock = MockAI(seed=seed, latency="ttft=1,per_token=0.1,jitter=0.5")
        out = []
        for _ in range(3):
            d = post(mock, stream=True).delivery
            assert d is not None
            out.append((d.delay, tuple(d.gaps or ())))
        return out

    first = timings(1)
    assert first == timings(1)
    assert first != timings(2)
    assert len({t[0] for t in first}) == 3  # each call its own draw
    for delay, gaps in first:
        assert 0.5 <= delay <= 1.5
        assert all(0.05 <= g <= 0.15 for g in gaps)


def test_latency_leaves_connection_faults_alone() -> None:
    mock = MockAI(latency="realistic")
    mock.fault("reset")
    d = post(mock).delivery
    assert d is not None
    assert (d.reset, d.delay) == (True, 0.0)


def test_stream_timing_helpers() -> None:
    profile = Latency(ttft=0.1, per_token=0.01, jitter=0)
    assert profile.stream_timing(3, random.Random(0)) == (0.1, [0.01, 0.01])
    assert profile.total(10, random.Random(0)) == pytest.approx(0.2)
    assert Latency().off
    assert not profile.off


def test_the_in_process_door_shows_no_timing() -> None:
    mock = MockAI(latency="ttft=2,per_token=1")
    started = time.monotonic()
    reply = mock.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content
    assert time.monotonic() - started < 1.5


def read_stream_timed(url: str, body: dict[str, Any]) -> tuple[float, list[float], bytes]:
    """POST over a raw socket; seconds to the first body byte, the arrival time of each later read, and the body."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    data = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)))
    started = time.monotonic()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
                 b"Content-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(data), data))
    raw = b""
    arrivals = []
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        raw += piece
        arrivals.append(time.monotonic() - started)
    sock.close()
    return arrivals[0], arrivals, raw


def test_timing_is_real_over_the_socket_door() -> None:
    mock = MockAI(latency="ttft=0.15,per_token=0.01")
    mock.fault("stall=0.3")
    with mock.serve() as server:
        first, arrivals, raw = read_stream_timed(server.base_url, {
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
            "max_tokens": 10})
        assert raw.endswith(b"0\r\n\r\n")  # chunked, complete
        assert b"data: [DONE]\n\n" in raw
        assert first < 0.15 + 0.1  # headers arrive with the first event, after the first-token delay
        assert arrivals[-1] >= 0.15 + 0.3  # the stall happened
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert max(gaps) >= 0.3
        started = time.monotonic()
        _, _, raw = read_stream_timed(server.base_url, {
            "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5})
        assert time.monotonic() - started >= 0.15 + 5 * 0.01 - 0.01
        assert raw.split(b"\r\n\r\n", 1)[1].startswith(b'{"id":"chatcmpl-')
