"""Memos bounded by bytes: what the engine remembers of requests it has answered (parsed bodies, keys, replies,
their serialized choices) so that load tests and retries cost less, in memory that stays bounded however large
or varied the requests are.

A :class:`Memo` holds values under digests (never the request bodies themselves), each with an estimate of the
bytes it keeps alive; when the next value would overflow its budget it empties and starts again. That keeps
every lookup and insertion O(1) with no bookkeeping per hit, and a load of ever-new bodies (every real load
test) costs at most the budget.

>>> memo = Memo[str](budget=100, largest=100)
>>> memo.put(b"k1", "one", size=60)
>>> memo.get(b"k1")
'one'
>>> memo.put(b"k2", "two", size=60)  # 120 > 100: the memo empties first
>>> memo.get(b"k1") is None, memo.get(b"k2"), memo.size
(True, 'two', 60)
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """A dict from digests to values, holding at most ``budget`` bytes by the sizes given to :meth:`put`.

    A value larger than ``largest`` (a quarter of the budget by default) is not kept: it would empty the memo for
    one entry.
    """

    def __init__(self, budget: int, largest: int | None = None) -> None:
        self.budget = budget
        self.largest = budget // 4 if largest is None else min(largest, budget)
        self.size = 0  # estimated bytes held
        self._data: dict[bytes, V] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> V | None:
        return self._data.get(key)

    def put(self, key: bytes, value: V, size: int) -> None:
        if size > self.largest:
            return
        with self._lock:
            if key in self._data:
                return
            if self.size + size > self.budget:
                self._data.clear()
                self.size = 0
            self._data[key] = value
            self.size += size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"Memo({len(self._data)} entries, {self.size} of {self.budget} bytes)"
