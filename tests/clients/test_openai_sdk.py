"""The real ``openai`` SDK against mockai through three doors: the sync client over a socket, the async client
in-process (httpx's ASGITransport over the Starlette app) and the async client over a socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal

import httpx
import jsonschema
import openai
import pydantic
import pytest
from conftest import KEY, MODEL, TIME_TOOL, WEATHER_TOOL, asgi_client, choices_of, strict_body, strict_chunks
from openai.types.chat import ChatCompletion

from mockai import Config, Engine, tokens
from mockai.server import ServerThread

USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [WEATHER_TOOL, TIME_TOOL]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


class Pet(pydantic.BaseModel):
    name: str
    age: int
    kind: Literal["cat", "dog"]
    tags: list[str]


class GetTime(pydantic.BaseModel):
    zone: Literal["UTC", "CET"]


Kind = Literal["sync-socket", "async-inprocess", "async-socket"]


class Door:
    """One way of reaching mockai with the SDK; every method runs the SDK call and returns plain results."""

    def __init__(self, kind: Kind, engine: Engine, server: ServerThread | None, api_key: str = KEY,
                 base_url: str | None = None) -> None:
        self.kind, self.engine, self.server, self.api_key = kind, engine, server, api_key
        self.base_url = base_url or (server.base_url if server else None)

    def with_(self, api_key: str | None = None, base_url: str | None = None) -> Door:
        return Door(self.kind, self.engine, self.server, api_key or self.api_key, base_url or self.base_url)

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)``: a value for the sync client, a coroutine for the async one."""
        if self.kind == "sync-socket":
            with openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=10) as c:
                return fn(c)

        async def main() -> Any:
            if self.kind == "async-inprocess":
                client = asgi_client(self.engine, self.api_key)
                if self.base_url:
                    client = client.with_options(base_url=self.base_url)
            else:
                client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=10)
            async with client:
                return await fn(client)

        return asyncio.run(main())

    def create(self, **kw: Any) -> ChatCompletion:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        result = self.run(lambda c: c.chat.completions.create(**kw))
        assert isinstance(result, ChatCompletion)
        strict_body(result.model_dump(mode="json"))
        return result

    def raw(self, **kw: Any) -> httpx.Response:
        """The raw HTTP answer to a create call, through the SDK's ``with_raw_response``."""
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        if self.kind == "sync-socket":
            return self.run(lambda c: c.chat.completions.with_raw_response.create(**kw)).http_response  # type: ignore[no-any-return]

        async def call(c: Any) -> httpx.Response:
            res = await c.chat.completions.with_raw_response.create(**kw)
            await res.http_response.aread()
            return res.http_response  # type: ignore[no-any-return]

        return self.run(call)  # type: ignore[no-any-return]

    def error(self, fn: Callable[[Any], Any] | None = None, **kw: Any) -> openai.APIStatusError:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        with pytest.raises(openai.APIStatusError) as info:
            self.run(fn or (lambda c: c.chat.completions.create(**kw)))
        return info.value

    def chunks(self, **kw: Any) -> list[dict[str, Any]]:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        if self.kind == "sync-socket":
            def sync(c: Any) -> list[Any]:
                with c.chat.completions.create(stream=True, **kw) as s:
                    return list(s)
            parts = self.run(sync)
        else:
            async def collect(c: Any) -> list[Any]:
                s = await c.chat.completions.create(stream=True, **kw)
                return [chunk async for chunk in s]
            parts = self.run(collect)
        return strict_chunks([p.model_dump(mode="json", exclude_unset=True) for p in parts])

    def helper(self, **kw: Any) -> tuple[list[Any], Any]:
        """``client.chat.completions.stream(...)``: the events and ``get_final_completion()``."""
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        if self.kind == "sync-socket":
            def sync(c: Any) -> tuple[list[Any], Any]:
                with c.chat.completions.stream(**kw) as s:
                    events = list(s)
                    return events, s.get_final_completion()
            return self.run(sync)  # type: ignore[no-any-return]

        async def collect(c: Any) -> tuple[list[Any], Any]:
            async with c.chat.completions.stream(**kw) as s:
                events = [e async for e in s]
                return events, await s.get_final_completion()
        return self.run(collect)  # type: ignore[no-any-return]

    def parse(self, **kw: Any) -> Any:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        return self.run(lambda c: c.chat.completions.parse(**kw))


@pytest.fixture(params=["sync-socket", "async-inprocess", "async-socket"])
def open_door(request: pytest.FixtureRequest, serve: Callable[..., ServerThread]) -> Callable[..., Door]:
    """``open_door(**config)``: a :class:`Door` of this test's kind onto an engine with ``config``."""
    kind: Kind = request.param

    def make(**config: Any) -> Door:
        config.setdefault("seed", 1)
        config.setdefault("clock", 1_700_000_000)
        if kind == "async-inprocess":
            return Door(kind, Engine(Config(**config)), None)
        server = serve(**config)
        return Door(kind, server.engine, server)

    return make


@pytest.fixture
def door(open_door: Callable[..., Door]) -> Door:
    return open_door()


# --- replies ---------------------------------------------------------------------------------------------


def test_plain_reply(door: Door) -> None:
    res = door.create()
    assert res.object == "chat.completion"
    assert res.id.startswith("chatcmpl-")
    assert res.created == 1_700_000_000
    assert res.model == "gpt-4o-mini-2024-07-18"
    [choice] = res.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.message.refusal is None
    assert res.usage is not None
    assert res.usage.total_tokens == res.usage.prompt_tokens + res.usage.completion_tokens
    assert door.create().id != res.id


def test_headers(door: Door) -> None:
    http = door.raw()
    assert http.status_code == 200
    assert http.headers["content-type"] == "application/json"
    assert http.headers["x-request-id"].startswith("req_")
    assert ChatCompletion.model_validate(http.json(), strict=True).choices[0].message.content


def test_same_reply_through_every_door(door: Door) -> None:
    direct = Engine(Config(seed=1, clock=1_700_000_000))
    from conftest import post

    expected = post(direct, {"model": MODEL, "messages": USER, "n": 2}).json()
    got = door.create(n=2).model_dump(mode="json", exclude_unset=True)
    assert got["choices"] == expected["choices"]
    assert got["id"] == expected["id"]


def test_n(door: Door) -> None:
    res = door.create(n=3)
    assert [c.index for c in res.choices] == [0, 1, 2]
    assert len({c.message.content for c in res.choices}) == 3


def test_stop(door: Door) -> None:
    full = door.create().choices[0].message.content
    assert full
    word = full.split()[1]
    res = door.create(stop=[word])
    assert res.choices[0].message.content == full[: full.index(word)]
    assert res.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit(door: Door, field: str) -> None:
    res = door.create(messages=[{"role": "user", "content": "Write a long essay"}], **{field: 5})
    assert res.choices[0].finish_reason == "length"
    assert res.usage is not None
    assert res.usage.completion_tokens <= 5
    assert len(tokens.split(res.choices[0].message.content or "")) == 5


def test_logprobs(door: Door) -> None:
    res = door.create(logprobs=True, top_logprobs=2)
    lp = res.choices[0].logprobs
    assert lp is not None
    assert lp.content
    assert "".join(t.token for t in lp.content) == res.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 for t in lp.content)


@pytest.mark.parametrize("choice", ["required", "auto", {"type": "function", "function": {"name": "get_time"}}],
                         ids=["required", "auto", "named"])
def test_tools(door: Door, choice: Any) -> None:
    messages = [{"role": "user", "content": "Use get_time or get_weather"}]
    res = door.create(messages=messages, tools=TOOLS, tool_choice=choice, n=4)
    for c in res.choices:
        assert c.finish_reason == "tool_calls"
        assert c.message.tool_calls
        for call in c.message.tool_calls:
            assert call.id.startswith("call_")
            assert call.type == "function"
            if isinstance(choice, dict):
                assert call.function.name == "get_time"
            jsonschema.validate(json.loads(call.function.arguments), PARAMS[call.function.name])


def test_tool_choice_none(door: Door) -> None:
    res = door.create(tools=TOOLS, tool_choice="none", n=3)
    assert all(c.finish_reason == "stop" and not c.message.tool_calls for c in res.choices)


def test_tool_round_trip(door: Door) -> None:
    first = door.create(tools=TOOLS, tool_choice="required")
    calls = first.choices[0].message.tool_calls
    assert calls
    messages = [*USER, first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "42"} for c in calls]
    follow = door.create(messages=messages, tools=TOOLS)
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content


def test_parse_with_a_pydantic_model(door: Door) -> None:
    res = door.parse(response_format=Pet, n=3)
    for c in res.choices:
        assert isinstance(c.message.parsed, Pet)
        assert c.message.parsed.kind in ("cat", "dog")
        assert Pet.model_validate_json(c.message.content) == c.message.parsed


def test_parse_tool_arguments(door: Door) -> None:
    res = door.parse(tools=[openai.pydantic_function_tool(GetTime)], tool_choice="required")
    call = res.choices[0].message.tool_calls[0]
    assert isinstance(call.function.parsed_arguments, GetTime)


def test_json_object(door: Door) -> None:
    res = door.create(messages=[{"role": "user", "content": "answer in json"}],
                      response_format={"type": "json_object"})
    assert isinstance(json.loads(res.choices[0].message.content or ""), dict)


def test_unknown_parameters_are_accepted(door: Door) -> None:
    assert door.create(extra_body={"brand_new_option": {"x": 1}}).choices[0].message.content


# --- streams ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {}, {"n": 3}, {"tools": TOOLS, "tool_choice": "required", "n": 2}, {"logprobs": True, "top_logprobs": 2},
    {"max_tokens": 4}, {"tools": TOOLS, "n": 5},
], ids=["plain", "n", "tools", "logprobs", "max_tokens", "auto"])
def test_stream_iterating_chunks(door: Door, params: dict[str, Any]) -> None:
    from conftest import reassemble

    parts = door.chunks(**params)
    whole = door.create(**params).model_dump(mode="json", exclude_unset=True)
    assert reassemble(parts) == choices_of(whole)
    assert len({p["id"] for p in parts}) == 1
    assert all("usage" not in p or p["usage"] is None for p in parts)


def test_stream_include_usage(door: Door) -> None:
    parts = door.chunks(stream_options={"include_usage": True}, n=2)
    assert parts[-1]["choices"] == []
    usage = parts[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert door.create(n=2).usage.model_dump(mode="json", exclude_unset=True) == usage  # type: ignore[union-attr]


def test_stream_helper(door: Door) -> None:
    events, final = door.helper()
    kinds = [e.type for e in events]
    assert "chunk" in kinds
    assert "content.delta" in kinds
    assert kinds.count("content.done") == 1
    done = next(e for e in events if e.type == "content.done")
    assert final.choices[0].message.content == done.content
    assert "".join(e.delta for e in events if e.type == "content.delta") == done.content
    assert final.choices[0].message.content == door.create().choices[0].message.content


def test_stream_helper_tools(door: Door) -> None:
    events, final = door.helper(tools=[openai.pydantic_function_tool(GetTime)], tool_choice="required")
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert done
    assert done[0].name == "GetTime"
    assert isinstance(done[0].parsed_arguments, GetTime)
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.tool_calls[0].function.parsed_arguments == done[0].parsed_arguments


def test_stream_helper_parse(door: Door) -> None:
    events, final = door.helper(response_format=Pet)
    assert isinstance(final.choices[0].message.parsed, Pet)
    assert any(e.type == "content.done" and isinstance(e.parsed, Pet) for e in events)


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "param", "code"), [
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "invalid_value"),
    ({"temperature": 5}, "temperature", "integer_above_max_value"),
    ({"n": 0}, "n", "integer_below_min_value"),
    ({"top_logprobs": 2}, "top_logprobs", "invalid_value"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
    ({"response_format": {"type": "json_object"}}, "messages", None),
    ({"tools": [{"type": "function", "function": {"name": "no spaces"}}]}, "tools[0].function.name",
     "invalid_value"),
    ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "c"}]}, "messages[0].role", None),
    ({"extra_body": {"temperature": "1"}}, "temperature", "invalid_type"),
], ids=["role", "temperature", "n", "top_logprobs", "stop", "json_object", "tool name", "tool message", "type"])
def test_bad_request(door: Door, kw: dict[str, Any], param: str, code: str | None) -> None:
    err = door.error(**kw)
    assert isinstance(err, openai.BadRequestError)
    assert err.status_code == 400
    assert err.param == param
    assert err.code == code
    assert err.type == "invalid_request_error"
    assert isinstance(err.body, dict)
    assert set(err.body) == {"message", "type", "param", "code"}
    assert err.request_id is not None


def test_missing_model(door: Door) -> None:
    err = door.error(lambda c: c.chat.completions.create(model=MODEL, messages=USER, extra_body={"model": None}))
    assert isinstance(err, openai.BadRequestError)
    assert err.param == "model"


def test_authentication(open_door: Callable[..., Door]) -> None:
    door = open_door(api_key="sk-exact")
    assert door.with_(api_key="sk-exact").create().choices
    err = door.with_(api_key="sk-wrong").error()
    assert isinstance(err, openai.AuthenticationError)
    assert err.status_code == 401
    assert err.code == "invalid_api_key"


def test_no_auth(open_door: Callable[..., Door]) -> None:
    door = open_door(auth=False)
    res = door.run(lambda c: c.chat.completions.create(model=MODEL, messages=USER,
                                                       extra_headers={"Authorization": openai.Omit()}))
    assert res.choices[0].message.content
    err = open_door().error(lambda c: c.chat.completions.create(model=MODEL, messages=USER,
                                                                extra_headers={"Authorization": openai.Omit()}))
    assert isinstance(err, openai.AuthenticationError)


def test_azure_api_key_header(open_door: Callable[..., Door]) -> None:
    door = open_door(api_key="azure-secret")
    res = door.run(lambda c: c.chat.completions.create(
        model=MODEL, messages=USER, extra_headers={"Authorization": openai.Omit(), "api-key": "azure-secret"}))
    assert res.choices[0].message.content


def test_unknown_url(door: Door) -> None:
    root = door.base_url[: -len("/v1")] if door.base_url else "http://mockai"
    err = door.with_(base_url=root + "/v9").error()
    assert isinstance(err, openai.NotFoundError)
    assert err.status_code == 404


def test_an_embedding_or_moderation_model_is_not_a_chat_model(door: Door) -> None:
    """The chat endpoint refuses the models of other endpoints as the real API does: 404, its words, ``param``
    ``model`` and no code (whatever the model list: these models exist, they only do not chat)."""
    for model in ("text-embedding-3-small", "omni-moderation-latest"):
        err = door.error(model=model)
        assert isinstance(err, openai.NotFoundError)
        assert err.body == {"message": "This is not a chat model and thus not supported in the v1/chat/completions "
                                       "endpoint. Did you mean to use v1/completions?",
                            "type": "invalid_request_error", "param": "model", "code": None}


def test_unknown_model_with_strict_models(open_door: Callable[..., Door]) -> None:
    door = open_door(models=["gpt-4o-mini"], strict_models=True)
    assert door.create().choices
    err = door.error(model="gpt-nope")
    assert isinstance(err, openai.NotFoundError)
    assert err.code == "model_not_found"
    err = door.error(lambda c: c.models.retrieve("gpt-nope"))
    assert isinstance(err, openai.NotFoundError)
    assert err.code == "model_not_found"


def test_models(open_door: Callable[..., Door]) -> None:
    door = open_door(models=["alpha", "beta"])
    if door.kind == "sync-socket":
        listed = door.run(lambda c: [m.id for m in c.models.list()])
    else:
        async def collect(c: Any) -> list[str]:
            return [m.id async for m in c.models.list()]
        listed = door.run(collect)
    assert listed == ["alpha", "beta"]
    assert door.run(lambda c: c.models.retrieve("beta")).id == "beta"


def test_a_reply_names_a_model_the_models_endpoint_retrieves(door: Door) -> None:
    """Replies name the dated snapshot (gpt-4o-2024-08-06) a listed alias answers as; retrieving it was a 404."""
    named = door.run(lambda c: c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]))
    assert named.model == "gpt-4o-2024-08-06"
    assert door.run(lambda c: c.models.retrieve(named.model)).id == "gpt-4o-2024-08-06"
    assert isinstance(door.error(lambda c: c.models.retrieve("gpt-4o-2099-01-01")), openai.NotFoundError)


def test_wrong_method(door: Door) -> None:
    err = door.error(lambda c: c.put("/chat/completions", cast_to=object))
    assert err.status_code == 405
    assert isinstance(err.body, dict)
    assert err.body["type"] == "invalid_request_error"


def test_body_too_large(open_door: Callable[..., Door]) -> None:
    door = open_door(max_body=500)
    assert door.create().choices
    err = door.error(messages=[{"role": "user", "content": "x" * 1000}])
    assert err.status_code == 413
    assert isinstance(err.body, dict)
    assert err.body["type"] == "invalid_request_error"
