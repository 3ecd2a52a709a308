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

Recording does not rewrite the file per interaction (that costs the whole file: about 1 s at 3,000 interactions,
5 MB). :func:`append` adds each new interaction as one JSON line to the **journal** beside the cassette
(``NAME.journal``: opened in append mode under the directory lock, written in one call and fsynced, so an
interaction is on disk as soon as its answer is complete), and :func:`compact` folds the journal into the
cassette with one atomic rewrite, then removes it (:mod:`.writer` runs it off the request path: when the cassette
is quiet, and at exit). Folding in extends the file's own text when the journal only adds to it, so it costs the
new interactions plus one parse of the file (in C, to check it is whole), not a re-emission of it. Every reader
here (:func:`load`, hence replay and the ``mockai cassette`` commands) reads the cassette and its journal together,
under a shared lock, so an interaction is visible from the moment it was appended; a journal left by a killed
process is folded in by the next writer. A line torn by a crash mid-append is skipped (the appender after it
starts on a new line). Before it replaces the cassette, :func:`compact` appends the digest of the new content to
the journal: if it dies after the rename but before removing the journal, the next reader sees that the cassette
already holds the lines before that mark, so nothing is applied twice.

Record mode ``all`` saves with a ``run`` id, written to the file's ``"run"`` field: the first save of a run
(the file's ``run`` differs) drops what was on disk, later saves of the same run (any process: worker processes
of one ``mockai serve`` share its id) add to it. So the file becomes exactly this run's interactions. Journal lines
carry the same ``run`` and are applied by the same rule, in order.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.json"
>>> inter = {"request": {"method": "POST", "path": "/v1/chat/completions"}, "response": {"status": 200}}
>>> save(path, [inter])
>>> append(path, inter)             # one line in demo.json.journal
>>> len(load(path)), compact(path), len(load(path)), journal_path(path).exists()
(2, True, 2, False)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

VERSION = 1
EXTENSION = ".json"
JOURNAL = ".journal"
_TAIL = "\n  ]\n}\n"  # how dumps ends a cassette with interactions
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


class CassetteError(ValueError):
    """A cassette that cannot be read or written; the message names the file and the problem."""


def parse(text: str, name: str = "cassette") -> list[dict[str, Any]]:
    """The interactions of a cassette's text."""
    interactions: list[dict[str, Any]] = _document(text, name)["interactions"]
    return interactions


def _document(text: str, name: str) -> dict[str, Any]:
    """A cassette's text parsed and checked: ``mockai_cassette``, ``interactions`` (and maybe ``run``)."""
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
        res = inter["response"]
        # Every answer is recorded with its body ("body" for JSON, "text" otherwise, "events" for a stream); a
        # connection dropped before any answer has no "status". Without them it would replay as an empty 200.
        if "status" in res and not res.get("dropped") and not any(k in res for k in ("body", "text", "events")):
            raise CassetteError(f"{name}: interactions[{index}].response has a 'status' but no 'body', 'text' or "
                                "'events': give it the answer's body (an empty one is \"text\": \"\")")
    return doc


def load(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The interactions of the cassette at ``path`` and of its journal (:class:`CassetteError` if it is not a
    cassette, or if neither exists)."""
    p = Path(path)
    if not journal_path(p).exists():
        return _read(p)[0]
    with locked(p.parent, shared=True):
        return _current(p)[0]


def exists(path: str | os.PathLike[str]) -> bool:
    """Whether the cassette at ``path`` has any content yet: its file, or a journal not yet folded into it."""
    p = Path(path)
    return p.exists() or journal_path(p).exists()


def journal_path(path: str | os.PathLike[str]) -> Path:
    """Where interactions recorded into the cassette at ``path`` wait to be folded into it: ``NAME.journal``."""
    p = Path(path)
    return p.with_name(p.name + JOURNAL)


def _read(p: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The interactions of the cassette at ``p`` and the id of the ``all`` run that last replaced it."""
    doc = _document(_text(p), str(p))
    run = doc.get("run")
    return doc["interactions"], run if isinstance(run, str) else None


def _text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CassetteError(f"{p}: cannot read the cassette: {exc.strerror or exc}") from None


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
def locked(directory: Path, shared: bool = False) -> Iterator[None]:
    """An exclusive (or ``shared``) lock on ``directory`` (``flock`` on the directory itself: no lock file is left
    behind). Each call opens its own descriptor, so threads of one process exclude each other too."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: os.replace stays atomic, concurrent merges may race
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
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
    left and add to what this run saved. Under the directory lock, so concurrent writers merge; a journal is
    folded in (or, with ``replace``, dropped) by the same atomic write."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with locked(p.parent):
        added = [(inter, run) for inter in new]
        _replace(p, dumps(*_apply([], None, added)) if replace and run is None else _folded(p, added))


def append(path: str | os.PathLike[str], interaction: dict[str, Any], *, run: str | None = None) -> None:
    """Add ``interaction`` to the cassette at ``path`` by appending one line to its journal (see the module
    docstring): the cost of one interaction, whatever the size of the cassette. ``run`` as for :func:`save`."""
    p = Path(path)
    entry: dict[str, Any] = {"interaction": interaction}
    if run is not None:
        entry["run"] = run
    p.parent.mkdir(parents=True, exist_ok=True)
    with locked(p.parent):
        _append_line(journal_path(p), entry)


def compact(path: str | os.PathLike[str]) -> bool:
    """Fold the journal of the cassette at ``path`` into it (one atomic rewrite) and remove the journal;
    ``False`` when there was no journal."""
    p = Path(path)
    if not journal_path(p).exists():
        return False
    with locked(p.parent):
        if not journal_path(p).exists():  # another writer folded it in meanwhile
            return False
        _replace(p, _folded(p))
    return True


def _current(p: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The cassette's interactions and ``run`` with its journal applied; call under the directory lock."""
    current, stamp = _read(p) if p.exists() else ([], None)
    return _apply(current, stamp, _journal(journal_path(p), p))


def _folded(p: Path, added: list[tuple[dict[str, Any], str | None]] | None = None) -> str:
    """The text of the cassette at ``p`` with its journal and ``added`` applied; call under the directory lock.

    When they only add to the file (the usual case: no new ``all`` run) the file's own text is extended, which
    costs the new interactions, not the file (parsing it, in C, checks it is whole); else it is written anew.
    """
    text, doc = "", None
    if p.exists():
        text = _text(p)
        doc = _document(text, str(p))
    current: list[dict[str, Any]] = doc["interactions"] if doc else []
    run = doc.get("run") if doc else None
    stamp = run if isinstance(run, str) else None
    entries = _journal(journal_path(p), p) + (added or [])
    out, new_stamp = _apply(current, stamp, entries)
    if doc and current and len(out) == len(current) + len(entries) and next(reversed(doc)) == "interactions" \
            and text.endswith(_TAIL):  # the last "]" closes the interactions: append before it
        parts = [text[: -len(_TAIL)]]
        for inter in out[len(current):]:
            parts.append(",\n    ")
            _emit(parts, inter, 4)
        parts.append(_TAIL)
        return "".join(parts)
    return dumps(out, new_stamp)


def _apply(current: list[dict[str, Any]], stamp: str | None,
           entries: Iterable[tuple[dict[str, Any], str | None]]) -> tuple[list[dict[str, Any]], str | None]:
    """``current`` with ``(interaction, run)`` entries added in order: an entry of another ``run`` than the
    file's starts the content over (record mode ``all``)."""
    out = list(current)
    for interaction, run in entries:
        if run is not None and run != stamp:
            out, stamp = [], run
        out.append(interaction)
    return out, stamp


def _journal(jp: Path, cassette: Path) -> list[tuple[dict[str, Any], str | None]]:
    """The ``(interaction, run)`` entries of a journal not yet in ``cassette`` (see :func:`compact`'s mark)."""
    try:
        data = jp.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CassetteError(f"{jp}: cannot read the cassette's journal: {exc.strerror or exc}") from None
    entries: list[tuple[dict[str, Any], str | None]] = []
    digest: str | None = None
    for line in data.split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # empty, or torn by a writer that died mid-append
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("compacted"), str):
            if digest is None:
                digest = _digest(cassette)
            if entry["compacted"] == digest:  # the cassette already holds everything before this mark
                entries = []
            continue
        inter, run = entry.get("interaction"), entry.get("run")
        if isinstance(inter, dict) and isinstance(inter.get("request"), dict) and \
                isinstance(inter.get("response"), dict):
            entries.append((inter, run if isinstance(run, str) else None))
    return entries


def _digest(p: Path) -> str:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return ""


def _append_line(jp: Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` as one line; call under the directory lock."""
    data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    fd = os.open(jp, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_size:
            os.lseek(fd, -1, os.SEEK_END)
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data  # the last writer died mid-line: start on a line of our own
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(p: Path, text: str) -> None:
    """Make ``text`` the cassette's content and drop its journal; call under the directory lock."""
    jp = journal_path(p)
    journal = jp.exists()
    if journal:  # mark first: a crash between the rename and the unlink must not apply the journal twice
        _append_line(jp, {"compacted": hashlib.sha256(text.encode()).hexdigest()})
    write_atomic(p, text)
    if journal:
        jp.unlink()
    _clean_stale(p)
