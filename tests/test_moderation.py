"""Moderation results: the official shape for every input and model, deterministic, flagged by the word list."""

from __future__ import annotations

import doctest
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openai.types import ModerationCreateResponse, ModerationModel
from openai.types.moderation import CategoryAppliedInputTypes

from mockai import moderation
from mockai.moderation import CATEGORIES, DEFAULT_WORDS, IMAGE_CATEGORIES, MODELS, Moderator, moderate, reply_model

SCHEMA_FILE = Path(__file__).resolve().parents[1].parent / "shared" / "openai-spec" / "openai-moderations.schema.json"
OMNI = "omni-moderation-latest"
TEXT_MODELS = ("text-moderation-latest", "text-moderation-stable")
IMAGE: dict[str, Any] = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}

BENIGN = [
    "How do I reset my password?",
    "Kill the process and restart the server.",  # "kill" alone is not in the default list: tech talk stays quiet
    "Shoot me an email when the build is green.",
    "The quarterly report is attached.",
    "What a lovely morning for a walk in the park!",
    "Our skills workshop starts at 9am.",  # "skill" must not match "kill"
]


def reply(results: list[dict[str, Any]], model: str = OMNI) -> dict[str, Any]:
    return {"id": "modr-test", "model": reply_model(model), "results": results}


def flagged(result: dict[str, Any]) -> set[str]:
    return {c for c, on in result["categories"].items() if on}


@pytest.fixture(scope="module")
def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA_FILE.exists():
        pytest.skip(f"{SCHEMA_FILE} is absent (it sits beside the checkout in the project's workspace)")
    schema = json.loads(SCHEMA_FILE.read_text())
    return jsonschema.Draft202012Validator({"$ref": "#/$defs/CreateModerationResponse", "$defs": schema["$defs"]})


SHAPES: list[tuple[str, Any, str]] = [
    ("string", "What a lovely morning", OMNI),
    ("flagged string", "I want to kill them.", OMNI),
    ("strings", ["hello", "you idiot", "how to shoplift"], "omni-moderation-2024-09-26"),
    ("text and image", [{"type": "text", "text": "look at this"}, IMAGE], OMNI),
    ("image only", [IMAGE, {"type": "image_url", "image_url": {"url": "https://example.com/gore.jpg"}}], OMNI),
    ("text model", ["hello", "I will murder you, idiot"], "text-moderation-latest"),
    ("stable text model", "build a bomb and launder money", "text-moderation-stable"),
    ("text model, parts", [{"type": "text", "text": "hello"}], "text-moderation-latest"),
]


@pytest.mark.parametrize(("name", "input", "model"), SHAPES, ids=[s[0] for s in SHAPES])
def test_results_match_the_official_schema_and_the_sdk_in_strict_mode(name: str, input: Any, model: str,
                                                                     validator: Any) -> None:
    results = moderate(input, model=model, seed=4)
    body = json.loads(json.dumps(reply(results, model)))  # what goes over the wire
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors
    parsed = ModerationCreateResponse.model_validate(body, strict=True)
    for mine, theirs in zip(results, parsed.results, strict=True):
        assert theirs.flagged is mine["flagged"]
        assert theirs.categories.model_dump(by_alias=True) == mine["categories"]
        assert theirs.category_scores.model_dump(by_alias=True) == mine["category_scores"]
        assert theirs.category_applied_input_types.model_dump(by_alias=True) == mine["category_applied_input_types"]


def test_the_carried_facts_match_the_schema_and_the_sdk(validator: Any) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())["$defs"]
    result = schema["CreateModerationResponse"]["properties"]["results"]["items"]["properties"]
    assert list(CATEGORIES) == result["categories"]["required"]
    assert list(CATEGORIES) == result["category_scores"]["required"]
    applied = result["category_applied_input_types"]["properties"]
    assert {c for c in CATEGORIES if "image" in applied[c]["items"]["enum"]} == IMAGE_CATEGORIES
    nullable = {c for c, s in result["categories"]["properties"].items() if "anyOf" in s}
    assert nullable == moderation._TEXT_ONLY_ABSENT  # the only categories a model may leave out (null)
    model_enum = schema["CreateModerationRequest"]["properties"]["model"]["anyOf"][1]["enum"]
    assert sorted(MODELS) == sorted(model_enum) == sorted(typing.get_args(ModerationModel))
    sdk_aliases = {f.alias or name for name, f in CategoryAppliedInputTypes.model_fields.items()}
    assert sdk_aliases == set(CATEGORIES)


def test_ordinary_text_is_not_flagged_and_scores_low() -> None:
    for text in BENIGN:
        for model in MODELS:
            [result] = moderate(text, model=model)
            assert not result["flagged"], (text, model, flagged(result))
            scores = [s for c, s in result["category_scores"].items() if result["categories"][c] is not None]
            assert all(1e-6 <= s < 1e-2 for s in scores), (text, scores)


def test_the_default_list_flags_the_documented_example_like_the_real_api() -> None:
    [result] = moderate("I want to kill them.")
    assert flagged(result) == {"harassment", "harassment/threatening", "violence"}  # as the API reference shows
    assert all(0.85 <= result["category_scores"][c] < 1 for c in flagged(result))


@pytest.mark.parametrize("category", [c for c in CATEGORIES if DEFAULT_WORDS[c]])
def test_every_default_entry_flags_its_category(category: str) -> None:
    for entry in DEFAULT_WORDS[category]:
        text = f"Well, {entry.rstrip('*')}ing here." if entry.endswith("*") else f"Well, {entry} here."
        [result] = moderate(text)
        assert category in flagged(result), (entry, flagged(result))
        assert category.split("/")[0] in flagged(result)  # a subcategory flags its parent


def test_a_custom_word_list_flags_exactly_its_category() -> None:
    mod = Moderator({"illicit/violent": ["dragon fire"], "sexual": ["spicy*"]}, seed=1)
    [a, b, c, d] = mod.moderate(["Dragon... FIRE!", "spicy-food lovers", "a dragonfire", "I want to kill them."])
    assert flagged(a) == {"illicit/violent", "illicit"}  # any punctuation between the words, any case
    assert flagged(b) == {"sexual"}  # a trailing * matches any ending
    assert flagged(c) == set()  # whole words only
    assert flagged(d) == set()  # the list replaces the default one
    assert Moderator({}).moderate("I want to kill them.")[0]["flagged"] is False


def test_flags_and_scores_agree() -> None:
    for text in [*BENIGN, "you idiot", "I will murder you", "gory massacre", "how to shoplift"]:
        for model in MODELS:
            [result] = moderate(text, model=model, seed=9)
            for category in CATEGORIES:
                on = result["categories"][category]
                if on is not None:
                    assert on == (result["category_scores"][category] >= 0.5)
            assert result["flagged"] == any(result["categories"].values())


def test_results_are_a_pure_function_of_seed_and_text() -> None:
    a = moderate(["hello", "you idiot"], seed=2)
    assert a == moderate(["hello", "you idiot"], seed=2)
    assert a[0]["category_scores"] != moderate("hello", seed=3)[0]["category_scores"]
    assert a[0]["category_scores"] == moderate("hello", seed=2, model="omni-moderation-2024-09-26")[0][
        "category_scores"]
    assert a[0]["category_scores"] != a[1]["category_scores"]
    # Pinned: the same bytes on every machine and in every process (no libm, no str hash).
    digest = hashlib.sha256(json.dumps(a + moderate("I want to kill them."), sort_keys=True).encode()).hexdigest()
    assert digest == "e3d5fccaa8098415ef7d0a2914d4973ad0bae2e37bb2fb7a7356ded3e4f6de73"


def test_a_list_of_strings_gives_one_result_each_and_a_list_of_parts_one_in_all() -> None:
    assert len(moderate(["a", "b", "c"])) == 3
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "you idiot"}, IMAGE]
    [result] = moderate(parts)
    assert "harassment" in flagged(result)  # judged together: one flagged part flags the result
    assert moderate([]) == []


def test_applied_input_types_follow_the_input() -> None:
    [text_only] = moderate("hello")
    [both] = moderate([{"type": "text", "text": "hello"}, IMAGE])
    [image_only] = moderate([IMAGE])
    for category in CATEGORIES:
        assert text_only["category_applied_input_types"][category] == ["text"]
        if category in IMAGE_CATEGORIES:
            assert both["category_applied_input_types"][category] == ["text", "image"]
            assert image_only["category_applied_input_types"][category] == ["image"]
        else:
            assert both["category_applied_input_types"][category] == ["text"]
            assert image_only["category_applied_input_types"][category] == []


def test_an_image_is_judged_by_the_words_of_its_url() -> None:
    def image(url: str) -> list[dict[str, Any]]:
        return [{"type": "image_url", "image_url": {"url": url}}]

    assert flagged(moderate(image("https://example.com/gore-scene.jpg"))[0]) == {"violence/graphic", "violence"}
    # Harassment is not scored on images (the omni model scores six categories on them).
    assert flagged(moderate(image("https://example.com/idiot.jpg"))[0]) == set()
    assert flagged(moderate(image("data:image/png;base64,Z29yZQ==/gore/"))[0]) == set()  # a data URL has no words


@pytest.mark.parametrize("model", TEXT_MODELS)
def test_text_models_have_no_illicit_categories_and_take_no_images(model: str) -> None:
    [result] = moderate("how to shoplift and build a bomb, you idiot", model=model)
    for category in ("illicit", "illicit/violent"):
        assert result["categories"][category] is None
        assert result["category_scores"][category] == 0.0
        assert result["category_applied_input_types"][category] == []
    assert flagged(result) == {"harassment"}
    assert all(result["category_applied_input_types"][c] == ["text"] for c in CATEGORIES if "illicit" not in c)
    with pytest.raises(ValueError, match=f"the model {model} does not support image inputs"):
        moderate([IMAGE], model=model)
    assert reply_model(model) == "text-moderation-007"


@pytest.mark.parametrize(("words", "message"), [
    ({"violent": ["x"]}, "unknown moderation category 'violent'; the categories are"),
    ({"hate": "slur"}, r"words\['hate'\] must be a list of words or phrases, not a string"),
    ({"hate": ["a*b"]}, r"words\['hate'\]: 'a\*b' must be words, with '\*' only at the end"),
    ({"hate": ["!!"]}, r"words\['hate'\]: '!!' must be words"),
    ({"hate": [3]}, r"words\['hate'\] entries must be strings, got 3"),
])
def test_a_bad_word_list_is_a_clear_value_error(words: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Moderator(words)


@pytest.mark.parametrize("bad", [
    [{"type": "text"}],
    [{"type": "image_url", "image_url": "https://x/a.png"}],
    [{"type": "audio", "audio": "x"}],
    ["text", {"type": "text", "text": "mixed"}],
    [3],
])
def test_a_malformed_input_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"input\[\d\] must be a string, a text part or an image_url part"):
        moderate(bad)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200), seed=st.integers(0, 2**64), model=st.sampled_from(MODELS))
@example(text="bad \ud800 surrogate", seed=0, model=OMNI)
@example(text="", seed=0, model="text-moderation-latest")
def test_any_text_gives_a_valid_deterministic_result(text: str, seed: int, model: str) -> None:
    results = moderate(text, model=model, seed=seed)
    assert results == moderate(text, model=model, seed=seed)
    ModerationCreateResponse.model_validate(reply(results, model), strict=True)
    [result] = results
    assert result["flagged"] == any(result["categories"].values())


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(moderation).failed == 0
