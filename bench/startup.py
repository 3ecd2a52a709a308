"""`mockai serve` start-up, this checkout against another revision, run alternately in one script (issue 12).

    python bench/startup.py [REV] [--runs 10] [--scenario] [--log-level info]

Spawn to first answer: the time from starting `mockai serve --port 0` to the first 200 of a chat completion, for
the working tree and for ``REV`` (default ``HEAD~1``; a git worktree in a temporary folder), alternating which
goes first. Both run on this interpreter, with its installed packages: only mockai's own code differs. Bytecode is
compiled for both trees before timing (as `pip install` does; a first start that compiles would measure the
compiler), the reply is generated with the approximate token count the README install uses, and with
``--scenario`` it is scripted by a one-rule scenario file, as `bench/load.py` scripts it. The server logs at
``warning``, as `bench/load.py` runs it; ``--log-level info`` starts it as the README does (with its request log).
Prints each run, the medians and their ratio. For the ratio to bare Starlette and aimock, run `bench/load.py
--phases startup`.
"""

from __future__ import annotations

import argparse
import compileall
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}


def first_answer(tree: Path, scenario: Path | None, log_level: str = "warning") -> float:
    """Seconds from spawning `mockai serve` from ``tree`` to its first 200."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from mockai.cli import main; main()"
    args = ["serve", "--port", "0", "--log-level", log_level, *(["--scenario", str(scenario)] if scenario else [])]
    env = dict(os.environ, MOCKAI_TOKENIZER="approx")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
    try:
        assert proc.stdout is not None
        found = None
        for _ in range(20):  # the address is announced first; at info a log line may come before it
            found = re.search(rb":(\d+)/v1", proc.stdout.readline())
            if found is not None:
                break
        if found is None:
            raise SystemExit(f"{tree}: mockai serve did not announce its address")
        deadline = start + 60
        while True:
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"{tree}: mockai serve exited or did not answer within 60 s")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", int(found.group(1)), timeout=10)
                conn.request("POST", "/v1/chat/completions", BODY, HEADERS)
                res = conn.getresponse()
                res.read()
                if res.status == 200:
                    return time.perf_counter() - start
                raise SystemExit(f"{tree}: the first answer was {res.status}")
            except ConnectionError:
                time.sleep(0.002)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", nargs="?", default="HEAD~1", help="the revision to compare with (HEAD~1)")
    parser.add_argument("--runs", type=int, default=10, help="measured starts of each (10)")
    parser.add_argument("--scenario", action="store_true", help="script the reply with a scenario file")
    parser.add_argument("--log-level", default="warning", help="the servers' --log-level (warning; the README's: info)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mockai-startup-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.rev], check=True)
        try:
            scenario = None
            if args.scenario:
                scenario = Path(tmp) / "scenario.json"
                scenario.write_text(json.dumps({"version": 1, "rules": [
                    {"name": "bench", "match": {}, "reply": "Lighthouses guide ships past rocky coasts at night."}]}))
            trees = {"this checkout": ROOT, args.rev: base}
            for tree in trees.values():
                compileall.compile_dir(tree / "mockai", quiet=1)
                first_answer(tree, scenario, args.log_level)  # unmeasured: the file cache warm for both
            times: dict[str, list[float]] = {name: [] for name in trees}
            for run in range(args.runs):
                for name, tree in list(trees.items())[:: 1 if run % 2 == 0 else -1]:
                    times[name].append(first_answer(tree, scenario, args.log_level))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:>14}: median {medians[name] * 1000:4.0f} ms  ({' '.join(f'{v * 1000:.0f}' for v in t)})")
    print(f"ratio this checkout / {args.rev}: {medians['this checkout'] / medians[args.rev]:.2f}")


if __name__ == "__main__":
    main()
