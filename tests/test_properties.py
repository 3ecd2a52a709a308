"""Property tests over generated requests: never a 500, every body and chunk strictly valid, stream == reply,
determinism; and over arbitrary JSON bodies: never a 500, always OpenAI's envelope."""

from __future__ import annotations

import json
from typing import Any

from conftest import AUTH, choices_of, post, reassemble, sse_chunks, strict_body, strict_chunks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockai import Config, Engine, HTTPRequest

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
names = st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True)

leaf_schemas = st.one_of(
    st.just({"type": "string"}),
    st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
              st.integers(0, 5), st.integers(0, 10)),
    st.builds(lambda lo, extra: {"type": "integer", "minimum": lo, "maximum": lo + extra},
              st.integers(-50, 50), st.integers(0, 50)),
    st.just({"type": "number"}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.one_of(st.integers(-5, 5), names), min_size=1, max_size=4, unique=True).map(lambda v: {"enum": v}),
    st.sampled_from(["date", "date-time", "email", "uuid", "uri"]).map(lambda f: {"type": "string", "format": f}),
)
schemas = st.recursive(
    leaf_schemas,
    lambda inner: st.one_of(
        st.builds(lambda items, lo: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + 2},
                  inner, st.integers(0, 2)),
        st.dictionaries(names, inner, min_size=1, max_size=4).flatmap(
            lambda props: st.lists(st.sampled_from(sorted(props)), unique=True).map(
                lambda req: {"type": "object", "properties": props, "required": req})),
        st.lists(inner, min_size=1, max_size=3).map(lambda opts: {"anyOf": opts}),
    ),
    max_leaves=8,
)
object_schemas = st.dictionaries(names, schemas, max_size=4).flatmap(
    lambda props: st.lists(st.sampled_from(sorted(props)), unique=True).map(
        lambda req: {"type": "object", "properties": props, "required": req}) if props else st.just(
        {"type": "object", "properties": {}}))

tools = st.lists(
    st.builds(lambda name, params: {"type": "function", "function": {"name": name, "parameters": params}},
              names, object_schemas),
    min_size=1, max_size=3, unique_by=lambda t: t["function"]["name"])

messages = st.lists(
    st.one_of(
        st.builds(lambda c: {"role": "user", "content": c}, texts),
        st.builds(lambda c: {"role": "system", "content": c}, texts),
        st.builds(lambda c: {"role": "developer", "content": [{"type": "text", "text": c}]}, texts),
        st.builds(lambda c: {"role": "assistant", "content": c}, texts),
        st.builds(lambda c, n: {"role": "user", "name": n, "content": [{"type": "text", "text": c}]}, texts, names),
    ),
    min_size=1, max_size=4)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-4o-mini", "gpt-4", "o3", "custom-model"])),
                            "messages": draw(messages)}
    if draw(st.booleans()):
        body["n"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        body["stop"] = draw(st.one_of(texts, st.lists(texts, min_size=1, max_size=4)))
    if draw(st.booleans()):
        body[draw(st.sampled_from(["max_tokens", "max_completion_tokens"]))] = draw(st.integers(1, 60))
    if draw(st.booleans()):
        body["logprobs"] = True
        if draw(st.booleans()):
            body["top_logprobs"] = draw(st.integers(0, 20))
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 2))
    kind = draw(st.sampled_from(["text", "tools", "json_object", "json_schema"]))
    if kind == "tools":
        body["tools"] = draw(tools)
        choice = draw(st.sampled_from(["none", "auto", "required", "named", None]))
        if choice == "named":
            name = draw(st.sampled_from([t["function"]["name"] for t in body["tools"]]))
            body["tool_choice"] = {"type": "function", "function": {"name": name}}
        elif choice is not None:
            body["tool_choice"] = choice
        if draw(st.booleans()):
            body["parallel_tool_calls"] = draw(st.booleans())
    elif kind == "json_object":
        body["messages"].append({"role": "user", "content": "Answer in JSON."})
        body["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": draw(names), "schema": draw(object_schemas)}}
    if draw(st.booleans()):
        body["seed"] = draw(st.integers(0, 2**31))
    return body


ENGINE_A = Engine(Config(seed=3, clock=1_700_000_000))


@SETTINGS
@given(requests())
def test_valid_requests_get_valid_replies_and_streams(body: dict[str, Any]) -> None:
    res = post(ENGINE_A, body)
    assert res.status == 200, res.content()
    whole = strict_body(res.json())
    assert len(whole["choices"]) == body.get("n", 1)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    for choice in whole["choices"]:
        if limit is not None:
            assert whole["usage"]["completion_tokens"] <= limit * len(whole["choices"])
        if choice["finish_reason"] == "stop" and choice["message"]["content"] is not None:
            stops = body.get("stop") or []
            for s in [stops] if isinstance(stops, str) else stops:
                if s:
                    assert s not in choice["message"]["content"]
        if choice["finish_reason"] == "tool_calls":
            assert body.get("tool_choice") != "none"
    streamed = post(ENGINE_A, {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert streamed.status == 200
    parts = strict_chunks(sse_chunks(streamed))
    assert parts[-1]["usage"] == whole["usage"]
    assert reassemble(parts[:-1]) == choices_of(whole)


@SETTINGS
@given(requests())
def test_determinism(body: dict[str, Any]) -> None:
    first = post(Engine(Config(seed=9, clock=0)), body)
    second = post(Engine(Config(seed=9, clock=0)), body)
    assert first.status == second.status == 200
    assert first.body == second.body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12)

near_valid = st.fixed_dictionaries(
    {"model": json_values | st.just("gpt-4o-mini"),
     "messages": json_values | messages | st.lists(st.dictionaries(
         st.sampled_from(["role", "content", "name", "tool_calls", "tool_call_id"]),
         json_values | st.sampled_from(["user", "tool", "assistant", "system"])), max_size=3)},
    optional=dict.fromkeys(("n", "stop", "temperature", "tools", "tool_choice", "response_format", "logprobs",
                            "top_logprobs", "max_tokens", "stream", "stream_options", "logit_bias",
                            "parallel_tool_calls", "seed", "top_p"), json_values))

ENGINE_B = Engine(Config(seed=4, clock=1_700_000_000))


def check_answer(raw: bytes) -> None:
    res = ENGINE_B.handle(HTTPRequest("POST", "/v1/chat/completions", headers=AUTH, body=raw))
    assert res.status != 500, res.content()
    if res.status == 200:
        if res.is_stream:
            strict_chunks(sse_chunks(res))
        else:
            strict_body(res.json())
        return
    assert res.status == 400, res.content()
    body = res.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["param"] is None or isinstance(body["error"]["param"], str)


@SETTINGS
@given(json_values)
def test_arbitrary_json_never_500(value: Any) -> None:
    check_answer(json.dumps(value).encode())


@SETTINGS
@given(near_valid)
def test_near_valid_bodies_never_500(value: Any) -> None:
    check_answer(json.dumps(value).encode())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_500(raw: bytes) -> None:
    check_answer(raw)
