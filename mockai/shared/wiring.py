"""Putting a :class:`~mockai.shared.Backend` under an engine: :func:`share` swaps each in-memory structure that
must be shared for its shared twin, leaving everything that is a pure function of the request (parsing, memos,
generated replies) in the process.

=================================  ==============================================================================
the journal                        every call is also appended to the shared journal (``GET /_mockai/calls``);
                                   when the append fails the call is answered 503 instead, so no answered call
                                   is missing from it. Its entries' numbers are the calls' ``seq``, one for all
                                   processes; a stream that ended early is amended there (:meth:`Sharing.amend`)
scripted rules and the queue       :class:`SharedScript`: scenario documents (``--scenario`` files, ``POST
                                   /_mockai/rules``) are kept in the state and every process rebuilds its rules
                                   from them; each use of a rule and each queued reply is claimed atomically
stored objects                     :class:`SharedStore` for responses, conversations and chat completions
rate limits                        the limiter's buckets, updated in one transaction per request
ids and the fault schedule         occurrence counts, the request-id and conversation counters (with nothing
                                   scripted, a request's count, the script's check and its journal entry are one
                                   operation: see SharedOccurrences)
cassette playback                  which recording of a request was replayed last (each is replayed once in all)
the inspector's live feed          :meth:`Sharing.follow`: the shared journal, polled
=================================  ==============================================================================

>>> import os, tempfile
>>> from mockai.engine import Config, Engine, HTTPRequest
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "state.db")
>>> first, second = Engine(Config(state=url)), Engine(Config(state=url))
>>> first.script.publish({"queue": ["Only once"]})
>>> ask = HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
...                   body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}')
>>> [engine.handle(ask).json()["choices"][0]["message"]["content"] == "Only once" for engine in (second, first)]
[True, False]
>>> len(first.shared.calls())
2
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import SERVE_JOURNAL_BYTES, SERVE_JOURNAL_SIZE
from ..http import Delivery, HTTPRequest, HTTPResponse
from ..journal import Call
from ..rules import Script
from ..scenario import apply, parse_scenario
from ..specs import ReplySpec, answers
from ..state import Store
from . import AMENDED, Backend, Keep, Kept, StateUnavailable, open_backend, shown_url

if TYPE_CHECKING:
    from ..core import Core, Exchange

R = TypeVar("R")

SEEN_SIZE = 65_536  # request bodies whose occurrences are counted before a new epoch starts (as in one process)
_SCRIPT = "script"  # the scenario documents: {"epoch": N, "docs": [...]}
_VERSION = "script-version"  # counts every change of the documents: a process rebuilds its rules when it moved
_CLEARED = "journal-cleared"  # counts the times the journal was emptied (the inspector's pages empty their lists)


def share(engine: Core, backend: Backend | None = None) -> Sharing:
    """Put ``backend`` (by default the one ``engine.config.state`` names) under ``engine``; returns the
    :class:`Sharing` also set as ``engine.shared``."""
    backend = backend or open_backend(str(engine.config.state))
    sharing = Sharing(engine, backend)
    engine.shared = sharing
    engine.script = sharing.script
    guarded = sharing.guarded
    for owner in (getattr(engine, "responses", None), getattr(engine, "conversations", None),
                  getattr(getattr(engine, "chat", None), "stored", None)):
        old = getattr(owner, "store", None)
        if isinstance(old, Store):
            new = SharedStore(guarded, old.kind, max_items=old.max_items, max_bytes=old.max_bytes)
            owner.store = new  # type: ignore[union-attr]
            engine.on_reset[:] = [new.clear if hook == old.clear else hook for hook in engine.on_reset]
    conversations = getattr(engine, "conversations", None)
    if conversations is not None:
        conversations.number = lambda: guarded.incr("conversations")
    limiter = getattr(engine, "rate_limiter", None)
    if limiter is not None:
        limiter.shared = guarded
    plan = getattr(engine, "fault_plan", None)
    # The occurrence counts (keys.Occurrences: next(key, salt), clear()) of ids and of the fault schedule are
    # swapped for counts kept in the state.
    owners: list[tuple[Any, str]] = [(engine, "ids"), (plan, "faults")]
    for owner, space in owners:
        seen = getattr(owner, "_seen", None)
        if seen is not None and hasattr(seen, "next"):
            # The ids' own counts reach the state directly; any other use of it first checks a guessed count.
            owner._seen = SharedOccurrences(backend if space == "ids" else guarded, space,
                                            getattr(seen, "limit", SEEN_SIZE))
    if isinstance(engine._seen, SharedOccurrences):
        sharing.ids = ids = engine._seen
        ids.stale = sharing.script.stale

        def ahead(ex: Exchange, counter: str, value: int) -> bool:
            # Only where the reply surely gets ids (the generator's, rendered): nothing else may answer first.
            if engine.responders or engine.config.strict:
                return False
            # Guessed only while the request has done nothing else in the state: answering it again redoes all.
            return ids.ahead(lambda: engine.ids(ex), counter, value, guess=not sharing.touched())

        sharing.script.ahead = ahead
    for responder in engine.responders:  # a cassette's playback order: each recording replayed once in all
        if getattr(responder, "name", None) == "cassette" and hasattr(responder, "claim"):
            responder.claim = lambda key, recordings: guarded.claim(
                "played:" + hashlib.sha256(key.encode()).hexdigest()[:32], recordings)
    engine.on_reset.append(sharing.reset)
    return sharing


class Sharing:
    """The engine's hooks into the shared state (``engine.shared``): ids, request ids and the journal."""

    def __init__(self, engine: Core, backend: Backend) -> None:
        self.engine = engine
        self.backend = backend
        self.max_items = engine.config.journal_size or SERVE_JOURNAL_SIZE
        self.max_bytes = engine.config.journal_bytes or SERVE_JOURNAL_BYTES
        self.pid = os.getpid()
        self._fallback = 0
        self.ids: SharedOccurrences | None = None  # the engine's occurrence counts, once shared
        # What every other part of the engine reaches the state through: a count guessed for this request's ids is
        # checked before anything else the request does there (see SharedOccurrences.confirm).
        self.guarded: Backend = Guarded(backend, self._before)
        self.script = SharedScript(self.guarded)
        self._local = threading.local()  # .touched: this request has used the state through `guarded`
        self._batch: list[tuple[Keep, Any]] = []  # calls to keep, waiting for the next round trip (record_async)
        self._sending: Any = None  # the batch on its way
        self._loop: Any = None  # the event loop that batches (the first to call record_async)

    def _before(self) -> None:
        self._local.touched = True
        if self.ids is not None:
            try:
                self.ids.confirm()
            except BaseException:  # AnswerAgain (or the state failed): the request starts over, untouched
                self._local.touched = False
                raise

    def touched(self) -> bool:
        """Whether the request this thread answers has used the state (other than its ids' count) so far."""
        return bool(getattr(self._local, "touched", False))

    def request_number(self) -> int:
        try:
            return self.guarded.incr("answers")
        except StateUnavailable:  # the 503 saying so needs an id too: one of this process's own
            self._fallback += 1
            return -(self.pid * 1_000_000 + self._fallback)

    def record(self, call: Call) -> bool:
        """Append ``call`` to the shared journal; when that fails the call is answered 503 (and kept locally).

        A call whose ids came from a guessed count (:meth:`SharedOccurrences.ahead`) has the count made and checked
        in the same step (:meth:`~mockai.shared.Backend.commit`); ``False`` when the guess was wrong: nothing is
        kept, and the request is answered again with the count now known."""
        item = self._item(call)
        entry, guess = item
        try:
            if guess is None:
                kept: Kept = (None, self.backend.append(entry, self.max_items, self.max_bytes))
            else:
                kept = self.backend.commit(*guess, entry, self.max_items, self.max_bytes)
        except StateUnavailable as err:
            return self._failed(call, err)
        return self._kept(call, item, kept)

    async def record_async(self, call: Call) -> bool:
        """:meth:`record` on an event loop: the round trip is awaited, in one batch with those of the other
        requests answered meanwhile (:meth:`~mockai.shared.Backend.keep_many_async`)."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:  # batches belong to one event loop: on another, wait as in-process doors do
            return self.record(call)
        item = self._item(call)
        future: asyncio.Future[Kept] = loop.create_future()
        self._batch.append((item, future))
        if len(self._batch) == 1:  # the first of a batch: send it once the requests ready now are answered too
            loop.call_soon(self._flush)
        try:
            kept = await future
        except StateUnavailable as err:
            return self._failed(call, err)
        return self._kept(call, item, kept)

    def _flush(self) -> None:
        import asyncio

        if self._sending is not None and not self._sending.done():
            return  # one batch on its way at a time: the next leaves when it is back (see _send)
        batch, self._batch = self._batch, []
        if batch:
            self._sending = asyncio.ensure_future(self._send(batch))

    async def _send(self, batch: list[tuple[Keep, Any]]) -> None:
        try:
            got = await self.backend.keep_many_async([item for item, _ in batch], self.max_items, self.max_bytes)
        except StateUnavailable as err:
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
        except BaseException as exc:  # never leave a request waiting
            for _, future in batch:
                if not future.done():
                    future.set_exception(StateUnavailable(shown_url(self.backend.url), exc))
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, got, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._sending = None
            if self._batch:
                self._flush()

    def _item(self, call: Call) -> Keep:
        """What keeping ``call`` takes: its entry, and its guessed count to check (the count made ahead and not
        used is taken back first)."""
        ids = self.ids
        self._local.touched = False
        guess = None
        if ids is not None:
            pending = ids.take_pending()
            if pending is not None:
                key, expected, (counter, value) = pending
                guess = (counter, value, ids.space, key, ids.limit, expected)
            else:
                ids.settle()
        return entry(call, self.pid), guess

    def _kept(self, call: Call, item: Keep, kept: Kept) -> bool:
        got, number = kept
        if number:
            vars(call)[_NUMBER] = number
        guess = item[1]
        if guess is None or self.ids is None:
            return True
        if got != guess[5]:
            self.ids.missed(guess[3], guess[5], got)
            return False
        self.ids.learn(guess[3], got)
        return True

    def _failed(self, call: Call, err: StateUnavailable) -> bool:
        call.error = err
        call.response = self.engine.error_response(err)
        return True

    def amend(self, call: Call) -> bool:
        """``call`` changed since it was kept (a stream that ended early keeps the part that was sent, see
        :meth:`mockai.core.Core.sent_only`): its entry in the shared journal is replaced, in its place, and the
        inspector's live feeds (:meth:`follow`) send it again. ``False`` when nothing was changed: the call was
        never kept, the journal has let its entry go since, or the store failed (its entry then keeps what was
        planned; the store's usual bounded wait, see :class:`~mockai.shared.Outage`)."""
        number = number_of(call)
        if number is None:
            return False
        try:
            return self.backend.amend(number, entry(call, self.pid), self.max_items)
        except StateUnavailable:
            return False

    def calls(self) -> list[dict[str, Any]]:
        """The shared journal, oldest first, each call as ``GET /_mockai/calls`` lists it."""
        return [shown(i, raw, number) for i, (number, raw) in enumerate(self.backend.entries(self.max_items))]

    def clear_calls(self) -> None:
        self.backend.clear("journal")
        self.backend.incr(_CLEARED)

    def reset(self) -> None:
        self.backend.clear("journal", "seen:ids", "seen:faults", "answers", "conversations", "bucket:", "played:")
        self.backend.incr(_CLEARED)

    async def follow(self, poll: float = 0.25, idle: float = 15.0,
                     stopped: Callable[[], bool] = lambda: False) -> AsyncIterator[Call | str | None]:
        """The shared journal, live, for the inspector's feed (:mod:`mockai.inspector.feed`): ``None`` first and
        whenever the journal is emptied, then every call, oldest first, as any process records it (polled every
        ``poll`` seconds, off the event loop), and again, with the same ``Call.seq``, a call already given that
        was amended since (:meth:`amend`); ``"ping"`` after ``idle`` quiet seconds; until ``stopped()``."""
        import asyncio

        last, cleared, quiet, amended = 0, None, 0.0, 0
        while not stopped():
            now_cleared = await asyncio.to_thread(self.backend.counter, _CLEARED)
            changed: list[tuple[int, int, bytes]] = []
            if now_cleared != cleared:
                cleared, last = now_cleared, 0
                # Read before the entries: an amendment made after this is in the entries, or in the next look.
                amended = await asyncio.to_thread(self.backend.counter, AMENDED)
                yield None
            else:
                changed = await asyncio.to_thread(self.backend.amendments, amended)
                for n, seq, raw in changed:
                    amended = n
                    if seq <= last:  # a later one comes with the entries below, as amended
                        yield numbered(seq, raw)
            fresh = await asyncio.to_thread(self.backend.entries, self.max_items, last)
            for seq, raw in fresh:
                last = seq
                yield numbered(seq, raw)
            quiet = 0.0 if fresh or changed else quiet + poll
            if quiet >= idle:
                quiet = 0.0
                yield "ping"
            await asyncio.sleep(poll)


class Guarded(Backend):
    """``backend``, with ``before()`` called ahead of each of its operations."""

    def __init__(self, backend: Backend, before: Callable[[], None]) -> None:
        self.backend, self.before, self.url = backend, before, backend.url

    def incr(self, key: str) -> int:
        self.before()
        return self.backend.incr(key)

    def counter(self, key: str) -> int:
        self.before()
        return self.backend.counter(key)

    def claim(self, key: str, limit: int | None) -> int | None:
        self.before()
        return self.backend.claim(key, limit)

    def claim_at(self, key: str, expected: int) -> bool:
        self.before()
        return self.backend.claim_at(key, expected)

    def occurrence(self, space: str, key: bytes, bound: int) -> tuple[int, int]:
        self.before()
        return self.backend.occurrence(space, key, bound)

    def occurrence_if(self, counter: str, value: int, space: str, key: bytes, bound: int) -> tuple[int, int] | None:
        self.before()
        return self.backend.occurrence_if(counter, value, space, key, bound)

    def commit(self, counter: str, value: int, space: str, key: bytes, bound: int, expected: tuple[int, int],
               entry: bytes, max_items: int, max_bytes: int) -> Kept:
        self.before()
        return self.backend.commit(counter, value, space, key, bound, expected, entry, max_items, max_bytes)

    def uncount(self, space: str, key: bytes, occurrence: int) -> bool:
        self.before()
        return self.backend.uncount(space, key, occurrence)

    def get(self, key: str) -> Any | None:
        self.before()
        return self.backend.get(key)

    def transact(self, key: str, update: Callable[[Any | None], tuple[Any | None, R]]) -> R:
        self.before()
        return self.backend.transact(key, update)

    def append(self, entry: bytes, max_items: int, max_bytes: int) -> int:
        self.before()
        return self.backend.append(entry, max_items, max_bytes)

    def entries(self, newest: int, after: int = 0) -> list[tuple[int, bytes]]:
        self.before()
        return self.backend.entries(newest, after)

    def amend(self, number: int, entry: bytes, max_items: int) -> bool:
        self.before()
        return self.backend.amend(number, entry, max_items)

    def amendments(self, after: int) -> list[tuple[int, int, bytes]]:
        self.before()
        return self.backend.amendments(after)

    def record(self, kind: str, key: str) -> str | None:
        self.before()
        return self.backend.record(kind, key)

    def put(self, kind: str, key: str, value: str, max_items: int, max_bytes: int) -> None:
        self.before()
        self.backend.put(kind, key, value, max_items, max_bytes)

    def replace(self, kind: str, key: str, value: str) -> bool:
        self.before()
        return self.backend.replace(kind, key, value)

    def delete(self, kind: str, key: str) -> bool:
        self.before()
        return self.backend.delete(kind, key)

    def records(self, kind: str) -> list[str]:
        self.before()
        return self.backend.records(kind)

    def count(self, kind: str) -> tuple[int, int]:
        self.before()
        return self.backend.count(kind)

    def clear(self, *names: str) -> None:
        self.before()
        self.backend.clear(*names)

    def close(self) -> None:
        self.backend.close()


def entry(call: Call, pid: int) -> bytes:
    """One call as the shared journal keeps it: a line of JSON about it, then the request body and the response
    (body, or the stream's events) as they were sent, each after a NUL byte (which neither can hold: a body that
    did not parse is not kept). Nothing is parsed or re-encoded on the request path; reading does that. A stream
    that ended early (``call.ended``) is kept again as far as it was sent (:meth:`Sharing.amend`).

    An entry of more than :data:`COMPRESS_FROM` bytes (a stream's events, mostly: each repeats the chunk's id,
    model and fingerprint) is kept compressed (zlib, level 1: 12 KB of events become about 1 KB in about 30 µs,
    less than writing the 11 KB saved costs either store). It then starts with zlib's header byte, ``x``, which the
    JSON array an entry starts with never does."""
    res, http = call.response, call.http
    about = json.dumps([http.method, http.path, call.route, res.status, call.unexpected, call.responder, call.fault,
                        pid, res.events is not None, call.body is not None, http.query, dict(http.headers),
                        res.headers, call.source, call.ended], ensure_ascii=False, separators=(",", ":")).encode()
    request = http.body if call.body is not None else b""
    response = b"".join(res.events) if res.events is not None else res.body
    raw = b"\0".join((about, request.replace(b"\0", b""), response.replace(b"\0", b"")))
    return zlib.compress(raw, 1) if len(raw) > COMPRESS_FROM else raw


COMPRESS_FROM = 2048  # bytes
_NUMBER = "_shared_entry"  # where a kept call holds its entry's number (in its __dict__: see number_of)


def number_of(call: Call) -> int | None:
    """The number of ``call``'s entry in the shared journal, kept with the call by the process that answered it
    (:meth:`Sharing.record`; ``None``: it was not kept there). A call read back from the journal has its ``seq``
    instead (:func:`numbered`)."""
    number = vars(call).get(_NUMBER)
    return number if isinstance(number, int) else None


def recorded(raw: bytes, number: int | None = None) -> tuple[Call, int]:
    """A journal entry back as a :class:`~mockai.journal.Call` (without the parsed request, its prompt and reply,
    which stay with the process that answered it), and the process id of that process. With the entry's
    ``number``, the call's ``seq`` is ``number - 1`` (see :func:`numbered`)."""
    if raw[:1] == b"x":  # compressed (see entry())
        raw = zlib.decompress(raw)
    about, request, response = raw.split(b"\0", 2)
    (method, path, route, status, unexpected, responder, fault, pid, stream, parsed, query, req_headers,
     res_headers, source, *more) = json.loads(about)
    events = None
    if stream:
        *whole, tail = response.split(b"\n\n")
        events = [e + b"\n\n" for e in whole if e.strip()]
        if tail.strip():  # a stream that ended mid-event (the client left, the server stopped): its part, as sent
            events.append(tail)
    body = _json(request) if parsed else None
    ended = more[0] if more else None
    # Ended early: the connection ended after the part sent, as mockai.http.sent_part says of the call itself.
    delivery = Delivery(cut_after=len(events) if events is not None else 0) if ended is not None else None
    call = Call(http=HTTPRequest(method, path, query, req_headers, request), route=route,
                response=HTTPResponse(status, res_headers, b"" if stream else response, events, delivery=delivery),
                body=body if isinstance(body, dict) else None, unexpected=unexpected, responder=responder,
                fault=fault, source=source, ended=ended)
    if number is not None:
        call.seq = number - 1
    return call, int(pid)


def numbered(number: int, raw: bytes) -> Call:
    """The entry numbered ``number`` as a call whose ``seq`` is ``number - 1``: from 0, as in one process's journal,
    and unique across processes (entry numbers never repeat), so the same in ``GET /_mockai/calls``, live in the
    inspector and after a reload."""
    return recorded(raw, number)[0]


def shown(index: int, raw: bytes, number: int | None = None) -> dict[str, Any]:
    """A journal entry as :func:`mockai.control.call_json` shows a call (its ``seq`` from the entry's ``number``:
    see :func:`numbered`), with the ``worker`` (process id) that answered it."""
    call, pid = recorded(raw, number)
    res = call.response
    out: dict[str, Any] = {"index": index, "seq": call.seq, "method": call.http.method, "path": call.http.path,
                           "route": call.route, "status": res.status, "request": call.body, "stream": res.is_stream,
                           "unexpected": call.unexpected, "responder": call.responder, "fault": call.fault,
                           "ended": call.ended, "worker": pid}
    if res.events is not None:
        out["events"] = [e.decode("utf-8", "replace").strip() for e in res.events]
    else:
        out["response"] = _json(res.body) if res.body else None
    return out


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


class _Moved(Exception):
    """The script changed since this process last looked at it (nothing was counted)."""


class SharedOccurrences:
    """How often each key was seen, counted in the shared state: the interface of the engine's in-memory counts
    (``next(key, salt)`` → ``(occurrence, epoch)``, ``clear()``), bounded to ``limit`` keys the same way.

    A request's count can be made ahead of its time (:meth:`ahead`), in the same round trip as the script's
    check, and is then handed to the request's own ``next`` call. Or it can be guessed (``ahead(guess=True)``)
    from what this process last learnt of the key: one past its last count, or 0 for a key it does not know.
    That is right unless another process counted the same request meanwhile, and it is checked when the request
    is kept (:meth:`Sharing.record`), or before anything else the request does in the state (:meth:`confirm`):
    a wrong guess answers the request again (:class:`~mockai.core.AnswerAgain`), and a key other processes count
    too is never guessed again.
    """

    def __init__(self, backend: Backend, space: str, limit: int = SEEN_SIZE) -> None:
        self.backend, self.space, self.limit = backend, space, limit
        # Per thread, so per request: .guard while counting ahead, .ahead after; .pending while a guess is unchecked
        # (key, guess, guard); .redo when the request is answered again with its count known.
        self._local = threading.local()
        self._known: dict[bytes, tuple[int, int]] = {}  # the last count this process learnt of a key
        self._shared: dict[bytes, None] = {}  # keys other processes counted too: asked, never guessed
        self._epoch = 0  # the newest epoch this process saw
        self.stale: Callable[[], None] = lambda: None  # the script moved: look at it again (set by share())

    def next(self, key: bytes, salt: bytes = b"") -> tuple[int, int]:
        full = key[:16] + salt
        local = self._local
        guard: tuple[str, int] | None = getattr(local, "guard", None)
        if guard is not None:  # counting ahead (see ahead()): only while the guard's counter reads its value
            local.guard = None
            guess = self._guess(full) if local.guessing else None
            if guess is not None:
                local.ahead, local.pending = (full, guess), (full, guess, guard)
                return guess
            got = self.backend.occurrence_if(guard[0], guard[1], self.space, full, self.limit)
            if got is None:
                raise _Moved
            self.learn(full, got)
            local.ahead = (full, got)
            return got
        ahead: tuple[bytes, tuple[int, int]] | None = getattr(local, "ahead", None)
        if ahead is not None and ahead[0] == full:  # counted (or guessed) ahead for this very question
            local.ahead = None
            return ahead[1]
        got = self.backend.occurrence(self.space, full, self.limit)
        self.learn(full, got)
        return got

    def ahead(self, ask: Callable[[], object], counter: str, value: int, guess: bool = False) -> bool:
        """Run ``ask()``, which asks :meth:`next` this request's question (the engine's ``ids``), counting only
        while the counter ``counter`` reads ``value`` (one atomic step of the state), and keep the answer for when
        the request asks again. ``False`` (nothing counted) when the counter moved, or ``ask()`` never asked.
        With ``guess``, nothing is asked of the state yet: the count is guessed, and checked later."""
        local = self._local
        if getattr(local, "redo", False):  # answered again after a wrong guess: counted then, with the check
            local.redo = False
            return getattr(local, "ahead", None) is not None
        local.ahead, local.guard, local.guessing = None, (counter, value), guess
        try:
            ask()
        except _Moved:
            return False
        finally:
            local.guard, local.guessing = None, False
        return getattr(local, "ahead", None) is not None

    def _guess(self, key: bytes) -> tuple[int, int] | None:
        if key in self._shared:
            return None
        epoch = self._epoch
        known = self._known.get(key)
        return (known[0] + 1, epoch) if known is not None and known[1] == epoch else (0, epoch)

    def learn(self, key: bytes, got: tuple[int, int]) -> None:
        """``key`` was counted ``got``: its next count is one more (in the same epoch)."""
        self._epoch = got[1]
        _bounded(self._known, key, got)

    def take_pending(self) -> tuple[bytes, tuple[int, int], tuple[str, int]] | None:
        """The request's guessed count, still to be checked (``None`` when there is none, or the reply never used
        it: then nothing needs counting)."""
        local = self._local
        pending: tuple[bytes, tuple[int, int], tuple[str, int]] | None = getattr(local, "pending", None)
        local.pending = None
        if pending is not None and getattr(local, "ahead", None) == pending[:2]:
            local.ahead = None
            return None
        return pending

    def missed(self, key: bytes, guess: tuple[int, int], got: tuple[int, int] | None) -> None:
        """The guess was wrong: ``got`` is the count the state made (``None``: none, the script moved). The request
        is answered again, with that count."""
        if got is None:
            self.stale()
            return
        if got[1] == guess[1]:  # another process counted this key: from now on it is asked, not guessed
            _bounded(self._shared, key, None)
        self.learn(key, got)
        local = self._local
        local.ahead, local.redo = (key, got), True

    def confirm(self) -> None:
        """Before the request does anything else in the state: check its guessed count, if it has one. When the
        reply has not used it yet, the count made replaces it; otherwise a wrong guess answers the request again."""
        local = self._local
        pending: tuple[bytes, tuple[int, int], tuple[str, int]] | None = getattr(local, "pending", None)
        if pending is None:
            return
        local.pending = None
        key, guess, (counter, value) = pending
        unused = getattr(local, "ahead", None) == (key, guess)
        got = self.backend.occurrence_if(counter, value, self.space, key, self.limit)
        if got is not None and (unused or got == guess):
            self.learn(key, got)
            if unused:
                local.ahead = (key, got)
            return
        if unused:
            local.ahead = None
        self.missed(key, guess, got)
        from ..core import AnswerAgain

        raise AnswerAgain

    def settle(self) -> None:
        """The request is over: a count made ahead that it never used (its reply had no ids after all: an error,
        say) is taken back, unless the key was counted again since, so that the counts stay those of one process."""
        local = self._local
        local.redo = False
        ahead: tuple[bytes, tuple[int, int]] | None = getattr(local, "ahead", None)
        if ahead is not None:
            local.ahead = None
            with contextlib.suppress(StateUnavailable):  # at worst an occurrence number is skipped
                self.backend.uncount(self.space, ahead[0], ahead[1][0])

    def clear(self) -> None:
        self.backend.clear(f"seen:{self.space}")
        self._known.clear()
        self._shared.clear()
        self._epoch = 0


_KNOWN = 4096  # keys whose last count a process remembers to guess the next (a key it forgot is guessed 0: asked)


def _bounded(table: dict[bytes, Any], key: bytes, value: Any) -> None:
    """``table[key] = value``, the oldest key dropped past :data:`_KNOWN` keys."""
    table[key] = value
    if len(table) > _KNOWN:
        with contextlib.suppress(KeyError, StopIteration, RuntimeError):  # another thread dropped it first
            del table[next(iter(table))]


class SharedStore(Store):
    """A :class:`~mockai.state.Store` whose records live in the shared state (as JSON text)."""

    def __init__(self, backend: Backend, kind: str, *, max_items: int, max_bytes: int) -> None:
        super().__init__(kind, max_items=max_items, max_bytes=max_bytes)
        self.backend = backend

    def __len__(self) -> int:
        return self.backend.count(self.kind)[0]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.backend.record(self.kind, key) is not None

    def get(self, key: str) -> Any | None:
        text = self.backend.record(self.kind, key)
        return None if text is None else json.loads(text)

    def put(self, key: str, record: Any, size: int | None = None) -> None:
        self.backend.put(self.kind, key, _dumps(record), self.max_items, self.max_bytes)

    def update(self, key: str, record: Any) -> bool:
        return self.backend.replace(self.kind, key, _dumps(record))

    def delete(self, key: str) -> bool:
        return self.backend.delete(self.kind, key)

    def values(self) -> Iterator[Any]:
        return iter([json.loads(text) for text in self.backend.records(self.kind)])

    def clear(self) -> None:
        self.backend.clear(f"records:{self.kind}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SharedScript(Script):
    """Scripted rules and a queue shared by every process: built from scenario documents kept in the state.

    Each process rebuilds its rules when the documents changed (a counter read per request tells; while the script
    is empty it is read in the same step that counts the request's occurrence and keeps its call: see
    ``__call__``). A rule's
    uses are claimed atomically (``times`` holds across processes; a sequence gives its n-th reply to the n-th use
    anywhere), and so is each queued reply: it is served once, by whichever process claims it.
    """

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self._version = -1
        self._epoch = 0
        # Set by share(): ahead(ex, counter, value) counts the request's occurrence (for its ids) only while the
        # counter reads value, and says whether it did. See __call__.
        self.ahead: Callable[[Exchange, str, int], bool] | None = None

    # --- changing it ------------------------------------------------------------------------------------------

    def publish(self, document: Any) -> None:
        """Add a scenario document (``{"rules": [...], "queue": [...]}``, already checked) for every process."""
        doc = json.loads(json.dumps(document, default=str))
        self.backend.transact(_SCRIPT, lambda s: ({"epoch": (s or {}).get("epoch", 0),
                                                   "docs": [*(s or {}).get("docs", []), doc]}, None))
        self.backend.incr(_VERSION)
        self.sync()

    def seed(self, documents: Sequence[Any]) -> bool:
        """The documents a server starts with (``--scenario``), unless the state has a script already (another
        replica seeded it, or this one before a restart); ``True`` when they were added."""
        docs = [json.loads(json.dumps(d, default=str)) for d in documents]
        added: bool = self.backend.transact(_SCRIPT, lambda s: (s, False) if s is not None else
                                            ({"epoch": 0, "docs": docs}, True))
        if added:
            self.backend.incr(_VERSION)
        self.sync()
        return added

    def clear(self) -> None:
        """Remove every rule and queued reply, in every process."""
        epoch = self.backend.transact(_SCRIPT, lambda s: ({"epoch": (s or {}).get("epoch", 0) + 1, "docs": []},
                                                          (s or {}).get("epoch", 0) + 1))
        self.backend.clear(f"rule:{epoch - 1}:", f"queue:{epoch - 1}")
        self.backend.incr(_VERSION)
        self.sync()

    def sync(self) -> None:
        """Rebuild the rules from the shared documents if they changed since the last look."""
        version = self.backend.counter(_VERSION)
        if version == self._version:
            return
        state = self.backend.get(_SCRIPT) or {"epoch": 0, "docs": []}
        with self._lock:
            Script.clear(self)
            for doc in state["docs"]:
                apply(parse_scenario(doc, "the shared script"), self)
            self._epoch = state["epoch"]
            self._version = version

    def stale(self) -> None:
        """The script changed since this process looked: look again before the next request is matched."""
        self._version = -1

    def refresh(self) -> None:
        """Bring the rules' use counts up to date (for listings)."""
        self.sync()
        for index, rule in enumerate(self.rules):
            rule._count = self.backend.counter(self._rule_key(index))
        self._queue_used = min(self.backend.counter(self._queue_key()), len(self.queued))

    def _rule_key(self, index: int) -> str:
        return f"rule:{self._epoch}:{index}"

    def _queue_key(self) -> str:
        return f"queue:{self._epoch}"

    # --- reading it -------------------------------------------------------------------------------------------

    @property
    def pending(self) -> list[ReplySpec]:
        used = self.backend.counter(self._queue_key()) if self.queued else 0
        return self.queued[used:]

    def unused(self) -> list[str]:
        self.refresh()
        return super().unused()

    # --- answering --------------------------------------------------------------------------------------------

    def __call__(self, ex: Exchange) -> Any:
        # The usual request meets a script with nothing in it: its ids' occurrence is guessed (or, for a request
        # other processes answer too, counted), and the check that the script is still the one this process last
        # saw is made with the count (so nothing can have been added meanwhile: a request that finds the script
        # changed is answered again). Otherwise: look, then match, as below.
        version = self._version
        if (self.ahead is not None and version >= 0 and not self.rules and self._queue_used >= len(self.queued)
                and self.ahead(ex, _VERSION, version)):
            return None
        self.sync()
        with self._lock:
            for index, rule in enumerate(self.rules):
                if rule.miss(ex) is not None:
                    continue
                n = self.backend.claim(self._rule_key(index), rule.times)
                if n is None:  # used up by other processes
                    rule._count = rule.times or 0
                    continue
                rule._count = n - 1
                rule.record(ex.call)
                ex.call.source = f"rule {rule.name!r}" if rule.name else f"rule #{index + 1}"
                produce = _nth(rule.side_effect, n) if isinstance(rule.side_effect, list) else rule.produce
                return self._answer(produce, rule._fault, rule.whose, ex)
            while self.queued:
                used = self.backend.counter(self._queue_key())
                if used >= len(self.queued):  # served by others: known here too (requests may skip the check then)
                    self._queue_used = len(self.queued)
                    break
                if not answers(self.queued[used], ex.prompt.api):
                    break
                if self.backend.claim_at(self._queue_key(), used):
                    spec = self.queued[used]
                    self._queue_used = used + 1
                    ex.call.source = f"queue #{used + 1}"
                    return self._answer(_nth([spec], 1), None, f"queued reply #{used + 1}", ex)
        return None


def _nth(specs: list[ReplySpec], n: int) -> Callable[[Any], ReplySpec]:
    """What answers a rule's ``n``-th use: the ``n``-th reply of its sequence."""
    return lambda _: specs[n - 1]


def scenario_documents(paths: Sequence[str]) -> list[Any]:
    """The documents of scenario files, as :meth:`SharedScript.seed` keeps them (already checked by the CLI)."""
    import yaml

    docs = []
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        docs.append(json.loads(text) if path.endswith(".json") else yaml.safe_load(text))
    return docs
