"""Cassettes: record real OpenAI traffic once, replay it forever, offline.

A cassette is a JSON file of interactions (request, then response: a JSON body, or a stream's events with their
timing), of chat completions and of the Responses API alike. Recording proxies each request to an upstream
(``https://api.openai.com/v1`` by default, or any OpenAI-compatible base URL) with the caller's credentials,
passes the answer through as it arrives, scrubs secrets and appends it to the cassette's journal, folded into the
file atomically off the request path. While recording, the upstream judges requests: what mockai would reject is
forwarded and its answer recorded (so is a follow-up about a response only the upstream stores: retrieving it,
continuing it with ``previous_response_id``). Replay is one more responder in the engine's chain, so the
in-process door and the socket door replay alike.

>>> from mockai import MockAI
>>> mock = MockAI(cassette=example("stream"))       # record_mode="none": replay only
>>> client = mock.client()
>>> reply = client.chat.completions.create(model="gpt-4o-mini", messages=[
...     {"role": "user", "content": "Count to five."}])                # recorded as a stream, asked without
>>> reply.choices[0].message.content
'One, two, three, four, five.'

Modules: :mod:`.store` (the file format, the journal, atomic writes), :mod:`.writer` (when the journal is folded
in), :mod:`.matching` (matchers and keys), :mod:`.scrub` (secrets), :mod:`.proxy` (recording), :mod:`.replay`
(responses, stream <-> JSON, timing), :mod:`.cassette` (the responder and record modes), :mod:`.tools`
(transcript, VCR.py import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cassette import RECORD_MODES, Cassette
    from .matching import CassetteRequest, Matcher
    from .proxy import DEFAULT_UPSTREAM
    from .scrub import REDACTED, SECRET_HEADERS, Scrubber
    from .store import EXTENSION, VERSION, CassetteError, dumps, load, save
    from .tools import import_vcr, transcript

# Each name from its module on first use: importing one module of the package (the request log's scrubber, say)
# must not import the others (the recorder and httpx: ~85 ms of a server's start-up).
_LATER = {
    "RECORD_MODES": "cassette", "Cassette": "cassette", "CassetteRequest": "matching", "Matcher": "matching",
    "DEFAULT_UPSTREAM": "proxy", "REDACTED": "scrub", "SECRET_HEADERS": "scrub", "Scrubber": "scrub",
    "EXTENSION": "store", "VERSION": "store", "CassetteError": "store", "dumps": "store", "load": "store",
    "save": "store", "import_vcr": "tools", "transcript": "tools",
}


if not TYPE_CHECKING:  # (type checkers read the imports above, and so still refuse a misspelled name)
    from ..lazy import on_first_use as _on_first_use

    __getattr__, __dir__ = _on_first_use(globals(), _LATER)


def example(name: str) -> Path:
    """The path of an example cassette shipped with mockai: ``tool_use``, ``stream``, ``structured_output``,
    ``error`` (chat completions) or ``responses`` (the Responses API: a stream, a function call and its follow-up
    with ``previous_response_id``) (``fixtures/cassettes/`` in a checkout, ``mockai/_fixtures/cassettes/`` in a
    wheel).

    >>> example("stream").name
    'stream.json'
    """
    from .store import EXTENSION

    here = Path(__file__).resolve().parent.parent
    for base in (here / "_fixtures" / "cassettes", here.parent / "fixtures" / "cassettes"):
        path = base / f"{name}{EXTENSION}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no example cassette named {name!r} (try tool_use, stream, structured_output, error, "
                            "responses)")

__all__ = [
    "DEFAULT_UPSTREAM",
    "EXTENSION",
    "RECORD_MODES",
    "REDACTED",
    "SECRET_HEADERS",
    "VERSION",
    "Cassette",
    "CassetteError",
    "CassetteRequest",
    "Matcher",
    "Scrubber",
    "dumps",
    "example",
    "import_vcr",
    "load",
    "save",
    "transcript",
]
