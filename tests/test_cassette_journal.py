"""The journal beside a recording cassette (mockai.cassettes.store, mockai.cassettes.writer): appends cost one
interaction, every reader sees them, and folding them into the file is atomic, safe against crashes at any point
and against concurrent processes, and happens at exit without being asked."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mockai import MockAI
from mockai.cassettes import Cassette, load, save, store
from mockai.cassettes.store import append, compact, journal_path

MODEL = "gpt-4o-mini"


def inter(text: str) -> dict[str, Any]:
    return {"request": {"method": "POST", "path": "/v1/chat/completions", "query": "", "headers": {},
                        "body": {"model": MODEL, "messages": [{"role": "user", "content": text}]}},
            "response": {"status": 200, "headers": {"content-type": "application/json"}, "elapsed": 0.1,
                         "body": {"id": "chatcmpl-" + text.replace(" ", "-"), "object": "chat.completion", "created": 1,
                                  "model": MODEL, "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                                               "message": {"role": "assistant", "refusal": None,
                                                                           "content": f"Answer to {text}"}}]}}}


def texts(interactions: list[dict[str, Any]]) -> list[str]:
    return [i["request"]["body"]["messages"][0]["content"] for i in interactions]


def in_file(path: Path) -> list[str]:
    return texts(json.loads(path.read_text())["interactions"])


def test_appends_are_read_with_the_file_and_folded_into_it_once(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    save(path, [inter("one")])
    append(path, inter("two"))
    append(path, inter("three"))
    assert in_file(path) == ["one"]
    assert texts(load(path)) == ["one", "two", "three"]
    assert journal_path(path).read_text().count("\n") == 2  # one line each
    assert compact(path) is True
    assert in_file(path) == ["one", "two", "three"]
    assert not journal_path(path).exists()
    assert compact(path) is False  # nothing to fold in: the file is not rewritten
    assert texts(load(path)) == ["one", "two", "three"]


def test_a_journal_without_its_file_is_a_cassette(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    append(path, inter("first"))
    assert not path.exists()
    cassette = Cassette(path, record_mode="once")
    assert cassette.existed  # once: it has content, so it only replays
    assert not cassette.recording
    reply = MockAI(cassette=path).client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "first"}])
    assert reply.choices[0].message.content == "Answer to first"


def test_a_line_torn_by_a_crash_mid_append_is_skipped_and_the_next_append_starts_a_line(tmp_path: Path) -> None:
    path = tmp_path / "torn.json"
    append(path, inter("before"))
    with open(journal_path(path), "ab") as f:
        f.write(b'{"interaction": {"request": {"method": "PO')  # the writer died here
    append(path, inter("after"))
    assert texts(load(path)) == ["before", "after"]
    compact(path)
    assert in_file(path) == ["before", "after"]


def test_a_crash_between_the_rename_and_removing_the_journal_applies_nothing_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "twice.json"
    save(path, [inter("old")])
    append(path, inter("new"))
    real = Path.unlink

    def crash(self: Path, missing_ok: bool = False) -> None:
        if self == journal_path(path):
            raise KeyboardInterrupt("killed after the rename")
        real(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(path)
    monkeypatch.undo()
    assert journal_path(path).exists()
    assert in_file(path) == ["old", "new"]  # the rename happened
    assert texts(load(path)) == ["old", "new"]  # the journal's mark says the file already holds "new"
    append(path, inter("later"))  # appended after the mark: still to fold in
    assert texts(load(path)) == ["old", "new", "later"]
    compact(path)
    assert in_file(path) == ["old", "new", "later"]


def test_a_crash_before_the_rename_leaves_the_old_file_and_the_journal_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "before.json"
    save(path, [inter("old")])
    append(path, inter("new"))
    before = path.read_bytes()

    def crash(p: Path, text: str) -> None:
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(store, "write_atomic", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert texts(load(path)) == ["old", "new"]  # the mark does not match the file: the journal still applies
    compact(path)
    assert in_file(path) == ["old", "new"]


def test_replacing_the_content_drops_the_journal(tmp_path: Path) -> None:
    """`mockai cassette scrub` loads (journal included) and replaces: nothing may come back from the journal."""
    path = tmp_path / "scrubbed.json"
    save(path, [inter("a")])
    append(path, inter("b"))
    save(path, [inter("A"), inter("B")], replace=True)
    assert not journal_path(path).exists()
    assert texts(load(path)) == ["A", "B"]


EXIT_SCRIPT = """
import json, os, sys
from mockai.cassettes import Cassette
cassette = Cassette(sys.argv[1], record_mode="new_episodes")
for interaction in json.loads(sys.argv[3]):
    cassette.add(interaction)
print("recorded", flush=True)
if sys.argv[2] == "wait":
    sys.stdin.read()
os.chdir("/")  # a relative cassette path still means the directory it was recorded in
"""


def _recorder(path: Path, how: str) -> subprocess.Popen[str]:
    interactions = json.dumps([inter(t) for t in ("one", "two", "three")])
    return subprocess.Popen([sys.executable, "-c", EXIT_SCRIPT, path.name, how, interactions], cwd=path.parent,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_process_that_exits_leaves_its_recordings_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "exit.json"
    proc = _recorder(path, "exit")
    out, _ = proc.communicate(timeout=60)
    assert (proc.returncode, out.strip()) == (0, "recorded")
    assert not journal_path(path).exists()
    assert in_file(path) == ["one", "two", "three"]


def test_a_killed_recorder_loses_nothing_and_the_next_writer_folds_its_journal_in(tmp_path: Path) -> None:
    path = tmp_path / "killed.json"
    proc = _recorder(path, "wait")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "recorded"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    assert not path.exists()
    assert texts(load(path)) == ["one", "two", "three"]  # every answered interaction is on disk
    replay = MockAI(cassette=path).client()
    assert replay.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "two"}]) \
        .choices[0].message.content == "Answer to two"
    Cassette(path, record_mode="new_episodes").flush()
    assert in_file(path) == ["one", "two", "three"]
    assert not journal_path(path).exists()


def _add(path: str, worker: int, count: int) -> None:
    cassette = Cassette(path, record_mode="new_episodes")
    for i in range(count):
        cassette.add(inter(f"worker {worker} request {i}"))


def _fold(path: str, rounds: int) -> None:
    for _ in range(rounds):
        compact(path)


def test_processes_appending_while_others_fold_in_lose_and_repeat_nothing(tmp_path: Path) -> None:
    path = tmp_path / "busy.json"
    ctx = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    procs = [ctx.Process(target=_add, args=(str(path), w, 20)) for w in range(3)]
    procs += [ctx.Process(target=_fold, args=(str(path), 40)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    expected = sorted(f"worker {w} request {i}" for w in range(3) for i in range(20))
    assert sorted(texts(load(path))) == expected
    assert not journal_path(path).exists()  # the recording processes folded it in as they exited
    assert sorted(in_file(path)) == expected
    for w in range(3):  # each process's interactions stay in the order it recorded them
        mine = [t for t in in_file(path) if t.startswith(f"worker {w} ")]
        assert mine == [f"worker {w} request {i}" for i in range(20)]
    assert not list(tmp_path.glob("*.tmp"))


def test_folding_in_extends_the_files_text_and_emits_only_the_new_interactions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.json"
    save(path, [inter(f"old {i}") for i in range(300)])
    append(path, inter("new 1"))
    append(path, inter("new 2"))
    emitted: list[Any] = []
    real = store._emit

    def counting(out: list[str], value: Any, indent: int, key: str = "") -> None:
        if indent == 4:  # an interaction
            emitted.append(value)
        real(out, value, indent, key)

    monkeypatch.setattr(store, "_emit", counting)
    compact(path)
    assert texts(emitted) == ["new 1", "new 2"]
    monkeypatch.undo()
    assert path.read_text() == store.dumps(load(path))  # the same layout as a whole rewrite


@pytest.mark.parametrize("layout", ["hand-formatted", "new run"])
def test_folding_in_writes_the_file_anew_when_it_cannot_extend_it(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "anew.json"
    if layout == "hand-formatted":
        path.write_text(json.dumps({"mockai_cassette": 1, "interactions": [inter("old")]}, indent=4))
        append(path, inter("new"))
        expected, run = ["old", "new"], None
    else:  # record mode all: a new run replaces what the file held
        save(path, [inter("old")], run="run-1")
        append(path, inter("new"), run="run-2")
        expected, run = ["new"], "run-2"
    compact(path)
    assert in_file(path) == expected
    assert path.read_text() == store.dumps(load(path), run)
