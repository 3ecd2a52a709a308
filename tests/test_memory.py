"""Memory stays bounded by bytes, however large or varied the requests: the journal (``journal_bytes``, 8 MiB
under ``mockai serve``) and the engine's memos (parsed bodies, keys, replies, serialized choices).

Each bound is proved by measuring the structures themselves (every object reachable from them) after many
distinct large requests, not by timing anything. The size estimates the bounds rely on are checked against
the same measure, so an estimate that undercounts fails here.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tracemalloc
import types
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mockai import tokens
from mockai.engine import Call, Config, Engine, HTTPRequest
from mockai.journal import call_bytes, parsed_bytes, reply_bytes
from mockai.memo import Memo
from mockai.validation import parse_chat

MiB = 1024 * 1024
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.FrameType,
           types.TracebackType, types.CodeType)


def deep_size(*roots: object) -> int:
    """Bytes of every object reachable from ``roots`` (each counted once), classes, modules, functions and
    frames aside: what these structures keep alive."""
    seen: set[int] = set()
    stack = list(roots)
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (*_OPAQUE, Engine)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def post(engine: Engine, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"}, body=raw))
    if res.events is not None:
        res.content()
    return res.status


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"]}}}


def varied(i: int, size: int) -> dict[str, Any]:
    """A distinct body of about ``size`` bytes, in one of several shapes a real client sends."""
    filler = f"Request {i}: " + "the lighthouse keeper kept the lamp lit all night long " * (size // 56)
    kind = i % 6
    if kind == 1:  # a long conversation of small messages
        turns = max(1, size // 600)
        messages = [{"role": "user" if t % 2 == 0 else "assistant", "content": f"{i}.{t} " + filler[:500]}
                    for t in range(turns)] + [{"role": "user", "content": f"and {i}?"}]
        return {"model": "gpt-4o-mini", "messages": messages}
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": filler}]}
    if kind == 2:
        body.update(stream=True, stream_options={"include_usage": True})
    elif kind == 3:
        body.update(tools=[WEATHER], tool_choice="required")
    elif kind == 4:
        body.update(n=4, logprobs=True, top_logprobs=3)
    elif kind == 5:
        body.update(messages=[{"role": "user", "content": [{"type": "text", "text": f"part {i}.{p}"}
                                                           for p in range(max(1, size // 40))]}])
    return body


@pytest.fixture(autouse=True)
def _approximate_tokens(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MOCKAI_TOKENIZER", "approx")  # memory of the journal, not of a tokenizer
    tokens.forget()
    yield
    monkeypatch.undo()
    tokens.forget()


# --- the estimates are upper bounds of the real footprint ----------------------------------------------------

@pytest.mark.parametrize("size", [100, 5_000, 60_000])
@pytest.mark.parametrize("kind", range(6), ids=["prompt", "conversation", "stream", "tools", "n-logprobs", "parts"])
def test_size_estimates_do_not_undercount(kind: int, size: int) -> None:
    engine = Engine(Config(seed=1, clock=1))
    body = varied(kind, size)
    assert post(engine, body) == 200
    call: Call = engine.calls.last
    measured = deep_size(call)
    assert measured <= call_bytes(call), (measured, call_bytes(call))
    assert call_bytes(call) <= 6 * measured + 16 * 1024  # and not so far over that the budget is wasted
    raw = json.dumps(body).encode()
    assert deep_size(parse_chat(raw)) <= parsed_bytes(raw)
    assert call.reply is not None
    assert deep_size(call.reply) <= reply_bytes(call.reply)


def test_an_error_call_is_estimated_too() -> None:
    engine = Engine(Config(seed=1, clock=1))
    bad = {"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x" * 50_000}]}
    assert post(engine, bad) == 400
    call = engine.calls.last
    assert deep_size(call) <= call_bytes(call)


# --- the journal ---------------------------------------------------------------------------------------------

def test_the_journal_stays_within_its_byte_budget() -> None:
    """A count alone let a thousand 1 MB prompts hold 2 GB; a byte budget holds, whatever the sizes."""
    budget = 8 * MiB
    engine = Engine(Config(seed=1, clock=1, journal_bytes=budget, journal_size=1000))
    for i in range(64):
        assert post(engine, varied(i, 200_000)) == 200
        if i % 5 == 4:
            assert deep_size(engine.calls) <= budget
    assert 4 <= len(engine.calls) < 30
    assert "Request 63:" in engine.calls.last.http.body.decode()
    # small calls: many more fit
    for i in range(200):
        post(engine, varied(60 + i * 6, 100))
    assert len(engine.calls) > 100
    assert deep_size(engine.calls) <= budget


def test_the_newest_call_stays_even_when_it_alone_is_over_budget() -> None:
    engine = Engine(Config(seed=1, clock=1, journal_bytes=100_000))
    post(engine, varied(0, 100))
    post(engine, varied(6, 300_000))
    assert len(engine.calls) == 1
    assert "Request 6:" in engine.calls.last.http.body.decode()


def test_a_reset_journal_is_measured_afresh() -> None:
    engine = Engine(Config(seed=1, clock=1, journal_bytes=1 * MiB))
    for i in range(6):
        post(engine, varied(i * 6, 100_000))
    engine.reset()
    for i in range(3):  # the running total still counts the dropped calls; the trim measures again
        post(engine, varied(96 + i * 6, 100_000))
    assert len(engine.calls) == 3


def test_without_a_budget_the_in_process_journal_keeps_everything() -> None:
    engine = Engine(Config(seed=1, clock=1))
    for i in range(30):
        post(engine, varied(i * 6, 50_000))
    assert len(engine.calls) == 30


# --- the memos ------------------------------------------------------------------------------------------------

def test_memos_stay_within_their_budgets_after_many_distinct_large_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """64 KB bodies once filled 4,096 entries per memo, keyed by the bodies themselves: about 540 MB. The budgets
    are made smaller here (the defaults sum to 17 MiB) so that sixty bodies overflow each several times."""
    from mockai import core as engine_module

    for name, budget in (("_PARSED_BYTES", MiB), ("_KEYS_BYTES", MiB // 8), ("_GENERATED_BYTES", MiB // 2),
                         ("_ENCODED_BYTES", MiB // 2)):
        monkeypatch.setattr(engine_module, name, budget)
    engine = Engine(Config(seed=1, clock=1, journal_size=1))
    memos: dict[str, Memo[Any]] = {"parsed": engine._parsed, "keys": engine._keys, "generated": engine._generated,
                                   "encoded": engine._encoded, "counted": engine._counted,
                                   "transport": engine._transport}
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(60):
            assert post(engine, varied(i, 60_000)) == 200
        for i in range(200):  # and small ones, many more of them per memo
            assert post(engine, varied(i * 7 + 1, 300)) == 200
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    budgets = sum(m.budget for m in memos.values())
    for name, memo in memos.items():
        held = deep_size(memo._data)
        assert held <= memo.budget, f"{name}: {held} bytes in {len(memo)} entries, budget {memo.budget}"
        assert memo.size <= memo.budget
        assert all(len(key) == 32 for key in memo._data)  # digests, not bodies
    # Everything the engine kept after 60 × 60 KB (3.6 MB of bodies, more parsed): the memos' budgets, and
    # the occurrence counts and prompt token counts (small entries), with room for the interpreter's own caches.
    assert grown <= budgets + 3 * MiB, f"{grown / MiB:.1f} MiB kept, the memos' budgets are {budgets / MiB:.1f} MiB"


def test_a_memo_empties_when_full_and_skips_what_is_too_big() -> None:
    memo = Memo[str](budget=1000)
    memo.put(b"a" * 32, "x", size=250)
    memo.put(b"b" * 32, "y", size=251)  # over a quarter of the budget: never kept
    assert len(memo) == 1
    for i in range(10):
        memo.put(bytes([i]) * 32, "z", size=200)
        assert memo.size <= 1000
    assert len(memo) <= 5
    memo.put(bytes([9]) * 32, "again", size=200)  # already there: kept as it was, not counted twice
    assert memo.get(bytes([9]) * 32) == "z"


# --- mockai serve ----------------------------------------------------------------------------------------------

MOCKAI = str(Path(sys.executable).with_name("mockai"))


def test_mockai_serve_bounds_its_journal_by_bytes_by_default() -> None:
    proc = subprocess.Popen([MOCKAI, "serve", "--port", "0", "--log-level", "warning"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MOCKAI_TOKENIZER": "approx"})
    try:
        assert proc.stdout is not None
        line = ""
        while "OPENAI_BASE_URL=" not in line:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "mockai serve ended"
        base = line.strip().split("OPENAI_BASE_URL=", 1)[1]
        root = base.removesuffix("/v1")
        prompt = "lighthouse " * 100_000  # 1.1 MB
        for i in range(12):
            body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{i} {prompt}"}]})
            req = urllib.request.Request(base + "/chat/completions", data=body.encode(), method="POST",
                                         headers={"authorization": "Bearer k", "content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as res:
                assert res.status == 200
        with urllib.request.urlopen(root + "/_mockai/calls", timeout=30) as res:
            calls = json.loads(res.read())
        kept = calls["data"] if isinstance(calls, dict) else calls
        # 8 MiB by default: about 4 MB per call here (the body, its parse, the reply), so 1 or 2 of the 12
        assert 1 <= len(kept) <= 3, len(kept)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# --- the whole engine under a load test's traffic ---------------------------------------------------------------

def test_the_engine_keeps_a_bounded_footprint_under_many_distinct_small_requests(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a load test sends (small bodies, every one different, streams and not, scripted and generated) leaves
    the engine holding no more than its bounds: the journal's bytes, the memos' budgets and the occurrence counts
    (made small here so that they start over several times), whatever the number of requests."""
    from mockai import core as engine_module

    monkeypatch.setattr(engine_module, "_SEEN_SIZE", 2_000)
    engine = Engine(Config(seed=1, clock=1, journal_size=1000, journal_bytes=4 * MiB))
    engine.script.on(last_user="scripted").reply("Lighthouses guide ships past rocks at night.")

    def load(start: int, count: int) -> None:
        for i in range(start, start + count):
            body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": f"{'scripted' if i % 2 else 'generated'} question #{i}"}]}
            if i % 3 == 0:
                body["stream"] = True
            assert post(engine, body) == 200

    load(0, 2_000)  # the interpreter's own caches warm up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        load(2_000, 8_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(engine._seen) <= 2_000
    assert engine._seen.epoch >= 3  # the counts started over, and kept within their bound
    assert len(engine.calls) <= 2 * 1000
    memos = (engine._parsed, engine._keys, engine._generated, engine._encoded, engine._counted, engine._transport)
    bound = 4 * MiB + sum(m.budget for m in memos) + 2_000 * 200
    assert grown <= bound, f"{grown / MiB:.1f} MiB kept after 8,000 more requests; the bounds sum to {bound / MiB:.1f}"


def test_a_rule_keeps_no_call_its_bounded_journal_dropped() -> None:
    """A rule's ``calls`` kept its newest 1,000 to 2,000 calls whatever their size: under `mockai serve` a scripted
    stream of a few kB held ~10 MB beyond the journal's byte budget. Now it lets go of what the journal drops;
    ``call_count`` still counts every call, and a call still being answered is never dropped."""
    engine = Engine(Config(seed=1, clock=1, journal_size=1000, journal_bytes=256 * 1024))
    rule = engine.script.on().reply("word " * 2_000)  # ~10 kB a reply, ~20 kB a call in the journal
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(600):
            assert post(engine, {"model": "gpt-4o-mini", "stream": i % 2 == 0,
                                 "messages": [{"role": "user", "content": f"question #{i}"}]}) == 200
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert rule.call_count == 600
    kept = {id(c) for c in engine.calls}
    assert rule.calls, "the newest calls stay"
    assert all(id(c) in kept for c in rule.calls)
    assert rule.calls[-1] is engine.calls.last
    assert grown < 3 * MiB, f"{grown / MiB:.1f} MiB kept by 600 calls with a 256 kB journal"
    in_flight = Call(http=HTTPRequest("POST", "/v1/chat/completions"), route="chat",
                     response=engine.calls.last.response)
    rule.calls.insert(0, in_flight)  # answered by the rule, not recorded yet (seq -1)
    engine.script.forget_calls_before(engine.calls[0].seq + 1)
    assert rule.calls[0] is in_flight

def test_a_serialized_reply_holds_only_its_own_bytes() -> None:
    """Reply bodies and events live on in the journal and the memos: each holds its length, not an encoder's
    whole buffer (orjson's own bytes objects keep 4 KiB each)."""
    from mockai.http import dumps

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [dumps({"index": i, "delta": {"content": "hi"}}) for i in range(2_000)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept[1] == b'{"index":1,"delta":{"content":"hi"}}'
    assert grown <= 2_000 * (len(kept[0]) + 80), f"{grown / len(kept):.0f} bytes per {len(kept[0])}-byte body"
