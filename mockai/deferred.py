"""Request models whose validators are built on first use (pydantic's ``defer_build``), built once.

Building every model's validator at import cost `mockai serve` about 80 ms of its start-up, though a request needs
one validator (a chat request's model, with its nested models inside it). pydantic builds a deferred model when it
is first used, but not safely from several threads at once in every version it supports (a race can validate with
the parent class's validator: false errors), and the doors do answer from several threads (the socket door's
worker threads, tests that call the in-process door from a pool). So each surface validates through
:func:`built`, which builds its model under one lock, once.

>>> from mockai.wire import ChatCompletionRequest
>>> built(ChatCompletionRequest).__pydantic_complete__
True
"""

from __future__ import annotations

import threading
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=type[BaseModel])
_BUILDING = threading.Lock()


def built(model: M) -> M:
    """``model``, its validator built (once, under a lock, when it is not yet)."""
    if not model.__pydantic_complete__:
        with _BUILDING:
            if not model.__pydantic_complete__:
                model.model_rebuild()
    return model
