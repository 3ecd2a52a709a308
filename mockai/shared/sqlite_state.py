"""The shared state in a SQLite file: what the workers of ``mockai serve --workers N`` share on one machine.

The file is in WAL mode (readers never wait for the writer) with ``synchronous=OFF``: every commit is written to the
file before it returns, so a worker that dies, or is killed, loses nothing it committed; only a crash of the
machine itself may lose the last transactions (no ``fsync``), which a test server can afford, and which makes a
write cost about 25 µs instead of about 80. Writes take the file's write lock (``BEGIN IMMEDIATE``), waiting at
most :data:`~mockai.shared.TIMEOUT` seconds for it; once one waited that long in vain (another process holds the
lock), writes fail at once for :data:`~mockai.shared.BACKOFF` seconds (:class:`~mockai.shared.Outage`), so a request
waits for the lock at most once. Reads never wait for the writer (WAL) and are not held back. Each thread has its own
connection.

An ordinary request commits once: its ids' occurrence count (with the check that the script did not change) and its
journal entry, in one transaction (:meth:`~mockai.shared.Backend.commit`); under ``mockai serve`` the requests
answered meanwhile share that transaction (:meth:`SQLiteBackend.keep_many`). Each is committed before its answer
is sent, so another worker listing the journal (``GET /_mockai/calls``) the moment that answer arrives finds it,
and a failed commit answers the call 503 instead.

>>> import tempfile, os
>>> backend = SQLiteBackend("sqlite:///" + os.path.join(tempfile.mkdtemp(), "state.db"))
>>> backend.put("response", "resp_1", '{"n": 1}', max_items=1, max_bytes=100)
>>> backend.put("response", "resp_2", '{"n": 2}', max_items=1, max_bytes=100)
>>> backend.record("response", "resp_1"), backend.record("response", "resp_2")
(None, '{"n": 2}')
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .. import shared
from . import AMENDED, Backend, Keep, Kept, Outage, StateError, StateUnavailable

R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (space TEXT NOT NULL, key BLOB NOT NULL, n INTEGER NOT NULL,
                                 PRIMARY KEY (space, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, size INTEGER NOT NULL, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journal_amended (n INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,
                                    size INTEGER NOT NULL, PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS records_age ON records (kind, seq);
"""
FORMAT = 2  # the version of the tables' format, kept in the file's user_version
_UPSERT = "INSERT INTO counters (key, n) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1"
_COUNT = "INSERT INTO seen (space, key, n) VALUES (?, ?, 1) ON CONFLICT (space, key) DO UPDATE SET n = n + 1"
# The same, only while a counter reads a value (a SELECT as the source of an upsert needs its WHERE clause).
_COUNT_IF = ("INSERT INTO seen (space, key, n) SELECT ?, ?, 1 WHERE COALESCE((SELECT n FROM counters WHERE key = ?), "
             "0) = ? ON CONFLICT (space, key) DO UPDATE SET n = n + 1")
# An entry's number: one past the last one, even when the journal was emptied (then kept in 'journal-seq'). No
# AUTOINCREMENT and no byte counter kept up to date: a commit writes the journal's own pages, nothing else.
_APPEND = ("INSERT INTO journal (seq, size, entry) VALUES (MAX(COALESCE((SELECT MAX(seq) FROM journal), 0), "
           "COALESCE((SELECT n FROM counters WHERE key = 'journal-seq'), 0)) + 1, ?, ?) RETURNING seq")
_TRIM_EVERY = 64  # journal appends between two trims (the bounds are kept amortized, as the memory journal does)
_BOUND_EVERY = 1024  # new keys a process counts between two checks of the occurrence counts' bound


class SQLiteBackend(Backend):
    """The state in the SQLite file ``sqlite:///PATH`` (``sqlite:////abs/path`` or ``sqlite:///rel/path``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not self.path:
            raise StateError(f"--state {url}: name a file, e.g. sqlite:///mockai-state.db")
        self._local = threading.local()
        self._outage = Outage(url)  # a write waited TIMEOUT for the lock in vain: the next ones fail at once
        self._appends = 0
        self._new_keys = 0
        try:
            conn = self._connection()
            conn.executescript(_SCHEMA)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(f"PRAGMA user_version = {FORMAT}")
            elif version != FORMAT:
                raise StateError(f"--state {url}: {self.path} holds another version's state (format {version}, this "
                                 f"mockai writes format {FORMAT}); name a new file")
        except sqlite3.Error as exc:
            where = os.path.dirname(os.path.abspath(self.path))
            raise StateError(f"--state {url}: cannot use {self.path} ({exc}); the directory {where} must exist and "
                             "be writable") from None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=shared.TIMEOUT, isolation_level=None, check_same_thread=False)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; a failure of the file is a :class:`StateUnavailable`."""
        outage = self._outage
        if outage.until:
            outage.check()
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._failed(exc) from None
            raise

    def _failed(self, exc: sqlite3.Error) -> StateUnavailable:
        """The error for a write that failed with ``exc``; one that waited for the write lock in vain (SQLite says
        "database is locked" once the busy timeout is over) trips the outage."""
        if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("database is locked"):
            return self._outage.tripped(exc)
        return StateUnavailable(self.url, exc)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StateUnavailable(self.url, exc) from None

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """One statement, its own transaction (autocommit)."""
        outage = self._outage
        if outage.until:
            outage.check()
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    # --- counters ---------------------------------------------------------------------------------------------

    def incr(self, key: str) -> int:
        return int(self._write(_UPSERT + " RETURNING n", (key,))[0][0])

    def counter(self, key: str) -> int:
        rows = self._read("SELECT n FROM counters WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else 0

    def claim(self, key: str, limit: int | None) -> int | None:
        if limit is None:
            return self.incr(key)
        if limit < 1:
            return None
        rows = self._write(_UPSERT + " WHERE n < ? RETURNING n", (key, limit))
        return int(rows[0][0]) if rows else None

    def claim_at(self, key: str, expected: int) -> bool:
        if expected == 0:
            return bool(self._write("INSERT INTO counters (key, n) VALUES (?, 1) ON CONFLICT (key) DO UPDATE "
                                    "SET n = 1 WHERE n = 0 RETURNING n", (key,)))
        return bool(self._write("UPDATE counters SET n = n + 1 WHERE key = ? AND n = ? RETURNING n", (key, expected)))

    def occurrence(self, space: str, key: bytes, bound: int) -> tuple[int, int]:
        # One statement, so one transaction: the count and the epoch it belongs to, read together.
        n, epoch = self._write(_COUNT + " RETURNING n, (SELECT n FROM counters WHERE key = ?)",
                               (space, key, f"epoch:{space}"))[0]
        return self._counted(space, key, bound, int(n), int(epoch or 0))

    def occurrence_if(self, counter: str, value: int, space: str, key: bytes, bound: int) -> tuple[int, int] | None:
        rows = self._write(_COUNT_IF + " RETURNING n, (SELECT n FROM counters WHERE key = ?)",
                           (space, key, counter, value, f"epoch:{space}"))
        return self._counted(space, key, bound, int(rows[0][0]), int(rows[0][1] or 0)) if rows else None

    def commit(self, counter: str, value: int, space: str, key: bytes, bound: int, expected: tuple[int, int],
               entry: bytes, max_items: int, max_bytes: int) -> Kept:
        number = 0
        with self._tx() as conn:
            rows = conn.execute(_COUNT_IF + " RETURNING n, (SELECT n FROM counters WHERE key = ?)",
                                (space, key, counter, value, f"epoch:{space}")).fetchall()
            if not rows:
                return None, 0
            got = int(rows[0][0]) - 1, int(rows[0][1] or 0)
            if got == expected:
                number = int(conn.execute(_APPEND, (len(entry), entry)).fetchall()[0][0])
        if got[0] == 0:  # a new key: keep the counts bounded (a new epoch applies from the next request on)
            self._new_keys += 1
            if self._new_keys % _BOUND_EVERY == 0 or bound < _BOUND_EVERY:
                self._bound(space, bound)
        if got == expected:
            self._trimmed(len(entry), max_items, max_bytes)
        return got, number

    def keep_many(self, items: list[Keep], max_items: int, max_bytes: int) -> list[Kept]:
        out: list[Kept] = []
        new: list[tuple[str, int]] = []
        kept: list[int] = []
        with self._tx() as conn:  # one transaction for them all: one commit of the file
            for entry, guess in items:
                if guess is not None:
                    counter, value, space, key, bound, expected = guess
                    rows = conn.execute(_COUNT_IF + " RETURNING n, (SELECT n FROM counters WHERE key = ?)",
                                        (space, key, counter, value, f"epoch:{space}")).fetchall()
                    got = (int(rows[0][0]) - 1, int(rows[0][1] or 0)) if rows else None
                    if got is not None and got[0] == 0:
                        new.append((space, bound))
                    if got != expected:
                        out.append((got, 0))
                        continue
                else:
                    got = None
                out.append((got, int(conn.execute(_APPEND, (len(entry), entry)).fetchall()[0][0])))
                kept.append(len(entry))
        for space, bound in new:
            self._new_keys += 1
            if self._new_keys % _BOUND_EVERY == 0 or bound < _BOUND_EVERY:
                self._bound(space, bound)
        for size in kept:
            self._trimmed(size, max_items, max_bytes)
        return out

    def _counted(self, space: str, key: bytes, bound: int, n: int, epoch: int) -> tuple[int, int]:
        if n == 1:
            self._new_keys += 1
            if self._new_keys % _BOUND_EVERY == 0 or bound < _BOUND_EVERY:
                self._bound(space, bound)
                if self.counter(f"epoch:{space}") != epoch:  # started over: count it in the new epoch
                    return self.occurrence(space, key, bound)
        return n - 1, epoch

    def uncount(self, space: str, key: bytes, occurrence: int) -> bool:
        return bool(self._write("UPDATE seen SET n = n - 1 WHERE space = ? AND key = ? AND n = ? RETURNING n",
                                (space, key, occurrence + 1)))

    def _bound(self, space: str, bound: int) -> None:
        """Past ``bound`` counted keys, start over in a new epoch (checked every :data:`_BOUND_EVERY` new keys a
        process counts, so the counts hold at most that many more per process)."""
        with self._tx() as conn:
            (size,) = conn.execute("SELECT COUNT(*) FROM seen WHERE space = ?", (space,)).fetchone()
            if size > bound:
                conn.execute("DELETE FROM seen WHERE space = ?", (space,))
                conn.execute(_UPSERT, (f"epoch:{space}",))

    # --- values -----------------------------------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        rows = self._read("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def transact(self, key: str, update: Callable[[Any | None], tuple[Any | None, R]]) -> R:
        with self._tx() as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            value, result = update(json.loads(row[0]) if row else None)
            if value is None:
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            else:
                conn.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                             "excluded.value", (key, json.dumps(value, separators=(",", ":"))))
        return result

    # --- the journal ------------------------------------------------------------------------------------------

    def append(self, entry: bytes, max_items: int, max_bytes: int) -> int:
        number = int(self._write(_APPEND, (len(entry), entry))[0][0])
        self._trimmed(len(entry), max_items, max_bytes)
        return number

    def _trimmed(self, size: int, max_items: int, max_bytes: int) -> None:
        self._appends += 1
        if self._appends % _TRIM_EVERY == 0 or size > max_bytes // _TRIM_EVERY:
            self.trim(max_items, max_bytes)

    def trim(self, max_items: int, max_bytes: int) -> None:
        """Keep the newest ``max_items`` entries within ``max_bytes`` (the newest always)."""
        with self._tx() as conn:
            conn.execute("DELETE FROM journal WHERE seq <= (SELECT MAX(seq) FROM journal) - ?", (max_items,))
            # Each entry's size comes before its bytes in the row: summing them never reads the entries.
            (total,) = conn.execute("SELECT COALESCE(SUM(size), 0) FROM journal").fetchone()
            if total > max_bytes:
                conn.execute("DELETE FROM journal WHERE seq < (SELECT MAX(seq) FROM journal) AND seq <= (SELECT "
                             "MAX(seq) FROM (SELECT seq, SUM(size) OVER (ORDER BY seq DESC) AS total FROM journal) "
                             "WHERE total > ?)", (max_bytes,))

    def entries(self, newest: int, after: int = 0) -> list[tuple[int, bytes]]:
        rows = self._read("SELECT seq, entry FROM journal WHERE seq > ? ORDER BY seq DESC LIMIT ?", (after, newest))
        return [(int(seq), bytes(entry)) for seq, entry in reversed(rows)]

    def amend(self, number: int, entry: bytes, max_items: int) -> bool:
        with self._tx() as conn:
            if not conn.execute("UPDATE journal SET size = ?, entry = ? WHERE seq = ? RETURNING seq",
                                (len(entry), entry, number)).fetchall():
                return False
            n = int(conn.execute(_UPSERT + " RETURNING n", (AMENDED,)).fetchall()[0][0])
            # One note per entry (its latest amendment), the newest max_items of them.
            conn.execute("DELETE FROM journal_amended WHERE seq = ? OR n <= ?", (number, n - max_items))
            conn.execute("INSERT INTO journal_amended (n, seq) VALUES (?, ?)", (n, number))
        return True

    def amendments(self, after: int) -> list[tuple[int, int, bytes]]:
        rows = self._read("SELECT a.n, j.seq, j.entry FROM journal_amended AS a JOIN journal AS j ON j.seq = a.seq "
                          "WHERE a.n > ? ORDER BY a.n", (after,))
        return [(int(n), int(seq), bytes(entry)) for n, seq, entry in rows]

    # --- records ----------------------------------------------------------------------------------------------

    def record(self, kind: str, key: str) -> str | None:
        rows = self._read("SELECT value FROM records WHERE kind = ? AND key = ?", (kind, key))
        return str(rows[0][0]) if rows else None

    def put(self, kind: str, key: str, value: str, max_items: int, max_bytes: int) -> None:
        size = len(value)
        with self._tx() as conn:
            seq = int(conn.execute(_UPSERT + " RETURNING n", (f"records:{kind}",)).fetchone()[0])
            conn.execute("INSERT INTO records (kind, key, seq, value, size) VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                         "(kind, key) DO UPDATE SET seq = excluded.seq, value = excluded.value, size = excluded.size",
                         (kind, key, seq, value, size))
            count, total = conn.execute("SELECT COUNT(*), SUM(size) FROM records WHERE kind = ?", (kind,)).fetchone()
            if count > max_items or total > max_bytes:
                kept = conn.execute("SELECT seq, size FROM records WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
                drop = 0
                while count - drop > 1 and (count - drop > max_items or total > max_bytes):
                    total -= kept[drop][1]
                    drop += 1
                conn.execute("DELETE FROM records WHERE kind = ? AND seq <= ?", (kind, kept[drop - 1][0]))

    def replace(self, kind: str, key: str, value: str) -> bool:
        return bool(self._write("UPDATE records SET value = ?, size = ? WHERE kind = ? AND key = ? RETURNING seq",
                                (value, len(value), kind, key)))

    def delete(self, kind: str, key: str) -> bool:
        return bool(self._write("DELETE FROM records WHERE kind = ? AND key = ? RETURNING seq", (kind, key)))

    def records(self, kind: str) -> list[str]:
        return [str(row[0]) for row in self._read("SELECT value FROM records WHERE kind = ? ORDER BY seq", (kind,))]

    def count(self, kind: str) -> tuple[int, int]:
        count, total = self._read("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM records WHERE kind = ?", (kind,))[0]
        return int(count), int(total)

    # --- housekeeping -----------------------------------------------------------------------------------------

    def clear(self, *names: str) -> None:
        with self._tx() as conn:
            for name in names:
                if name == "journal":  # its numbers go on from the last one (see _APPEND)
                    conn.execute("INSERT INTO counters (key, n) SELECT 'journal-seq', last FROM (SELECT MAX(seq) AS "
                                 "last FROM journal) WHERE last IS NOT NULL ON CONFLICT (key) DO UPDATE SET n = "
                                 "MAX(n, excluded.n)")
                    conn.execute("DELETE FROM journal")
                    conn.execute("DELETE FROM journal_amended")  # (not their counter: numbers never repeat)
                elif name.startswith("records:"):
                    conn.execute("DELETE FROM records WHERE kind = ?", (name[len("records:"):],))
                else:
                    if name.startswith("seen:"):
                        conn.execute("DELETE FROM seen WHERE space = ?", (name[len("seen:"):],))
                        conn.execute("DELETE FROM counters WHERE key = ?", ("epoch:" + name[len("seen:"):],))
                    pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                    conn.execute("DELETE FROM counters WHERE key LIKE ? ESCAPE '\\'", (pattern,))
                    conn.execute("DELETE FROM kv WHERE key LIKE ? ESCAPE '\\'", (pattern,))

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
