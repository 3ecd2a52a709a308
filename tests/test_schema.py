"""Values made from JSON schemas (tool arguments, structured outputs) are valid against those schemas."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest
from conftest import chat_body, post
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockai import Config, Engine
from mockai.schema import BudgetExceeded, RandomSource, SchemaError, dumps, is_multiple, value_for
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
    # Keywords beside anyOf/oneOf apply as well as the branch's (they were ignored: a bare word came back).
    "anyOf with properties beside it": {"type": "object", "properties": {"a": {"type": "string"}, "b": {
        "type": "integer"}}, "additionalProperties": False, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
    "anyOf narrowing a type list": {"type": ["string", "null"], "anyOf": [{"type": "null"}, {"maxLength": 3}]},
    "oneOf beside a type": {"type": "string", "oneOf": [{"enum": ["x", "y"]}, {"pattern": "^z+$", "minLength": 2}]},
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
    # Local references beyond $defs: JSON pointers through array indices (zod-to-json-schema writes these),
    # percent-encoded pointers, anchors and boolean schemas. Each used to be a 400 (or a 400 for some seeds only).
    "$ref through anyOf": {"type": "object", "required": ["a", "b"], "properties": {
        "a": {"anyOf": [{"type": "string"}, {"type": "null"}]}, "b": {"$ref": "#/properties/a/anyOf/0"}}},
    "$ref through prefixItems": {"type": "object", "required": ["t", "u"], "properties": {
        "t": {"type": "array", "prefixItems": [{"type": "boolean"}]}, "u": {"$ref": "#/properties/t/prefixItems/0"}}},
    "$ref percent-encoded": {"type": "object", "required": ["c"], "properties": {"c": {"$ref": "#/$defs/e%20f"}},
                             "$defs": {"e f": {"type": "integer", "minimum": 5, "maximum": 6}}},
    "$ref to an anchor": {"type": "object", "required": ["d"], "properties": {"d": {"$ref": "#word"}},
                          "$defs": {"w": {"$anchor": "word", "enum": ["x", "y"]}}},
    "$ref to a boolean schema": {"type": "object", "required": ["f"], "properties": {"f": {"$ref": "#/$defs/any"}},
                                 "$defs": {"any": True}},
    "anyOf with a false branch": {"anyOf": [False, {"type": "integer", "maximum": 0}]},
    "allOf with a true part": {"allOf": [True, {"type": "string", "maxLength": 3}]},
    # `contains` and `not` were ignored: values could break the schema they were made for.
    "contains": {"type": "array", "items": {"type": "integer"}, "contains": {"const": 7}},
    "minContains": {"type": "array", "items": {"type": "string"}, "contains": {"enum": ["x", "y"]},
                    "minContains": 2, "maxItems": 4},
    "not null": {"type": ["string", "null"], "not": {"type": "null"}},
    "not an enum": {"type": "integer", "minimum": 0, "maximum": 3, "not": {"enum": [0, 1, 2]}},
    "not a type, no type beside it": {"type": "object", "required": ["a"], "properties": {
        "a": {"not": {"type": ["string", "number"]}}}},
    "not a const": {"enum": ["a", "b", "c"], "not": {"const": "a"}},
}
# Draft 7's forms, still common in tool schemas written by hand (checked with Draft7Validator).
DRAFT7: dict[str, dict[str, Any]] = {
    "items as a list": {"type": "object", "required": ["t"], "properties": {"t": {
        "type": "array", "items": [{"type": "integer"}, {"type": "string"}], "minItems": 2}}},
    "items as a list, additionalItems": {"type": "array", "items": [{"const": 1}], "additionalItems": {"type": "null"},
                                         "minItems": 3},
    "items as a list, no additionalItems": {"type": "array", "items": [{"type": "boolean"}], "additionalItems": False},
}


@pytest.mark.parametrize("schema", list(DRAFT7.values()), ids=list(DRAFT7))
def test_draft7_array_forms_are_valid(schema: dict[str, Any]) -> None:
    for seed in range(30):
        jsonschema.Draft7Validator(schema).validate(value_for(schema, RandomSource(random.Random(seed))))


def test_a_tool_with_draft7_items_is_answered(engine: Engine) -> None:
    """It used to be a 400 ("a schema must be an object or a boolean, got list"): a false 400."""
    params = DRAFT7["items as a list"]
    res = post(engine, chat_body(tools=[{"type": "function", "function": {"name": "f", "parameters": params}}],
                                 tool_choice="required"))
    assert res.status == 200, res.json()
    call = res.json()["choices"][0]["message"]["tool_calls"][0]
    jsonschema.Draft7Validator(params).validate(json.loads(call["function"]["arguments"]))


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
    {"type": "wat"}, False, {"type": "integer", "minimum": 3, "maximum": 1}, {"not": {}},
    {"type": "integer", "minimum": 0, "maximum": 1, "not": {"enum": [0, 1]}},
    {"anyOf": [False, {"$ref": "#/$defs/no"}], "$defs": {"no": False}},
    {"$ref": "#/$defs/no", "$defs": {"no": False}}, {"allOf": [{"type": "string"}, False]},
    {"type": "integer", "minimum": 1, "maximum": 5, "multipleOf": 10},
    {"type": "string", "minLength": -1},
    {"type": "object", "properties": {"a": 3}, "required": ["a"]},
])
def test_impossible_schemas_raise_schema_error(schema: Any) -> None:
    with pytest.raises(SchemaError):
        value_for(schema, RandomSource(random.Random(0)))


@pytest.mark.parametrize("ref", ["https://example.com/schemas/point.json", "point.json#/x", "#/$defs/missing",
                                 "#nowhere", "#/properties/a/anyOf/7"])
def test_a_ref_that_resolves_to_nothing_here_stands_for_any_value(ref: str) -> None:
    schema = {"type": "object", "required": ["a", "b"], "properties": {"a": {"anyOf": [{"type": "integer"}]},
                                                                      "b": {"$ref": ref}}}
    values = [value_for(schema, RandomSource(random.Random(seed))) for seed in range(10)]
    assert all(set(v) == {"a", "b"} and isinstance(v["a"], int) for v in values)


ZOD_PARAMS = {  # as zod-to-json-schema writes a reused sub-schema: a pointer to where it first appeared
    "type": "object", "additionalProperties": False, "required": ["status", "previous", "history"],
    "properties": {
        "status": {"anyOf": [{"type": "string", "enum": ["open", "closed"]}, {"type": "null"}]},
        "previous": {"$ref": "#/properties/status/anyOf/0"},
        "history": {"type": "array", "items": {"$ref": "#/properties/status"}},
    },
    "$schema": "http://json-schema.org/draft-07/schema#",
}


@pytest.mark.parametrize("strict", [False, True])
def test_a_tool_with_pointer_refs_is_answered_for_every_seed(strict: bool) -> None:
    """A tool schema with references through ``anyOf`` indices was a 400 for the seeds that called the tool
    ("list indices must be integers or slices, not str"): an error that depended on the seed."""
    tools = [{"type": "function", "function": {"name": "track", "strict": strict, "parameters": ZOD_PARAMS}},
             {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}}]
    called = 0
    for seed in range(12):
        res = post(Engine(Config(seed=seed)), chat_body(tools=tools, tool_choice="auto"))
        assert res.status == 200, res.json()
        for call in res.json()["choices"][0]["message"].get("tool_calls") or []:
            if call["function"]["name"] == "track":
                called += 1
                jsonschema.Draft7Validator(ZOD_PARAMS).validate(json.loads(call["function"]["arguments"]))
    assert called  # (the tool was called for some seeds: what used to fail)
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "strict": strict, "schema": ZOD_PARAMS}}
    res = post(Engine(Config(seed=1)), chat_body(response_format=fmt, n=3))
    assert res.status == 200, res.json()
    for choice in res.json()["choices"]:
        jsonschema.Draft7Validator(ZOD_PARAMS).validate(json.loads(choice["message"]["content"]))



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


# --- multipleOf, as validators check it ------------------------------------------------------------------------

@pytest.mark.parametrize("step", [0.1, 0.01, 0.3, 0.7, 0.05, 1e-3, 2.5, 0.25, 7, 3])
@pytest.mark.parametrize("kind", ["number", "integer"])
def test_multiples_pass_a_validators_floating_point_check(step: float, kind: str) -> None:
    """``multipleOf: 0.1`` once gave 0.30000000000000004 (and 0.3 would fail too: 0.3 / 0.1 != 3 in floats)."""
    for schema in ({"type": kind, "multipleOf": step},
                   {"type": kind, "multipleOf": step, "minimum": 1, "maximum": 40},
                   {"type": kind, "multipleOf": step, "exclusiveMinimum": -5, "maximum": 0}):
        for seed in range(60):
            value = value_for(schema, RandomSource(random.Random(seed)))
            jsonschema.validate(value, schema)
            assert is_multiple(value, step)
            if kind == "integer":
                assert isinstance(value, int)


@given(json_for_schema({"type": "object", "required": ["price", "qty"], "additionalProperties": False,
                        "properties": {"price": {"type": "number", "multipleOf": 0.01, "minimum": 0},
                                       "qty": {"type": "integer", "multipleOf": 0.5, "maximum": 9}}}))
def test_drawn_multiples_validate(value: dict[str, Any]) -> None:
    jsonschema.validate(value, {"properties": {"price": {"multipleOf": 0.01}, "qty": {"multipleOf": 0.5}}})


def test_a_multiple_no_float_can_hold_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="no multiple of 10"):
        value_for({"type": "number", "multipleOf": 10, "minimum": 1, "maximum": 5}, RandomSource(random.Random(0)))


# --- the budget: bounded work at every nesting level -----------------------------------------------------------

class CountingSource(RandomSource):
    """Counts the draws: the work done, without timing anything."""

    draws = 0

    def integer(self, lo: int, hi: int) -> int:
        self.draws += 1
        return super().integer(lo, hi)

    def word(self) -> str:
        self.draws += 1
        return super().word()


def nested(levels: int, leaf: dict[str, Any], size: int = 1000) -> dict[str, Any]:
    schema = leaf
    for _ in range(levels):
        schema = {"type": "array", "minItems": size, "items": schema}
    return schema


@pytest.mark.parametrize("levels", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("leaf", [{"type": "integer"}, {"type": "string"}, {"type": "object"},
                                  {"type": "object", "required": ["k"], "properties": {"k": {"type": "null"}}}],
                         ids=["integers", "strings", "empty objects", "small objects"])
def test_the_budget_bounds_the_work_across_all_levels(levels: int, leaf: dict[str, Any]) -> None:
    budget = 2_000  # less than 1,000 of the smallest values ("7," or "{},") take
    schema = nested(levels, leaf)
    src = CountingSource(random.Random(1))
    with pytest.raises(BudgetExceeded) as caught:
        value_for(schema, src, budget=budget)
    assert src.draws <= budget
    assert budget // 2 <= len(caught.value.text) <= budget + 100
    assert caught.value.text.startswith("[" * levels)


SIMPLE = {k: v for k, v in SCHEMAS.items() if k not in ("formats", "pattern")}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(SIMPLE)), st.integers(0, 2**32), st.integers(0, 200))
@example("oneOf beside a type", 79, 100)  # a short pattern string where the budget ran out: written, not drawn
def test_a_cut_value_is_a_prefix_of_the_whole_value(name: str, seed: int, budget: int) -> None:
    """What the budget leaves is the start of the very value a larger budget makes (same seed, same draws), so a
    reply cut there is what the model would have written up to its limit."""
    inner = SIMPLE[name]
    schema = {"type": "array", "minItems": 30, "maxItems": 30, "items": inner,
              **{k: inner[k] for k in ("$defs", "definitions") if k in inner}}  # $ref resolves from the root
    whole = dumps(value_for(schema, RandomSource(random.Random(seed)), budget=10**6))
    exceeded = False
    try:
        cut = dumps(value_for(schema, RandomSource(random.Random(seed)), budget=budget))
    except BudgetExceeded as exc:
        cut, exceeded = exc.text, True
    assert whole.startswith(cut), (cut, whole)
    assert exceeded or cut == whole


@pytest.mark.parametrize("schema", [
    {"type": "object", "minProperties": 10**6},
    {"type": "object", "minProperties": 10**6, "additionalProperties": {"type": "object"}},
    {"type": "string", "minLength": 10**9},
    {"type": "array", "minItems": 10**9, "items": {"type": "array"}},
], ids=["minProperties", "minProperties of objects", "minLength", "minItems of arrays"])
def test_every_huge_minimum_is_bounded_by_the_budget(schema: dict[str, Any]) -> None:
    """Drawing a key already taken, or a string never built: work that writes nothing is counted too."""
    src = CountingSource(random.Random(2))
    with pytest.raises(BudgetExceeded) as caught:
        value_for(schema, src, budget=5_000)
    assert src.draws <= 5_000
    assert len(caught.value.text) <= 5_100
