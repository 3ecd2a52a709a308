"""The journal: every call with its parsed request, raw HTTP request and reply; filters and assertion helpers."""

from __future__ import annotations

import json
import re

import openai
import pytest

from mockai import Call, CallList, HTTPRequest, MockAI, Reply, call, error
from mockai.wire import ChatCompletionRequest

MODEL = "gpt-4o-mini"


@pytest.fixture
def mock() -> MockAI:
    return MockAI(seed=2)


@pytest.fixture
def client(mock: MockAI) -> openai.OpenAI:
    return mock.client(max_retries=0, api_key="sk-journal-key")


def ask(client: openai.OpenAI, text: str, model: str = MODEL, **params: object) -> object:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],  # type: ignore[call-overload]
                                          **params)


def test_empty_journal() -> None:
    calls = CallList()
    assert (calls.called, calls.call_count) == (False, 0)
    with pytest.raises(AssertionError, match="no call was made"):
        _ = calls.last
    calls.assert_not_called()
    with pytest.raises(AssertionError, match="expected a call to the mock; none was made"):
        calls.assert_called()
    assert calls.describe() == "  (none)"


def test_every_call_is_recorded_with_request_http_and_reply(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue("recorded")
    sdk_reply = ask(client, "Hi there", temperature=0.5)
    assert mock.called
    assert mock.call_count == 1 == mock.calls.call_count
    entry = mock.calls.last
    assert isinstance(entry, Call)
    assert entry is mock.calls[0]
    # the parsed request is the wire model
    assert isinstance(entry.request, ChatCompletionRequest)
    assert entry.request.model == MODEL
    assert entry.request.temperature == 0.5
    assert entry.last_user_text == "Hi there"
    # the raw HTTP request, as the SDK sent it
    assert isinstance(entry.http, HTTPRequest)
    assert (entry.http.method, entry.http.path) == ("POST", "/v1/chat/completions")
    assert entry.http.headers["authorization"] == "Bearer sk-journal-key"
    assert entry.http.headers["content-type"] == "application/json"
    assert entry.http.headers["user-agent"].startswith("OpenAI/Python")
    assert json.loads(entry.http.body) == {"model": MODEL, "messages": [{"role": "user", "content": "Hi there"}],
                                           "temperature": 0.5}
    assert entry.body == json.loads(entry.http.body)
    # the reply, as a draft and as what went out on the wire
    assert isinstance(entry.reply, Reply)
    assert entry.reply.choices[0].content == "recorded"
    assert entry.response.status == entry.status == 200
    assert entry.response.json()["id"] == sdk_reply.id  # type: ignore[attr-defined]
    assert entry.route == "chat"
    assert entry.responder == "script"
    assert entry.error is None
    assert entry.unexpected is False


def test_errors_and_stream_calls_are_recorded(mock: MockAI, client: openai.OpenAI) -> None:
    mock.queue(error(429, "too many"))
    with pytest.raises(openai.RateLimitError):
        ask(client, "x")
    list(ask(client, "y", stream=True))  # type: ignore[call-overload]
    failed, streamed = mock.calls
    assert failed.status == 429
    assert failed.error is not None
    assert failed.error.message == "too many"
    assert failed.reply is None
    assert streamed.response.is_stream
    assert streamed.response.content().endswith(b"data: [DONE]\n\n")
    assert streamed.request is not None
    assert streamed.request.stream is True


def test_invalid_requests_are_recorded_without_a_parsed_request(mock: MockAI) -> None:
    with mock.http_client() as http:
        res = http.post("/chat/completions", content=b"{not json", headers={"authorization": "Bearer k"})
    assert res.status_code == 400
    entry = mock.calls.last
    assert entry.request is None
    assert entry.http.body == b"{not json"
    assert "body='{not json'" in entry.describe()


def test_models_route_is_journaled(mock: MockAI, client: openai.OpenAI) -> None:
    client.models.list()
    ask(client, "x")
    assert [c.route for c in mock.calls] == ["models", "chat"]
    assert mock.calls.filter(route="models").call_count == 1
    assert mock.calls.filter(route="chat")[0] is mock.calls[1]


def test_filter_by_model_stream_status_where(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="fail").error(500)
    ask(client, "a", model="gpt-4o")
    ask(client, "b", model=MODEL)
    list(ask(client, "c", model="gpt-4o", stream=True))  # type: ignore[call-overload]
    with pytest.raises(openai.InternalServerError):
        ask(client, "fail", model=MODEL)
    calls = mock.calls
    assert [c.last_user_text for c in calls.filter(model="gpt-4o")] == ["a", "c"]
    assert [c.last_user_text for c in calls.filter(stream=True)] == ["c"]
    assert [c.last_user_text for c in calls.filter(stream=False)] == ["a", "b", "fail"]
    assert [c.last_user_text for c in calls.filter(status=500)] == ["fail"]
    assert [c.last_user_text for c in calls.filter(model="gpt-4o", stream=False)] == ["a"]
    assert [c.last_user_text for c in calls.filter(where=lambda c: "b" in c.last_user_text)] == ["b"]
    assert isinstance(calls.filter(model="gpt-4o"), CallList)
    assert calls.filter(model="gpt-4o").last.last_user_text == "c"
    assert calls.filter(model="nope").called is False


def test_slices_are_call_lists(mock: MockAI, client: openai.OpenAI) -> None:
    for text in "abc":
        ask(client, text)
    tail = mock.calls[1:]
    assert isinstance(tail, CallList)
    assert [c.last_user_text for c in tail] == ["b", "c"]
    assert tail.last is mock.calls.last


def test_assert_called_once_shows_what_was_sent(mock: MockAI, client: openai.OpenAI) -> None:
    ask(client, "first question", tools=[{"type": "function", "function": {"name": "get_time"}}])
    mock.calls.assert_called()
    mock.calls.assert_called_once()
    list(ask(client, "second question", stream=True))  # type: ignore[call-overload]
    with pytest.raises(AssertionError) as info:
        mock.calls.assert_called_once()
    msg = str(info.value)
    assert "expected 1 call; 2 were made" in msg
    assert "[0] POST /v1/chat/completions -> 200 model='gpt-4o-mini' last_user='first question' " \
           "tools=['get_time']" in msg
    assert "[1] POST /v1/chat/completions -> 200 model='gpt-4o-mini' last_user='second question' stream" in msg


def test_assert_not_called_and_call_count(mock: MockAI, client: openai.OpenAI) -> None:
    mock.calls.assert_not_called()
    mock.calls.assert_call_count(0)
    ask(client, "oops")
    with pytest.raises(AssertionError, match=r"expected no call; 1 were made:\n.*last_user='oops'"):
        mock.calls.assert_not_called()
    mock.calls.assert_call_count(1)
    with pytest.raises(AssertionError, match="expected 3 calls; 1 were made"):
        mock.calls.assert_call_count(3)


def test_assert_any_call(mock: MockAI, client: openai.OpenAI) -> None:
    ask(client, "Summarize this article", model="gpt-4o", temperature=0)
    ask(client, "Translate to French", tool_choice="none",
        tools=[{"type": "function", "function": {"name": "get_time"}}])
    calls = mock.calls
    calls.assert_any_call(model="gpt-4o")
    calls.assert_any_call(last_user="summarize")  # case-insensitive substring
    calls.assert_any_call(last_user=re.compile(r"^Translate"))
    calls.assert_any_call(model="gpt-4o", temperature=0)
    calls.assert_any_call(tool_choice="none")
    with pytest.raises(AssertionError) as info:
        calls.assert_any_call(model="gpt-4o", last_user="French")
    msg = str(info.value)
    assert "no call with model='gpt-4o', last_user='French'; the calls were:" in msg
    assert "last_user='Summarize this article'" in msg
    assert "last_user='Translate to French'" in msg
    with pytest.raises(AssertionError, match="no call with temperature=1"):
        calls.assert_any_call(temperature=1)


def test_assert_any_call_refuses_a_misspelled_field_like_filter(mock: MockAI, client: openai.OpenAI) -> None:
    ask(client, "Hi", model="gpt-4o")
    with pytest.raises(TypeError, match=r"^CallList\.assert_any_call\(\) got an unexpected keyword argument 'modle'; "
                                        r"did you mean 'model'\? It takes model, last_user and request parameters"):
        mock.calls.assert_any_call(modle="gpt-4o")
    with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'; did you mean 'temperature'"):
        mock.calls.assert_any_call(temprature=0)
    with pytest.raises(TypeError, match=r"^CallList\.filter\(\) got an unexpected keyword argument 'modle'; did you "
                                        r"mean 'model'\?"):
        mock.calls.filter(modle="gpt-4o")  # type: ignore[call-arg]
    mock.calls.assert_any_call(logit_bias=None)  # a parameter of the API that was not sent
    ask(client, "Hi", extra_body={"vendor_option": 1})
    mock.calls.assert_any_call(vendor_option=1)  # one no API has, that a call sent


def test_assert_any_call_and_filter_agree_on_stream(mock: MockAI, client: openai.OpenAI) -> None:
    """The SDK leaves ``stream`` out of a body that does not stream: such a call is not streamed."""
    ask(client, "plain")
    for _ in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "flowing"}],
                                            stream=True):
        pass
    assert [c.last_user_text for c in mock.calls.filter(stream=False)] == ["plain"]
    mock.calls.assert_any_call(stream=False, last_user="plain")
    mock.calls.assert_any_call(stream=True, last_user="flowing")
    with pytest.raises(AssertionError, match="no call with last_user='flowing', stream=False"):
        mock.calls.assert_any_call(last_user="flowing", stream=False)


def test_assert_any_call_shows_the_values_compared(mock: MockAI, client: openai.OpenAI) -> None:
    ask(client, "Summarize this", model="gpt-4o", temperature=0.5)
    ask(client, "Translate this")
    with pytest.raises(AssertionError) as info:
        mock.calls.assert_any_call(model="gpt-4o", temperature=0)
    assert str(info.value) == (
        "no call with model='gpt-4o', temperature=0; the calls were:\n"
        "  [0] POST /v1/chat/completions -> 200 model='gpt-4o' last_user='Summarize this'\n"
        "      model='gpt-4o', temperature=0.5 (differs)\n"
        f"  [1] POST /v1/chat/completions -> 200 model='{MODEL}' last_user='Translate this'\n"
        f"      model='{MODEL}' (differs), temperature not sent (differs)")


def test_long_messages_are_clipped_in_descriptions(mock: MockAI, client: openai.OpenAI) -> None:
    ask(client, "word " * 100)
    described = mock.calls.last.describe()
    assert "…" in described
    assert len(described) < 200


def test_unused_lists_rules_and_queue(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(model="gpt-4o", name="big model").reply("x")
    mock.on(last_user="again").reply("y", times=2)
    mock.queue("a", {"json": {"k": 1}})
    ask(client, "again")
    ask(client, "other")
    unused = mock.unused()
    assert unused == [
        "rule 'big model' on(model='gpt-4o') was never matched",
        "rule on(last_user='again', times=2) was matched 1 of 2 times",
        "queued reply #2 was never used: {'json': {'k': 1}}",
    ]
    with pytest.raises(AssertionError) as info:
        mock.verify()
    msg = str(info.value)
    assert "3 scripted replies were never used" in msg
    assert "'big model'" in msg
    assert "assert_all_called=False" in msg
    assert "@pytest.mark.mockai(assert_all_called=False)" in msg


def test_verify_passes_when_everything_was_used(mock: MockAI, client: openai.OpenAI) -> None:
    mock.on(last_user="x").reply("y", times=1)
    mock.queue("q")
    ask(client, "x")
    ask(client, "z")
    assert mock.unused() == []
    mock.verify()


def test_unexpected_only_in_strict_mode(client: openai.OpenAI, mock: MockAI) -> None:
    ask(client, "generated, not unexpected")
    assert list(mock.unexpected) == []
    strict = MockAI(strict=True, assert_all_called=False)
    strict.on(model="gpt-4o").reply("x")
    strict_client = strict.client(max_retries=0)
    with pytest.raises(openai.BadRequestError):
        ask(strict_client, "nobody scripted me")
    assert isinstance(strict.unexpected, CallList)
    assert [c.last_user_text for c in strict.unexpected] == ["nobody scripted me"]
    with pytest.raises(AssertionError) as info:
        strict.verify()
    msg = str(info.value)
    assert "1 unexpected request with no scripted reply (strict mode)" in msg
    assert "last_user='nobody scripted me'" in msg
    assert "strict=False" in msg
    assert "never used" not in msg  # assert_all_called=False


def test_rule_calls_point_into_the_journal(mock: MockAI, client: openai.OpenAI) -> None:
    rule = mock.on(has_tools=True).reply(tool_calls=[call("get_time")])
    ask(client, "no tools")
    ask(client, "tools", tools=[{"type": "function", "function": {"name": "get_time"}}])
    assert rule.call_count == 1
    assert rule.calls[0] is mock.calls[1]


def test_journal_records_every_thread(mock: MockAI) -> None:
    import threading

    client = mock.client(max_retries=0)

    def worker(i: int) -> None:
        for j in range(5):
            ask(client, f"t{i}-{j}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mock.call_count == 20
    assert sorted(c.last_user_text for c in mock.calls) == sorted(f"t{i}-{j}" for i in range(4) for j in range(5))
    assert len({c.response.json()["id"] for c in mock.calls}) == 20
