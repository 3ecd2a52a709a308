"""The inspector: a live page at ``/_mockai/`` on ``mockai serve`` (and any socket-door server with the control
API on), showing the journal as it grows, each call's request and reply, a stream's events on a timeline,
faults and errors, with filters; and the loaded rules, queue and cassette.

Plain HTML, CSS and JavaScript shipped in this package (no build step, nothing fetched from elsewhere: it works
offline), served by the control API with its protection (:mod:`mockai.control`):

=============================  ==================================================================
``GET /_mockai/``              the page
``GET /_mockai/inspector/F``   its files (``inspector.css``, ``inspector.js``)
``GET /_mockai/events``        the live feed of calls, server-sent events (:mod:`.feed`)
``GET /_mockai/state``         rules, queue, unused scripted replies, configuration, cassette
=============================  ==================================================================

>>> page("index.html")[0]
'text/html; charset=utf-8'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .feed import Feed
from .view import call_view, state_view

__all__ = ["ASSETS", "Feed", "call_view", "page", "state_view"]

HERE = Path(__file__).resolve().parent
ASSETS = {"index.html": "text/html; charset=utf-8", "inspector.css": "text/css; charset=utf-8",
          "inspector.js": "text/javascript; charset=utf-8"}


@cache
def page(name: str) -> tuple[str, bytes]:
    """``(content type, bytes)`` of one of the page's files; ``KeyError`` for any other name."""
    kind = ASSETS[name]
    return kind, (HERE / name).read_bytes()
