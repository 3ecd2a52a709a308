"""Property tests over generated requests: each drawn "valid" request is valid by the official schema and the
SDK's request types (not by mockai's own parser), and gets a reply whose every body and chunk is strictly
valid, whose tool arguments and structured output fit their schemas, whose stream reassembles to it, and which
repeats under the same seed; over near-valid and arbitrary bodies: never a 500, always OpenAI's envelope, and
no 200 for a body the official schema refuses."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from conftest import AUTH, choices_of, post, reassemble, sse_chunks, strict_body, strict_chunks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from request_types import SPEC_MISSING, official, schema_problems, sdk_problems

from mockai import Config, Engine, HTTPRequest
from mockai.enums import IMAGE_DETAILS, INPUT_AUDIO_FORMATS, REASONING_EFFORTS, SERVICE_TIERS, VERBOSITIES

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The official request schema, each enum widened by what the installed SDK adds (as mockai's lists are).
OFFICIAL = official()

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


def strictify(schema: Any) -> Any:
    """``schema`` as strict mode wants it: every object closed, every property required."""
    if isinstance(schema, list):
        return [strictify(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strictify(v) if k in ("items", "anyOf") else v for k, v in schema.items()}
    if schema.get("type") == "object":
        out["properties"] = {k: strictify(v) for k, v in schema.get("properties", {}).items()}
        out["required"] = sorted(out["properties"])
        out["additionalProperties"] = False
    return out


@st.composite
def parameter_schemas(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """An object schema and whether it is sent as strict (then closed and all-required)."""
    schema = draw(object_schemas)
    strict = draw(st.booleans())
    return (strictify(schema), True) if strict else (schema, False)


@st.composite
def tools(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        params, strict = draw(parameter_schemas())
        out.append({"type": "function", "function": {"name": name, "parameters": params,
                                                     **({"strict": True} if strict else {})}})
    return out


image_parts = st.builds(
    lambda url, detail: {"type": "image_url", "image_url": {"url": url, **({"detail": detail} if detail else {})}},
    st.just("https://example.com/a.png"), st.none() | st.sampled_from(IMAGE_DETAILS))
text_messages = st.one_of(
    st.builds(lambda c: {"role": "user", "content": c}, texts),
    st.builds(lambda c: {"role": "system", "content": c}, texts),
    st.builds(lambda c: {"role": "developer", "content": [{"type": "text", "text": c}]}, texts),
    st.builds(lambda c: {"role": "assistant", "content": c}, texts),
    st.builds(lambda c, n: {"role": "user", "name": n, "content": [{"type": "text", "text": c}]}, texts, names),
)
image_messages = st.builds(lambda c, image: {"role": "user", "content": [{"type": "text", "text": c}, image]},
                           texts, image_parts)
messages = st.lists(text_messages | image_messages, min_size=1, max_size=4)
VISION = ("gpt-4o-mini", "o3", "custom-model")  # gpt-4 (0613) reads no images
metadata = st.dictionaries(st.text(min_size=1, max_size=64), st.text(max_size=512), max_size=16)
REASONING_MODELS = ("o3",)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(["gpt-4o-mini", "gpt-4", "o3", "custom-model"]))
    body: dict[str, Any] = {"model": model, "messages": draw(
        messages if model in VISION else st.lists(text_messages, min_size=1, max_size=4))}
    if draw(st.booleans()):
        body["n"] = draw(st.integers(1, 4))
    if model in REASONING_MODELS:  # they refuse sampling parameters, stop and max_tokens
        if draw(st.booleans()):
            body["max_completion_tokens"] = draw(st.integers(1, 60))
        if draw(st.booleans()):
            body["reasoning_effort"] = draw(st.sampled_from(REASONING_EFFORTS))
    else:
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
    if draw(st.booleans()):
        body["service_tier"] = draw(st.sampled_from(SERVICE_TIERS))
    if draw(st.booleans()):
        body["metadata"] = draw(metadata)
    kind = draw(st.sampled_from(["text", "tools", "json_object", "json_schema"]))
    if kind == "tools":
        body["tools"] = draw(tools())
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
        schema, strict = draw(parameter_schemas())
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": draw(names), "schema": schema, **({"strict": True} if strict else {})}}
    if draw(st.booleans()):
        body["seed"] = draw(st.integers(0, 2**31))
    if body["model"] == "o3":  # the real API refuses these for o3 (tests/test_reasoning_models.py)
        if "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")
        for refused in ("stop", "logprobs", "top_logprobs", "temperature"):
            body.pop(refused, None)
    return body


def judge_valid(body: dict[str, Any]) -> None:
    """``body`` is a request the real API takes, as far as the SDK's request types and the official schema say."""
    assert sdk_problems(body) == [], body
    assert schema_problems(body) == [], body


def test_the_official_schema_is_the_judge() -> None:
    if OFFICIAL is None:
        pytest.skip(SPEC_MISSING)
    valid = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "max",
             "service_tier": "fast"}
    assert OFFICIAL.is_valid(valid)
    for bad in ({"stop": []}, {"messages": [{"role": "user", "content": []}]}, {"n": 0}, {"verbosity": "loud"}):
        assert not OFFICIAL.is_valid({**valid, **bad}), bad


def check_outputs(body: dict[str, Any], completion: dict[str, Any]) -> None:
    """Every finished tool call's arguments and every finished structured output fit their schemas (unless a
    ``stop`` sequence cut the output, as it cuts the real model's)."""
    params = {t["function"]["name"]: t["function"]["parameters"] for t in body.get("tools", [])}
    fmt = body.get("response_format", {}) if not body.get("stop") else {}
    for choice in completion["choices"]:
        message = choice["message"]
        if choice["finish_reason"] == "tool_calls":
            for call in message["tool_calls"]:
                jsonschema.validate(json.loads(call["function"]["arguments"]), params[call["function"]["name"]])
        elif choice["finish_reason"] == "stop" and fmt.get("type") == "json_schema" and message["refusal"] is None:
            jsonschema.validate(json.loads(message["content"]), fmt["json_schema"]["schema"])
        elif choice["finish_reason"] == "stop" and fmt.get("type") == "json_object":
            assert isinstance(json.loads(message["content"]), dict)


ENGINE_A = Engine(Config(seed=3, clock=1_700_000_000))


@SETTINGS
@given(requests())
def test_valid_requests_get_valid_replies_and_streams(body: dict[str, Any]) -> None:
    judge_valid(body)
    res = post(ENGINE_A, body)
    assert res.status == 200, res.content()
    whole = strict_body(res.json())
    assert len(whole["choices"]) == body.get("n", 1)
    assert whole["service_tier"] in ("default", "flex", "scale", "priority")
    check_outputs(body, whole)
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

# Schema keywords whose value may break (or not): what a careless schema builder sends. The ones that give
# a schema its structure come up most, as they are what generation walks.
SCHEMA_KEYWORDS = ("type", "properties", "required", "items", "anyOf", "$defs") * 3 + (
    "prefixItems", "allOf", "oneOf", "definitions", "$ref", "enum", "minItems", "maxLength", "minimum",
    "multipleOf", "pattern", "format", "additionalProperties", "uniqueItems", "description")
STRICT = st.sampled_from([True, True, False, None])  # strict mode is where the structure is walked most


@st.composite
def near_valid_schemas(draw: st.DrawFn) -> Any:
    """A usable schema, strict-shaped or not, most often with one keyword (at the top or in a property) broken;
    now and then no schema at all."""
    schema = copy.deepcopy(draw(parameter_schemas())[0])  # the leaf schemas are shared: never break them
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    if draw(st.integers(0, 3)) > 0:
        target = schema
        while isinstance(target, dict) and target.get("properties") and draw(st.booleans()):
            target = target["properties"][draw(st.sampled_from(sorted(target["properties"])))]
        if isinstance(target, dict):
            target[draw(st.sampled_from(SCHEMA_KEYWORDS))] = draw(json_values | st.just([]) | st.just({}))
    return schema


@st.composite
def near_valid_tools(draw: st.DrawFn) -> Any:
    """Function tools (strict or not) whose schemas are near-valid; now and then no tools at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values | st.just([]))
    out = []
    for name in draw(st.lists(names, min_size=1, max_size=2, unique=True)):
        function: dict[str, Any] = {"name": name, "parameters": draw(near_valid_schemas())}
        if (strict := draw(STRICT)) is not None:
            function["strict"] = strict
        out.append({"type": "function", "function": function})
    return out


@st.composite
def near_valid_formats(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values | st.sampled_from([{"type": "json_object"}, {"type": "text"}]))
    spec: dict[str, Any] = {"name": draw(names), "schema": draw(near_valid_schemas())}
    if (strict := draw(STRICT)) is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def enum_values(values: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | st.just("") | texts | json_values


def audio_messages(fmt: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": fmt}}]}]


# One part of a valid request, broken or not: each key is a field, each value what may replace it.
BREAKERS: dict[str, st.SearchStrategy[Any]] = {
    "model": json_values | st.sampled_from(["", "gpt-4o-mini"]),
    "messages": json_values | st.just([]) | messages.map(lambda m: [{**m[0], "content": []}, *m[1:]])
    | st.lists(st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls", "tool_call_id"]),
                               json_values | st.sampled_from(["user", "tool", "assistant", "system"]) | st.just([])),
               max_size=3)
    | enum_values(INPUT_AUDIO_FORMATS).map(audio_messages),
    **dict.fromkeys(("n", "temperature", "tool_choice", "logprobs", "top_logprobs", "max_tokens", "stream",
                     "stream_options", "logit_bias", "parallel_tool_calls", "seed", "top_p", "functions"),
                    json_values),
    "stop": json_values | st.just([]) | st.lists(texts, max_size=5),
    "tools": near_valid_tools(),
    "response_format": near_valid_formats(),
    "metadata": json_values | metadata | st.dictionaries(texts, texts, min_size=17, max_size=18)
    | st.just({"k" * 65: "v"}) | st.just({"k": "v" * 513}),
    "reasoning_effort": enum_values(REASONING_EFFORTS),
    "service_tier": enum_values(SERVICE_TIERS),
    "verbosity": enum_values(VERBOSITIES),
    "modalities": st.lists(enum_values(("text", "audio")), max_size=2),
}


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request with one to three of its parts replaced by near-valid ones (see ``BREAKERS``)."""
    body = draw(requests())
    for key in draw(st.lists(st.sampled_from(WEIGHTED), min_size=1, max_size=3, unique=True)):
        body[key] = draw(BREAKERS[key])
        if key == "tools" and draw(st.integers(0, 4)) > 0:  # mostly no tool_choice naming a tool now gone
            body.pop("tool_choice", None)
    return body


# The schemas a request carries are broken most often: the checks behind them are the deepest.
WEIGHTED = sorted(BREAKERS) + ["tools", "response_format"] * 8


ENGINE_B = Engine(Config(seed=4, clock=1_700_000_000))
# Values mockai takes on purpose that the schema does not list: the open enums (see mockai.enums).
OPEN = ("reasoning_effort", "service_tier")


def without_nulls(value: Any) -> Any:
    """``value`` without the object fields set to ``null``: mockai reads an optional field sent as ``null`` as
    left out (many clients send every field), where the schema does not always list ``null``."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def check_answer(raw: bytes, body: Any = None) -> None:
    res = ENGINE_B.handle(HTTPRequest("POST", "/v1/chat/completions", headers=AUTH, body=raw))
    assert res.status != 500, res.content()
    if res.status == 200:
        if res.is_stream:
            strict_chunks(sse_chunks(res))
        else:
            strict_body(res.json())
        if OFFICIAL is not None and isinstance(body, dict):
            body = without_nulls(body)
            errors = [e for e in OFFICIAL.iter_errors(body)
                      if not (len(e.absolute_path) == 1 and e.absolute_path[0] in OPEN and body[e.absolute_path[0]])]
            assert errors == [], f"mockai answered 200 to a body the official schema refuses: {errors[0].message}"
        return
    assert res.status == 400, res.content()
    answer = res.json()
    assert set(answer) == {"error"}
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["type"] == "invalid_request_error"
    assert isinstance(answer["error"]["message"], str)
    assert answer["error"]["param"] is None or isinstance(answer["error"]["param"], str)


@SETTINGS
@given(json_values)
def test_arbitrary_json_never_500(value: Any) -> None:
    check_answer(json.dumps(value).encode(), value)


@SETTINGS
@given(near_valid())
def test_near_valid_bodies_never_500(value: dict[str, Any]) -> None:
    check_answer(json.dumps(value).encode(), value)


@SETTINGS
@given(near_valid_schemas(), STRICT, st.sampled_from(["tool", "response_format", "function"]))
def test_near_valid_schemas_never_500(schema: Any, strict: bool | None, where: str) -> None:
    """Every schema a request carries, strict or not, called or not: a 200 or the real API's 400, never a 500."""
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    extra = {} if strict is None else {"strict": strict}
    if where == "tool":
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": schema, **extra}}]
        body["tool_choice"] = "required"
    elif where == "response_format":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, **extra}}
    else:
        body["functions"] = [{"name": "f", "parameters": schema}]
        body["function_call"] = {"name": "f"}
    check_answer(json.dumps(body).encode(), body)
    res = ENGINE_B.handle(HTTPRequest("POST", "/v1/chat/completions", headers=AUTH, body=json.dumps(body).encode()))
    if res.status == 400 and res.json()["error"]["code"] in ("invalid_function_parameters", "invalid_json_schema"):
        assert res.json()["error"]["param"] == {"tool": "tools[0].function.parameters",
                                                "response_format": "response_format",
                                                "function": "functions[0].parameters"}[where]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_500(raw: bytes) -> None:
    check_answer(raw)
