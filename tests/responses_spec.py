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
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

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
