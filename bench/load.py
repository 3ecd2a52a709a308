"""Socket-door load benchmark (issue 12): `mockai serve` against the bare limit and the fastest peer, under wrk.

    python bench/load.py [--quick] [--duration 5] [--rounds 5] [--connections 32] [--no-check]

Measured the way DESIGN.md's "Measuring speed" says, all on 127.0.0.1 in one run:

- the load generator is wrk (C; `apt-get install wrk`), `-t1 -c32` by default, driven by bench/load.lua with two
  request mixes: one **repeated** body, and **varied** bodies (a counter in the prompt, from a Lua `request`
  function; every run gets its own counter range, so no prompt is ever sent twice), each non-stream and
  `"stream": true`;
- the servers, one process each, started on port 0 in their own process group and stopped in a `finally`:
  ``mockai``     `mockai serve` as the README installs it (`pip install -e .` in a fresh venv: uvicorn on h11 and
                 asyncio), scripted by a scenario file (rule ``match: {}``) to answer one fixed reply text;
  ``mockai-uv``  the same in a venv that also has uvloop and httptools (skipped if the README install has them);
  ``mockai-log`` ``mockai`` at the README's log level, ``info``: a request line each, written to a file (only
                 when named in --servers);
  ``bare``       bench/bare_app.py on uvicorn + uvloop + httptools answering the bytes captured from mockai (the
                 stream in one write): the limit of the Python stack;
  ``aimock``     the fastest peer, npm `@copilotkit/aimock` (`llmock`), with a fixture ``"match": {}`` returning the
                 same text and `--chunk-size` chosen so its stream has as many events as mockai's;
  before measuring, each answers one request of each kind and the script checks the reply text and that every
  stream has the same number of events;
- rounds alternate the order (A,B,C,D then D,C,B,A ...); each reported figure is the median over rounds, each
  ratio the median of the per-round ratios. Events/s = requests/s x events per reply (equal for all servers).
- start-up: spawn to the first 200 chat completion (median of --startup-runs, alternating); RSS from
  /proc/PID/status, idle (after the first answer) and after all the loads of the run;
- memory runs: --memory-seconds of varied load against a fresh `mockai serve`, non-stream and then streams (a
  fresh server each), RSS every 5 s, both scripted (``mockai``) and answering with generated replies
  (``mockai-gen``: the README install, no scenario);
- a profile: py-spy (installed in the fast venv) with native stacks, attached to a fresh `mockai serve` under varied
  non-stream load; its top functions (self and total samples) and its samples per package are printed, with the
  garbage collector shown as a function and samples inside socket syscalls set aside (see summarize_profile).

The venvs and aimock are built once in ~/.cache/mockai-bench/ (MOCKAI_BENCH_CACHE overrides it; nothing is
written to the checkout). Exit status: 0 when issue 12's targets are met (or with --no-check), 1 when one is
missed, 2 when a tool (wrk, node/npm) is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "load.lua"
CACHE = Path(os.environ.get("MOCKAI_BENCH_CACHE", Path.home() / ".cache" / "mockai-bench"))
AIMOCK_PACKAGE = "@copilotkit/aimock@1.43.0"
HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
AUTH = "Bearer sk-bench-0123456789"
PROMPT = "Write two sentences about lighthouses. #"
REPLY = "Lighthouses guide ships past rocky coasts at night. Their beams sweep the water so sailors find a safe harbor."
FAST_STACK = ["uvloop", "httptools"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODES = [("repeated", False), ("varied", False), ("repeated", True), ("varied", True)]

TARGET_RATIO = 1.0  # req/s and events/s vs aimock, varied prompts
TARGET_START_S = 0.3
TARGET_RSS_MB = 80.0


# --- tools and environments --------------------------------------------------------------------------------------

def need(command: str, how: str) -> str:
    path = shutil.which(command)
    if path is None:
        print(f"{command} not found; install it with: {how}", file=sys.stderr)
        sys.exit(2)
    return path


def quiet_run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        print(f"{what} failed ({' '.join(cmd)}):\n{done.stdout}\n{done.stderr}", file=sys.stderr)
        sys.exit(2)


def venv(kind: str, packages: list[str], rebuild: bool) -> Path:
    """A venv in the cache with `pip install -e ROOT` (the README's install) plus ``packages``; its bin dir.

    Keyed by the checkout's path and rebuilt when pyproject.toml, the packages or the Python change, so the lead's
    checkout and a helper's get their own and each reflects its own source (editable install).
    """
    base = getattr(sys, "_base_executable", sys.executable)
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    home = CACHE / f"venv-{kind}-{key}"
    stamp = json.dumps({"root": str(ROOT), "packages": packages, "python": base, "version": sys.version,
                        "pyproject": hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()})
    stamp_file = home / "bench-stamp.json"
    if not rebuild and stamp_file.exists() and stamp_file.read_text() == stamp:
        return home / "bin"
    if home.exists():
        shutil.rmtree(home)
    print(f"  building {home}: venv + pip install -e {ROOT} {' '.join(packages)} (once; cached)", flush=True)
    quiet_run([base, "-m", "venv", str(home)], "python -m venv")
    quiet_run([str(home / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(ROOT), *packages], "pip install")
    stamp_file.write_text(stamp)
    return home / "bin"


def has_modules(bindir: Path, modules: list[str]) -> bool:
    code = "import importlib.util, sys; sys.exit(not all(importlib.util.find_spec(m) for m in sys.argv[1:]))"
    return subprocess.run([str(bindir / "python"), "-c", code, *modules]).returncode == 0


def versions(bindir: Path, dists: list[str]) -> str:
    code = ("import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n"
            "    try: print(f'{d} {m.version(d)}', end='; ')\n    except m.PackageNotFoundError: pass")
    done = subprocess.run([str(bindir / "python"), "-c", code, *dists], capture_output=True, text=True)
    return done.stdout.strip("; ")


def aimock_command() -> tuple[Path, str]:
    """The `llmock` command of aimock, npm-installed into the cache (never into the checkout); and its version."""
    prefix = CACHE / "npm"
    llmock = prefix / "node_modules" / ".bin" / "llmock"
    if not llmock.exists():
        need("node", "apt-get install nodejs npm")
        npm = need("npm", "apt-get install npm")
        prefix.mkdir(parents=True, exist_ok=True)
        print(f"  installing {AIMOCK_PACKAGE} into {prefix} (once; cached)", flush=True)
        quiet_run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", AIMOCK_PACKAGE], "npm install")
    meta = json.loads((prefix / "node_modules" / "@copilotkit" / "aimock" / "package.json").read_text())
    return llmock, str(meta["version"])


# --- servers -----------------------------------------------------------------------------------------------------

OPENAI_BASE_URL = re.compile(r"OPENAI_BASE_URL=http://[^\s:]+:(\d+)")
AIMOCK_LISTENING = re.compile(r"listening on http://[^\s:]+:(\d+)")


@dataclass
class Spec:
    name: str
    cmd: list[str]
    announce: re.Pattern[str]
    about: str
    env: dict[str, str] = field(default_factory=dict)


class Server:
    """One server process in its own process group; the port it announces is parsed from its output."""

    def __init__(self, spec: Spec, workdir: Path) -> None:
        self.spec = spec
        self.name = spec.name
        self.out = workdir / f"{spec.name}-{time.monotonic_ns()}.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.spawned_at = 0.0

    def start(self, timeout: float = 30.0) -> Server:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.spec.env)
        # Python keeps compiled bytecode (__pycache__) on any machine unless told not to; a sandbox that sets
        # PYTHONDONTWRITEBYTECODE would have every start compile the editable checkout again (~100 ms). Cached
        # outside the checkout, as `pip install` (which precompiles) or a second run anywhere would have it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", str(CACHE / "pycache"))
        with open(self.out, "wb") as fh:
            self.spawned_at = time.perf_counter()
            self.proc = subprocess.Popen(self.spec.cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True, cwd=self.out.parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.spec.announce.search(self.out.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        output = self.out.read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"{self.name} did not announce its port:\n{output}")

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Poll every 2 ms until a chat completion is answered 200; seconds since spawn."""
        deadline = time.monotonic() + timeout
        body = request_body(PROMPT + "0", stream=False)
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if fetch(self.port, body)[0] == 200:
                    return time.perf_counter() - self.spawned_at
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} gave no 200 within {timeout} s:\n{self.out.read_text()}")
            time.sleep(0.002)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def memory_mb(self, key: str = "VmRSS") -> float:
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {key} in /proc/{self.pid}/status")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5.0)
        with contextlib.suppress(OSError):
            self.out.unlink()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def request_body(prompt: str, stream: bool) -> bytes:
    body: dict[str, object] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def fetch(port: int, body: bytes, timeout: float = 5.0, path: str = PATH) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Authorization": AUTH, "Content-Type": "application/json"})
        res = conn.getresponse()
        return res.status, res.getheaders(), res.read()
    finally:
        conn.close()


@dataclass
class Reply:
    json_bytes: int
    stream_bytes: int
    events: int  # "data: " lines, [DONE] included
    content_events: int


def check_replies(server: Server, text: str) -> Reply:
    """One varied request of each kind: 200, the scripted text, a stream that reassembles to it and ends in [DONE]."""
    status, _, body = fetch(server.port, request_body(PROMPT + "check", stream=False))
    if status != 200 or json.loads(body)["choices"][0]["message"]["content"] != text:
        raise RuntimeError(f"{server.name}: unexpected JSON reply {status}: {body[:400]!r}")
    status, _, stream = fetch(server.port, request_body(PROMPT + "check", stream=True))
    datas = [line[6:] for line in stream.decode().split("\n") if line.startswith("data: ")]
    if status != 200 or not datas or datas[-1] != "[DONE]":
        raise RuntimeError(f"{server.name}: unexpected stream {status}: {stream[:400]!r}")
    deltas = [c["choices"][0]["delta"].get("content") or "" for c in map(json.loads, datas[:-1]) if c["choices"]]
    if "".join(deltas) != text:
        raise RuntimeError(f"{server.name}: the stream reassembles to {''.join(deltas)!r}, not {text!r}")
    return Reply(len(body), len(stream), len(datas), sum(1 for d in deltas if d))


def capture(port: int, stream: bool) -> dict[str, object]:
    import base64

    status, headers, content = fetch(port, request_body(PROMPT + "0", stream))
    if status != 200:
        raise RuntimeError(f"capture failed: {status} {content[:300]!r}")
    hop = {"date", "server", "content-length", "transfer-encoding", "connection"}
    return {"status": status, "headers": [[k, v] for k, v in headers if k.lower() not in hop],
            "body_b64": base64.b64encode(content).decode()}


# --- load ----------------------------------------------------------------------------------------------------------

@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per request
    errors: int
    wrk_cpu: float  # fraction of one core the load generator used


class Load:
    """wrk with bench/load.lua; every run gets a fresh counter range so a varied prompt is never repeated."""

    def __init__(self, wrk: str, threads: int, connections: int) -> None:
        self.wrk, self.threads, self.connections = wrk, threads, connections
        self.runs = 0

    def command(self, port: int, mix: str, stream: bool, seconds: int, api: str = "chat") -> list[str]:
        self.runs += 1
        path = "/v1/responses" if api == "responses" else PATH
        return [self.wrk, f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--latency",
                "--timeout", "5s", "-s", str(LUA), f"http://{HOST}:{port}{path}", "--",
                mix, "stream" if stream else "json", str(self.runs * 10_000_000), json.dumps(PROMPT)[1:-1], api]

    def run(self, server: Server, mix: str, stream: bool, seconds: int, api: str = "chat") -> Run:
        cmd = self.command(server.port, mix, stream, seconds, api)
        cpu0, ru0 = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        cpu1, ru1 = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
        return parse_wrk(done.stdout, done.stderr, cpu1 - cpu0,
                         (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime) / wall)


def parse_wrk(stdout: str, stderr: str, server_cpu: float, wrk_cpu: float) -> Run:
    found = re.search(r"^WRK_JSON (\{.*\})$", stdout, re.M)
    if not found:
        raise RuntimeError(f"no WRK_JSON line from wrk:\n{stdout}\n{stderr}")
    w = json.loads(found.group(1))
    errors = sum(w[k] for k in ("connect", "read", "write", "status", "timeout"))
    n = max(w["requests"], 1)
    return Run(rps=w["requests"] / (w["duration_us"] / 1e6), p50_ms=w["p50_us"] / 1000, p99_ms=w["p99_us"] / 1000,
               cpu_us=server_cpu / n * 1e6, errors=errors, wrk_cpu=wrk_cpu)


# --- phases --------------------------------------------------------------------------------------------------------

def mode_name(mix: str, stream: bool) -> str:
    return f"{mix} {'stream' if stream else 'non-stream'}"


def measure(servers: list[Server], load: Load, args: argparse.Namespace) -> dict[str, dict[str, list[Run]]]:
    """results[mode][server] = one Run per round; server order alternates round by round."""
    results: dict[str, dict[str, list[Run]]] = {}
    for mix, stream in MODES:
        mode = mode_name(mix, stream)
        print(f"{mode}:", flush=True)
        for s in servers:
            load.run(s, mix, stream, args.warmup)
        results[mode] = {s.name: [] for s in servers}
        for r in range(args.rounds):
            order = servers if r % 2 == 0 else servers[::-1]
            for s in order:
                results[mode][s.name].append(load.run(s, mix, stream, args.duration))
            print(f"  round {r + 1}: " + "  ".join(
                f"{s.name} {results[mode][s.name][-1].rps:7.0f} req/s p99 {results[mode][s.name][-1].p99_ms:5.1f} ms"
                for s in servers), flush=True)
    return results


_WARMED: set[str] = set()


def warm(spec: Spec, workdir: Path) -> None:
    """Start ``spec`` once, unmeasured, and have it answer: the first start after a change writes the bytecode
    cache, and compiling leaves the process far bigger (mockai-gen's first answer imports and compiles Faker's
    providers: 100 MB of RSS then, 50 MB on every later start)."""
    if spec.name not in _WARMED:
        with Server(spec, workdir) as server:
            server.wait_ready()
        _WARMED.add(spec.name)


def startup(specs: list[Spec], runs: int, workdir: Path) -> dict[str, float]:
    """Median seconds from spawn to the first 200, alternating the order of the servers."""
    times: dict[str, list[float]] = {s.name: [] for s in specs}
    for spec in specs:
        warm(spec, workdir)
    for r in range(runs):
        for spec in specs if r % 2 == 0 else specs[::-1]:
            with Server(spec, workdir) as server:
                times[spec.name].append(server.wait_ready())
    print("start-up (ms): " + "  ".join(f"{k} " + " ".join(f"{v * 1000:.0f}" for v in vals)
                                        for k, vals in times.items()), flush=True)
    return {k: statistics.median(v) for k, v in times.items()}


def memory_run(spec: Spec, load: Load, seconds: int, workdir: Path,
               stream: bool = False) -> tuple[list[tuple[float, float]], int]:
    """RSS (MB) every 5 s through ``seconds`` of varied load (streams or not) on a fresh server; and how many
    requests."""
    warm(spec, workdir)
    with Server(spec, workdir) as server:
        server.wait_ready()
        time.sleep(0.5)
        samples = [(0.0, server.memory_mb())]
        cmd = load.command(server.port, "varied", stream, seconds)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            t0 = time.perf_counter()
            tick = 5.0
            while proc.poll() is None and tick < seconds + 30:
                time.sleep(max(0.0, t0 + tick - time.perf_counter()))
                if proc.poll() is None:
                    samples.append((time.perf_counter() - t0, server.memory_mb()))
                tick += 5.0
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        samples.append((time.perf_counter() - t0, server.memory_mb()))
        run = parse_wrk(out, err, 0.0, 0.0)
        requests = round(run.rps * seconds)
        print(f"memory run, {spec.name}{' streams' if stream else ''}: "
              + "  ".join(f"{t:.0f}s {mb:.0f}" for t, mb in samples)
              + f" MB; {run.rps:.0f} req/s, {run.errors} errors", flush=True)
        return samples, requests


def profile(spec: Spec, load: Load, seconds: int, pyspy: str, out: Path, workdir: Path,
            rate: int) -> tuple[float, float]:
    """py-spy (native stacks) on a fresh server under varied non-stream load; writes collapsed stacks. Returns
    the load's req/s and the share of a core the server used while sampled."""
    warm(spec, workdir)
    with Server(spec, workdir) as server:
        server.wait_ready()
        load.run(server, "varied", False, 1)
        cmd = load.command(server.port, "varied", False, seconds + 2)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            time.sleep(1.0)
            cpu0, t0 = server.cpu_seconds(), time.perf_counter()
            spy = subprocess.run([pyspy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate",
                                  str(rate), "--function", "--native", "--format", "raw",
                                  "--output", str(out)],
                                 capture_output=True, text=True, timeout=seconds + 60)
            if spy.returncode != 0:
                raise RuntimeError(f"py-spy failed:\n{spy.stdout}\n{spy.stderr}")
            share = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
            stdout, stderr = proc.communicate(timeout=seconds + 30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return parse_wrk(stdout, stderr, 0.0, 0.0).rps, share


FRAME = re.compile(r"^(?P<func>.+) \((?P<file>[^()]*?)(?::\d+)?\)$")
NATIVE_FILE = re.compile(r"\.(c|h|cc|cpp|pyx|pxd)$|\.so(\.|$)")
SYSCALLS = {"write": "[write syscall]", "writev": "[write syscall]", "send": "[write syscall]",
            "sendmsg": "[write syscall]", "read": "[read syscall]", "recv": "[read syscall]",
            "epoll_wait": "[epoll wait: nothing to do]", "epoll_pwait": "[epoll wait: nothing to do]"}
GC = "[garbage collector]"


def package_of(name: str) -> str:
    """Who owns a frame: ``mockai/<module>``, else the top-level package or stdlib module (py-spy prints paths
    relative to their sys.path entry, e.g. ``h11/_connection.py``, ``asyncio/events.py``); or a [category]."""
    if name.startswith("["):
        return name
    parts = name.rsplit(" (", 1)[-1].rstrip(")").split("/")
    if parts[0] == "mockai" and len(parts) > 1:
        return "mockai/" + parts[1].removesuffix(".py")
    return parts[0].removesuffix(".py")


def summarize_profile(raw: Path, top: int) -> str:
    """Top functions by self and total samples, and self samples per package, from py-spy's collapsed stacks.

    With --native stacks, C frames are folded into the Python function that called them, except what is shown
    apart: the garbage collector (as a function), and socket writes and reads and waiting in epoll (set aside, out of
    the percentages: py-spy samples wall-clock time of a thread it sees as runnable, and on a loaded machine the
    server is often descheduled inside write() right after it wakes the client, so those samples are not CPU).
    """
    stacks: list[tuple[list[str], str, int]] = []
    aside: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        python: list[str] = []
        native: str | None = None  # the C function called last by the deepest Python frame so far
        for frame in stack.split(";"):
            m = FRAME.match(frame.strip())
            if not m:
                continue
            func, path = m.group("func"), m.group("file")
            if NATIVE_FILE.search(path) or func.startswith("0x"):
                native = GC if func.startswith("gc_collect") or native == GC else func
            else:
                python.append(f"{func} ({short_path(path)})")
                native = GC if native == GC else None
        if not python:
            continue
        if native in SYSCALLS:
            aside[SYSCALLS[native]] += int(count)
        else:
            stacks.append((python, GC if native == GC else python[-1], int(count)))
    samples = sum(n for _, _, n in stacks)
    if not samples:
        return "(no samples)"
    self_count: Counter[str] = Counter()
    total_count: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    for python, leaf, n in stacks:
        self_count[leaf] += n
        by_package[package_of(leaf)] += n
        for name in {*python, leaf}:
            total_count[name] += n
    everything = samples + sum(aside.values())
    lines = [f"{everything} samples of threads py-spy saw as active; set aside: "
             + ", ".join(f"{k} {100 * v / everything:.0f}%" for k, v in sorted(aside.items()))
             + f"; the other {samples} (Python code, C extensions, GC) are the 100% below", "",
             "self %  total %  function"]
    for name, n in self_count.most_common(top):
        lines.append(f"{100 * n / samples:6.1f}  {100 * total_count[name] / samples:7.1f}  {name}")
    # Frames present in every sample of the busiest stack (click, uvicorn's Server.run, the loop) say nothing.
    trunk = max(total_count.values())
    lines += ["", "total %  function (inclusive: the function and what it calls; frames common to every request "
              "left out)"]
    for name, n in [(k, v) for k, v in total_count.most_common() if v < trunk][:top]:
        lines.append(f"{100 * n / samples:7.1f}  {name}")
    lines += ["", "self %  package or module"]
    for name, n in by_package.most_common(top):
        lines.append(f"{100 * n / samples:6.1f}  {name}")
    return "\n".join(lines)


def short_path(path: str) -> str:
    p = path.replace("\\", "/")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in p:
            p = p.split(marker, 1)[1]
            if marker.startswith("/lib"):
                p = p.split("/", 1)[1] if "/" in p else p
            return p
    return p.rsplit(str(ROOT) + "/", 1)[-1]


# --- report --------------------------------------------------------------------------------------------------------

def med(values: Iterator[float] | list[float]) -> float:
    return statistics.median(list(values))


def ratio(results: dict[str, dict[str, list[Run]]], mode: str, a: str, b: str, metric: str) -> float:
    return med(getattr(x, metric) / getattr(y, metric) for x, y in zip(results[mode][a], results[mode][b], strict=True))


@dataclass
class Outcome:
    """Everything a run measured; a phase that did not run leaves its part empty."""

    names: list[str]
    about: dict[str, str]
    events: int = 0
    results: dict[str, dict[str, list[Run]]] = field(default_factory=dict)
    rss: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # idle, after load, peak (MB)
    start: dict[str, float] = field(default_factory=dict)
    memory: dict[str, tuple[list[tuple[float, float]], int]] = field(default_factory=dict)  # RSS samples, requests
    profiles: dict[str, tuple[str, float, float]] = field(default_factory=dict)  # text, req/s, server CPU share


def report_load(o: Outcome) -> None:
    res, names, events = o.results, o.names, o.events
    print(f"\n## Per server (medians over rounds; events/s = req/s x {events} events per reply)\n")
    print("| server | mode | req/s | events/s | p50 ms | p99 ms | server CPU µs/req |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in names:
        for mix, stream in MODES:
            runs = res[mode_name(mix, stream)][name]
            rps = med(r.rps for r in runs)
            print(f"| {name} | {mode_name(mix, stream)} | {rps:,.0f} | {rps * events:,.0f} |"
                  f" {med(r.p50_ms for r in runs):.1f} | {med(r.p99_ms for r in runs):.1f} |"
                  f" {med(r.cpu_us for r in runs):.0f} |")

    print("\n## Summary, varied prompts (the issue's table)\n")
    print("| server | non-stream req/s | p99 ms | stream events/s | p99 ms | start ms "
          "| RSS idle → after load (peak) MB |")
    print("|---|---:|---:|---:|---:|---:|---|")
    vj, vs = mode_name("varied", False), mode_name("varied", True)
    for name in names:
        j, s = res[vj][name], res[vs][name]
        idle, after, peak = o.rss[name]
        start = f"{o.start[name] * 1000:.0f}" if name in o.start else "-"
        print(f"| {name}: {o.about[name]} | {med(r.rps for r in j):,.0f} | {med(r.p99_ms for r in j):.1f} |"
              f" {med(r.rps for r in s) * events:,.0f} | {med(r.p99_ms for r in s):.1f} |"
              f" {start} | {idle:.0f} → {after:.0f} ({peak:.0f}) |")

    cols: list[tuple[str, str]] = [(m, b) for m in names if m.startswith("mockai")
                                   for b in ("aimock", "bare") if b in names]
    if "mockai-w2" in names and "mockai" in names:  # two workers against one
        cols.append(("mockai-w2", "mockai"))
    if not cols:
        return
    print("\n## Ratios (median of per-round ratios; for p99, start-up and RSS lower is better)\n")
    print("| metric | " + " | ".join(f"{m}/{b}" for m, b in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for mix, stream in MODES:
        mode = mode_name(mix, stream)
        for metric, label in (("rps", "events/s" if stream else "req/s"), ("p99_ms", "p99")):
            print(f"| {mode} {label} | " + " | ".join(f"{ratio(res, mode, m, b, metric):.2f}x" for m, b in cols) + " |")
    for mix, stream in MODES:  # CPU time per request is the view least disturbed by a busy machine
        mode = mode_name(mix, stream)
        print(f"| {mode} server CPU per request | "
              + " | ".join(f"{ratio(res, mode, m, b, 'cpu_us'):.2f}x" for m, b in cols) + " |")
    if all(n in o.start for n in names):
        print("| start-up | " + " | ".join(f"{o.start[m] / o.start[b]:.2f}x" for m, b in cols) + " |")
    print("| RSS after load | " + " | ".join(f"{o.rss[m][1] / o.rss[b][1]:.2f}x" for m, b in cols) + " |")


def report(o: Outcome, profile_note: str) -> list[tuple[str, bool]]:
    """Print every table; the verdicts on issue 12's targets."""
    if o.results:
        report_load(o)
    elif o.start:
        print("\n## Start-up to first 200 (median)\n")
        for name, t in o.start.items():
            print(f"- {name}: {t * 1000:.0f} ms")
    mockais = [n for n in o.names if n.startswith("mockai")]
    verdicts: list[tuple[str, bool]] = []
    if o.memory:
        print("\n## Memory runs (a fresh server each, varied load, non-stream then streams; RSS MB every 5 s)\n")
        for name, (samples, requests) in o.memory.items():
            growth = (samples[-1][1] - samples[0][1]) * 1024 / max(requests, 1)
            print(f"- {name}, {requests:,} distinct requests, {growth:.1f} KB of RSS per request: "
                  + ", ".join(f"{t:.0f} s {mb:.0f}" for t, mb in samples))
            if name.startswith("mockai"):
                verdicts.append((f"{name}: RSS after the memory run {samples[-1][1]:.0f} MB "
                                 f"(target < {TARGET_RSS_MB:.0f} MB)", samples[-1][1] < TARGET_RSS_MB))
    if o.results and "aimock" in o.names:
        for m in mockais:
            for mix, stream in (("varied", False), ("varied", True)):
                mode = mode_name(mix, stream)
                r, p99 = ratio(o.results, mode, m, "aimock", "rps"), ratio(o.results, mode, m, "aimock", "p99_ms")
                unit = "events/s" if stream else "req/s"
                verdicts.append((f"{m}: {mode} {unit} {r:.2f}x aimock (target >= {TARGET_RATIO:.1f}x)",
                                 r >= TARGET_RATIO))
                verdicts.append((f"{m}: {mode} p99 {p99:.2f}x aimock's (target <= 1.0x)", p99 <= 1.0))
    for m in mockais:
        if m in o.start:
            verdicts.append((f"{m}: start-up {o.start[m] * 1000:.0f} ms (target < {TARGET_START_S * 1000:.0f} ms)",
                             o.start[m] < TARGET_START_S))
    if verdicts:
        print("\n## Issue 12 targets\n")
        for text, ok in verdicts:
            print(f"- {'ok    ' if ok else 'MISSED'} {text}")
    for name, (text, rps, share) in o.profiles.items():
        print(f"\n## Profile: {name} under varied non-stream load\n\n{rps:,.0f} req/s while sampled, the server using "
              f"{share:.0%} of a core; {profile_note}\n\n```\n{text}\n```")
    return verdicts


# --- main ----------------------------------------------------------------------------------------------------------

def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mockai serve vs bare Starlette vs aimock under wrk, on loopback.")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured wrk run (5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per server and mode (5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load per server and mode (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (1)")
    parser.add_argument("--startup-runs", type=int, default=5, help="start-up measurements per server (5)")
    parser.add_argument("--memory-seconds", type=int, default=60, help="memory run length (60)")
    parser.add_argument("--memory-servers", default="mockai,mockai-gen",
                        help="comma-separated servers for the memory run (mockai,mockai-gen; also mockai-uv, aimock)")
    parser.add_argument("--profile-seconds", type=int, default=20, help="py-spy sampling time (20)")
    parser.add_argument("--profile-servers", default="mockai-uv,mockai,mockai-gen",
                        help="comma-separated servers to profile (default: mockai-uv,mockai,mockai-gen)")
    parser.add_argument("--profile-top", type=int, default=25, help="lines per profile table (25)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second (100)")
    parser.add_argument("--profile-dir", type=Path, help="keep py-spy's raw output here (default: a temp dir)")
    parser.add_argument("--servers", default="mockai,mockai-uv,bare,aimock",
                        help="which servers the load and start-up phases measure (default: all four)")
    parser.add_argument("--phases", default="load,startup,memory,profile",
                        help="which parts to run, comma-separated (default: all): load (throughput, latency, RSS), "
                        "startup, memory, profile")
    parser.add_argument("--quick", action="store_true", help="a short run for development: 2 rounds x 2 s, "
                        "2 start-ups, 10 s memory run, 5 s profiles")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached venvs")
    parser.add_argument("--no-check", action="store_true", help="only report; exit 0 even if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.startup_runs = 2, 2, 2
        args.memory_seconds, args.profile_seconds = min(args.memory_seconds, 10), min(args.profile_seconds, 5)
    phases = set(args.phases.split(","))
    if phases - {"load", "startup", "memory", "profile"}:
        parser.error(f"unknown phase in --phases {args.phases}")

    wrk = need("wrk", "apt-get install wrk")
    wanted = args.servers.split(",")
    print("environment:", flush=True)
    readme_bin = venv("readme", [], args.rebuild)
    fast_bin = venv("fast", [*FAST_STACK, "py-spy"], args.rebuild)
    llmock, aimock_version = aimock_command() if "aimock" in wanted else (Path("llmock"), "-")
    if has_modules(readme_bin, FAST_STACK) and "mockai-uv" in wanted:
        print("  the README install already has uvloop and httptools: mockai-uv would be the same; skipped")
        wanted.remove("mockai-uv")
    dists = ["uvicorn", "starlette", "pydantic", "h11"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() if shutil.which(
        "node") else "-"
    print(f"  python {sys.version.split()[0]}; README venv: {versions(readme_bin, dists)}; the fast venv adds "
          f"{versions(fast_bin, FAST_STACK)}\n  aimock {aimock_version} on node {node}; "
          f"{subprocess.run([wrk, '-v'], capture_output=True, text=True).stdout.split(' Copyright')[0]}")
    if float(loadavg().split()[0]) > (os.cpu_count() or 1):
        print(f"  WARNING: this machine is busy (load average {loadavg()} on {os.cpu_count()} cores): absolute "
              "numbers will be low and noisy; read the ratios and the server CPU per request")
    print(f"  {os.cpu_count()} cores, load average {loadavg()}; wrk -t{args.threads} -c{args.connections}, "
          f"{args.rounds} rounds x {args.duration} s per server and mode\n", flush=True)

    with tempfile.TemporaryDirectory(prefix="mockai-load-") as tmp:
        workdir = Path(tmp)
        specs, events = make_specs(workdir, readme_bin, fast_bin, llmock, aimock_version)
        names = [n for n in ("mockai", "mockai-uv", "mockai-w2", "mockai-log", "bare", "aimock") if n in wanted]
        o = Outcome(names, {n: specs[n].about for n in names}, events)
        load = Load(wrk, args.threads, args.connections)
        if "load" in phases:
            with contextlib.ExitStack() as running:
                servers = [running.enter_context(Server(specs[n], workdir)) for n in names]
                for server in servers:
                    server.wait_ready()
                time.sleep(0.5)
                idle = {s.name: s.memory_mb() for s in servers}
                replies = {s.name: check_replies(s, REPLY) for s in servers}
                print("replies: " + "; ".join(f"{n} JSON {r.json_bytes} B, stream {r.stream_bytes} B in {r.events} "
                                              "events" for n, r in replies.items()), flush=True)
                if {r.events for r in replies.values()} != {events}:
                    raise RuntimeError("the servers' streams have different numbers of events; refusing to compare")
                o.results = measure(servers, load, args)
                for server in servers:
                    o.rss[server.name] = (idle[server.name], server.memory_mb(), server.memory_mb("VmHWM"))
                    runs = [r for mode in o.results.values() for r in mode[server.name]]
                    if sum(r.errors for r in runs):
                        print(f"WARNING: {server.name}: {sum(r.errors for r in runs)} wrk errors")
                    if max(r.wrk_cpu for r in runs) > 0.9:
                        print(f"WARNING: wrk used {max(r.wrk_cpu for r in runs):.0%} of a core against "
                              f"{server.name}: the load generator may be the limit")
        if "startup" in phases:
            o.start = startup([specs[n] for n in names], args.startup_runs, workdir)
        if "memory" in phases:
            for name in args.memory_servers.split(","):
                o.memory[name] = memory_run(specs[name], load, args.memory_seconds, workdir)
                o.memory[f"{name} streams"] = memory_run(specs[name], load, args.memory_seconds, workdir, True)
        if "profile" in phases:
            outdir = args.profile_dir or workdir
            outdir.mkdir(parents=True, exist_ok=True)
            for name in args.profile_servers.split(","):
                raw = outdir / f"profile-{name}.txt"
                rps, share = profile(specs[name], load, args.profile_seconds, str(fast_bin / "py-spy"), raw, workdir,
                                     args.profile_rate)
                o.profiles[name] = (summarize_profile(raw, args.profile_top), rps, share)
    print(f"\nload average at the end: {loadavg()}")
    verdicts = report(o, f"py-spy record --native --function, {args.profile_seconds} s at {args.profile_rate} Hz")
    return 1 if any(not ok for _, ok in verdicts) and not args.no_check else 0


def make_specs(workdir: Path, readme_bin: Path, fast_bin: Path, llmock: Path,
               aimock_version: str) -> tuple[dict[str, Spec], int]:
    """The four servers, and the number of events in mockai's stream (which aimock's chunk size is chosen to match).

    mockai answers REPLY from a scenario; the bare app answers bytes captured from mockai; aimock answers REPLY from
    a fixture whose match is ``{}``.
    """
    scenario = workdir / "scenario.json"
    scenario.write_text(json.dumps({"version": 1, "rules": [{"name": "bench", "match": {}, "reply": REPLY}]}))
    serve = ["serve", "--port", "0", "--log-level", "warning", "--scenario", str(scenario)]
    specs = {
        "mockai": Spec("mockai", [str(readme_bin / "mockai"), *serve], OPENAI_BASE_URL,
                       "`mockai serve`, README install (uvloop, httptools, orjson where wheels exist)"),
        "mockai-uv": Spec("mockai-uv", [str(fast_bin / "mockai"), *serve], OPENAI_BASE_URL,
                          "`mockai serve`, README install + uvloop + httptools named again (and py-spy)"),
        # Two worker processes on one port (issue 12 point 6). Its CPU per request counts the supervisor only.
        "mockai-w2": Spec("mockai-w2", [str(readme_bin / "mockai"), *serve, "--workers", "2"], OPENAI_BASE_URL,
                          "`mockai serve --workers 2`, README install"),
        # The README's log level (info: a line per request, on stderr, here a file), scripted like ``mockai``.
        "mockai-log": Spec("mockai-log", [str(readme_bin / "mockai"), *serve[:3], *serve[5:]], OPENAI_BASE_URL,
                           "`mockai serve` at the README's log level (info: the request log on)"),
        # Unscripted: generated replies (other text, other event counts), for the memory run and the profile only.
        "mockai-gen": Spec("mockai-gen", [str(readme_bin / "mockai"), *serve[:-2]], OPENAI_BASE_URL,
                           "`mockai serve`, README install, generated replies (no scenario)"),
    }
    with Server(specs["mockai-uv"], workdir) as probe:
        probe.wait_ready()
        canned = {"json": capture(probe.port, False), "stream": capture(probe.port, True)}
        reference = check_replies(probe, REPLY)
    canned_path = workdir / "canned.json"
    canned_path.write_text(json.dumps(canned))
    chunk = math.ceil(len(REPLY) / reference.content_events)
    if math.ceil(len(REPLY) / chunk) != reference.content_events:
        raise RuntimeError(f"no aimock --chunk-size gives {reference.content_events} content events for a "
                           f"{len(REPLY)}-character reply; change REPLY")
    fixture = workdir / "aimock-fixture.json"
    fixture.write_text(json.dumps({"fixtures": [{"match": {}, "response": {"content": REPLY}}]}))
    specs["bare"] = Spec("bare", [str(fast_bin / "python"), str(HERE / "bare_app.py"), str(canned_path),
                                  "--port", "0", "--log-level", "warning"], OPENAI_BASE_URL,
                         "bare Starlette, canned bytes, uvloop + httptools")
    specs["aimock"] = Spec("aimock", [str(llmock), "--host", HOST, "--port", "0", "--fixtures", str(fixture),
                                      "--chunk-size", str(chunk), "--log-level", "info"], AIMOCK_LISTENING,
                           f"aimock {aimock_version} (`llmock --chunk-size {chunk}`)")
    return specs, reference.events


if __name__ == "__main__":
    sys.exit(main())
