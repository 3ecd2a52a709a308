"""The socket door: ``mock.serve()`` (scripting and the journal live while it runs; sync, async and streaming SDK
clients, Azure, and a client that is not httpx), clean shutdown, and ``mockai serve --scenario FILE``."""

from __future__ import annotations

import doctest
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest

from mockai import MockAI, call, error
from mockai import server as server_module
from mockai.patch import NotMockedError
from mockai.server import ServerThread, url_of

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "fixtures" / "scenarios"
MOCKAI = str(Path(sys.executable).with_name("mockai"))
MODEL = "gpt-4o-mini"
MESSAGES: Any = [{"role": "user", "content": "hello"}]


def urllib_chat(base_url: str, body: dict[str, Any], key: str = "sk-urllib") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(base_url + "/chat/completions", data=json.dumps(body).encode(), method="POST",
                                 headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def mock() -> MockAI:
    return MockAI(seed=11)


@pytest.fixture
def server(mock: MockAI) -> Iterator[ServerThread]:
    with mock.serve() as running:
        yield running


def test_serve_gives_a_loopback_base_url(mock: MockAI, server: ServerThread) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.port > 0
    assert mock.base_url == server.base_url
    assert server.running


def test_scripting_and_journal_while_running(mock: MockAI, server: ServerThread) -> None:
    with openai.OpenAI(base_url=server.base_url, api_key="sk-socket", max_retries=0) as client:
        generated = client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content
        mock.on(last_user="hello").reply("scripted after start")  # added while the server runs
        assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content \
            == "scripted after start"
        assert generated != "scripted after start"
        assert mock.call_count == 2
        assert mock.calls.last.http.headers["authorization"] == "Bearer sk-socket"
        assert mock.calls.last.http.headers["host"] == f"127.0.0.1:{server.port}"
        mock.calls.assert_any_call(last_user="hello", model=MODEL)
        mock.reset()
        assert mock.call_count == 0
        assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content \
            != "scripted after start"


def test_sync_sdk_streaming_and_errors(mock: MockAI, server: ServerThread) -> None:
    mock.on(stream=True).reply(tool_calls=[call("get_time", zone="UTC")])
    mock.on(last_user="limit").error(429, code="rate_limit_exceeded")
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        tools: Any = [{"type": "function", "function": {"name": "get_time"}}]
        with client.chat.completions.stream(model=MODEL, messages=MESSAGES, tools=tools) as stream:
            final = stream.get_final_completion()
        tool_call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert (tool_call.function.name, json.loads(tool_call.function.arguments)) == ("get_time", {"zone": "UTC"})
        assert final.choices[0].finish_reason == "tool_calls"
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "limit"}])
    assert info.value.code == "rate_limit_exceeded"


def test_async_sdk_over_the_socket(mock: MockAI, server: ServerThread) -> None:
    mock.queue("async plain")
    mock.on(stream=True).reply("async streamed")

    async def go() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            plain = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                          stream_options={"include_usage": True})
            chunks = [c async for c in stream]
            assert chunks[-1].usage is not None
            assert chunks[-1].choices == []
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return plain.choices[0].message.content, text

    assert anyio.run(go) == ("async plain", "async streamed")
    assert [c.request.stream for c in mock.calls if c.request] == [None, True]


def test_concurrent_async_requests(mock: MockAI, server: ServerThread) -> None:
    mock.on().respond(lambda r: f"echo {r.messages[-1].content}")

    async def go() -> list[str]:
        results: list[str] = []
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            async def one(i: int) -> None:
                reply = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": str(i)}])
                results.append(reply.choices[0].message.content or "")

            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(one, i)
        return results

    assert sorted(anyio.run(go)) == sorted(f"echo {i}" for i in range(10))
    assert mock.call_count == 10


def test_urllib_client(mock: MockAI, server: ServerThread) -> None:
    mock.queue("for urllib", error(503))
    status, headers, raw = urllib_chat(server.base_url, {"model": MODEL, "messages": MESSAGES})
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(raw)["choices"][0]["message"]["content"] == "for urllib"
    status, _, raw = urllib_chat(server.base_url, {"model": MODEL, "messages": MESSAGES})
    assert status == 503
    assert json.loads(raw)["error"]["type"] == "server_error"
    status, headers, raw = urllib_chat(server.base_url, {"model": MODEL, "messages": MESSAGES, "stream": True})
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert raw.startswith(b"data: {")
    assert raw.endswith(b"data: [DONE]\n\n")
    assert mock.calls.last.http.headers["user-agent"].startswith("Python-urllib/")


def test_azure_client_over_the_socket(mock: MockAI, server: ServerThread) -> None:
    mock.on(model="my-deployment").reply("azure via socket")
    with openai.AzureOpenAI(azure_endpoint=server.url, api_key="azure-key", api_version="2024-10-21",
                            max_retries=0) as client:
        reply = client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert reply.choices[0].message.content == "azure via socket"
    assert mock.calls.last.http.path == "/openai/deployments/my-deployment/chat/completions"
    assert mock.calls.last.http.headers["api-key"] == "azure-key"


def test_a_websocket_upgrade_is_answered_as_the_request_it_is(mock: MockAI, server: ServerThread) -> None:
    """mockai serves no WebSocket API (the Realtime API's): an upgrade gets the 404 envelope naming what is
    served, the same whether a WebSocket library is installed or not, never a bare 403 or a closed socket."""
    head = (f"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer sk-ws\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                data.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    status, body = data.split(b"\r\n", 1)[0], data.split(b"\r\n\r\n", 1)[1]
    assert status == b"HTTP/1.1 404 Not Found"
    error = json.loads(body)["error"]
    assert error["message"].startswith("Invalid URL (GET /v1/realtime). mockai serves ")
    assert mock.calls[-1].http.path.startswith("/v1/realtime")


def test_clean_shutdown_leaves_no_thread_and_closes_the_port() -> None:
    before = set(threading.enumerate())
    mock = MockAI()
    with mock.serve() as server:
        port = server.port
        assert any(t.name == f"mockai-server-{port}" for t in threading.enumerate())
        status, _, _ = urllib_chat(server.base_url, {"model": MODEL, "messages": MESSAGES})
        assert status == 200
    assert not server.running
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()
    assert port_is_closed(port)
    with pytest.raises(RuntimeError, match="not being served"):
        _ = mock.base_url


def test_shutdown_with_an_open_keep_alive_connection() -> None:
    mock = MockAI()
    with mock.serve() as server:
        port = server.port
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # leaves a pooled connection open
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert port_is_closed(port)
    assert not any(t.name.startswith("mockai-server-") for t in threading.enumerate())
    client.close()


def test_two_servers_share_one_engine() -> None:
    mock = MockAI()
    mock.on().reply("shared")
    with mock.serve() as one, mock.serve() as two:
        assert one.port != two.port
        for server in (one, two):
            _, _, raw = urllib_chat(server.base_url, {"model": MODEL, "messages": MESSAGES})
            assert json.loads(raw)["choices"][0]["message"]["content"] == "shared"
    assert mock.call_count == 2


# --- mockai serve --scenario ---------------------------------------------------------------------------------


@pytest.fixture
def cli_server() -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc = subprocess.Popen([MOCKAI, "serve", "--port", "0", "--log-level", "warning", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        procs.append(proc)
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("OPENAI_BASE_URL="):
                base_url = line.split("=", 1)[1].strip()
                # the URL is announced a moment before the socket listens (see test_cli_listens_before_announcing)
                while port_is_closed(port_of(base_url)) and time.monotonic() < deadline:
                    time.sleep(0.005)
                return base_url
        proc.kill()
        raise AssertionError("mockai serve did not start:\n" + "".join(seen))

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_serves_a_scenario_file(cli_server: Any) -> None:
    base_url = cli_server("--scenario", str(SCENARIOS / "tool_use.yaml"), "--scenario",
                          str(SCENARIOS / "errors.json"))
    with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client:
        tools: Any = [{"type": "function", "function": {"name": "get_weather"}}]
        messages: list[Any] = [{"role": "user", "content": "What's the weather?"}]
        first = client.chat.completions.create(model=MODEL, messages=messages, tools=tools).choices[0].message
        assert first.tool_calls is not None
        assert first.tool_calls[0].function.name == "get_weather"
        messages += [first.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "12C"}]
        second = client.chat.completions.create(model=MODEL, messages=messages, tools=tools).choices[0].message
        assert second.content == "It is 12°C and clear in Oslo."
        # the second --scenario file is loaded too
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "my secret"}])
    # and the control API of the served process sees the calls
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(root + "/_mockai/health", timeout=10) as res:
        health = json.loads(res.read())
    assert health["calls"] == 3
    assert health["rules"] == 4


def test_cli_strict_with_a_scenario(cli_server: Any) -> None:
    base_url = cli_server("--strict", "--scenario", str(SCENARIOS / "refusal.yaml"))
    status, _, raw = urllib_chat(base_url, {"model": MODEL, "messages": [{"role": "user",
                                                                          "content": "pick a lock"}]})
    assert status == 200
    assert json.loads(raw)["choices"][0]["message"]["refusal"] == "I'm sorry, but I can't help with that."


def test_cli_strict_says_how_to_turn_it_off(cli_server: Any) -> None:
    """A request no rule answers: the 400 says how to turn strict mode off over the socket, not only in Python."""
    base_url = cli_server("--strict")
    status, _, raw = urllib_chat(base_url, {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]})
    assert status == 400
    message = json.loads(raw)["error"]["message"]
    assert "no scripted reply" in message
    assert "`mockai serve` without --strict" in message


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/")[0])


def test_cli_exits_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen([MOCKAI, "serve", "--port", "0", "--log-level", "warning"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("OPENAI_BASE_URL="):
                port = port_of(line.split("=", 1)[1])
                break
        deadline = time.monotonic() + 10
        while port_is_closed(port) and time.monotonic() < deadline:
            time.sleep(0.005)
        status, _, _ = urllib_chat(f"http://127.0.0.1:{port}/v1", {"model": MODEL, "messages": MESSAGES})
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert port_is_closed(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_cli_listens_before_announcing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockai import server

    class Announced(Exception):
        pass

    refused: list[bool] = []
    opened: list[socket.socket] = []
    real_listen = server.listen

    def recording_listen(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real_listen(*args, **kwargs)
        opened.append(sock)
        return sock

    monkeypatch.setattr(server, "listen", recording_listen)

    def announce(text: str) -> None:
        base_url = text.rsplit("OPENAI_BASE_URL=", 1)[1].strip()
        refused.append(port_is_closed(port_of(base_url)))
        raise Announced

    saved = {k: os.environ.get(k) for k in (server.CONFIG_ENV, server.SCENARIO_ENV, server.HOST_ENV,
                                            server.WORKERS_ENV)}
    try:
        with pytest.raises(Announced):
            server.serve({}, host="127.0.0.1", port=0, workers=1, log_level="warning", announce=announce)
    finally:
        for sock in opened:
            sock.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert refused == [False]


def test_cli_rejects_a_bad_scenario_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - match: {last_user: hi}\n    reply: {text: hello}\n")
    proc = subprocess.run([MOCKAI, "serve", "--port", "0", "--scenario", str(bad)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert f"{bad}:3: rules[0].reply: unknown reply field(s) ['text']" in proc.stderr


def test_a_busy_port_says_what_to_do() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(OSError, match=rf"mockai: cannot listen on 127.0.0.1:{port}: Address already in use\. "
                                          r"Another process holds the port: stop it, choose another port, or pass "
                                          r"port=0 to pick a free one\.") as info:
            MockAI().serve(port=port).start()
    import errno

    assert info.value.errno == errno.EADDRINUSE


def test_patch_mode_lets_requests_to_mockai_servers_through() -> None:
    served = MockAI()
    served.queue("from the served mock")
    with served.serve() as server, MockAI() as patching:  # other_hosts="fail": only mockai's servers pass
        base_url = server.base_url
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
        assert client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                                              ).choices[0].message.content == "from the served mock"
        localhost = openai.OpenAI(base_url=f"http://localhost:{server.port}/v1", api_key="sk-x", max_retries=0)
        assert localhost.models.list().data
        client.close()
        localhost.close()
        with pytest.raises(NotMockedError):
            httpx.get(f"http://127.0.0.1:{server.port + 1 if server.port < 65535 else 1}/v1/models")
    assert patching.call_count == 0
    assert served.call_count == 2
    with MockAI(), pytest.raises(NotMockedError):  # stopped: its port is not let through any more
        httpx.get(base_url + "/models")


def test_a_bug_that_escapes_the_engine_is_the_real_apis_500_over_the_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The door answers an exception that escapes the engine with OpenAI's 500 envelope, never a plain-text
    page; the SDK sees an ``InternalServerError``, and the server goes on answering."""
    mock = MockAI()
    real = mock.engine.handle
    broken = {"on": True}

    def handle(http: Any) -> Any:
        if broken["on"]:
            raise RuntimeError("a bug")
        return real(http)

    monkeypatch.setattr(mock.engine, "handle", handle)
    with mock.serve() as server, openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert info.value.status_code == 500
        assert info.value.body == {"message": "The server had an error while processing your request.",
                                   "type": "server_error", "param": None, "code": "server_error"}
        broken["on"] = False
        assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content


@pytest.mark.parametrize(("host", "url"), [("127.0.0.1", "http://127.0.0.1:8000"), ("0.0.0.0", "http://127.0.0.1:8000"),
                                           ("::", "http://[::1]:8000"), ("::1", "http://[::1]:8000"),
                                           ("192.168.1.7", "http://192.168.1.7:8000")])
def test_the_announced_url_is_one_a_client_can_connect_to(host: str, url: str) -> None:
    """``mockai serve --host 0.0.0.0`` printed OPENAI_BASE_URL=http://0.0.0.0:PORT/v1, an address some clients
    (Windows, proxies) cannot connect to; it now prints loopback's, and says it listens on every interface."""
    assert url_of(host, 8000) == url
    assert doctest.testmod(server_module).failed == 0
