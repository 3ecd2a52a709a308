"""The real ``openai`` SDK against faults, sync and async, over a socket and in-process: it retries exactly as
configured, honours retry-after, raises the right errors, and raises mid-iteration on a broken stream."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest
import pytest_asyncio

from mockai import MockAI
from mockai.engine import Exchange, HTTPResponse
from mockai.server import ServerThread

MESSAGES = [{"role": "user", "content": "Tell me about the sea"}]
ARGS: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}


class Timed:
    """A mock that notes when each chat request arrived (an interceptor that answers nothing)."""

    def __init__(self, **kwargs: Any) -> None:
        self.mock = MockAI(**kwargs)
        self.times: list[float] = []

        def stamp(ex: Exchange) -> HTTPResponse | None:
            self.times.append(time.monotonic())
            return None

        self.mock.engine.interceptors.insert(0, stamp)

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.times)]


def drain(stream: Any, into: list[Any]) -> None:
    for chunk in stream:
        into.append(chunk)


async def adrain(stream: Any, into: list[Any]) -> None:
    async for chunk in stream:
        into.append(chunk)


@pytest.fixture
def timed() -> Timed:
    return Timed()


@pytest.fixture(params=["socket", "in-process"])
def door(request: pytest.FixtureRequest, timed: Timed) -> Iterator[Callable[..., openai.OpenAI]]:
    """``door(**client_kwargs)``: a sync SDK client reaching ``timed.mock`` through one door."""
    if request.param == "in-process":
        yield lambda **kw: timed.mock.client(**kw)
        return
    with timed.mock.serve() as server:
        clients: list[openai.OpenAI] = []

        def make(**kw: Any) -> openai.OpenAI:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", **kw)
            clients.append(client)
            return client

        yield make
        for client in clients:
            client.close()


@pytest_asyncio.fixture(params=["socket", "in-process"])
async def adoor(request: pytest.FixtureRequest, timed: Timed) -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    """``adoor(**client_kwargs)``: an async SDK client reaching ``timed.mock`` through one door."""
    if request.param == "in-process":
        yield lambda **kw: timed.mock.async_client(**kw)
        return
    server = ServerThread(timed.mock.engine).start()
    try:
        yield lambda **kw: openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", **kw)
    finally:
        server.stop()


# --- retries ---------------------------------------------------------------------------------------------------


def test_429_is_retried_as_configured_honouring_retry_after(door: Callable[..., openai.OpenAI],
                                                            timed: Timed) -> None:
    timed.mock.fault("429", 0.05)
    timed.mock.fault("429", 0.25)
    reply = door(max_retries=2).chat.completions.create(**ARGS)
    assert reply.choices[0].message.content
    calls = timed.mock.calls
    assert [c.status for c in calls] == [429, 429, 200]
    assert [c.fault for c in calls] == ["429=0.05", "429=0.25", None]
    assert [c.http.headers.get("x-stainless-retry-count") for c in calls] == ["0", "1", "2"]
    first, second = timed.gaps
    assert 0.05 <= first < 0.3  # retry-after-ms 50, not the SDK's own backoff (at least 0.375 s)
    assert second >= 0.25


def test_429_beyond_max_retries_raises_rate_limit_error(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("429", 0.01, times=4)
    with pytest.raises(openai.RateLimitError) as info:
        door(max_retries=3).chat.completions.create(**ARGS)
    assert info.value.status_code == 429
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after-ms"] == "10"
    assert len(timed.mock.calls) == 4


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_5xx_is_retried_then_raises_internal_server_error(status: str, door: Callable[..., openai.OpenAI],
                                                          timed: Timed) -> None:
    timed.mock.fault(status, 0.01, times=2)
    with pytest.raises(openai.InternalServerError) as info:
        door(max_retries=1).chat.completions.create(**ARGS)
    assert info.value.status_code == int(status)
    assert [c.status for c in timed.mock.calls] == [int(status)] * 2
    assert door(max_retries=0).chat.completions.create(**ARGS).choices[0].message.content is not None  # used up


def test_max_retries_zero_means_one_attempt(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("503")
    with pytest.raises(openai.InternalServerError):
        door(max_retries=0).chat.completions.create(**ARGS)
    assert len(timed.mock.calls) == 1


@pytest.mark.parametrize(("spec", "error"), [
    ("400", openai.BadRequestError), ("401", openai.AuthenticationError), ("403", openai.PermissionDeniedError),
    ("404", openai.NotFoundError), ("422", openai.UnprocessableEntityError),
])
def test_4xx_faults_raise_their_errors_without_retrying(spec: str, error: type[Exception],
                                                        door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault(spec)
    with pytest.raises(error):
        door(max_retries=3).chat.completions.create(**ARGS)
    assert len(timed.mock.calls) == 1


def test_quota_is_a_rate_limit_error_with_its_own_code(timed: Timed) -> None:
    timed.mock.fault("quota")
    with pytest.raises(openai.RateLimitError) as info:
        timed.mock.client(max_retries=0).chat.completions.create(**ARGS)
    assert info.value.code == "insufficient_quota"
    assert info.value.type == "insufficient_quota"


def test_a_connection_reset_is_retried_then_raises_connection_error(door: Callable[..., openai.OpenAI],
                                                                    timed: Timed) -> None:
    timed.mock.fault("reset", times=2)
    with pytest.raises(openai.APIConnectionError) as info:
        door(max_retries=1).chat.completions.create(**ARGS)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert [c.fault for c in timed.mock.calls] == ["reset", "reset"]


def test_a_hang_fires_the_client_timeout(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("hang=5")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        door(max_retries=0, timeout=0.3).chat.completions.create(**ARGS)
    assert time.monotonic() - started < 3
    assert timed.mock.calls.last.fault == "hang=5"


def test_a_seeded_schedule_replays_the_same_attempts() -> None:
    mock = MockAI(seed=7, faults="500=0.01:0.5")
    client = mock.client(max_retries=5)
    client.chat.completions.create(**ARGS)
    statuses = [c.status for c in mock.calls]
    assert statuses == [500, 500, 500, 200]  # seed 7 draws three 500s for this request, then none
    again = MockAI(seed=7, faults="500=0.01:0.5")
    again.client(max_retries=5).chat.completions.create(**ARGS)
    assert [c.status for c in again.calls] == statuses


# --- broken streams ----------------------------------------------------------------------------------------------


def test_a_cut_stream_raises_mid_iteration(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("cut=3")
    stream = door(max_retries=0).chat.completions.create(**ARGS, stream=True)
    got = []
    with pytest.raises(openai.APIConnectionError):
        drain(stream, got)
    assert len(got) == 3
    assert got[0].choices[0].delta.role == "assistant"


def test_an_error_event_raises_mid_iteration(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("error_event=2")
    stream = door(max_retries=0).chat.completions.create(**ARGS, stream=True)
    got = []
    with pytest.raises(openai.APIError, match="The server had an error"):
        drain(stream, got)
    assert len(got) == 2


def test_a_malformed_event_raises_a_decode_error(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("malformed=2")
    stream = door(max_retries=0).chat.completions.create(**ARGS, stream=True)
    got = []
    with pytest.raises(json.JSONDecodeError):
        drain(stream, got)
    assert len(got) == 2


def test_an_empty_stream_yields_nothing(door: Callable[..., openai.OpenAI], timed: Timed) -> None:
    timed.mock.fault("empty")
    assert list(door(max_retries=0).chat.completions.create(**ARGS, stream=True)) == []


def test_a_stall_trips_a_read_timeout_over_the_socket(timed: Timed) -> None:
    timed.mock.fault("stall=2")
    with timed.mock.serve() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=0.3)
        stream = client.chat.completions.create(**ARGS, stream=True)
        got = []
        with pytest.raises(openai.APITimeoutError):
            drain(stream, got)
        assert got
        client.close()


def test_content_faults_reach_the_sdk(timed: Timed) -> None:
    client = timed.mock.client(max_retries=0)
    timed.mock.fault("length=2")
    timed.mock.fault("content_filter")
    timed.mock.fault("refusal")
    assert client.chat.completions.create(**ARGS).choices[0].finish_reason == "length"
    assert client.chat.completions.create(**ARGS).choices[0].finish_reason == "content_filter"
    assert client.chat.completions.create(**ARGS).choices[0].message.refusal


# --- async ---------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_retries_429_then_answers(adoor: Callable[..., openai.AsyncOpenAI], timed: Timed) -> None:
    timed.mock.fault("429", 0.05, times=2)
    async with adoor(max_retries=2) as client:
        reply = await client.chat.completions.create(**ARGS)
    assert reply.choices[0].message.content
    assert [c.status for c in timed.mock.calls] == [429, 429, 200]
    assert all(0.05 <= gap < 0.3 for gap in timed.gaps)


@pytest.mark.asyncio
async def test_async_raises_the_right_errors(adoor: Callable[..., openai.AsyncOpenAI], timed: Timed) -> None:
    timed.mock.fault("500", 0.01, times=2)
    timed.mock.fault("reset")
    timed.mock.fault("hang=5")
    async with adoor(max_retries=1, timeout=0.3) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(**ARGS)
        with pytest.raises(openai.APIConnectionError):
            await client.with_options(max_retries=0).chat.completions.create(**ARGS)
        with pytest.raises(openai.APITimeoutError):
            await client.with_options(max_retries=0).chat.completions.create(**ARGS)
    assert [c.fault for c in timed.mock.calls] == ["500=0.01", "500=0.01", "reset", "hang=5"]


@pytest.mark.asyncio
async def test_async_stream_breaks_mid_iteration(adoor: Callable[..., openai.AsyncOpenAI], timed: Timed) -> None:
    timed.mock.fault("cut=2")
    timed.mock.fault("error_event=1")
    async with adoor(max_retries=0) as client:
        got = []
        with pytest.raises(openai.APIConnectionError):
            await adrain(await client.chat.completions.create(**ARGS, stream=True), got)
        assert len(got) == 2
        with pytest.raises(openai.APIError, match="The server had an error"):
            await adrain(await client.chat.completions.create(**ARGS, stream=True), got)
        assert len(got) == 3


# --- any language: the request header -----------------------------------------------------------------------------


def test_the_fault_header_over_a_socket_with_urllib() -> None:
    mock = MockAI(fault_header=True)
    with mock.serve() as server:
        def ask(fault: str | None) -> tuple[int, dict[str, str], bytes]:
            headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
            if fault:
                headers["X-Mockai-Fault"] = fault
            request = urllib.request.Request(server.base_url + "/chat/completions", data=json.dumps(ARGS).encode(),
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as res:
                    return res.status, dict(res.headers), res.read()
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers), err.read()

        status, headers, raw = ask("429=0.5")
        assert status == 429
        assert headers["retry-after-ms"] == "500"
        assert json.loads(raw)["error"]["code"] == "rate_limit_exceeded"
        assert ask(None)[0] == 200
        assert ask("nonsense")[0] == 400
        with pytest.raises(OSError, match=r"reset|Remote end closed"):  # ConnectionResetError, or a URLError
            ask("reset")
    assert [c.fault for c in mock.calls] == ["429=0.5", None, None, "reset"]
