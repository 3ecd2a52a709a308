"""The conversations API: a stored list of items that responses read from and append to.

- ``POST /v1/conversations`` (``metadata``, at most 20 ``items``), ``GET``, ``POST`` (new ``metadata``) and
  ``DELETE /v1/conversations/{id}`` (``{"id", "object": "conversation.deleted", "deleted": true}``);
- ``POST /v1/conversations/{id}/items`` (at most 20 ``items``: answers the list of those added), ``GET`` the same
  path (``after``, ``limit``, ``order``: newest first by default), ``GET`` and ``DELETE
  /v1/conversations/{id}/items/{item_id}`` (a delete answers the conversation).

A response created with ``conversation`` sees the conversation's items before its input, and its input and output
are appended to the conversation afterwards. Conversations are kept like stored responses: bounded, and forgotten
on reset.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from ..core import Core, Route
from ..deferred import built
from ..errors import APIError, from_validation, invalid
from ..http import HTTPRequest, HTTPResponse
from ..journal import Call
from ..state import Store, page
from ..validation import parse_json
from .items import input_items
from .validation import item_not_found
from .wire import CreateResponseRequest, InputItem, ItemReference

MAX_ITEMS_PER_CALL = 20
STORED = 10_000
_ITEMS: TypeAdapter[list[InputItem]] = TypeAdapter(list[InputItem], config=ConfigDict(defer_build=True))


class Conversations:
    """The conversations routes and their store, mounted on a :class:`~mockai.core.Core`."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.store = Store("conversation", max_items=STORED)
        self._count = 0
        self._lock = threading.Lock()
        self.number: Callable[[], int] = self._next  # the conversation counter (mockai.shared: one for all)
        # Finds stored items by id, for ``item_reference`` s (set by the Responses API, which knows them all).
        self.find_items: Callable[[Collection[str]], dict[str, Mapping[str, Any]]] = self._own_items
        core.on_reset.append(self.reset)

    def reset(self) -> None:
        self.store.clear()
        with self._lock:
            self._count = 0

    def _own_items(self, ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        return {str(i["id"]): i for record in self.store.values() for i in record["items"] if i.get("id") in ids}

    def _next(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def routes(self) -> Iterable[Route]:
        yield Route("POST", "/conversations", self.create, "conversations.create")
        yield Route("GET", "/conversations/{id}", self.retrieve, "conversations.retrieve")
        yield Route("POST", "/conversations/{id}", self.update, "conversations.update")
        yield Route("DELETE", "/conversations/{id}", self.delete, "conversations.delete")
        yield Route("POST", "/conversations/{id}/items", self.add_items, "conversations.items.create")
        yield Route("GET", "/conversations/{id}/items", self.list_items, "conversations.items.list")
        yield Route("GET", "/conversations/{id}/items/{item_id}", self.item, "conversations.items.retrieve")
        yield Route("DELETE", "/conversations/{id}/items/{item_id}", self.delete_item, "conversations.items.delete")

    # --- what responses use ----------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> dict[str, Any] | None:
        record = self.store.get(conversation_id)
        return dict(record) if record is not None else None

    def append(self, conversation_id: str, items: list[dict[str, Any]]) -> None:
        record = self.store.get(conversation_id)
        if record is not None:
            self.store.update(conversation_id, {**record, "items": [*record["items"], *items]})

    # --- routes ----------------------------------------------------------------------------------------------

    def create(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        body = _body(http, call)
        metadata = _metadata(body.get("metadata"))
        n = self.number()
        digest = hashlib.sha256(b"conversation|%d|%s|%d" % (self.core.config.seed,
                                                             self.core.config.instance.encode(), n)).hexdigest()
        cid = "conv_" + digest[:48]
        items = self._items(body.get("items"), cid, 0)
        record = {"id": cid, "object": "conversation", "created_at": self.core.config.now(), "metadata": metadata,
                  "items": items}
        self.store.put(cid, record)
        return self.core.json_response(200, _shown(record))

    def retrieve(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        return self.core.json_response(200, _shown(self._record(args["id"])))

    def update(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        record = self._record(args["id"])
        body = _body(http, call)
        if "metadata" not in body:
            raise APIError(400, "Missing required parameter: 'metadata'.", param="metadata",
                           code="missing_required_parameter")
        record = {**record, "metadata": _metadata(body["metadata"])}
        self.store.update(record["id"], record)
        return self.core.json_response(200, _shown(record))

    def delete(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        cid = args["id"]
        if not self.store.delete(cid):
            raise _not_found(cid)
        return self.core.json_response(200, {"id": cid, "object": "conversation.deleted", "deleted": True})

    def add_items(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        record = self._record(args["id"])
        body = _body(http, call)
        if "items" not in body:
            raise APIError(400, "Missing required parameter: 'items'.", param="items",
                           code="missing_required_parameter")
        added = self._items(body["items"], record["id"], len(record["items"]))
        self.append(record["id"], added)
        return self.core.json_response(200, {"object": "list", "data": added,
                                             "first_id": added[0]["id"] if added else None,
                                             "last_id": added[-1]["id"] if added else None, "has_more": False})

    def list_items(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        from urllib.parse import parse_qsl

        record = self._record(args["id"])
        return self.core.json_response(200, page(record["items"], dict(parse_qsl(http.query))))

    def item(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        record = self._record(args["id"])
        found = next((i for i in record["items"] if i.get("id") == args["item_id"]), None)
        if found is None:
            raise APIError(404, f"Item with id '{args['item_id']}' not found.")
        return self.core.json_response(200, found)

    def delete_item(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        record = self._record(args["id"])
        kept = [i for i in record["items"] if i.get("id") != args["item_id"]]
        if len(kept) == len(record["items"]):
            raise APIError(404, f"Item with id '{args['item_id']}' not found.")
        record = {**record, "items": kept}
        self.store.update(record["id"], record)
        return self.core.json_response(200, _shown(record))

    # --- helpers ---------------------------------------------------------------------------------------------

    def _record(self, cid: str) -> dict[str, Any]:
        record = self.store.get(cid)
        if record is None:
            raise _not_found(cid)
        return dict(record)

    def _items(self, raw: Any, cid: str, start: int) -> list[dict[str, Any]]:
        """Items to add, validated as Responses input items and listed with ids."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise invalid(f"Invalid type for 'items': expected an array, but got {type(raw).__name__} instead.",
                          "items", "invalid_type")
        if len(raw) > MAX_ITEMS_PER_CALL:
            raise invalid(f"Invalid 'items': array too long. Expected an array with maximum length "
                          f"{MAX_ITEMS_PER_CALL}, but got an array with length {len(raw)} instead.", "items",
                          "array_above_max_length")
        try:
            _ITEMS.validate_python(raw)
        except ValidationError as exc:
            raise from_validation(exc.errors(include_url=False), {"items": raw}) from None
        request = built(CreateResponseRequest).model_validate({"model": "-", "input": raw})
        wanted = [item.id for item in request.items if isinstance(item, ItemReference)]
        found = self.find_items(set(wanted)) if wanted else {}
        unknown = next((item_id for item_id in wanted if item_id not in found), None)
        if unknown is not None:
            raise item_not_found(unknown)
        return input_items(request, lambda prefix, i: f"{prefix}_" + hashlib.sha256(
            f"{cid}|{start + i}".encode()).hexdigest()[:48], found.get)


def _shown(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "object": "conversation", "created_at": record["created_at"],
            "metadata": record["metadata"]}


def _not_found(cid: str) -> APIError:
    return APIError(404, f"Conversation with id '{cid}' not found.")


def _body(http: HTTPRequest, call: Call) -> dict[str, Any]:
    data = parse_json(http.body) if http.body else {}
    if not isinstance(data, dict):
        raise invalid("Invalid type for request body: expected an object.", None, "invalid_type")
    call.body = data
    return data


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid("Invalid type for 'metadata': expected an object of strings.", "metadata", "invalid_type")
    if len(value) > 16:
        raise invalid(f"Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
                      f"but got an object with {len(value)} properties instead.", "metadata",
                      "object_above_max_properties")
    for key, text in value.items():
        if len(key) > 64 or len(text) > 512:
            raise invalid(f"Invalid 'metadata.{key}': too long (keys up to 64 characters, values up to 512).",
                          f"metadata.{key}", "string_above_max_length")
    return dict(value)
