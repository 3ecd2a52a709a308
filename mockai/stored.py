"""Stored chat completions: what a ``store: true`` request leaves behind, and the routes that read it.

``GET    /v1/chat/completions``                          the stored completions, oldest first by default
                                                        (``model``, ``metadata[key]=value``, ``after``,
                                                        ``limit``, ``order``)
``GET    /v1/chat/completions/{completion_id}``          one of them
``POST   /v1/chat/completions/{completion_id}``          replace its ``metadata`` (the only change allowed)
``DELETE /v1/chat/completions/{completion_id}``          forget it: ``chat.completion.deleted``
``GET    /v1/chat/completions/{completion_id}/messages`` the messages the request sent (``after``, ``limit``,
                                                        ``order``)

The chat surface (:mod:`mockai.chat`) calls :meth:`StoredCompletions.keep` when it writes a reply to a request
with ``store: true``, with the ``chat.completion`` the reply is as one JSON body: a stream is stored as the
completion it reassembles to, as the real API does. Like the real API, a stored completion also echoes the
request's sampling parameters, tools and ``metadata`` (``{}`` when none was sent), and its messages are the
request's own, each with the id ``{completion_id}-{index}`` and its own role (the spec types them as assistant
messages; the real API lists the user's). Completions sent without ``store: true`` are not kept: asking for
one is a 404.

Records are JSON values in a bounded :class:`~mockai.state.Store` (:data:`MAX_STORED` completions and about
:data:`MAX_STORED_BYTES` of their JSON; the oldest go first), emptied by the engine's ``reset()``.

>>> from mockai.engine import Engine, HTTPRequest
>>> engine, auth = Engine(), {"authorization": "Bearer sk-test"}
>>> made = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers=auth, body=b'{"model": "gpt-4o-mini", '
...     b'"messages": [{"role": "user", "content": "Hi"}], "store": true, "metadata": {"run": "a"}}')).json()
>>> listed = engine.handle(HTTPRequest("GET", "/v1/chat/completions", query="metadata[run]=a", headers=auth))
>>> [c["id"] for c in listed.json()["data"]] == [made["id"]]
True
>>> messages = engine.handle(HTTPRequest("GET", f"/v1/chat/completions/{made['id']}/messages", headers=auth))
>>> [(m["id"] == made["id"] + "-0", m["role"], m["content"]) for m in messages.json()["data"]]
[(True, 'user', 'Hi')]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .core import Core
from .errors import APIError, invalid, json_type
from .http import HTTPRequest, HTTPResponse
from .journal import Call
from .state import DEFAULT_BYTES, DEFAULT_ITEMS, Store, page
from .validation import parse_json
from .wire import METADATA_MAX_KEY, METADATA_MAX_KEYS, METADATA_MAX_VALUE

MAX_STORED = DEFAULT_ITEMS  # stored completions kept; past it (or MAX_STORED_BYTES) the oldest go first
MAX_STORED_BYTES = DEFAULT_BYTES
_METADATA_FILTER = re.compile(r"metadata\[(.*)\]")
# What a stored completion echoes of its request, with the defaults it shows when the request left one out.
_SAMPLING = (("top_p", 1.0), ("temperature", 1.0), ("presence_penalty", 0.0), ("frequency_penalty", 0.0))


class StoredCompletions:
    """The stored chat completions of one engine; the chat surface mounts its handlers."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.store = Store("chat.completion", max_items=MAX_STORED, max_bytes=MAX_STORED_BYTES)
        core.on_reset.append(self.store.clear)

    def keep(self, completion: dict[str, Any], body: Mapping[str, Any], request_id: str) -> None:
        """Store ``completion`` (the reply as one ``chat.completion`` body) with what it echoes of the request
        ``body`` (its JSON) and the request's messages."""
        echo = dict(completion)
        echo["request_id"] = request_id
        seed = body.get("seed")
        echo["seed"] = seed if isinstance(seed, int) else _drawn_seed(completion["id"])
        for name, default in _SAMPLING:
            value = body.get(name)
            echo[name] = default if value is None else value
        echo["input_user"] = body.get("user")
        for name in ("tool_choice", "tools", "response_format"):
            echo[name] = body.get(name)
        echo["metadata"] = dict(body.get("metadata") or {})
        self.store.put(completion["id"], {"completion": echo, "model": body.get("model"),
                                          "messages": list(body.get("messages") or ())})

    # --- the routes ------------------------------------------------------------------------------------------

    def list(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        query = _query(http)
        model = query.get("model")
        wanted = [(m.group(1), value) for key, value in query.items() if (m := _METADATA_FILTER.fullmatch(key))]
        found = []
        for record in self.store.values():
            completion = record["completion"]
            if model is not None and model not in (record["model"], completion["model"]):
                continue
            metadata = completion["metadata"]
            if all(metadata.get(key) == value for key, value in wanted):
                found.append(completion)
        return self.core.json_response(200, page(found, query, default_order="asc", max_limit=None))

    def retrieve(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        return self.core.json_response(200, self._record(args["completion_id"])["completion"])

    def update(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        completion_id = args["completion_id"]
        body = parse_json(http.body)
        call.body = body if isinstance(body, dict) else None
        metadata = check_update(body)
        record = self._record(completion_id)
        updated = {**record["completion"], "metadata": metadata}
        if not self.store.update(completion_id, {**record, "completion": updated}):
            raise not_found(completion_id)  # deleted (or dropped) meanwhile
        return self.core.json_response(200, updated)

    def delete(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        completion_id = args["completion_id"]
        if not self.store.delete(completion_id):
            raise not_found(completion_id)
        return self.core.json_response(200, {"object": "chat.completion.deleted", "id": completion_id,
                                             "deleted": True})

    def messages(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        completion_id = args["completion_id"]
        sent = self._record(completion_id)["messages"]
        items = [stored_message(m, f"{completion_id}-{i}") for i, m in enumerate(sent)]
        return self.core.json_response(200, page(items, _query(http), default_order="asc", max_limit=None))

    def _record(self, completion_id: str) -> dict[str, Any]:
        record: dict[str, Any] | None = self.store.get(completion_id)
        if record is None:
            raise not_found(completion_id)
        return record


def not_found(completion_id: str) -> APIError:
    return APIError(404, f"Chat completion with id '{completion_id}' not found.")


def check_update(body: Any) -> dict[str, str]:
    """The new ``metadata`` of an update body (``null`` clears it), or the 400 the real API sends."""
    if not isinstance(body, dict):
        raise invalid(f"Invalid type for request body: expected an object, but got {json_type(body)} instead.", None,
                      "invalid_type")
    if "metadata" not in body:
        raise APIError(400, "Missing required parameter: 'metadata'.", param="metadata",
                       code="missing_required_parameter")
    metadata = body["metadata"]
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise invalid(f"Invalid type for 'metadata': expected an object, but got {json_type(metadata)} instead.",
                      "metadata", "invalid_type")
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid(f"Invalid 'metadata': too many properties. Expected an object with at most {METADATA_MAX_KEYS} "
                      f"properties, but got an object with {len(metadata)} properties instead.", "metadata",
                      "object_above_max_properties")
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY:
            raise invalid(f"Invalid property name in 'metadata': '{key}' is too long. Expected a string with maximum "
                          f"length {METADATA_MAX_KEY}, but got a string with length {len(key)} instead.",
                          f"metadata.{key}", "string_above_max_length")
        if not isinstance(value, str):
            raise invalid(f"Invalid type for 'metadata.{key}': expected a string, but got {json_type(value)} instead.",
                          f"metadata.{key}", "invalid_type")
        if len(value) > METADATA_MAX_VALUE:
            raise invalid(f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                          f"{METADATA_MAX_VALUE}, but got a string with length {len(value)} instead.",
                          f"metadata.{key}", "string_above_max_length")
    return dict(metadata)


def stored_message(message: Mapping[str, Any], message_id: str) -> dict[str, Any]:
    """A request message as the messages list shows it: its id, role, text ``content`` and, when the content
    was an array, its ``text`` and ``image_url`` parts as ``content_parts``; an assistant's tool calls and a tool
    result's ``tool_call_id`` as sent.

    >>> shown = stored_message({"role": "user", "content": [{"type": "text", "text": "Hi"}]}, "chatcmpl-1-0")
    >>> shown["id"], shown["role"], shown["content"], shown["content_parts"]
    ('chatcmpl-1-0', 'user', 'Hi', [{'type': 'text', 'text': 'Hi'}])
    """
    content = message.get("content")
    parts = None
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type") in ("text", "image_url")]
        texts = [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"]
        content = "".join(texts) if texts else None
    out: dict[str, Any] = {"id": message_id, "role": message.get("role"), "content": content,
                           "refusal": message.get("refusal"), "name": message.get("name"), "content_parts": parts}
    for name in ("tool_calls", "function_call", "tool_call_id"):
        if message.get(name) is not None:
            out[name] = message[name]
    return out


def _drawn_seed(completion_id: str) -> int:
    """The seed a stored completion shows when the request set none (the real API shows the one it drew)."""
    return int.from_bytes(hashlib.sha256(completion_id.encode()).digest()[:8], "big") >> 1


def _query(http: HTTPRequest) -> dict[str, str]:
    """The query's parameters (the last of repeated ones); a query left in the path counts too."""
    return dict(parse_qsl(http.query or http.path.partition("?")[2], keep_blank_values=True))


