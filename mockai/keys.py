"""The keys the engine derives from a request: its content key and exact key (digests of the body), the key of its
memos, and the digest its ids come from (with how often the request was seen).

>>> canonical_key({"b": 1, "a": 2}) == canonical_key({"a": 2, "b": 1})
True
>>> b62(bytes(range(8)), 8)
'01234567'
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .http import HTTPRequest, sorted_dumps

CACHEABLE_BODY = 64 * 1024  # larger bodies are parsed every time (and not digested)


@dataclass(frozen=True)
class Ids:
    """Where a reply's ids come from: ``digest`` (this call: the request and how often it was seen) and the
    transport key with its occurrence (what a request's stream and non-stream forms share)."""

    digest: bytes
    transport: bytes
    occurrence: int
    epoch: int


def canonical_key(body: Mapping[str, Any], drop: frozenset[str] = frozenset()) -> bytes:
    """A digest of the request without the fields in ``drop``."""
    kept = {k: v for k, v in body.items() if k not in drop}
    return hashlib.sha256(sorted_dumps(kept)).digest()


def canonical_keys(body: Mapping[str, Any], drop: frozenset[str]) -> tuple[bytes, bytes]:
    """``(canonical_key(body, drop), canonical_key(body))``, the body written once where it can be.

    Sorted JSON of an object is its members in key order, so when every dropped field sorts after every kept
    one (``stream`` after ``messages`` and ``model``), the whole body's text is the kept fields' text with the
    dropped fields' text spliced in before the closing brace: the messages are not written twice.

    >>> body = {"model": "m", "messages": [], "stream": True}
    >>> canonical_keys(body, frozenset({"stream"})) == (canonical_key(body, frozenset({"stream"})), canonical_key(body))
    True
    """
    kept = {k: v for k, v in body.items() if k not in drop}
    if len(kept) == len(body):
        key = hashlib.sha256(sorted_dumps(kept)).digest()
        return key, key
    text = sorted_dumps(kept)
    if len(body) == len(kept) + 1 and "stream" in drop and body.get("stream") is True and kept and max(kept) < "stream":
        whole = text[:-1] + b',"stream":true}'  # the usual stream request: only ``stream: true`` dropped
    elif kept and max(kept) < min(k for k in body if k in drop):
        rest = sorted_dumps({k: v for k, v in body.items() if k in drop})
        whole = text[:-1] + b"," + rest[1:]
    else:
        whole = sorted_dumps(body)
    return hashlib.sha256(text).digest(), hashlib.sha256(whole).digest()


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_TABLE = bytes(ord(_ALPHABET[b % 62]) for b in range(256))  # byte -> alphanumeric (ids are hot)
TRANSPORT_FIELDS = frozenset({"stream", "stream_options"})


def b62(digest: bytes, size: int) -> str:
    """``size`` alphanumeric characters from a digest (``size`` <= its length)."""
    return digest[:size].translate(_B62_TABLE).decode("ascii")


def body_key(http: HTTPRequest, salt: str = "") -> bytes | None:
    """The memos' key for a request's path and body: a digest, so no memo holds the bodies themselves; ``None``
    for bodies too big to memoize."""
    if len(http.body) > CACHEABLE_BODY:
        return None
    digest = hashlib.sha256(http.path.encode())
    digest.update(b"\0" + salt.encode() + b"\0")
    digest.update(http.body)
    return digest.digest()


class Occurrences:
    """How often each key was seen, for at most ``limit`` distinct keys: when the counts fill up they start over
    in a new epoch (which callers mix into what they derive, so nothing repeats), so memory stays bounded. Keys
    are digests, kept as their first 16 bytes (about 150 bytes an entry with the dict's own).

    >>> seen = Occurrences(limit=2)
    >>> [seen.next(b"a" * 32), seen.next(b"a" * 32), seen.next(b"b" * 32), seen.next(b"c" * 32)]
    [(0, 0), (1, 0), (0, 0), (0, 1)]
    """

    def __init__(self, limit: int = 65_536) -> None:
        self.limit = limit
        self.epoch = 0
        self._counts: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def next(self, key: bytes, salt: bytes = b"") -> tuple[int, int]:
        """The occurrence of ``key`` (how often it was seen before, from 0) and the epoch of that count."""
        short = key[:16] + salt
        with self._lock:
            counts = self._counts
            if len(counts) >= self.limit and short not in counts:
                counts.clear()
                self.epoch += 1
            n = counts.get(short, 0)
            counts[short] = n + 1
            return n, self.epoch

    def clear(self) -> None:
        """Forget every count; the epoch starts over too."""
        with self._lock:
            self._counts.clear()
            self.epoch = 0

    def __len__(self) -> int:
        return len(self._counts)
