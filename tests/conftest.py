"""Shared helpers for the core tests: engines, requests through the engine, a real server, SDK clients.

Helpers are plain functions (import them with ``from conftest import ...``); fixtures wrap the ones that need
cleaning up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from mockai import Config, Engine, HTTPRequest, HTTPResponse
from mockai.app import create_app
from mockai.server import ServerThread

KEY = "sk-test"
AUTH = {"authorization": f"Bearer {KEY}"}
MODEL = "gpt-4o-mini"

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "where": {
                    "type": "object",
                    "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                                   "lon": {"type": "number", "minimum": -180, "maximum": 180}},
                    "required": ["lat", "lon"],
                },
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            },
            "required": ["city", "unit", "where", "tags"],
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
                       "required": ["zone"], "additionalProperties": False},
    },
}


def chat_body(content: str = "Hello there", **params: Any) -> dict[str, Any]:
    """A minimal valid chat request body with ``params`` merged in."""
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **params}


def request(method: str = "POST", path: str = "/v1/chat/completions", body: Any = None,
            headers: dict[str, str] | None = None, raw: bytes | None = None) -> HTTPRequest:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return HTTPRequest(method, path, headers=AUTH if headers is None else headers, body=data)


def post(engine: Engine, body: Any, **kw: Any) -> HTTPResponse:
    """POST ``body`` to /v1/chat/completions through ``engine.handle`` (no HTTP at all)."""
    return engine.handle(request(body=body, **kw))


def sse_chunks(res: HTTPResponse | bytes) -> list[dict[str, Any]]:
    """The JSON chunks of an SSE body; asserts the framing (``data: `` lines, blank line, ``[DONE]`` last)."""
    raw = res.content() if isinstance(res, HTTPResponse) else res
    assert raw.endswith(b"\n\n")
    events = raw[:-2].split(b"\n\n")
    assert events[-1] == b"data: [DONE]"
    out = []
    for event in events[:-1]:
        assert event.startswith(b"data: ")
        assert b"\n" not in event
        out.append(json.loads(event[len(b"data: "):]))
    return out


def reassemble(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Choices rebuilt from stream chunks: ``{index: {content, tool_calls, finish_reason, logprobs}}``."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for c in chunk["choices"]:
            d = out.setdefault(c["index"], {"content": None, "tool_calls": [], "finish_reason": None,
                                            "logprobs": None, "refusal": None})
            delta = c["delta"]
            if delta.get("content") is not None:
                d["content"] = (d["content"] or "") + delta["content"]
            for tc in delta.get("tool_calls") or []:
                calls = d["tool_calls"]
                if tc["index"] == len(calls):
                    calls.append({"id": tc["id"], "type": tc["type"],
                                  "function": {"name": tc["function"]["name"], "arguments": ""}})
                calls[tc["index"]]["function"]["arguments"] += tc["function"].get("arguments") or ""
            if c.get("logprobs"):
                d["logprobs"] = (d["logprobs"] or []) + c["logprobs"]["content"]
            if c["finish_reason"] is not None:
                assert d["finish_reason"] is None, "two finish chunks for one choice"
                d["finish_reason"] = c["finish_reason"]
    return out


def choices_of(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The same shape as :func:`reassemble`, from a non-stream body."""
    return {
        c["index"]: {
            "content": c["message"]["content"],
            "tool_calls": c["message"].get("tool_calls") or [],
            "finish_reason": c["finish_reason"],
            "logprobs": c["logprobs"]["content"] if c["logprobs"] else None,
            "refusal": c["message"]["refusal"],
        }
        for c in body["choices"]
    }


ANY: Any = object()


def assert_envelope(res: HTTPResponse | httpx.Response, status: int, param: str | None = ANY,
                    code: str | None = ANY) -> dict[str, Any]:
    """``res`` is an OpenAI error envelope with ``status`` (and ``param``/``code`` when given)."""
    status_code = res.status if isinstance(res, HTTPResponse) else res.status_code
    body = res.json()
    assert status_code == status, body
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str)
    assert err["message"]
    assert err["type"] == ("invalid_request_error" if status < 500 else "server_error")
    if param is not ANY:
        assert err["param"] == param, err
    if code is not ANY:
        assert err["code"] == code, err
    return err


def strict_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` parses as a ``chat.completion`` with the SDK's types and mockai's, both in strict mode."""
    from openai.types.chat import ChatCompletion

    from mockai import wire

    ChatCompletion.model_validate(body, strict=True)
    wire.ChatCompletion.model_validate(body, strict=True)
    return body


def strict_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every chunk parses as a ``chat.completion.chunk`` with the SDK's types and mockai's, in strict mode."""
    from openai.types.chat import ChatCompletionChunk

    from mockai import wire

    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk, strict=True)
        wire.ChatCompletionChunk.model_validate(chunk, strict=True)
    return chunks


def reply(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """A successful non-stream reply, validated strictly."""
    res = post(engine, body)
    assert res.status == 200, res.body
    assert not res.is_stream
    return strict_body(res.json())


def stream(engine: Engine, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a successful stream, framing checked and each chunk validated strictly."""
    res = post(engine, {**body, "stream": True})
    assert res.status == 200, res.content()
    assert res.headers["content-type"].startswith("text/event-stream")
    return strict_chunks(sse_chunks(res))


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def make_engine() -> Callable[..., Engine]:
    """``make_engine(**config)``: a fresh engine (seed 0, frozen clock unless given)."""
    def make(**config: Any) -> Engine:
        config.setdefault("clock", 1_700_000_000)
        return Engine(Config(**config))

    return make


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine(seed=1)


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """``serve(**config)``: a real server on 127.0.0.1, port 0; every server started is stopped afterwards."""
    servers: list[ServerThread] = []

    def start(**config: Any) -> ServerThread:
        config.setdefault("clock", 1_700_000_000)
        server = ServerThread(Engine(Config(**config))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def served(serve: Callable[..., ServerThread]) -> ServerThread:
    return serve(seed=1)


@pytest.fixture
def client(served: ServerThread) -> Iterator[openai.OpenAI]:
    """The sync SDK over a real socket."""
    with openai.OpenAI(base_url=served.base_url, api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


def asgi_client(engine: Engine, api_key: str = KEY) -> openai.AsyncOpenAI:
    """The async SDK in-process: httpx's ASGITransport over the Starlette app."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(engine)), base_url="http://mockai")
    return openai.AsyncOpenAI(base_url="http://mockai/v1", api_key=api_key, max_retries=0, http_client=http)


@pytest_asyncio.fixture
async def aclient(engine: Engine) -> AsyncIterator[openai.AsyncOpenAI]:
    async with asgi_client(engine) as c:
        yield c


@pytest.fixture
def sync_loop() -> Iterator[None]:
    """A fresh default event loop for a framework's synchronous entry point, closed after the test.

    ``Runner.run_sync`` (openai-agents) and ``Agent.run_sync`` (pydantic-ai) run on the thread's default loop and
    leave it open: unclosed, it warns when collected, in whatever test that happens. ``run_sync`` of openai-agents
    0.24 also calls ``shutdown_asyncgens()`` on it, so a second call on the same loop warns ("asynchronous generator
    ... was scheduled after loop.shutdown_asyncgens() call") whatever the server. One loop per test avoids both.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
