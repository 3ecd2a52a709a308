"""Stored chat completions (``store: true``): list, retrieve, update, delete and the messages list, through the
real ``openai`` SDK in-process (``MockAI().client()`` / ``async_client()``) and over a socket (``mock.serve()``),
sync and async, with the SDK's auto-pagination; bodies checked against the official schema and the SDK's types."""

from __future__ import annotations

import asyncio
import doctest
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

import jsonschema
import openai
import pytest
from conftest import MODEL, WEATHER_TOOL, assert_envelope, reassemble, request
from openai.pagination import SyncCursorPage
from openai.types.chat import ChatCompletion, ChatCompletionDeleted, ChatCompletionStoreMessage

from mockai import MockAI, stored
from mockai.server import ServerThread

SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-spec" / "openai-chat.schema.json"
USER = [{"role": "user", "content": "Hello there"}]

Kind = Literal["sync-inprocess", "async-inprocess", "sync-socket", "async-socket"]


class Door:
    """The SDK reaching one mock one way; each method runs an SDK call and returns plain results."""

    def __init__(self, kind: Kind, mock: MockAI, server: ServerThread | None) -> None:
        self.kind, self.mock, self.server = kind, mock, server

    def _client(self) -> Any:
        socket = {"base_url": self.server.base_url, "api_key": "sk-test"} if self.server is not None else None
        if self.kind == "sync-inprocess":
            return self.mock.client(max_retries=0)
        if self.kind == "async-inprocess":
            return self.mock.async_client(max_retries=0)
        if self.kind == "sync-socket":
            return openai.OpenAI(max_retries=0, timeout=10, **(socket or {}))
        return openai.AsyncOpenAI(max_retries=0, timeout=10, **(socket or {}))

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)``: its value for a sync client; awaited (and async-iterated when it is a paginator, as
        the SDK's auto-pagination) for an async one."""
        client = self._client()
        if self.kind.startswith("sync"):
            with client:
                result = fn(client)
                return list(result) if isinstance(result, SyncCursorPage) else result

        async def main() -> Any:
            async with client:
                result = fn(client)
                if hasattr(result, "__aiter__"):  # the SDK's AsyncPaginator
                    return [item async for item in result]
                return await result if inspect.isawaitable(result) else result

        return asyncio.run(main())

    def page(self, fn: Callable[[Any], Any]) -> Any:
        """The first page only (``fn`` returns a list call): ``SyncCursorPage`` / ``AsyncCursorPage``."""
        client = self._client()
        if self.kind.startswith("sync"):
            with client:
                return fn(client)

        async def main() -> Any:
            async with client:
                return await fn(client)

        return asyncio.run(main())

    def error(self, fn: Callable[[Any], Any]) -> openai.APIStatusError:
        with pytest.raises(openai.APIStatusError) as info:
            self.run(fn)
        return info.value

    def create(self, **kw: Any) -> ChatCompletion:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        result = self.run(lambda c: c.chat.completions.create(**kw))
        assert isinstance(result, ChatCompletion)
        return result

    def stream(self, **kw: Any) -> list[dict[str, Any]]:
        """A streamed create: its chunks as JSON."""
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", USER)
        if self.kind.startswith("sync"):
            def sync(c: Any) -> list[Any]:
                with c.chat.completions.create(stream=True, **kw) as s:
                    return list(s)
            parts = self.run(sync)
        else:
            async def collect(c: Any) -> list[Any]:
                s = await c.chat.completions.create(stream=True, **kw)
                return [chunk async for chunk in s]
            parts = self.run(collect)
        return [p.model_dump(mode="json", exclude_unset=True) for p in parts]


@pytest.fixture(params=["sync-inprocess", "async-inprocess", "sync-socket", "async-socket"])
def door(request: pytest.FixtureRequest) -> Iterator[Door]:
    mock = MockAI(seed=3, clock=1_700_000_000)
    kind: Kind = request.param
    if kind.endswith("socket"):
        with mock.serve() as server:
            yield Door(kind, mock, server)
    else:
        yield Door(kind, mock, None)


def ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


# --- the SDK through every door ------------------------------------------------------------------------------


def test_list_pages_orders_and_filters(door: Door) -> None:
    made = [door.create(messages=[{"role": "user", "content": f"Question {i}"}], store=True,
                        metadata={"run": "odd" if i % 2 else "even", "n": str(i)}) for i in range(5)]
    unstored = door.create(messages=[{"role": "user", "content": "Not kept"}])
    other = door.create(model="gpt-4o", store=True)
    stored_ids = [*ids(made), other.id]

    # Auto-pagination: pages of two, oldest first (the default order), `after` the last id of each page.
    before = door.mock.call_count
    assert ids(door.run(lambda c: c.chat.completions.list(limit=2))) == stored_ids
    pages = [c for c in door.mock.calls[before:] if c.route == "chat.list"]
    assert [dict(parse_qsl(c.http.query)) for c in pages] == [
        {"limit": "2"}, {"limit": "2", "after": made[1].id}, {"limit": "2", "after": made[3].id}]
    assert unstored.id not in stored_ids

    first = door.page(lambda c: c.chat.completions.list(limit=2))
    assert ids(first.data) == ids(made[:2])
    assert first.has_more is True
    assert first.has_next_page()
    last = door.page(lambda c: c.chat.completions.list(limit=2, after=made[3].id))
    assert ids(last.data) == [made[4].id, other.id]
    assert last.has_more is False
    assert not last.has_next_page()

    assert ids(door.run(lambda c: c.chat.completions.list(order="desc"))) == stored_ids[::-1]
    newest = door.page(lambda c: c.chat.completions.list(order="desc", limit=3))
    assert ids(newest.data) == stored_ids[::-1][:3]
    assert newest.has_more is True

    odd = door.run(lambda c: c.chat.completions.list(metadata={"run": "odd"}))
    assert ids(odd) == [made[1].id, made[3].id]
    assert ids(door.run(lambda c: c.chat.completions.list(metadata={"run": "odd", "n": "3"}))) == [made[3].id]
    assert door.run(lambda c: c.chat.completions.list(metadata={"run": "none"})) == []
    assert ids(door.run(lambda c: c.chat.completions.list(model="gpt-4o"))) == [other.id]
    assert ids(door.run(lambda c: c.chat.completions.list(model=MODEL, limit=1))) == ids(made)


def test_retrieve_update_delete(door: Door) -> None:
    made = door.create(store=True, temperature=0.5, seed=42, user="u-1", tools=[WEATHER_TOOL])
    got = door.run(lambda c: c.chat.completions.retrieve(made.id))
    assert isinstance(got, ChatCompletion)
    for field in ("id", "created", "model", "choices", "usage", "system_fingerprint", "service_tier"):
        assert getattr(got, field) == getattr(made, field), field
    assert got.metadata == {}
    extra = got.model_extra or {}
    assert extra["temperature"] == 0.5
    assert extra["seed"] == 42
    assert extra["input_user"] == "u-1"
    assert extra["top_p"] == 1.0
    assert extra["tools"] == [WEATHER_TOOL]
    assert extra["tool_choice"] is None
    assert extra["request_id"].startswith("req_")

    updated = door.run(lambda c: c.chat.completions.update(made.id, metadata={"topic": "weather"}))
    assert isinstance(updated, ChatCompletion)
    assert updated.id == made.id
    assert updated.metadata == {"topic": "weather"}
    assert updated.choices == made.choices
    assert door.run(lambda c: c.chat.completions.retrieve(made.id)).metadata == {"topic": "weather"}
    assert ids(door.run(lambda c: c.chat.completions.list(metadata={"topic": "weather"}))) == [made.id]
    replaced = door.run(lambda c: c.chat.completions.update(made.id, metadata={"other": "x"}))
    assert replaced.metadata == {"other": "x"}  # replaced, not merged
    assert door.run(lambda c: c.chat.completions.list(metadata={"topic": "weather"})) == []
    assert door.run(lambda c: c.chat.completions.update(made.id, metadata=None)).metadata == {}

    deleted = door.run(lambda c: c.chat.completions.delete(made.id))
    assert isinstance(deleted, ChatCompletionDeleted)
    assert (deleted.id, deleted.deleted, deleted.object) == (made.id, True, "chat.completion.deleted")
    for gone in (lambda c: c.chat.completions.retrieve(made.id),
                 lambda c: c.chat.completions.delete(made.id),
                 lambda c: c.chat.completions.update(made.id, metadata={"a": "b"}),
                 lambda c: c.chat.completions.messages.list(made.id)):
        err = door.error(gone)
        assert isinstance(err, openai.NotFoundError)
        assert isinstance(err.body, dict)
        assert err.body["message"] == f"Chat completion with id '{made.id}' not found."
        assert err.body["type"] == "invalid_request_error"
    assert door.run(lambda c: c.chat.completions.list()) == []


def test_store_false_or_unset_is_not_kept(door: Door) -> None:
    kept = door.create(store=True)
    for made in (door.create(), door.create(store=False), door.create(store=False, metadata={"a": "b"})):
        assert isinstance(door.error(lambda c, m=made: c.chat.completions.retrieve(m.id)), openai.NotFoundError)
    assert ids(door.run(lambda c: c.chat.completions.list())) == [kept.id]


def test_messages_are_the_requests_with_ids(door: Door) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    sent = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is "}, image, {"type": "text", "text": "this?"}],
         "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    made = door.create(messages=sent, tools=[WEATHER_TOOL], store=True)
    listed = door.run(lambda c: c.chat.completions.messages.list(made.id, limit=1))  # auto-pagination, pages of 1
    assert all(isinstance(m, ChatCompletionStoreMessage) for m in listed)
    assert ids(listed) == [f"{made.id}-{i}" for i in range(4)]
    assert [m.role for m in listed] == ["system", "user", "assistant", "tool"]
    system, user, assistant, tool = (m.model_dump(mode="json", exclude_none=True) for m in listed)
    assert system == {"id": f"{made.id}-0", "role": "system", "content": "Be brief."}
    assert user["content"] == "What is this?"
    assert user["name"] == "ann"
    assert user["content_parts"] == [sent[1]["content"][0], image, sent[1]["content"][2]]
    assert assistant["tool_calls"] == [call]
    assert "content" not in assistant
    assert (tool.get("tool_call_id"), tool["content"]) == ("call_1", "sunny")

    first = door.page(lambda c: c.chat.completions.messages.list(made.id, limit=3))
    assert ids(first.data) == [f"{made.id}-{i}" for i in range(3)]
    assert first.has_more is True
    rest = door.page(lambda c: c.chat.completions.messages.list(made.id, after=f"{made.id}-2"))
    assert ids(rest.data) == [f"{made.id}-3"]
    assert rest.has_more is False
    newest = door.run(lambda c: c.chat.completions.messages.list(made.id, order="desc"))
    assert ids(newest) == [f"{made.id}-{i}" for i in (3, 2, 1, 0)]


def test_a_stream_is_stored_as_the_completion_it_reassembles_to(door: Door) -> None:
    tool_choice = {"type": "function", "function": {"name": "get_weather"}}
    ask = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER_TOOL], "n": 2,
           "tool_choice": tool_choice, "store": True}
    plain = door.create(**ask)
    chunks = door.stream(**ask)
    streamed_id = chunks[0]["id"]
    assert streamed_id != plain.id
    got = door.run(lambda c: c.chat.completions.retrieve(streamed_id))
    as_body = got.model_dump(mode="json", exclude_unset=True)
    rebuilt = reassemble(chunks)
    for choice in as_body["choices"]:
        message = choice["message"]
        assert rebuilt[choice["index"]]["tool_calls"] == message["tool_calls"]
        assert rebuilt[choice["index"]]["finish_reason"] == choice["finish_reason"] == "tool_calls"
        assert rebuilt[choice["index"]]["content"] == message["content"]
    # The first stream of a request carries what its first non-stream reply did: the stored objects agree.
    assert got.choices == plain.choices
    assert got.usage is not None
    assert got.usage == plain.usage
    assert (got.created, got.model, got.system_fingerprint) == (chunks[0]["created"], chunks[0]["model"],
                                                                chunks[0]["system_fingerprint"])

    text = door.stream(messages=[{"role": "user", "content": "Tell me a story"}], store=True,
                       stream_options={"include_usage": True})
    story = door.run(lambda c: c.chat.completions.retrieve(text[0]["id"]))
    assert story.choices[0].message.content == reassemble(text)[0]["content"]
    assert story.usage is not None
    assert story.usage.model_dump(exclude_unset=True) == text[-1]["usage"]


# --- the wire: the official schema and the SDK's types, strictly ----------------------------------------------


def _validator(name: str, schema: dict[str, Any] | None = None) -> jsonschema.Draft202012Validator:
    if not SPEC.exists():
        pytest.skip(f"the official schema is not here ({SPEC}): this checkout sits outside the shared workspace")
    spec = json.loads(SPEC.read_text())
    return jsonschema.Draft202012Validator({"$schema": spec["$schema"], "$defs": spec["$defs"],
                                            **(schema or {"$ref": f"#/$defs/{name}"})})


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    """The spec's ChatCompletionList / ChatCompletionMessageList (not in the extracted bundle): a list object."""
    return {"type": "object", "required": ["object", "data", "first_id", "last_id", "has_more"],
            "properties": {"object": {"enum": ["list"]}, "data": {"type": "array", "items": item},
                           "first_id": {"type": "string"}, "last_id": {"type": "string"},
                           "has_more": {"type": "boolean"}}}


# The spec's ChatCompletionMessageList item: ChatCompletionResponseMessage with an id and content_parts.
MESSAGE_ITEM = {"allOf": [{"$ref": "#/$defs/ChatCompletionResponseMessage"}, {
    "type": "object", "required": ["id"],
    "properties": {"id": {"type": "string"}, "content_parts": {"anyOf": [{"type": "null"}, {"type": "array", "items": {
        "oneOf": [{"$ref": "#/$defs/ChatCompletionRequestMessageContentPartText"},
                  {"$ref": "#/$defs/ChatCompletionRequestMessageContentPartImage"}]}}]}}}]}
DELETED = {"type": "object", "required": ["object", "id", "deleted"],
           "properties": {"object": {"enum": ["chat.completion.deleted"]}, "id": {"type": "string"},
                          "deleted": {"type": "boolean"}}}


def _valid(validator: jsonschema.Draft202012Validator, body: Any) -> Any:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(body)]
    assert not errors, errors
    return body


def test_bodies_conform_to_the_schema_and_the_sdk_types() -> None:
    mock = MockAI(seed=5)
    engine = mock.engine
    completion = _validator("CreateChatCompletionResponse")
    messages = [{"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                             {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
                {"role": "assistant", "content": "Hello", "refusal": None}, {"role": "user", "content": "Weather?"}]
    made = [engine.handle(request(body={"model": MODEL, "messages": messages, "store": True, "tools": [WEATHER_TOOL],
                                        "metadata": {"i": str(i)}, "stream": i == 1})) for i in range(3)]
    first_id = made[0].json()["id"]

    listed = engine.handle(request("GET", "/v1/chat/completions", body=None))
    body = _valid(_validator("", _list_of({"$ref": "#/$defs/CreateChatCompletionResponse"})), listed.json())
    assert len(body["data"]) == 3
    assert body["first_id"] == first_id
    assert body["has_more"] is False
    for item in body["data"]:
        ChatCompletion.model_validate(item, strict=True)
    retrieved = engine.handle(request("GET", f"/v1/chat/completions/{first_id}", body=None)).json()
    ChatCompletion.model_validate(_valid(completion, retrieved), strict=True)
    assert retrieved == body["data"][0]
    updated = engine.handle(request("POST", f"/v1/chat/completions/{first_id}", body={"metadata": {"k": "v"}}))
    ChatCompletion.model_validate(_valid(completion, updated.json()), strict=True)

    page = engine.handle(request("GET", f"/v1/chat/completions/{first_id}/messages", body=None)).json()
    assert [m["role"] for m in page["data"]] == ["developer", "user", "assistant", "user"]
    # The real API lists the request's messages with their own roles (its documented example shows a user
    # message), while the spec and the SDK type every item as an assistant message: everything else conforms.
    as_typed = {**page, "data": [{**m, "role": "assistant"} for m in page["data"]]}
    _valid(_validator("", _list_of(MESSAGE_ITEM)), as_typed)
    for item in as_typed["data"]:
        ChatCompletionStoreMessage.model_validate(item, strict=True)

    deleted = engine.handle(request("DELETE", f"/v1/chat/completions/{first_id}", body=None)).json()
    ChatCompletionDeleted.model_validate(_valid(_validator("", DELETED), deleted), strict=True)
    assert deleted == {"object": "chat.completion.deleted", "id": first_id, "deleted": True}
    empty = engine.handle(request("GET", "/v1/chat/completions?metadata[i]=0", body=None)).json()
    # An empty page has no ids: null (the spec's string has nothing to name), as the real API's lists send.
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


# --- errors, auth, the journal, reset and the bound ----------------------------------------------------------


@pytest.mark.parametrize(("query", "param", "code"), [
    ("limit=0", "limit", "integer_below_min_value"), ("limit=-3", "limit", "integer_below_min_value"),
    ("limit=many", "limit", "invalid_type"), ("order=up", "order", "invalid_value"),
    ("after=chatcmpl-nope", "after", "invalid_value"),
])
def test_bad_list_parameters_are_400(query: str, param: str, code: str) -> None:
    engine = MockAI().engine
    engine.handle(request(body={"model": MODEL, "messages": USER, "store": True}))
    assert_envelope(engine.handle(request("GET", f"/v1/chat/completions?{query}", body=None)), 400, param, code)
    made = engine.calls[0].response.json()["id"]
    res = engine.handle(request("GET", f"/v1/chat/completions/{made}/messages?{query}", body=None))
    assert_envelope(res, 400, param, code)


def test_large_limits_and_unknown_parameters_are_accepted() -> None:
    engine = MockAI().engine
    made = [engine.handle(request(body={"model": MODEL, "messages": USER, "store": True})).json()["id"]
            for _ in range(3)]
    res = engine.handle(request("GET", "/v1/chat/completions?limit=1000&include=everything", body=None))
    assert [c["id"] for c in res.json()["data"]] == made


@pytest.mark.parametrize(("body", "param", "code"), [
    ({}, "metadata", "missing_required_parameter"),
    ({"metadata": "x"}, "metadata", "invalid_type"),
    ({"metadata": {"a": 1}}, "metadata.a", "invalid_type"),
    ({"metadata": {"a": "x" * 513}}, "metadata.a", "string_above_max_length"),
    ({"metadata": {"k" * 65: "x"}}, "metadata." + "k" * 65, "string_above_max_length"),
    ({"metadata": {str(i): "x" for i in range(17)}}, "metadata", "object_above_max_properties"),
    ([], None, "invalid_type"),
])
def test_bad_updates_are_400_and_change_nothing(body: Any, param: str | None, code: str) -> None:
    engine = MockAI().engine
    made = engine.handle(request(body={"model": MODEL, "messages": USER, "store": True,
                                       "metadata": {"keep": "me"}})).json()["id"]
    assert_envelope(engine.handle(request("POST", f"/v1/chat/completions/{made}", body=body)), 400, param, code)
    res = engine.handle(request("POST", f"/v1/chat/completions/{made}", raw=b"{nope"))
    assert_envelope(res, 400, None, None)
    kept = engine.handle(request("GET", f"/v1/chat/completions/{made}", body=None)).json()
    assert kept["metadata"] == {"keep": "me"}
    limits = {"metadata": {str(i): "v" * 512 for i in range(16)}}  # the most the real API allows
    assert engine.handle(request("POST", f"/v1/chat/completions/{made}", body=limits)).json()["metadata"] == \
        limits["metadata"]


def test_every_route_needs_the_key_and_is_journaled() -> None:
    mock = MockAI(api_key="sk-right")
    engine = mock.engine
    key = {"authorization": "Bearer sk-right"}
    made = engine.handle(request(body={"model": MODEL, "messages": USER, "store": True}, headers=key)).json()["id"]
    routes = [("GET", "/v1/chat/completions", "chat.list"), ("GET", f"/v1/chat/completions/{made}", "chat.retrieve"),
              ("POST", f"/v1/chat/completions/{made}", "chat.update"),
              ("GET", f"/v1/chat/completions/{made}/messages", "chat.messages"),
              ("DELETE", f"/v1/chat/completions/{made}", "chat.delete")]
    for method, path, _ in routes:
        for headers in ({}, {"authorization": "Bearer sk-wrong"}):
            assert_envelope(engine.handle(request(method, path, body={"metadata": {}}, headers=headers)), 401,
                            code="invalid_api_key")
    before = mock.call_count
    for method, path, _ in routes:
        assert engine.handle(request(method, path, body={"metadata": {"a": "b"}}, headers=key)).status == 200
    journal = mock.calls[before:]
    assert [(c.route, c.http.method, c.status) for c in journal] == [(r, m, 200) for m, _, r in routes]
    assert journal[2].body == {"metadata": {"a": "b"}}
    assert mock.calls.filter(route="chat.delete", status=200).call_count == 1
    assert mock.calls.filter(route="chat.list").call_count == 3  # two refused for their keys, one answered


def test_wrong_methods_are_405_with_allow() -> None:
    engine = MockAI().engine
    assert engine.handle(request("PUT", "/v1/chat/completions")).headers["allow"] == "GET, POST"
    assert engine.handle(request("PATCH", "/v1/chat/completions/chatcmpl-x")).headers["allow"] == \
        "DELETE, GET, POST"
    res = engine.handle(request("POST", "/v1/chat/completions/chatcmpl-x/messages"))
    assert_envelope(res, 405)
    assert res.headers["allow"] == "GET"


def test_reset_forgets_stored_completions(door: Door) -> None:
    made = door.create(store=True)
    door.mock.reset()
    assert isinstance(door.error(lambda c: c.chat.completions.retrieve(made.id)), openai.NotFoundError)
    again = door.create(store=True)
    assert again.id == made.id  # ids start over after a reset, and the store was emptied with them
    assert ids(door.run(lambda c: c.chat.completions.list())) == [made.id]
    if door.server is not None:  # the control API's reset, over the socket
        import httpx

        assert httpx.post(door.server.url + "/_mockai/reset").status_code == 200
        assert door.run(lambda c: c.chat.completions.list()) == []


def test_the_store_is_bounded_oldest_first() -> None:
    mock = MockAI()
    assert stored.MAX_STORED == 10_000
    assert stored.MAX_STORED_BYTES == 64 * 1024 * 1024
    store = mock.engine.chat.stored.store
    assert (store.max_items, store.max_bytes) == (stored.MAX_STORED, stored.MAX_STORED_BYTES)
    store.max_items = 3
    client = mock.client()
    made = [client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"{i}"}], store=True)
            for i in range(5)]
    assert ids(list(client.chat.completions.list())) == ids(made[2:])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(made[0].id)


def test_scripted_replies_are_stored_faulted_calls_are_not() -> None:
    mock = MockAI(strict=True)
    mock.fault("429")  # an interceptor's answer
    mock.fail(500)  # a scripted error
    mock.queue("Scripted!")
    client = mock.client(max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=USER, store=True)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=USER, store=True)
    made = client.chat.completions.create(model=MODEL, messages=USER, store=True)
    listed = list(client.chat.completions.list())
    assert ids(listed) == [made.id]
    assert listed[0].choices[0].message.content == "Scripted!"
    assert not mock.unexpected  # reading the store is not an unscripted request
    mock.verify()


def test_docstring_examples() -> None:
    result = doctest.testmod(stored)
    assert result.attempted > 0
    assert result.failed == 0


def test_unknown_urls_name_the_stored_routes() -> None:
    err = assert_envelope(MockAI().engine.handle(request("GET", "/v1/completions", body=None)), 404)
    assert err["message"].startswith(
        "Invalid URL (GET /v1/completions). mockai serves POST and GET /v1/chat/completions, GET, POST and DELETE "
        "/v1/chat/completions/{completion_id}, GET /v1/chat/completions/{completion_id}/messages, GET /v1/models")
