"""The in-process door: the httpx transport (sync and async), patch mode for httpx and httpx2 (OpenAI, Azure
OpenAI and configured base URLs; other hosts fail or pass), and the respx side effect."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import openai
import pytest
import respx

from mockai import MockAI
from mockai.patch import NotMockedError, Patcher
from mockai.transport import EngineTransport

MODEL = "gpt-4o-mini"
MESSAGES: Any = [{"role": "user", "content": "hello"}]
BODY = {"model": MODEL, "messages": MESSAGES}
AUTH = {"authorization": "Bearer sk-t"}


def content_of(reply: Any) -> str:
    text: str = reply.choices[0].message.content
    return text


# --- EngineTransport -----------------------------------------------------------------------------------------


def test_transport_serves_a_sync_httpx_client() -> None:
    mock = MockAI()
    mock.queue("sync")
    assert isinstance(mock.transport(), EngineTransport)
    with httpx.Client(transport=mock.transport(), base_url="https://anything.test/v1") as http:
        res = http.post("/chat/completions", json=BODY, headers=AUTH)
        assert res.status_code == 200
        assert res.headers["content-type"] == "application/json"
        assert res.headers["x-request-id"].startswith("req_")
        assert res.json()["choices"][0]["message"]["content"] == "sync"
        stream = http.post("/chat/completions", json={**BODY, "stream": True}, headers=AUTH)
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.text.endswith("data: [DONE]\n\n")
        assert http.get("/models", headers=AUTH).json()["object"] == "list"
        assert http.post("/chat/completions", json=BODY).status_code == 401
    assert mock.call_count == 4


def test_transport_serves_an_async_httpx_client() -> None:
    mock = MockAI()
    mock.queue("async")

    async def go() -> tuple[int, str]:
        async with httpx.AsyncClient(transport=mock.transport(), base_url="https://api.openai.com/v1") as http:
            res = await http.post("/chat/completions", json=BODY, headers=AUTH)
            return res.status_code, res.json()["choices"][0]["message"]["content"]

    assert anyio.run(go) == (200, "async")


def test_transport_with_a_legacy_httpx_client_in_the_sdk() -> None:
    mock = MockAI()
    mock.queue("legacy httpx")
    client = openai.OpenAI(api_key="k", max_retries=0, http_client=httpx.Client(transport=mock.transport()))
    assert content_of(client.chat.completions.create(model=MODEL, messages=MESSAGES)) == "legacy httpx"


def test_ready_made_clients_use_the_transport_without_patching() -> None:
    mock = MockAI()
    mock.queue("ready made")
    # nothing is patched: a plain client would fail with no network, the ready-made one is answered in-process
    assert httpx.HTTPTransport.handle_request.__name__ == "handle_request"
    reply = mock.client(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert content_of(reply) == "ready made"
    assert mock.calls.last.http.headers["authorization"] == "Bearer sk-mockai-test-key"


# --- patch mode ----------------------------------------------------------------------------------------------


@pytest.fixture
def patched() -> Iterator[MockAI]:
    mock = MockAI(seed=4, assert_all_called=False)
    with mock.patch():
        yield mock


def test_patch_intercepts_the_default_sdk_client(patched: MockAI) -> None:
    patched.queue("patched sync")
    client = openai.OpenAI(api_key="sk-plain", max_retries=0)
    assert content_of(client.chat.completions.create(model=MODEL, messages=MESSAGES)) == "patched sync"
    entry = patched.calls.last
    assert entry.http.headers["host"] == "api.openai.com"
    assert entry.http.headers["authorization"] == "Bearer sk-plain"


def test_patch_intercepts_the_default_async_sdk_client(patched: MockAI) -> None:
    patched.queue("patched async")
    patched.on(stream=True).reply("patched async stream")

    async def go() -> tuple[str, str]:
        async with openai.AsyncOpenAI(api_key="k", max_retries=0) as client:
            first = content_of(await client.chat.completions.create(model=MODEL, messages=MESSAGES))
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return first, text

    assert anyio.run(go) == ("patched async", "patched async stream")


def test_patch_intercepts_sync_streaming(patched: MockAI) -> None:
    patched.queue("one two three")
    client = openai.OpenAI(api_key="k", max_retries=0)
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
    assert "".join(deltas) == "one two three"


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_patch_intercepts_httpx_and_httpx2_clients(patched: MockAI, module_name: str) -> None:
    module = pytest.importorskip(module_name)
    patched.queue(f"via {module_name}")
    with module.Client() as http:
        res = http.post("https://api.openai.com/v1/chat/completions", json=BODY, headers=AUTH)
    assert res.status_code == 200
    assert res.json()["choices"][0]["message"]["content"] == f"via {module_name}"
    assert isinstance(res, module.Response)


def test_patch_intercepts_a_legacy_httpx_client_in_the_sdk(patched: MockAI) -> None:
    patched.queue("legacy")
    client = openai.OpenAI(api_key="k", max_retries=0, http_client=httpx.Client())
    assert content_of(client.chat.completions.create(model=MODEL, messages=MESSAGES)) == "legacy"


def test_patch_answers_azure_deployment_paths_with_the_api_key_header(patched: MockAI) -> None:
    patched.on(model="my-gpt4o-deployment").reply("from Azure")
    client = openai.AzureOpenAI(azure_endpoint="https://my-resource.openai.azure.com", api_key="azure-key-123",
                                api_version="2024-10-21", max_retries=0)
    reply = client.chat.completions.create(model="my-gpt4o-deployment", messages=MESSAGES)
    assert content_of(reply) == "from Azure"
    entry = patched.calls.last
    assert entry.http.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert entry.http.query == "api-version=2024-10-21"
    assert entry.http.headers["api-key"] == "azure-key-123"
    assert "authorization" not in entry.http.headers
    assert entry.route == "chat"


def test_patch_azure_streaming_and_async(patched: MockAI) -> None:
    patched.on(stream=True).reply("azure stream")

    async def go() -> str:
        client = openai.AsyncAzureOpenAI(azure_endpoint="https://eu.openai.azure.com", api_key="k",
                                         api_version="2024-10-21", max_retries=0)
        stream = await client.chat.completions.create(model="dep", messages=MESSAGES, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert anyio.run(go) == "azure stream"


def test_patch_azure_rejects_a_missing_key(patched: MockAI) -> None:
    with httpx.Client() as http:
        res = http.post("https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
                        json=BODY)
    assert res.status_code == 401
    assert res.json()["error"]["code"] == "invalid_api_key"


def test_patch_api_key_is_checked_on_azure_header() -> None:
    mock = MockAI(api_key="right")
    with mock.patch():
        client = openai.AzureOpenAI(azure_endpoint="https://r.openai.azure.com", api_key="wrong",
                                    api_version="2024-10-21", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="d", messages=MESSAGES)
        client = openai.AzureOpenAI(azure_endpoint="https://r.openai.azure.com", api_key="right",
                                    api_version="2024-10-21", max_retries=0)
        assert client.chat.completions.create(model="d", messages=MESSAGES).choices


def test_patch_intercepts_configured_base_urls_even_with_a_path() -> None:
    mock = MockAI(base_urls=["https://llm-gateway.internal/proxy/v1", "http://localhost:9999/v1/"])
    mock.queue("gateway", "local")
    with mock:
        gateway = openai.OpenAI(base_url="https://llm-gateway.internal/proxy/v1", api_key="k", max_retries=0)
        assert content_of(gateway.chat.completions.create(model=MODEL, messages=MESSAGES)) == "gateway"
        local = openai.OpenAI(base_url="http://localhost:9999/v1", api_key="k", max_retries=0)
        assert content_of(local.chat.completions.create(model=MODEL, messages=MESSAGES)) == "local"
    assert [c.status for c in mock.calls] == [200, 200]
    assert [c.route for c in mock.calls] == ["chat", "chat"]


def test_a_mock_entered_again_keeps_intercepting_until_its_outermost_block_ends() -> None:
    """An inner ``with mock:`` (or ``mock.patch()``) unpatched everything when it ended: the rest of the outer block
    went to the network and OPENAI_API_KEY was gone."""
    mock = MockAI()
    with mock:
        client = openai.OpenAI(max_retries=0, timeout=5)
        with mock:
            pass
        with mock.patch():
            pass
        assert "OPENAI_API_KEY" in os.environ
        assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices
    assert mock.calls.call_count == 1
    # after the outermost block: no longer mocked (no network here; with one, the real API refuses the key)
    with pytest.raises((openai.APIConnectionError, openai.AuthenticationError)):
        openai.OpenAI(api_key="k", max_retries=0, timeout=5).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert mock.calls.call_count == 1


def test_a_respx_route_to_a_gateway_base_url_reaches_the_mock_as_patch_mode_does() -> None:
    respx = pytest.importorskip("respx")
    mock = MockAI(base_urls="https://gw.test/proxy/v1")
    mock.queue("through the gateway")
    with respx.mock(assert_all_called=False) as router:
        router.route(host="gw.test").mock(side_effect=mock.respx_side_effect)
        reply = httpx.post("https://gw.test/proxy/v1/chat/completions", headers={"authorization": "Bearer k"},
                           json={"model": MODEL, "messages": MESSAGES})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "through the gateway"


def test_other_hosts_is_checked_when_the_mock_is_made() -> None:
    with pytest.raises(ValueError, match="other_hosts must be 'fail' or 'pass', not 'nope'"):
        MockAI(other_hosts="nope")  # type: ignore[arg-type]


def test_base_url_prefix_is_matched_on_a_path_boundary() -> None:
    patcher = Patcher(MockAI().engine, base_urls=["https://gw.test/v1"])
    assert patcher.intercepts("https://gw.test/v1/chat/completions")
    assert patcher.intercepts("https://gw.test/v1")
    assert not patcher.intercepts("https://gw.test/v10/chat/completions")
    assert not patcher.intercepts("https://gw.test.evil/v1/chat/completions")
    assert patcher.intercepts("https://api.openai.com/anything")
    assert patcher.intercepts("https://x.openai.azure.com/openai/deployments/d/chat/completions")
    assert not patcher.intercepts("https://openai.azure.com.evil/x")


def test_other_hosts_fail_by_default_with_a_hint() -> None:
    with MockAI(), httpx.Client() as http:
        with pytest.raises(NotMockedError, match=r"other_hosts='fail'[\s\S]*base_urls=\[\.\.\.\]"):
            http.get("http://127.0.0.1:9/")
        client = openai.OpenAI(base_url="https://example.com/v1", api_key="k", max_retries=0)
        with pytest.raises((NotMockedError, openai.APIConnectionError)) as info:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        err = info.value
        assert isinstance(err, NotMockedError) or isinstance(err.__cause__, NotMockedError)


def test_other_hosts_pass_reaches_a_real_server() -> None:
    upstream = MockAI(seed=9)
    upstream.queue("from the real socket")
    with upstream.serve() as server, MockAI(other_hosts="pass") as mock:
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            assert content_of(client.chat.completions.create(model=MODEL, messages=MESSAGES)) == "from the real socket"
        mock.queue("intercepted")
        assert content_of(openai.OpenAI(api_key="k", max_retries=0).chat.completions.create(
            model=MODEL, messages=MESSAGES)) == "intercepted"
    assert upstream.call_count == 1
    assert mock.call_count == 1


def test_other_hosts_must_be_fail_or_pass() -> None:
    with pytest.raises(ValueError, match="other_hosts must be 'fail' or 'pass'"):
        MockAI(other_hosts="maybe").start()  # type: ignore[arg-type]


def test_stop_restores_the_transports() -> None:
    import httpx2

    before = (httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request,
              httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request)
    mock = MockAI().start()
    assert httpx.HTTPTransport.handle_request is not before[0]
    assert httpx2.HTTPTransport.handle_request is not before[2]
    mock.start()  # idempotent
    mock.stop()
    after = (httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request,
             httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request)
    assert after == before
    mock.stop()  # idempotent


def test_patch_context_manager_stops_on_error() -> None:
    before = httpx.HTTPTransport.handle_request
    mock = MockAI()
    with pytest.raises(RuntimeError), mock.patch():
        raise RuntimeError("boom")
    assert httpx.HTTPTransport.handle_request is before


# --- respx -----------------------------------------------------------------------------------------------------


def test_respx_route_with_the_side_effect() -> None:
    mock = MockAI()
    mock.on(last_user="hello").reply("via respx")
    with respx.mock(assert_all_mocked=True) as router:
        route = router.route(host="api.openai.com").mock(side_effect=mock.respx_side_effect)
        client = openai.OpenAI(api_key="k", max_retries=0, http_client=httpx.Client())
        assert content_of(client.chat.completions.create(model=MODEL, messages=MESSAGES)) == "via respx"
        chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "via respx"
    assert route.call_count == 2
    assert mock.call_count == 2
    assert json.loads(route.calls.last.request.content)["stream"] is True
    assert mock.calls.last.request is not None
    assert mock.calls.last.request.stream is True


def test_respx_side_effect_async_and_errors() -> None:
    mock = MockAI()
    mock.queue({"error": {"status": 429, "code": "rate_limit_exceeded"}})

    async def go() -> None:
        with respx.mock() as router:
            router.post("https://api.openai.com/v1/chat/completions").mock(side_effect=mock.respx_side_effect)
            client = openai.AsyncOpenAI(api_key="k", max_retries=0, http_client=httpx.AsyncClient())
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    anyio.run(go)
    assert mock.calls.last.status == 429


def test_mocks_stopped_out_of_order_restore_the_real_transports() -> None:
    real_sync, real_async = httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request
    first, second = MockAI(), MockAI()
    first.start()
    second.start()
    first.stop()  # the newer mock keeps answering...
    reply = httpx.get("https://api.openai.com/v1/models", headers={"authorization": "Bearer sk-test"})
    assert reply.status_code == 200
    assert (first.call_count, second.call_count) == (0, 1)
    second.stop()  # ...and when the last one stops, the network is back as it was
    assert httpx.HTTPTransport.handle_request is real_sync
    assert httpx.AsyncHTTPTransport.handle_async_request is real_async
