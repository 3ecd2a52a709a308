"""Plugin start-up benchmark (issue 3, point 8, first part): what the installed `pytest_mockai` plugin costs a
pytest run that does not use it.

    /work/venv/bin/python bench/plugin_startup.py [--runs 15] [--no-check]

Runs `python -m pytest -q -p no:cacheprovider TMP` on a temporary directory holding one trivial test, alternating
with the same command plus `-p no:mockai` (the plugin's entry point name), and reports the median wall time of
each, their difference, and the median difference of the children's CPU time (user + sys, from wait4), which is
less noisy. Target: under 20 ms difference. Then, as a sanity check, it lists what importing `pytest_mockai`
after pytest adds to `sys.modules`, flags heavy modules (starlette, faker, hypothesis, pydantic, httpx, openai,
uvicorn, mockai, ...), confirms that a whole pytest session with the plugin leaves them unimported, and shows
the top entries of `python -X importtime -c "import pytest_mockai"`.

Exit status: 0 when the target is met and nothing heavy is imported (or with --no-check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
TARGET_MS = 20.0
HEAVY = ("starlette", "faker", "hypothesis", "pydantic", "httpx", "openai", "uvicorn", "mockai", "respx", "yaml",
         "tiktoken", "anyio", "click")
TEST_FILE = "def test_nothing():\n    assert True\n"
# A conftest-free probe: the test itself reports which heavy modules the session imported.
PROBE_FILE = f"""import sys, json
HEAVY = {HEAVY!r}

def test_probe():
    loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set(HEAVY))
    with open({{path!r}}, "w") as fh:
        json.dump(loaded, fh)
"""


def run_timed(cmd: list[str], cwd: Path, timeout: float = 60.0) -> tuple[float, float, int, str]:
    """(wall seconds, child CPU seconds, exit code, output) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=clean_env())
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.0005)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode, out


PYCACHE: str | None = None  # set in main(): a private bytecode cache, so runs are warm but nothing is written
#                             into the checkout or the venv


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    if PYCACHE is not None:
        # Like a developer's machine: compiled (and assertion-rewritten) modules are cached between runs. Without
        # this, PYTHONDONTWRITEBYTECODE=1 makes pytest re-parse and rewrite every plugin module on every run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def heavy_in(modules: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pytest start-up with the mockai plugin vs -p no:mockai.")
    parser.add_argument("--runs", type=int, default=15, help="pytest runs per side (default 15)")
    parser.add_argument("--no-check", action="store_true", help="only report; exit 0 even if a target is missed")
    parser.add_argument("--cold-bytecode", action="store_true",
                        help="keep the environment's bytecode setting (e.g. PYTHONDONTWRITEBYTECODE=1: every "
                             "module compiled and assertion-rewritten on every run) instead of a warm private cache")
    args = parser.parse_args(argv)
    problems: list[str] = []
    global PYCACHE

    with tempfile.TemporaryDirectory(prefix="mockai-plugin-bench-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        if not args.cold_bytecode:
            PYCACHE = str(Path(tmp) / "pycache")
        (root / "pytest.ini").write_text("[pytest]\n")  # own rootdir: no project settings leak in
        (root / "test_trivial.py").write_text(TEST_FILE)
        base = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)]
        sides = {"with plugin": base, "-p no:mockai": [*base[:3], "-p", "no:mockai", *base[3:]]}

        for name, cmd in sides.items():  # warm the page cache, and check both commands pass
            _, _, code, out = run_timed(cmd, root)
            if code != 0:
                print(f"pytest failed ({name}), exit {code}:\n{out[-2000:]}")
                return 1
        wall: dict[str, list[float]] = {k: [] for k in sides}
        cpu: dict[str, list[float]] = {k: [] for k in sides}
        for r in range(args.runs):
            for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                w, c, code, out = run_timed(sides[name], root)
                if code != 0:
                    print(f"pytest failed ({name}), exit {code}:\n{out[-2000:]}")
                    return 1
                wall[name].append(w)
                cpu[name].append(c)

        med = statistics.median
        w_on, w_off = med(wall["with plugin"]), med(wall["-p no:mockai"])
        pair_wall = med(a - b for a, b in zip(wall["with plugin"], wall["-p no:mockai"], strict=False))
        pair_cpu = med(a - b for a, b in zip(cpu["with plugin"], cpu["-p no:mockai"], strict=False))

        # What does a session with the plugin import? (the probe test writes sys.modules' heavy entries)
        probe_out = root / "probe.json"
        (root / "test_trivial.py").unlink()
        (root / "test_probe.py").write_text(PROBE_FILE.replace("{path!r}", repr(str(probe_out))))
        session_heavy: dict[str, list[str]] = {}
        for name, cmd in sides.items():
            _, _, code, out = run_timed(cmd, root)
            session_heavy[name] = json.loads(probe_out.read_text()) if code == 0 and probe_out.exists() else ["?"]
            if code != 0:
                print(f"probe session failed ({name}):\n{out[-1500:]}")
        added_by_plugin = sorted(set(session_heavy["with plugin"]) - set(session_heavy["-p no:mockai"]))

        bytecode = ("cold: " + ("PYTHONDONTWRITEBYTECODE=1" if os.environ.get("PYTHONDONTWRITEBYTECODE") else
                                "environment's setting") if args.cold_bytecode else
                    "warm private cache (PYTHONPYCACHEPREFIX)")

        # What does `import pytest_mockai` add on top of pytest?
        probe = ("import sys, json; import pytest; before = set(sys.modules); import pytest_mockai; "
                 "print(json.dumps(sorted(set(sys.modules) - before)))")
        res = subprocess.run([PY, "-c", probe], capture_output=True, text=True, timeout=60, env=clean_env())
        added = json.loads(res.stdout) if res.returncode == 0 else []
        if res.returncode != 0:
            problems.append("import pytest_mockai failed")
            print(res.stderr[-1500:])

        # -X importtime: cumulative microseconds per module imported by `import pytest_mockai`.
        res = subprocess.run([PY, "-X", "importtime", "-c", "import pytest_mockai"], capture_output=True, text=True,
                             timeout=60, env=clean_env())
        entries = []
        for line in res.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "cumulative" not in line:
                _, cumulative, name = (p.strip() for p in line[len("import time:"):].split("|"))
                entries.append((int(cumulative), name))
        own = next((c for c, n in entries if n == "pytest_mockai"), None)

    print(f"bench/plugin_startup.py: python {sys.version.split()[0]}, {args.runs} runs per side, alternating; "
          f"bytecode: {bytecode}\n")
    print(f"{'pytest -q on one trivial test':34} {'median wall':>12}")
    print(f"{'with plugin':34} {w_on * 1000:10.1f} ms")
    print(f"{'-p no:mockai':34} {w_off * 1000:10.1f} ms")
    ok = pair_wall * 1000 < TARGET_MS
    print(f"{'difference (median of pairs)':34} {pair_wall * 1000:+10.1f} ms   target < {TARGET_MS:g} ms: "
          f"{'ok' if ok else 'MISSED'}")
    print(f"{'  child CPU difference (median)':34} {pair_cpu * 1000:+10.1f} ms   (user+sys; less noisy)")
    print(f"{'  ratio of medians':34} {w_on / w_off:10.3f}x")
    if not ok:
        problems.append(f"start-up difference {pair_wall * 1000:.1f} ms >= {TARGET_MS:g} ms")

    print(f"\n`import pytest_mockai` after `import pytest` adds {len(added)} modules"
          + (f": {', '.join(added[:12])}{' ...' if len(added) > 12 else ''}" if added else ""))
    heavy = heavy_in(added)
    print(f"  heavy among them: {', '.join(heavy) if heavy else 'none'}")
    print(f"  heavy modules a whole session imports with the plugin but not without it: "
          f"{', '.join(added_by_plugin) if added_by_plugin else 'none'}")
    if heavy or added_by_plugin:
        names = ", ".join(sorted(set(heavy) | set(added_by_plugin)))
        problems.append(f"the plugin imports heavy modules at start-up: {names}")
    print(f"\n`python -X importtime -c \"import pytest_mockai\"`: pytest_mockai cumulative "
          f"{own / 1000 if own is not None else float('nan'):.1f} ms (includes pytest if it imports it); top entries:")
    for cumulative, name in sorted(entries, reverse=True)[:10]:
        print(f"  {cumulative / 1000:8.1f} ms  {name}")

    if problems and not args.no_check:
        print("\ntargets missed: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
