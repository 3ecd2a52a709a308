"""The request log of ``mockai serve``: one line per request (text or JSON) with the model, who answered, the
status, the fault, dropped connections, tokens and timing; errors with their message and param; no secrets;
nothing at all (no listener, no timing) when the level is above info; where the inspector is, at start-up."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from test_cli import Served

from mockai import MockAI
from mockai.access import AccessLog, LoggedEndpoint, logging_config, text_line
from mockai.app import Door
from mockai.server import ServerThread

SECRET = "sk-live-secret-0123456789abcdef"
SCENARIO = """
rules:
  - name: greet
    match: {last_user: hello}
    reply: Hello from the rule!
"""


def drive(base_url: str) -> None:
    """Requests of every kind: a rule, the generator (stream with usage), a 400, faults that drop the
    connection, a 500 fault, the Responses API, a listing, a secret in the query string."""
    client = openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0, timeout=10)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}])
    for _ in client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Tell me"}],
                                            stream=True, stream_options={"include_usage": True}):
        pass
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                       temperature=7)
    for fault in ("reset", "hang=0.2", "cut=2"):
        with pytest.raises(openai.APIConnectionError):
            for _ in client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
                    {"role": "user", "content": "faulted"}], extra_headers={"x-mockai-fault": fault}):
                pass
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"x-mockai-fault": "500"})
    client.responses.create(model="gpt-4o-mini", input="A haiku, please")
    client.models.list(extra_query={"api_key": SECRET})


def check(lines: list[dict[str, Any]]) -> None:
    """The fields ``drive`` must have produced, in order."""
    assert [(f["method"], f["path"].split("?")[0], f["status"]) for f in lines] == [
        ("POST", "/v1/chat/completions", 200), ("POST", "/v1/chat/completions", 200),
        ("POST", "/v1/chat/completions", 400), ("POST", "/v1/chat/completions", None),
        ("POST", "/v1/chat/completions", None), ("POST", "/v1/chat/completions", 200),
        ("POST", "/v1/chat/completions", 500), ("POST", "/v1/responses", 200), ("GET", "/v1/models", 200)]
    rule, stream, bad, reset, hang, cut, failed, responses, models = lines
    assert (rule["model"], rule["stream"], rule["by"]) == ("gpt-4o-mini", False, "rule 'greet'")
    assert rule["tokens_in"] > 0
    assert rule["tokens_out"] > 0
    assert (stream["model"], stream["stream"], stream["by"]) == ("gpt-4o", True, "generator")
    assert stream["tokens_in"] > 0
    assert stream["tokens_out"] > 0
    assert bad["error"].startswith("Invalid 'temperature'")
    assert (bad["param"], bad["code"]) == ("temperature", "integer_above_max_value")
    assert (reset["fault"], reset["dropped"], reset["ttfb_ms"]) == ("reset", "reset", None)
    assert (hang["fault"], hang["dropped"]) == ("hang=0.2", "hang")
    assert hang["total_ms"] >= 190
    assert (cut["fault"], cut["dropped"], cut["by"]) == ("cut=2", "cut", "generator")
    assert cut["ttfb_ms"] is not None
    assert (failed["fault"], failed["by"]) == ("500", "faults")
    assert failed["error"]
    assert (responses["model"], responses["by"], responses["route"]) == ("gpt-4o-mini", "generator", "responses")
    assert responses["tokens_out"] > 0
    assert models["path"] == "/v1/models?api_key=REDACTED"
    for f in lines:
        assert f["total_ms"] >= (f["ttfb_ms"] or 0) >= 0
        assert f["client"].startswith("127.0.0.1:")


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    return str(path)


def test_serve_logs_one_text_line_per_request(scenario: str) -> None:
    server = Served("--fault-header", "--scenario", scenario)
    try:
        drive(server.base_url)
    finally:
        code, out, err = server.stop()
    assert code == 0
    assert SECRET not in out + err
    assert "HTTP/1.1" not in err  # uvicorn's access line is off
    lines = [line for line in err.splitlines() if line.startswith("INFO:") and " /v1/" in line]
    assert len(lines) == 9, err
    assert lines[0].startswith("INFO:     POST /v1/chat/completions 200 model=gpt-4o-mini stream=false "
                               "by=\"rule 'greet'\" tokens=")
    assert " stream=true by=generator fault=\"cut=2\" dropped=cut ttfb_ms=" in lines[5]
    assert lines[3].startswith("INFO:     POST /v1/chat/completions - model=gpt-4o-mini stream=true by=faults "
                               "fault=reset dropped=reset total_ms=")
    assert "error=\"Invalid 'temperature': integer above maximum value." in lines[2]
    assert " param=temperature code=integer_above_max_value " in lines[2]
    assert "GET /v1/models?api_key=REDACTED 200 " in lines[8]


def test_serve_logs_json_lines_with_the_same_fields(scenario: str) -> None:
    server = Served("--fault-header", "--scenario", scenario, "--log-format", "json")
    try:
        drive(server.base_url)
    finally:
        code, out, err = server.stop()
    assert code == 0
    assert SECRET not in out + err
    records = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is one JSON object
    assert any(r["logger"].startswith("uvicorn") and "message" in r for r in records)
    requests = [r for r in records if r["logger"] == "mockai.access"]
    assert all(r["level"] == "info" and r["time"].endswith("Z") for r in requests)
    check(requests)


def test_start_up_says_where_the_inspector_is() -> None:
    server = Served()
    try:
        announced = "".join(server.announced)
    finally:
        server.kill()
    url = server.base_url.removesuffix("/v1")
    assert f"inspector: {url}/_mockai/  (control API: {url}/_mockai/health, calls, rules, reset, events)" in announced
    server = Served("--control-token", "tok-123456789")
    try:
        announced = "".join(server.announced)
    finally:
        server.kill()
    assert "/_mockai/?token=CONTROL_TOKEN" in announced
    assert "tok-123456789" not in announced
    server = Served("--workers", "2")
    try:
        announced = "".join(server.announced)
    finally:
        server.kill()
    # Workers share one state (mockai.shared), so the control API serves them all.
    assert "2 workers, state sqlite:///" in announced
    assert "inspector: http://127.0.0.1:" in announced


def test_quiet_servers_carry_no_logging_code() -> None:
    """Above info the door uses its plain endpoint and the engine has no journal listener: no cost at all."""
    mock = MockAI(seed=1)
    with mock.serve() as server:
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0).models.list()
        door = server._config.app.app.door
    assert isinstance(door, Door)
    assert mock.engine.on_record == []
    with mock.serve(log_level="info") as server:
        door = server._config.app.app.door
    assert isinstance(door, LoggedEndpoint)
    assert len(mock.engine.on_record) == 1


def test_a_server_thread_at_info_logs_through_the_logging_module(caplog: pytest.LogCaptureFixture) -> None:
    """``mock.serve(log_level="info")`` logs on the ``mockai.access`` logger (pytest shows it with a failure),
    heavy requests (answered in a worker thread) and cassette replays included."""
    mock = MockAI(seed=1, fault_header=True)
    mock.on(last_user="hello", name="greet").reply("Hi!")
    caplog.set_level(logging.INFO, logger="mockai.access")
    with mock.serve(log_level="info") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0, timeout=10)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], n=2)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "other"}])
        assert httpx.get(server.url + "/_mockai/health").status_code == 200  # the control API: debug only
    lines = [r for r in caplog.records if r.name == "mockai.access"]
    assert [r.getMessage().split(" model=")[0] for r in lines] == ["POST /v1/chat/completions 200"] * 2
    fields = [r.mockai for r in lines]  # type: ignore[attr-defined]
    assert [f["by"] for f in fields] == ["rule 'greet'", "generator"]
    assert SECRET not in caplog.text


def test_cassette_hits_and_recordings_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    upstream = MockAI(seed=2)
    path = tmp_path / "c.json"
    caplog.set_level(logging.INFO, logger="mockai.access")
    with upstream.serve() as up:
        recorder = MockAI(cassette=path, record_mode="once", upstream=up.base_url)
        with recorder.serve(log_level="info") as server:
            openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "record me"}])
        recorder.cassette.flush()  # type: ignore[union-attr]
    replayer = MockAI(cassette=path)
    with replayer.serve(log_level="info") as server:
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "record me"}])
    fields = [r.mockai for r in caplog.records if r.name == "mockai.access"]  # type: ignore[attr-defined]
    assert [(f["by"], f["status"]) for f in fields] == [("cassette (recorded)", 200), ("cassette", 200)]
    assert fields[0]["tokens_out"] == fields[1]["tokens_out"] > 0


def test_text_line_format() -> None:
    fields = {"method": "POST", "path": "/v1/chat/completions", "status": 400, "route": "chat", "model": None,
              "stream": False, "by": None, "tokens_in": 3, "tokens_out": None, "error": 'bad "value"\nhere',
              "param": "messages[0].role", "ttfb_ms": 0.3, "total_ms": 0.4}
    assert text_line(fields) == ('POST /v1/chat/completions 400 model=- stream=false by=- tokens=3/- '
                                 'error="bad \\"value\\"\\nhere" param=messages[0].role ttfb_ms=0.3 total_ms=0.4')


def test_logging_config_checks_the_format() -> None:
    with pytest.raises(ValueError, match="log format must be one of text, json"):
        logging_config("yaml", "info")
    config = logging_config("json", "info")
    assert config["loggers"]["mockai"]["level"] == "INFO"
    assert config["loggers"]["uvicorn.access"]["handlers"] == []


def test_access_log_is_off_unless_info(caplog: pytest.LogCaptureFixture) -> None:
    mock = MockAI()
    logger = logging.getLogger("mockai.test.quiet")
    logger.setLevel(logging.WARNING)
    assert AccessLog.wanted(mock.engine, logger) is None
    logger.setLevel(logging.INFO)
    assert isinstance(AccessLog.wanted(mock.engine, logger), AccessLog)


def test_server_thread_default_is_quiet() -> None:
    server = ServerThread(MockAI().engine)
    assert isinstance(server._config.app.app.door, Door)
