"""The shared state in Redis: what any number of ``mockai serve --state redis://HOST:PORT/DB`` replicas share.

Every update that reads before it writes is one Lua script (run atomically by the server) or a ``WATCH``/``MULTI``
transaction retried on conflict (:meth:`RedisBackend.transact`), so replicas never double-spend a rate limit or
serve a queued reply twice. Keys start with ``mockai:2:`` (the version of their format). Every call has a socket timeout
(:data:`~mockai.shared.TIMEOUT`) and is not retried: a server that is gone is a 503 at once, never a hang. A server
that stops answering (stopped, or its packets dropped) costs the call that meets it one timeout; the calls after it
fail at once for :data:`~mockai.shared.BACKOFF` seconds (:class:`~mockai.shared.Outage`), so a request waits at most
one timeout in all, and one call after that tries the server again.

An ordinary request makes one ``EVALSHA``: has the script changed, how often was this request seen, and its
journal entry (:meth:`RedisBackend.commit`). Under ``mockai serve`` the requests answered while one round trip is
out share the next (:meth:`RedisBackend.keep_many_async`: one ``EVALSHA`` for them all, on a ``redis.asyncio``
client, so the event loop answers others meanwhile). Each answer waits for its call's reply: another replica
listing the journal right after the answer finds the entry, and a failed append answers the call 503.

Needs the ``redis`` client library: ``pip install 'pytest-mockai[redis]'``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .. import shared
from . import AMENDED, Backend, Keep, Kept, Outage, StateError, StateUnavailable, shown_url

R = TypeVar("R")
PREFIX = "mockai:2:"  # the format's version is in the keys: another format's keys are never read as this one's

_CLAIM = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return -1 end
return redis.call('INCR', KEYS[1])
"""
_CLAIM_AT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
return 1
"""
# Counting an occurrence of the key {key} in the space's hash {seen} (its epoch in {epoch}, at most {bound} keys):
# leaves n (how often the key was seen before) and epoch.
_COUNT_LUA = """
local n = redis.call('HINCRBY', {seen}, {key}, 1) - 1
if n == 0 and redis.call('HLEN', {seen}) > tonumber({bound}) then
  redis.call('DEL', {seen})
  redis.call('HSET', {seen}, {key}, 1)
  redis.call('INCR', {epoch})
end
local epoch = tonumber(redis.call('GET', {epoch}) or '0')
"""
_COUNT = _COUNT_LUA.format(seen="KEYS[1]", epoch="KEYS[2]", key="ARGV[1]", bound="ARGV[2]")
# With KEYS[3] a counter and ARGV[3] a value: nothing is counted (nil) unless the counter reads that value.
_GUARD = """
if KEYS[3] and tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[3]) then return false end
"""
_OCCURRENCE = _GUARD + _COUNT + "return {n, epoch}"
# KEYS: the space's hash. ARGV: the key, its count to take back.
_UNCOUNT = """
if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') ~= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
return 1
"""
# Appending {entry} to the journal's list {journal} and its index {index} ("SEQ:SIZE" for each entry, in the same
# order), its bytes in {bytes} and its numbering in {seq}, keeping at most {items} entries and {most} bytes (the newest
# always); leaves the entry's number in `number`. The entry is copied once into Lua and once into the list and never
# read back (trimming reads only the index): an entry (a stream's events) can be tens of kilobytes. The entries' numbers
# follow one another in the lists (both lose their oldest together): the entry numbered N is at N minus the first's.
_APPEND_LUA = """
local size = string.len({entry})
local items = redis.call('RPUSH', {journal}, {entry})
local number = redis.call('INCR', {seq})
redis.call('RPUSH', {index}, number .. ':' .. size)
local bytes = redis.call('INCRBY', {bytes}, size)
local drop = 0
while items - drop > 1 and (items - drop > tonumber({items}) or bytes > tonumber({most})) do
  bytes = bytes - tonumber(string.match(redis.call('LPOP', {index}), ':(%d+)$'))
  drop = drop + 1
end
if drop > 0 then
  redis.call('LTRIM', {journal}, drop, -1)
  redis.call('SET', {bytes}, bytes)
end
"""


def _append_lua(first_key: int, entry: str, bounds: int) -> str:
    """The append for the journal's keys from ``KEYS[first_key]`` on, the entry ``entry`` (a Lua expression) and
    its bounds in ``ARGV[bounds]`` and ``ARGV[bounds + 1]``."""
    journal, index, size, seq = (f"KEYS[{first_key + i}]" for i in range(4))
    return _APPEND_LUA.format(journal=journal, index=index, bytes=size, seq=seq, entry=entry,
                              items=f"ARGV[{bounds}]", most=f"ARGV[{bounds + 1}]")


# KEYS: the journal's four. ARGV: the entry, max items, max bytes. Returns the entry's number.
_APPEND = _append_lua(1, "ARGV[1]", 2) + "return number"
# KEYS: the space's hash, its epoch, the counter, then the journal's four. ARGV: the key, the bound, the counter's
# value, the expected n and epoch, then the entry and its bounds. Returns {n, epoch, the entry's number (0: not kept)}.
# See Backend.commit.
_COMMIT = (_GUARD + _COUNT + """
if n ~= tonumber(ARGV[4]) or epoch ~= tonumber(ARGV[5]) then return {n, epoch, 0} end
""" + _append_lua(4, "ARGV[6]", 7) + "return {n, epoch, number}")
# Backend.keep_many. KEYS: the counter, the space's hash, its epoch, then the journal's four. ARGV: the bound, max
# items, max bytes, then five for each item: the counter's value ('' for a plain append), the key, the expected n
# and epoch, the entry. Returns {n, epoch, the entry's number (0: not kept)} for each item ({-1, -1, 0} when the
# counter moved; {-2, -2, number}: a plain append).
_KEEP = """
local out = {}
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
for i = 4, #ARGV, 5 do
  local keep = true
  if ARGV[i] == '' then
    out[#out + 1] = {-2, -2, 0}
  elseif version ~= tonumber(ARGV[i]) then
    keep = false
    out[#out + 1] = {-1, -1, 0}
  else
""" + _COUNT_LUA.format(seen="KEYS[2]", epoch="KEYS[3]", key="ARGV[i + 1]", bound="ARGV[1]") + """
    out[#out + 1] = {n, epoch, 0}
    keep = n == tonumber(ARGV[i + 2]) and epoch == tonumber(ARGV[i + 3])
  end
  if keep then
""" + _append_lua(4, "ARGV[i + 4]", 2) + """
    out[#out][3] = number
  end
end
return out
"""
# Where the entry numbered ARGV[1] is in the journal's lists (KEYS[2]: the index), as `at` (0-based), and its
# size as `old`; nil when the journal no longer holds it.
_FIND_LUA = """
local function find(index, number)
  local first = redis.call('LINDEX', index, 0)
  if not first then return nil end
  local at = tonumber(number) - tonumber(string.match(first, '^(%d+):'))
  if at < 0 then return nil end
  local about = redis.call('LINDEX', index, at)
  if not about then return nil end
  local seq, size = string.match(about, '^(%d+):(%d+)$')
  if tonumber(seq) ~= tonumber(number) then return nil end
  return at, tonumber(size)
end
"""
# Backend.amend. KEYS: the journal's list, its index, its bytes, the amendments (a sorted set: each entry's number,
# scored by its latest amendment's), their counter. ARGV: the entry's number, the new entry, how many amendments
# to note at most.
_AMEND = _FIND_LUA + """
local at, old = find(KEYS[2], ARGV[1])
if not at then return 0 end
local size = string.len(ARGV[2])
redis.call('LSET', KEYS[1], at, ARGV[2])
redis.call('LSET', KEYS[2], at, ARGV[1] .. ':' .. size)
redis.call('INCRBY', KEYS[3], size - old)
redis.call('ZADD', KEYS[4], redis.call('INCR', KEYS[5]), ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[3]) - 1)
return 1
"""
# Backend.amendments. KEYS: the journal's list, its index, the amendments. ARGV: the amendment to list from (excluded).
_AMENDMENTS = _FIND_LUA + """
local out = {}
local noted = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'WITHSCORES')
for i = 1, #noted, 2 do
  local at = find(KEYS[2], noted[i])
  if at then
    out[#out + 1] = {tonumber(noted[i + 1]), tonumber(noted[i]), redis.call('LINDEX', KEYS[1], at)}
  end
end
return out
"""
# KEYS: values (hash), order (sorted set), sizes (hash), bytes, sequence. ARGV: key, value, max items, max bytes.
_PUT = """
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then redis.call('INCRBY', KEYS[4], -tonumber(old)) end
local size = string.len(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], size)
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[1])
local bytes = redis.call('INCRBY', KEYS[4], size)
local n = redis.call('ZCARD', KEYS[2])
while n > 1 and (n > tonumber(ARGV[3]) or bytes > tonumber(ARGV[4])) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  bytes = redis.call('INCRBY', KEYS[4], -tonumber(redis.call('HGET', KEYS[3], oldest)))
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('HDEL', KEYS[1], oldest)
  redis.call('HDEL', KEYS[3], oldest)
  n = n - 1
end
"""
_REPLACE = """
local old = redis.call('HGET', KEYS[3], ARGV[1])
if not old then return 0 end
local size = string.len(ARGV[2])
redis.call('INCRBY', KEYS[4], size - tonumber(old))
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], size)
return 1
"""
_DELETE = """
local old = redis.call('HGET', KEYS[3], ARGV[1])
if not old then return 0 end
redis.call('INCRBY', KEYS[4], -tonumber(old))
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""
_JOURNAL = [f"{PREFIX}journal", f"{PREFIX}journal-index", f"{PREFIX}journal-bytes", f"{PREFIX}journal-seq"]
_AMENDMENTS_KEY = f"{PREFIX}journal-amendments"  # see _AMEND; their counter is PREFIX + AMENDED


class RedisBackend(Backend):
    """The state in the Redis database ``redis://[:password@]host:port/db`` (``rediss://`` for TLS)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            import redis
        except ImportError:
            raise StateError(f"--state {shown_url(url)} needs the redis client library: pip install "
                             "'pytest-mockai[redis]' (or pip install redis)") from None
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._timeout = redis.TimeoutError  # waited the whole timeout: the server does not answer (see Outage)
        self._outage = Outage(url)
        self._reply_error = redis.ResponseError
        self._closed = redis.ConnectionError
        self._watch_error = redis.WatchError
        try:
            # No retries: a store that is gone must be a prompt 503, not a request held for seconds.
            self.client: Any = redis.Redis.from_url(url, socket_timeout=shared.TIMEOUT,
                                                    socket_connect_timeout=shared.TIMEOUT, retry=None,
                                                    retry_on_timeout=False, health_check_interval=0)
            self.client.ping()
        except (ValueError, redis.RedisError) as exc:
            raise StateError(f"--state {shown_url(url)}: cannot reach Redis ({exc}); start it, or check the host, "
                             "port and database number") from None
        self._no_script = redis.exceptions.NoScriptError
        self._local = threading.local()
        # Every thread's own connection (see _execute), for close(): a thread's is closed once the thread is gone.
        self._conns: dict[threading.Thread, Any] = {}
        self._conns_lock = threading.Lock()
        self._claim, self._claim_at = self._script(_CLAIM), self._script(_CLAIM_AT)
        self._occurrence, self._append = self._script(_OCCURRENCE), self._script(_APPEND)
        self._uncount, self._commit = self._script(_UNCOUNT), self._script(_COMMIT)
        self._keep_source = _KEEP
        self._keep_sha = hashlib.sha1(_KEEP.encode()).hexdigest()
        self._keep = self._script(_KEEP)
        self._async: tuple[Any, Any] | None = None  # (the event loop, its redis.asyncio client)
        self._put, self._replace, self._delete = self._script(_PUT), self._script(_REPLACE), self._script(_DELETE)
        self._amend, self._amendments = self._script(_AMEND), self._script(_AMENDMENTS)

    def _script(self, source: str) -> Callable[..., Any]:
        """A Lua script, called by its digest (``EVALSHA``; loaded again when the server lost it, after a restart).
        Cheaper than redis-py's ``Script`` objects, which inspect their arguments on every call."""
        sha = hashlib.sha1(source.encode()).hexdigest()

        def run(keys: list[str], args: list[Any]) -> Any:
            try:
                return self._execute("EVALSHA", sha, len(keys), *keys, *args)
            except self._no_script:
                self.client.script_load(source)
                return self._execute("EVALSHA", sha, len(keys), *keys, *args)

        return run

    def _execute(self, *command: Any) -> Any:
        """One command on this thread's own connection: the request path's commands skip the pool's checks,
        which cost three times the command itself. A connection that failed is dropped; one found closed (the
        server restarted since it was last used) is replaced once at once."""
        conn = getattr(self._local, "conn", None)
        fresh = conn is None
        if conn is None:
            conn = self._local.conn = self._connect()
        try:
            conn.send_command(*command)
            return conn.read_response()
        except self._errors[0] as exc:
            if isinstance(exc, self._reply_error):  # the server said no: the connection itself is fine
                raise
            conn.disconnect()
            if fresh or not isinstance(exc, self._closed):
                raise
        conn.send_command(*command)
        return conn.read_response()

    def _connect(self) -> Any:
        """A new connection for this thread; those of threads that have ended are closed."""
        conn = self.client.connection_pool.make_connection()
        with self._conns_lock:
            for thread, old in list(self._conns.items()):
                if not thread.is_alive():
                    del self._conns[thread]
                    old.disconnect()
            self._conns[threading.current_thread()] = conn
        return conn

    def _call(self, run: Callable[[], R]) -> R:
        outage = self._outage
        if outage.until:  # a call timed out lately: fail at once until it is time to try again
            outage.check()
        try:
            return run()
        except self._timeout as exc:
            raise outage.tripped(exc) from None
        except self._errors as exc:
            raise StateUnavailable(shown_url(self.url), exc) from None

    # --- counters ---------------------------------------------------------------------------------------------

    def incr(self, key: str) -> int:
        return int(self._call(lambda: self._execute("INCR", PREFIX + key)))

    def counter(self, key: str) -> int:
        value = self._call(lambda: self._execute("GET", PREFIX + key))
        return int(value) if value is not None else 0

    def claim(self, key: str, limit: int | None) -> int | None:
        if limit is None:
            return self.incr(key)
        n = int(self._call(lambda: self._claim([PREFIX + key], [limit])))
        return None if n < 0 else n

    def claim_at(self, key: str, expected: int) -> bool:
        return bool(self._call(lambda: self._claim_at([PREFIX + key], [expected])))

    def occurrence(self, space: str, key: bytes, bound: int) -> tuple[int, int]:
        n, epoch = self._call(lambda: self._occurrence([f"{PREFIX}seen:{space}", f"{PREFIX}epoch:{space}"],
                                                       [key, bound]))
        return int(n), int(epoch)

    def occurrence_if(self, counter: str, value: int, space: str, key: bytes, bound: int) -> tuple[int, int] | None:
        got = self._call(lambda: self._occurrence(
            [f"{PREFIX}seen:{space}", f"{PREFIX}epoch:{space}", PREFIX + counter], [key, bound, value]))
        return None if got is None else (int(got[0]), int(got[1]))

    def commit(self, counter: str, value: int, space: str, key: bytes, bound: int, expected: tuple[int, int],
               entry: bytes, max_items: int, max_bytes: int) -> Kept:
        got = self._call(lambda: self._commit(
            [f"{PREFIX}seen:{space}", f"{PREFIX}epoch:{space}", PREFIX + counter, *_JOURNAL],
            [key, bound, value, expected[0], expected[1], entry, max_items, max_bytes]))
        return (None, 0) if got is None else ((int(got[0]), int(got[1])), int(got[2]))

    def uncount(self, space: str, key: bytes, occurrence: int) -> bool:
        return bool(self._call(lambda: self._uncount([f"{PREFIX}seen:{space}"], [key, occurrence + 1])))

    # --- values -----------------------------------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        value = self._call(lambda: self.client.get(PREFIX + key))
        return json.loads(value) if value is not None else None

    def transact(self, key: str, update: Callable[[Any | None], tuple[Any | None, R]]) -> R:
        name = PREFIX + key
        deadline = time.monotonic() + shared.TIMEOUT

        def attempt() -> tuple[bool, R | None]:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(name)
                    raw = pipe.get(name)
                    value, result = update(json.loads(raw) if raw is not None else None)
                    pipe.multi()
                    if value is None:
                        pipe.delete(name)
                    else:
                        pipe.set(name, json.dumps(value, separators=(",", ":")))
                    pipe.execute()
                    return True, result
                except self._watch_error:  # another replica changed it meanwhile: read it again
                    return False, None

        while True:
            done, result = self._call(attempt)
            if done:
                return result  # type: ignore[return-value]  # set whenever done
            if time.monotonic() > deadline:
                raise StateUnavailable(shown_url(self.url), f"{key} kept changing under us for {shared.TIMEOUT} s")

    # --- the journal ------------------------------------------------------------------------------------------

    def append(self, entry: bytes, max_items: int, max_bytes: int) -> int:
        return int(self._call(lambda: self._append(_JOURNAL, [entry, max_items, max_bytes])))

    def _keep_call(self, items: list[Keep], max_items: int, max_bytes: int) -> tuple[list[str], list[Any]] | None:
        """The keys and arguments of the batch script for ``items``; ``None`` when their guesses differ in counter,
        space or bound (never, from one engine), which one call cannot check."""
        guesses = {(g[0], g[2], g[4]) for _, g in items if g is not None}
        if len(guesses) > 1:
            return None
        counter, space, bound = guesses.pop() if guesses else ("script-version", "ids", 0)
        args: list[Any] = [bound, max_items, max_bytes]
        for entry, guess in items:
            if guess is None:
                args += ["", "", 0, 0, entry]
            else:
                args += [guess[1], guess[3], guess[5][0], guess[5][1], entry]
        return [PREFIX + counter, f"{PREFIX}seen:{space}", f"{PREFIX}epoch:{space}", *_JOURNAL], args

    @staticmethod
    def _kept(items: list[Keep], got: list[Any]) -> list[Kept]:
        return [(None if guess is None or int(n) == -1 else (int(n), int(epoch)), int(number))
                for (_, guess), (n, epoch, number) in zip(items, got, strict=True)]

    def keep_many(self, items: list[Keep], max_items: int, max_bytes: int) -> list[Kept]:
        call = self._keep_call(items, max_items, max_bytes)
        if call is None:
            return super().keep_many(items, max_items, max_bytes)
        keys, args = call
        return self._kept(items, self._call(lambda: self._keep(keys, args)))

    async def keep_many_async(self, items: list[Keep], max_items: int, max_bytes: int) -> list[Kept]:
        import asyncio

        call = self._keep_call(items, max_items, max_bytes)
        if call is None:
            return super().keep_many(items, max_items, max_bytes)
        keys, args = call
        outage = self._outage
        if outage.until:
            outage.check()
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:  # a client belongs to the loop it was made on
            import redis.asyncio

            self._async = loop, redis.asyncio.Redis.from_url(
                self.url, socket_timeout=shared.TIMEOUT, socket_connect_timeout=shared.TIMEOUT, retry=None,
                retry_on_timeout=False, health_check_interval=0)
        client = self._async[1]

        async def run() -> Any:
            try:
                return await client.evalsha(self._keep_sha, len(keys), *keys, *args)
            except self._no_script:  # the server restarted since: it lost its scripts
                await client.script_load(self._keep_source)
                return await client.evalsha(self._keep_sha, len(keys), *keys, *args)

        try:
            try:
                got = await run()
            except self._closed:  # its connection died with a server that restarted since: once more, anew
                await client.connection_pool.disconnect()
                got = await run()
        except self._timeout as exc:
            raise outage.tripped(exc) from None
        except self._errors as exc:
            raise StateUnavailable(shown_url(self.url), exc) from None
        return self._kept(items, got)

    async def aclose(self) -> None:
        if self._async is not None:
            client, self._async = self._async[1], None
            await client.aclose()

    def entries(self, newest: int, after: int = 0) -> list[tuple[int, bytes]]:
        def read() -> tuple[list[bytes], list[bytes]]:
            pipe = self.client.pipeline(transaction=True)  # both lists as of one moment
            entries, index = pipe.lrange(_JOURNAL[0], -newest, -1).lrange(_JOURNAL[1], -newest, -1).execute()
            return entries, index

        entries, index = self._call(read)
        out = []
        for raw, about in zip(entries, index, strict=False):
            seq = int(about.partition(b":")[0])
            if seq > after:
                out.append((seq, raw))
        return out

    def amend(self, number: int, entry: bytes, max_items: int) -> bool:
        return bool(self._call(lambda: self._amend(
            [*_JOURNAL[:3], _AMENDMENTS_KEY, PREFIX + AMENDED], [number, entry, max_items])))

    def amendments(self, after: int) -> list[tuple[int, int, bytes]]:
        got = self._call(lambda: self._amendments([*_JOURNAL[:2], _AMENDMENTS_KEY], [after]))
        return [(int(n), int(number), bytes(raw)) for n, number, raw in got]

    # --- records ----------------------------------------------------------------------------------------------

    @staticmethod
    def _keys(kind: str) -> list[str]:
        base = f"{PREFIX}records:{kind}"
        return [base, base + ":order", base + ":sizes", base + ":bytes", base + ":seq"]

    def record(self, kind: str, key: str) -> str | None:
        value = self._call(lambda: self.client.hget(self._keys(kind)[0], key))
        return value.decode() if value is not None else None

    def put(self, kind: str, key: str, value: str, max_items: int, max_bytes: int) -> None:
        self._call(lambda: self._put(self._keys(kind), [key, value, max_items, max_bytes]))

    def replace(self, kind: str, key: str, value: str) -> bool:
        return bool(self._call(lambda: self._replace(self._keys(kind), [key, value])))

    def delete(self, kind: str, key: str) -> bool:
        return bool(self._call(lambda: self._delete(self._keys(kind), [key])))

    def records(self, kind: str) -> list[str]:
        values, order = self._keys(kind)[:2]

        def read() -> list[str]:
            keys = self.client.zrange(order, 0, -1)
            out: list[str] = []
            for start in range(0, len(keys), 1000):
                out.extend(v.decode() for v in self.client.hmget(values, keys[start:start + 1000]) if v is not None)
            return out

        return self._call(read)

    def count(self, kind: str) -> tuple[int, int]:
        _, order, _, total, _ = self._keys(kind)
        n, size = self._call(lambda: self.client.pipeline(transaction=False).zcard(order).get(total).execute())
        return int(n), int(size or 0)

    # --- housekeeping -----------------------------------------------------------------------------------------

    def clear(self, *names: str) -> None:
        def run() -> None:
            doomed: list[str] = []
            for name in names:
                if name == "journal":
                    doomed += [*_JOURNAL[:3], _AMENDMENTS_KEY]  # not the counters: numbers never repeat
                elif name.startswith("records:"):
                    doomed += self._keys(name[len("records:"):])[:4]
                else:
                    if name.startswith("seen:"):
                        doomed.append(f"{PREFIX}epoch:{name[len('seen:'):]}")
                    pattern = (PREFIX + name).replace("[", "\\[").replace("*", "\\*").replace("?", "\\?") + "*"
                    doomed += [k.decode() for k in self.client.scan_iter(match=pattern, count=1000)]
            if doomed:
                self.client.delete(*doomed)

        self._call(run)

    def close(self) -> None:
        self._local.conn = None
        with self._conns_lock:  # every thread's (one used again connects anew, and is closed by the next close())
            conns = list(self._conns.values())
        for conn in conns:
            conn.disconnect()
        self.client.close()
