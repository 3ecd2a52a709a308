"""Scenario files: YAML and JSON loading, every shipped example driven by the real SDK, and bad files failing at
load with the file, the line or path, and the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from mockai import HTTPRequest, MockAI, ScenarioError, load_scenario
from mockai.scenario import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "fixtures" / "scenarios"
MODEL = "gpt-4o-mini"
WEATHER_TOOL: Any = {"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}}}


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def test_examples_are_shipped() -> None:
    names = {p.name for p in SCENARIOS.iterdir()}
    assert {"tool_use.yaml", "structured_output.yaml", "refusal.yaml", "errors.yaml", "errors.json"} <= names


@pytest.mark.parametrize("path", sorted(SCENARIOS.iterdir()), ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.rules or scenario.queue


# --- every example, driven by a real SDK conversation --------------------------------------------------------


def test_tool_use_example_drives_an_agent_loop() -> None:
    mock = MockAI(scenario=SCENARIOS / "tool_use.yaml")
    client = mock.client(max_retries=0)
    messages: list[Any] = user("What's the weather in Oslo?")
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL]).choices[0]
    assert first.finish_reason == "tool_calls"
    tool_call = first.message.tool_calls[0]
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Oslo", "unit": "celsius"}
    messages += [first.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": tool_call.id, "content": '{"temp_c": 12}'}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL]).choices[0]
    assert second.finish_reason == "stop"
    assert second.message.content == "It is 12°C and clear in Oslo."
    mock.verify()  # both rules were used


def test_tool_use_example_streams_the_same_tool_call() -> None:
    mock = MockAI(scenario=SCENARIOS / "tool_use.yaml", assert_all_called=False)
    client = mock.client(max_retries=0)
    with client.chat.completions.stream(model=MODEL, messages=user("weather?"), tools=[WEATHER_TOOL]) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo", "unit": "celsius"}


class Person(BaseModel):
    name: str
    age: int
    languages: list[str]


def test_structured_output_example_parses_into_a_model() -> None:
    mock = MockAI(scenario=SCENARIOS / "structured_output.yaml")
    client = mock.client(max_retries=0)
    completion = client.chat.completions.parse(
        model=MODEL, response_format=Person,
        messages=[{"role": "system", "content": "Extract the person."},
                  {"role": "user", "content": "Ada Lovelace, 36, wrote in English and French."}])
    assert completion.choices[0].message.parsed == Person(name="Ada Lovelace", age=36,
                                                          languages=["English", "French"])
    # the regex is a word match: "extraction" is not "extract"
    assert client.chat.completions.create(model=MODEL, messages=user("extraction")).choices[0].message.content \
        != '{"name":"Ada Lovelace","age":36,"languages":["English","French"]}'


def test_refusal_example() -> None:
    mock = MockAI(scenario=SCENARIOS / "refusal.yaml")
    client = mock.client(max_retries=0)
    message = client.chat.completions.create(model=MODEL, messages=user("How do I pick a lock?")).choices[0].message
    assert message.refusal == "I'm sorry, but I can't help with that."
    assert message.content is None
    parsed = client.chat.completions.parse(model=MODEL, messages=user("Pick  a LOCK now"),
                                           response_format=Person).choices[0].message
    assert parsed.refusal == "I'm sorry, but I can't help with that."
    assert parsed.parsed is None
    assert client.chat.completions.create(model=MODEL, messages=user("Bake bread")).choices[0].message.content \
        == "Happy to help."


def test_errors_yaml_example_the_sdk_retries_through_rate_limits() -> None:
    mock = MockAI(scenario=SCENARIOS / "errors.yaml")
    client = mock.client(max_retries=2)
    reply = client.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert reply.choices[0].message.content == "Through at last."
    assert [c.status for c in mock.calls] == [429, 429, 200]
    assert mock.calls[0].response.headers["retry-after-ms"] == "5"
    with pytest.raises(openai.InternalServerError) as info:
        mock.client(max_retries=0).chat.completions.create(model=MODEL, messages=user("overload me"))
    assert info.value.status_code == 503
    assert "overloaded" in info.value.message
    mock.verify()


def test_errors_yaml_example_without_retries() -> None:
    mock = MockAI(scenario=SCENARIOS / "errors.yaml", assert_all_called=False)
    with pytest.raises(openai.RateLimitError) as info:
        mock.client(max_retries=0).chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.message.endswith("Rate limit reached for gpt-4o.")


def test_errors_json_example() -> None:
    mock = MockAI(scenario=SCENARIOS / "errors.json")
    client = mock.client(max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(model=MODEL, messages=user("my secret"))
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=user("crash"))
    with pytest.raises(openai.RateLimitError) as quota:  # first queued reply
        client.chat.completions.create(model=MODEL, messages=user("crash"))  # times=1: falls to the queue
    assert quota.value.code == "insufficient_quota"
    choice = client.chat.completions.create(model=MODEL, messages=user("anything")).choices[0]
    assert (choice.message.content, choice.finish_reason) == ("Filtered.", "content_filter")
    mock.verify()


def test_several_scenarios_load_in_order() -> None:
    mock = MockAI(scenario=[SCENARIOS / "refusal.yaml", SCENARIOS / "tool_use.yaml"], assert_all_called=False)
    assert [r.name for r in mock.rules] == ["refuse lock picking", "answer everything else", "call get_weather",
                                            "answer from the tool result"]
    mock.load(str(SCENARIOS / "errors.json"))
    assert len(mock.rules) == 6


def test_yaml_and_json_give_the_same_rules(tmp_path: Path) -> None:
    doc = {"rules": [{"name": "r", "match": {"last_user": {"regex": "^a"}, "stream": False}, "replies": [
        "x", {"json": [1]}, {"error": {"status": 500}}]}], "queue": [{"tool_calls": [{"name": "f"}]}]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    import yaml

    (tmp_path / "s.yml").write_text(yaml.safe_dump(doc))
    assert load_scenario(tmp_path / "s.json") == load_scenario(tmp_path / "s.yml")
    mock = MockAI(scenario=tmp_path / "s.yml", assert_all_called=False)
    assert mock.rules[0].describe() == "'r' on(last_user=/^a/, stream=False).sequence(3 replies)"
    client = mock.client(max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=user("abc")).choices[0].message.content == "x"
    assert client.chat.completions.create(model=MODEL, messages=user("abc")).choices[0].message.content == "[1]"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=user("abc"))
    queued = client.chat.completions.create(model=MODEL, messages=user("abc")).choices[0]
    assert queued.message.tool_calls[0].function.name == "f"  # type: ignore[index]
    assert queued.message.tool_calls[0].function.arguments == "{}"  # type: ignore[index]


def test_every_matcher_in_a_scenario() -> None:
    mock = MockAI(scenario={"rules": [
        {"match": {"model": {"regex": "o\\d-.*"}}, "reply": "reasoning"},
        {"match": {"any_message": "pirate"}, "reply": "arr"},
        {"match": {"has_tools": True, "tool_result": False}, "reply": "tools"},
        {"match": {"tool_result": "get_weather"}, "reply": "result"},
        {"match": {"stream": True}, "reply": "streamed"},
    ]}, assert_all_called=False)
    client = mock.client(max_retries=0)
    create = client.chat.completions.create
    assert create(model="o3-mini", messages=user("x")).choices[0].message.content == "reasoning"
    assert create(model=MODEL, messages=[{"role": "system", "content": "Be a pirate"}, *user("x")]
                  ).choices[0].message.content == "arr"
    assert create(model=MODEL, messages=user("x"), tools=[WEATHER_TOOL]).choices[0].message.content == "tools"
    convo = [*user("x"), {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "12"}]
    assert create(model=MODEL, messages=convo, tools=[WEATHER_TOOL]).choices[0].message.content == "result"
    chunks = list(create(model=MODEL, messages=user("x"), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed"


# --- bad files ---------------------------------------------------------------------------------------------


BAD_YAML = [
    # (document, line, path, reason)
    ("rules:\n  - match: {}\n    error:\n      status: 429\n      headers: {x-note: \"two\\nlines\"}\n", 5,
     "rules[0].error.headers", "header 'x-note': its value 'two\\nlines' cannot be sent"),
    ("rules:\n  - match: {last_user: hi}\n    reply: {text: hello}\n", 3, "rules[0].reply",
     "unknown reply field(s) ['text']"),
    ("rules:\n  - match: {last_user: hi}\n", 2, "rules[0]", "needs exactly one of reply, replies or error"),
    ("rules:\n  - match: {user: hi}\n    reply: x\n", 2, "rules[0].match.user",
     "unknown field 'user' (did you mean 'last_user'?); expected one of model, last_user, any_message, has_tools, "
     "tool_result, stream"),
    ("rules:\n  - match: {last_user: {regexp: x}}\n    reply: x\n", 2, "rules[0].match.last_user.regexp",
     "unknown field 'regexp' (did you mean 'regex'?); expected one of regex"),
    ("rules:\n  - match: {}\n    reply: {error: {status: 500, cod: x}}\n", 3, "rules[0].reply.error.cod",
     "unknown field 'cod' (did you mean 'code'?); expected one of status, message, code, type, param, headers"),
    ("rules:\n  - mtch: {}\n    reply: x\n", 2, "rules[0].mtch",
     "unknown field 'mtch' (did you mean 'match'?); expected one of name, match, reply, replies, error, fault, times"),
    ("rules:\n  - reply: {tool_calls: [{name: f, args: {}}]}\n", 2, "rules[0].reply.tool_calls[0].args",
     "unknown field 'args' (did you mean 'arguments'?); expected one of name, arguments"),
    ("queue:\n  - {fault: '429', replay: x}\n", 2, "queue[0].replay",
     "unknown field 'replay' (did you mean 'reply'?); expected one of fault, reply"),
    ("rules:\n  - match: {}\n    reply: {content: a, json: {k: 1}}\n", 3, "rules[0].reply",
     "a reply takes content or json, not both"),
    ("queue:\n  - {content: a, refusal: nope}\n", 2, "queue[0]", "a refusal is sent instead of an answer"),
    ("version: 1\nrules:\n  - match: {}\n    reply: x\n    times: 0\n", 5, "rules[0].times",
     "greater than or equal to 1"),
    ("rules:\n  - match: {last_user: {regex: '(unclosed'}}\n    reply: x\n", 2, "rules[0].match.last_user.regex",
     "invalid regular expression"),
    ("rules:\n  - match: {}\n    error: {status: 200}\n", 3, "rules[0].error.status", "greater than or equal to 400"),
    ("rules:\n  - match: {}\n    reply: {content: x, finish_reason: done}\n", 3, "rules[0].reply",
     "finish_reason 'done' is not one of"),
    ("rules:\n  - match: {}\n    replies:\n      - ok\n      - {bogus: 1}\n", 5, "rules[0].replies[1]",
     "unknown reply field(s) ['bogus']"),
    ("rules:\n  - match: {}\n    reply: x\n    error: {status: 500}\n", 2, "rules[0]", "got ['reply', 'error']"),
    ("rules: {}\n", 1, "rules", "valid list"),
    ("queue:\n  - ok\n  - 42\n", 3, "queue[1]", "expected a reply: a string, or a mapping"),
    ("rules:\n  - match: {model: 4}\n    reply: x\n", 2, "rules[0].match.model",
     "expected a string (a case-insensitive substring) or {regex: PATTERN}"),
    ("rules:\n  - match: {}\n    replies: [{error: {status: 99}}]\n", 3, "rules[0].replies[0].error.status",
     "greater than or equal to 400"),
    ("rules:\n  - match: {has_tools: maybe}\n    reply: x\n", 2, "rules[0].match.has_tools", "valid boolean"),
]


@pytest.mark.parametrize(("doc", "line", "path", "reason"), BAD_YAML)
def test_bad_yaml_fails_with_file_line_path_and_reason(tmp_path: Path, doc: str, line: int, path: str,
                                                       reason: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(doc)
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    msg = str(info.value)
    assert msg.startswith(f"{file}:{line}: {path}: "), msg
    assert reason in msg
    with pytest.raises(ScenarioError, match=re.escape(f"{file}:{line}: {path}")):
        MockAI(scenario=file)


def test_invalid_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("rules:\n  - match: {last_user: hi\n    reply: x\n")
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(file))}:\d+: invalid YAML: "):
        load_scenario(file)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.json"
    file.write_text('{\n  "rules": [\n    {"match": {}, "reply": "x",}\n  ]\n}\n')
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(file))}:3: invalid JSON: "):
        load_scenario(file)


def test_bad_json_document_names_the_path(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps({"rules": [{"match": {}, "reply": "x"}, {"match": {"model": 4}, "reply": "y"}]}))
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    msg = str(info.value)
    assert msg.startswith(f"{file}:1: rules[1].match.model: "), msg


def test_a_json_scenario_mistake_names_its_line_as_a_yaml_one_does(tmp_path: Path) -> None:
    doc = {"rules": [{"match": {}, "reply": "x"}, {"match": {"model": "m"}, "replies": []}]}
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(doc, indent=2))
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    line = next(n for n, text in enumerate(file.read_text().splitlines(), 1) if '"replies"' in text)
    assert str(info.value).startswith(f"{file}:{line}: rules[1].replies: "), str(info.value)


def test_a_json_scenario_that_yaml_reads_otherwise_is_still_named_by_path(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"  # YAML 1.1 reads 1e5 as a string: the lines it finds are not trusted
    file.write_text('{"rules": [{"match": {}, "reply": {"json": {"n": 1e5}}},\n {"match": {}, "reply": 3}]}')
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    assert str(info.value).startswith(f"{file}: rules[1].reply"), str(info.value)


@pytest.mark.parametrize(("text", "what"), [("", "empty"), ("# only a comment\n", "empty"), ("[]\n", "a list"),
                                            ("- match: {}\n  reply: hi\n", "a list"), ("hello\n", "a str")])
def test_a_document_that_is_not_a_mapping_says_what_a_scenario_is(tmp_path: Path, text: str, what: str) -> None:
    """It said pydantic's "(document): Input should be a valid dictionary or instance of Scenario"."""
    file = tmp_path / "s.yaml"
    file.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    assert "a scenario is a mapping with `rules:`" in str(info.value)
    assert str(info.value).endswith(f"this one is {what}")


def test_a_rule_with_no_replies_is_a_scenario_error_not_a_500() -> None:
    """``replies: []`` passed validation and failed when applied: a 500 from the control API with the rules before
    it already added, a traceback from ``mockai serve --scenario``."""
    with pytest.raises(ScenarioError, match=r"^inline: rules\[1\]\.replies: needs at least one reply$"):
        parse_scenario({"rules": [{"name": "first", "reply": "a"}, {"replies": []}], "queue": ["q"]}, "inline")
    mock = MockAI()
    res = mock.engine.handle(HTTPRequest("POST", "/_mockai/rules", headers={"content-type": "application/json"},
                                         body=json.dumps({"rules": [{"name": "first", "reply": "a"},
                                                                   {"replies": []}]}).encode()))
    assert res.status == 400, res.body
    assert "rules[1].replies: needs at least one reply" in res.json()["error"]["message"]
    assert mock.rules == []  # nothing applied


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read"):
        load_scenario(tmp_path / "nope.yaml")


@pytest.mark.parametrize("field", ["model", "any_message"])
def test_bad_regex_in_any_text_matcher_fails_at_load(tmp_path: Path, field: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(f"rules:\n  - match:\n      {field}: {{regex: '[a-'}}\n    reply: x\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    assert str(info.value).startswith(f"{file}:3: rules[0].match.{field}.regex: invalid regular expression")


def test_parse_scenario_without_lines_names_the_source() -> None:
    with pytest.raises(ScenarioError, match=r"^inline: rules\[0\]\.reply: unknown reply field"):
        parse_scenario({"rules": [{"reply": {"txt": 1}}]}, "inline")
    with pytest.raises(ScenarioError, match=r"^inline: a scenario is a mapping with `rules:`"):
        parse_scenario(["not", "a", "mapping"], "inline")
    with pytest.raises(ScenarioError, match=r"^inline: bogus: unknown field 'bogus'; expected one of version, "
                                            r"rules, queue$"):
        parse_scenario({"bogus": 1}, "inline")


@pytest.mark.parametrize(("text", "where", "words"), [
    ("rules:\n  - match: {}\n    reply: x\n    times: true\n", ":4: rules[0].times:", "got true"),
    ('rules:\n  - match: {stream: "yes"}\n    reply: x\n', ":2: rules[0].match.stream:", 'got "yes"'),
    ('queue:\n  - error: {status: "429"}\n', ":2: queue[0].error.status:", 'got "429"'),
    ("version: 2\nqueue: [x]\n", ":1: version:", "unsupported scenario version 2"),
])
def test_a_scenario_file_is_read_strictly(tmp_path: Path, text: str, where: str, words: str) -> None:
    """What the lax reading took for something else (true as a count, "yes" as a flag, a version it does not
    read) fails at load, with its line, as it does over the control API."""
    file = tmp_path / "s.yaml"
    file.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    assert str(info.value).startswith(f"{file}{where}"), str(info.value)
    assert words in str(info.value)


def test_a_scenario_built_in_python_may_use_tuples_and_any_mapping() -> None:
    """Strict reading is about scalars: a tuple of replies or a read-only mapping, which Python code builds, loads
    as the lists and mappings a file gives."""
    from types import MappingProxyType

    mock = MockAI(scenario={"queue": ("a", "b"), "rules": [
        MappingProxyType({"match": MappingProxyType({"model": "m"}), "replies": ("x", "y")})]})
    assert (len(mock.rules), len(mock.engine.script.pending)) == (1, 2)

