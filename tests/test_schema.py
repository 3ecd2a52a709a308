"""Values made from JSON schemas (tool arguments, structured outputs) are valid against those schemas."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

from mockai.schema import RandomSource, SchemaError, value_for

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
    {"type": "integer", "minimum": 1, "maximum": 5, "multipleOf": 10}, {"type": "string", "pattern": "^[0-9]{9}$"},
    {"type": "array", "minItems": 10**7}, {"type": "string", "minLength": -1},
    {"type": "object", "properties": {"a": 3}, "required": ["a"]},
])
def test_impossible_schemas_raise_schema_error(schema: Any) -> None:
    with pytest.raises(SchemaError):
        value_for(schema, RandomSource(random.Random(0)))
