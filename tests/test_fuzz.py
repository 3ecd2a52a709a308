"""The fuzz responder (issue 4, point 4): deterministic drawn replies honouring the request, selectable from
the Python API, the pytest marker and `mockai serve`, with fragmented bytes on the socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import AUTH, WEATHER_TOOL, post, sse_chunks
from hypothesis import HealthCheck, given, settings
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from mockai import Config, Engine, MockAI
from mockai.chat import prompt_of
from mockai.fuzz import Fuzzer, fragment_sizes
from mockai.shapes import SeededSource, choices_of, reassemble, reply_problems, space_for, stream_problems
from mockai.strategies import chat_requests
from mockai.validation import parse_chat

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
          "required": ["name", "age"], "additionalProperties": False}


def fuzz_engine(**config: Any) -> Engine:
    config.setdefault("clock", 1_700_000_000)
    return Engine(Config(responder="fuzz", **config))


def body(text: str, **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **params}


def test_same_seed_and_request_give_the_same_bytes_in_a_fresh_engine() -> None:
    for params in ({}, {"stream": True, "n": 2}, {"tools": [WEATHER_TOOL]}):
        a = post(fuzz_engine(seed=5), body("Hello", **params)).content()
        b = post(fuzz_engine(seed=5), body("Hello", **params)).content()
        c = post(fuzz_engine(seed=6), body("Hello", **params)).content()
        assert a == b
        assert a != c


def test_a_stream_reassembles_to_the_non_stream_reply_of_the_same_request() -> None:
    engine = fuzz_engine(seed=1)
    for i in range(30):
        req = body(f"question {i}", n=2, tools=[WEATHER_TOOL], stream_options=None)
        req.pop("stream_options")
        completion = post(engine, req).json()
        chunks = sse_chunks(post(engine, {**req, "stream": True}))
        assert reassemble(chunks) == choices_of(completion)
        for chunk in chunks:
            ChatCompletionChunk.model_validate(chunk, strict=True)
            chunk["id"] = completion["id"]
        assert stream_problems(chunks, completion) == []


def _shape(completion: dict[str, Any], chunks: list[dict[str, Any]]) -> set[str]:
    out = set()
    for c in completion["choices"]:
        m = c["message"]
        out.add(f"finish:{c['finish_reason']}")
        out.add("refusal" if m["refusal"] else "tools" if m.get("tool_calls") else "text")
    first = chunks[0]["choices"][0]["delta"]
    out.add("head:" + ("role-only" if first == {"role": "assistant"} else "content" if first.get("content")
                       else "api"))
    if any(ch["choices"] and ch["choices"][0]["delta"] == {} and not ch["choices"][0]["finish_reason"]
           for ch in chunks):
        out.add("empty-delta")
    return out


def test_different_requests_explore_different_shapes() -> None:
    engine = fuzz_engine(seed=0)
    seen: Counter[str] = Counter()
    for i in range(80):
        req = body(f"prompt number {i}", tools=[WEATHER_TOOL])
        seen.update(_shape(post(engine, req).json(), sse_chunks(post(engine, {**req, "stream": True}))))
    for shape in ("text", "tools", "refusal", "finish:stop", "finish:length", "finish:content_filter",
                  "finish:tool_calls", "head:role-only", "head:content", "head:api", "empty-delta"):
        assert seen[shape] > 0, (shape, seen)


def test_the_request_constrains_the_drawn_reply() -> None:
    engine = fuzz_engine(seed=2)
    for i in range(25):
        named = post(engine, body(f"q{i}", tools=[WEATHER_TOOL], n=3,
                                  tool_choice={"type": "function", "function": {"name": "get_weather"}})).json()
        assert len(named["choices"]) == 3
        for c in named["choices"]:
            assert c["finish_reason"] in ("tool_calls", "length")
            assert {t["function"]["name"] for t in c["message"]["tool_calls"]} == {"get_weather"}
            if c["finish_reason"] == "tool_calls":
                jsonschema.validate(json.loads(c["message"]["tool_calls"][0]["function"]["arguments"]),
                                    WEATHER_TOOL["function"]["parameters"])
        none = post(engine, body(f"q{i}", tools=[WEATHER_TOOL], tool_choice="none")).json()
        assert not none["choices"][0]["message"].get("tool_calls")
        fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
        structured = post(engine, body(f"q{i}", response_format=fmt)).json()["choices"][0]
        if structured["finish_reason"] == "stop" and structured["message"]["refusal"] is None:
            jsonschema.validate(json.loads(structured["message"]["content"]), PERSON)
        limited = post(engine, body(f"q{i}", max_tokens=3)).json()
        assert limited["usage"]["completion_tokens"] <= 3
        usage = sse_chunks(post(engine, body(f"q{i}", stream=True, stream_options={"include_usage": True})))
        assert usage[-1]["choices"] == []
        assert usage[-1]["usage"]["total_tokens"] > 0
        lp = post(engine, body(f"q{i}", logprobs=True, top_logprobs=2)).json()["choices"][0]
        if lp["message"]["content"]:
            assert "".join(t["token"] for t in lp["logprobs"]["content"]) == lp["message"]["content"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_requests())
def test_every_valid_request_gets_a_valid_fuzz_reply(req: dict[str, Any]) -> None:
    engine = fuzz_engine(seed=3)
    res = post(engine, req)
    assert res.status == 200, res.content()
    _, request = parse_chat(req)
    if res.is_stream:
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        for chunk in sse_chunks(res):
            state.handle_chunk(ChatCompletionChunk.model_validate(chunk, strict=True))
        assert len(state.current_completion_snapshot.choices) == (req.get("n") or 1)
    else:
        ChatCompletion.model_validate(res.json(), strict=True)
    assert engine.calls.last.responder == "fuzz"
    assert engine.calls.last.reply is not None
    assert reply_problems(engine.calls.last.reply, space_for(prompt_of(request))) == []


def test_scripted_replies_still_come_first_and_strict_mode_still_applies() -> None:
    mock = MockAI(responder="fuzz")
    mock.queue("scripted")
    client = mock.client()
    first = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert first.choices[0].message.content == "scripted"
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert [c.responder for c in mock.calls] == ["script", "fuzz"]


def test_config_is_json_for_workers_and_unknown_responders_fail() -> None:
    import dataclasses

    from mockai.server import CONFIG_ENV, config_from_env

    fields = {f.name: f.default for f in dataclasses.fields(Config)}
    json.dumps({"responder": fields["responder"], "fuzz_fragments": fields["fuzz_fragments"]})
    os.environ[CONFIG_ENV] = json.dumps({"responder": "fuzz", "seed": 4, "fuzz_fragments": 1.0})
    try:
        assert isinstance(Engine(config_from_env()).generator, Fuzzer)
    finally:
        del os.environ[CONFIG_ENV]
    with pytest.raises(ValueError, match="unknown responder 'chaos'; expected one of default, fuzz"):
        MockAI(responder="chaos")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fuzz_fragments must be between 0 and 1"):
        MockAI(responder="fuzz", fuzz_fragments=2)


@pytest.mark.mockai(responder="fuzz", seed=11)
def test_the_pytest_marker_selects_the_fuzz_responder(mockai: MockAI) -> None:
    import openai

    openai.OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert mockai.calls.last.responder == "fuzz"


# --- the wire: fragments ---------------------------------------------------------------------------------


def test_fragment_sizes_split_a_multibyte_character_and_cover_every_byte() -> None:
    import random

    data = 'data: {"content":"caf\u00e9 \U0001f469\u200d\U0001f4bb"}\n\n'.encode()
    for seed in range(50):
        sizes = fragment_sizes(SeededSource(random.Random(seed)), data)
        assert sum(sizes) == len(data)
        assert all(s > 0 for s in sizes)
        edges = [sum(sizes[:k]) for k in range(1, len(sizes))]
        assert any(0x80 <= data[e] < 0xC0 for e in edges)  # a cut lands before a continuation byte


def _raw_reads(port: int, payload: dict[str, Any]) -> list[bytes]:
    """POST over a plain socket and return each recv() as it arrived. HTTP/1.0, so the body ends when the server
    closes the connection (uvicorn's httptools protocol still frames it in chunks: see :func:`_body_cuts`)."""
    raw = json.dumps(payload).encode()
    head = (f"POST /v1/chat/completions HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n").encode()
    reads = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head + raw)
        while True:
            piece = sock.recv(65536)
            if not piece:
                return reads
            reads.append(piece)


def _body_cuts(reads: list[bytes]) -> tuple[bytes, list[int]]:
    """The response body without its head and chunked framing (if any), and the body offsets at which each read
    but the last ended."""
    raw = b"".join(reads)
    start = raw.index(b"\r\n\r\n") + 4
    spans = []  # where the body's bytes sit in the raw bytes
    if b"transfer-encoding: chunked" in raw[:start].lower():
        i = start
        while (size := int(raw[i:raw.index(b"\r\n", i)].split(b";")[0], 16)) > 0:
            data = raw.index(b"\r\n", i) + 2
            spans.append((data, data + size))
            i = data + size + 2
    else:
        spans.append((start, len(raw)))
    body = b"".join(raw[a:b] for a, b in spans)
    cuts, at = [], 0
    for r in reads[:-1]:
        at += len(r)
        cuts.append(sum(max(0, min(b, at) - a) for a, b in spans))
    return body, cuts


def test_a_multibyte_character_split_between_reads_reaches_a_raw_socket_client_and_the_sdk_copes() -> None:
    mock = MockAI(responder="fuzz", fuzz_fragments=1.0, seed=9)
    with mock.serve() as server:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        split_seen = 0
        for i in range(40):
            reads = _raw_reads(port, body(f"tell me something {i} 😀", stream=True))
            data, cuts = _body_cuts(reads)
            assert data.rstrip().endswith(b"data: [DONE]")
            last = 0
            for pos in cuts:
                if pos < len(data) and 0x80 <= data[pos] < 0xC0:
                    split_seen += 1  # this read ended inside a UTF-8 character; the next one finishes it
                    with pytest.raises(UnicodeDecodeError):
                        data[last:pos].decode("utf-8")
                last = pos
            if split_seen >= 2:
                break
        assert split_seen >= 2, "no multi-byte character reached the client split between two reads"
        assert len(reads) > 2  # and the events came in several reads
        import openai

        with httpx.Client() as http:
            client = openai.OpenAI(base_url=server.base_url, api_key="k", http_client=http)
            for i in range(10):
                with client.chat.completions.stream(model="gpt-4o-mini", n=2, messages=[
                        {"role": "user", "content": f"tell me something {i} 😀"}]) as stream:
                    for _ in stream:
                        pass
                    snapshot = stream.current_completion_snapshot
                plain = client.chat.completions.create(model="gpt-4o-mini", n=2, messages=[
                    {"role": "user", "content": f"tell me something {i} 😀"}])
                assert [c.message.content for c in snapshot.choices] == [c.message.content for c in plain.choices]


def test_mockai_serve_responder_fuzz_answers_like_the_in_process_fuzzer() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mockai.cli", "serve", "--port", "0", "--responder", "fuzz",
                             "--seed", "21", "--log-level", "warning", "--freeze-time", "1700000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 20
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("OPENAI_BASE_URL="):
                url = line.strip().split("=", 1)[1]
        assert url, "mockai serve did not announce its URL"
        req = body("Same bytes over the socket?", tools=[WEATHER_TOOL])
        for _ in range(100):
            try:
                got = httpx.post(url + "/chat/completions", json=req, headers=AUTH, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        want = post(fuzz_engine(seed=21), req)
        assert got.status_code == 200
        assert got.json()["choices"] == want.json()["choices"]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_wire_fragments_keep_the_pauses_of_latency_and_stalls() -> None:
    from mockai.app import _pieces
    from mockai.engine import Delivery

    pieces = list(_pieces([b"aaaa", b"bbbb", b"cc"], Delivery(gaps=[0.5, 0.0], fragments=[3])))
    assert b"".join(p for p in pieces if isinstance(p, bytes)) == b"aaaabbbbcc"
    assert pieces[:4] == [b"aaa", 0.001, b"a", 0.5]  # the gap comes before the event's first fragment
    assert sum(p for p in pieces if isinstance(p, float)) >= 0.5
    # over the socket: a stall on a fragmented fuzz stream still takes its time
    mock = MockAI(responder="fuzz", fuzz_fragments=1.0, seed=5, latency="ttft=0,per_token=0.001")
    mock.fault("stall=1.5")
    with mock.serve() as server:
        started = time.monotonic()
        with httpx.stream("POST", server.base_url + "/chat/completions", headers=AUTH, timeout=10,
                          json=body("Hi", stream=True)) as res:
            raw = b"".join(res.iter_bytes())
        elapsed = time.monotonic() - started
    assert mock.calls.last.fault == "stall=1.5"
    delivery = mock.calls.last.response.delivery
    assert delivery is not None
    assert delivery.fragments
    assert delivery.gaps
    assert raw.rstrip().endswith(b"data: [DONE]")
    assert elapsed >= 1.5


# --- audit regressions -----------------------------------------------------------------------------------------


def test_logprobs_without_top_logprobs_send_no_alternatives() -> None:
    """``logprobs: true`` with ``top_logprobs`` 0 or unset: ``"top_logprobs": []`` for every token, as the real API
    and the default generator send (the fuzz responder sent the token itself); with ``top_logprobs`` n, n of them,
    the token first."""
    engine = fuzz_engine(seed=3)
    seen = 0
    for i in range(12):
        for params, want in (({}, 0), ({"top_logprobs": 0}, 0), ({"top_logprobs": 2}, 2)):
            for stream in (False, True):
                req = body(f"hi {i}", logprobs=True, **params)
                res = post(engine, {**req, "stream": True} if stream else req)
                assert res.status == 200, res.content()
                choices = ([c for ch in sse_chunks(res) for c in ch["choices"]] if stream else res.json()["choices"])
                for c in choices:
                    for lp in (c["logprobs"] or {}).get("content") or []:
                        assert len(lp["top_logprobs"]) == want, (params, lp)
                        if want:
                            assert lp["top_logprobs"][0]["token"] == lp["token"]
                        seen += 1
    assert seen > 0


BROKEN = {
    "minimum above maximum": {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5, "maximum": 1}},
                              "required": ["a"]},
    "an endless $ref": {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    "an empty enum": {"type": "object", "properties": {"a": {"enum": []}}, "required": ["a"]},
}


def test_a_non_strict_functions_schema_is_checked_when_a_reply_calls_it_as_the_default_does() -> None:
    """The real API takes a non-strict function whatever its schema says: the fuzz responder answers when it does
    not call it (it refused every request, where the default responder answers those it does not call it in)."""
    tool = {"type": "function", "function": {"name": "f", "parameters": BROKEN["minimum above maximum"]}}
    fuzz = fuzz_engine(seed=0)
    statuses = {post(fuzz, body(f"q{i}", tools=[tool])).status for i in range(30)}
    assert statuses == {200, 400}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_schema_no_value_satisfies_is_a_400_on_every_request_as_the_default_responder_says(name: str) -> None:
    """The fuzz responder checked a request's schema only when it happened to draw JSON (or a call): a refusal
    or plain text answered 200 to a request the default responder answers 400."""
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": BROKEN[name]}}
    strict = {**BROKEN[name], "additionalProperties": False}  # a strict function's schema must be followed
    tool = {"type": "function", "function": {"name": "f", "parameters": strict, "strict": True}}
    default, fuzz = Engine(Config(clock=1_700_000_000)), fuzz_engine(seed=0)
    for i in range(20):
        for params in ({"response_format": fmt}, {"tools": [tool]}, {"tools": [tool], "tool_choice": "required",
                                                                      "stream": True}):
            res = post(fuzz, body(f"q{i}", **params))
            assert res.status == 400, (params, res.content())
            error = res.json()["error"]
            assert error["message"].startswith("Invalid schema for response_format 'x': " if "response_format"
                                               in params else "Invalid schema for function 'f': "), error
            assert error["code"] == ("invalid_json_schema" if "response_format" in params
                                     else "invalid_function_parameters")
            assert "randrange" not in error["message"]
            if name == "an empty enum":
                assert error["message"].endswith(": an empty enum admits no value."), error
            # The same 400 as the default responder's (which checks a tool's schema when it calls it); its
            # message for an empty enum is still Python's own, so only the param and code are compared then.
            want = post(default, body(f"q{i}", **{**params, "tool_choice": "required"} if "tools" in params
                                      else params)).json()["error"]
            got = (error["param"], error["code"], error["message"] if name != "an empty enum" else None)
            assert got == (want["param"], want["code"], want["message"] if name != "an empty enum" else None)


def test_tool_calls_with_no_text_before_them_have_content_null() -> None:
    """The real API's (and the default generator's) message with tool calls and no text has ``content: null``;
    the fuzz responder sent ``""`` whenever the text it drew before the calls came out empty."""
    engine = fuzz_engine(seed=1)
    calls = 0
    for i in range(60):
        req = body(f"q{i}", tools=[WEATHER_TOOL], tool_choice="required")
        for c in post(engine, req).json()["choices"]:
            if c["message"].get("tool_calls"):
                calls += 1
                assert c["message"]["content"] != "", i
                if c["message"]["content"] is None:  # streamed, it starts as the generator's does
                    first = sse_chunks(post(engine, {**req, "stream": True}))[0]["choices"][0]["delta"]
                    assert first.get("content") is None, first
    assert calls > 0
