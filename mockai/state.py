"""Stored objects: responses, conversations and stored chat completions, kept by id and bounded.

A :class:`Store` maps ids to JSON-serializable records (plain dicts and lists), in insertion order, and keeps at
most ``max_items`` of them and about ``max_bytes`` of their JSON: when either bound is passed the oldest records
are dropped first (reading a record does not refresh it, as with the real API's retention the oldest go first).
Records are JSON values so that a store shared between processes (a file or a server) can hold them as they are.

>>> store = Store("response", max_items=2)
>>> store.put("resp_1", {"n": 1}); store.put("resp_2", {"n": 2}); store.put("resp_3", {"n": 3})
>>> store.get("resp_1") is None, store.get("resp_3")
(True, {'n': 3})
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .errors import invalid

MiB = 1024 * 1024
DEFAULT_ITEMS = 10_000
DEFAULT_BYTES = 64 * MiB


def size_of(record: Any) -> int:
    """The size a record is counted at: the length of its compact JSON."""
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")))


class Store:
    """Records by id, oldest dropped first past ``max_items`` records or ``max_bytes`` bytes; thread-safe.

    ``kind`` names what is stored (``response``, ``conversation``, ``chat.completion``) in messages.
    """

    def __init__(self, kind: str, *, max_items: int = DEFAULT_ITEMS, max_bytes: int = DEFAULT_BYTES) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("a store keeps at least one record and one byte")
        self.kind = kind
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.bytes = 0
        self._records: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def get(self, key: str) -> Any | None:
        entry = self._records.get(key)
        return None if entry is None else entry[0]

    def put(self, key: str, record: Any, size: int | None = None) -> None:
        """Keep ``record`` under ``key`` (replacing one kept there), then drop the oldest past the bounds.

        A record larger than ``max_bytes`` on its own is still kept (alone): a store never refuses the newest.
        """
        size = size_of(record) if size is None else size
        with self._lock:
            old = self._records.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._records[key] = (record, size)
            self.bytes += size
            while len(self._records) > 1 and (len(self._records) > self.max_items or self.bytes > self.max_bytes):
                _, (_, dropped) = self._records.popitem(last=False)
                self.bytes -= dropped

    def update(self, key: str, record: Any) -> bool:
        """Replace a kept record in place (its age unchanged); ``False`` when there is none."""
        size = size_of(record)
        with self._lock:
            old = self._records.get(key)
            if old is None:
                return False
            self._records[key] = (record, size)
            self.bytes += size - old[1]
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            old = self._records.pop(key, None)
            if old is None:
                return False
            self.bytes -= old[1]
            return True

    def values(self) -> Iterator[Any]:
        """The records, oldest first (a snapshot: safe while others write)."""
        with self._lock:
            records = [record for record, _ in self._records.values()]
        return iter(records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.bytes = 0


def page(items: Sequence[dict[str, Any]], query: Mapping[str, str], default_order: str = "desc",
         max_limit: int | None = 100) -> dict[str, Any]:
    """A cursor page of ``items`` (oldest first) as the list endpoints answer it: ``order`` (``asc`` or
    ``desc``: ``default_order`` when not given), ``after``/``before`` an item id, ``limit`` items (20 by default;
    at least 1, at most ``max_limit`` when there is one). An empty page has ``first_id``/``last_id`` null, as the
    real API's lists send.

    >>> items = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    >>> page(items, {"limit": "2", "order": "asc"})["data"], page(items, {"after": "b", "order": "asc"})["data"]
    ([{'id': 'a'}, {'id': 'b'}], [{'id': 'c'}])
    >>> page(items, {"limit": "1"})
    {'object': 'list', 'data': [{'id': 'c'}], 'first_id': 'c', 'last_id': 'c', 'has_more': True}
    """
    order = query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise invalid(f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", "order")
    limit = _limit(query.get("limit"), max_limit)
    ordered = list(items) if order == "asc" else list(items)[::-1]
    ids = [str(item.get("id")) for item in ordered]
    start, stop = 0, len(ordered)
    for name in ("after", "before"):
        if name in query:
            if query[name] not in ids:
                raise invalid(f"Invalid '{name}': no item with id '{query[name]}' (deleted, or never listed here).",
                              name)
            if name == "after":
                start = ids.index(query[name]) + 1
            else:
                stop = ids.index(query[name])
    window = ordered[start:stop]
    data = window[:limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(window) > limit}


def _limit(raw: str | None, most: int | None) -> int:
    if raw is None:
        return 20 if most is None else min(20, most)
    try:
        limit = int(raw)
    except ValueError:
        raise invalid(f"Invalid 'limit': expected an integer, but got '{raw}' instead.", "limit",
                      "invalid_type") from None
    if limit < 1:
        raise invalid(f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} "
                      "instead.", "limit", "integer_below_min_value")
    if most is not None and limit > most:
        raise invalid(f"Invalid 'limit': integer above maximum value. Expected a value <= {most}, but got {limit} "
                      "instead.", "limit", "integer_above_max_value")
    return limit
