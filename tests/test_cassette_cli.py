"""`mockai cassette show | import | scrub`, and `mockai serve --cassette` recording and replaying for any language."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml
from click.testing import CliRunner

from mockai import MockAI
from mockai.cassettes import load, save
from mockai.cassettes.store import journal_path
from mockai.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cassettes"
KEY = "sk-proj-VcrImportedKey0123456789abcdefghij"


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_show_prints_a_transcript_with_streams_folded_into_text() -> None:
    out = invoke("cassette", "show", str(FIXTURES / "stream.json"))
    assert "1 interaction" in out
    assert "#0 POST /v1/chat/completions model=gpt-4o-mini stream -> 200 (14 events over" in out
    assert "  user: Count to five." in out
    assert "  assistant: One, two, three, four, five.  [stop]" in out
    tools = invoke("cassette", "show", str(FIXTURES / "tool_use.json"))
    assert 'assistant: -> get_weather({"city":"Oslo"})  [tool_calls]' in tools
    assert "  tool: [call_" in tools
    assert "error: rate_limit_error rate_limit_exceeded: Rate limit reached" in invoke(
        "cassette", "show", str(FIXTURES / "error.json"))


def test_show_rejects_a_file_that_is_not_a_cassette(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}")
    result = CliRunner().invoke(main, ["cassette", "show", str(path)])
    assert result.exit_code == 1
    assert "not a mockai cassette" in result.output


def _vcr_cassette() -> dict[str, object]:
    """A small pytest-recording cassette of OpenAI traffic, as VCR.py writes it: one gzip-encoded JSON reply as
    !!binary bytes, one plain-text stream."""
    reply = {"id": "chatcmpl-vcr1", "object": "chat.completion", "created": 1710000000, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Imported hello.",
                                                  "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}}
    chunk = {"id": "chatcmpl-vcr2", "object": "chat.completion.chunk", "created": 1710000001, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Streamed"}, "finish_reason": None}]}
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    stream = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(end)}\n\ndata: [DONE]\n\n"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    return {"version": 1, "interactions": [
        {"request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                     "body": json.dumps(body),
                     "headers": {"Authorization": [f"Bearer {KEY}"], "Content-Type": ["application/json"],
                                 "User-Agent": ["OpenAI/Python 1.40.0"]}},
         "response": {"status": {"code": 200, "message": "OK"},
                      "headers": {"Content-Type": ["application/json"], "Content-Encoding": ["gzip"],
                                  "Set-Cookie": ["__cf_bm=secret-cookie; path=/"], "openai-organization": ["org-x"],
                                  "x-request-id": ["req_vcr1"]},
                      "body": {"string": gzip.compress(json.dumps(reply).encode())}}},
        {"request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                     "body": json.dumps({**body, "messages": [{"role": "user", "content": "Stream"}], "stream": True}),
                     "headers": {"Authorization": [f"Bearer {KEY}"]}},
         "response": {"status": {"code": 200, "message": "OK"},
                      "headers": {"Content-Type": ["text/event-stream; charset=utf-8"]},
                      "body": {"string": stream}}},
    ]}


def test_import_converts_a_vcr_cassette_with_gzip_bodies_and_scrubs_it(tmp_path: Path) -> None:
    source = tmp_path / "test_chat.yaml"
    source.write_text(yaml.safe_dump(_vcr_cassette()))
    assert "!!binary" in source.read_text()
    out = invoke("cassette", "import", str(source))
    target = tmp_path / "test_chat.json"
    assert f"{target}: 2 interactions imported" in out
    text = target.read_text()
    assert KEY not in text
    assert "secret-cookie" not in text
    assert "org-x" not in text
    interactions = load(target)
    assert interactions[0]["response"]["body"]["choices"][0]["message"]["content"] == "Imported hello."
    assert [e["data"] for e in interactions[1]["response"]["events"]][-1] == "[DONE]"

    client = MockAI(cassette=target).client()
    hello = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert hello.id == "chatcmpl-vcr1"
    streamed = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream"}])
    assert streamed.choices[0].message.content == "Streamed"


def test_import_keeps_an_existing_target_unless_forced(tmp_path: Path) -> None:
    """A re-import replaced a cassette edited by hand (or recorded since) without a word."""
    source = tmp_path / "test_chat.yaml"
    source.write_text(yaml.safe_dump(_vcr_cassette()))
    target = tmp_path / "test_chat.json"
    invoke("cassette", "import", str(source))
    edited = target.read_text().replace("Imported hello.", "Edited by hand.")
    target.write_text(edited)
    result = CliRunner().invoke(main, ["cassette", "import", str(source)])
    assert result.exit_code == 1
    assert f"{target} exists; pass --force to replace it" in result.output
    assert target.read_text() == edited
    assert "2 interactions imported" in invoke("cassette", "import", str(source), "--force")
    assert "Imported hello." in target.read_text()


def test_import_rejects_what_is_not_a_vcr_cassette(tmp_path: Path) -> None:
    source = tmp_path / "x.yaml"
    source.write_text("just: text\n")
    result = CliRunner().invoke(main, ["cassette", "import", str(source), str(tmp_path / "out.json")])
    assert result.exit_code == 1
    assert "not a VCR.py cassette" in result.output


def test_scrub_cleans_an_existing_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "leaky.json"
    inter = load(FIXTURES / "tool_use.json")[0]
    inter["request"]["headers"]["authorization"] = f"Bearer {KEY}"
    inter["request"]["headers"]["x-tenant"] = "acme-corp"
    inter["request"]["body"]["user"] = "ada@example.com"
    inter["request"]["body"]["messages"][0]["content"] += f" (key {KEY}, ticket T-12345)"
    save(path, [inter])
    out = invoke("cassette", "scrub", str(path), "--header", "x-tenant", "--path", "user", "--pattern", r"T-\d+")
    assert "1 of 1 interaction changed" in out
    text = path.read_text()
    for secret in (KEY, "acme-corp", "ada@example.com", "T-12345"):
        assert secret not in text
    assert not list(tmp_path.glob("*.tmp"))


def test_a_cassette_only_in_its_journal_is_shown_scrubbed_and_served(tmp_path: Path) -> None:
    """A recorder killed before folding its journal in leaves only NAME.json.journal: every command reads it."""
    from mockai.cassettes.store import append

    path = tmp_path / "killed.json"
    inter = load(FIXTURES / "tool_use.json")[0]
    inter["request"]["body"]["user"] = "ada@example.com"
    append(path, inter)
    assert not path.exists()
    assert journal_path(path).exists()
    assert "1 interaction" in invoke("cassette", "show", str(path))
    scrubbed = tmp_path / "scrubbed.json"
    assert "1 of 1 interaction changed" in invoke("cassette", "scrub", str(path), "--path", "user", "-o",
                                                  str(scrubbed))
    assert "ada@example.com" not in scrubbed.read_text()
    proc, url = serve("--cassette", str(path))
    try:
        with openai.OpenAI(base_url=url, api_key="sk-any", max_retries=0) as client:
            assert client.chat.completions.create(**inter["request"]["body"]).id == inter["response"]["body"]["id"]
    finally:
        stop(proc)


def test_a_missing_cassette_says_neither_the_file_nor_its_journal_exists(tmp_path: Path) -> None:
    for command in (["cassette", "show"], ["cassette", "scrub"]):
        result = CliRunner().invoke(main, [*command, str(tmp_path / "gone.json")])
        assert result.exit_code == 2
        assert "no cassette at" in result.output
        assert "gone.json.journal" in result.output


@pytest.fixture
def upstream() -> Iterator[str]:
    up = MockAI(seed=2, clock=1_700_000_000, assert_all_called=False)
    up.on(last_user="Hello").reply("Hello from the upstream.")
    with up.serve() as server:
        yield server.base_url


def serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("OPENAI_BASE_URL="):
            return proc, line.split("=", 1)[1].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise AssertionError("mockai serve did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_serve_records_through_an_upstream_then_replays_without_one(upstream: str, tmp_path: Path) -> None:
    path = tmp_path / "served.json"
    proc, url = serve("--cassette", str(path), "--record-mode", "once", "--upstream", upstream)
    try:
        with openai.OpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
            live = client.chat.completions.create(model="gpt-4o-mini",
                                                  messages=[{"role": "user", "content": "Hello"}])
    finally:
        stop(proc)
    assert live.choices[0].message.content == "Hello from the upstream."
    assert not journal_path(path).exists()  # folded into the file when the server stopped
    assert KEY not in path.read_text()
    proc, url = serve("--cassette", str(path), "--replay-speed", "0", "--workers", "2")
    try:
        with openai.OpenAI(base_url=url, api_key="sk-other", max_retries=0) as client:
            replayed = client.chat.completions.create(model="gpt-4o-mini",
                                                      messages=[{"role": "user", "content": "Hello"}], stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in replayed if c.choices)
            assert text == live.choices[0].message.content
            with pytest.raises(openai.BadRequestError, match="has no recorded answer"):
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Other"}])
    finally:
        stop(proc)


def test_serve_allow_playback_repeats_and_replay_elapsed(tmp_path: Path) -> None:
    path = tmp_path / "timed.json"
    inter = load(FIXTURES / "tool_use.json")[0]
    inter["response"]["elapsed"] = 0.5
    save(path, [inter])
    proc, url = serve("--cassette", str(path), "--allow-playback-repeats", "--replay-elapsed")
    try:
        with openai.OpenAI(base_url=url, api_key="sk-any", max_retries=0) as client:
            body = inter["request"]["body"]
            times, ids = [], []
            for _ in range(3):  # more requests than recordings: the last recording again, each time
                started = time.perf_counter()
                ids.append(client.chat.completions.create(**body).id)
                times.append(time.perf_counter() - started)
    finally:
        stop(proc)
    assert ids == [inter["response"]["body"]["id"]] * 3
    assert min(times) >= 0.5  # the recorded elapsed time, waited


def test_serve_rejects_a_bad_cassette_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[]")
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--cassette", str(path)])
    assert result.exit_code == 2
    assert "not a mockai cassette" in result.output
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--cassette", str(tmp_path / "n.json"),
                                       "--match-on", "method,nope"])
    assert result.exit_code == 2
    assert "unknown matcher 'nope'" in result.output



def test_serve_with_workers_in_all_mode_keeps_every_interaction_of_the_run(upstream: str, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "workers.json"
    save(path, load(FIXTURES / "tool_use.json"))  # what was there before the run: replaced
    proc, url = serve("--cassette", str(path), "--record-mode", "all", "--upstream", upstream, "--workers", "3")
    try:
        def ask(i: int) -> str:
            with openai.OpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
                reply = client.chat.completions.create(model="gpt-4o-mini",
                                                       messages=[{"role": "user", "content": f"Hello {i}"}])
            return reply.choices[0].message.content or ""

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(ask, range(30)))
    finally:
        stop(proc)
    texts = sorted(i["request"]["body"]["messages"][0]["content"] for i in load(path))
    assert texts == sorted(f"Hello {i}" for i in range(30))
    assert not journal_path(path).exists()  # each worker process folded its journal in when it stopped
    assert sorted(i["request"]["body"]["messages"][0]["content"] for i in
                  json.loads(path.read_text())["interactions"]) == texts
    assert KEY not in path.read_text()


@pytest.mark.parametrize(("args", "option"), [
    (["--scrub-pattern", "("], "--scrub-pattern"),
    (["--match-normalize", "["], "--match-normalize"),
])
def test_serve_rejects_an_invalid_regex_naming_the_option(tmp_path: Path, args: list[str], option: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--cassette", str(tmp_path / "x.json"), *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert option in result.output
    assert "Traceback" not in result.output


def test_cassette_scrub_and_import_reject_an_invalid_regex(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    save(path, load(FIXTURES / "tool_use.json"))
    result = CliRunner().invoke(main, ["cassette", "scrub", str(path), "--pattern", "("])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "--pattern" in result.output
    assert "missing )" in result.output
    vcr = tmp_path / "v.yaml"
    vcr.write_text("interactions: []\nversion: 1\n")
    result = CliRunner().invoke(main, ["cassette", "import", str(vcr), "--scrub-pattern", "("])
    assert result.exit_code == 2, result.output
    assert "--scrub-pattern" in result.output
