"""The default generator through the engine: n, stop, token limits, tools, JSON outputs, logprobs, usage, ids,
clock, determinism and the model catalogue. Every body is validated with the SDK's types in strict mode."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import jsonschema
import pydantic
import pytest
from conftest import (
    MODEL,
    TIME_TOOL,
    WEATHER_TOOL,
    assert_envelope,
    chat_body,
    post,
    reassemble,
    reply,
    request,
    stream,
    strict_body,
)
from openai.types.chat import ChatCompletion

from mockai import Config, Engine, MockAI, tokens
from mockai import call as tool_call
from mockai.chat import prompt_of
from mockai.generate import Generator
from mockai.models import DEFAULT_MODELS
from mockai.wire import ChatCompletionRequest

TOOLS = [WEATHER_TOOL, TIME_TOOL]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def contents(body: dict[str, Any]) -> list[str | None]:
    return [c["message"]["content"] for c in body["choices"]]


def test_plain_reply_shape(engine: Engine) -> None:
    body = reply(engine, chat_body())
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["created"] == 1_700_000_000
    assert body["system_fingerprint"].startswith("fp_")
    assert body["service_tier"] == "default"
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    msg = choice["message"]
    assert msg["role"] == "assistant"
    assert msg["refusal"] is None
    assert "tool_calls" not in msg
    assert isinstance(msg["content"], str)
    assert len(msg["content"].split()) >= 3
    assert msg["content"].isascii()


def test_strict_validation_can_fail(engine: Engine) -> None:
    """The strict checks used throughout are real: a subtly wrong body is rejected."""
    body = reply(engine, chat_body())
    for broken in ({**body, "created": str(body["created"])},
                   {**body, "choices": [{**body["choices"][0], "finish_reason": "done"}]},
                   {**body, "usage": {**body["usage"], "total_tokens": 1.5}}):
        with pytest.raises(pydantic.ValidationError):
            ChatCompletion.model_validate(broken, strict=True)
        with pytest.raises(pydantic.ValidationError):
            strict_body(broken)


def test_model_is_echoed(engine: Engine) -> None:
    assert reply(engine, chat_body(model="gpt-4o"))["model"] == "gpt-4o-2024-08-06"
    assert reply(engine, {**chat_body(), "model": "my-fine-tune"})["model"] == "my-fine-tune"


def test_service_tier(engine: Engine) -> None:
    assert reply(engine, chat_body(service_tier="flex"))["service_tier"] == "flex"
    assert reply(engine, chat_body(service_tier="auto"))["service_tier"] == "default"


def test_n_gives_distinct_choices(engine: Engine) -> None:
    body = reply(engine, chat_body(n=4))
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert len(set(contents(body))) == 4
    assert contents(reply(engine, chat_body(n=1))) == contents(body)[:1]


def test_length_follows_the_request(engine: Engine) -> None:
    short = [len(c or "") for c in contents(reply(engine, chat_body("Answer in one word", n=8)))]
    long = [len(c or "") for c in contents(reply(engine, chat_body("Write a long essay about owls", n=8)))]
    assert max(short) < min(long)


def test_stop_cuts_before_the_sequence(engine: Engine) -> None:
    base = chat_body("Tell me about lighthouses", n=3)
    full = contents(reply(engine, base))
    word = full[0].split()[2]  # type: ignore[union-attr]
    body = reply(engine, {**base, "stop": ["\u2603", word]})
    for before, after in zip(full, contents(body), strict=True):
        assert after is not None
        assert before is not None
        assert word not in after
        if word in before:
            assert after == before[: before.index(word)]
        else:
            assert after == before
    assert body["choices"][0]["finish_reason"] == "stop"
    assert reply(engine, {**base, "stop": word})["choices"][0]["message"]["content"] == contents(body)[0]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("limit", [1, 3, 7])
def test_token_limit(engine: Engine, field: str, limit: int) -> None:
    base = chat_body("Write a long essay about owls", n=2)
    full = contents(reply(engine, base))
    body = reply(engine, {**base, field: limit})
    for before, choice in zip(full, body["choices"], strict=True):
        content = choice["message"]["content"]
        assert choice["finish_reason"] == "length"
        assert before is not None
        assert before.startswith(content)
        assert len(tokens.split(content)) == limit
    assert body["usage"]["completion_tokens"] <= 2 * limit


def test_token_limit_above_the_reply_changes_nothing(engine: Engine) -> None:
    base = chat_body("Hi")
    full = reply(engine, base)
    roomy = reply(engine, {**base, "max_tokens": 4000})
    assert contents(roomy) == contents(full)
    assert roomy["choices"][0]["finish_reason"] == "stop"


def test_max_completion_tokens_wins_over_max_tokens(engine: Engine) -> None:
    body = reply(engine, chat_body("Write a long essay", max_tokens=50, max_completion_tokens=2))
    assert len(tokens.split(body["choices"][0]["message"]["content"])) == 2
    assert body["usage"]["completion_tokens"] <= 2


def test_usage(engine: Engine) -> None:
    one = reply(engine, chat_body("Hi"))["usage"]
    assert one["total_tokens"] == one["prompt_tokens"] + one["completion_tokens"]
    assert one["completion_tokens_details"]["reasoning_tokens"] == 0
    assert one["prompt_tokens_details"]["cached_tokens"] == 0
    longer = reply(engine, {"model": MODEL, "messages": [
        {"role": "system", "content": "You are a helpful assistant for lighthouse keepers."},
        {"role": "user", "content": "Hi"}]})["usage"]
    assert longer["prompt_tokens"] > one["prompt_tokens"]
    with_tools = reply(engine, chat_body("Hi", tools=TOOLS, tool_choice="none"))["usage"]
    assert with_tools["prompt_tokens"] > one["prompt_tokens"]
    body = reply(engine, chat_body("Hi", n=3))
    msgs = [c["message"]["content"] for c in body["choices"]]
    assert body["usage"]["completion_tokens"] == sum(len(tokens.split(m)) for m in msgs)


# --- tools -----------------------------------------------------------------------------------------------


def check_calls(choice: dict[str, Any], names: set[str] | None = None) -> list[dict[str, Any]]:
    assert choice["finish_reason"] == "tool_calls"
    msg = choice["message"]
    assert msg["content"] is None
    calls = msg["tool_calls"]
    assert calls
    for call in calls:
        assert call["type"] == "function"
        assert call["id"].startswith("call_")
        assert len(call["id"]) > 10
        if names is not None:
            assert call["function"]["name"] in names
        jsonschema.validate(json.loads(call["function"]["arguments"]), PARAMS[call["function"]["name"]])
    return calls


def test_tool_choice_required(engine: Engine) -> None:
    body = reply(engine, chat_body("The weather in Oslo and the time in Paris?", tools=TOOLS, tool_choice="required",
                                   n=12))
    calls = [c for choice in body["choices"] for c in check_calls(choice)]
    assert {c["function"]["name"] for c in calls} == {"get_weather", "get_time"}
    assert len({c["id"] for c in calls}) == len(calls), "tool call ids are unique"
    assert any(len(choice["message"]["tool_calls"]) > 1 for choice in body["choices"]), "parallel calls happen"
    single = reply(engine, chat_body("The weather in Oslo?", tools=TOOLS, tool_choice="required", n=12))
    assert all(len(choice["message"]["tool_calls"]) == 1 for choice in single["choices"]), "one thing, one call"
    weather = [json.loads(c["function"]["arguments"]) for c in calls if c["function"]["name"] == "get_weather"]
    assert len({json.dumps(w, sort_keys=True) for w in weather}) == len(weather), "arguments vary"


def test_tool_choice_named(engine: Engine) -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    body = reply(engine, chat_body("What's the weather?", tools=TOOLS, tool_choice=named, n=6))
    for choice in body["choices"]:
        assert len(check_calls(choice, {"get_time"})) == 1


def test_tool_choice_none(engine: Engine) -> None:
    body = reply(engine, chat_body("Call get_weather", tools=TOOLS, tool_choice="none", n=6))
    for choice in body["choices"]:
        assert choice["finish_reason"] == "stop"
        assert "tool_calls" not in choice["message"]
        assert choice["message"]["content"]


def test_tool_choice_auto(engine: Engine) -> None:
    body = reply(engine, chat_body("Hello", tools=TOOLS, n=40))
    reasons = {c["finish_reason"] for c in body["choices"]}
    assert reasons == {"stop", "tool_calls"}, "auto sometimes calls, sometimes answers"
    for choice in body["choices"]:
        if choice["finish_reason"] == "tool_calls":
            check_calls(choice)
    mentioned = reply(engine, chat_body("Please use get_time", tools=TOOLS, tool_choice="auto", n=8))
    for choice in mentioned["choices"]:
        check_calls(choice, {"get_time"})


def test_auto_answers_in_text_after_a_tool_result(engine: Engine) -> None:
    messages = [
        {"role": "user", "content": "Use get_time"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"zone":"UTC"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
    ]
    body = reply(engine, {"model": MODEL, "messages": messages, "tools": TOOLS, "n": 8})
    assert {c["finish_reason"] for c in body["choices"]} == {"stop"}


def test_parallel_tool_calls_false_gives_one_call(engine: Engine) -> None:
    body = reply(engine, chat_body("Hi", tools=TOOLS, tool_choice="required", parallel_tool_calls=False, n=30))
    assert all(len(check_calls(choice)) == 1 for choice in body["choices"])


def test_tool_without_parameters(engine: Engine) -> None:
    tool = {"type": "function", "function": {"name": "ping"}}
    body = reply(engine, chat_body(tools=[tool], tool_choice="required"))
    assert json.loads(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {}


def test_strict_tool_has_every_property(engine: Engine) -> None:
    params = {"type": "object", "additionalProperties": False, "required": ["a", "b", "c"], "properties": {
        "a": {"type": "string"}, "b": {"type": ["integer", "null"]},
        "c": {"type": "object", "properties": {"d": {"type": "boolean"}}, "required": ["d"],
              "additionalProperties": False}}}
    tool = {"type": "function", "function": {"name": "f", "strict": True, "parameters": params}}
    body = reply(engine, chat_body(tools=[tool], tool_choice="required", n=10))
    for choice in body["choices"]:
        for call in choice["message"]["tool_calls"]:
            args = json.loads(call["function"]["arguments"])
            jsonschema.validate(args, params)
            assert set(args) == {"a", "b", "c"}


def test_token_limit_cuts_tool_arguments(engine: Engine) -> None:
    body = reply(engine, chat_body(tools=[WEATHER_TOOL], tool_choice="required", max_tokens=3))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 3
    args = choice["message"]["tool_calls"][0]["function"]["arguments"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(args)


# --- structured outputs ----------------------------------------------------------------------------------


def test_json_object(engine: Engine) -> None:
    body = reply(engine, chat_body("Reply in JSON", response_format={"type": "json_object"}, n=5))
    for content in contents(body):
        assert isinstance(json.loads(content or ""), dict)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "kind": {"enum": ["cat", "dog"]},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4, "uniqueItems": True},
        "owner": {"$ref": "#/$defs/person"},
        "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "const": {"const": "fixed"},
    },
    "required": ["name", "age", "kind", "tags", "owner"],
    "$defs": {"person": {"type": "object", "properties": {"first": {"type": "string"}}, "required": ["first"]}},
}


def test_json_schema(engine: Engine) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "pet", "schema": SCHEMA}}
    body = reply(engine, chat_body("Describe a pet", response_format=fmt, n=20))
    seen_optional = set()
    for content in contents(body):
        value = json.loads(content or "")
        jsonschema.validate(value, SCHEMA)
        seen_optional |= set(value) - set(SCHEMA["required"])
    assert seen_optional, "optional properties appear sometimes"


def test_json_schema_strict_fills_every_property(engine: Engine) -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["a", "b"],
              "properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {"type": "integer"}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
    for content in contents(reply(engine, chat_body(response_format=fmt, n=10))):
        value = json.loads(content or "")
        jsonschema.validate(value, schema)
        assert set(value) == {"a", "b"}


# --- logprobs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top", [None, 0, 1, 5, 20])
def test_logprobs_spell_the_content(engine: Engine, top: int | None) -> None:
    params: dict[str, Any] = {"logprobs": True, "n": 2}
    if top is not None:
        params["top_logprobs"] = top
    body = reply(engine, chat_body("Hi", **params))
    for choice in body["choices"]:
        entries = choice["logprobs"]["content"]
        assert choice["logprobs"]["refusal"] is None
        assert "".join(e["token"] for e in entries) == choice["message"]["content"]
        for e in entries:
            assert e["logprob"] <= 0
            assert bytes(e["bytes"]).decode() == e["token"]
            assert len(e["top_logprobs"]) == (top or 0)
            if top:
                assert e["top_logprobs"][0]["token"] == e["token"]
                assert [t["logprob"] for t in e["top_logprobs"]] == sorted(
                    (t["logprob"] for t in e["top_logprobs"]), reverse=True)
                assert len({t["token"] for t in e["top_logprobs"]}) == top


def test_no_logprobs_unless_asked(engine: Engine) -> None:
    assert reply(engine, chat_body(logprobs=False))["choices"][0]["logprobs"] is None


def test_logprobs_follow_the_cut(engine: Engine) -> None:
    body = reply(engine, chat_body("Write a long essay", logprobs=True, max_tokens=4))
    assert len(body["choices"][0]["logprobs"]["content"]) == 4


# --- determinism, ids, clock -----------------------------------------------------------------------------


def call_ids(body: dict[str, Any]) -> set[str]:
    return {t["id"] for c in body["choices"] for t in c["message"].get("tool_calls") or []}


def without_call_ids(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "message": {**c["message"], "tool_calls": [{**t, "id": None} for t in c["message"]["tool_calls"]]}}
            if c["message"].get("tool_calls") else c for c in choices]


def test_same_seed_same_reply(make_engine: Any) -> None:
    req = chat_body("Hello", n=3, tools=TOOLS, logprobs=True, top_logprobs=2)
    a, b = make_engine(seed=5), make_engine(seed=5)
    first = reply(a, req)
    again = reply(a, req)
    other = reply(b, req)
    assert first["choices"] == other["choices"]
    assert without_call_ids(first["choices"]) == without_call_ids(again["choices"])
    assert call_ids(first)
    assert call_ids(first).isdisjoint(call_ids(again)), "a repeated request gets new call ids"
    assert first["id"] != again["id"], "ids are unique per call"
    assert first["id"] == other["id"], "a fresh engine replays the same id sequence"
    assert again["id"] == reply(b, req)["id"]
    assert first["usage"] == other["usage"]


def test_different_seeds_differ(make_engine: Any) -> None:
    req = chat_body("Hello", n=2)
    replies = [contents(reply(make_engine(seed=s), req)) for s in range(5)]
    assert len({json.dumps(r) for r in replies}) == 5


def test_different_requests_differ(engine: Engine) -> None:
    assert contents(reply(engine, chat_body("Hello"))) != contents(reply(engine, chat_body("Hello!")))


def test_transport_fields_do_not_change_content(engine: Engine) -> None:
    base = contents(reply(engine, chat_body("Hello")))
    assert contents(reply(engine, chat_body("Hello", user="u", metadata={"a": "b"}, store=True))) == base


def test_ids_unique_across_many_calls(engine: Engine) -> None:
    ids = [reply(engine, chat_body("Hello"))["id"] for _ in range(50)]
    ids += [reply(engine, chat_body(f"Hello {i}"))["id"] for i in range(50)]
    assert len(set(ids)) == 100
    assert all(i.startswith("chatcmpl-") for i in ids)


@pytest.mark.parametrize("variant", [
    {"user": "someone-else"}, {"metadata": {"run": "2"}}, {"stream": False}, {"store": True},
    {"service_tier": "default"}, {"parallel_tool_calls": True},
], ids=lambda v: next(iter(v)))
def test_calls_differing_in_unseeded_fields_get_their_own_tool_call_ids(engine: Engine,
                                                                         variant: dict[str, Any]) -> None:
    """The same content, but every call its own ``call_…`` ids (and its own completion id)."""
    body = chat_body("Hello", tools=TOOLS, tool_choice="required", n=2)
    first = reply(engine, body)
    other = reply(engine, {**body, **variant})
    assert without_call_ids(first["choices"]) == without_call_ids(other["choices"])
    assert call_ids(first)
    assert call_ids(first).isdisjoint(call_ids(other))
    assert first["id"] != other["id"]


def test_scripted_tool_calls_get_fresh_ids_per_call() -> None:
    with MockAI(seed=1) as mock:
        mock.on().reply(tool_calls=[tool_call("get_time", zone="UTC")])
        client = mock.client()
        ids = {client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                              tools=TOOLS, user=user).choices[0].message.tool_calls[0].id
               for user in ("a", "b", "c")}
        assert len(ids) == 3


def test_first_stream_and_first_reply_share_tool_call_ids(engine: Engine) -> None:
    """What check-wire holds a server to: the stream of a request carries the tool calls, ids included, of the
    non-stream reply to it; a second stream of it gets new ones, and other calls never share them."""
    body = chat_body("Hello", tools=TOOLS, tool_choice="required")
    whole = reply(engine, body)
    first = reassemble(stream(engine, body))[0]["tool_calls"]
    assert first == whole["choices"][0]["message"]["tool_calls"]
    second = reassemble(stream(engine, body))[0]["tool_calls"]
    assert {c["id"] for c in second}.isdisjoint(call_ids(whole))
    for_other_user = reassemble(stream(engine, {**body, "user": "u2"}))[0]["tool_calls"]
    assert {c["id"] for c in for_other_user}.isdisjoint(call_ids(whole) | {c["id"] for c in second})
    assert call_ids(reply(engine, body)).isdisjoint(call_ids(whole))


def test_stream_and_reply_share_ids_through_the_sdk_over_a_socket(client: Any) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Weather?"}],
                              "tools": TOOLS, "tool_choice": "required"}
    whole = client.chat.completions.create(**kwargs)
    with client.chat.completions.stream(**kwargs) as events:
        streamed = events.get_final_completion()
    assert [t.id for t in streamed.choices[0].message.tool_calls] == [
        t.id for t in whole.choices[0].message.tool_calls]
    again = client.chat.completions.create(**kwargs, user="another")
    assert {t.id for t in again.choices[0].message.tool_calls}.isdisjoint(
        {t.id for t in whole.choices[0].message.tool_calls})


def test_reset_replays_ids(engine: Engine) -> None:
    first = [reply(engine, chat_body("Hello"))["id"] for _ in range(3)]
    engine.reset()
    assert [reply(engine, chat_body("Hello"))["id"] for _ in range(3)] == first


def test_created_clock() -> None:
    assert reply(Engine(Config(clock=123)), chat_body())["created"] == 123
    ticks = iter([1000, 2000])
    engine = Engine(Config(clock=lambda: next(ticks)))
    assert [reply(engine, chat_body())["created"] for _ in range(2)] == [1000, 2000]
    import time

    before = int(time.time())
    created = reply(Engine(Config()), chat_body())["created"]
    assert before <= created <= int(time.time()) + 1


def test_same_reply_in_another_process(make_engine: Any) -> None:
    req = chat_body("Hello there, process", n=2, tools=TOOLS, logprobs=True, top_logprobs=3)
    script = textwrap.dedent(f"""
        import json
        from mockai import Config, Engine, HTTPRequest
        engine = Engine(Config(seed=11, clock=1_700_000_000))
        res = engine.handle(HTTPRequest("POST", "/v1/chat/completions",
                            headers={{"authorization": "Bearer k"}}, body={json.dumps(req).encode()!r}))
        print(res.body.decode())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    theirs = json.loads(out.stdout)
    ours = reply(make_engine(seed=11), req)
    assert theirs == ours


def test_generator_directly() -> None:
    req = ChatCompletionRequest.model_validate(chat_body("Hi", n=2))
    a = Generator().generate(prompt_of(req), key=b"k", seed=1)
    b = Generator().generate(prompt_of(req), key=b"k", seed=1)
    c = Generator().generate(prompt_of(req), key=b"other", seed=1)
    assert [x.content for x in a.choices] == [x.content for x in b.choices]
    assert [x.content for x in a.choices] != [x.content for x in c.choices]


# --- models ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/v1", "", "/openai/v1"])
def test_models_listing(engine: Engine, prefix: str) -> None:
    res = engine.handle(request("GET", prefix + "/models"))
    assert res.status == 200
    body = res.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [*DEFAULT_MODELS, "text-embedding-3-small", "text-embedding-3-large",
                                               "text-embedding-ada-002", "omni-moderation-latest",
                                               "omni-moderation-2024-09-26"]
    for m in body["data"]:
        assert m["object"] == "model"
        assert isinstance(m["created"], int)
        assert m["owned_by"]
    one = engine.handle(request("GET", prefix + "/models/gpt-4o"))
    assert one.status == 200
    assert one.json() == {"id": "gpt-4o", "object": "model", "created": 1_700_000_000, "owned_by": "system"}


def test_chat_route_with_and_without_v1(engine: Engine) -> None:
    for path in ["/v1/chat/completions", "/chat/completions", "/v1/chat/completions/", "/openai/v1/chat/completions",
                 "/openai/deployments/my-deployment/chat/completions"]:
        res = engine.handle(request(path=path, body=chat_body()))
        assert res.status == 200, path
        strict_body(res.json())


def test_unknown_model_id(engine: Engine) -> None:
    assert_envelope(engine.handle(request("GET", "/v1/models/nope")), 404, code="model_not_found")


def test_models_replaced(make_engine: Any) -> None:
    engine = make_engine(models=["alpha", "beta"])
    assert [m["id"] for m in engine.handle(request("GET", "/v1/models")).json()["data"]] == ["alpha", "beta"]
    assert engine.handle(request("GET", "/v1/models/alpha")).status == 200
    assert_envelope(engine.handle(request("GET", "/v1/models/gpt-4o")), 404, code="model_not_found")
    # Without strict_models an unlisted model still answers.
    assert post(engine, chat_body(model="gpt-4o")).status == 200


def test_strict_models(make_engine: Any) -> None:
    engine = make_engine(models=["alpha"], strict_models=True)
    assert reply(engine, {**chat_body(), "model": "alpha"})["model"] == "alpha"
    err = assert_envelope(post(engine, chat_body(model="gpt-4o")), 404, code="model_not_found")
    assert "gpt-4o" in err["message"]


def test_strict_models_serve_the_snapshots_of_the_models_listed(make_engine: Any) -> None:
    """The dated snapshot a listed alias answers as is the same model (replies name it); it was a 404."""
    engine = make_engine(models=["gpt-4o"], strict_models=True)
    assert reply(engine, chat_body(model="gpt-4o"))["model"] == "gpt-4o-2024-08-06"
    assert reply(engine, chat_body(model="gpt-4o-2024-08-06"))["model"] == "gpt-4o-2024-08-06"
    answered = engine.handle(request(path="/v1/responses", body={"model": "gpt-4o-2024-08-06", "input": "Hi"}))
    assert answered.status == 200
    for model in ("gpt-4o-mini", "gpt-4o-2024-05-13"):  # another alias's snapshot, or an older one, is not offered
        assert_envelope(post(engine, chat_body(model=model)), 404, code="model_not_found")
        res = engine.handle(request(path="/v1/responses", body={"model": model, "input": "Hi"}))
        assert_envelope(res, 404, code="model_not_found")


def test_the_word_lists_read_as_data_are_fakers_own() -> None:
    """Every lorem locale Faker has gives the words ``Faker(locale)`` gives, whether they are read from the module
    or asked of Faker (a locale whose provider inherits its list)."""
    from pathlib import Path

    import faker.providers.lorem
    from faker import Faker

    from mockai.generate import _lorem_words, english_words

    locales = sorted(p.name for p in Path(faker.providers.lorem.__file__).parent.iterdir()
                     if p.is_dir() and not p.name.startswith("_"))
    assert "en_US" in locales
    assert _lorem_words("en_US") is not None
    for locale in locales:
        assert english_words(locale) == list(Faker(locale).provider("faker.providers.lorem").word_list), locale
    assert _lorem_words("xx_XX") is None
    assert _lorem_words("../en_US") is None
    assert _lorem_words("LA") is None  # spelled as Faker's folder is, or Faker decides (it refuses "LA")
    with pytest.raises(AttributeError):  # Faker's own refusal of a locale it does not have, as before
        english_words("xx_XX")


@pytest.mark.parametrize(("body", "read"), [
    ('word_list = ("a", "b")', ["a", "b"]),
    ('word_list: tuple = ("a", "b")', ["a", "b"]),
    ('word_list = ("a",)\n    word_list += ("b",)', None),  # bound twice: Faker says what it ends as
    ('word_list = ("a",)\n    word_list = ("b",)', None),
    ('word_list = tuple("ab")', None),  # not a literal
    ('word_list = ()', None),
    ("pass", None),  # inherited
])
def test_a_word_list_is_read_only_when_one_literal_binds_it(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                              body: str, read: list[str] | None) -> None:
    import importlib.machinery
    import importlib.util

    from mockai.generate import _lorem_words

    (tmp_path / "providers" / "lorem" / "la").mkdir(parents=True)
    (tmp_path / "providers" / "lorem" / "la" / "__init__.py").write_text(
        f'"""Lorem."""\nfrom .. import Provider as Base\n\n\nclass Provider(Base):\n    """Words."""\n\n    {body}\n')
    spec = importlib.machinery.ModuleSpec("faker", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec if name == "faker" else None)
    assert _lorem_words("la") == read
