"""A shared journal (mockai.shared) holds the bytes on the wire, as one process's journal does, and numbers its calls
once for every process: a stream that ended early (the client left, the server stopped) is amended in the shared
journal too, every process lists it so, and an open inspector page gets it again; a call's ``seq`` is its entry's
number, the same in ``GET /_mockai/calls`` from any process, in the live feed and after a reload.

Both backends: SQLite, and a real redis-server (see test_shared_state.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from test_shared_state import AUTH, backend, chat, control, pair, redis_server, state_url

from mockai.engine import Config, Engine
from mockai.inspector.feed import Feed
from mockai.server import ServerThread
from mockai.shared import Backend
from mockai.shared.wiring import recorded
from mockai.transcript import block

__all__ = ["backend", "redis_server", "state_url"]  # the fixtures, used here

SLOW = {"ttft": 0, "per_token": 0.15, "jitter": 0}  # a stream at 0.15 s an event


@contextlib.contextmanager
def closing(*engines: Engine) -> Iterator[None]:
    """Close the engines' connections to the state at the end (a socket left to the garbage collector warns)."""
    try:
        yield
    finally:
        for engine in engines:
            state_of(engine).close()


def state_of(engine: Engine) -> Any:
    """The backend of ``engine``'s shared state."""
    return getattr(engine.shared, "backend")  # noqa: B009  (Core.shared is typed as the protocol the core uses)


@contextlib.contextmanager
def serving(engine: Engine) -> Iterator[ServerThread]:
    """``engine`` served over a socket; at the end, the Redis client its event loop used is closed on that loop
    before the server stops (ServerThread leaves it open: uvloop then fails to close the loop)."""
    server = ServerThread(engine).start()
    try:
        yield server
    finally:
        close_async_client(engine)
        server.stop()


def close_async_client(engine: Engine) -> None:
    backend = state_of(engine)
    opened = getattr(backend, "_async", None)  # (the server's event loop, its redis.asyncio client)
    if opened is not None and not opened[0].is_closed():
        asyncio.run_coroutine_threadsafe(backend.aclose(), opened[0]).result(10)


def slow_stream(client: httpx.Client) -> tuple[httpx.Response, Any, bytes]:
    """A slow stream, open after two events have arrived (while its iterator lives)."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about the sea"}],
            "stream": True}
    res = client.send(client.build_request("POST", "/chat/completions", json=body), stream=True)
    received = b""
    pieces = res.iter_raw()
    while received.count(b"\n\n") < 2:
        received += next(pieces)
    return res, pieces, received


def shared_last(engine: Engine) -> Any:
    """The newest call of the shared journal, read back through ``engine``."""
    _, raw = state_of(engine).entries(1)[-1]
    return recorded(raw)[0]


def until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- the store's primitive ------------------------------------------------------------------------------------------

def test_an_entry_is_amended_in_its_place_and_noted(backend: Backend) -> None:
    """``amend`` replaces an entry in its place, by the number ``append`` (or ``commit``, ``keep_many``) gave it, and
    notes the amendment for the pages that follow the journal; an entry the journal let go is not amended."""
    from mockai.shared import AMENDED

    numbers = [backend.append(b"entry %d" % i, 3, 10_000) for i in range(5)]
    assert numbers == [1, 2, 3, 4, 5]
    if hasattr(backend, "trim"):  # SQLite trims every 64 appends
        backend.trim(3, 10_000)
    assert [n for n, _ in backend.entries(10)] == [3, 4, 5]
    assert backend.counter(AMENDED) == 0
    assert backend.amend(4, b"entry 4, as sent", 3) is True
    assert backend.entries(10) == [(3, b"entry 2"), (4, b"entry 4, as sent"), (5, b"entry 4")]
    assert backend.amend(1, b"gone", 3) is False, "the journal let it go"
    assert backend.amend(9, b"never", 3) is False
    assert backend.counter(AMENDED) == 1
    assert backend.amendments(0) == [(1, 4, b"entry 4, as sent")]
    assert backend.amendments(1) == []
    backend.amend(3, b"x", 3)
    backend.amend(4, b"entry 4, again", 3)  # noted once, with its latest amendment
    assert backend.amendments(0) == [(2, 3, b"x"), (3, 4, b"entry 4, again")]
    assert backend.amendments(2) == [(3, 4, b"entry 4, again")]
    for i in range(3):  # the journal lets 3 and 4 go: their amendments are no longer listed
        backend.append(b"more %d" % i, 3, 10_000)
    if hasattr(backend, "trim"):
        backend.trim(3, 10_000)
    assert backend.amendments(0) == []
    assert backend.keep_many([(b"plain", None)], 3, 10_000) == [(None, 9)]
    assert backend.commit("v", 0, "ids", b"k", 100, (0, 0), b"kept", 3, 10_000) == ((0, 0), 10)
    backend.clear("journal")
    assert backend.amendments(0) == []
    assert backend.amend(10, b"cleared", 3) is False
    assert backend.append(b"after", 3, 10_000) == 11, "numbers never repeat"
    assert backend.amend(11, b"after, amended", 3) is True
    assert backend.amendments(3) == [(4, 11, b"after, amended")], "nor do the amendments' numbers"


def test_an_amended_entry_counts_its_own_bytes(backend: Backend) -> None:
    """The journal's byte bound holds the amended entry's size, not the one it replaced."""
    backend.append(b"a" * 400, 10, 1000)
    backend.append(b"b" * 400, 10, 1000)
    assert backend.amend(1, b"a", 10)
    backend.append(b"c" * 400, 10, 1000)  # 1 + 400 + 400 bytes: all three fit
    if hasattr(backend, "trim"):
        backend.trim(10, 1000)
    assert [n for n, _ in backend.entries(10)] == [1, 2, 3]


def test_a_stopping_server_closes_the_state_connections_its_event_loop_opened(state_url: str) -> None:
    """Redis's asyncio client belongs to the server's event loop: the app's shutdown closes it there (left open,
    closing the loop failed in the server's thread). SQLite opens none: nothing to close."""
    engine = Engine(Config(state=state_url))
    with closing(engine):
        server = ServerThread(engine).start()
        try:
            with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as client:
                body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
                assert client.post("/chat/completions", json=body).status_code == 200
            opened = getattr(state_of(engine), "_async", None)
        finally:
            server.stop()
        if state_url.startswith("redis"):
            assert opened is not None  # (the request was kept through the loop's client)
        assert getattr(state_of(engine), "_async", None) is None


# --- early ends, in every process's journal --------------------------------------------------------------------------

def test_a_slow_store_amending_an_early_end_does_not_hold_up_other_streams(tmp_path: Any) -> None:
    """The amendment is a store operation that may wait (a busy SQLite file, a paused Redis): it runs off the
    event loop, so the other streams of the process keep their pace meanwhile, and it still lands."""
    served = Engine(Config(state=f"sqlite:///{tmp_path / 'state.db'}", seed=5, latency=SLOW))
    backend = state_of(served)
    real = backend.amend

    def slow(*args: Any) -> bool:
        time.sleep(1.5)
        return bool(real(*args))

    backend.amend = slow
    with closing(served), serving(served) as server, \
            httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as left, \
            httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as kept:
        res_kept, going, _ = slow_stream(kept)
        res_left, leaving, _ = slow_stream(left)
        leaving.close()  # this client leaves: its call is amended, slowly
        res_left.close()
        arrivals = [time.monotonic()]
        for _ in range(12):
            next(going)
            arrivals.append(time.monotonic())
        res_kept.close()  # (then this one is amended too)

        def ended() -> list[str | None]:
            return [recorded(raw)[0].ended for _, raw in backend.entries(5)]

        until(lambda: ended() == ["client", "client"])
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 1.0, gaps


def test_a_stream_the_client_left_is_journaled_as_sent_in_the_shared_journal(state_url: str) -> None:
    """The client leaves after a few events: the shared journal, read by another engine (``GET /_mockai/calls``)
    or over the socket, holds the part that was sent and ``ended: "client"``, as the serving engine's own does."""
    served = Engine(Config(state=state_url, seed=5, latency=SLOW))
    other = Engine(Config(state=state_url))
    with closing(served, other):
        with serving(served) as server, httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as client:
            res, pieces, received = slow_stream(client)
            pieces.close()  # the client leaves mid-stream
            res.close()
            until(lambda: served.calls.last.ended is not None)
            own = served.calls.last
            assert own.ended == "client"
            until(lambda: shared_last(other).ended is not None)
            listed = httpx.get(server.url + "/_mockai/calls", timeout=10).json()["data"]
        call = shared_last(other)
        assert call.ended == "client"
        assert call.response.content() == own.response.content(), "the bytes sent, to the last one"
        assert call.response.content().startswith(received)
        assert b"[DONE]" not in call.response.content()
        assert 2 <= len(call.response.events or []) < 10
        assert call.response.delivery is not None
        assert call.response.delivery.cut_after == len(own.response.events or [])
        assert f"the client left after {len(own.response.events or [])} events" in block(call, call.seq)
        shown = control(other, "GET", "calls")["data"][-1]
        assert (shown["ended"], shown["stream"]) == ("client", True)
        assert shown["events"] == [e.decode().strip() for e in own.response.events or []]
        assert listed[-1] == shown, "every process lists it so"


def test_a_stream_the_server_stopped_is_journaled_as_sent_in_the_shared_journal(state_url: str) -> None:
    served = Engine(Config(state=state_url, seed=5, latency=SLOW))
    other = Engine(Config(state=state_url))
    with closing(served, other):
        server = ServerThread(served).start()
        client = httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10)
        try:
            res, pieces, received = slow_stream(client)
            close_async_client(served)  # (the stream was kept: the amendment is a plain call)
            server.stop()  # waits 2 s for the stream, then cancels it
            assert served.calls.last.ended == "stopped"
            pieces.close()
            res.close()
        finally:
            client.close()
            server.stop()
        call = shared_last(other)
        assert call.ended == "stopped"
        assert call.response.content() == served.calls.last.response.content()
        assert call.response.content().startswith(received)
        assert b"[DONE]" not in call.response.content()
        assert control(other, "GET", "calls")["data"][-1]["ended"] == "stopped"


def test_a_reply_the_client_left_before_its_head_is_journaled_as_never_answered_everywhere(state_url: str) -> None:
    served = Engine(Config(state=state_url, seed=5, latency={"ttft": 1.5, "per_token": 0, "jitter": 0}))
    other = Engine(Config(state=state_url))
    with closing(served, other):
        with serving(served) as server, httpx.Client(base_url=server.base_url, headers=AUTH, timeout=0.3) as client:
            with contextlib.suppress(httpx.ReadTimeout):
                client.post("/chat/completions", json={"model": "gpt-4o-mini",
                                                       "messages": [{"role": "user", "content": "Hi"}]})
            until(lambda: shared_last(other).ended is not None)
        shown = control(other, "GET", "calls")["data"][-1]
        assert (shown["ended"], shown["status"], shown["response"]) == ("client", 0, None)


# --- one number for each call, in every process ----------------------------------------------------------------------

def test_a_shared_journals_calls_keep_one_number_everywhere(state_url: str) -> None:
    """``seq`` is the entry's number (from 0): the same from either engine, unique, kept as the journal lets older
    calls go and after it is emptied (numbers never repeat), and the same on an inspector page."""
    a, b = pair(state_url, journal_size=3)
    with closing(a, b):
        for i in range(5):
            assert chat((a, b)[i % 2], f"call {i}").status == 200
        from_a, from_b = control(a, "GET", "calls")["data"], control(b, "GET", "calls")["data"]
        assert from_a == from_b
        seqs = [c["seq"] for c in from_a]
        assert seqs[-3:] == [2, 3, 4]
        assert [c["request"]["messages"][0]["content"] for c in from_a[-3:]] == ["call 2", "call 3", "call 4"]
        assert {c["worker"] for c in from_a} == {from_a[0]["worker"]}, "(one process: both engines are in it)"
        control(a, "DELETE", "calls")
        chat(b, "after")
        assert [c["seq"] for c in control(a, "GET", "calls")["data"]] == [5]
        chat(a, "later")
        shown = control(b, "GET", "calls")["data"]
        page = asyncio.run(page_calls(b, len(shown)))
        assert [c["seq"] for c in page] == [c["seq"] for c in shown] == [5, 6]
        assert page[-1]["transcript"].startswith("#6 POST /v1/chat/completions")
        assert asyncio.run(page_calls(a, len(shown))) == page, "a reload, or another process's page: the same"


async def page_calls(engine: Engine, count: int) -> list[Any]:
    """The first ``count`` calls an inspector page gets from ``engine``'s live feed."""
    _, _, pieces = await Feed.of(engine).aopen()
    calls: list[Any] = []
    try:
        while len(calls) < count:
            piece = await asyncio.wait_for(pieces.__anext__(), 10)
            if piece.startswith(b"id: "):  # a call's event (clear's and pings have none)
                calls.append(json.loads(piece.decode().split("\ndata: ", 1)[1]))
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    return calls


def test_an_open_page_of_a_shared_journal_gets_the_amended_call_again(state_url: str) -> None:
    """A page open on one engine's feed: a stream another engine answered, then cut short (the client left), is
    sent again with the same number and what was sent, so the page replaces it."""
    a, b = pair(state_url, seed=5)
    with closing(a, b):
        chat(a, "before")

        async def main() -> list[Any]:
            _, _, pieces = await Feed.of(b).aopen()
            seen: list[Any] = []

            async def until_seen(check: Any) -> None:
                while not any(check(c) for c in seen):
                    piece = await asyncio.wait_for(pieces.__anext__(), 10)
                    if piece.startswith(b"id: "):
                        seen.append(json.loads(piece.decode().split("\ndata: ", 1)[1]))

            try:
                await until_seen(lambda c: c["seq"] == 0)
                res = await asyncio.to_thread(chat, a, "Tell me about the sea", stream=True)
                await until_seen(lambda c: c["seq"] == 1)
                cut = a.sent_only(res, len(res.events[0]) + len(res.events[1]) + 4, "client")
                assert cut is not None
                a.amend_shared(cut)  # (what the socket door runs off its loop)
                await until_seen(lambda c: c["ended"] == "client")
            finally:
                await pieces.aclose()  # type: ignore[attr-defined]
            return seen

        seen = asyncio.run(main())
        assert [c["seq"] for c in seen] == [0, 1, 1], "the same call again, once"
        planned, amended = seen[1], seen[2]
        assert planned["ended"] is None
        assert len(amended["response"]["events"]) == 3 < len(planned["response"]["events"])
        assert amended["delivery"]["cut_after"] == 3
        assert "the client left after 3 events" in amended["transcript"]
        assert control(a, "GET", "calls")["data"][-1]["ended"] == "client"
