"""One state for every worker and replica (mockai.shared): the backends' primitives on SQLite and on a real
redis-server, engines sharing a state behaving as one engine, and ``mockai serve --workers N`` on SQLite.

The Redis replicas (two ``mockai serve --state redis://…`` processes) are in test_shared_state_redis.py.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from click.testing import CliRunner
from test_cli import Served

import mockai.shared
import mockai.shared.wiring
from mockai.cli import main
from mockai.engine import Config, Engine, HTTPRequest
from mockai.shared import Backend, StateError, StateUnavailable, open_backend
from mockai.shared.wiring import SharedOccurrences, SharedScript, Sharing
from mockai.transport import EngineTransport

AUTH = {"authorization": "Bearer sk-test"}


# --- a real redis-server -------------------------------------------------------------------------------------------

def redis_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if found is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` on 127.0.0.1 and a free port, without persistence; stop() and start() it again."""

    def __init__(self) -> None:
        self.binary = redis_binary()
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--protected-mode", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server would act on SIGTERM only once continued
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        """Stop answering without refusing (SIGSTOP): the kernel still accepts connections and takes in commands,
        and nothing replies, as with a server that hangs or a firewall that drops its packets."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Answer again (SIGCONT), the commands sent meanwhile included."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture(autouse=True)
def _close_states(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every state the test's engines opened is closed after it: a connection left to the garbage collector warns
    in whichever test runs then."""
    opened: list[Backend] = []
    real = mockai.shared.wiring.open_backend

    def tracked(url: str) -> Backend:
        opened.append(real(url))
        return opened[-1]

    monkeypatch.setattr(mockai.shared.wiring, "open_backend", tracked)
    yield
    for backend in opened:
        backend.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
def backend(state_url: str) -> Iterator[Backend]:
    opened = open_backend(state_url)
    yield opened
    opened.close()


# --- the primitives ------------------------------------------------------------------------------------------------

def test_counters_claims_and_occurrences(backend: Backend) -> None:
    assert [backend.incr("n"), backend.incr("n"), backend.counter("n"), backend.counter("never")] == [1, 2, 2, 0]
    assert [backend.claim("rule", 2) for _ in range(3)] == [1, 2, None]
    assert backend.claim("none", 0) is None
    assert [backend.claim_at("queue", 0), backend.claim_at("queue", 0), backend.claim_at("queue", 1)] == [
        True, False, True]
    # Counted per key; past the bound the counts start over in a new epoch (ids then stay unique).
    seen = [backend.occurrence("ids", key, 2) for key in (b"a", b"a", b"b", b"c", b"a")]
    assert seen == [(0, 0), (1, 0), (0, 0), (0, 1), (0, 1)]
    backend.clear("seen:ids", "n")
    assert backend.occurrence("ids", b"a", 2) == (0, 0)
    assert backend.counter("n") == 0


def test_shared_occurrences_count_as_the_memory_ones_do(backend: Backend) -> None:
    """The engine's occurrence counts kept in the state: next(key, salt) and clear(), bounded the same way."""
    seen = SharedOccurrences(backend, "ids", limit=2)
    assert [seen.next(b"a" * 32), seen.next(b"a" * 32), seen.next(b"b" * 32), seen.next(b"c" * 32)] == [
        (0, 0), (1, 0), (0, 0), (0, 1)]
    assert seen.next(b"c" * 32, b"s") == (0, 1), "the salt makes another key"
    other = SharedOccurrences(backend, "ids", limit=2)  # another process, the same counts
    assert other.next(b"c" * 32) == (1, 1)
    seen.clear()
    assert other.next(b"c" * 32) == (0, 0)


def test_occurrences_counted_only_while_a_counter_reads_a_value(backend: Backend) -> None:
    """occurrence_if: the script's check and the occurrence count in one atomic step; uncount takes a count back."""
    assert backend.occurrence_if("version", 0, "ids", b"a", 100) == (0, 0), "a counter never counted reads 0"
    backend.incr("version")
    assert backend.occurrence_if("version", 0, "ids", b"a", 100) is None, "moved: nothing counted"
    assert backend.occurrence_if("version", 1, "ids", b"a", 100) == (1, 0)
    assert backend.occurrence("ids", b"a", 100) == (2, 0), "the same counts as occurrence()"
    assert backend.uncount("ids", b"a", 2) is True
    assert backend.uncount("ids", b"a", 0) is False, "counted again since (twice): not taken back"
    assert backend.occurrence("ids", b"a", 100) == (2, 0), "the count taken back is given again"
    assert backend.uncount("ids", b"never", 0) is False
    seen = [backend.occurrence_if("version", 1, "small", key, 2) for key in (b"a", b"b", b"c", b"a")]
    assert seen == [(0, 0), (0, 0), (0, 1), (0, 1)], "bounded as occurrence() is: a new epoch past the bound"


def test_a_count_made_ahead_is_given_once_or_taken_back(backend: Backend) -> None:
    """SharedOccurrences.ahead: the request's own question answered early, handed over once; settle() takes back
    one never asked for; a counter that moved counts nothing."""
    seen, other = SharedOccurrences(backend, "ids"), SharedOccurrences(backend, "ids")
    assert seen.ahead(lambda: seen.next(b"k" * 32, b"j"), "version", 0) is True
    assert other.next(b"k" * 32, b"j") == (1, 0), "counted at once, for every process"
    assert seen.next(b"k" * 32, b"j") == (0, 0), "the request's own question gets the answer counted ahead"
    assert seen.next(b"k" * 32, b"j") == (2, 0), "once"
    assert seen.ahead(lambda: seen.next(b"u" * 32), "version", 0) is True
    seen.settle()  # the request ended without asking: taken back
    assert other.next(b"u" * 32) == (0, 0)
    backend.incr("version")
    assert seen.ahead(lambda: seen.next(b"m" * 32), "version", 0) is False
    assert seen.ahead(lambda: None, "version", 1) is False, "never asked: nothing counted, so no check made"
    assert other.next(b"m" * 32) == (0, 0), "nothing was counted while the counter read another value"


def test_keep_many_keeps_each_call_as_commit_and_append_would(backend: Backend) -> None:
    """A batch (the socket door's round trip): plain entries are appended, a right guess is counted and appended, a
    wrong one counted and not appended, and one made under a moved counter neither; in order, in one step. Each
    kept entry's number comes back (0: not kept)."""
    import asyncio

    backend.incr("version")
    batch: list[Any] = [
        (b"plain", None),
        (b"right", ("version", 1, "ids", b"k", 100, (0, 0))),
        (b"wrong", ("version", 1, "ids", b"k", 100, (0, 0))),  # k was counted once by now: its count is 1
        (b"moved", ("version", 0, "ids", b"m", 100, (0, 0))),
    ]
    assert backend.keep_many(batch, 10, 10_000) == [(None, 1), ((0, 0), 2), ((1, 0), 0), (None, 0)]
    assert [e for _, e in backend.entries(10)] == [b"plain", b"right"]
    async def later() -> list[Any]:
        try:
            return await backend.keep_many_async([(b"later", ("version", 1, "ids", b"k", 100, (2, 0)))], 10, 10_000)
        finally:
            await backend.aclose()

    assert asyncio.run(later()) == [((2, 0), 3)]
    assert [e for _, e in backend.entries(10)] == [b"plain", b"right", b"later"]
    assert backend.occurrence("ids", b"m", 100) == (0, 0), "nothing was counted under the moved counter"


def test_transact_replaces_and_deletes(backend: Backend) -> None:
    assert backend.transact("v", lambda v: ({"n": 1}, v)) is None
    assert backend.transact("v", lambda v: ({"n": v["n"] + 1}, v["n"])) == 1
    assert backend.get("v") == {"n": 2}
    assert backend.transact("v", lambda v: (None, "gone")) == "gone"
    assert backend.get("v") is None
    with pytest.raises(ValueError, match="nope"):  # a failing update changes nothing
        backend.transact("w", lambda v: (_ for _ in ()).throw(ValueError("nope")))
    assert backend.get("w") is None


def test_the_journal_keeps_the_newest_within_its_bounds(backend: Backend) -> None:
    for i in range(200):
        backend.append(b"entry %03d" % i, 50, 10_000)
    assert backend.entries(50)[-1] == (200, b"entry 199")
    assert backend.entries(50) == [(i + 1, b"entry %03d" % i) for i in range(150, 200)]
    assert backend.entries(50, after=197) == [(198, b"entry 197"), (199, b"entry 198"), (200, b"entry 199")]
    if hasattr(backend, "trim"):  # SQLite trims every 64 appends: at most that many past the bound
        backend.trim(50, 10_000)
    assert len(backend.entries(1000)) == 50
    for i in range(20):  # 100 bytes each, 1,000 bytes at most: ten stay; one larger than that stays alone
        backend.append(b"x" * 99 + b"%d" % (i % 10), 1000, 1000)
    if hasattr(backend, "trim"):
        backend.trim(1000, 1000)
    assert sum(len(e) for _, e in backend.entries(1000)) <= 1000
    backend.append(b"y" * 5000, 1000, 1000)
    assert [e for _, e in backend.entries(1000)] == [b"y" * 5000]
    backend.clear("journal")
    assert backend.entries(10) == []
    backend.clear("journal")  # emptied twice: still no number repeats
    backend.append(b"after", 10, 1000)
    assert backend.entries(10) == [(222, b"after")], "numbers never repeat, even after the journal is emptied"
    for i in range(100):  # 100 bytes each, over a 1,000-byte bound for most of the run: trimmed to it
        backend.append(b"z" * 99 + b"%d" % (i % 10), 1000, 1000)
    if hasattr(backend, "trim"):
        backend.trim(1000, 1000)
    kept = backend.entries(1000)
    assert 9 <= len(kept) <= 10, "(Redis counts each number's bytes too)"
    assert all(e.startswith(b"z") for _, e in kept)
    assert kept[-1][0] == 322


def test_records_are_bounded_oldest_first(backend: Backend) -> None:
    for i in range(5):
        backend.put("response", f"resp_{i}", json.dumps({"n": i}), 3, 10_000)
    assert [json.loads(r)["n"] for r in backend.records("response")] == [2, 3, 4]
    assert backend.record("response", "resp_1") is None
    assert backend.replace("response", "resp_2", '{"n": 20}') is True  # its age unchanged
    assert backend.replace("response", "resp_9", "{}") is False
    backend.put("response", "resp_5", "{}", 3, 10_000)
    assert backend.record("response", "resp_2") is None, "resp_2 was still the oldest"
    assert backend.delete("response", "resp_3") is True
    assert backend.delete("response", "resp_3") is False
    assert backend.count("response") == (2, len('{"n": 4}') + 2)
    backend.put("response", "big", "x" * 500, 10, 100)  # larger than the byte bound: kept, alone
    assert backend.records("response") == ["x" * 500]
    assert backend.count("conversation") == (0, 0)
    backend.clear("records:response")
    assert backend.records("response") == []


def _contend(url: str, rounds: int) -> list[Any]:
    """One process's share of the contention test: transactions, claims and queue claims on ``url``."""
    backend = open_backend(url)
    claimed, queued = [], []
    for _ in range(rounds):
        backend.transact("sum", lambda v: ((v or 0) + 1, None))
        n = backend.claim("limited", 37)
        if n is not None:
            claimed.append(n)
        while True:
            used = backend.counter("queue")
            if used >= 60 or backend.claim_at("queue", used):
                break
        if used < 60:
            queued.append(used)
    backend.close()
    return [claimed, queued]


def test_updates_are_atomic_across_processes(state_url: str) -> None:
    """Four processes at once: no transaction lost, a limit of 37 admits 37, each queued item is claimed once."""
    open_backend(state_url).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(_contend, [(state_url, 25)] * 4)
    backend = open_backend(state_url)
    assert backend.get("sum") == 100
    backend.close()
    claimed = sorted(n for c, _ in results for n in c)
    assert claimed == list(range(1, 38))
    queued = sorted(n for _, q in results for n in q)
    assert queued == list(range(60))


def test_unusable_state_urls_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="unsupported; use sqlite:///PATH or redis://HOST:PORT/DB"):
        open_backend("memcached://x")
    with pytest.raises(StateError, match=r"cannot use .*no-such-dir.*must exist and be writable"):
        open_backend(f"sqlite:///{tmp_path / 'no-such-dir' / 'state.db'}")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(StateError, match=r"holds another version's state \(format 7, this mockai writes format 2\)"):
        open_backend(f"sqlite:///{other}")
    older = tmp_path / "older.db"  # format 1: the journal counted its bytes with triggers and AUTOINCREMENT
    with sqlite3.connect(older) as db:
        db.execute("PRAGMA user_version = 1")
    with pytest.raises(StateError, match=r"format 1, this mockai writes format 2\); name a new file"):
        open_backend(f"sqlite:///{older}")
    started = time.monotonic()
    with pytest.raises(StateError, match=r"cannot reach Redis .*start it, or check the host"):
        open_backend(f"redis://127.0.0.1:{free_port()}/0")
    assert time.monotonic() - started < 5


# --- engines sharing a state behave as one engine -------------------------------------------------------------------

def chat(engine: Engine, content: str = "Hi", **extra: Any) -> Any:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}
    return engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers=AUTH, body=json.dumps(body).encode()))


def control(engine: Engine, method: str, action: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    return engine.handle(HTTPRequest(method, f"/_mockai/{action}", headers={}, body=data)).json()


def pair(url: str, **config: Any) -> tuple[Engine, Engine]:
    return Engine(Config(state=url, **config)), Engine(Config(state=url, **config))


def test_scripted_replies_are_served_once_across_engines(state_url: str) -> None:
    a, b = pair(state_url)
    assert isinstance(a.script, SharedScript)
    created = control(a, "POST", "rules", {
        "rules": [{"match": {"last_user": "weather"}, "replies": ["first", "second", "third"]},
                  {"match": {"last_user": "twice"}, "reply": "yes", "times": 2}],
        "queue": ["q1", "q2", "q3"]})
    assert created == {"rules": 2, "queued": 3}
    assert control(b, "GET", "health", None)["queued"] == 3, "the other engine sees them at once"
    weather = [chat(e, "weather?").json()["choices"][0]["message"]["content"] for e in (b, a, b, a)]
    assert weather == ["first", "second", "third", "q1"], "a sequence goes on across engines, in order; then the queue"
    twice = [chat(e, "twice").json()["choices"][0]["message"]["content"] for e in (a, b, a)]
    assert twice == ["yes", "yes", "q2"]
    queued = [chat(e).json()["choices"][0]["message"]["content"] for e in (b, a)]
    assert queued[0] == "q3"
    assert queued[1] not in ("q1", "q2", "q3"), "each queued reply is served once"
    listed = control(a, "GET", "rules")
    assert [r["call_count"] for r in listed["rules"]] == [3, 2]
    assert listed["queued"] == 0
    assert listed["unused"] == []
    control(b, "DELETE", "rules")
    assert control(a, "GET", "health")["rules"] == 0


def test_an_ordinary_request_costs_one_operation_and_still_sees_a_new_script(state_url: str) -> None:
    """A generated reply with nothing scripted: its ids come from a guessed count, and one operation asks whether
    the script changed, counts the ids' occurrence and, the guess being right, appends to the journal. A reply
    scripted meanwhile through another engine is still served at the next request (the guess is found out and the
    request answered again), and the counts stay those of one engine."""
    a, b = pair(state_url, seed=3, clock=1_700_000_000)
    one = Engine(Config(seed=3, clock=1_700_000_000))
    used: list[str] = []
    backend = b.shared.backend

    def spied(name: str) -> Any:
        real = getattr(backend, name)

        def spy(*args: Any) -> Any:
            used.append(name)
            return real(*args)
        return spy

    for name in ("counter", "occurrence", "occurrence_if", "commit", "append", "get", "incr", "uncount"):
        setattr(backend, name, spied(name))
    assert chat(b, "first").status == 200  # (the first look at the script reads it)
    used.clear()
    assert chat(b, "Hi").body == chat(one, "Hi").body
    assert used == ["commit"]
    control(a, "POST", "rules", {"rules": [{"match": {"last_user": "weather"}, "reply": "Sunny"}],
                                 "queue": ["Queued"]})
    assert chat(b, "weather?").json()["choices"][0]["message"]["content"] == "Sunny"
    assert chat(b, "Hi").json()["choices"][0]["message"]["content"] == "Queued"
    chat(one, "Hi")  # (its twin in one engine: its ids counted too)
    control(a, "DELETE", "rules")
    used.clear()
    assert [chat(b, "Hi").body for _ in range(2)] == [chat(one, "Hi").body for _ in range(2)], (
        "the ids count on where they were")
    assert used[-1:] == ["commit"]
    control(a, "POST", "rules", {"queue": ["Once"]})
    assert chat(b, "Hi").json()["choices"][0]["message"]["content"] == "Once"  # b rebuilt its script: a queue
    control(a, "POST", "rules", {"queue": ["Twice"]})
    assert chat(b, "Hi").json()["choices"][0]["message"]["content"] == "Twice"
    control(a, "POST", "rules", {"queue": []})  # a new version for b to see, its queue all served by now
    assert chat(a, "Hi").json()["choices"][0]["message"]["content"] not in ("Once", "Twice")
    chat(b, "Hi")
    used.clear()
    chat(b, "Hi")
    assert used == ["commit"], "a queue served to the end no longer costs a look per request"


def test_a_request_that_ends_without_ids_counts_no_occurrence(state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its count was made ahead (with the script's check) and is taken back at its end: the next identical request
    gets the ids one engine gives it."""
    from mockai.errors import APIError

    shared = Engine(Config(state=state_url, seed=5))
    one = Engine(Config(seed=5))
    assert chat(shared, "warm up").status == 200
    with monkeypatch.context() as patch:
        patch.setattr(shared, "generate", lambda ex: (_ for _ in ()).throw(APIError(400, "no reply today")))
        assert chat(shared, "Hi").status == 400
    assert chat(shared, "Hi").body == chat(one, "Hi").body


def test_the_journal_lists_every_engines_calls(state_url: str) -> None:
    a, b = pair(state_url)
    for engine, text in ((a, "one"), (b, "two"), (a, "three")):
        assert chat(engine, text).status == 200
    b.handle(HTTPRequest("GET", "/v1/models", headers={}))  # a 401: errors are calls too
    calls = control(b, "GET", "calls")["data"]
    assert [c["request"]["messages"][0]["content"] for c in calls[:3]] == ["one", "two", "three"]
    assert [c["status"] for c in calls] == [200, 200, 200, 401]
    assert calls[0]["response"]["object"] == "chat.completion"
    assert control(a, "GET", "health")["calls"] == 4
    control(a, "DELETE", "calls")
    assert control(b, "GET", "calls")["data"] == []


def test_a_long_entry_is_kept_compressed_and_read_back_as_sent(state_url: str) -> None:
    """A stream's events repeat each chunk's id, model and fingerprint: its entry is kept compressed, and the
    journal shows every event exactly as it was sent; a short entry is kept as it is."""
    from mockai.shared.wiring import COMPRESS_FROM

    engine = Engine(Config(state=state_url))
    streamed = chat(engine, "Write two sentences about lighthouses.", stream=True)
    plain = chat(engine, "Hi")
    raw = [entry for _, entry in engine.shared.backend.entries(10)]
    assert raw[0][:1] == b"x", "compressed"
    assert len(raw[0]) < COMPRESS_FROM < len(b"".join(streamed.events)), "to a fraction of its size"
    assert raw[1][:1] == b"[", "a short entry is kept as it is"
    calls = control(engine, "GET", "calls")["data"]
    assert calls[0]["events"] == [e.decode().strip() for e in streamed.events]
    assert calls[1]["response"] == plain.json()


def test_engines_sharing_a_state_answer_as_one_engine_does(state_url: str) -> None:
    """Ids (from how often a request was seen), the fault schedule and conversation ids: alternating between two
    engines gives exactly what one in-memory engine gives, so a run repeats byte for byte."""
    options: dict[str, Any] = {"seed": 4, "clock": 1_700_000_000, "faults": "500:0.3"}
    one = Engine(Config(**options))
    a, b = pair(state_url, **options)
    asked = ["Hi", "Hi", "Other", "Hi", "Other", "Hi", "Hi", "Hi"]
    alone = [chat(one, text) for text in asked]
    shared = [chat(a if i % 2 else b, text) for i, text in enumerate(asked)]
    assert [r.status for r in shared] == [r.status for r in alone]
    assert {r.status for r in alone} == {200, 500}, "the schedule faulted some, not all"
    assert [r.body for r in shared] == [r.body for r in alone]
    ids = [r.json()["id"] for r in shared if r.status == 200]
    assert len(set(ids)) == len(ids)
    conversation = HTTPRequest("POST", "/v1/conversations", headers=AUTH, body=b"{}")
    assert [e.handle(conversation).json()["id"] for e in (a, b)] == [one.handle(conversation).json()["id"]
                                                                     for _ in range(2)]


def test_guessed_ids_found_wrong_are_answered_again_as_one_engine_answers(state_url: str) -> None:
    """Each engine guesses a request's count from what it last learnt; when the other engine counted the same
    request meanwhile the guess is wrong, nothing is kept, and the request is answered again with the count the
    state made. From then on that request's count is asked, not guessed: one wrong guess per engine and request."""
    one = Engine(Config(seed=6, clock=1_700_000_000))
    a, b = pair(state_url, seed=6, clock=1_700_000_000)
    for engine in (a, b):
        assert chat(engine, "warm up").status == 200
    used: list[str] = []
    for engine in (a, b):
        backend = engine.shared.backend
        for name in ("occurrence_if", "commit", "append", "uncount"):
            real = getattr(backend, name)
            setattr(backend, name, lambda *args, _real=real, _name=name: used.append(_name) or _real(*args))
    asked = [(a, "Same", False), (b, "Same", False), (b, "Same", True), (a, "Same", False), (b, "Same", False),
             (a, "Same", True), (a, "Other", False), (a, "Other", False)]
    costs = []
    shared, alone = [], []
    for engine, text, stream in asked:
        used.clear()
        shared.append(chat(engine, text, stream=stream))
        costs.append(list(used))
        alone.append(chat(one, text, stream=stream))
    assert [r.status for r in shared] == [200] * len(asked)
    assert [r.content() for r in shared] == [r.content() for r in alone]
    assert costs == [
        ["commit"],  # a: new to everyone, guessed right
        ["commit", "append"],  # b: guessed 0, a had counted it: answered again with 1, then kept
        ["commit"],  # b, as a stream (counted apart): new
        ["commit", "append"],  # a: guessed 1, b had counted 2: the key is the engines' shared from now on
        ["occurrence_if", "append"],  # b: asked, as b was wrong about it once
        ["commit", "append"],  # a's stream: guessed 0, b had counted it
        ["commit"], ["commit"],  # a request only a asks: guessed right each time
    ]
    assert len(a.shared.calls()) == 2 + len(asked), "each call kept once, whatever was guessed"


def test_a_guess_is_checked_before_the_request_uses_the_state_otherwise(state_url: str) -> None:
    """A Responses API request stores its response: before the state is used for that, the guessed count is
    checked. The engine that guessed wrong answers again, so what it stores carries the ids one engine gives."""
    one = Engine(Config(seed=7, clock=1_700_000_000))
    a, b = pair(state_url, seed=7, clock=1_700_000_000)

    def respond(engine: Engine) -> Any:
        body = {"model": "gpt-4o-mini", "input": "Store me"}
        return engine.handle(HTTPRequest("POST", "/v1/responses", headers=AUTH, body=json.dumps(body).encode()))

    shared = [respond(e).json() for e in (a, b, a)]
    alone = [respond(one).json() for _ in range(3)]
    assert [r["id"] for r in shared] == [r["id"] for r in alone]
    assert len({r["id"] for r in shared}) == 3
    for r in shared:  # every one stored, under the id it was answered with, and reachable from both
        got = [e.handle(HTTPRequest("GET", f"/v1/responses/{r['id']}", headers=AUTH)) for e in (a, b)]
        assert [g.status for g in got] == [200, 200]
        assert got[0].json()["output"] == r["output"]
    assert a.shared.backend.count("response")[0] == 3, "no response stored under a guessed id that was wrong"


def test_a_guessed_epoch_follows_the_state(backend: Backend) -> None:
    """When another process started the counts over (a new epoch), a guess in the old one is wrong once: the
    process learns the new epoch and guesses in it after that."""
    seen, other = SharedOccurrences(backend, "ids", limit=2), SharedOccurrences(backend, "ids", limit=2)
    assert seen.ahead(lambda: seen.next(b"a" * 32), "v", 0, guess=True)
    assert seen.next(b"a" * 32) == (0, 0)
    pending = seen.take_pending()
    assert pending is not None
    assert backend.commit("v", 0, "ids", pending[0], 2, pending[1], b"entry", 10, 1000) == ((0, 0), 1)
    seen.learn(pending[0], pending[1])
    for key in (b"b", b"c", b"d"):  # the other process fills the counts past their bound: a new epoch
        other.next(key * 32)
    assert seen.ahead(lambda: seen.next(b"a" * 32), "v", 0, guess=True)
    assert seen.next(b"a" * 32) == (1, 0), "guessed from what it knew"
    key, guess, _ = seen.take_pending() or (b"", (0, 0), None)
    got, number = backend.commit("v", 0, "ids", key, 2, guess, b"entry", 10, 1000)
    assert got is not None
    assert number == 0, "not kept"
    assert got[1] > 0, "counted in the new epoch"
    assert got != guess
    seen.missed(key, guess, got)
    assert seen.ahead(lambda: None, "v", 0, guess=True), "answered again: the count made is handed over"
    assert seen.next(b"a" * 32) == got
    seen.settle()
    assert seen.ahead(lambda: seen.next(b"z" * 32), "v", 0, guess=True)
    assert seen.next(b"z" * 32) == (0, got[1]), "a new key is guessed in the epoch learnt"


def test_rate_limits_are_global(state_url: str) -> None:
    a, b = pair(state_url, rpm=3, clock=1_700_000_000)
    statuses = [chat(e).status for e in (a, b, a, b, a)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = chat(b)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    control(a, "POST", "reset")
    assert chat(b).status == 200


def test_stored_responses_continue_on_another_engine(state_url: str) -> None:
    a, b = pair(state_url)
    sdk_a = openai.OpenAI(api_key="sk-test", base_url="http://mockai/v1", max_retries=0,
                          http_client=httpx.Client(transport=EngineTransport(a)))
    sdk_b = openai.OpenAI(api_key="sk-test", base_url="http://mockai/v1", max_retries=0,
                          http_client=httpx.Client(transport=EngineTransport(b)))
    first = sdk_a.responses.create(model="gpt-4o-mini", input="Remember the word teal.")
    follow = sdk_b.responses.create(model="gpt-4o-mini", input="Which word?", previous_response_id=first.id)
    assert follow.previous_response_id == first.id
    assert sdk_b.responses.retrieve(first.id).output_text == first.output_text
    items = sdk_a.responses.input_items.list(follow.id)
    assert [i.content[0].text for i in items.data if i.type == "message" and i.role == "user"][:1] == ["Which word?"]
    stored = sdk_a.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Keep"}],
                                           store=True)
    assert sdk_b.chat.completions.retrieve(stored.id).id == stored.id
    sdk_b.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        sdk_a.responses.retrieve(first.id)


def test_cassette_playback_goes_on_across_engines(tmp_path: Path) -> None:
    """Two recordings of one request: the first engine replays the first, the other the second, then a miss."""
    from test_cassettes import interaction

    from mockai.cassettes.store import save

    path = tmp_path / "twice.json"
    save(path, [interaction("Hi", "First recording.", rid="chatcmpl-1"),
                interaction("Hi", "Second recording.", rid="chatcmpl-2")])
    a, b = pair(f"sqlite:///{tmp_path / 'state.db'}", cassette=str(path), replay_speed=0)
    answers = [chat(e) for e in (b, a, b)]
    assert [r.json()["choices"][0]["message"]["content"] for r in answers[:2]] == [
        "First recording.", "Second recording."]
    assert answers[2].status == 400
    assert answers[2].json()["error"]["code"] == "cassette_miss"
    control(a, "POST", "reset")  # playback starts over, for both
    assert chat(a).json()["choices"][0]["message"]["content"] == "First recording."


def test_a_state_that_fails_at_run_time_is_a_503_and_the_call_is_kept_locally(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = Engine(Config(state=url))
    assert chat(engine).status == 200
    with sqlite3.connect(tmp_path / "state.db") as db:  # the journal can no longer be written
        db.execute("DROP TABLE journal")
    res = chat(engine, "After")
    assert res.status == 503
    error = res.json()["error"]
    assert error["code"] == "state_unavailable"
    assert error["type"] == "server_error"
    assert "no such table: journal" in error["message"]
    assert res.headers["x-should-retry"] == "true"
    assert engine.calls.last.response.status == 503, "what was answered is what the journal says"
    with sqlite3.connect(tmp_path / "state.db") as db:  # ids can no longer be counted: 503 before any reply
        db.execute("DROP TABLE seen")
    assert chat(engine, "Third").status == 503


@contextlib.contextmanager
def not_answering(url: str, request: pytest.FixtureRequest) -> Iterator[None]:
    """The store at ``url`` stops answering without refusing: its redis-server is stopped (SIGSTOP), or another
    connection (as another process would) holds the SQLite file's write lock."""
    if url.startswith("redis"):
        server: RedisServer = request.getfixturevalue("redis_server")
        server.pause()
        try:
            yield
        finally:
            server.resume()
        return
    locker = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def test_a_store_that_stops_answering_costs_a_request_one_timeout_in_all(
        state_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request makes several operations on the state (its count and journal entry, a stored response, the 503's
    request id). When the store stops answering, the first of them waits TIMEOUT; the rest, and every other
    request's for BACKOFF seconds after it, fail at once: each request gets its 503 after one timeout at most,
    requests answered together included, not one timeout per operation. Once the store answers, so do requests."""
    import asyncio

    timeout = 1.0  # an operation that waits twice as long fails below
    monkeypatch.setattr(mockai.shared, "TIMEOUT", timeout)  # read when the backend's connections are made
    engine = Engine(Config(state=state_url))
    sharing = engine.shared
    assert isinstance(sharing, Sharing)
    assert chat(engine, "Before").status == 200
    respond = HTTPRequest("POST", "/v1/responses", headers=AUTH, body=b'{"model": "gpt-4o-mini", "input": "Hi"}')

    async def together(n: int) -> list[Any]:
        try:
            return await asyncio.gather(*(engine.handle_async(HTTPRequest(
                "POST", "/v1/chat/completions", headers=AUTH, body=json.dumps(
                    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Together {i}"}]}).encode()))
                for i in range(n)))
        finally:
            await sharing.backend.aclose()

    with not_answering(state_url, request):
        waited = []
        for ask in (lambda: chat(engine, "During"), lambda: engine.handle(respond), lambda: chat(engine, "Again")):
            started = time.monotonic()
            res = ask()
            waited.append(time.monotonic() - started)
            assert res.status == 503
            assert res.json()["error"]["code"] == "state_unavailable"
        assert waited[0] < timeout + 0.5, f"{waited[0]:.2f} s: one timeout, not one for each operation"
        assert sum(waited[1:]) < 0.5, f"{waited}: after it, the requests failed at once"
        time.sleep(mockai.shared.BACKOFF + 0.1)  # past the back-off: the store is tried again, and still silent
        started = time.monotonic()
        answers = asyncio.run(together(8))
        took = time.monotonic() - started
        assert [a.status for a in answers] == [503] * 8
        assert took < timeout + 0.5, f"{took:.2f} s for 8 requests answered together: one timeout for them all"
        message = answers[-1].json()["error"]["message"]
        assert f"waited {timeout:g} s in vain" in message
        assert "then the store is tried again" in message
    deadline = time.monotonic() + mockai.shared.BACKOFF + 2
    while (res := chat(engine, "After")).status != 200:  # answered 503 at once until the back-off is over
        assert res.json()["error"]["code"] == "state_unavailable"
        assert time.monotonic() < deadline, "the store answers again, requests did not"
        time.sleep(0.05)
    assert engine.handle(respond).status == 200
    assert chat(engine, "Before").status == 200
    sharing.backend.close()


def test_one_process_keeps_its_memory_objects() -> None:
    engine = Engine()
    assert engine.shared is None
    assert type(engine.script).__name__ == "Script"
    assert type(engine.responses.store).__name__ == "Store"
    assert engine.rate_limiter.shared is None


def test_shared_engines_hook_every_structure(tmp_path: Path) -> None:
    engine = Engine(Config(state=f"sqlite:///{tmp_path / 's.db'}", rpm=5))
    assert isinstance(engine.shared, Sharing)
    assert type(engine.responses.store).__name__ == "SharedStore"
    assert type(engine.conversations.store).__name__ == "SharedStore"
    assert type(engine.chat.stored.store).__name__ == "SharedStore"
    assert engine.rate_limiter.shared is engine.shared.guarded  # the state, behind the check of guessed ids
    assert all(getattr(hook, "__self__", None).__class__.__name__ != "Store" for hook in engine.on_reset)


def test_a_state_unavailable_error_is_an_api_error() -> None:
    err = StateUnavailable("redis://x:1/0", "Connection refused")
    assert err.status == 503
    assert err.envelope()["error"]["message"].startswith("mockai's shared state (redis://x:1/0) is unavailable")


# --- mockai serve --workers N ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def serving(*args: str) -> Iterator[Served]:
    """``mockai serve --port 0 ARGS``, stopped with SIGTERM at the end (its workers with it: a SIGKILL of the
    supervisor would leave them running)."""
    served = Served("--log-level", "warning", *args)
    try:
        deadline = time.monotonic() + 60  # up: on a loaded machine workers may take seconds to start
        while True:
            try:
                httpx.get(served.base_url + "/models", headers=AUTH, timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "mockai serve did not answer"
                time.sleep(0.05)
        yield served
    finally:
        if served.proc.poll() is None:
            served.stop()


def _served_chat(served: Served, content: str) -> tuple[int, Any]:
    return served.chat(content, retry_for=10)


def ask_control(served: Served, method: str, action: str, body: Any = None) -> tuple[int, Any]:
    """``METHOD /_mockai/ACTION`` on a served process."""
    url = served.base_url.removesuffix("/v1") + "/_mockai/" + action
    res = httpx.request(method, url, json=body, timeout=10)
    return res.status_code, res.json()


def test_workers_share_one_state(tmp_path: Path) -> None:
    with serving("--workers", "2", "--freeze-time", "1") as served:
        announced = "".join(served.announced)
        assert "2 workers, state sqlite:///" in announced
        assert "/_mockai/" in announced, "the control API is on with workers"
        served.chat(retry_for=10)
        status, _ = ask_control(served, "POST", "rules", {"queue": ["only once"], "rules": [
            {"match": {"last_user": "limited"}, "reply": "R", "times": 3}]})
        assert status == 201
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda i: _served_chat(served, "limited" if i % 2 else "Hi"), range(40)))
        contents = [body["choices"][0]["message"]["content"] for _, body in replies]
        assert contents.count("only once") == 1
        assert contents.count("R") == 3
        _, calls = ask_control(served, "GET", "calls")
        chats = [c for c in calls["data"] if c["route"] == "chat"]
        assert len(chats) == 41
        workers = {c["worker"] for c in chats}
        for _ in range(200):  # the kernel hands connections to either process: both show up soon enough
            if len(workers) == 2:
                break
            served.chat("more")
            _, calls = ask_control(served, "GET", "calls")
            workers = {c["worker"] for c in calls["data"]}
        assert len(workers) == 2, "the journal lists every worker's calls"
        _, rules = ask_control(served, "GET", "rules")
        assert rules["rules"][0]["call_count"] == 3
        code, _, _ = served.stop()
        assert code == 0


def test_ids_repeat_across_runs_with_workers() -> None:
    runs = []
    for _ in range(2):
        with serving("--workers", "2", "--freeze-time", "1") as served:
            runs.append([served.chat(text, retry_for=10)[1]["id"] for text in ["Hi", "Hi", "Yo", "Hi"] * 3])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 12


def test_workers_admit_no_more_than_the_limit() -> None:
    with serving("--workers", "3", "--rpm", "10", "--freeze-time", "1") as served:
        served.chat(retry_for=10)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: served.chat()[0], range(30)))
        assert statuses.count(200) == 9
        assert statuses.count(429) == 21


def test_a_restart_on_the_same_state_file_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    with serving("--workers", "2", "--state", url) as served:
        served.chat(retry_for=10)
        with openai.OpenAI(api_key="sk-test", base_url=served.base_url, max_retries=0) as sdk:
            first = sdk.responses.create(model="gpt-4o-mini", input="Remember teal.")
        assert served.stop()[0] == 0
    with serving("--workers", "2", "--state", url) as again:
        again.chat(retry_for=10)
        with openai.OpenAI(api_key="sk-test", base_url=again.base_url, max_retries=0) as sdk:
            follow = sdk.responses.create(model="gpt-4o-mini", input="Which?", previous_response_id=first.id)
            assert follow.previous_response_id == first.id
            assert sdk.responses.retrieve(first.id).output_text == first.output_text
    assert (tmp_path / "kept.db").exists(), "a named state file stays"


def test_the_temporary_state_is_removed_however_soon_the_server_is_stopped() -> None:
    """``--workers N``'s temporary state folder goes with the server, even when SIGTERM comes the moment the server
    is announced (before its supervisor handles signals), and when it comes after requests were answered."""
    import re

    for answer_first in (False, True):
        served = Served("--log-level", "warning", "--workers", "2")
        announced = "".join(served.announced)
        found = re.search(r"state sqlite:///(\S+)/state\.db", announced)
        assert found is not None, announced
        folder = Path(found.group(1))
        assert folder.is_dir()
        if answer_first:
            assert served.chat(retry_for=30)[0] == 200
        code, _, err = served.stop()
        assert code == 0, err
        assert not folder.exists(), f"left behind: {folder}"


def test_a_state_that_cannot_be_used_is_a_usage_error(tmp_path: Path) -> None:
    bad = f"sqlite:///{tmp_path / 'missing' / 'state.db'}"
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--workers", "2", "--state", bad])
    assert result.exit_code == 2
    assert "Invalid value for '--state'" in result.output
    assert "must exist and be writable" in result.output
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--state", f"redis://127.0.0.1:{free_port()}/0"])
    assert result.exit_code == 2
    assert "cannot reach Redis" in result.output
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--state", "postgres://db/x"])
    assert result.exit_code == 2
    assert "use sqlite:///PATH or redis://HOST:PORT/DB" in result.output


def test_the_inspector_feed_shows_every_workers_calls() -> None:
    with serving("--workers", "2", "--freeze-time", "1") as served:
        served.chat(retry_for=10)
        ask_control(served, "DELETE", "calls")
        root = served.base_url.removesuffix("/v1")
        events: list[tuple[str, Any]] = []
        with httpx.stream("GET", root + "/_mockai/events", timeout=20) as feed:
            lines = feed.iter_lines()

            def read_until(count: int) -> None:
                kind = None
                for line in lines:
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind is not None:
                        events.append((kind, json.loads(line[6:])))
                        kind = None
                        if sum(k == "call" for k, _ in events) >= count:
                            return

            workers: set[int] = set()
            sent = 0
            with ThreadPoolExecutor(8) as pool:
                while len(workers) < 2 and sent < 400:  # until both workers answered some
                    list(pool.map(lambda i: served.chat(f"feed {i}"), range(sent, sent + 20)))
                    sent += 20
                    workers = {c["worker"] for c in ask_control(served, "GET", "calls")[1]["data"]}
            assert len(workers) == 2
            read_until(sent)
            _, listed = ask_control(served, "GET", "calls")
        calls = [view for kind, view in events if kind == "call"]
        assert events[0][0] == "clear"
        assert len(calls) == sent, "one page shows the calls of every worker"
        assert sorted(int(v["request"]["body"]["messages"][0]["content"].split()[1]) for v in calls) == list(
            range(sent))
        assert all(v["status"] == 200 and v["by"] == "generator" for v in calls)
        seqs = [v["seq"] for v in calls]
        assert seqs == sorted(set(seqs)), "numbered once for every worker, in the journal's order"
        assert seqs == [c["seq"] for c in listed["data"]][-sent:], "as GET /_mockai/calls numbers them"
        assert calls[0]["transcript"].startswith(f"#{seqs[0]} POST /v1/chat/completions model=gpt-4o-mini")


def test_workers_load_scenario_files_once(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"queue": ["Once, from the file."],
                                    "rules": [{"match": {"last_user": "twice"}, "reply": "T", "times": 2}]}))
    with serving("--workers", "2", "--scenario", str(scenario)) as served:
        with ThreadPoolExecutor(8) as pool:
            texts = list(pool.map(lambda i: served.chat("twice" if i % 2 else "Hi")[1]["choices"][0]["message"][
                "content"], range(16)))
        assert texts.count("Once, from the file.") == 1
        assert texts.count("T") == 2


def test_the_docstring_examples_run() -> None:
    import doctest

    import mockai.shared
    import mockai.shared.sqlite_state
    import mockai.shared.wiring

    for module in (mockai.shared, mockai.shared.sqlite_state, mockai.shared.wiring):
        result = doctest.testmod(module)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__
