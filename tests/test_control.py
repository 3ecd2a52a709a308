"""The control API under /_mockai/, over a real socket with urllib and with curl, and its protection: a token, and
off by default when bound to a non-loopback address."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest

from mockai import Engine, MockAI
from mockai.app import create_app
from mockai.engine import Config
from mockai.server import ServerThread

MODEL = "gpt-4o-mini"


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json",
                                                                         **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def chat(url: str, text: str, **params: Any) -> tuple[int, Any]:
    return http("POST", url + "/v1/chat/completions",
                {"model": MODEL, "messages": [{"role": "user", "content": text}], **params},
                {"authorization": "Bearer sk-x"})


@pytest.fixture
def served() -> Iterator[tuple[MockAI, ServerThread]]:
    mock = MockAI(seed=1, assert_all_called=False)
    with mock.serve() as server:
        yield mock, server


def test_health(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    mock.on(model="x").reply("y")
    mock.queue("a", "b")
    assert http("GET", server.url + "/_mockai/health") == (200, {"status": "ok", "calls": 0, "rules": 1,
                                                                 "queued": 2})


def test_add_rules_then_chat_then_read_the_journal(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    status, body = http("POST", server.url + "/_mockai/rules", {
        "rules": [{"name": "greet", "match": {"last_user": {"regex": "^hi"}}, "reply": "Hello from control!"}],
        "queue": [{"json": {"ok": True}}],
    })
    assert (status, body) == (201, {"rules": 1, "queued": 1})
    # the rules are live for any client: the Python API sees them too
    assert [r.name for r in mock.rules] == ["greet"]
    status, reply = chat(server.url, "hi there")
    assert status == 200
    assert reply["choices"][0]["message"]["content"] == "Hello from control!"
    status, reply = chat(server.url, "something else")
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"ok": True}
    status, calls = http("GET", server.url + "/_mockai/calls")
    assert status == 200
    assert calls["object"] == "list"
    assert [c["request"]["messages"][0]["content"] for c in calls["data"]] == ["hi there", "something else"]
    first = calls["data"][0]
    assert first["index"] == 0
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "POST", "/v1/chat/completions", "chat", 200)
    assert first["responder"] == "script"
    assert first["response"]["choices"][0]["message"]["content"] == "Hello from control!"
    assert first["stream"] is False
    status, rules = http("GET", server.url + "/_mockai/rules")
    assert rules["rules"] == [{"rule": "'greet' on(last_user=/^hi/)", "call_count": 1, "times": None}]
    assert (rules["queued"], rules["unused"]) == (0, [])


def test_streamed_calls_show_their_events(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    mock.queue("streamed")
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True))
    _, calls = http("GET", server.url + "/_mockai/calls")
    entry = calls["data"][-1]
    assert entry["stream"] is True
    assert entry["events"][-1] == "data: [DONE]"
    assert "streamed" in "".join(entry["events"])


def test_clear_calls_rules_and_reset(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    http("POST", server.url + "/_mockai/rules", {"rules": [{"match": {}, "reply": "scripted"}], "queue": ["q"]})
    chat(server.url, "x")
    assert http("DELETE", server.url + "/_mockai/calls") == (200, {"deleted": True})
    assert mock.call_count == 0
    assert http("GET", server.url + "/_mockai/health")[1]["rules"] == 1
    assert http("DELETE", server.url + "/_mockai/rules") == (200, {"deleted": True})
    assert http("GET", server.url + "/_mockai/health")[1] == {"status": "ok", "calls": 0, "rules": 0, "queued": 0}
    assert chat(server.url, "x")[1]["choices"][0]["message"]["content"] != "scripted"
    _, before = chat(server.url, "same")
    http("POST", server.url + "/_mockai/rules", {"queue": ["again"]})
    assert http("POST", server.url + "/_mockai/reset") == (200, {"reset": True})
    assert (mock.call_count, mock.rules, mock.engine.script.pending) == (0, [], [])
    _, after = chat(server.url, "same")
    assert after["id"] == before["id"]  # ids start over after a reset


def test_bad_requests_get_openai_envelopes(served: tuple[MockAI, ServerThread]) -> None:
    _, server = served
    status, body = http("POST", server.url + "/_mockai/rules", {"rules": [{"match": {}, "reply": {"text": "x"}}]})
    assert status == 400
    assert body["error"]["code"] == "invalid_scenario"
    assert "request body: rules[0].reply: unknown reply field(s) ['text']" in body["error"]["message"]
    req = urllib.request.Request(server.url + "/_mockai/rules", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    with info.value:
        assert info.value.code == 400
        assert json.loads(info.value.read())["error"]["code"] == "invalid_json"
    assert http("PUT", server.url + "/_mockai/health")[0] == 405
    status, body = http("GET", server.url + "/_mockai/nothing")
    assert status == 404
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_token_protects_the_control_api() -> None:
    mock = MockAI(control_token="s3cret")
    with mock.serve() as server:
        status, body = http("GET", server.url + "/_mockai/health")
        assert status == 401
        assert body["error"]["code"] == "invalid_control_token"
        assert http("GET", server.url + "/_mockai/health", headers={"authorization": "Bearer wrong"})[0] == 401
        assert http("POST", server.url + "/_mockai/rules", {"queue": ["x"]})[0] == 401
        assert mock.engine.script.pending == []
        assert http("GET", server.url + "/_mockai/health", headers={"authorization": "Bearer s3cret"})[0] == 200
        assert http("GET", server.url + "/_mockai/health", headers={"x-mockai-token": "s3cret"})[0] == 200
        # the chat route is not affected by the control token
        assert chat(server.url, "x")[0] == 200


def test_a_refused_token_says_how_to_sign_in_from_a_browser() -> None:
    """The 401 names the headers, and for a browser the page's address with ``?token=`` (a page cannot send a
    header), in OpenAI's error shape."""
    mock = MockAI(control_token="s3cret")
    with mock.serve() as server:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"cookie": "mockai_control=wrong"}):
            status, body = http("GET", server.url + "/_mockai/state", headers=headers)
            assert status == 401
            assert set(body) == {"error"}
            assert set(body["error"]) == {"message", "type", "param", "code"}
            assert body["error"]["code"] == "invalid_control_token"
            message = body["error"]["message"]
            assert "Authorization: Bearer TOKEN" in message
            assert "in a browser, open /_mockai/?token=TOKEN" in message
        status, body = http("GET", server.url + "/_mockai/?token=wrong")
        assert status == 401
        assert "/_mockai/?token=TOKEN" in body["error"]["message"]


def test_the_sign_in_cookie_is_named_for_the_token() -> None:
    """Cookies are shared by every port of a host: its name carries a digest of the token, so two servers with
    different tokens do not overwrite each other's. The name of earlier versions is still read."""
    from mockai.control import COOKIE, cookie_name

    with MockAI(control_token="token-a").serve() as a, MockAI(control_token="token-b").serve() as b:
        cookies = {}
        for server, token in ((a, "token-a"), (b, "token-b")):
            res = httpx.get(f"{server.url}/_mockai/?token={token}")
            assert res.status_code == 303
            cookies[server.url] = res.headers["set-cookie"].split(";")[0]
            assert cookies[server.url] == f"{cookie_name(token)}={token}"
        assert cookie_name("token-a") != cookie_name("token-b")
        both = "; ".join(cookies.values())  # what a browser sends either server: the host's cookies
        for server in (a, b):
            assert httpx.get(server.url + "/_mockai/state", headers={"cookie": both}).status_code == 200
        assert httpx.get(a.url + "/_mockai/state", headers={"cookie": f"{COOKIE}=token-a"}).status_code == 200
        assert httpx.get(a.url + "/_mockai/state", headers={"cookie": cookies[b.url]}).status_code == 401
        # the cookie still only reads
        assert httpx.post(a.url + "/_mockai/reset", headers={"cookie": both}).status_code == 401


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"rules": [{"match": {}, "reply": "x", "times": True}]}, "rules[0].times", "got true"),
    ({"rules": [{"match": {}, "reply": "x", "times": 2.5}]}, "rules[0].times", "fractional part"),
    ({"rules": [{"match": {}, "reply": "x", "times": 2.0}]}, "rules[0].times", "got 2.0"),
    ({"rules": [{"match": {}, "reply": "x", "times": "2"}]}, "rules[0].times", 'got "2"'),
    ({"rules": [{"match": {"stream": "yes"}, "reply": "x"}]}, "rules[0].match.stream", 'got "yes"'),
    ({"rules": [{"match": {"has_tools": 1}, "reply": "x"}]}, "rules[0].match.has_tools", "got 1"),
    ({"queue": [{"error": {"status": "429"}}]}, "queue[0].error.status", 'got "429"'),
    ({"version": 99, "queue": ["x"]}, "version", "unsupported scenario version 99: this mockai reads version 1"),
    ({"version": "1", "queue": ["x"]}, "version", 'unsupported scenario version "1"'),
    ({"version": True, "queue": ["x"]}, "version", "unsupported scenario version true"),
])
def test_scenario_documents_are_read_strictly(served: tuple[MockAI, ServerThread], body: Any, param: str,
                                               words: str) -> None:
    """Booleans are not counts, strings are not booleans, and a version this server does not know is refused: a
    400 naming the field, and nothing added."""
    mock, server = served
    status, answer = http("POST", server.url + "/_mockai/rules", body)
    assert status == 400, answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert (answer["error"]["param"], answer["error"]["code"]) == (param, "invalid_scenario")
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["message"].startswith(f"request body: {param}: ")
    assert words in answer["error"]["message"]
    assert (mock.rules, mock.engine.script.pending) == ([], [])


def test_strict_reading_keeps_what_was_right(served: tuple[MockAI, ServerThread]) -> None:
    _, server = served
    body = {"version": 1, "rules": [{"match": {"stream": True, "tool_result": "get_weather"}, "reply": "x",
                                     "times": 2}], "queue": [{"error": {"status": 429}}]}
    assert http("POST", server.url + "/_mockai/rules", body) == (201, {"rules": 1, "queued": 1})
    status, answer = post_raw(server.url, b"rules:\n  - match: {stream: yes}\n    reply: x\n    times: nope\n",
                              "application/yaml")
    assert status == 400
    assert answer["error"]["message"].startswith("request body:4: rules[0].times")  # the line, as before
    assert answer["error"]["param"] == "rules[0].times"
    misspelled = {"rules": [{"match": {"last_usr": "x"}, "reply": "y"}]}
    status, answer = http("POST", server.url + "/_mockai/rules", misspelled)
    assert (status, answer["error"]["param"]) == (400, "rules[0].match.last_usr")  # every scenario error names it


def test_control_false_turns_it_off_even_on_loopback() -> None:
    mock = MockAI(control=False)
    with mock.serve() as server:
        status, body = http("GET", server.url + "/_mockai/health")
    assert status == 404
    assert "Invalid URL" in body["error"]["message"]


# --- bound to a non-loopback address (tested through ASGI, without binding) ----------------------------------


def asgi_get(engine: Engine, host: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(engine, host=host))
        async with httpx.AsyncClient(transport=transport, base_url="http://mockai") as client:
            return await client.get(path, headers=headers)

    return anyio.run(go)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_off_by_default_when_not_bound_to_loopback(host: str) -> None:
    engine = Engine(Config())
    res = asgi_get(engine, host, "/_mockai/health")
    assert res.status_code == 404
    assert res.json()["error"]["message"] == "Invalid URL (GET /_mockai/health)"
    # the rest of the API still answers
    assert asgi_get(engine, host, "/v1/models", {"authorization": "Bearer k"}).status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_on_by_default_on_loopback(host: str) -> None:
    assert asgi_get(Engine(Config()), host, "/_mockai/health").status_code == 200


def test_non_loopback_with_a_token_is_on_and_protected() -> None:
    engine = Engine(Config(control_token="tok"))
    assert asgi_get(engine, "0.0.0.0", "/_mockai/health").status_code == 401
    assert asgi_get(engine, "0.0.0.0", "/_mockai/health", {"authorization": "Bearer tok"}).status_code == 200


def test_non_loopback_with_control_true_is_on() -> None:
    assert asgi_get(Engine(Config(control=True)), "0.0.0.0", "/_mockai/health").status_code == 200


def test_in_process_control_api() -> None:
    mock = MockAI()
    with mock.http_client(base_url="https://api.openai.com") as client:
        assert client.post("/_mockai/rules", json={"queue": ["via control"]}).status_code == 201
    reply = mock.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "via control"
    assert mock.call_count == 1  # control requests are not journaled


# --- curl --------------------------------------------------------------------------------------------------


CURL = shutil.which("curl")


def curl(*args: str) -> tuple[int, Any]:
    assert CURL is not None
    out = subprocess.run([CURL, "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=20,
                         check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), json.loads(body) if body.strip() else None


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_control_api_with_curl(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    base = server.url
    assert curl(f"{base}/_mockai/health")[1]["status"] == "ok"
    scenario = json.dumps({"rules": [{"match": {"last_user": "weather"}, "reply": {
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}}]})
    status, body = curl("-X", "POST", "-H", "content-type: application/json", "-d", scenario, f"{base}/_mockai/rules")
    assert (status, body) == (201, {"rules": 1, "queued": 0})
    request = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "weather in Oslo?"}]})
    status, reply = curl("-H", "authorization: Bearer sk-curl", "-H", "content-type: application/json",
                         "-d", request, f"{base}/v1/chat/completions")
    assert status == 200
    tool_call = reply["choices"][0]["message"]["tool_calls"][0]
    assert (tool_call["function"]["name"], json.loads(tool_call["function"]["arguments"])) == (
        "get_weather", {"city": "Oslo"})
    status, calls = curl(f"{base}/_mockai/calls")
    assert calls["data"][0]["request"]["messages"][0]["content"] == "weather in Oslo?"
    assert mock.calls.last.http.headers["user-agent"].startswith("curl/")
    assert curl("-X", "POST", f"{base}/_mockai/reset") == (200, {"reset": True})
    assert curl(f"{base}/_mockai/health")[1] == {"status": "ok", "calls": 0, "rules": 0, "queued": 0}


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_control_token_with_curl() -> None:
    mock = MockAI(control_token="t0k")
    with mock.serve() as server:
        assert curl(f"{server.url}/_mockai/health")[0] == 401
        assert curl("-H", "authorization: Bearer t0k", f"{server.url}/_mockai/health")[0] == 200


@pytest.mark.asyncio
async def test_off_with_several_workers_and_says_why() -> None:
    app = create_app(Engine(), "127.0.0.1", workers=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        res = await client.get("/_mockai/health")
    assert res.status_code == 404
    assert "each of the 2 workers has its own rules and journal" in res.json()["error"]["message"]


@pytest.mark.asyncio
async def test_every_method_gets_an_envelope() -> None:
    app = create_app(Engine())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        res = await client.request("TRACE", "/v1/chat/completions", headers={"authorization": "Bearer k"})
    assert res.status_code == 405
    assert res.json()["error"]["type"] == "invalid_request_error"


# --- YAML bodies, as the scenario files are written ----------------------------------------------------------


def post_raw(url: str, body: bytes, content_type: str | None) -> tuple[int, Any]:
    headers = {} if content_type is None else {"content-type": content_type}
    req = urllib.request.Request(url + "/_mockai/rules", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


YAML_SCENARIO = b"""\
rules:
  - match: {last_user: weather}
    reply: {tool_calls: [{name: get_weather, arguments: {city: Oslo}}]}
queue:
  - "from YAML"
"""


@pytest.mark.parametrize("content_type", ["application/yaml", "application/x-yaml", "text/yaml; charset=utf-8",
                                          "application/x-www-form-urlencoded", None])
def test_yaml_scenario_bodies_by_content_type_or_sniffed(served: tuple[MockAI, ServerThread],
                                                         content_type: str | None) -> None:
    mock, server = served
    assert post_raw(server.url, YAML_SCENARIO, content_type) == (201, {"rules": 1, "queued": 1})
    assert chat(server.url, "anything")[1]["choices"][0]["message"]["content"] == "from YAML"
    assert mock.rules[0].describe() == "on(last_user='weather')"


def test_every_shipped_scenario_file_can_be_posted(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    files = sorted(Path(__file__).parent.parent.joinpath("fixtures", "scenarios").glob("*.y*ml"))
    assert files
    for file in files:
        status, body = post_raw(server.url, file.read_bytes(), None)  # as curl --data-binary @file sends it
        assert status == 201, (file, body)
    assert len(mock.rules) == body["rules"] > len(files)


def test_yaml_errors_name_the_line(served: tuple[MockAI, ServerThread]) -> None:
    _, server = served
    status, body = post_raw(server.url, b"rules:\n  - match: {last_usr: x}\n    reply: y\n", "application/yaml")
    assert status == 400
    assert body["error"]["code"] == "invalid_scenario"
    assert body["error"]["message"].startswith("request body:2: rules[0].match.last_usr: unknown field 'last_usr' "
                                               "(did you mean 'last_user'?)")
    status, body = post_raw(server.url, b"rules: [unclosed\n", "text/yaml")
    assert (status, body["error"]["code"]) == (400, "invalid_yaml")
    status, body = post_raw(server.url, b"{nope", "application/x-www-form-urlencoded")  # looks like JSON
    assert (status, body["error"]["code"]) == (400, "invalid_json")
    assert "not valid JSON" in body["error"]["message"]


def test_yaml_aliases_are_refused(served: tuple[MockAI, ServerThread]) -> None:
    _, server = served
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"
    status, body = post_raw(server.url, bomb, "application/yaml")
    assert (status, body["error"]["code"]) == (400, "invalid_yaml")
    assert "aliases" in body["error"]["message"]


def test_unknown_control_and_api_urls_say_what_is_served(served: tuple[MockAI, ServerThread]) -> None:
    _, server = served
    status, body = http("GET", server.url + "/_mockai/rule")
    assert status == 404
    assert body["error"]["message"].startswith("Invalid URL (GET /_mockai/rule). The control API serves GET "
                                               "/_mockai/health, GET and DELETE /_mockai/calls, GET, POST and "
                                               "DELETE /_mockai/rules")
    with openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as client, \
            pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hi")  # the legacy completions route
    error = info.value.body
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].startswith("Invalid URL (POST /v1/completions). mockai serves POST and GET "
                                       "/v1/chat/completions, GET, POST and DELETE /v1/chat/completions/"
                                       "{completion_id}, GET /v1/chat/completions/{completion_id}/messages, "
                                       "GET /v1/models, GET /v1/models/{model}")
    assert error["message"].endswith("(also without /v1, and on Azure OpenAI's paths).")
    assert "POST /v1/embeddings, POST /v1/moderations" in error["message"]
    assert error["type"] == "invalid_request_error"
