"""The inspector at ``/_mockai/``: its files (offline, no secrets), its live feed (``GET /_mockai/events``), the
state view, the control API's protection, and the page itself in a real browser (headless Chromium driven by
Playwright): a call appears live, opening it shows the request, the reply and the stream; a screenshot test
holds the layout."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockai import MockAI, call
from mockai.config import Config
from mockai.engine import Engine, HTTPRequest
from mockai.inspector import ASSETS, page
from mockai.server import ServerThread

SECRET = "sk-live-secret-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "docs" / "inspector.png"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


# --- the page's files ------------------------------------------------------------------------------------------


def test_the_page_is_served_with_its_files_and_nothing_from_elsewhere() -> None:
    mock = MockAI()
    client = mock.http_client(base_url="https://api.openai.com")
    res = client.get("/_mockai/")
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in res.headers["content-security-policy"]
    assert res.headers["x-content-type-options"] == "nosniff"
    for name, kind in ASSETS.items():
        asset = client.get(f"/_mockai/inspector/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"] == kind
        assert asset.content == page(name)[1]
        text = asset.text
        assert not re.search(r"https?://|//cdn|@import", text), name  # offline: nothing fetched from elsewhere
    html = res.text
    for ref in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert ref.startswith(("/_mockai/inspector/", "data:")), ref
    assert "<script>" not in html  # no inline code: the CSP allows only the page's own files
    assert client.get("/_mockai/inspector/secrets.txt").status_code == 404
    assert client.get("/_mockai/inspector/../control.py").status_code == 404
    assert client.post("/_mockai/").status_code == 405


def test_the_page_files_ship_in_the_wheel() -> None:
    """pyproject's wheel config takes the whole ``mockai`` package: the page's files are package data."""
    text = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["mockai", "pytest_plugin/pytest_mockai"]' in text
    for name in ASSETS:
        assert (ROOT / "mockai" / "inspector" / name).is_file()


# --- the feed and the state, over a socket ---------------------------------------------------------------------


class Feed:
    """A reader of ``GET /_mockai/events`` on a plain socket, in a thread: the events as ``(name, data)``.
    (A socket, so that :meth:`close` really leaves, as a browser tab does.)"""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.events: list[tuple[str, Any]] = []
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET /_mockai/events HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            head = stream.readline()
            assert head.startswith(b"HTTP/1.1 200"), head
            while stream.readline() not in (b"\r\n", b""):
                pass
            while True:  # chunked: each chunk holds whole events
                size = int(stream.readline().strip() or b"0", 16)
                if not size:
                    return
                chunk = stream.read(size)
                stream.readline()
                name = ""
                for line in chunk.decode().split("\n"):
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((name, json.loads(line[6:])))
        except (OSError, ValueError):
            pass

    def wait(self, count: int, timeout: float = 10) -> list[tuple[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert time.monotonic() < deadline, self.events
            time.sleep(0.01)
        return self.events

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def served() -> Iterator[tuple[MockAI, ServerThread]]:
    mock = MockAI(seed=4, latency="ttft=0.02,per_token=0.001", fault_header=True,
                  scrub={"headers": ["x-session"]})
    mock.on(last_user="weather", tool_result=False, name="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
    with mock.serve() as server:
        yield mock, server


_CLIENTS: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every client :func:`sdk` made is closed after the test, not left to the garbage collector."""
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def sdk(server: ServerThread, **headers: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0, timeout=10,
                           default_headers=headers)
    _CLIENTS.append(client)
    return client


def test_the_feed_sends_the_journal_then_each_call_live(served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    client = sdk(server, **{"x-session": "session-abcdef123"})
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}],
                                   tools=[WEATHER])
    assert mock.engine.on_record == []  # nobody listens: no listener, no cost
    feed = Feed(server.url)
    try:
        events = feed.wait(2)
        assert [name for name, _ in events] == ["clear", "call"]
        backlog = events[1][1]
        assert (backlog["seq"], backlog["by"], backlog["at"]) == (0, "rule 'weather'", None)
        assert len(mock.engine.on_record) == 1
        # the key and the session header are in the request, and in a body (the model echoes nothing, so put
        # the key in the prompt): the feed shows neither
        for _ in client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
                {"role": "user", "content": f"my key is {SECRET}"}]):
            pass
        name, live = feed.wait(3)[2]
        assert name == "call"
        assert live["seq"] == 1
        assert live["at"] > time.time() - 60
        assert (live["stream"], live["by"], live["status"]) == (True, "generator", 200)
        assert live["request"]["headers"]["authorization"] == "REDACTED"
        assert live["request"]["headers"]["x-session"] == "REDACTED"
        assert live["request"]["body"]["messages"][0]["content"] == "my key is REDACTED"
        events_out = live["response"]["events"]
        assert events_out[-1]["data"] == "data: [DONE]"
        assert [e["at"] for e in events_out] == sorted(e["at"] for e in events_out)
        assert events_out[0]["at"] >= 0.02
        assert "assistant:" in live["transcript"]
        raw = json.dumps(feed.events)
        assert SECRET not in raw
        assert "session-abcdef123" not in raw
        # a reset empties every page (and its Scenario tab refreshes: the rules are gone)
        assert httpx.post(server.url + "/_mockai/reset").status_code == 200
        assert [name for name, _ in feed.wait(5)[3:]] == ["clear", "state"]
        httpx.delete(server.url + "/_mockai/calls")
        assert feed.wait(6)[5][0] == "clear"
    finally:
        feed.close()
    deadline = time.monotonic() + 10
    while mock.engine.on_record:  # the page left: its listener goes with it
        assert time.monotonic() < deadline, "the feed's journal listener outlived its connection"
        time.sleep(0.01)


def test_a_fault_and_an_error_are_in_the_view(served: tuple[MockAI, ServerThread]) -> None:
    _, server = served
    client = sdk(server)
    with pytest.raises(openai.APIConnectionError):
        for _ in client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
                {"role": "user", "content": "Hi"}], extra_headers={"x-mockai-fault": "cut=3"}):
            pass
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], n=0)
    feed = Feed(server.url)
    try:
        _, cut = feed.wait(3)[1]
        _, bad = feed.events[2]
    finally:
        feed.close()
    assert (cut["fault"], cut["delivery"]["cut_after"]) == ("cut=3", 3)
    assert "cut after 3 events" in cut["transcript"]
    assert bad["status"] == 400
    assert bad["error"]["param"] == "n"
    assert bad["by"] is None


def test_state_shows_rules_queue_and_cassette(tmp_path: Path) -> None:
    upstream = MockAI(seed=5)
    path = tmp_path / "c.json"
    with upstream.serve() as up:
        recorder = MockAI(cassette=path, record_mode="once", upstream=up.base_url)
        recorder.client(max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "recorded"}])
        recorder.cassette.flush()  # type: ignore[union-attr]
    mock = MockAI(cassette=path, seed=5, scenario={"rules": [{"name": "greet", "match": {"last_user": "hi"},
                                                               "reply": "Hello!"}], "queue": ["queued one"]})
    state = mock.http_client(base_url="https://api.openai.com").get("/_mockai/state").json()
    assert state["rules"] == [{"index": 1, "name": "greet", "rule": "'greet' on(last_user='hi')", "call_count": 0,
                               "times": None, "scripted": True}]
    assert len(state["queue"]) == 1
    assert "queued one" in state["queue"][0]
    assert any("never matched" in u for u in state["unused"])
    assert state["config"]["seed"] == 5
    cassette = state["cassette"]
    assert (cassette["path"], cassette["record_mode"], cassette["interactions"]) == (str(path), "none", 1)
    assert "user: recorded" in cassette["transcript"]
    assert MockAI().http_client(base_url="https://api.openai.com").get("/_mockai/state").json()["cassette"] is None


def test_the_inspector_has_the_control_apis_protection() -> None:
    token = "control-tok-123456"
    engine = Engine(Config(control_token=token))
    with ServerThread(engine) as server:
        url = server.url
        assert httpx.get(url + "/_mockai/").status_code == 401
        assert httpx.get(url + "/_mockai/events").status_code == 401
        assert httpx.get(url + "/_mockai/state").status_code == 401
        assert httpx.get(url + "/_mockai/?token=wrong-token").status_code == 401
        signed = httpx.get(url + f"/_mockai/?token={token}")
        assert signed.status_code == 303
        assert signed.headers["location"] == "/_mockai/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/_mockai/" in cookie
        jar = {"cookie": cookie.split(";")[0]}
        assert httpx.get(url + "/_mockai/", headers=jar).status_code == 200
        assert httpx.get(url + "/_mockai/state", headers=jar).status_code == 200
        with httpx.stream("GET", url + "/_mockai/events", headers=jar) as feed:
            assert feed.status_code == 200
        # the cookie reads, never writes
        assert httpx.post(url + "/_mockai/reset", headers=jar).status_code == 401
        assert httpx.delete(url + "/_mockai/calls", headers=jar).status_code == 401
        assert httpx.get(url + "/_mockai/", headers={"authorization": f"Bearer {token}"}).status_code == 200
        # the address typed without its slash leads to the page, the token kept for the sign-in
        bare = httpx.get(url + f"/_mockai?token={token}")
        assert (bare.status_code, bare.headers["location"]) == (308, f"/_mockai/?token={token}")
        assert httpx.get(url + f"/_mockai?token={token}", follow_redirects=True, headers=jar).status_code == 200
    with ServerThread(Engine(Config()), host="0.0.0.0") as server:  # not loopback, no token: off
        assert httpx.get(f"http://127.0.0.1:{server.port}/_mockai/").status_code == 404


def test_in_process_the_feed_is_the_journal_so_far() -> None:
    mock = MockAI(seed=1)
    mock.client().models.list()
    res = mock.http_client(base_url="https://api.openai.com").get("/_mockai/events")
    assert res.headers["content-type"] == "text/event-stream; charset=utf-8"
    names = re.findall(r"^event: (\w+)$", res.text, re.M)
    assert names == ["clear", "call"]


def test_a_page_that_stopped_reading_holds_a_bounded_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls wait for a slow page up to BACKLOG_BYTES (not only 10,000 calls of any size: a stalled reader grew a
    server by 600 MB); what it missed is one ``lagged`` event when it reads again."""
    import asyncio

    from mockai.inspector import feed

    monkeypatch.setattr(feed, "BACKLOG_BYTES", 2_000_000)

    async def main() -> list[bytes]:
        engine = Engine(Config())
        _, _, pieces = await feed.Feed.of(engine).aopen()
        listener = feed.Feed.of(engine).listeners[-1]
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 100_000}]})
        for _ in range(60):  # ~300 KB each, the page reading none of them
            engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"},
                                      body=body.encode()))
        await asyncio.sleep(0)
        assert 0 < listener.waiting <= 2_000_000
        assert listener.lagged > 0
        out = []
        async for piece in pieces:
            out.append(piece)
            if listener.queue.empty():
                break
        assert listener.waiting == 0
        await pieces.aclose()  # type: ignore[attr-defined]
        return out

    names = [re.search(rb"^event: (\w+)$", p, re.M).group(1) for p in asyncio.run(main())  # type: ignore[union-attr]
             if p.startswith((b"id:", b"event:", b"retry:"))]
    assert names[0] == b"clear"
    assert names.count(b"lagged") == 1
    assert 1 < names.count(b"call") < 60


def ask(url: str, text: str, client: httpx.Client | None = None, **params: Any) -> httpx.Response:
    """A chat completion over the socket, quickly (no SDK; a ``client`` to reuse its connection)."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **params}
    return (client or httpx).post(url + "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
                                  timeout=10, json=body)


def test_the_feed_numbers_calls_as_the_journal_does() -> None:
    """Each call keeps its number (``Call.seq``) whatever the journal let go: a page showed the newest call as #4999
    live and as #404 after a reload. ``GET /_mockai/calls`` gives the same number (``seq``)."""
    engine = Engine(Config(journal_size=3))
    with ServerThread(engine) as server:
        for i in range(10):
            assert ask(server.url, f"call {i}").status_code == 200
        kept = [c.seq for c in engine.calls]
        assert kept[-1] == 9
        assert kept[0] > 0  # the journal let the oldest go
        feed = Feed(server.url)
        try:
            events = feed.wait(1 + len(kept))
        finally:
            feed.close()
        assert [data["seq"] for _, data in events[1:]] == kept
        assert [data["transcript"].split()[0] for _, data in events[1:]] == [f"#{n}" for n in kept]
        listed = httpx.get(server.url + "/_mockai/calls").json()["data"]
        assert [c["seq"] for c in listed] == kept
        assert [c["index"] for c in listed] == list(range(len(kept)))  # the place in the list, as before
        # and the page learns how many calls to keep: as many as the journal
        assert events[0] == ("clear", {"keep": 3, "keep_chars": 32 * 1024 * 1024})


def test_rule_changes_reach_the_feed(served: tuple[MockAI, ServerThread]) -> None:
    """The control API's rule changes and resets tell open pages (``event: state``): their Scenario tab refreshes."""
    _, server = served
    feed = Feed(server.url)
    try:
        feed.wait(1)
        assert httpx.post(server.url + "/_mockai/rules", json={"queue": ["x"]}).status_code == 201
        assert feed.wait(2)[1][0] == "state"
        assert httpx.delete(server.url + "/_mockai/rules").status_code == 200
        assert feed.wait(3)[2][0] == "state"
    finally:
        feed.close()


def test_a_cut_or_failed_stream_shows_what_was_sent() -> None:
    """A stream that an ``error_event`` fault ended (chat and the Responses API) or a ``cut`` shortened shows the
    text sent before the error or the cut, and the error: not the whole reply the engine wrote."""
    from mockai.cassettes.scrub import Scrubber
    from mockai.inspector import call_view

    mock = MockAI(seed=4, fault_header=True)
    client = mock.client(max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in client.responses.create(model="gpt-4o", stream=True, input="Tell me a story",
                                         extra_headers={"x-mockai-fault": "error_event=6"}):
            pass
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt-4o", stream=True, messages=[
                {"role": "user", "content": "Tell me a story"}], extra_headers={"x-mockai-fault": "error_event=4"}):
            pass
    responses, chat = (call_view(c, c.seq, Scrubber()) for c in mock.calls)
    for view, made in ((responses, mock.calls[0]), (chat, mock.calls[1])):
        full = made.reply.choices[0].content  # type: ignore[union-attr]
        assert full
        assert full not in view["transcript"]
        assert "error (in the stream): server_error: The server had an error" in view["transcript"]
        assert view["error"]["type"] == "server_error"
    assert "  assistant, sent before the error: Enough brother\n" in responses["transcript"]
    assert "  assistant, sent before the error: Future benefit she\n" in chat["transcript"]
    # a cut stream: what the first events carried
    with mock.serve() as server, pytest.raises(openai.APIConnectionError):
        for _ in sdk(server).chat.completions.create(model="gpt-4o", stream=True, messages=[
                {"role": "user", "content": "Tell me a story"}], extra_headers={"x-mockai-fault": "cut=3"}):
            pass
    cut = call_view(mock.calls.last, mock.calls.last.seq, Scrubber())
    assert "  assistant, sent before the cut: Future benefit\n" in cut["transcript"]
    assert cut["error"] is None


def test_the_modules_examples_run() -> None:
    import doctest

    import mockai.control
    import mockai.inspector
    import mockai.inspector.feed
    import mockai.inspector.view

    for module in (mockai.control, mockai.inspector, mockai.inspector.feed, mockai.inspector.view):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


# --- the page, in a real browser -------------------------------------------------------------------------------

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]


def chromium() -> str:
    """The Chromium to drive: ``MOCKAI_CHROMIUM``, or the distribution's package; skips with the reason when there
    is none (``.ci/run`` installs it where apt is available)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")
    for candidate in (os.environ.get("MOCKAI_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.skip("no Chromium to drive: install the distribution's chromium package (apt-get install chromium), or "
                "set MOCKAI_CHROMIUM to a Chromium binary")


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1,
                                      locale="en-US", timezone_id="UTC")
        page = context.new_page()
        errors: list[str] = []  # the page's own errors (a server stopping first only drops its feed)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "net::" not in m.text
                and "Failed to load resource" not in m.text else None)
        page.set_default_timeout(10_000)
        yield page
        browser.close()
        assert errors == [], errors


def scripted_session(mock: MockAI, client: openai.OpenAI) -> None:
    """What the screenshot shows: a tool call (a rule), a stream with latency, a cut stream, a 400."""
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Oslo?"}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER])
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": first.choices[0].message.tool_calls[0].id,  # type: ignore[index]
                  "content": "12°C, light rain"}]
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER], stream=True):
        pass
    with pytest.raises(openai.APIConnectionError):
        for _ in client.chat.completions.create(model="gpt-4o", stream=True, messages=[
                {"role": "user", "content": "Tell me a story"}], extra_headers={"x-mockai-fault": "cut=5"}):
            pass
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                       temperature=3)


def calls_listed(page: Any, count: int) -> None:
    """Wait until the page lists ``count`` calls. Through Playwright's selector engine, not a script evaluated in
    the page: the page's Content-Security-Policy may refuse an evaluated string (``wait_for_function``)."""
    from playwright.sync_api import expect

    expect(page.locator("#calls li")).to_have_count(count, timeout=15_000)


def test_a_call_appears_live_and_opens_to_request_reply_and_stream(
        browser_page: Any, served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    page = browser_page
    page.goto(server.url + "/_mockai/")
    page.wait_for_selector("#live.on")
    assert page.locator("#calls li").count() == 0
    client = sdk(server)
    for _ in client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
            {"role": "user", "content": "Tell me about the weather"}], tools=[WEATHER]):
        pass
    page.wait_for_selector("#calls li")  # live: no reload
    row = page.locator("#calls li").first
    assert "POST" in row.inner_text()
    assert "/v1/chat/completions" in row.inner_text()
    assert "rule 'weather'" in row.inner_text()
    row.click()
    assert page.locator("#d-title").inner_text() == "#0 POST /v1/chat/completions"
    assert "user: Tell me about the weather" in page.locator("#d-transcript").inner_text()
    assert 'get_weather({"city":"Oslo"})' in page.locator("#d-transcript").inner_text()
    page.click("button[data-pane=request]")
    request_body = json.loads(page.locator("#d-req-body").inner_text())
    assert request_body["messages"] == [{"role": "user", "content": "Tell me about the weather"}]
    assert "REDACTED" in page.locator("#d-req-headers").inner_text()
    page.click("button[data-pane=reply]")
    assert "data: [DONE]" in page.locator("#d-res-body").inner_text()
    page.click("#stream-tab")
    events = len(mock.calls[0].response.events or [])
    assert page.locator("#d-timeline li").count() == events
    assert page.locator("#d-timeline li .data").first.inner_text() == "role=assistant"
    first_gap = page.locator("#d-timeline li .at").first.inner_text()
    assert int(first_gap.split()[0]) >= 20  # the latency's time to first token
    assert f"{events} events" in page.locator("#d-stream-summary").inner_text()
    # the key never reaches the page, whatever is open
    assert SECRET not in page.content()


def test_faults_errors_filters_and_the_scenario_view(browser_page: Any,
                                                     served: tuple[MockAI, ServerThread]) -> None:
    mock, server = served
    page = browser_page
    page.goto(server.url + "/_mockai/")
    page.wait_for_selector("#live.on")
    scripted_session(mock, sdk(server))
    calls_listed(page, 4)
    assert page.locator("#calls li .badge.fault").inner_text() == "fault cut=5"
    assert page.locator("#calls li .badge.error").inner_text() == "integer_above_max_value"
    page.locator("#calls li", has_text="fault cut=5").click()
    assert "connection cut" in page.locator("#d-badges").inner_text()
    page.click("#stream-tab")
    assert page.locator("#d-timeline li.cutline").count() == 1
    # cut=5: events 0 to 4 were sent, then the connection dropped
    assert page.locator("#d-timeline li:not(.cutline)").count() == 5
    assert "cut after 5 events (the last one sent: event 4)" in page.locator("#d-stream-summary").inner_text()
    assert page.locator("#d-timeline li").last.get_attribute("class") == "cutline"
    page.locator("#calls li", has_text="400").click()
    assert page.locator("#d-error").is_visible()
    assert "(param temperature)" in page.locator("#d-error").inner_text()
    # filters: by model, status and responder
    page.select_option("#f-model", "gpt-4o")
    assert page.locator("#calls li").count() == 1
    page.select_option("#f-model", "")
    page.select_option("#f-status", "4xx")
    assert page.locator("#calls li").count() == 1
    page.select_option("#f-status", "fault")
    assert page.locator("#calls li").count() == 1
    page.select_option("#f-status", "")
    page.select_option("#f-by", "rule 'weather'")
    assert page.locator("#calls li").count() == 1
    page.select_option("#f-by", "generator")
    assert page.locator("#calls li").count() == 2
    page.select_option("#f-by", "")
    page.fill("#f-text", "light rain")
    assert page.locator("#calls li").count() == 1
    page.fill("#f-text", "")
    page.click("#tab-scenario")
    page.wait_for_selector("#s-rules tr:nth-child(2)")
    assert "'weather' on(last_user='weather', tool_result=False)" in page.locator("#s-rules").inner_text()
    assert page.locator("#s-cassette-none").is_visible()
    assert SECRET not in page.content()


def seqs(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#calls li .seq").all_inner_texts()]


def test_the_page_keeps_the_newest_calls_and_numbers_them_as_the_server(browser_page: Any) -> None:
    """The page keeps as many calls as the journal does (``journal_size``; else 1,000), dropping the oldest and
    saying so: it kept every call (166 MB of heap after 1,500 large ones). Its numbers are the server's, the same
    live and after a reload."""
    engine = Engine(Config(journal_size=5))
    page = browser_page
    with ServerThread(engine) as server:
        page.goto(server.url + "/_mockai/")
        page.wait_for_selector("#live.on")
        for i in range(8):
            assert ask(server.url, f"call {i}").status_code == 200
        calls_listed(page, 5)
        assert seqs(page) == ["#7", "#6", "#5", "#4", "#3"]
        assert page.locator("#count").inner_text() == "5"
        assert page.locator("#trimmed").is_visible()
        assert "3 older calls were dropped from this page: it keeps the newest 5 calls" in \
            page.locator("#trimmed").inner_text()
        live = seqs(page)
        page.reload()
        page.wait_for_selector("#live.on")
        calls_listed(page, 5)
        assert seqs(page) == live
        listed = httpx.get(server.url + "/_mockai/calls").json()["data"]
        assert f"#{listed[-1]['seq']}" == live[0]
        page.locator("#calls li").first.click()
        assert page.locator("#d-title").inner_text() == "#7 POST /v1/chat/completions"
        assert page.locator("#d-transcript").inner_text().startswith("#7 POST")
        # a clear starts afresh: nothing dropped
        assert httpx.delete(server.url + "/_mockai/calls").status_code == 200
        calls_listed(page, 0)
        assert page.locator("#trimmed").is_hidden()


def test_the_page_keeps_a_bounded_amount_of_text(browser_page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Besides the count, the page keeps at most ``PAGE_CHARS`` characters of calls (the newest always)."""
    from mockai.inspector import feed

    monkeypatch.setattr(feed, "PAGE_CHARS", 100_000)
    engine = Engine(Config())
    page = browser_page
    with ServerThread(engine) as server:
        page.goto(server.url + "/_mockai/")
        page.wait_for_selector("#live.on")
        for i in range(6):  # each call's JSON carries the 30 KB prompt twice (the body, the transcript's turn is
            assert ask(server.url, f"{i} " + "x" * 30_000).status_code == 200  # clipped): ~ 35 KB
        page.wait_for_selector("#calls li .seq >> text=#5")
        count = page.locator("#calls li").count()
        assert 1 <= count <= 3
        assert seqs(page)[0] == "#5"
        assert f"{6 - count} older calls were dropped" in page.locator("#trimmed").inner_text()


def test_servers_on_one_host_keep_their_own_sign_in(browser_page: Any) -> None:
    """Cookies are shared by every port of a host: signing in to a second server (another token) signed the first
    page out, both cookies being ``mockai_control``. Each token now has its own cookie."""
    from mockai.control import COOKIE, cookie_name

    page = browser_page
    with ServerThread(Engine(Config(control_token="token-of-a"))) as a, \
            ServerThread(Engine(Config(control_token="token-of-b"))) as b:
        page.goto(a.url + "/_mockai/?token=token-of-a")
        page.wait_for_selector("#live.on")
        page.goto(b.url + "/_mockai/?token=token-of-b")
        page.wait_for_selector("#live.on")
        res = page.goto(a.url + "/_mockai/")  # the first server's page: still signed in
        assert res.status == 200
        page.wait_for_selector("#live.on")
        assert page.context.request.get(a.url + "/_mockai/state").status == 200
        assert page.context.request.get(b.url + "/_mockai/state").status == 200
        names = sorted(c["name"] for c in page.context.cookies())
        assert names == sorted([cookie_name("token-of-a"), cookie_name("token-of-b")])
        # a cookie set before the name carried the digest still reads
        old = httpx.get(a.url + "/_mockai/state", headers={"cookie": f"{COOKIE}=token-of-a"})
        assert old.status_code == 200
        assert cookie_name("token-of-a") != cookie_name("token-of-b")


def test_a_refused_token_stops_the_page_and_says_how_to_sign_in(browser_page: Any) -> None:
    """When the server stops taking the page's token (it restarted with another one), the page said
    "reconnecting…" forever; it now stops and says to open ``?token=TOKEN``."""
    from mockai.inspector.feed import end_feeds

    engine = Engine(Config(control_token="first-token"))
    page = browser_page
    with ServerThread(engine) as server:
        page.goto(server.url + "/_mockai/?token=first-token")
        page.wait_for_selector("#live.on")
        assert page.locator("#refused").is_hidden()
        engine.config.control_token = "second-token"
        feeds: list[str] = []
        page.on("request", lambda r: feeds.append(r.url) if r.url.endswith("/_mockai/events") else None)
        end_feeds(engine)  # the feed ends: the page reconnects, and is refused
        page.wait_for_selector("#live.refused", timeout=15_000)
        assert page.locator("#live").inner_text() == "token refused"
        banner = page.locator("#refused")
        assert banner.is_visible()
        assert "/_mockai/?token=TOKEN" in banner.inner_text()
        assert "mockai serve" in banner.inner_text()
        tries = len(feeds)
        time.sleep(3)  # more than the browser's retry period (2 s): no more attempts
        assert len(feeds) == tries
        assert page.locator("#live").inner_text() == "token refused"


def test_the_scenario_tab_follows_the_state_without_a_fetch_per_call(browser_page: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """While open, the Scenario tab fetched the state once per call (501 fetches for 500 calls), and went stale
    after a reset or new rules: it now refreshes on each change, at most one fetch in flight and one a second."""
    from playwright.sync_api import expect

    import mockai.inspector

    page = browser_page
    fetches: list[float] = []  # when the server answered GET /_mockai/state (the page's own requests are reported
    state_view = mockai.inspector.state_view  # to this thread late, when it next calls Playwright)

    def counted(engine: Engine) -> dict[str, Any]:
        fetches.append(time.monotonic())
        return state_view(engine)

    monkeypatch.setattr(mockai.inspector, "state_view", counted)
    mock = MockAI(seed=4)  # no latency: the calls come faster than one a second
    mock.on(last_user="weather", name="weather").reply("Sunny.")
    with mock.serve() as server:
        page.goto(server.url + "/_mockai/")
        page.wait_for_selector("#live.on")
        page.click("#tab-scenario")
        page.wait_for_selector("#s-rules tr:nth-child(2)")
        start = time.monotonic()
        with httpx.Client() as client:
            for i in range(150):
                assert ask(server.url, f"weather {i}", client).status_code == 200
        # the rule's count catches up (one last fetch after the burst)
        expect(page.locator("#s-rules tr:nth-child(2) td:nth-child(3)")).to_have_text("150", timeout=10_000)
        elapsed = time.monotonic() - start
        during = [t for t in fetches if t >= start]
        assert len(during) <= 1 + elapsed / 1.0, (len(during), elapsed)  # not 150
        gaps = [b - a for a, b in itertools.pairwise(fetches)]
        assert all(g >= 0.9 for g in gaps), gaps  # at most one a second
        # rules added through the control API, then a reset: the tab follows without a call
        assert httpx.post(server.url + "/_mockai/rules", json={"rules": [
            {"name": "added", "match": {"last_user": "x"}, "reply": "y"}]}).status_code == 201
        expect(page.locator("#s-rules")).to_contain_text("'added' on(last_user='x')", timeout=5_000)
        assert httpx.post(server.url + "/_mockai/reset").status_code == 200
        expect(page.locator("#s-rules-none")).to_be_visible(timeout=5_000)
        assert page.locator("#s-rules").is_hidden()


def test_filters_outlive_a_clear_and_show_they_are_on(browser_page: Any, served: tuple[MockAI, ServerThread]) -> None:
    """Clearing the calls (a reset, ``DELETE /_mockai/calls``) keeps the filters, and the list says they are on
    and how many calls they hide, with a button that shows all again."""
    _, server = served
    page = browser_page
    page.goto(server.url + "/_mockai/")
    page.wait_for_selector("#live.on")
    assert ask(server.url, "hello").status_code == 200
    assert ask(server.url, "hello", temperature=3).status_code == 400
    calls_listed(page, 2)
    assert page.locator("#filtered").is_hidden()
    page.select_option("#f-status", "4xx")
    calls_listed(page, 1)
    assert page.locator("#filtered").inner_text().startswith("Filters on: 1 of 2 calls shown.")
    assert "on" in (page.locator("#f-status").get_attribute("class") or "")
    assert httpx.delete(server.url + "/_mockai/calls").status_code == 200
    calls_listed(page, 0)
    assert page.locator("#f-status").input_value() == "4xx"  # kept
    assert page.locator("#filtered").inner_text().startswith("Filters on: 0 of 0 calls shown.")
    assert ask(server.url, "after the clear").status_code == 200
    page.wait_for_selector("#count >> text=1")
    assert page.locator("#calls li").count() == 0
    assert page.locator("#filtered").inner_text().startswith("Filters on: 0 of 1 call shown.")
    page.click("#f-reset")
    calls_listed(page, 1)
    assert page.locator("#filtered").is_hidden()
    assert page.locator("#f-status").input_value() == ""


def test_a_cut_and_a_failed_stream_in_the_page(browser_page: Any, served: tuple[MockAI, ServerThread]) -> None:
    """cut=2: events 0 and 1 were sent; the page says so (it said "cut after event 2") and draws the cut after
    them. A Responses stream ended by an error event shows the text sent before it, and the error."""
    mock, server = served
    page = browser_page
    page.goto(server.url + "/_mockai/")
    page.wait_for_selector("#live.on")
    client = sdk(server)
    with pytest.raises(openai.APIConnectionError):
        for _ in client.chat.completions.create(model="gpt-4o", stream=True, messages=[
                {"role": "user", "content": "Tell me a story"}], extra_headers={"x-mockai-fault": "cut=2"}):
            pass
    with pytest.raises(openai.APIError):
        for _ in client.responses.create(model="gpt-4o", stream=True, input="Tell me a story",
                                         extra_headers={"x-mockai-fault": "error_event=6"}):
            pass
    calls_listed(page, 2)
    page.locator("#calls li", has_text="fault cut=2").click()
    assert "connection cut" in page.locator("#d-badges").inner_text()
    page.click("#stream-tab")
    assert page.locator("#d-timeline li:not(.cutline)").count() == 2
    assert [t.strip() for t in page.locator("#d-timeline li .idx").all_inner_texts()] == ["0", "1"]
    summary = page.locator("#d-stream-summary").inner_text()
    assert "the connection was cut after 2 events (the last one sent: event 1)" in summary
    assert page.locator("#d-timeline li").last.get_attribute("class") == "cutline"
    page.locator("#calls li", has_text="error_event=6").click()
    page.click("button[data-pane=conversation]")
    transcript = page.locator("#d-transcript").inner_text()
    reply = mock.calls.last.reply.choices[0].content  # type: ignore[union-attr]
    assert reply
    assert reply not in transcript
    assert "assistant, sent before the error:" in transcript
    assert "error (in the stream): server_error" in transcript
    assert page.locator("#d-error").is_visible()
    assert "server_error" in page.locator("#d-error").inner_text()


def test_a_stream_the_client_left_is_shown_as_far_as_it_was_sent(browser_page: Any) -> None:
    """The journal keeps what was sent of a stream the client left (Call.ended); the page says who ended it."""
    mock = MockAI(seed=4, latency={"ttft": 0, "per_token": 0.1, "jitter": 0})
    with mock.serve() as server, httpx.Client(base_url=server.base_url, timeout=10,
                                              headers={"authorization": f"Bearer {SECRET}"}) as client:
        request = client.build_request("POST", "/chat/completions", json={
            "model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Tell me a story"}]})
        res = client.send(request, stream=True)
        pieces, received = res.iter_raw(), b""
        while received.count(b"\n\n") < 2:
            received += next(pieces)
        pieces.close()
        res.close()
        deadline = time.monotonic() + 5
        while mock.calls.last.ended is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mock.calls.last.ended == "client"
        assert httpx.get(server.url + "/_mockai/calls").json()["data"][-1]["ended"] == "client"
        page = browser_page
        page.goto(server.url + "/_mockai/")
        calls_listed(page, 1)
        page.locator("#calls li").first.click()
        assert "client left" in page.locator("#d-badges").inner_text()
        page.click("#stream-tab")
        assert "the client left after" in page.locator("#d-stream-summary").inner_text()
        assert page.locator("#d-timeline li").last.inner_text().startswith("✂ client left here")
        page.click("button[data-pane=conversation]")
        # live: a page open while the stream runs gets the call again when it ends early, and replaces it
        res = client.send(request, stream=True)
        pieces, received = res.iter_raw(), b""
        while received.count(b"\n\n") < 2:
            received += next(pieces)
        calls_listed(page, 2)
        page.locator("#calls li").first.click()
        assert "client left" not in page.locator("#d-badges").inner_text()
        pieces.close()
        res.close()
        from playwright.sync_api import expect

        expect(page.locator("#d-badges")).to_contain_text("client left", timeout=10_000)
        assert page.locator("#calls li").count() == 2


def test_a_shared_journals_feed_keeps_no_amended_calls() -> None:
    """A shared journal's page polls the journal: a call sent again (a stream that ended early) must not pile up
    in the queue of its stop listener, which nothing reads."""
    import asyncio

    from mockai.inspector.feed import Feed, _Stop

    mock = MockAI()
    mock.queue("x")
    mock.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    feed = Feed.of(mock.engine)
    loop = asyncio.new_event_loop()
    try:
        stop = _Stop(loop)
        feed.listeners.append(stop)
        for _ in range(5):
            feed.amended(mock.calls.last)
        loop.run_until_complete(asyncio.sleep(0))
        assert (stop.queue.qsize(), stop.waiting) == (0, 0)
    finally:
        loop.close()


def test_screenshot_layout(browser_page: Any) -> None:
    """The layout, held two ways: geometry (panes side by side inside the window, nothing overflowing, the
    stylesheet applied), and the screenshot against the committed baseline (docs/inspector.png, also the README's
    picture) at a coarse resolution, so font rendering may differ a little but a broken layout fails. Refresh the
    baseline with MOCKAI_UPDATE_SCREENSHOT=1 after a deliberate change."""
    mock = MockAI(seed=11, clock=1_700_000_000, latency="ttft=0.05,per_token=0.004", fault_header=True)
    mock.on(last_user="weather", tool_result=False, name="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
    page = browser_page
    with mock.serve() as server:
        scripted_session(mock, sdk(server))
        page.goto(server.url + "/_mockai/")
        calls_listed(page, 4)
        page.locator("#calls li").nth(2).click()  # the stream answering the tool result
        page.click("#stream-tab")
        page.wait_for_selector("#d-timeline li")
        box = {name: page.locator(sel).first.bounding_box() for name, sel in
               {"top": "header#top", "list": "#list-pane", "detail": "#detail", "row": "#calls li",
                "timeline": "#d-timeline", "mark": "#d-timeline .mark"}.items()}
        assert page.evaluate("getComputedStyle(document.querySelector('header#top')).display") == "flex"
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no horizontal overflow
        assert box["top"]["y"] == 0
        assert box["top"]["height"] < 80
        assert box["list"]["x"] == 0
        assert box["list"]["y"] >= box["top"]["height"] - 1
        assert box["list"]["x"] + box["list"]["width"] <= box["detail"]["x"] + 1  # side by side, no overlap
        assert box["detail"]["x"] + box["detail"]["width"] <= 1281
        assert 320 <= box["list"]["width"] <= 640
        assert box["row"]["height"] < 120
        assert box["timeline"]["x"] >= box["detail"]["x"]
        assert box["mark"]["height"] > 0
        shot = page.screenshot(animations="disabled")
    if os.environ.get("MOCKAI_UPDATE_SCREENSHOT"):
        BASELINE.parent.mkdir(exist_ok=True)
        BASELINE.write_bytes(shot)
    assert BASELINE.exists(), "no baseline: run with MOCKAI_UPDATE_SCREENSHOT=1 to write docs/inspector.png"
    difference = image_difference(page, shot, BASELINE.read_bytes())
    # Two renders on one machine are identical (0.0); a list pane 20 points narrower is 3% off.
    assert difference < 0.01, f"the page looks {difference:.1%} different from {BASELINE} (coarse, per pixel)"


def image_difference(page: Any, a: bytes, b: bytes) -> float:
    """The mean absolute difference (0..1) of two PNGs scaled down to 160x100, computed by the browser's canvas
    (no image library needed)."""
    import base64

    script = """async ([a, b]) => {
        const load = (src) => new Promise((ok, bad) => { const i = new Image(); i.onload = () => ok(i);
                                                          i.onerror = bad; i.src = src; });
        const pixels = (img) => { const c = document.createElement("canvas"); c.width = 160; c.height = 100;
            const g = c.getContext("2d"); g.drawImage(img, 0, 0, 160, 100);
            return g.getImageData(0, 0, 160, 100).data; };
        const [pa, pb] = [pixels(await load(a)), pixels(await load(b))];
        let sum = 0;
        for (let i = 0; i < pa.length; i += 4) for (let k = 0; k < 3; k++) sum += Math.abs(pa[i + k] - pb[i + k]);
        return sum / (160 * 100 * 3 * 255);
    }"""
    urls = ["data:image/png;base64," + base64.b64encode(x).decode() for x in (a, b)]
    return float(page.evaluate(script, urls))
