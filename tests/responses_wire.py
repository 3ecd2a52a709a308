"""Holding what mockai sends on the Responses API to the official schema, the ``openai`` SDK's types and the
real API's event grammar.

- :func:`conform` validates a value against a schema of ``../shared/openai-spec/openai-responses.schema.json``,
  loosened in the two places ``check-responses`` loosens it (see :func:`_bundle`).
- :func:`strict_response`, :func:`strict_event` also parse with the SDK's types in strict mode.
- :func:`sse_events` splits a stream and checks its framing (``event:`` + ``data:``, no ``[DONE]``, numbered).
- :func:`follow` walks a stream's events as the SDK's stream state does, checking the grammar, every id and index,
  and rebuilds the output from the deltas: it must equal the terminal event's response.
- :func:`check_journal` applies all of that to every answer in a mock's journal, whatever door it went through.
- :class:`Door` is one way into a mock (in-process or a real socket) with SDK clients; :func:`close_door` ends it
  and checks its journal.
"""

from __future__ import annotations

import copy
import functools
import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pydantic
import pytest
from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItemList
from openai.types.conversations.conversation_item import ConversationItem
from openai.types.responses import (
    InputTokenCountResponse,
    Response,
    ResponseItemList,
    ResponseStreamEvent,
)

from mockai.journal import Call
from mockai.mock import MockAI
from mockai.server import ServerThread

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "openai-spec"
CLOCK = 1_700_000_000
TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}


@functools.cache
def _bundle(name: str) -> dict[str, Any]:
    path = SPEC_DIR / f"openai-{name}.schema.json"
    if not path.exists():
        pytest.skip(f"the official schema is not beside the project ({path})")
    bundle: dict[str, Any] = copy.deepcopy(json.loads(path.read_text()))
    if name == "responses":
        # As check-responses does: the spec's own examples (and the real wire) carry "user": null, and
        # response.created / in_progress carry "usage": null, though neither is nullable in the schema.
        defs = bundle["$defs"]
        defs["ModelResponseProperties"]["properties"]["user"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
        defs["Response"]["allOf"][2]["properties"]["usage"] = {
            "anyOf": [{"$ref": "#/$defs/ResponseUsage"}, {"type": "null"}]}
    return bundle


@functools.cache
def _validator(name: str, bundle: str) -> jsonschema.Draft202012Validator:
    b = _bundle(bundle)
    return jsonschema.Draft202012Validator({"$schema": b["$schema"], "$defs": b["$defs"], "$ref": f"#/$defs/{name}"})


def conform(name: str, instance: Any, bundle: str = "responses") -> None:
    """``instance`` is a valid ``name`` of the official schema (``AssertionError`` naming where it is not)."""
    __tracebackhide__ = True
    error = jsonschema.exceptions.best_match(_validator(name, bundle).iter_errors(instance))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise AssertionError(f"not a valid {name} at {where}: {error.message[:300]}")


@functools.cache
def event_schemas() -> dict[str, str]:
    """Each stream event ``type`` and the schema that describes it (from ``ResponseStreamEvent``'s ``anyOf``)."""
    defs = _bundle("responses")["$defs"]
    out = {}
    for ref in defs["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        out[defs[name]["properties"]["type"]["enum"][0]] = name
    return out


@functools.cache
def sdk_events() -> dict[str, type[pydantic.BaseModel]]:
    """Each stream event ``type`` and the SDK's class for it."""
    union = typing.get_args(ResponseStreamEvent)[0]
    return {typing.get_args(cls.model_fields["type"].annotation)[0]: cls for cls in typing.get_args(union)}


def strict_response(body: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """``body`` is a ``Response`` by the schema and by the SDK's type in strict mode, without ``output_text``."""
    conform("Response", body)
    Response.model_validate(body, strict=True)
    assert body["object"] == "response"
    assert "output_text" not in body, "output_text is computed by the SDKs, never sent"
    if status is not None:
        assert body["status"] == status, body["status"]
    return body


def strict_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` is valid by its schema and parses with the SDK's class for its type, strictly."""
    kind = event["type"]
    assert kind in event_schemas(), f"unknown event type {kind!r}"
    conform(event_schemas()[kind], event)
    sdk_events()[kind].model_validate(event, strict=True)
    if kind in TERMINAL or kind in ("response.created", "response.in_progress", "response.queued"):
        strict_response(event["response"])
    return event


def sse_events(raw: bytes | Iterable[bytes], first: int = 0) -> list[dict[str, Any]]:
    """The events of a Responses stream, each framed ``event: <type>`` + ``data: <json of that type>`` and valid
    (:func:`strict_event`), numbered from ``first`` without a gap, with no ``data: [DONE]``."""
    text = raw if isinstance(raw, bytes) else b"".join(raw)
    assert text.endswith(b"\n\n") or not text, text[-80:]
    out = []
    for block in text[:-2].split(b"\n\n") if text else []:
        lines = block.split(b"\n")
        assert len(lines) == 2, block[:200]
        assert lines[0].startswith(b"event: "), block[:200]
        assert lines[1].startswith(b"data: "), block[:200]
        assert lines[1] != b"data: [DONE]", "a Responses stream sends no [DONE]"
        event = json.loads(lines[1][len(b"data: "):])
        assert event["type"] == lines[0][len(b"event: "):].decode(), block[:200]
        out.append(strict_event(event))
    assert [e["sequence_number"] for e in out] == list(range(first, first + len(out)))
    return out


def follow(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Walk a whole stream as the SDK's ``ResponseStreamState`` does; returns the terminal event's response,
    after checking that the output rebuilt from the events (deltas joined) is exactly its ``output``.

    Grammar: ``response.created`` → (``response.queued``, in the background) → ``response.in_progress`` → per
    item ``output_item.added`` → its content events → ``output_item.done`` → one terminal event; an ``error``
    event may end the stream instead.
    """
    types = [e["type"] for e in events]
    background = events[0]["response"]["background"]
    lifecycle = ["response.created", *(["response.queued"] if background else []), "response.in_progress"]
    assert types[:len(lifecycle)] == lifecycle, types[:4]
    rid = events[0]["response"]["id"]
    for e in events[:len(lifecycle)]:
        assert e["response"]["id"] == rid
        assert e["response"]["output"] == []
        assert e["response"]["usage"] is None
        want = "in_progress" if e["type"] == "response.in_progress" or not background else "queued"
        assert e["response"]["status"] == want, (e["type"], e["response"]["status"])
    items: list[dict[str, Any]] = []
    open_item: dict[str, Any] | None = None
    for e in events[len(lifecycle):-1]:
        t = e["type"]
        assert t not in (*TERMINAL, "error"), f"{t} before the end"
        if t == "response.output_item.added":
            assert open_item is None, "an item added while another is open"
            assert e["output_index"] == len(items)
            open_item = {**e["item"], "_parts": [], "_buf": None}
            assert open_item["status"] == "in_progress"
            continue
        assert open_item is not None, f"{t} outside an output item"
        assert e["output_index"] == len(items), t
        if t == "response.output_item.done":
            done = e["item"]
            assert done["id"] == open_item["id"]
            assert done["type"] == open_item["type"]
            rebuilt = _rebuilt(open_item)
            assert rebuilt == done, f"deltas rebuild {rebuilt!r}, output_item.done says {done!r}"
            items.append(done)
            open_item = None
            continue
        assert e["item_id"] == open_item["id"], t
        _apply(open_item, e)
    last = events[-1]
    if last["type"] == "error":
        return last
    assert open_item is None, "the stream ended with an item open"
    assert last["type"] in TERMINAL, types[-1]
    final: dict[str, Any] = last["response"]
    assert final["id"] == rid
    assert final["status"] == TERMINAL[last["type"]]
    assert final["output"] == items, "the terminal response's output is not the items the stream sent"
    return final


def _apply(item: dict[str, Any], e: dict[str, Any]) -> None:
    """One content event applied to the open item (deltas appended; ``.done`` events checked against them)."""
    t = e["type"].removeprefix("response.")
    kind = item["type"]
    if t == "content_part.added":
        assert kind == "message"
        assert item["_buf"] is None
        assert e["content_index"] == len(item["_parts"])
        part = dict(e["part"])
        assert part.get("text", part.get("refusal")) == ""
        item["_buf"] = part
    elif t in ("output_text.delta", "refusal.delta"):
        part = item["_buf"]
        key = "text" if t == "output_text.delta" else "refusal"
        assert part is not None
        assert part["type"] == ("output_text" if key == "text" else "refusal")
        assert e["content_index"] == len(item["_parts"])
        part[key] += e["delta"]
        if key == "text":
            part["logprobs"] = [*part["logprobs"], *e["logprobs"]]
    elif t == "output_text.annotation.added":
        part = item["_buf"]
        assert part is not None
        assert e["annotation_index"] == len(part["annotations"])
        part["annotations"] = [*part["annotations"], e["annotation"]]
    elif t in ("output_text.done", "refusal.done"):
        part = item["_buf"]
        key = "text" if t == "output_text.done" else "refusal"
        assert part is not None
        assert e[key] == part[key], (e[key], part[key])
        if key == "text":
            assert [lp["token"] for lp in e["logprobs"]] == [lp["token"] for lp in part["logprobs"]]
            part["logprobs"] = e["logprobs"]  # the done event's carry bytes; the deltas' do not
    elif t == "content_part.done":
        part = item["_buf"]
        assert part is not None
        assert e["part"] == part, (e["part"], part)
        item["_parts"].append(part)
        item["_buf"] = None
    elif t == "function_call_arguments.delta":
        assert kind == "function_call"
        item["arguments"] += e["delta"]
    elif t == "function_call_arguments.done":
        assert kind == "function_call"
        assert e["arguments"] == item["arguments"]
        assert e["name"] == item["name"]
    elif t == "custom_tool_call_input.delta":
        assert kind == "custom_tool_call"
        item["input"] += e["delta"]
    elif t == "custom_tool_call_input.done":
        assert kind == "custom_tool_call"
        assert e["input"] == item["input"]
    elif t == "reasoning_summary_part.added":
        assert kind == "reasoning"
        assert e["summary_index"] == len(item["summary"])
        assert item["_buf"] is None
        item["_buf"] = dict(e["part"])
    elif t == "reasoning_summary_text.delta":
        assert item["_buf"] is not None
        assert e["summary_index"] == len(item["summary"])
        item["_buf"]["text"] += e["delta"]
    elif t == "reasoning_summary_text.done":
        assert item["_buf"] is not None
        assert e["text"] == item["_buf"]["text"]
    elif t == "reasoning_summary_part.done":
        assert item["_buf"] is not None
        assert e["part"] == item["_buf"]
        item["summary"] = [*item["summary"], item["_buf"]]
        item["_buf"] = None
    else:
        raise AssertionError(f"unexpected event {e['type']} in a {kind} item")


def _rebuilt(item: dict[str, Any]) -> dict[str, Any]:
    assert item["_buf"] is None, "an item done with a part still open"
    out = {k: v for k, v in item.items() if not k.startswith("_")}
    if out["type"] == "message":
        out["content"] = item["_parts"]
    out["status"] = _ANY  # the added item is in progress; the done one says how it ended
    return out


class _Any:
    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


_ANY: Any = _Any()


# --- the journal: every answer through any door ----------------------------------------------------------------

_OBJECTS: dict[str, tuple[str, Any]] = {
    "responses": ("Response", Response),
    "responses.retrieve": ("Response", Response),
    "responses.cancel": ("Response", Response),
    "responses.input_items": ("ResponseItemList", ResponseItemList),
    "responses.input_tokens": ("TokenCountsResource", InputTokenCountResponse),
    "responses.compact": ("CompactResource", None),  # the SDK types compacted user messages as output items
    "conversations.create": ("ConversationResource", Conversation),
    "conversations.retrieve": ("ConversationResource", Conversation),
    "conversations.update": ("ConversationResource", Conversation),
    "conversations.delete": ("DeletedConversationResource", ConversationDeletedResource),
    "conversations.items.create": ("ConversationItemList", ConversationItemList),
    "conversations.items.list": ("ConversationItemList", ConversationItemList),
    "conversations.items.retrieve": ("ConversationItem", pydantic.TypeAdapter(ConversationItem)),
    "conversations.items.delete": ("ConversationResource", Conversation),
}


def check_call(call: Call) -> list[dict[str, Any]] | dict[str, Any] | None:
    """What ``call`` answered, validated: the events of a stream, a JSON body, or ``None`` (no body was sent: a
    reset or hang fault, or a route this module does not hold)."""
    res = call.response
    if res.status == 0 or (res.events is None and not res.body):
        return None
    if res.status != 200:
        body = res.json()
        conform("ErrorResponse", body, "chat")
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        return dict(body)
    if call.route not in _OBJECTS and call.route != "responses.delete":
        return None
    if res.events is not None:
        assert call.route in ("responses", "responses.retrieve"), call.route
        first = 0
        query = dict(p.split("=", 1) for p in call.http.query.split("&") if "=" in p)
        if "starting_after" in query:
            first = int(query["starting_after"]) + 1
        events = sse_events(res.events, first)
        if first == 0 and call.fault is None:
            follow(events)
        return events
    body = res.json()
    if call.route == "responses.delete":
        assert body == {"id": body["id"], "object": "response", "deleted": True}, body
        return dict(body)
    name, sdk = _OBJECTS[call.route]
    if name.endswith("List") and not body["data"]:
        # An empty page: the schema types first_id/last_id as strings; mockai sends null, as OpenAI's other
        # list endpoints do for an empty page (not verifiable here). Everything else is held to the schema.
        assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}, body
        return dict(body)
    conform(name, body)
    if name == "Response":
        strict_response(body)
    elif sdk is not None:
        validate = sdk.validate_python if isinstance(sdk, pydantic.TypeAdapter) else sdk.model_validate
        validate(body, strict=True)
    return dict(body)


def check_journal(mock: MockAI) -> int:
    """Validate every answer in ``mock``'s journal (see :func:`check_call`); returns how many were held.

    Also holds the store to what was sent: a later ``GET /responses/{id}`` of a response that was answered whole
    (a JSON reply, or a stream's terminal event) must return exactly that response, until something changed it
    (a background response's first retrieve, a cancel, a delete or a reset).
    """
    held = 0
    sent: dict[str, Any] = {}
    for call in list(mock.calls):
        try:
            answer = check_call(call)
        except AssertionError as exc:
            raise AssertionError(f"{call.describe()}: {exc}") from exc
        if answer is None:
            continue
        held += 1
        if call.route in ("responses.delete", "responses.cancel") or call.response.status != 200:
            sent.pop(call.http.path.rstrip("/").split("/")[-2 if call.route == "responses.cancel" else -1], None)
            continue
        whole = answer[-1].get("response") if isinstance(answer, list) and call.fault is None else answer
        if call.route not in ("responses", "responses.retrieve") or not isinstance(whole, dict) or \
                whole.get("status") not in ("completed", "incomplete") or "starting_after" in call.http.query:
            continue
        if call.route == "responses.retrieve" and whole["id"] in sent:
            assert whole == sent[whole["id"]], f"{call.describe()}: the stored response differs from the one sent"
        sent[whole["id"]] = whole
    return held


# --- doors ------------------------------------------------------------------------------------------------------


@dataclass
class Door:
    """One way in: ``in-process`` (the mock's own httpx transport) or ``socket`` (``mock.serve()``)."""

    name: str
    mock: MockAI
    server: ServerThread | None = None
    _clients: list[Any] = field(default_factory=list)

    def client(self, **kw: Any) -> openai.OpenAI:
        kw.setdefault("max_retries", 0)
        if self.server is None:
            client = self.mock.client(**kw)
        else:
            client = openai.OpenAI(base_url=self.server.base_url, api_key="sk-test", timeout=10, **kw)
        self._clients.append(client)
        return client

    def async_client(self, **kw: Any) -> openai.AsyncOpenAI:
        """An async client (use it with ``async with``: it closes there)."""
        kw.setdefault("max_retries", 0)
        if self.server is None:
            return self.mock.async_client(**kw)
        return openai.AsyncOpenAI(base_url=self.server.base_url, api_key="sk-test", timeout=10, **kw)

    @property
    def root(self) -> str:
        """The server's address without ``/v1`` (the control API lives under ``/_mockai/`` there)."""
        return "https://api.openai.com" if self.server is None else self.server.url

    def raw(self) -> httpx.Client:
        """Plain httpx at the same door, for what the SDK hides (the bytes of a stream)."""
        if self.server is None:
            client = self.mock.http_client(headers={"authorization": "Bearer sk-test"})
        else:
            client = httpx.Client(base_url=self.server.base_url, headers={"authorization": "Bearer sk-test"},
                                  timeout=10)
        self._clients.append(client)
        return client


def open_door(name: str, **config: Any) -> Door:
    config.setdefault("seed", 1)
    config.setdefault("clock", CLOCK)
    mock = MockAI(**config)
    if name == "socket":
        return Door(name, mock, mock.serve().start())
    return Door(name, mock)


def close_door(door: Door) -> None:
    for client in door._clients:
        client.close()
    if door.server is not None:
        door.server.stop()
    assert check_journal(door.mock) >= 1, "the test sent nothing the journal check could hold"
