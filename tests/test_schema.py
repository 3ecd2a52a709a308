"""Values made from JSON schemas (tool arguments, structured outputs) are valid against those schemas."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest
from conftest import chat_body, post
from hypothesis import given, settings

from mockai import Engine
from mockai.schema import RandomSource, SchemaError, value_for
from mockai.strategies import json_for_schema

SCHEMAS: dict[str, dict[str, Any]] = {
    "string bounds": {"type": "string", "minLength": 5, "maxLength": 8},
    "formats": {"type": "object", "required": ["d", "t", "e", "u", "i", "x"], "properties": {
        "d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "date-time"},
        "e": {"type": "string", "format": "email"}, "u": {"type": "string", "format": "uuid"},
        "i": {"type": "string", "format": "ipv4"}, "x": {"type": "string", "format": "uri"}}},
    "pattern": {"type": "string", "pattern": "^[a-z]"},
    "integer bounds": {"type": "integer", "minimum": -3, "maximum": 3},
    "exclusive bounds": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
    "number bounds": {"type": "number", "minimum": 0.5, "maximum": 0.75},
    "multipleOf": {"type": "integer", "minimum": 1, "maximum": 100, "multipleOf": 7},
    "enum": {"enum": ["a", 1, None, True]},
    "const": {"const": {"k": [1, 2]}},
    "type list": {"type": ["string", "null"]},
    "array bounds": {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2},
    "unique items": {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 3, "uniqueItems": True},
    "prefixItems": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
    "nested": {"type": "object", "required": ["a"], "properties": {"a": {"type": "object", "required": ["b"],
               "properties": {"b": {"type": "array", "items": {"type": "object", "required": ["c"],
                                    "properties": {"c": {"type": "null"}}}}}}}},
    "anyOf": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string", "maxLength": 2}]},
    "oneOf": {"oneOf": [{"type": "boolean"}, {"type": "null"}]},
    "allOf": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
    "$ref": {"type": "object", "required": ["p"], "properties": {"p": {"$ref": "#/$defs/point"}},
             "$defs": {"point": {"type": "object", "required": ["x", "y"],
                                 "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}}},
    "recursive $ref": {"$ref": "#/definitions/node", "definitions": {"node": {
        "type": "object", "required": ["value"], "properties": {
            "value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}}},
    "closed object": {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
    "minProperties": {"type": "object", "minProperties": 3, "additionalProperties": {"type": "integer"}},
    "empty schema": {},
}


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
@pytest.mark.parametrize("strict", [False, True])
def test_values_are_valid(schema: dict[str, Any], strict: bool) -> None:
    for seed in range(30):
        value = value_for(schema, RandomSource(random.Random(seed)), strict=strict)
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def test_strict_fills_every_property() -> None:
    schema = {"type": "object", "properties": {k: {"type": "integer"} for k in "abcdef"}}
    for seed in range(10):
        assert set(value_for(schema, RandomSource(random.Random(seed)), strict=True)) == set("abcdef")
    loose = [value_for(schema, RandomSource(random.Random(s))) for s in range(10)]
    assert any(set(v) != set("abcdef") for v in loose)


def test_same_seed_same_value() -> None:
    schema = SCHEMAS["nested"]
    assert value_for(schema, RandomSource(random.Random(4))) == value_for(schema, RandomSource(random.Random(4)))


@pytest.mark.parametrize("schema", [
    {"type": "wat"}, False, {"type": "integer", "minimum": 3, "maximum": 1}, {"$ref": "https://x/y"},
    {"type": "integer", "minimum": 1, "maximum": 5, "multipleOf": 10},
    {"type": "array", "minItems": 10**7}, {"type": "string", "minLength": -1},
    {"type": "object", "properties": {"a": 3}, "required": ["a"]},
])
def test_impossible_schemas_raise_schema_error(schema: Any) -> None:
    with pytest.raises(SchemaError):
        value_for(schema, RandomSource(random.Random(0)))



# --- `pattern`: strings drawn from the regular expression ---------------------------------------------------

PATTERNS = [
    "^@[a-zA-Z0-9_]+$",  # from OpenAI's structured outputs guide
    r"^\d{3}-\d{4}$", "^[A-Z]{2}$", r"\w+@\w+\.com", "^[0-9]{9}$", r"^\+?[1-9]\d{1,14}$",
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    "^(red|green|blue)(-(light|dark))?$", r"^[^\s@]+@[^\s@]+\.[^\s@]+$", r"(?i)^[^a-z]{3,5}$",
    r"^(?P<w>[a-z]{2})-(?P=w)$", r"^(?<w>[a-z]{2})-\k<w>$", r"^(?=.*[A-Z])(?=.*\d)[A-Za-z\d]{8,}$", r"(?<=a)b\b",
    r"^(?!foo)[a-z]+\.txt$", r"^[\u4e00-\u9fff]{2,4}$", "^.{3}$", r"^\S+\s\S+$", "^[^,]*$", "^$", "^a*?b+?c{2,}?$",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_strings_match(pattern: str) -> None:
    import re

    schema = {"type": "string", "pattern": pattern}
    for seed in range(30):
        value = value_for(schema, RandomSource(random.Random(seed)))
        assert re.search(pattern.replace("(?<w>", "(?P<w>").replace(r"\k<w>", "(?P=w)"), value), (seed, value)
        if "(?<w>" not in pattern:
            jsonschema.validate(value, schema)


@pytest.mark.parametrize(("lo", "hi"), [(12, 14), (1, 2), (20, 20), (0, 3)])
def test_pattern_with_lengths(lo: int, hi: int) -> None:
    import re

    schema = {"type": "string", "pattern": "^[a-z0-9]+$", "minLength": lo, "maxLength": hi}
    for seed in range(30):
        value = value_for(schema, RandomSource(random.Random(seed)))
        assert re.search("^[a-z0-9]+$", value)
        assert lo <= len(value) <= hi, (seed, value)


def test_pattern_with_a_format() -> None:
    schema = {"type": "string", "format": "email", "pattern": r"^[a-z]+@example\.com$"}
    for seed in range(30):
        jsonschema.validate(value_for(schema, RandomSource(random.Random(seed))), schema,
                            format_checker=jsonschema.FormatChecker())


def test_pattern_strings_are_deterministic() -> None:
    schema = {"type": "object", "required": ["a", "b"], "properties": {
        "a": {"type": "string", "pattern": r"^(?=.*\d)[A-Za-z\d]{6,}$"}, "b": {"type": "string", "pattern": "^[^x]+$"}}}
    for seed in range(10):
        first = value_for(schema, RandomSource(random.Random(seed)))
        assert first == value_for(schema, RandomSource(random.Random(seed)))


@pytest.mark.parametrize("pattern", [r"^\p{L}+$", "[", "a{4000000000}", "^(a{10000}){10000}$", "^[\ud800-\udfff]$"])
def test_pattern_mockai_cannot_draw_is_not_an_error(pattern: str) -> None:
    """The real API accepts these schemas (or may), so they are never a 400: the string is a best effort."""
    value = value_for({"type": "string", "pattern": pattern}, RandomSource(random.Random(0)))
    assert isinstance(value, str)
    value.encode()  # no surrogates


def test_duration_and_time_formats() -> None:
    import re

    for seed in range(30):
        src = RandomSource(random.Random(seed))
        assert re.fullmatch(r"P\d+DT\d+H", value_for({"type": "string", "format": "duration"}, src))
        assert re.fullmatch(r"\d\d:\d\d:\d\dZ", value_for({"type": "string", "format": "time"}, src))
        assert re.fullmatch(r"2025-\d\d-\d\dT\d\d:\d\d:\d\dZ", value_for({"type": "string", "format": "date-time"},
                                                                       src))


def test_hypothesis_draws_pattern_strings() -> None:
    import re

    values = json_for_schema({"type": "object", "required": ["handle", "zip"], "additionalProperties": False,
                              "properties": {"handle": {"type": "string", "pattern": "^@[a-zA-Z0-9_]+$"},
                                             "zip": {"type": "string", "pattern": r"^\d{5}(-\d{4})?$"}}},
                             strict=True)

    @settings(max_examples=50, deadline=None)
    @given(values)
    def check(value: dict[str, str]) -> None:
        assert re.search("^@[a-zA-Z0-9_]+$", value["handle"])
        assert re.search(r"^\d{5}(-\d{4})?$", value["zip"])

    check()


def test_strict_response_format_with_a_pattern_is_answered(engine: Engine) -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["username", "phone"], "properties": {
        "username": {"type": "string", "pattern": "^@[a-zA-Z0-9_]+$"},
        "phone": {"type": "string", "pattern": r"^\d{3}-\d{4}$"}}}
    body = chat_body(response_format={"type": "json_schema", "json_schema": {
        "name": "user", "strict": True, "schema": schema}}, n=4)
    res = post(engine, body)
    assert res.status == 200, res.body
    for choice in res.json()["choices"]:
        jsonschema.validate(json.loads(choice["message"]["content"]), schema)


def test_tool_parameters_with_a_pattern_are_answered(engine: Engine) -> None:
    params = {"type": "object", "additionalProperties": False, "required": ["code", "email"], "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2}$"}, "email": {"type": "string", "pattern": r"\w+@\w+\.com"}}}
    tool = {"type": "function", "function": {"name": "lookup", "strict": True, "parameters": params}}
    res = post(engine, chat_body(tools=[tool], tool_choice="required", n=4))
    assert res.status == 200, res.body
    for choice in res.json()["choices"]:
        for call in choice["message"]["tool_calls"]:
            jsonschema.validate(json.loads(call["function"]["arguments"]), params)
