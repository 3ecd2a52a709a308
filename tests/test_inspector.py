"""The inspector at ``/_mockai/``: its files (offline, no secrets), its live feed (``GET /_mockai/events``), the
state view, the control API's protection, and the page itself in a real browser (headless Chromium driven by
Playwright): a call appears live, opening it shows the request, the reply and the stream; a screenshot test
holds the layout."""

from __future__ import annotations

import contextlib
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


def sdk(server: ServerThread, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0, timeout=10,
                         default_headers=headers)


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
        # a reset empties every page
        assert httpx.post(server.url + "/_mockai/reset").status_code == 200
        assert feed.wait(4)[3][0] == "clear"
        httpx.delete(server.url + "/_mockai/calls")
        assert feed.wait(5)[4][0] == "clear"
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
    assert "cut after event 5" in page.locator("#d-stream-summary").inner_text()
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
