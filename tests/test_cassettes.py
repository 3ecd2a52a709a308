"""Cassettes without an upstream: the file format, scrubbing, matchers, replay (stream <-> JSON), record modes,
misses, atomic and concurrent writes, the example cassettes in fixtures/ and the pytest plugin."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel

from mockai import MockAI
from mockai.cassettes import Cassette, CassetteError, CassetteRequest, Matcher, Scrubber, dumps, load, save
from mockai.cassettes.replay import events_json, reassemble, respond

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cassettes"
MODEL = "gpt-4o-mini"


def ask(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **kw}


def interaction(text: str, answer: str = "Recorded answer.", *, rid: str = "chatcmpl-rec1", **body: Any
                ) -> dict[str, Any]:
    return {
        "request": {"method": "POST", "path": "/v1/chat/completions", "query": "",
                    "headers": {"authorization": "REDACTED", "content-type": "application/json"},
                    "body": ask(text, **body)},
        "response": {"status": 200, "headers": {"content-type": "application/json", "x-request-id": "req_1"},
                     "elapsed": 0.2,
                     "body": {"id": rid, "object": "chat.completion", "created": 1_700_000_000,
                              "model": "gpt-4o-mini-2024-07-18",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": answer,
                                                                   "refusal": None, "annotations": []},
                                           "logprobs": None, "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
                              "service_tier": "default", "system_fingerprint": "fp_1"}},
    }


def cassette_file(tmp_path: Path, *interactions: dict[str, Any], name: str = "c.json") -> Path:
    path = tmp_path / name
    save(path, list(interactions))
    return path


def client(mock: MockAI) -> openai.OpenAI:
    return mock.client(max_retries=2)


# --- the file ----------------------------------------------------------------------------------------------


def test_the_file_is_versioned_json_with_one_stream_event_per_line() -> None:
    text = (FIXTURES / "stream.json").read_text()
    doc = json.loads(text)
    assert doc["mockai_cassette"] == 1
    event_lines = [line for line in text.splitlines() if line.strip().startswith('{"at": ')]
    assert len(event_lines) == len(doc["interactions"][0]["response"]["events"])
    assert dumps(doc["interactions"]) == text  # the writer's layout is stable: rewriting changes nothing


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"interactions": []}', "not a mockai cassette"),
    ('{"mockai_cassette": 99, "interactions": []}', "newer than this mockai reads"),
    ('{"mockai_cassette": 1, "interactions": [{"request": {}}]}', "interactions[0] needs"),
    ('{"mockai_cassette": 1, "interactions": [{"request": {}, "response": {"status": 200, "headers": {}}}]}',
     "interactions[0].response has a 'status' but no 'body', 'text' or 'events'"),
])
def test_bad_files_fail_with_the_file_and_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CassetteError, match=r"bad\.json") as info:
        MockAI(cassette=path)
    assert message in str(info.value)


# --- scrubbing ---------------------------------------------------------------------------------------------


def test_default_scrubbing_hides_secret_headers_and_credentials_everywhere() -> None:
    key = "sk-proj-abcdefghijklmnop0123456789"
    inter = {"request": {"headers": {"authorization": f"Bearer {key}", "OpenAI-Organization": "org-secret",
                                     "openai-project": "proj_x", "cookie": "a=b", "x-echo": key},
                         "body": {"messages": [{"role": "user", "content": f"my key is {key}"}]}, "query": f"k={key}"},
             "response": {"headers": {"set-cookie": "session=1", "x-ok": "1"},
                          "body": {"echo": key}, "events": [{"at": 0, "data": {"k": key}}, {"at": 0, "raw": key}]}}
    clean = Scrubber().interaction(inter)
    assert key not in json.dumps(clean)
    assert "org-secret" not in json.dumps(clean)
    assert clean["request"]["headers"]["authorization"] == "REDACTED"
    assert clean["response"]["headers"] == {"set-cookie": "REDACTED", "x-ok": "1"}


def test_more_secret_headers_query_parameters_and_their_values_are_scrubbed_everywhere() -> None:
    from urllib.parse import quote

    query_key = "AIzaSyD4-Qk3yInTheQuery-9f8e7d6c5b4a3210zyx"
    token = "tok+en/With=Padd1ng0123456789abc"
    header_key = "xk-live-4c3b2a1908f7e6d5c4b3a29180706f5e"
    refresh = "rt-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    query = f"API_KEY={query_key}&access_token={quote(token, safe='')}&page=2"
    url = f"https://example.test/v1/chat/completions?{query}"
    inter = {"request": {"method": "POST", "path": "/v1/chat/completions", "query": query,
                         "headers": {"X-Api-Key": header_key, "X-Refresh-Token": refresh,
                                     "Proxy-Authorization": "Basic cHJveHk6cGFzc3dvcmQxMjM0NTY=",
                                     "x-ratelimit-remaining-tokens": "149999990"},
                         "body": {"messages": [{"role": "user", "content": f"see {url} and {token}"}]}},
             "response": {"headers": {"x-ratelimit-limit-tokens": "150000000", "x-goog-api-key": "AIzaResp12345678"},
                          "body": {"echo": url, "refresh": refresh}}}
    clean = Scrubber().interaction(inter)
    text = json.dumps(clean)
    for secret in (query_key, token, quote(token, safe=""), header_key, refresh, "cHJveHk6cGFzc3dvcmQxMjM0NTY=",
                   "AIzaResp12345678"):
        assert secret not in text, secret
    assert clean["request"]["query"] == "API_KEY=REDACTED&access_token=REDACTED&page=2"
    assert clean["request"]["headers"]["X-Refresh-Token"] == "REDACTED"
    # rate-limit counts are not secrets, although their names contain "token"
    assert clean["request"]["headers"]["x-ratelimit-remaining-tokens"] == "149999990"
    assert clean["response"]["headers"]["x-ratelimit-limit-tokens"] == "150000000"
    assert Scrubber().is_secret_header("Ocp-Apim-Subscription-Key")
    assert Scrubber().is_secret_header("X-My-Client-Secret")


def test_user_rules_scrub_headers_paths_and_patterns() -> None:
    s = Scrubber.of({"headers": ["x-tenant"], "paths": ["user", "messages[*].name", "metadata.session"],
                     "patterns": [r"\b\d{3}-\d{4}\b", [r"ada@\w+\.com", "<email>"]]})
    body = {"user": "u-1", "metadata": {"session": "s-1", "keep": "k"},
            "messages": [{"role": "user", "name": "ada", "content": "call 555-1234 or ada@example.com"}]}
    assert s.body(body) == {"user": "REDACTED", "metadata": {"session": "REDACTED", "keep": "k"},
                            "messages": [{"role": "user", "name": "REDACTED",
                                          "content": "call REDACTED or <email>"}]}
    assert s.clean_headers({"X-Tenant": "acme", "x-other": "1"}) == {"X-Tenant": "REDACTED", "x-other": "1"}
    with pytest.raises(ValueError, match="unknown scrub option"):
        Scrubber.of({"header": ["x"]})
    with pytest.raises(ValueError, match="not a JSON path"):
        Scrubber(paths=["a..b"])


def test_a_single_string_is_one_scrub_rule_not_its_characters() -> None:
    """``{"headers": "x-tenant"}`` made a rule of each character (and a pattern string, a pattern of each)."""
    for s in (Scrubber.of({"headers": "x-tenant", "paths": "user", "patterns": r"\b\d{3}-\d{4}\b"}),
              Scrubber(headers="x-tenant", paths="user", patterns=r"\b\d{3}-\d{4}\b")):
        assert s.clean_headers({"x-tenant": "acme", "t": "keep"}) == {"x-tenant": "REDACTED", "t": "keep"}
        assert s.body({"user": "u-1", "content": "call 555-1234, tea at 5"}) == {
            "user": "REDACTED", "content": "call REDACTED, tea at 5"}


def test_a_scrubbed_body_field_still_matches_on_replay(tmp_path: Path) -> None:
    inter = interaction("Hi")
    inter["request"]["body"]["user"] = "REDACTED"
    path = cassette_file(tmp_path, inter)
    reply = client(MockAI(cassette=path, scrub={"paths": ["user"]})).chat.completions.create(
        **ask("Hi", user="alice@example.com"))
    assert reply.choices[0].message.content == "Recorded answer."


# --- matching ----------------------------------------------------------------------------------------------


def req(body: dict[str, Any], path: str = "/v1/chat/completions") -> CassetteRequest:
    return CassetteRequest("POST", path, body=body)


def test_default_matching_is_method_path_and_body_without_stream_fields() -> None:
    m = Matcher()
    assert m.key(req(ask("Hi"))) == m.key(req(ask("Hi", stream=True, stream_options={"include_usage": True})))
    assert m.key(req(ask("Hi"))) == m.key(req(ask("Hi"), path="/chat/completions"))
    assert m.key(req(ask("Hi"))) != m.key(req(ask("Hi", temperature=0.5)))
    assert m.key(req(ask("Hi"))) != m.key(CassetteRequest("GET", "/v1/chat/completions", body=ask("Hi")))


def test_configurable_matchers() -> None:
    ignoring = Matcher.of({"ignore": ["user", "metadata", "temperature"]})
    assert ignoring.key(req(ask("Hi", user="a", temperature=0))) == ignoring.key(req(ask("Hi", metadata={"x": "1"})))
    messages = Matcher.of("method,path,messages")
    assert messages.key(req(ask("Hi", model="gpt-4o"))) == messages.key(req(ask("Hi")))
    last = Matcher.of(["last_user"])
    convo = {"model": MODEL, "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]}
    assert last.key(req(convo)) == last.key(req(ask("Hi")))
    volatile = Matcher(normalize=["uuid", "datetime", r"order #\d+"])
    a = ask("id 0b9e4f6c-1d2e-4f3a-9b8c-7d6e5f4a3b2c at 2024-05-01T10:00:00Z, order #12")
    b = ask("id 5f0e2c1a-9b8c-4d3e-8f7a-6b5c4d3e2f1a at 2025-01-09T23:59:59Z, order #999")
    assert volatile.key(req(a)) == volatile.key(req(b))

    def model_family(r: CassetteRequest) -> str:
        return str(r.body["model"]).split("-")[0]

    custom = Matcher.of(model_family)
    assert custom.key(req(ask("a", model="gpt-4o"))) == custom.key(req(ask("b", model="gpt-4.1")))
    assert custom.describe() == "model_family"
    with pytest.raises(ValueError, match="unknown matcher 'bodies'"):
        Matcher.of("method,bodies")


def test_a_miss_names_the_cassette_the_nearest_requests_and_the_failing_matcher(tmp_path: Path) -> None:
    path = cassette_file(tmp_path, interaction("What is 2+2?"), interaction("Tell me a joke", rid="chatcmpl-2"),
                         interaction("What is 3+3?", model="gpt-4o", rid="chatcmpl-3"))
    mock = MockAI(cassette=path)
    sdk = client(mock)  # max_retries=2: the miss must not be retried
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(**ask("What is 2+3?"))
    message = info.value.body["message"]  # type: ignore[index]
    assert mock.call_count == 1
    assert info.value.body["code"] == "cassette_miss"  # type: ignore[index]
    assert str(path) in message
    assert "record mode 'none'" in message
    assert "Matchers: method, path, body" in message
    lines = message.splitlines()
    nearest = [line for line in lines if line.startswith("  #")]
    assert nearest[0].startswith("  #0 ")
    assert "body differs at messages[0].content: recorded 'What is 2+2?', got 'What is 2+3?'" in nearest[0]
    assert "new_episodes" in lines[-1]
    # A value that is not a container says what differs without a made-up place ("path differs at value: …").
    with pytest.raises(openai.BadRequestError) as other:
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
    assert "path differs: recorded '/chat/completions', got '/embeddings'" in other.value.body["message"]  # type: ignore[index]
    with pytest.raises(AssertionError, match="no recorded answer") as verify:
        mock.verify()
    assert "What is 2+2?" in str(verify.value)


def test_a_missing_cassette_in_replay_mode_says_so(tmp_path: Path) -> None:
    with pytest.raises(openai.BadRequestError, match="does not exist"):
        client(MockAI(cassette=tmp_path / "nope.json")).chat.completions.create(**ask("Hi"))


def test_lookup_is_by_index_not_by_scanning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cassette_file(tmp_path, *[interaction(f"Question {i}", rid=f"chatcmpl-{i}") for i in range(500)])
    cassette = Cassette(path)
    assert len(cassette._index) == 500
    explained: list[int] = []
    monkeypatch.setattr(Matcher, "explain", lambda self, a, b: explained.append(1) or [])
    reply = MockAI(cassette=path).client().chat.completions.create(**ask("Question 321"))
    assert reply.id == "chatcmpl-321"
    assert explained == []  # nothing compared one by one on a hit


# --- replay ------------------------------------------------------------------------------------------------


def test_a_recorded_reply_answers_a_stream_request_and_a_stream_answers_a_plain_one() -> None:
    mock = MockAI(cassette=FIXTURES / "stream.json", allow_playback_repeats=True)
    sdk = mock.client()
    plain = sdk.chat.completions.create(**ask("Count to five."))
    ChatCompletion.model_validate(plain.model_dump(), strict=True)
    assert plain.choices[0].message.content == "One, two, three, four, five."
    recorded = load(FIXTURES / "stream.json")[0]["response"]["events"]
    assert plain.id == recorded[0]["data"]["id"]
    assert plain.usage is not None
    assert plain.usage.total_tokens == recorded[-2]["data"]["usage"]["total_tokens"]

    tools = MockAI(cassette=FIXTURES / "tool_use.json").client()
    first = load(FIXTURES / "tool_use.json")[0]
    chunks = list(tools.chat.completions.create(**first["request"]["body"], stream=True))
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump(), strict=True)
    rebuilt = reassemble([c.model_dump() for c in chunks])
    assert rebuilt["choices"][0]["message"]["tool_calls"] == first["response"]["body"]["choices"][0]["message"][
        "tool_calls"]
    assert rebuilt["id"] == first["response"]["body"]["id"]


def test_include_usage_is_honoured_when_chunking_a_recorded_reply() -> None:
    inter = interaction("Hi")
    res = respond(inter, stream=True, include_usage=True)
    last = json.loads(res.events[-2][6:])  # type: ignore[index]
    assert last["choices"] == []
    assert last["usage"]["total_tokens"] == 12
    plain = respond(inter, stream=True)
    assert "usage" not in json.loads(plain.events[-2][6:])  # type: ignore[index]


def _stream_interaction(*, usage: bool, dropped: bool = False) -> dict[str, Any]:
    base = {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "system_fingerprint": "fp_1"}
    extra = {"usage": None} if usage else {}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}], **extra},
              {**base, "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}], **extra},
              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra}]
    if usage:
        chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 1,
                                                        "total_tokens": 10}})
    events: list[dict[str, Any]] = [{"at": 0.01 * i, "data": c} for i, c in enumerate(chunks)]
    if dropped:
        events = events[:2]
    else:
        events.append({"at": 0.1, "data": "[DONE]"})
    response: dict[str, Any] = {"status": 200, "headers": {"content-type": "text/event-stream"}, "elapsed": 0.1,
                                "events": events}
    if dropped:
        response["dropped"] = True
    return {"request": {"method": "POST", "path": "/v1/chat/completions", "body": ask("Hi", stream=True)},
            "response": response}


def test_a_recorded_usage_chunk_is_replayed_only_when_the_request_asks_for_it() -> None:
    recorded = _stream_interaction(usage=True)
    plain = events_json(respond(recorded, stream=True, include_usage=False).events or [])
    assert plain
    assert all(c["choices"] and "usage" not in c for c in plain)
    asked = events_json(respond(recorded, stream=True, include_usage=True).events or [])
    assert asked[-1]["usage"]["total_tokens"] == 10
    assert asked[-1]["choices"] == []
    # recorded without usage, asked with it: usage null on each chunk, and a last usage chunk
    usage = {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9}
    res = respond(_stream_interaction(usage=False), stream=True, include_usage=True, usage=lambda body: usage)
    chunks = events_json(res.events or [])
    assert [c["usage"] for c in chunks] == [None, None, None, usage]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["id"] == "chatcmpl-s1"
    assert (res.events or [])[-1] == b"data: [DONE]\n\n"
    # without a way to count, no usage is made up
    bare = events_json(respond(_stream_interaction(usage=False), stream=True, include_usage=True).events or [])
    assert len(bare) == 3


def test_a_dropped_stream_replayed_to_a_plain_request_drops_the_connection() -> None:
    recorded = _stream_interaction(usage=False, dropped=True)
    res = respond(recorded, stream=False)
    assert res.delivery is not None
    assert res.delivery.cut_after == 0
    streamed = respond(recorded, stream=True)
    assert streamed.delivery is not None
    assert streamed.delivery.cut_after == 2
    assert b"[DONE]" not in b"".join(streamed.events or [])


def test_the_example_cassettes_replay() -> None:
    sdk = MockAI(cassette=FIXTURES / "tool_use.json").client()
    inters = load(FIXTURES / "tool_use.json")
    call = sdk.chat.completions.create(**inters[0]["request"]["body"])
    assert call.choices[0].finish_reason == "tool_calls"
    final = sdk.chat.completions.create(**inters[1]["request"]["body"])
    assert final.choices[0].message.content == "It is 12°C and clear in Oslo."

    class Person(BaseModel):
        name: str
        born: int

    body = load(FIXTURES / "structured_output.json")[0]["request"]["body"]
    parsed = MockAI(cassette=FIXTURES / "structured_output.json").client().chat.completions.parse(
        model=MODEL, messages=body["messages"], response_format=Person)
    assert parsed.choices[0].message.parsed == Person(name="Ada Lovelace", born=1815)

    mock = MockAI(cassette=FIXTURES / "error.json")
    with pytest.raises(openai.RateLimitError) as info:
        mock.client(max_retries=0).chat.completions.create(**ask("Hello"))
    assert info.value.response.headers["retry-after"] == "20"
    assert info.value.code == "rate_limit_exceeded"


def test_replayed_streams_keep_their_timing_only_on_the_socket_door() -> None:
    res = respond(load(FIXTURES / "stream.json")[0], stream=True, include_usage=True, speed=2.0)  # as recorded
    assert res.delivery is not None
    assert res.delivery.delay == pytest.approx(0.2542 / 2)
    assert res.delivery.gaps is not None
    assert all(g == pytest.approx(0.02, abs=0.005) for g in res.delivery.gaps)
    assert respond(load(FIXTURES / "stream.json")[0], stream=True, speed=0).delivery is None
    started = time.perf_counter()
    list(MockAI(cassette=FIXTURES / "stream.json").client().chat.completions.create(
        **ask("Count to five."), stream=True, stream_options={"include_usage": True}))
    assert time.perf_counter() - started < 0.5  # in-process replay is instant


def test_non_stream_replays_answer_at_once_unless_replay_elapsed() -> None:
    recorded_json = load(FIXTURES / "tool_use.json")[0]
    recorded_stream = load(FIXTURES / "stream.json")[0]
    elapsed = float(recorded_stream["response"]["elapsed"])
    assert respond(recorded_json, stream=False, speed=1.0).delivery is None  # the default: at once
    assert respond(recorded_stream, stream=False, speed=1.0).delivery is None  # a stream reassembled too
    assert respond(recorded_json, stream=True, speed=1.0).delivery is None  # a JSON body chunked too
    waited = respond(recorded_stream, stream=False, speed=2.0, elapsed=True).delivery
    assert waited is not None
    assert waited.delay == pytest.approx(elapsed / 2)
    assert respond(recorded_stream, stream=False, speed=0, elapsed=True).delivery is None
    streamed = respond(recorded_stream, stream=True, speed=1.0).delivery  # streams keep their timing either way
    assert streamed is not None
    assert streamed.delay > 0


def test_replay_elapsed_over_the_socket(tmp_path: Path) -> None:
    slow = interaction("Slow one")
    slow["response"]["elapsed"] = 0.6
    path = cassette_file(tmp_path, slow)

    def timed(**options: Any) -> float:
        with MockAI(cassette=path, allow_playback_repeats=True, **options).serve() as server, \
                openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as sdk:
            sdk.chat.completions.create(**ask("Slow one"))  # warm the connection
            started = time.perf_counter()
            assert sdk.chat.completions.create(**ask("Slow one")).id == "chatcmpl-rec1"
            return time.perf_counter() - started

    assert timed() < 0.4
    assert timed(replay_elapsed=True) >= 0.6
    assert 0.3 <= timed(replay_elapsed=True, replay_speed=2) < 0.6


def test_reset_rewinds_playback_in_process_and_through_the_control_api(tmp_path: Path) -> None:
    path = cassette_file(tmp_path, interaction("Again", "First."), interaction("Again", "Second.", rid="chatcmpl-2"))
    mock = MockAI(cassette=path)
    sdk = mock.client(max_retries=0)

    def play() -> list[str]:
        out = []
        for _ in range(3):
            try:
                out.append(sdk.chat.completions.create(**ask("Again")).choices[0].message.content or "")
            except openai.BadRequestError as exc:
                out.append(exc.body["code"])  # type: ignore[index]
        return out

    assert play() == ["First.", "Second.", "cassette_miss"]
    assert mock.cassette is not None
    assert len(mock.cassette.misses) == 1
    mock.reset()
    assert mock.cassette.misses == []  # like the journal, the misses start over
    assert play() == ["First.", "Second.", "cassette_miss"]
    with mock.serve() as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
        with sdk:
            assert play() == ["cassette_miss"] * 3
            assert httpx.post(server.url + "/_mockai/reset").json() == {"reset": True}
            assert play() == ["First.", "Second.", "cassette_miss"]


def test_an_exhausted_recording_names_every_way_to_replay_it_again(tmp_path: Path) -> None:
    mock = MockAI(cassette=cassette_file(tmp_path, interaction("Once")))
    sdk = mock.client(max_retries=0)
    sdk.chat.completions.create(**ask("Once"))
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(**ask("Once"))
    message = info.value.body["message"]  # type: ignore[index]
    assert "already replayed" in message
    for way in ("allow_playback_repeats=True", "@pytest.mark.mockai(allow_playback_repeats=True)",
                "--allow-playback-repeats", "mock.reset()", "POST /_mockai/reset"):
        assert way in message


def test_scripted_rules_come_before_the_cassette() -> None:
    mock = MockAI(cassette=FIXTURES / "stream.json")
    mock.on(last_user="Count").reply("Scripted wins.")
    assert mock.client().chat.completions.create(**ask("Count to five.")).choices[0].message.content == \
        "Scripted wins."


def test_bad_options_fail_early(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record_mode must be one of"):
        MockAI(cassette=tmp_path / "x.json", record_mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="replay_speed"):
        MockAI(cassette=tmp_path / "x.json", replay_speed=-1)


# --- writes: atomic, concurrent ----------------------------------------------------------------------------


KILL_SCRIPT = """
import os, sys, time
from mockai.cassettes import store
path = sys.argv[1]
real = store._write
def slow(f, text):
    half = len(text) // 2
    f.write(text[:half]); f.flush(); os.fsync(f.fileno())
    print("writing", flush=True)
    time.sleep(60)
store._write = slow
store.save(path, [{"request": {"method": "POST", "path": "/v1/chat/completions", "body": {"n": i}},
                   "response": {"status": 200, "body": {"x": "y" * 1000}}} for i in range(2000)])
"""


def test_a_writer_killed_mid_write_leaves_the_previous_cassette_intact(tmp_path: Path) -> None:
    path = cassette_file(tmp_path, interaction("Hi"))
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        leftovers = list(tmp_path.glob(".c.json.*.tmp"))
        assert leftovers  # the half-written temporary file exists...
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert path.read_bytes() == before  # ...but the cassette is the previous one, whole
    assert len(load(path)) == 1
    save(path, [interaction("Next", rid="chatcmpl-2")])  # the next write cleans up after the dead writer
    assert not list(tmp_path.glob(".c.json.*.tmp"))
    assert len(load(path)) == 2


def _writer(path: str, worker: int, count: int) -> None:
    for i in range(count):
        save(path, [interaction(f"worker {worker} request {i}", rid=f"chatcmpl-{worker}-{i}")])


def test_concurrent_writers_never_corrupt_nor_lose_interactions(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    ctx = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    texts = [i["request"]["body"]["messages"][0]["content"] for i in load(path)]
    assert sorted(texts) == sorted(f"worker {w} request {i}" for w in range(4) for i in range(15))
    assert not list(tmp_path.glob("*.tmp"))


def _all_mode_writer(path: str, worker: int, count: int, run: str) -> None:
    cassette = Cassette(path, record_mode="all", run=run)
    for i in range(count):
        cassette.add(interaction(f"worker {worker} request {i}", rid=f"chatcmpl-{worker}-{i}"))


def test_all_mode_replaces_the_file_once_per_run_across_cassettes_and_processes(tmp_path: Path) -> None:
    path = cassette_file(tmp_path, interaction("Old"), name="all.json")
    first, second = Cassette(path, record_mode="all"), Cassette(path, record_mode="all")  # one process: one run
    first.add(interaction("One"))
    second.add(interaction("Two"))
    first.add(interaction("Three"))
    assert [i["request"]["body"]["messages"][0]["content"] for i in load(path)] == ["One", "Two", "Three"]
    # worker processes of one `mockai serve` share the run id it hands them
    ctx = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    procs = [ctx.Process(target=_all_mode_writer, args=(str(path), w, 10, "serve-run-1")) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    texts = [i["request"]["body"]["messages"][0]["content"] for i in load(path)]
    assert sorted(texts) == sorted(f"worker {w} request {i}" for w in range(3) for i in range(10))
    Cassette(path, record_mode="all", run="serve-run-2").add(interaction("Next run"))
    assert [i["request"]["body"]["messages"][0]["content"] for i in load(path)] == ["Next run"]
    assert not list(tmp_path.glob("*.tmp"))


# --- pytest ------------------------------------------------------------------------------------------------


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
PLUGIN_TEST = """
import httpx
import openai
import pytest

def ask(text):
    return openai.OpenAI(max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]).choices[0].message.content

@pytest.mark.mockai(cassette=True)
def test_default_path(mockai):
    assert ask("Hi") == "From the default cassette."

@pytest.mark.mockai(cassette="custom.json")
def test_named(mockai):
    assert ask("Hi") == "From the named cassette."

@pytest.mark.mockai(cassette=True)
def test_miss(mockai):
    ask("Something never recorded")

@pytest.mark.mockai(cassette=True)
def test_swallowed_miss(mockai):
    try:
        ask("Something never recorded")
    except openai.BadRequestError:
        pass
"""


def test_the_pytest_marker_replays_and_a_miss_fails_the_test_with_the_same_text(pytester: pytest.Pytester) -> None:
    directory = pytester.path / "cassettes" / "test_cassettes_plugin"
    for name, answer in [("test_default_path", "From the default cassette."), ("test_miss", "Unused."),
                         ("test_swallowed_miss", "Unused.")]:
        save(directory / f"{name}.json", [interaction("Hi", answer)])
    save(directory / "custom.json", [interaction("Hi", "From the named cassette.")])
    pytester.makeini(INI)
    pytester.makepyfile(test_cassettes_plugin=PLUGIN_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1, errors=1)  # the swallowed miss fails at teardown
    out = result.stdout.str()
    assert "test_miss.json (record mode 'none') has no recorded answer" in out
    assert "last_user='Something never recorded'" in out
    assert "body differs at messages[0].content: recorded 'Hi', got 'Something never recorded'" in out


def test_the_record_mode_option_and_the_cassette_dir_fixture(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest(f"""
import pytest

@pytest.fixture
def mockai_cassette_dir():
    return {str(tmp_path)!r}
""")
    pytester.makeini(INI)
    pytester.makepyfile(test_mode=f"""
import pytest
DIR = {str(tmp_path)!r}

@pytest.mark.mockai(cassette=True)
def test_it(mockai):
    assert mockai.cassette.path.name == "test_it.json"
    assert str(mockai.cassette.path.parent) == DIR
    assert mockai.cassette.record_mode == "new_episodes"
    assert mockai.cassette.recording
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--mockai-record-mode=new_episodes")
    result.assert_outcomes(passed=1)


def test_cassette_dir_default(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_where=textwrap.dedent("""
        import pytest
        from pathlib import Path

        @pytest.mark.mockai(cassette=True)
        @pytest.mark.parametrize("n", [1])
        def test_it(mockai, n):
            assert mockai.cassette.path == Path(__file__).parent / "cassettes" / "test_where" / "test_it[1].json"
            assert mockai.cassette.record_mode == "none"
    """))
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize("upstream", ["127.0.0.1:9/v1", "localhost:8000", "ftp://example.com/v1", "https://"])
def test_an_upstream_that_is_not_an_http_url_fails_when_the_mock_is_built(tmp_path: Path, upstream: str) -> None:
    """It was accepted, and every request then got a 502."""
    with pytest.raises(ValueError, match="upstream must be an http:// or https:// URL"):
        MockAI(cassette=tmp_path / "c.json", record_mode="once", upstream=upstream)
