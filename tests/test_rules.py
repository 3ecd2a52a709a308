"""Script, Rule, call(), error() and build(): matching, the reasons a rule misses, reply specs."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from mockai import APIError, Choice, Reply, ToolCall, call, error
from mockai.chat import prompt_of
from mockai.rules import CallbackError, Rule, Script, build, from_completion, short_form, tool_result_name
from mockai.validation import parse_chat
from mockai.wire import ChatCompletionRequest


def req(text: str = "hello", *, model: str = "gpt-4o-mini", **params: Any) -> ChatCompletionRequest:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **params}
    return parse_chat(__import__("json").dumps(body).encode())[1]


def conv(*messages: dict[str, Any], **params: Any) -> ChatCompletionRequest:
    body = {"model": "gpt-4o-mini", "messages": list(messages), **params}
    return parse_chat(__import__("json").dumps(body).encode())[1]


TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
TOOL_CALL_TURN = [
    {"role": "user", "content": "time?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_a", "content": "09:00"},
]


class _Wire:
    def build(self, spec: Any, ex: Any) -> Reply | APIError:
        return build(spec, ex.request, ex.prompt.n)


class _Ex:
    """The little of an Exchange that Script.__call__ and Rule.miss read."""

    def __init__(self, request: ChatCompletionRequest) -> None:
        self.request = request
        self.prompt = prompt_of(request)
        self.call = SimpleNamespace()  # Script writes which rule or queued reply answered (call.source)
        self.wire = _Wire()


def ex(request: ChatCompletionRequest) -> Any:
    return _Ex(request)


def answer(script: Script, request: ChatCompletionRequest) -> Reply | APIError | None:
    return script(_Ex(request))  # type: ignore[arg-type]


def content(result: Reply | APIError | None) -> str | None:
    assert isinstance(result, Reply), result
    return result.choices[0].content


# --- call() and error() ----------------------------------------------------------------------------------


def test_call_builds_compact_json_arguments() -> None:
    assert call("f", city="Oslo", days=2) == ToolCall("f", '{"city":"Oslo","days":2}')
    assert call("f", {"a": 1}, b=2).arguments == '{"a":1,"b":2}'
    assert call("f", '{"raw": true}').arguments == '{"raw": true}'
    assert call("f").arguments == "{}"
    assert call("f", city="Ø").arguments == '{"city":"Ø"}'


@pytest.mark.parametrize(("status", "type_"), [(400, "invalid_request_error"), (500, "server_error"),
                                                (503, "server_error")])
def test_error_has_openai_envelope(status: int, type_: str) -> None:
    err = error(status)
    envelope = err.envelope()
    assert set(envelope["error"]) == {"message", "type", "param", "code"}
    assert envelope["error"]["message"]
    assert err.status == status
    assert err.type == type_


def test_error_keeps_code_param_and_headers() -> None:
    err = error(429, "slow", code="rate_limit_exceeded", param="model", headers={"retry-after": "1"})
    assert err.envelope()["error"]["code"] == "rate_limit_exceeded"
    assert err.envelope()["error"]["param"] == "model"
    assert err.envelope()["error"]["message"] == "slow"
    assert err.headers["retry-after"] == "1"


@pytest.mark.parametrize(("headers", "says"), [
    ({"x-note": "two\r\nlines"}, "header 'x-note': its value 'two\\r\\nlines' cannot be sent"),
    ({"x-note": "\U0001f600"}, "cannot be sent (a control character, or one beyond Latin-1)"),
    ({"bad name": "x"}, "header name 'bad name' cannot be sent"),
    ({"x-note": None}, "its value must be text or a number, not NoneType"),
])
def test_error_refuses_headers_that_cannot_be_sent_when_scripted(headers: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        error(429, headers=headers)


def test_scripted_header_numbers_are_sent_as_text() -> None:
    import httpx

    from mockai import MockAI

    with MockAI() as mock:
        mock.on().error(429, headers={"retry-after": 2})
        res = httpx.Client(transport=mock.transport(), base_url="http://mock/v1").post(
            "/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer sk-test"})
    assert res.status_code == 429
    assert res.headers["retry-after"] == "2"


# --- matching and why a rule misses ------------------------------------------------------------------------


@pytest.mark.parametrize(("matchers", "request_", "reason"), [
    ({"model": "gpt-4o"}, req(), "model is 'gpt-4o-mini', not 'gpt-4o'"),
    ({"model": re.compile("o1.*")}, req(), "does not match /o1.*/"),
    ({"last_user": "weather"}, req("time"), "the last user message 'time' does not contain 'weather'"),
    ({"last_user": re.compile(r"^\d+$")}, req("abc"), r"does not match /^\d+$/"),
    ({"any_message": "pirate"}, req("x"), "no message contains 'pirate'"),
    ({"any_message": re.compile("pir.te")}, req("x"), "no message contains 'pir.te'"),
    ({"has_tools": True}, req(), "no tools offered"),
    ({"has_tools": False}, req(tools=[TOOL]), "tools offered"),
    ({"tool_result": "get_time"}, req(), "the last message is not a tool result"),
    ({"tool_result": True}, req(), "the last message is not a tool result"),
    ({"tool_result": "get_weather"}, conv(*TOOL_CALL_TURN), "is a result of 'get_time', not 'get_weather'"),
    ({"tool_result": False}, conv(*TOOL_CALL_TURN), "the last message is a result of 'get_time'"),
    ({"stream": True}, req(), "stream is False"),
    ({"stream": False}, req(stream=True), "stream is True"),
])
def test_each_matcher_says_why_it_missed(matchers: dict[str, Any], request_: ChatCompletionRequest,
                                         reason: str) -> None:
    rule = Rule(matchers)
    miss = rule.miss(ex(request_))
    assert miss is not None
    assert reason in miss


@pytest.mark.parametrize(("matchers", "request_"), [
    ({"model": "gpt-4o-mini"}, req()),
    ({"model": re.compile("gpt-4o.*")}, req()),
    ({"last_user": "HELLO"}, req("well hello")),
    ({"last_user": re.compile("l+o")}, req("hello")),
    ({"any_message": "sys"}, conv({"role": "system", "content": "sys prompt"}, {"role": "user", "content": "x"})),
    ({"has_tools": True}, req(tools=[TOOL])),
    ({"has_tools": False}, req()),
    ({"tool_result": "get_time"}, conv(*TOOL_CALL_TURN)),
    ({"tool_result": True}, conv(*TOOL_CALL_TURN)),
    ({"tool_result": False}, req()),
    ({"stream": True}, req(stream=True)),
    ({}, req()),
])
def test_each_matcher_matches(matchers: dict[str, Any], request_: ChatCompletionRequest) -> None:
    assert Rule(matchers).miss(ex(request_)) is None


def test_where_predicate() -> None:
    def wants_json(r: ChatCompletionRequest) -> bool:
        return r.response_format is not None

    rule = Rule({}, where=wants_json)
    assert rule.miss(ex(req())) == "where=wants_json returned False"
    assert rule.miss(ex(req("json please", response_format={"type": "json_object"}))) is None


def test_last_user_reads_text_parts() -> None:
    request = conv({"role": "user", "content": [{"type": "text", "text": "look at"},
                                                {"type": "text", "text": "this weather"}]})
    assert Rule({"last_user": "weather"}).miss(ex(request)) is None


def test_tool_result_name() -> None:
    assert tool_result_name(prompt_of(req())) is None
    assert tool_result_name(prompt_of(conv(*TOOL_CALL_TURN))) == "get_time"


def test_describe_names_every_condition() -> None:
    rule = Rule({"model": "gpt-4o", "last_user": re.compile("^hi")}, where=lambda r: True, name="greeting", times=2)
    assert rule.describe() == "'greeting' on(model='gpt-4o', last_user=/^hi/, where=<lambda>, times=2)"
    assert Rule({}).describe() == "on()"


# --- the script: order, times, sequence, queue -------------------------------------------------------------


def test_rules_are_tried_in_order_added() -> None:
    script = Script()
    script.on(last_user="a").reply("first")
    script.on().reply("second")
    assert content(answer(script, req("a"))) == "first"
    assert content(answer(script, req("b"))) == "second"


def test_rule_records_its_calls() -> None:
    script = Script()
    rule = script.on().reply("x")
    assert (rule.called, rule.call_count) == (False, 0)
    answer(script, req())
    answer(script, req())
    assert (rule.called, rule.call_count) == (True, 2)


def test_times_exhausts_a_rule() -> None:
    script = Script()
    rule = script.on(times=2).reply("x")
    assert [content(answer(script, req())) for _ in range(2)] == ["x", "x"]
    assert rule.exhausted
    assert answer(script, req()) is None
    assert rule.miss(ex(req())) == "used up (2 of times=2)"


def test_reply_times_overrides() -> None:
    script = Script()
    rule = script.on(times=5).reply("x", times=1)
    assert rule.times == 1


def test_sequence_then_no_more() -> None:
    script = Script()
    rule = script.on().sequence("a", error(500), {"content": "c"})
    assert rule.times == 3
    results = [answer(script, req()) for _ in range(4)]
    assert content(results[0]) == "a"
    assert isinstance(results[1], APIError)
    assert results[1].status == 500
    assert content(results[2]) == "c"
    assert results[3] is None


def test_sequence_respects_a_smaller_times() -> None:
    rule = Script().on(times=1).sequence("a", "b")
    assert rule.times == 1


def test_respond_after_sequence_replaces_it() -> None:
    script = Script()
    script.on().sequence("a", "b").respond("c")
    assert content(answer(script, req())) == "c"


def test_rule_without_a_reply_says_so() -> None:
    script = Script()
    rule = script.on(model="gpt-4o-mini")
    assert script.unused() == ["rule on(model='gpt-4o-mini') has no reply: call .reply(), .respond(), .error() or "
                               ".fault()"]
    with pytest.raises(CallbackError, match=r"rule on\(model='gpt-4o-mini'\) raised LookupError: the rule has no "
                                            r"reply: call \.reply\(\)") as caught:
        answer(script, req())
    assert isinstance(caught.value.exception, LookupError)
    assert rule.call_count == 1
    assert script.errors == [caught.value]


def test_reply_needs_something() -> None:
    with pytest.raises(ValueError, match="needs content"):
        Script().on().reply()


def test_queue_is_used_once_in_order_after_rules() -> None:
    script = Script()
    script.queue("q1", "q2")
    script.on(last_user="rule").reply("r")
    assert content(answer(script, req("rule"))) == "r"
    assert content(answer(script, req("x"))) == "q1"
    assert script.pending == ["q2"]
    assert content(answer(script, req("x"))) == "q2"
    assert answer(script, req("x")) is None


def test_unused_lists_unmatched_rules_partial_times_and_queue() -> None:
    script = Script()
    script.on(model="nope", name="never").reply("x")
    used = script.on(times=3).reply("y")
    script.queue("leftover")
    answer(script, req())
    unused = script.unused()
    assert unused[0] == "rule 'never' on(model='nope') was never matched"
    assert unused[1] == "rule on(times=3) was matched 1 of 3 times"
    assert unused[2] == "queued reply #1 was never used: 'leftover'"
    assert used.call_count == 1


def test_misses_lists_each_rule_and_the_queue() -> None:
    script = Script()
    script.on(model="gpt-4o").reply("a")
    script.on(last_user="hello").reply("b")
    lines = script.misses(ex(req("hello")))
    assert lines == ["#1 on(model='gpt-4o'): model is 'gpt-4o-mini', not 'gpt-4o'",
                     "#2 on(last_user='hello'): matches", "queue: empty"]


def test_clear() -> None:
    script = Script()
    script.on().reply("x")
    script.queue("y")
    script.clear()
    assert (script.rules, script.pending, script.unused()) == ([], [], [])
    assert answer(script, req()) is None


def test_script_is_thread_safe_for_times_and_queue() -> None:
    script = Script()
    script.on(times=50).reply("rule")
    script.queue(*[f"q{i}" for i in range(50)])
    results: list[str | None] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            got = answer(script, req())
            with lock:
                results.append(content(got) if got is not None else None)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("rule") == 50
    assert sorted(r for r in results if r and r.startswith("q")) == sorted(f"q{i}" for i in range(50))


# --- build(): every kind of reply spec ---------------------------------------------------------------------


def test_build_text_and_reply_copy() -> None:
    original = Reply([Choice(content="a", tool_calls=[ToolCall("f", "{}")])])
    built = build(original, req())
    assert isinstance(built, Reply)
    assert built is not original
    assert built.choices[0].tool_calls[0] is not original.choices[0].tool_calls[0]
    built.choices[0].tool_calls[0].id = "call_x"
    assert original.choices[0].tool_calls[0].id is None  # the engine fills ids into copies only
    assert content(build("hi", req())) == "hi"


def test_build_tool_call() -> None:
    built = build(call("f", x=1), req())
    assert isinstance(built, Reply)
    assert built.choices[0].finish_reason == "tool_calls"
    assert built.choices[0].tool_calls[0].arguments == '{"x":1}'


def test_build_callable_recurses() -> None:
    built = build(lambda r: lambda r2: f"deep {r2.model}", req())
    assert content(built) == "deep gpt-4o-mini"


def test_build_exception_is_raised() -> None:
    with pytest.raises(TimeoutError):
        build(TimeoutError("boom"), req())


def test_build_error_dict() -> None:
    built = build({"error": {"status": 429, "code": "insufficient_quota", "message": "quota"}}, req())
    assert isinstance(built, APIError)
    assert (built.status, built.code, built.message) == (429, "insufficient_quota", "quota")


def test_build_short_form() -> None:
    built = build({"json": {"k": [1]}}, req())
    assert content(built) == '{"k":[1]}'
    built = build({"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}, req())
    assert isinstance(built, Reply)
    assert built.choices[0].tool_calls[0] == ToolCall("f", '{"a":1}')
    assert built.choices[0].finish_reason == "tool_calls"
    built = build({"refusal": "no"}, req())
    assert isinstance(built, Reply)
    assert (built.choices[0].content, built.choices[0].refusal) == (None, "no")


def test_short_form_rejects_unknown_fields_and_reasons() -> None:
    with pytest.raises(ValueError, match=r"unknown reply field\(s\) \['text'\]"):
        short_form({"text": "x"})
    with pytest.raises(ValueError, match="finish_reason 'done' is not one of"):
        short_form({"content": "x", "finish_reason": "done"})
    assert short_form({}).content == ""


def test_build_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="cannot reply with int"):
        build(42, req())


def test_build_replicates_one_choice_for_n_but_keeps_several() -> None:
    built = build("x", req(n=3))
    assert isinstance(built, Reply)
    assert [c.content for c in built.choices] == ["x"] * 3
    assert len({id(c) for c in built.choices}) == 3
    two = Reply([Choice(content="a"), Choice(content="b")])
    built = build(two, req(n=3))
    assert isinstance(built, Reply)
    assert [c.content for c in built.choices] == ["a", "b"]


def test_from_completion_keeps_logprobs_model_usage_and_order() -> None:
    reply = from_completion({
        "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        "choices": [
            {"index": 1, "message": {"content": "second"}, "finish_reason": "length"},
            {"index": 0, "message": {"content": "first"}, "finish_reason": "stop", "logprobs": {"content": [
                {"token": "first", "logprob": -0.5, "top_logprobs": [{"token": "first", "logprob": -0.5}]}]}},
        ],
    })
    assert [c.content for c in reply.choices] == ["first", "second"]
    assert reply.choices[1].finish_reason == "length"
    assert reply.choices[0].logprobs is not None
    assert reply.choices[0].logprobs[0].token == "first"
    assert reply.model == "m"
    assert reply.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


# --- mistakes fail where they are made, and say what was meant ----------------------------------------------


@pytest.mark.parametrize(("kwargs", "kind", "message"), [
    ({"last_user": 5}, TypeError, r"on\(last_user=\.\.\.\) takes a string \(a case-insensitive substring\) or a "
                                  r"compiled regex \(re\.compile\(\.\.\.\)\), not int 5"),
    ({"any_message": ["a"]}, TypeError, r"on\(any_message=\.\.\.\) takes a string"),
    ({"model": 4}, TypeError, r"on\(model=\.\.\.\) takes a model name or a compiled regex"),
    ({"model": re.compile(b"x")}, TypeError, r"on\(model=\.\.\.\) takes a regex of str, not of bytes"),
    ({"has_tools": "yes"}, TypeError, r"on\(has_tools=\.\.\.\) takes True or False, not str 'yes'"),
    ({"stream": 1}, TypeError, r"on\(stream=\.\.\.\) takes True or False, not int 1"),
    ({"tool_result": 3}, TypeError, r"on\(tool_result=\.\.\.\) takes a function name, True"),
    ({"where": "x"}, TypeError, r"on\(where=\.\.\.\) takes a callable of the validated request"),
    ({"name": 1}, TypeError, r"on\(name=\.\.\.\) takes a string"),
    ({"times": 0}, ValueError, r"times must be at least 1, not 0"),
    ({"times": "2"}, TypeError, r"times must be a positive int, not str '2'"),
    ({"times": True}, TypeError, r"times must be a positive int, not bool"),
])
def test_on_rejects_bad_matcher_arguments_when_called(kwargs: dict[str, Any], kind: type[Exception],
                                                      message: str) -> None:
    script = Script()
    with pytest.raises(kind, match=message):
        script.on(**kwargs)
    assert script.rules == []


def test_a_misspelled_argument_suggests_the_nearest_one() -> None:
    with pytest.raises(TypeError, match=r"^Script\.on\(\) got an unexpected keyword argument 'last_usr'; did you "
                                        r"mean 'last_user'\? It takes model, last_user, any_message, has_tools, "
                                        r"tool_result, stream, api, where, name, times\.$"):
        Script().on(last_usr="hi")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'zzz'\. It takes model"):
        Script().on(zzz=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"Rule\.reply\(\) got an unexpected keyword argument 'jsno'; did you mean "
                                        r"'json'\?"):
        Script().on().reply(jsno={})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"error\(\) got an unexpected keyword argument 'cod'; did you mean 'code'"):
        Script().on().error(429, cod="rate_limit_exceeded")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"content": "a", "json": {"k": 1}}, "a reply takes content or json, not both: json is sent as the content"),
    ({"content": "text", "refusal": "no"}, "a refusal is sent instead of an answer .* cannot come with content"),
    ({"json": None, "refusal": "no"}, "cannot come with json"),
    ({"tool_calls": [call("f")], "refusal": "no"}, "cannot come with tool_calls"),
])
def test_reply_rejects_combinations_that_cannot_be_sent(kwargs: dict[str, Any], message: str) -> None:
    script = Script()
    with pytest.raises(ValueError, match=message):
        script.on(last_user="x").reply(**kwargs)
    assert script.rules == []  # no empty rule is left to fail teardown
    with pytest.raises(ValueError, match=message):
        short_form(kwargs)  # scenario files and short-form dicts too


def test_reply_accepts_the_combinations_the_api_sends() -> None:
    script = Script()
    script.on(last_user="a").reply("Let me check.", tool_calls=[call("f")])
    script.on(last_user="b").reply(json={"k": 1}, tool_calls=[call("f")])
    script.on(last_user="c").reply(refusal="no", finish_reason="stop")
    both = content(answer(script, req("a")))
    assert both == "Let me check."
    assert content(answer(script, req("b"))) == '{"k":1}'


def test_a_failed_reply_keeps_a_rule_that_already_has_one() -> None:
    script = Script()
    rule = script.on().reply("fine")
    with pytest.raises(ValueError, match="unknown fault 'bogus'"):
        rule.fault("bogus")
    assert script.rules == [rule]


def test_respond_and_queue_reject_what_could_never_be_sent() -> None:
    script = Script()
    with pytest.raises(TypeError, match="cannot reply with int: 42; a reply is text"):
        script.on().respond(42)
    with pytest.raises(TypeError, match="cannot reply with NoneType"):
        script.queue(None)
    with pytest.raises(ValueError, match=r"unknown reply field\(s\) \['contnet'\] \(did you mean 'content'\?\); "
                                         r"expected some of"):
        script.queue({"contnet": "x"})
    with pytest.raises(TypeError, match="a reply's content must be a string, not dict"):
        script.on().reply({"k": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"a tool call is call\(name, \*\*arguments\)"):
        script.on().reply(tool_calls=["get_weather"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="sequence"):
        script.on().sequence()
    assert script.rules == []
    assert script.pending == []


def test_misses_reports_a_raising_predicate_instead_of_raising() -> None:
    script = Script()
    script.on(where=lambda r: r.messages[3] is None).reply("x")
    assert script.misses(ex(req()))[0].startswith("#1 on(where=<lambda>): the where= predicate of rule "
                                              "on(where=<lambda>) raised IndexError")


def test_a_misspelled_reply_argument_leaves_no_rule_behind() -> None:
    script = Script()
    with pytest.raises(TypeError, match="did you mean 'refusal'"):
        script.on().reply(refusl="no")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="did you mean 'code'"):
        script.on().error(429, cod="x")
    assert script.rules == []


def test_a_rule_counts_every_call_but_keeps_only_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule answering a long load test must not keep every request alive (it once held 7.7 KB per call)."""
    from mockai import rules

    monkeypatch.setattr(rules, "KEPT_CALLS", 10)
    script = Script()
    rule = script.on(last_user="hello").reply("hi")
    for _ in range(55):
        assert content(answer(script, req())) == "hi"
    assert rule.call_count == 55
    assert rule.called
    assert 10 <= len(rule.calls) < 20
    limited = script.on(last_user="bye", times=3).reply("bye")
    for _ in range(3):
        answer(script, req("bye"))
    assert limited.exhausted
    assert limited.call_count == 3


def test_a_sequence_is_described_as_one() -> None:
    """A rule with three replies read as ``on(last_user='a', times=3)``: a limit the test never wrote."""
    script = Script()
    assert script.on(last_user="a").sequence("1", "2", "3").describe() == "on(last_user='a').sequence(3 replies)"
    assert script.on(last_user="b", times=2).sequence("1", "2", "3").describe() == (
        "on(last_user='b', times=2).sequence(3 replies)")
    assert script.on(last_user="c", times=2).reply("x").describe() == "on(last_user='c', times=2)"
