"""POST /v1/moderations: the official shape through the SDK and both doors, the real API's refusals, word lists,
scripted results, and the engine's tools (journal, faults, patch mode). The results themselves are
tests/test_moderation.py's."""

from __future__ import annotations

import asyncio
import doctest
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from conftest import assert_envelope, request
from openai.types import ModerationCreateResponse

from mockai import Engine, HTTPResponse, MockAI, moderations
from mockai.moderation import CATEGORIES

SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-spec" / "openai-moderations.schema.json"
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/gore.png"}}


def moderate(engine: Engine, body: Any) -> HTTPResponse:
    return engine.handle(request(path="/v1/moderations", body=body))


def flagged(result: dict[str, Any]) -> set[str]:
    return {c for c, on in result["categories"].items() if on}


@pytest.fixture(scope="module")
def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is absent (it sits beside the checkout in the project's workspace)")
    defs = json.loads(SPEC.read_text())["$defs"]
    return jsonschema.Draft202012Validator({"$ref": "#/$defs/CreateModerationResponse", "$defs": defs})


def conforms(body: dict[str, Any], validator: Any) -> dict[str, Any]:
    validator.validate(body)
    ModerationCreateResponse.model_validate(body, strict=True)
    assert body["id"].startswith("modr-")
    assert len(body["id"]) == len("modr-") + 32
    for result in body["results"]:
        assert result["flagged"] == any(result["categories"].values())
        assert list(result["categories"]) == list(CATEGORIES)
    return body


def test_doctests() -> None:
    assert doctest.testmod(moderations).failed == 0


@pytest.mark.parametrize(("value", "model", "results"), [
    ("I love lighthouses.", None, 1),
    (["one", "I will kill them", "three"], "omni-moderation-latest", 3),
    ([{"type": "text", "text": "look"}, IMAGE], "omni-moderation-2024-09-26", 1),
    (["hello", "you idiot"], "text-moderation-latest", 2),
    ("", None, 1),
])
def test_replies_are_the_official_shape(engine: Engine, validator: Any, value: Any, model: str | None,
                                        results: int) -> None:
    body = {"input": value} if model is None else {"input": value, "model": model}
    res = moderate(engine, body)
    assert res.status == 200, res.body
    reply = conforms(res.json(), validator)
    assert len(reply["results"]) == results
    assert reply["model"] == {"text-moderation-latest": "text-moderation-007", None: "omni-moderation-latest"}.get(
        model, model)


def test_the_sdk_sync_async_and_over_the_socket() -> None:
    mock = MockAI(seed=3)
    first = mock.client().moderations.create(input=["I will kill them", "What a lovely morning"])
    assert [r.flagged for r in first.results] == [True, False]
    assert first.results[0].categories.violence

    async def go(client: openai.AsyncOpenAI) -> Any:
        async with client:
            return await client.moderations.create(input=[{"type": "text", "text": "hi"}, IMAGE])  # type: ignore[list-item]

    parts = asyncio.run(go(mock.async_client()))
    assert parts.results[0].categories.violence_graphic  # from the image URL's words
    assert parts.results[0].category_applied_input_types.violence == ["text", "image"]
    with mock.serve() as server:
        with openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as client:
            again = client.moderations.create(input=["I will kill them", "What a lovely morning"])
        async_again = asyncio.run(go(openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)))
    assert again.results == first.results  # deterministic, on either door
    assert async_again.results == parts.results
    assert again.id != first.id  # ids are unique per call


@pytest.mark.parametrize(("body", "param", "code", "message"), [
    ({"input": []}, "input", "empty_array",
     "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead."),
    ({}, "input", "missing_required_parameter", "Missing required parameter: 'input'."),
    ({"input": 5}, "input", "invalid_type", None),
    ({"input": None}, "input", "invalid_type", None),
    ({"input": [{"type": "video", "video": {}}]}, "input[0].type", "invalid_value", None),
    ({"input": [{"type": "text"}]}, "input[0].text", "missing_required_parameter", None),
    ({"input": ["a", {"type": "text", "text": "b"}]}, "input[0]", "invalid_type", None),
    ({"input": [IMAGE], "model": "text-moderation-stable"}, "input", "invalid_value",
     "The model text-moderation-stable does not support image inputs."),
    ({"input": "x", "model": 7}, "model", "invalid_type", None),
])
def test_requests_the_real_api_refuses(engine: Engine, body: dict[str, Any], param: str, code: str,
                                       message: str | None) -> None:
    err = assert_envelope(moderate(engine, body), 400, param=param, code=code)
    if message is not None:
        assert err["message"] == message


def test_models_strict_and_lenient(make_engine: Any) -> None:
    assert moderate(make_engine(), {"input": "x", "model": "omni-moderation-2099"}).status == 200
    strict = make_engine(strict_models=True)
    assert moderate(strict, {"input": "x", "model": "text-moderation-stable"}).status == 200
    assert_envelope(moderate(strict, {"input": "x", "model": "omni-moderation-2099"}), 404, param="model",
                    code="model_not_found")
    assert_envelope(moderate(make_engine(), {"input": "x", "model": ""}), 400, param=None)


def test_a_word_list_of_the_tests_own() -> None:
    mock = MockAI()
    client = mock.client()
    assert not client.moderations.create(input="Dragons attack the village").results[0].flagged
    mock.engine.moderations.words = {"violence": ["dragon*"]}
    result = client.moderations.create(input="Dragons attack the village").results[0]
    assert result.categories.violence
    assert not client.moderations.create(input="I will kill them").results[0].flagged  # the list was replaced
    mock.engine.moderations.words = None
    assert client.moderations.create(input="I will kill them").results[0].flagged
    with pytest.raises(ValueError, match="unknown moderation category 'violent'"):
        mock.engine.moderations.words = {"violent": ["x"]}


def test_scripted_results() -> None:
    mock = MockAI(seed=2)
    mock.on(api="moderations", last_user="graphic").respond({"categories": ["violence/graphic"]})
    mock.on(api="moderations", last_user="quiet").respond({"flagged": False})
    mock.on(api="moderations", last_user="scores").respond({"category_scores": {"hate": 0.7, "sexual": 0.2}})
    mock.on(api="moderations", any_message="each").respond([{"categories": ["sexual"]}, {"flagged": False}])
    client = mock.client(max_retries=0)
    graphic = client.moderations.create(input="graphic").results[0].model_dump(by_alias=True)
    assert flagged(graphic) == {"violence", "violence/graphic"}  # a subcategory flags its parent
    assert graphic["category_scores"]["violence/graphic"] >= 0.85
    quiet = client.moderations.create(input="I will kill them, quiet").results[0]
    assert not quiet.flagged
    assert max(quiet.category_scores.model_dump().values()) < 0.5
    scores = client.moderations.create(input="scores").results[0].model_dump(by_alias=True)
    assert flagged(scores) == {"hate"}
    assert (scores["category_scores"]["hate"], scores["category_scores"]["sexual"]) == (0.7, 0.2)
    each = client.moderations.create(input=["each", "I will kill them"]).results
    assert [flagged(r.model_dump(by_alias=True)) for r in each] == [{"sexual"}, set()]
    with pytest.raises(ValueError, match="2 moderation results were scripted for a request that gets 3"):
        client.moderations.create(input=["each", "b", "c"])
    mock.engine.script.errors.clear()


def test_whole_responses_errors_and_mistakes() -> None:
    mock = MockAI()
    whole = mock.client().moderations.create(input="I will kill them").model_dump(by_alias=True)
    mock.queue(whole)
    mock.on(api="moderations", last_user="limit").error(429)
    client = mock.client(max_retries=0)
    assert client.moderations.create(input="anything").model_dump(by_alias=True)["results"] == whole["results"]
    with pytest.raises(openai.RateLimitError):
        client.moderations.create(input="limit")
    with pytest.raises(ValueError, match=r"unknown moderation category 'violense' \(did you mean 'violence'\?\)"):
        mock.on(api="moderations").respond({"categories": ["violense"]})
    with pytest.raises(ValueError, match="unknown moderation result field"):
        mock.on(api="moderations").respond([{"flagged": True, "why": "x"}])
    with pytest.raises(ValueError, match="cannot be flagged=False and name flagged categories"):
        mock.on(api="moderations").respond({"flagged": False, "categories": ["hate"]})
    mock.on(api="moderations", last_user="odd").respond({"flagged": True})
    with pytest.raises(ValueError, match="needs a flagged category"):
        client.moderations.create(input="odd")
    mock.engine.script.errors.clear()


def test_results_wait_for_moderation_requests_and_chat_replies_for_chat() -> None:
    mock = MockAI()
    mock.queue({"categories": ["hate"]})
    mock.on(last_user="hello").reply("Hi!")
    client = mock.client()
    messages: Any = [{"role": "user", "content": "hello"}]
    assert client.chat.completions.create(model="gpt-4o-mini", messages=messages).choices[0].message.content == "Hi!"
    assert client.embeddings.create(model="text-embedding-3-small", input="hello").data  # generated
    assert mock.engine.script.pending == [{"categories": ["hate"]}]
    assert client.moderations.create(input="hello").results[0].categories.hate
    assert mock.engine.script.pending == []


def test_journal_faults_and_patch_mode(monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with MockAI() as mock:
        mock.fault("503")
        client = openai.OpenAI(api_key="sk-x", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            client.moderations.create(input="x")
        client.moderations.create(input=["I will kill them", "fine"])
    call = mock.calls.last
    assert call.route == "moderations"
    assert call.describe() == "POST /v1/moderations -> 200 model='omni-moderation-latest' input=['I will kill them', " \
                              "'fine']"
    assert mock.calls[0].fault == "503"
