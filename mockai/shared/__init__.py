"""One state for every worker and replica: what ``mockai serve --workers N`` and replicas behind a load balancer
share, so that together they behave as one server.

In one process nothing here is used: the engine keeps today's in-memory objects (the journal's
:class:`~mockai.journal.CallList`, the rules' :class:`~mockai.rules.Script`, :class:`~mockai.state.Store`, the
limiter's buckets, the id and fault counters), which are this interface's memory implementation. With
``--workers N > 1`` (a SQLite file) or ``--state URL`` the wiring (:mod:`mockai.shared.wiring`) puts a
:class:`Backend` under them: the journal of every worker's calls, the scripted rules and queue (each queued reply
served once, a rule's ``times`` counted across workers), the stored responses, conversations and chat completions,
the rate-limit buckets (updated atomically: N workers never admit more than the limit), and the counters ids and
the fault schedule are derived from (so ids repeat run to run with a frozen clock). Cassettes already have one
writer across processes (an append-only journal file folded in under a directory lock: :mod:`mockai.cassettes`).

=================================  ==============================================================================
``sqlite:///path/to/state.db``     a file every process on this machine opens (WAL); the default of ``--workers N``
                                   is a temporary one, removed when the server stops
``redis://host:port/db``           a Redis server every replica reaches (``pip install 'pytest-mockai[redis]'``)
=================================  ==============================================================================

Every structure is bounded as in one process. A backend that cannot be reached raises :class:`StateUnavailable`:
an :class:`~mockai.errors.APIError` answered as a 503 in OpenAI's envelope, never a hang (every wait has a
timeout, and a request waits for a store that does not answer at most once: :class:`Outage`).

>>> backend = open_backend("sqlite:///:memory:")
>>> backend.incr("calls"), backend.incr("calls")
(1, 2)
>>> backend.claim("rule", 1), backend.claim("rule", 1)
(1, None)
>>> backend.occurrence_if("calls", 1, "ids", b"key", 100), backend.occurrence_if("calls", 2, "ids", b"key", 100)
(None, (0, 0))
>>> backend.commit("calls", 2, "ids", b"key", 100, (1, 0), b"a call", 10, 1000)  # the count, the entry's number
((1, 0), 1)
>>> backend.commit("calls", 2, "ids", b"key", 100, (1, 0), b"a guess too low", 10, 1000)  # not kept: number 0
((2, 0), 0)
>>> backend.amend(1, b"the call as it went out", 10), backend.entries(10), backend.amendments(0)
(True, [(1, b'the call as it went out')], [(1, 1, b'the call as it went out')])
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import APIError

R = TypeVar("R")
# A journal entry to keep, and, for a request whose ids came from a guessed count, what commit() checks: the
# counter and its value, the occurrence space, key and bound, and the expected count.
Keep = tuple[bytes, "tuple[str, int, str, bytes, int, tuple[int, int]] | None"]
# What keeping one did: the occurrence count commit() made (None: a plain append, or the counter had moved: nothing
# counted), and the number of the journal entry (0: nothing was kept).
Kept = tuple["tuple[int, int] | None", int]

SCHEMES = ("sqlite", "redis")
AMENDED = "journal-amended"  # the counter of the journal's amendments (Backend.amend): read with Backend.counter
TIMEOUT = 5.0  # seconds any one operation on the shared state may wait (a lock, a connection) before it fails
BACKOFF = 1.0  # seconds operations fail at once after one waited TIMEOUT in vain, before the store is tried again


class StateError(Exception):
    """The shared state named by a URL cannot be used (a bad URL, a file that cannot be written, no server)."""


class StateUnavailable(APIError):
    """The shared state failed while answering a request: a 503 in OpenAI's envelope."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(503, f"mockai's shared state ({url}) is unavailable: {reason}. The request was not "
                              "answered; retry once the store is back.", type="server_error",
                         code="state_unavailable", headers={"x-should-retry": "true", "retry-after": "1"})


class Outage:
    """Fail fast while the store is known not to answer.

    An operation that waited :data:`TIMEOUT` in vain (Redis stopped answering; another process holds SQLite's write
    lock) trips it: for :data:`BACKOFF` seconds from then on, every operation that would wait the same way fails at
    once (:meth:`check`), the rest of that request's and every other request's, on every thread and event loop.
    After that, operations try the store again (all of those that come: there is no single prober), so in an outage
    that lasts, requests meet a 5-second wait again each time the second has passed; one that answers is used from
    then on. So however many operations a request makes, it waits for
    a store that does not answer at most :data:`TIMEOUT` in all (then a little: the operations that fail at once).

    No lock: the state is one float, written whole. Two threads tripping it together both set about the same time.

    >>> outage = Outage("redis://:pw@host:6379/0")
    >>> outage.check()  # nothing waited in vain yet
    >>> error = outage.tripped("Timeout reading from host:6379")  # raised by the operation that waited
    >>> try:
    ...     outage.check()  # the next one, at once
    ... except StateUnavailable as err:
    ...     print(err.status, err.code, err.message[:63])
    503 state_unavailable mockai's shared state (redis://:***@host:6379/0) is unavailable
    """

    __slots__ = ("reason", "until", "url")

    def __init__(self, url: str) -> None:
        self.url = shown_url(url)
        self.until = 0.0  # the time.monotonic() before which operations fail at once (0: never tripped)
        self.reason = ""

    def check(self) -> None:
        """Raise :class:`StateUnavailable` while the store is known not to answer. Callers on the request path test
        ``until`` first (``if outage.until: outage.check()``): nothing more is paid before the first outage."""
        if time.monotonic() < self.until:
            raise StateUnavailable(self.url, self.reason)

    def tripped(self, exc: object) -> StateUnavailable:
        """An operation waited in vain and failed with ``exc``: the error to raise for it. Operations fail at once
        for :data:`BACKOFF` seconds from now."""
        self.reason = (f"an operation waited {TIMEOUT:g} s in vain ({exc}); operations fail at once for {BACKOFF:g} s "
                       "after that, then the store is tried again")
        self.until = time.monotonic() + BACKOFF
        return StateUnavailable(self.url, self.reason)


class Backend(ABC):
    """The primitives the shared structures are built of; every one is atomic across processes.

    Values are JSON; keys are strings (``bytes`` for occurrence keys). Implementations: :class:`SQLiteBackend
    <mockai.shared.sqlite_state.SQLiteBackend>`, :class:`RedisBackend <mockai.shared.redis_state.RedisBackend>`.
    """

    url: str

    # --- counters ---------------------------------------------------------------------------------------------

    @abstractmethod
    def incr(self, key: str) -> int:
        """Add one to the counter ``key`` (0 when new) and return its new value."""

    @abstractmethod
    def counter(self, key: str) -> int:
        """The counter's value (0 when it was never counted)."""

    @abstractmethod
    def claim(self, key: str, limit: int | None) -> int | None:
        """Count one more use of ``key`` unless it was used ``limit`` times already: the new count, or ``None``."""

    @abstractmethod
    def claim_at(self, key: str, expected: int) -> bool:
        """Move the counter ``key`` from ``expected`` to ``expected + 1``; ``False`` when another got there first."""

    @abstractmethod
    def occurrence(self, space: str, key: bytes, bound: int) -> tuple[int, int]:
        """How often ``key`` was seen before in ``space``, and the epoch of that count: at most ``bound`` keys are
        counted, then the counts start over in a new epoch (see :meth:`mockai.core.Core.ids`)."""

    @abstractmethod
    def occurrence_if(self, counter: str, value: int, space: str, key: bytes, bound: int) -> tuple[int, int] | None:
        """:meth:`occurrence`, counted only while the counter ``counter`` reads ``value`` (both in one atomic step);
        ``None``, and nothing counted, when it reads anything else. A request's two questions in one round trip:
        has the script changed since this process last looked, and how often was this request seen."""

    @abstractmethod
    def commit(self, counter: str, value: int, space: str, key: bytes, bound: int, expected: tuple[int, int],
               entry: bytes, max_items: int, max_bytes: int) -> Kept:
        """:meth:`occurrence_if`, and, when the count is ``expected``, :meth:`append` of ``entry``: one atomic step.
        ``(None, 0)`` (nothing counted or kept) when the counter moved; otherwise the count and the entry's number,
        ``entry`` being kept (a number above 0) exactly when the count equals ``expected``. A request's whole
        business with the state in one round trip, for a request whose ids were made from a guessed count."""

    @abstractmethod
    def uncount(self, space: str, key: bytes, occurrence: int) -> bool:
        """Take back the count of ``key`` that answered ``occurrence`` (see :meth:`occurrence`), unless ``key`` was
        counted again since; ``True`` when it was taken back."""

    # --- values -----------------------------------------------------------------------------------------------

    @abstractmethod
    def get(self, key: str) -> Any | None:
        """The JSON value under ``key``, or ``None``."""

    @abstractmethod
    def transact(self, key: str, update: Callable[[Any | None], tuple[Any | None, R]]) -> R:
        """Atomically replace the value under ``key`` by ``update(value)[0]`` (``None``: delete it); returns
        ``update(value)[1]``. ``update`` may run more than once (optimistic backends retry it)."""

    # --- the journal ------------------------------------------------------------------------------------------

    @abstractmethod
    def append(self, entry: bytes, max_items: int, max_bytes: int) -> int:
        """Add a journal entry, and return its number (see :meth:`entries`); the oldest go first past
        ``max_items`` entries or ``max_bytes`` bytes."""

    def keep_many(self, items: list[Keep], max_items: int, max_bytes: int) -> list[Kept]:
        """Several requests' :meth:`commit` (an item with a guess) or :meth:`append` (without), in order; for each,
        what :meth:`commit` returns (``(None, number)`` for an append). Backends do it in one round trip."""
        out: list[Kept] = []
        for entry, guess in items:
            if guess is None:
                out.append((None, self.append(entry, max_items, max_bytes)))
            else:
                out.append(self.commit(*guess, entry, max_items, max_bytes))
        return out

    async def keep_many_async(self, items: list[Keep], max_items: int, max_bytes: int) -> list[Kept]:
        """:meth:`keep_many` from an event loop: a backend with a network round trip awaits it."""
        return self.keep_many(items, max_items, max_bytes)

    async def aclose(self) -> None:
        """Release what :meth:`keep_many_async` opened on the running event loop (before that loop ends)."""
        return None

    @abstractmethod
    def entries(self, newest: int, after: int = 0) -> list[tuple[int, bytes]]:
        """The ``newest`` entries of the journal (at most) numbered above ``after``, oldest first, each with its
        number (which counts every entry ever appended: it never repeats, even after the journal is emptied)."""

    @abstractmethod
    def amend(self, number: int, entry: bytes, max_items: int) -> bool:
        """Replace the journal entry numbered ``number`` by ``entry``, in its place (a stream that ended early
        keeps what was sent), and note the amendment for :meth:`amendments` (the newest ``max_items`` are noted);
        ``False``, and nothing changed, when the journal no longer holds that entry. The journal's byte bound is
        applied again at the next append."""

    @abstractmethod
    def amendments(self, after: int) -> list[tuple[int, int, bytes]]:
        """The entries amended since the amendment numbered ``after`` (amendments are numbered as entries are, from
        1, and the counter :data:`AMENDED` holds the last number), oldest amendment first: ``(amendment, entry's
        number, entry)`` for each entry the journal still holds."""

    # --- records (stored responses, conversations, completions) ------------------------------------------------

    @abstractmethod
    def record(self, kind: str, key: str) -> str | None:
        """The record ``key`` of ``kind`` (its JSON text), or ``None``."""

    @abstractmethod
    def put(self, kind: str, key: str, value: str, max_items: int, max_bytes: int) -> None:
        """Keep ``value`` under ``key`` as the newest record of ``kind``; drop the oldest past the bounds (never the
        newest)."""

    @abstractmethod
    def replace(self, kind: str, key: str, value: str) -> bool:
        """Replace a kept record, its age unchanged; ``False`` when there is none."""

    @abstractmethod
    def delete(self, kind: str, key: str) -> bool:
        """Forget a record; ``False`` when there was none."""

    @abstractmethod
    def records(self, kind: str) -> list[str]:
        """Every record of ``kind``, oldest first."""

    @abstractmethod
    def count(self, kind: str) -> tuple[int, int]:
        """How many records of ``kind`` are kept, and their bytes."""

    # --- housekeeping -----------------------------------------------------------------------------------------

    @abstractmethod
    def clear(self, *names: str) -> None:
        """Forget the named parts: ``"journal"``, ``"records:KIND"``, or a prefix of counters and values
        (``"rule:"``); occurrence spaces are counters named ``"seen:SPACE"``."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (the state itself stays)."""


def shown_url(url: str) -> str:
    """``url`` without its password, as messages and logs show it.

    >>> shown_url("redis://:s3cret@redis.internal:6379/0")
    'redis://:***@redis.internal:6379/0'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url if parts.password is None else url.replace(f":{parts.password}@", ":***@", 1)


def open_backend(url: str) -> Backend:
    """The backend for ``url``; raises :class:`StateError` with what to do when it cannot be used.

    >>> open_backend("mysql://x")
    Traceback (most recent call last):
    ...
    mockai.shared.StateError: --state mysql://x: unsupported; use sqlite:///PATH or redis://HOST:PORT/DB
    """
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        from .sqlite_state import SQLiteBackend

        return SQLiteBackend(url)
    if scheme in ("redis", "rediss"):
        from .redis_state import RedisBackend

        return RedisBackend(url)
    raise StateError(f"--state {url}: unsupported; use sqlite:///PATH or redis://HOST:PORT/DB")
