"""The cassette file: JSON, laid out for reading and diffing, written atomically.

.. code-block:: json

    {
      "mockai_cassette": 1,
      "interactions": [
        {
          "request": {"method": "POST", "path": "/v1/chat/completions", "query": "", "headers": {...}, "body": {...}},
          "response": {
            "status": 200,
            "headers": {"content-type": "text/event-stream; charset=utf-8", ...},
            "elapsed": 0.412,
            "events": [
              {"at": 0.101, "data": {"id": "chatcmpl-…", "object": "chat.completion.chunk", ...}},
              {"at": 0.412, "data": "[DONE]"}
            ]
          }
        }
      ]
    }

A response has ``body`` (parsed JSON), ``text`` (a body that is not JSON) or ``events`` (a stream: each event
with ``at``, its time in seconds from the request, and ``data``, parsed JSON or the raw text such as ``[DONE]``;
an event that is not a plain ``data:`` line is kept whole as ``raw``). ``dropped: true`` means the upstream dropped
the connection: after the events listed, or, without a ``status``, before any response.

Why JSON and not YAML: loading a 10,000-interaction cassette takes about 0.1 s with :mod:`json` and 7.7 s with
PyYAML's C loader on the same machine (``bench/cassettes.py``); JSON needs no extra dependency in any language
that replays it; and with one key per line and one stream event per line it reads and diffs well.

Writes are atomic: the new content goes to a temporary file in the same directory (``.NAME.PID.RANDOM.tmp``),
is flushed to disk and renamed over the cassette (``os.replace``), so a reader sees the old file or the new one,
never half of one, and a process killed mid-write leaves the previous cassette intact. Writers take an exclusive
lock on the cassette's directory and merge with what is on disk, so xdist workers or ``--workers N`` processes
recording into one cassette never lose each other's interactions.

Record mode ``all`` saves with a ``run`` id, written to the file's ``"run"`` field: the first save of a run
(the file's ``run`` differs) drops what was on disk, later saves of the same run (any process: worker processes
of one ``mockai serve`` share its id) add to it. So the file becomes exactly this run's interactions.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.json"
>>> save(path, [{"request": {"method": "POST", "path": "/v1/chat/completions"}, "response": {"status": 200}}])
>>> len(load(path))
1
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

VERSION = 1
EXTENSION = ".json"
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


class CassetteError(ValueError):
    """A cassette that cannot be read or written; the message names the file and the problem."""


def parse(text: str, name: str = "cassette") -> list[dict[str, Any]]:
    """The interactions of a cassette's text."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CassetteError(f"{name}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or "mockai_cassette" not in doc:
        raise CassetteError(f"{name}: not a mockai cassette (no 'mockai_cassette' version field); to convert a "
                            "VCR.py cassette run `mockai cassette import`")
    version = doc["mockai_cassette"]
    if not isinstance(version, int) or version > VERSION:
        raise CassetteError(f"{name}: cassette format version {version!r} is newer than this mockai reads "
                            f"({VERSION}); upgrade mockai")
    interactions = doc.get("interactions")
    if not isinstance(interactions, list) or not all(isinstance(i, dict) for i in interactions):
        raise CassetteError(f"{name}: 'interactions' must be a list of objects")
    for index, inter in enumerate(interactions):
        if not isinstance(inter.get("request"), dict) or not isinstance(inter.get("response"), dict):
            raise CassetteError(f"{name}: interactions[{index}] needs a 'request' and a 'response' object")
    return interactions


def load(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The interactions of the cassette at ``path`` (:class:`CassetteError` if it is not one)."""
    return _read(Path(path))[0]


def _read(p: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The interactions of the cassette at ``p`` and the id of the ``all`` run that last replaced it."""
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CassetteError(f"{p}: cannot read the cassette: {exc.strerror or exc}") from None
    interactions = parse(text, str(p))
    run = json.loads(text).get("run")
    return interactions, run if isinstance(run, str) else None


def dumps(interactions: list[dict[str, Any]], run: str | None = None) -> str:
    """The file's text: two-space indents, one key per line, each stream event on one line."""
    out = ['{\n  "mockai_cassette": ', str(VERSION)]
    if run is not None:
        out += [',\n  "run": ', json.dumps(run)]
    out.append(',\n  "interactions": [')
    for i, inter in enumerate(interactions):
        out.append(",\n    " if i else "\n    ")
        _emit(out, inter, 4)
    out.append("\n  ]\n}\n" if interactions else "]\n}\n")
    return "".join(out)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _emit(out: list[str], value: Any, indent: int, key: str = "") -> None:
    pad = " " * (indent + 2)
    if isinstance(value, dict) and value:
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            out.append(("," if i else "") + "\n" + pad + json.dumps(k, ensure_ascii=False) + ": ")
            _emit(out, v, indent + 2, k)
        out.append("\n" + " " * indent + "}")
    elif isinstance(value, list) and value:
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + "\n" + pad)
            if key == "events":
                out.append(_compact(item))
            else:
                _emit(out, item, indent + 2)
        out.append("\n" + " " * indent + "]")
    else:
        out.append(_compact(value))


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` (``flock`` on the directory itself: no lock file is left behind)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: os.replace stays atomic, concurrent merges may race
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write(f: TextIO, text: str) -> None:
    """Write in pieces (a hook for tests that kill a writer half-way)."""
    for start in range(0, len(text), 1 << 20):
        f.write(text[start : start + (1 << 20)])


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a temporary file in the same directory, fsync, rename."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            _write(f, text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _clean_stale(path: Path) -> None:
    """Remove temporary files that writers killed mid-write left behind (their process is gone)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        m = _TMP.match(tmp.name)
        if m is None or m["name"] != path.name:
            continue
        pid = int(m["pid"])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except OSError:
            pass


def save(path: str | os.PathLike[str], new: list[dict[str, Any]], *, replace: bool = False,
         run: str | None = None) -> None:
    """Add ``new`` interactions to the cassette at ``path`` (creating it and its directory), or, with
    ``replace``, make them its whole content; with ``run`` (record mode ``all``), replace what earlier runs
    left and add to what this run saved. Under the directory lock, so concurrent writers merge."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with locked(p.parent):
        current: list[dict[str, Any]] = []
        stamp: str | None = None
        if (run is not None or not replace) and p.exists():
            current, stamp = _read(p)
        if run is not None:
            if stamp != run:  # the first save of this run: what was on disk when it started goes
                current = []
            stamp = run
        write_atomic(p, dumps(current + new, stamp))
        _clean_stale(p)
