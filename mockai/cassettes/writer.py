"""Write-behind: when the journal of a recording cassette is folded into its file.

The request path only appends to the journal (:func:`~mockai.cassettes.store.append`). The cassette file itself
is rewritten (:func:`~mockai.cassettes.store.compact`) by one background thread per process, once the cassette has
seen no request for :data:`IDLE` seconds (replayed or recorded: a replay-heavy run is not slowed by rewrites
while it runs), and at the latest when the process exits (``atexit``, and ``multiprocessing``'s exit for worker
processes, which skip ``atexit``); :meth:`Cassette.flush <mockai.cassettes.Cassette.flush>` does it at once. A
process killed before then leaves the journal, which every reader reads and the next writer folds in.

>>> import tempfile, pathlib
>>> from mockai.cassettes.store import append
>>> path = pathlib.Path(tempfile.mkdtemp()) / "later.json"
>>> append(path, {"request": {"method": "POST", "path": "/v1/chat/completions"}, "response": {"status": 200}})
>>> WRITER.pending(path)            # folded in after IDLE quiet seconds, or now:
>>> WRITER.flush(path), path.exists()
(True, True)
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from pathlib import Path

from .store import CassetteError, compact, journal_path

IDLE = 1.0  # seconds without a request to a cassette before its journal is folded into the file


class Writer:
    """The process's write-behind: cassettes with a journal to fold in, and when."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (a forked child starts over with no thread and no journals of its own)."""
        self._cond = threading.Condition()
        self._due: dict[Path, float] = {}  # path -> when to fold its journal in (pushed back by each request)
        self._touched: set[Path] = set()  # every cassette this process appended to: folded in at exit
        self._thread: threading.Thread | None = None
        self._exit_hooked = False

    def pending(self, path: Path) -> None:
        """``path`` has a new journal line: fold it in once the cassette has been quiet for :data:`IDLE`."""
        with self._cond:
            self._due[path] = time.monotonic() + IDLE
            self._touched.add(path)
            if not self._exit_hooked:
                self._exit_hooked = True
                atexit.register(self.close)
                import multiprocessing.util

                multiprocessing.util.Finalize(None, self.close, exitpriority=10)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mockai-cassette-writer", daemon=True)
                self._thread.start()
            self._cond.notify()

    def postpone(self, path: Path) -> None:
        """A request reached ``path``'s cassette: wait :data:`IDLE` more seconds before rewriting its file."""
        if path in self._due:
            with self._cond:
                if path in self._due:
                    self._due[path] = time.monotonic() + IDLE

    def flush(self, path: Path) -> bool:
        """Fold ``path``'s journal in now; ``False`` when there was nothing to fold in."""
        with self._cond:
            self._due.pop(path, None)
        return compact(path)

    def close(self) -> None:
        """Fold in every journal this process wrote (at exit); report failures instead of raising them."""
        with self._cond:
            paths = sorted(self._touched)
            self._due.clear()
        for path in paths:
            fold(path)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    due = min(self._due.items(), key=lambda item: item[1], default=None)
                    if due is not None and due[1] <= now:
                        del self._due[due[0]]
                        break
                    self._cond.wait(None if due is None else due[1] - now)
            fold(due[0])


def fold(path: str | os.PathLike[str]) -> None:
    """Fold the journal of the cassette at ``path`` into it, reporting a failure on stderr instead of raising it
    (at exit, or in the background: the journal then stays, every reader reads it and the next writer folds it)."""
    try:
        compact(path)
    except (OSError, CassetteError) as exc:
        print(f"mockai: could not write the cassette {path} (its recordings stay in {journal_path(path)}, which "
              f"mockai reads): {exc}", file=sys.stderr)


WRITER = Writer()


# A forked child has no writer thread (and maybe a lock held by a parent thread), and its parent's journals are not
# its own: start over. Exit hooks are registered again (a second close finds nothing left to fold in).
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=WRITER.reset)
