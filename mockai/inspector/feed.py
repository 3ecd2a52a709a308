"""The inspector's live feed: ``GET /_mockai/events``, the journal as server-sent events.

A connection first gets ``event: clear`` (the page empties its list: this also makes a reconnect start afresh),
then one ``event: call`` per call already in the journal, then one per call as it is recorded; ``event: clear``
again when the journal is emptied (``DELETE /_mockai/calls``, a reset), ``event: state`` when the control API
changed the rules or the queue (the page's Scenario tab refreshes), ``event: lagged`` when a slow page missed
calls, and a comment every 15 s so proxies keep the connection open. Each ``call`` event's data is the call's
:func:`~mockai.inspector.view.call_view`, numbered by the call's place in the engine's order (``Call.seq``: the
same live and after a reload, whatever the journal let go since; in a shared journal, from its entry's number, the
same in every process: :func:`mockai.shared.wiring.numbered`). A call sent again with a number already sent (a
stream that ended early keeps what was sent) replaces that call on the page.

``clear``'s data tells the page how much to keep: the newest ``keep`` calls (the journal's ``journal_size``, or
:data:`PAGE_CALLS`) and at most ``keep_chars`` characters of their JSON (:data:`PAGE_CHARS`); it drops the oldest
beyond that and says so.

It costs the engine nothing while nobody listens: a connection adds a journal listener
(:meth:`mockai.core.Core.follow`) and removes it when it closes.

>>> from mockai.engine import Engine
>>> status, headers, pieces = Feed.of(Engine()).open()
>>> status, headers["content-type"]
(200, 'text/event-stream; charset=utf-8')
>>> next(pieces)
b'retry: 2000\\n\\nevent: clear\\ndata: {"keep": 1000, "keep_chars": 33554432}\\n\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cassettes.scrub import Scrubber
from ..journal import call_bytes
from .view import call_view

if TYPE_CHECKING:
    from ..engine import Engine
    from ..journal import Call

PING_SECONDS = 15.0
BACKLOG_LIMIT = 10_000  # calls waiting for a slow page before it is told it lagged
# ... and the memory those calls may keep alive (about: journal.call_bytes), which the journal's own bound does not
# reach: a page that stopped reading kept up to 10,000 calls of any size.
BACKLOG_BYTES = 32 * 1024 * 1024
# What the page keeps (it drops the oldest calls beyond): this many calls when the journal is not bounded by count
# (else the journal's size), and this many characters of their JSON (a page kept every call: 166 MB of heap after
# 1,500 large ones).
PAGE_CALLS = 1000
PAGE_CHARS = 32 * 1024 * 1024
HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store",
           "x-accel-buffering": "no"}
_LOCK = threading.Lock()


@dataclass
class _Listener:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[Call, float, int] | str | None] = field(default_factory=asyncio.Queue)
    lagged: int = 0
    waiting: int = 0  # about the bytes the queued calls keep alive
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, call: Call) -> None:  # under the journal's lock, on any thread: hand over, nothing more
        size = call.size or call_bytes(call)
        with self._lock:
            if self.queue.qsize() >= BACKLOG_LIMIT or (self.waiting and self.waiting + size > BACKLOG_BYTES):
                self.lagged += 1
                return
            self.waiting += size
        with contextlib.suppress(RuntimeError):  # the loop has closed: the page is gone
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (call, time.time(), size))

    def taken(self, size: int) -> None:
        """A queued call of ``size`` bytes was handed to the page."""
        with self._lock:
            self.waiting -= size

    def clear(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    def changed(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, _STATE)

    def end(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, _END)


class _Stop(_Listener):
    """Tells a shared journal's feed that the server is stopping (the journal itself is polled)."""

    ended: bool = False

    def __call__(self, call: Call) -> None:  # the journal is polled: nothing waits here, nothing is kept
        pass

    def stopped(self) -> bool:
        return self.ended

    def end(self) -> None:
        self.ended = True

    def clear(self) -> None:
        pass

    def changed(self) -> None:
        pass


class Feed:
    """The live feed of one engine (:meth:`of`); a :class:`~mockai.http.LiveSource` that runs until the client
    leaves (``endless``: the socket door then watches for the client leaving)."""

    endless = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.scrubber = Scrubber.of(engine.config.scrub)
        self.listeners: list[_Listener] = []
        engine.on_reset.append(self.cleared)
        _ALL.add(self)

    @classmethod
    def of(cls, engine: Engine) -> Feed:
        """The engine's feed (made on first use, kept on the engine)."""
        with _LOCK:
            feed = engine.__dict__.get("_inspector_feed")
            if not isinstance(feed, Feed):
                feed = engine.__dict__["_inspector_feed"] = cls(engine)
            return feed

    @classmethod
    def existing(cls, engine: Engine) -> Feed | None:
        feed = engine.__dict__.get("_inspector_feed")
        return feed if isinstance(feed, Feed) else None

    def end(self) -> None:
        """End every open stream (the server is stopping: an open page must not hold up its shutdown)."""
        for listener in list(self.listeners):
            listener.end()

    def cleared(self) -> None:
        """The journal was emptied: every page empties its list."""
        for listener in list(self.listeners):
            listener.clear()

    def amended(self, call: Call) -> None:
        """A call already sent to the pages changed (a stream that ended early keeps what was sent): send it
        again; the page replaces the call of the same number."""
        for listener in list(self.listeners):
            listener(call)

    def changed(self) -> None:
        """The rules or the queue changed: every page refreshes its Scenario tab."""
        for listener in list(self.listeners):
            listener.changed()

    def clear_event(self) -> bytes:
        """``event: clear``, with what the page keeps."""
        keep = {"keep": self.engine.config.journal_size or PAGE_CALLS, "keep_chars": PAGE_CHARS}
        return f"retry: 2000\n\nevent: clear\ndata: {json.dumps(keep)}\n\n".encode()

    def event(self, call: Call, seq: int, at: float | None) -> bytes:
        """A call's event: numbered by its ``Call.seq`` (``seq``, counted by the feed, for a call without one)."""
        number = call.seq if call.seq >= 0 else seq
        data = json.dumps(call_view(call, number, self.scrubber, at), ensure_ascii=False, default=str)
        return f"id: {number}\nevent: call\ndata: {data}\n\n".encode()

    def open(self) -> tuple[int, dict[str, str], Iterator[bytes]]:
        """In-process (a sync client): the journal so far, then the stream ends."""
        calls = list(self.engine.calls)

        def pieces() -> Iterator[bytes]:
            yield self.clear_event()
            for seq, call in enumerate(calls):
                yield self.event(call, seq, None)

        return 200, dict(HEADERS), pieces()

    async def aopen(self) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
        follow = getattr(self.engine.shared, "follow", None)
        if follow is not None:  # several processes share one journal (mockai.shared): every one's calls
            stop = _Stop(asyncio.get_running_loop())
            self.listeners.append(stop)
            return 200, dict(HEADERS), self._shared(follow(stopped=stop.stopped), stop)
        listener = _Listener(asyncio.get_running_loop())
        backlog = self.engine.follow(listener)
        self.listeners.append(listener)
        return 200, dict(HEADERS), self._pieces(listener, list(backlog))

    async def _pieces(self, listener: _Listener, backlog: list[Call]) -> AsyncIterator[bytes]:
        try:
            yield self.clear_event()
            for seq, call in enumerate(backlog):
                yield self.event(call, seq, None)
            seq = len(backlog)
            del backlog[:]
            while True:
                try:
                    item = await asyncio.wait_for(listener.queue.get(), PING_SECONDS)
                except asyncio.TimeoutError:
                    yield b": ping\n\n"
                    continue
                if listener.lagged:
                    yield f"event: lagged\ndata: {json.dumps({'missed': listener.lagged})}\n\n".encode()
                    listener.lagged = 0
                if item is None:
                    seq = 0
                    yield self.clear_event()
                    continue
                if item == _STATE:
                    yield b"event: state\ndata: {}\n\n"
                    continue
                if isinstance(item, str):  # _END
                    return
                call, at, size = item
                listener.taken(size)
                yield self.event(call, seq, at)
                seq += 1
        finally:
            self.engine.unfollow(listener)
            self.listeners[:] = [x for x in self.listeners if x is not listener]


    async def _shared(self, calls: AsyncIterator[Call | str | None], stop: _Stop) -> AsyncIterator[bytes]:
        """The feed of a shared journal: its calls as any process records them, each numbered by its entry
        (``Call.seq``), and again when amended (``None``: it was emptied)."""
        try:
            async for item in calls:
                if item is None:
                    yield self.clear_event()
                elif isinstance(item, str):
                    yield b": ping\n\n"
                else:
                    yield self.event(item, item.seq, None)
        finally:
            self.listeners[:] = [x for x in self.listeners if x is not stop]


_END = "end"
_STATE = "state"
_ALL: weakref.WeakSet[Feed] = weakref.WeakSet()


def end_feeds(engine: Engine | None = None) -> None:
    """End the open feeds of ``engine`` (every engine's: ``None``), so a stopping server is not held up by an open
    inspector page (the page reconnects to the next server)."""
    for feed in list(_ALL):
        if engine is None or feed.engine is engine:
            feed.end()
