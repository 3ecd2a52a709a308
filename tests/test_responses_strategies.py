"""mockai.strategies for the Responses API: every drawn request is valid by the official schema, the SDK's request
types and mockai's validation, and mockai answers it with a valid response and stream that stay within it; every
drawn reply and stream is valid by the schema and the SDK, passes through the SDK's stream state machine to the
drawn response, and can be queued into a mock; arguments are checked eagerly; the stream checks catch broken
streams."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from pydantic import TypeAdapter
from request_types import _fits
from responses_spec import _defs, allowed, problems, sse_events, strict_event, strict_response, without_ids

from mockai import MockAI
from mockai.engine import HTTPRequest
from mockai.response_checks import stream_problems
from mockai.responses.validation import check_model_support, parse_response_request
from mockai.strategies import DrawnResponse, response_objects, response_requests, response_streams

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AUTH = {"authorization": "Bearer sk-test"}
CLOSED = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
          "required": ["city", "days"], "additionalProperties": False}
WEATHER = {"type": "function", "name": "get_weather", "parameters": CLOSED, "strict": True}
NOTE = {"type": "custom", "name": "note"}
CODE = {"type": "custom", "name": "code", "format": {"type": "grammar", "syntax": "regex", "definition": "[0-9]{4}"}}
_SDK_PARAMS = {False: TypeAdapter(ResponseCreateParamsNonStreaming), True: TypeAdapter(ResponseCreateParamsStreaming)}


def post(mock: MockAI, payload: dict[str, Any]) -> Any:
    return mock.engine.handle(HTTPRequest("POST", "/v1/responses", headers=AUTH, body=json.dumps(payload).encode()))


# --- requests --------------------------------------------------------------------------------------------------


def test_the_raw_schema_rejects_an_ordinary_message_so_requests_are_judged_with_input_items_as_any_of() -> None:
    """DESIGN.md: the spec's ``InputItem`` is a ``oneOf`` that an ordinary message matches twice."""
    import jsonschema

    message = {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    raw = jsonschema.Draft202012Validator({"$defs": json.loads(json.dumps(_defs())), "$ref": "#/$defs/InputItem"})
    raw.schema["$defs"]["InputItem"] = {"oneOf": _defs()["InputItem"]["anyOf"]}
    assert not raw.is_valid(message)
    assert problems("InputItem", message) == []


@SETTINGS
@given(response_requests())
def test_drawn_requests_are_valid_by_the_schema_the_sdk_and_mockai(body: dict[str, Any]) -> None:
    assert problems("CreateResponse", body) == []
    streaming = bool(body.get("stream"))
    assert _fits(body, ResponseCreateParamsStreaming if streaming else ResponseCreateParamsNonStreaming, "body") == []
    _SDK_PARAMS[streaming].validate_python(body)
    _, request = parse_response_request(body)
    check_model_support(request)


@SETTINGS
@given(response_requests())
def test_every_drawn_request_gets_a_valid_response_and_stream_within_it(body: dict[str, Any]) -> None:
    mock = MockAI(seed=1, clock=1_700_000_000)
    plain_body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    res = post(mock, plain_body)
    assert res.status == 200, res.body[:400]
    plain = strict_response(res.json())
    if body.get("background"):
        assert plain["status"] == "queued"
        plain = strict_response(mock.engine.handle(HTTPRequest("GET", f"/v1/responses/{plain['id']}",
                                                               headers=AUTH)).json())
    assert allowed(plain_body, plain) == []
    stream = post(mock, {**plain_body, "stream": True})
    events = sse_events(stream.content())
    assert stream_problems(events) == []
    assert without_ids(events[-1]["response"]["output"]) == without_ids(plain["output"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response_requests(), st.data())
def test_streams_drawn_for_a_request_stay_within_it(body: dict[str, Any], data: st.DataObject) -> None:
    drawn = data.draw(response_streams(for_request=body))
    assert allowed(body, drawn.response) == []


_TIGHT_REASONING = {  # found by Hypothesis in CI: a reasoning model, 16 output tokens, a JSON reply too long for them
    "model": "o4-mini", "input": "0", "max_output_tokens": 16, "store": False,
    "reasoning": {"effort": "minimal", "summary": "concise"},
    "text": {"format": {"type": "json_schema", "name": "0", "schema": {
        "type": "object", "required": ["_", "a", "b", "c"], "properties": {
            "_": {"type": "integer", "minimum": 0, "maximum": 100}, "a": {"type": "integer", "minimum": 0,
                                                                           "maximum": 100},
            "b": {"type": "integer", "minimum": 0, "maximum": 100}, "c": {"type": "number"}}}}}}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response_streams(for_request=_TIGHT_REASONING))
def test_a_reply_cut_to_a_few_tokens_keeps_its_reasoning_item(drawn: Any) -> None:
    """Cutting a reply to ``max_output_tokens`` cuts what it says, never the reasoning item (none of its tokens
    are visible ones), however little is left."""
    assert [item["type"] for item in drawn.response["output"]][:1] == ["reasoning"]
    assert allowed(_TIGHT_REASONING, drawn.response) == []


# --- replies and streams ------------------------------------------------------------------------------------------

STREAMS = {
    "anything": response_streams(),
    "tools": response_streams(tools=[WEATHER, NOTE, CODE]),
    "a named tool, one at a time": response_streams(tools=[WEATHER, CODE], tool_choice={"type": "custom",
                                                                                       "name": "code"},
                                                    parallel_tool_calls=False),
    "reasoning with a summary and logprobs": response_streams(reasoning=True, summary=True, logprobs=2),
    "structured": response_streams(text_format={"type": "json_schema", "name": "w", "schema": CLOSED,
                                                "strict": True}, tools=[WEATHER]),
    "within 16 tokens": response_streams(max_output_tokens=16, tools=[WEATHER], reasoning=True),
}


def sdk_events(drawn: DrawnResponse, tools: Any = omit) -> list[Any]:
    """Every drawn event through the SDK's stream state machine, as ``responses.stream()`` runs it."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=tools, text_format=omit)
    out = []
    for event in drawn.events:
        out.extend(state.handle_event(construct_type(type_=ResponseStreamEvent, value=copy.deepcopy(event))))
    return out


def _unparsed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unparsed(v) for k, v in value.items() if k not in ("parsed", "parsed_arguments")}
    if isinstance(value, list):
        return [_unparsed(v) for v in value]
    return value


@pytest.mark.parametrize("name", STREAMS)
def test_drawn_streams_pass_through_the_sdk_stream_state_to_the_drawn_response(name: str) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(STREAMS[name])
    def check(drawn: DrawnResponse) -> None:
        strict_response(drawn.response)
        assert sse_events(drawn.sse()) == drawn.events  # framing, and every event valid by schema and SDK
        assert stream_problems(drawn.events, drawn.response) == []
        handled = sdk_events(drawn, [WEATHER])
        last = handled[-1]
        if drawn.response["status"] == "completed":
            assert last.type == "response.completed"
            assert _unparsed(last.response.to_dict()) == drawn.response
        else:
            assert last.type == "response.incomplete"
            assert last.response.to_dict() == drawn.response
        snapshot = ""  # the SDK's own accumulation of each text, delta by delta
        for event in handled:
            if event.type == "response.output_text.delta":
                assert event.snapshot == snapshot + event.delta
                snapshot = event.snapshot
            elif event.type == "response.output_text.done":
                assert event.text == snapshot
                snapshot = ""

    check()


@SETTINGS
@given(response_objects(tools=[WEATHER, NOTE], reasoning=True, summary=True))
def test_drawn_response_objects_are_valid(response: dict[str, Any]) -> None:
    strict_response(response)
    assert response["output"][0]["type"] == "reasoning"


QUEUED = {"model": "o4-mini", "input": "Hi", "tools": [WEATHER, NOTE], "reasoning": {"summary": "auto"},
          "include": ["reasoning.encrypted_content"]}


@SETTINGS
@given(response_streams(for_request=QUEUED))
def test_a_queued_drawn_stream_is_sent_with_its_items_and_deltas(drawn: DrawnResponse) -> None:
    mock = MockAI(clock=1_700_000_000)
    request = QUEUED
    mock.queue(drawn, drawn)
    events = sse_events(post(mock, {**request, "stream": True}).content())
    assert stream_problems(events) == []

    def items(found: list[dict[str, Any]]) -> list[Any]:
        return without_ids([{k: v for k, v in e.items() if k not in ("sequence_number", "obfuscation")}
                            for e in found[2:-1]])

    assert items(events) == items(drawn.events)  # the same items, each text in the same deltas
    plain = strict_response(post(mock, request).json())
    assert without_ids(plain["output"]) == without_ids(drawn.response["output"])
    assert plain["status"] == drawn.response["status"]


def test_a_queued_drawn_stream_answers_chat_too() -> None:
    @settings(max_examples=30, deadline=None)
    @given(response_streams(kinds=["text"], statuses=["completed"]))
    def check(drawn: DrawnResponse) -> None:
        mock = MockAI()
        mock.queue(drawn)
        reply = mock.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        texts = [p["text"] for i in drawn.response["output"] if i["type"] == "message" for p in i["content"]]
        assert reply.choices[0].message.content == "".join(texts)

    check()


# --- eager checks -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tools": [{"type": "function"}]}, "tools[0] must be"),
    ({"tools": [{"type": "web_search", "name": "x"}]}, "tools[0] must be"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice names 'nope'"),
    ({"tool_choice": "sometimes"}, "tool_choice must be"),
    ({"tools": [{"type": "function", "name": "f", "parameters": {"type": "integer", "minimum": 3, "maximum": 1}}]},
     "admits no value"),
    ({"text_format": {"type": "yaml"}}, "text_format type must be"),
    # Chat's nested response_format shape: the schema would be ignored (the server: a 400, 'text.format.schema').
    ({"text_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": CLOSED, "strict": True}}},
     "text_format of type 'json_schema' is flat in the Responses API: {'type': 'json_schema', 'name': ..., "
     "'schema': {...}, 'strict': True}; got"),
    ({"text_format": {"type": "json_schema", "name": "w"}}, "is flat in the Responses API"),
    ({"max_output_tokens": 0}, "max_output_tokens must be"),
    ({"logprobs": 21}, "logprobs must be"),
    ({"kinds": ["poem"]}, "kinds must be"),
    ({"statuses": ["failed"]}, "statuses must be"),
    ({"summary": True}, "summary=True needs reasoning=True"),
    ({"kinds": ["tools"]}, "no reply fits"),
    ({"for_request": {"model": "gpt-4o-mini", "input": "Hi", "temperature": 9}}, "for_request is not a valid"),
])
def test_bad_arguments_fail_eagerly_with_the_reason(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        response_streams(**kwargs)
    with pytest.raises(InvalidArgument, match="response_requests"):
        response_requests(models=[])


# --- the stream checks catch broken streams -------------------------------------------------------------------


def _break(events: list[dict[str, Any]], how: str, at: int) -> list[dict[str, Any]] | None:
    out = copy.deepcopy(events)
    deltas = [i for i, e in enumerate(out) if e["type"].endswith(".delta") and e["delta"]]
    inner = list(range(2, len(out) - 1))
    if how == "drop a delta" and deltas:
        del out[deltas[at % len(deltas)]]
    elif how == "change a delta" and deltas:
        out[deltas[at % len(deltas)]]["delta"] += "x"
    elif how == "swap two events" and len(inner) >= 2:
        i = inner[at % (len(inner) - 1)]
        if "response.output_text.annotation.added" in (out[i]["type"], out[i + 1]["type"]):
            # Where an annotation's event falls among its text's events is not fixed by the grammar (one citing
            # [0, 0] may come before or after any delta, or the text's done): such a swap need not break it.
            return None
        out[i], out[i + 1] = out[i + 1], out[i]
    elif how == "renumber" and inner:
        out[inner[at % len(inner)]]["sequence_number"] += 1
        return out
    elif how == "rename an item" and inner:
        event = out[inner[at % len(inner)]]
        if "item_id" in event:
            event["item_id"] += "x"
        else:
            event["item"]["id"] += "x"
        return out
    elif how == "cut the end":
        return out[:-1]
    else:
        return None
    for n, event in enumerate(out):
        event["sequence_number"] = n
    return out if out != events else None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response_streams(tools=[WEATHER, NOTE], reasoning=True, summary=True),
       st.sampled_from(["drop a delta", "change a delta", "swap two events", "renumber", "rename an item",
                        "cut the end"]), st.integers(0, 1000))
def test_stream_problems_catch_a_broken_stream(drawn: DrawnResponse, how: str, at: int) -> None:
    broken = _break(drawn.events, how, at)
    if broken is None:
        return
    assert stream_problems(broken, drawn.response) != [], how
    for event in broken:
        strict_event(event)  # each event still valid on its own: only the walk can tell


def test_the_examples_in_the_docstrings_hold() -> None:
    import doctest

    import mockai.response_strategies

    result = doctest.testmod(mockai.response_strategies)
    assert result.attempted > 0
    assert result.failed == 0


@settings(max_examples=30, deadline=None)
@given(response_streams())
def test_a_background_stream_may_be_queued_before_it_is_in_progress(drawn: DrawnResponse) -> None:
    events = copy.deepcopy(drawn.events)
    for event in events[:2]:
        event["response"]["background"] = True
    queued = {"type": "response.queued", "response": {**events[0]["response"], "status": "queued"}}
    events.insert(1, queued)
    for n, event in enumerate(events):
        event["sequence_number"] = n
    response = {**events[-1]["response"]}
    assert stream_problems(events, response) == []
    strict_event(queued)
    swapped = copy.deepcopy([events[0], events[2], events[1], *events[3:]])  # queued after in_progress
    for n, event in enumerate(swapped):
        event["sequence_number"] = n
    assert any("response.queued after the stream began" in p for p in stream_problems(swapped, response))


def test_top_logprobs_0_sends_no_alternatives_and_n_sends_the_token_among_n() -> None:
    """``top_logprobs`` 0 (or unset): ``top_logprobs: []`` per token, as the real API sends; drawn responses sent
    one (the token itself)."""
    from hypothesis import find

    def logprobs(response: dict[str, Any]) -> list[dict[str, Any]]:
        return [lp for item in response["output"] if item["type"] == "message" for part in item["content"]
                for lp in part.get("logprobs") or []]

    fast = settings(max_examples=300, database=None, deadline=None, derandomize=True)
    for top_n in (0, 3):
        response = find(response_objects(logprobs=top_n, kinds=["text"]), lambda r: bool(logprobs(r)), settings=fast)
        strict_response(response)
        assert all(len(lp["top_logprobs"]) == top_n for lp in logprobs(response)), logprobs(response)
        assert all(lp["top_logprobs"][0]["token"] == lp["token"] for lp in logprobs(response) if top_n)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(response_objects(tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
                        kinds=["tools"]))
def test_no_empty_message_is_drawn_before_function_calls(drawn: Any) -> None:
    """The Responses form of chat's content "" beside tool calls: a message with no text before the calls."""
    for item in drawn["output"]:
        if item["type"] == "message":
            assert any(p.get("text") or p.get("refusal") for p in item["content"]), drawn["output"]

