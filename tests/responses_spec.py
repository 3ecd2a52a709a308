"""Holding Responses API values to the official schema and the ``openai`` SDK's types: replies, stream events,
SSE framing, request bodies (for the strategies' and the fuzz responder's tests and the cassettes').

The schema is ``../shared/openai-spec/openai-responses.schema.json``, loosened where the spec contradicts its own
examples and the wire (``user: null``; ``usage: null`` on the lifecycle events), as ``check-responses`` does.
Request bodies are not held to the schema's ``InputItem``: its ``oneOf`` matches an ordinary message twice, so
requests are judged with that ``oneOf`` read as ``anyOf``, with the SDK's ``ResponseCreateParams`` and with
mockai's own parser.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from mockai.models import effort

SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-spec" / "openai-responses.schema.json"
LIFECYCLE = ("response.created", "response.in_progress", "response.queued", "response.completed",
             "response.incomplete", "response.failed")


@functools.cache
def _defs() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"the official schema is not beside the project ({SPEC})")
    bundle = json.loads(SPEC.read_text())
    defs: dict[str, Any] = copy.deepcopy(bundle["$defs"])
    defs["ModelResponseProperties"]["properties"]["user"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    defs["Response"]["allOf"][2]["properties"]["usage"] = {"anyOf": [{"$ref": "#/$defs/ResponseUsage"},
                                                                    {"type": "null"}]}
    defs["InputItem"] = {k if k != "oneOf" else "anyOf": v for k, v in defs["InputItem"].items()
                         if k != "discriminator"}
    return defs


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$defs": _defs(), "$ref": f"#/$defs/{name}"})


def problems(name: str, instance: Any) -> list[str]:
    """Where ``instance`` breaks the schema ``name`` (empty when it fits)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in _validator(name).iter_errors(instance)]


@functools.cache
def event_schemas() -> dict[str, str]:
    """Each stream event ``type`` and its schema's name, from ``ResponseStreamEvent``."""
    defs = _defs()
    names = [ref["$ref"].rsplit("/", 1)[-1] for ref in defs["ResponseStreamEvent"]["anyOf"]]
    return {defs[n]["properties"]["type"]["enum"][0]: n for n in names}


@functools.cache
def sdk_events() -> dict[str, type[pydantic.BaseModel]]:
    union = typing.get_args(ResponseStreamEvent)[0]
    return {typing.get_args(cls.model_fields["type"].annotation)[0]: cls for cls in typing.get_args(union)}


def strict_response(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` is a ``Response`` by the schema and by the SDK's type in strict mode."""
    assert problems("Response", body) == [], problems("Response", body)[:3]
    Response.model_validate(body, strict=True)
    assert "output_text" not in body
    return body


def strict_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` is valid by its schema and by the SDK's class for its type, strictly."""
    kind = event["type"]
    assert kind in event_schemas(), f"unknown event type {kind!r}"
    found = problems(event_schemas()[kind], event)
    assert found == [], (kind, found[:3])
    sdk_events()[kind].model_validate(event, strict=True)
    if kind in LIFECYCLE:
        strict_response(event["response"])
    return event


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The events of a Responses stream, each framed ``event: <type>`` + ``data: <json of that type>``, each
    valid (:func:`strict_event`), with no ``data: [DONE]``."""
    assert raw.endswith(b"\n\n"), raw[-80:]
    out = []
    for block in raw[:-2].split(b"\n\n"):
        lines = block.split(b"\n")
        assert len(lines) == 2, block[:200]
        assert lines[0].startswith(b"event: "), block[:200]
        assert lines[1].startswith(b"data: "), block[:200]
        assert lines[1] != b"data: [DONE]"
        event = json.loads(lines[1][6:])
        assert event["type"] == lines[0][7:].decode()
        out.append(strict_event(event))
    return out


def without_ids(value: Any) -> Any:
    """``value`` with every response, item and call id blanked (and the encrypted reasoning derived from them):
    what two answers to one request share."""
    if isinstance(value, dict):
        return {k: "<id>" if k in ("id", "call_id", "item_id", "encrypted_content") else without_ids(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def allowed(payload: dict[str, Any], response: dict[str, Any]) -> list[str]:
    """Why ``response`` is not a reply the request ``payload`` allows (empty when it is): calls of the tools
    offered and chosen (one without ``parallel_tool_calls``, arguments valid for their schema, custom input for
    its regex), ``max_output_tokens``, reasoning items for reasoning models only (summaries when asked for,
    ``encrypted_content`` when included), JSON for ``text.format``, annotations inside their text, logprobs
    exactly when included."""
    out: list[str] = []
    items = response["output"]
    calls = [i for i in items if i["type"] in ("function_call", "custom_tool_call")]
    offered = {t["name"] for t in payload.get("tools", [])}
    choice = payload.get("tool_choice", "auto")
    if isinstance(choice, dict) and choice["type"] in ("function", "custom"):
        offered = {choice["name"]}
    elif isinstance(choice, dict) and choice["type"] == "allowed_tools":
        offered = {t["name"] for t in choice["tools"]}
    if choice == "none":
        offered = set()
    out += [f"calls {c['name']!r}, not one of {sorted(offered)}" for c in calls if c["name"] not in offered]
    if (choice == "required" or (isinstance(choice, dict) and choice.get("mode", "required") == "required")) \
            and not calls and response["status"] == "completed":
        out.append("no call, yet the request requires one")
    if payload.get("parallel_tool_calls") is False and len(calls) > 1:
        out.append(f"{len(calls)} calls without parallel_tool_calls")
    for call in calls:
        tool = next(t for t in payload["tools"] if t["name"] == call["name"])
        if call["type"] == "function_call" and response["status"] == "completed":
            jsonschema.validate(json.loads(call["arguments"]), tool["parameters"])
        grammar = tool.get("format") or {}
        if grammar.get("syntax") == "regex" and response["status"] == "completed" \
                and not re.fullmatch(grammar["definition"], call["input"]):
            out.append(f"custom tool input {call['input']!r} does not match {grammar['definition']!r}")
    limit = payload.get("max_output_tokens")
    if limit is not None and response["usage"]["output_tokens"] > limit:
        out.append(f"{response['usage']['output_tokens']} output tokens over max_output_tokens={limit}")
    reasons = effort(payload["model"], (payload.get("reasoning") or {}).get("effort")) not in (None, "none")
    reasoning = [i for i in items if i["type"] == "reasoning"]
    if reasons != bool(reasoning) or (reasoning and items[0]["type"] != "reasoning"):
        out.append(f"reasoning items {len(reasoning)} for {payload['model']}")
    if any(r["summary"] for r in reasoning) and not (payload.get("reasoning") or {}).get("summary"):
        out.append("a summary nobody asked for")
    encrypted = "reasoning.encrypted_content" in payload.get("include", [])
    if any(("encrypted_content" in r) != encrypted for r in reasoning):
        out.append("encrypted_content does not follow include")
    fmt = (payload.get("text") or {}).get("format", {})
    for item in items:
        for part in item.get("content", []) if item["type"] == "message" else []:
            if part["type"] != "output_text":
                continue
            text = part["text"]
            if fmt.get("type") in ("json_schema", "json_object") and response["status"] == "completed":
                value = json.loads(text)
                jsonschema.validate(value, fmt.get("schema", {"type": "object"}))
            for a in part["annotations"]:
                if not 0 <= a["start_index"] <= a["end_index"] <= len(text):
                    out.append(f"annotation {a} outside the text")
            wants_logprobs = "message.output_text.logprobs" in payload.get("include", [])
            if wants_logprobs and "".join(lp["token"] for lp in part["logprobs"]) != text:
                out.append("logprobs do not spell the text")
            if not wants_logprobs and part["logprobs"]:
                out.append("logprobs nobody asked for")
    return out
