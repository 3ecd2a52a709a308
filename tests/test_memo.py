"""The engine memoizes what is a pure function of the request bytes (parsing, keys, the generated reply, its
serialized choices). Memoized answers must be byte-for-byte the answers computed afresh."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockai import streaming
from mockai.engine import Config, Engine, HTTPRequest
from mockai.reply import Choice, Reply, TokenLogprob, ToolCall

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"]}}}
USER = [{"role": "user", "content": "Write a few sentences about lighthouses and their keepers."}]
BODIES: list[dict[str, Any]] = [
    {"model": "gpt-4o-mini", "messages": USER},
    {"model": "gpt-4o-mini", "messages": USER, "n": 3, "logprobs": True, "top_logprobs": 2},
    {"model": "gpt-4o-mini", "messages": USER, "stop": ["e"], "max_tokens": 7},
    {"model": "gpt-4o-mini", "messages": USER, "tools": [WEATHER], "tool_choice": "required"},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Answer in JSON"}],
     "response_format": {"type": "json_object"}},
]


def forget(engine: Engine) -> None:
    for memo in (engine._parsed, engine._keys, engine._generated, engine._encoded, engine._counted,
                 engine._transport):
        memo.clear()


def ask(engine: Engine, body: dict[str, Any]) -> bytes:
    raw = json.dumps(body).encode()
    res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"}, body=raw))
    assert res.status == 200, res.content()
    return res.content()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("body", BODIES, ids=["plain", "n-logprobs", "stop-limit", "tools", "json-object"])
def test_memoized_answers_are_the_fresh_answers(body: dict[str, Any], stream: bool) -> None:
    if stream:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    memoized, fresh = Engine(Config(seed=5, clock=1)), Engine(Config(seed=5, clock=1))
    first = ask(memoized, body)
    assert ask(fresh, body) == first
    again = ask(memoized, body)  # served from the memos
    forget(fresh)
    assert ask(fresh, body) == again  # the same occurrence, computed afresh
    assert again != first  # a new id all the same


def test_memos_go_quiet_under_ever_new_bodies_and_wake_when_bodies_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockai import core

    monkeypatch.setattr(core, "_COLD_AFTER", 8)
    monkeypatch.setattr(core, "_PROBE_EVERY", 4)
    quiet, fresh = Engine(Config(seed=5, clock=1)), Engine(Config(seed=5, clock=1))
    bodies = [{**BODIES[i % len(BODIES)], "user": f"u{i}"} for i in range(40)]
    for body in bodies:  # ever-new bodies: after 8 misses, only one request in 4 is looked up and kept
        assert ask(quiet, body) == ask(fresh, body)
        forget(fresh)
    assert quiet._misses >= 8
    assert len(quiet._parsed) < 8 + (40 - 8) // 4 + 1  # the others were not kept
    # The same body again and again: a probe keeps it, the next probe finds it, and every request is memoized again.
    for _ in range(12):
        assert ask(quiet, bodies[-1]) == ask(fresh, bodies[-1])
        forget(fresh)
    assert quiet._misses == 0
    kept = len(quiet._parsed)
    assert ask(quiet, {**bodies[0], "user": "new"}) == ask(fresh, {**bodies[0], "user": "new"})
    assert len(quiet._parsed) == kept + 1


@pytest.mark.parametrize("quiet", [False, True], ids=["memos", "quiet-memos"])
def test_a_stream_carries_the_tool_call_ids_of_its_json_twin(monkeypatch: pytest.MonkeyPatch, quiet: bool) -> None:
    """The transport key (a request without stream/stream_options) comes with the keys, memoized or not: the first
    stream of a request has its first reply's tool call ids, also with ``max_tokens`` dropped alongside."""
    from conftest import reassemble, reply, stream

    from mockai import core

    if quiet:  # no request looked up or kept in the memos
        monkeypatch.setattr(core, "_COLD_AFTER", 0)
        monkeypatch.setattr(core, "_PROBE_EVERY", 10**9)
    engine = Engine(Config(seed=5))
    for body in (BODIES[3], {**BODIES[3], "max_tokens": 50}):
        ids = [c["id"] for c in reply(engine, body)["choices"][0]["message"]["tool_calls"]]
        streamed = reassemble(stream(engine, body))[0]["tool_calls"]
        assert [c["id"] for c in streamed] == ids
    assert (len(engine._parsed) == 0) is quiet  # the quiet run really kept nothing


def test_a_memoized_reply_is_not_shared_mutable_state() -> None:
    engine = Engine(Config(seed=5, clock=1))
    body = {"model": "gpt-4o-mini", "messages": USER, "tools": [WEATHER], "tool_choice": "required"}
    ask(engine, body)
    engine.calls[0].reply.choices[0].content = "tampered"  # type: ignore[union-attr]
    ask(engine, body)
    assert engine.calls[1].reply.choices[0].content is None  # type: ignore[union-attr]


REPLIES = [
    Reply.text("Hello there, friend."),
    Reply([Choice(content="One"), Choice(content=None, refusal="I can't help with that.")]),
    Reply([Choice(content=None, finish_reason="tool_calls",
                  tool_calls=[ToolCall("f", '{"a":1}', "call_1"), ToolCall("g", "{}", "call_2")])]),
    Reply([Choice(content="Hi you", logprobs=[TokenLogprob("Hi", -0.1, [("Hi", -0.1), ("Yo", -2.0)]),
                                              TokenLogprob(" you", -0.2, [(" you", -0.2)])])]),
]


@pytest.mark.parametrize("reply", REPLIES, ids=["text", "refusal-n2", "tools", "logprobs"])
@pytest.mark.parametrize("include_usage", [False, True])
def test_the_fast_encoders_write_what_the_plain_ones_do(reply: Reply, include_usage: bool) -> None:
    meta = streaming.Meta(id="chatcmpl-x", created=1, model="m", system_fingerprint="fp_1",
                          usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
                          include_usage=include_usage)
    assert streaming.encode(reply, meta) == streaming.sse(streaming.chunks(reply, meta))
    assert streaming.encode(reply, meta, streaming.choice_parts(reply)) == streaming.encode(reply, meta)
    assert streaming.encode_body(reply, meta) == streaming.dumps(streaming.body(reply, meta))
    extra = streaming.Meta(id="x", created=1, model="m", extra={"obfuscation": "abc"})
    assert streaming.encode_body(reply, extra) == streaming.dumps(streaming.body(reply, extra))


def test_memos_stay_small_for_huge_replies() -> None:
    engine = Engine(Config(seed=5, clock=1))
    long = [{"role": "user", "content": "Write a long essay about lighthouses."}]
    ask(engine, {"model": "gpt-4o-mini", "messages": long, "n": 128, "logprobs": True, "top_logprobs": 5})
    assert not engine._generated  # too big to keep
    assert not engine._encoded


def test_the_occurrence_counts_are_bounded_without_repeating_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockai import core

    monkeypatch.setattr(core, "_SEEN_SIZE", 3)
    engine = Engine(Config(seed=5, clock=1))
    bodies = [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i % 5}"}]} for i in range(40)]
    ids = [json.loads(ask(engine, body))["id"] for body in bodies]
    assert len(engine._seen) <= 3
    assert len(set(ids)) == 40


def test_error_and_listing_answers_have_unique_request_ids() -> None:
    engine = Engine(Config())
    bad = HTTPRequest("POST", "/v1/chat/completions", headers={}, body=b"{}")
    listing = HTTPRequest("GET", "/v1/models", headers={"authorization": "Bearer k"})
    ids = [engine.handle(r).headers["x-request-id"] for r in (bad, bad, listing, listing)]
    assert len(set(ids)) == 4
    assert engine.handle(listing).headers["openai-version"] == "2020-10-01"


def test_azure_deployment_paths_take_the_model_from_the_url() -> None:
    engine = Engine(Config())
    body = b'{"messages": [{"role": "user", "content": "Hi"}]}'
    for deployment in ("prod-4o", "prod-mini"):
        res = engine.handle(HTTPRequest("POST", f"/openai/deployments/{deployment}/chat/completions",
                                        query="api-version=2024-10-21", headers={"api-key": "k"}, body=body))
        assert res.status == 200, res.body
        assert res.json()["model"] == deployment
    plain = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"}, body=body))
    assert plain.status == 400
    assert plain.json()["error"]["param"] == "model"


def test_usage_counts_what_a_scripted_reply_sends() -> None:
    from mockai import MockAI

    mock = MockAI()
    mock.queue("one two three four five six seven eight")
    reply = mock.client().chat.completions.create(model="gpt-4o-mini", max_tokens=2,
                                                   messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 8


def test_bad_control_bodies_get_envelopes_not_exceptions() -> None:
    engine = Engine(Config())
    for body in (b"\xff", b"[" * 100_000):
        res = engine.handle(HTTPRequest("POST", "/_mockai/rules", body=body))
        assert res.status == 400
        assert res.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("module", ["mockai.memo", "mockai.journal", "mockai.schema", "mockai.tokens", "mockai.app",
                                    "mockai.http", "mockai.keys", "mockai.wire", "mockai.wire_replies",
                                    "mockai.generate", "mockai.lazy", "mockai.access", "mockai.transcript"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
