"""The model catalogue: what ``GET /v1/models`` lists and which snapshot a model alias answers as.

>>> snapshot("gpt-4o-mini")
'gpt-4o-mini-2024-07-18'
>>> model_object("gpt-4o-mini")["owned_by"]
'system'
"""

from __future__ import annotations

from typing import Any

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "o3",
    "o3-mini",
    "o4-mini",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
)

# The real API answers an alias with the dated snapshot it points to.
SNAPSHOTS: dict[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}

_CREATED = 1_700_000_000


def snapshot(model: str) -> str:
    return SNAPSHOTS.get(model, model)


def model_object(model: str) -> dict[str, Any]:
    """The ``model`` object the real API lists; ``created`` is fixed so listings are byte-stable."""
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "system"}
