"""The request log of ``mockai serve``: one line per request (text or JSON) with the model, who answered, the
status, the fault, dropped connections, tokens and timing; errors with their message and param; no secrets;
nothing at all (no listener, no timing) when the level is above info; where the inspector is, at start-up."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from test_cli import Served

from mockai import MockAI
from mockai.access import AccessLog, BatchingStreamHandler, LoggedEndpoint, logging_config, text_line
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
    with openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0, timeout=10) as client:
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
        with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
            client.models.list()
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
        with openai.OpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0, timeout=10) as client:
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
        with recorder.serve(log_level="info") as server, \
                openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "record me"}])
        recorder.cassette.flush()  # type: ignore[union-attr]
    replayer = MockAI(cassette=path)
    with replayer.serve(log_level="info") as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "record me"}])
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


class Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def record(msg: str, level: int = logging.INFO, name: str = "mockai.access") -> logging.LogRecord:
    return logging.makeLogRecord({"msg": msg, "levelno": level, "levelname": logging.getLevelName(level),
                                  "name": name})


def test_lines_logged_in_one_turn_of_the_loop_are_written_at_its_end_in_one_write() -> None:
    out = Writes()
    handler = BatchingStreamHandler(out)

    async def serve() -> list[str]:
        for n in range(3):
            handler.handle(record(f"request {n}"))
        seen = list(out.writes)  # nothing yet: the turn is not over
        await asyncio.sleep(0)
        handler.handle(record("request 3"))
        handler.handle(record("a warning", logging.WARNING))  # written at once, after what waits, in order
        handler.handle(record("request 4"))
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(serve()) == []
    assert out.writes == ["request 0\nrequest 1\nrequest 2\n", "request 3\na warning\n", "request 4\n"]


def test_lines_logged_off_the_loop_are_written_at_once_and_nothing_waits_past_the_end() -> None:
    out = Writes()
    handler = BatchingStreamHandler(out, limit=20)
    handler.handle(record("start-up"))  # no loop runs
    assert out.writes == ["start-up\n"]

    async def last_words() -> None:
        handler.handle(record("the last request"))  # the loop ends before its turn is over

    asyncio.run(last_words())
    assert out.writes[-1] == "the last request\n"

    async def many() -> None:
        for n in range(3):  # 20 characters at most wait
            handler.handle(record(f"line {n} of three"))
        assert out.writes[-1] == "line 0 of three\nline 1 of three\n"
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, handler.handle, record("from a worker thread"))
        assert out.writes[-1] == "line 2 of three\nfrom a worker thread\n"

    asyncio.run(many())
    handler.handle(record("waiting"))
    handler.flush()
    assert out.getvalue().endswith("from a worker thread\nwaiting\n")


def test_a_line_whose_loop_never_took_its_turn_is_written_by_the_next_loop() -> None:
    out = Writes()
    handler = BatchingStreamHandler(out)
    stranded = asyncio.new_event_loop()

    def last_callback() -> None:
        handler.handle(record("stranded"))
        stranded.stop()  # the loop ends before the turn that would write the line

    stranded.call_soon(last_callback)
    stranded.run_forever()
    stranded.close()
    assert out.writes == []

    async def log(msg: str) -> None:
        handler.handle(record(msg))

    asyncio.run(log("next"))
    assert out.writes == ["stranded\nnext\n"]


def test_only_request_lines_wait_every_other_line_writes_them_out() -> None:
    """uvicorn's own lines (its last words among them), and every record of another logger or level, are
    written at once, after the request lines waiting before them."""
    out = Writes()
    handler = BatchingStreamHandler(out)

    async def serve() -> None:
        handler.handle(record("POST /v1/chat/completions 200"))
        handler.handle(record("debugging", logging.DEBUG))
        handler.handle(record("POST /v1/chat/completions 200"))
        handler.handle(record("Shutting down", name="uvicorn.error"))
        handler.handle(record("Finished server process", name="uvicorn.error"))

    asyncio.run(serve())
    assert out.writes == ["POST /v1/chat/completions 200\ndebugging\n",
                          "POST /v1/chat/completions 200\nShutting down\n", "Finished server process\n"]


def test_waiting_lines_go_out_whole_in_writes_a_pipe_keeps_whole() -> None:
    """Several workers may share one pipe: a write of at most PIPE_BUF bytes is not mixed with another's, so
    lines go out in such writes, cut between lines (as one line a write was)."""
    out = Writes()
    handler = BatchingStreamHandler(out)
    lines = [f"request {n:03d} " + "é" * (n % 7) + "x" * 190 for n in range(60)]

    async def serve() -> None:
        for line in lines:
            handler.handle(record(line))

    asyncio.run(serve())
    assert "".join(out.writes) == "".join(line + "\n" for line in lines)
    assert 3 <= len(out.writes) <= 5
    assert all(len(w.encode()) <= 4096 and w.endswith("\n") for w in out.writes)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_does_not_write_the_lines_waiting_when_it_forked(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    with path.open("a") as stream:
        handler = BatchingStreamHandler(stream)

        async def serve() -> None:
            handler.handle(record("before the fork"))
            pid = os.fork()
            if pid == 0:  # the child: its exit writes what waits in its handler
                handler.handle(record("the child's own"))
                handler.flush()
                os._exit(0)
            os.waitpid(pid, 0)

        asyncio.run(serve())
    assert sorted(path.read_text().splitlines()) == ["before the fork", "the child's own"]


def test_mockai_serve_writes_uvicorns_look_without_copying_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text format's formatter gives what uvicorn's DefaultFormatter gives, colours or not."""
    from uvicorn.logging import DefaultFormatter

    ours = logging_config("text", "info")
    assert ours["handlers"]["default"]["class"] == "mockai.access.BatchingStreamHandler"
    spec = dict(ours["formatters"]["default"])
    import mockai.access

    factory = getattr(mockai.access, spec.pop("()").rsplit(".", 1)[1])
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failure = sys.exc_info()
    records = [record("POST /v1/chat/completions 200"), record("careful", logging.WARNING),
               logging.makeLogRecord({"msg": "Uvicorn running on %s", "args": ("http://x",), "levelno": 20,
                                      "levelname": "INFO", "color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"}),
               logging.makeLogRecord({"msg": "failed", "levelno": 40, "levelname": "ERROR", "exc_info": failure})]
    for colours in (False, True):
        spec["use_colors"] = colours
        for rec in records:
            before = dict(rec.__dict__)
            assert factory(**spec).format(rec) == DefaultFormatter(**spec).format(logging.makeLogRecord(before))
            assert "levelprefix" not in rec.__dict__  # the record itself is left as it was


def test_the_request_line_names_the_code_that_logged_it(caplog: pytest.LogCaptureFixture) -> None:
    mock = MockAI(seed=1)
    caplog.set_level(logging.INFO, logger="mockai.access")
    with mock.serve(log_level="info") as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        client.models.list()
    (line,) = [r for r in caplog.records if r.name == "mockai.access"]
    assert (line.filename, line.funcName) == ("access.py", "write")
    assert line.lineno == AccessLog.write.__code__.co_firstlineno


def stopped_after_chats(n: int, *args: str) -> str:
    """What ``mockai serve *args`` wrote on stderr, stopped (rc 0) right after ``n`` chat completions."""
    server = Served(*args)
    try:
        with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
            for i in range(n):
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"n{i}"}])
    finally:
        code, _, err = server.stop()
    assert code == 0
    return err


def test_mockai_serve_logs_every_line_before_it_exits() -> None:
    """Lines wait for the end of the loop's turn at most: a server stopped right after its requests has logged
    them all, in order, before uvicorn's own last lines."""
    err = stopped_after_chats(20)
    lines = err.splitlines()
    requests = [i for i, line in enumerate(lines) if line.startswith("INFO:     POST /v1/chat/completions 200 ")]
    assert len(requests) == 20, err
    assert requests[-1] < next(i for i, line in enumerate(lines) if "Shutting down" in line)


def test_every_worker_logs_its_last_words() -> None:
    """With --workers each worker process writes its request lines and its own last lines when stopped."""
    err = stopped_after_chats(6, "--workers", "2")
    assert err.count("INFO:     POST /v1/chat/completions 200 ") == 6, err
    assert err.count("Finished server process") == 2, err
