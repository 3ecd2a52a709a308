"""The keys the engine derives from a request: its content key and exact key (digests of the body), the key of its
memos, and the digest its ids come from (with how often the request was seen).

>>> canonical_key({"b": 1, "a": 2}) == canonical_key({"a": 2, "b": 1})
True
>>> b62(bytes(range(8)), 8)
'01234567'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .http import HTTPRequest

_CACHEABLE_BODY = 64 * 1024  # larger bodies are parsed every time (and not digested)


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
    text = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_TABLE = bytes(ord(_ALPHABET[b % 62]) for b in range(256))  # byte -> alphanumeric (ids are hot)
TRANSPORT_FIELDS = frozenset({"stream", "stream_options"})


def b62(digest: bytes, size: int) -> str:
    """``size`` alphanumeric characters from a digest (``size`` <= its length)."""
    return digest[:size].translate(_B62_TABLE).decode("ascii")


def body_key(http: HTTPRequest, salt: str = "") -> bytes | None:
    """The memos' key for a request's path and body: a digest, so no memo holds the bodies themselves; ``None``
    for bodies too big to memoize."""
    if len(http.body) > _CACHEABLE_BODY:
        return None
    digest = hashlib.sha256(http.path.encode())
    digest.update(b"\0" + salt.encode() + b"\0")
    digest.update(http.body)
    return digest.digest()
