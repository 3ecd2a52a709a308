"""Socket-door benchmark (issue 2, point 10): `mockai serve` against a bare Starlette app, in one script.

    /work/venv/bin/python bench/serve.py [--duration 2] [--rounds 4] [--connections 24] [--no-check]

What it measures, all on 127.0.0.1 under one load generator:

a. requests/s for non-stream replies: `mockai serve` vs a bare Starlette app (bench/bare_app.py) answering the
   very bytes (body and headers) of a reply captured from mockai first. Ratio = mockai / bare; target >= 0.6.
b. events/s for streams (`"stream": true`): the same, the bare app answering one captured SSE body in one
   write. Ratio = mockai / bare; target >= 0.6.
c. start-up to first answer: spawn `mockai serve --port 0` and time until the first 200 chat completion (the
   port is polled every 2 ms once announced); median of several runs; target < 0.5 s. The bare app's is shown
   for context.

Both servers are started by this script with the same uvicorn settings (one worker, `--log-level warning`, so
mockai's per-request access lines, logged at info, are not written; `lifespan="off"`). Rounds alternate the two
servers (A,B then B,A ...) and the reported ratio is the median of the per-pair ratios, which cancels drift on a
noisy machine; never compare absolute numbers across runs. The load generator is a minimal asyncio Protocol
HTTP/1.1 keep-alive client with a fixed number of connections, each with one request in flight. Server CPU time
per request (from /proc) is shown too: it is the least noisy view of the same cost.

Exit status: 0 when every target is met (or with --no-check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
AUTH = "Bearer sk-bench-0123456789"
MESSAGES = [{"role": "user", "content": "Write two sentences about lighthouses."}]
JSON_REQUEST = {"model": "gpt-4o-mini", "messages": MESSAGES}
STREAM_REQUEST = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
HOP_HEADERS = {"date", "server", "content-length", "transfer-encoding", "connection"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_RATIO = 0.6
TARGET_STARTUP_S = 0.5


# --- servers -----------------------------------------------------------------------------------------------------

MOCKAI_SRC: str | None = None  # --mockai-src: run mockai from this directory (PYTHONPATH) instead of the install
BARE_NAGLE = False  # --bare-nagle


def mockai_cmd() -> list[str]:
    return [PY, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning"]


def bare_cmd(canned: Path) -> list[str]:
    return [PY, str(HERE / "bare_app.py"), str(canned), "--port", "0", "--log-level", "warning"] + (
        ["--nagle"] if BARE_NAGLE else [])


class Server:
    """A server subprocess in its own process group; its announced base URL parsed from stdout."""

    def __init__(self, name: str, cmd: list[str], workdir: Path) -> None:
        self.name, self.cmd = name, cmd
        self.out = workdir / f"{name}-{time.monotonic_ns()}.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.spawned_at = 0.0

    def start(self, timeout: float = 15.0) -> Server:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if MOCKAI_SRC and self.name == "mockai":
            env["PYTHONPATH"] = os.pathsep.join(p for p in (MOCKAI_SRC, env.get("PYTHONPATH")) if p)
        with open(self.out, "wb") as fh:
            self.spawned_at = time.perf_counter()
            self.proc = subprocess.Popen(self.cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True, cwd=self.out.parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.out.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith("OPENAI_BASE_URL="):
                    self.port = int(line.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        output = self.out.read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"{self.name} did not announce its URL:\n{output}")

    def wait_ready(self, timeout: float = 15.0) -> Server:
        """Poll (every 2 ms) until a chat completion is answered 200: the port is announced before it listens."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if fetch(self.port, JSON_REQUEST)[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} gave no 200 within {timeout} s")
            time.sleep(0.002)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(OSError):
            self.out.unlink()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fetch(port: int, body: dict, timeout: float = 5.0) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", PATH, body=json.dumps(body).encode(),
                     headers={"Authorization": AUTH, "Content-Type": "application/json"})
        res = conn.getresponse()
        return res.status, res.getheaders(), res.read()
    finally:
        conn.close()


def capture(port: int, body: dict) -> dict:
    status, headers, content = fetch(port, body)
    if status != 200:
        raise RuntimeError(f"mockai answered {status}: {content[:300]!r}")
    kept = [[k, v] for k, v in headers if k.lower() not in HOP_HEADERS]
    return {"status": status, "headers": kept, "body_b64": base64.b64encode(content).decode()}


def time_to_first_answer(name: str, cmd: list[str], workdir: Path, timeout: float = 15.0) -> float:
    """Seconds from spawning the server to the first 200 chat completion."""
    with Server(name, cmd, workdir) as server:
        server.wait_ready(timeout)
        return time.perf_counter() - server.spawned_at


# --- load generator ----------------------------------------------------------------------------------------------

def raw_request(port: int, body: dict) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: {AUTH}\r\n"
            f"Content-Type: application/json\r\nAccept: */*\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


@dataclass
class Tally:
    stop_at: float
    max_requests: int
    done: int = 0
    events: int = 0
    errors: int = 0
    bytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Client(asyncio.Protocol):
    """One keep-alive connection with one request in flight; understands content-length and chunked bodies."""

    def __init__(self, request: bytes, tally: Tally, stream: bool, finished: asyncio.Future[None]) -> None:
        self.request, self.tally, self.stream, self.finished = request, tally, stream, finished
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        t = self.tally
        if t.done >= t.max_requests or time.perf_counter() >= t.stop_at:
            self.close()
            return
        self.buf.clear()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        start = end + 4
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17:j if j >= 0 else None])
            if len(buf) - start < length:
                return
            body = bytes(buf[start:start + length])
        elif b"\r\ntransfer-encoding: chunked" in head:
            if not buf.endswith(b"\r\n0\r\n\r\n"):
                return
            body = bytes(buf[start:])
        else:  # not expected from either server; treat as an error and drop the connection
            self.tally.errors += 1
            self.close()
            return
        self.finish(int(head[9:12]), body)

    def finish(self, status: int, body: bytes) -> None:
        t = self.tally
        if time.perf_counter() <= t.stop_at:
            t.done += 1
            t.bytes += len(body)
            t.statuses[status] = t.statuses.get(status, 0) + 1
            if status != 200:
                t.errors += 1
            elif self.stream:
                if not body.rstrip(b"\r\n0").endswith(b"data: [DONE]"):
                    t.errors += 1
                t.events += body.count(b"data: ")
        self.send()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


@dataclass
class RoundResult:
    rps: float
    eps: float
    cpu_us: float  # server CPU microseconds per request
    client_cpu: float  # fraction of one core used by the load generator
    errors: int


async def _load(port: int, body: dict, stream: bool, connections: int, duration: float,
                max_requests: int) -> tuple[Tally, float]:
    loop = asyncio.get_running_loop()
    request = raw_request(port, body)
    start = time.perf_counter()
    tally = Tally(stop_at=start + duration, max_requests=max_requests)
    futures = []
    for _ in range(connections):
        fut: asyncio.Future[None] = loop.create_future()
        futures.append(fut)
        await loop.create_connection(lambda f=fut: Client(request, tally, stream, f), HOST, port)
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=duration + 10)
    except asyncio.TimeoutError:
        tally.errors += 1
    elapsed = min(time.perf_counter(), tally.stop_at) - start
    return tally, elapsed


def load_round(server: Server, stream: bool, connections: int, duration: float, max_requests: int) -> RoundResult:
    body = STREAM_REQUEST if stream else JSON_REQUEST
    cpu0, ccpu0, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    tally, elapsed = asyncio.run(_load(server.port, body, stream, connections, duration, max_requests))
    cpu1, ccpu1, t1 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    done = max(tally.done, 1)
    return RoundResult(rps=tally.done / elapsed, eps=tally.events / elapsed, cpu_us=(cpu1 - cpu0) / done * 1e6,
                       client_cpu=(ccpu1 - ccpu0) / (t1 - t0), errors=tally.errors)


def compare(a: Server, b: Server, stream: bool, args: argparse.Namespace) -> dict:
    """Alternate a and b (AB, BA, AB, ...); per-pair ratios a/b; medians."""
    pairs = []
    for r in range(args.rounds):
        order = (a, b) if r % 2 == 0 else (b, a)
        res = {s.name: load_round(s, stream, args.connections, args.duration, args.max_requests) for s in order}
        pairs.append((res[a.name], res[b.name]))
        ra, rb = res[a.name], res[b.name]
        metric = "eps" if stream else "rps"
        print(f"  round {r + 1}: {a.name} {getattr(ra, metric):8.0f} {metric}  {b.name} {getattr(rb, metric):8.0f} "
              f"{metric}  ratio {getattr(ra, metric) / getattr(rb, metric):.2f}   (server CPU/req {ra.cpu_us:.0f} vs "
              f"{rb.cpu_us:.0f} us; load generator {ra.client_cpu:.0%} / {rb.client_cpu:.0%} of a core)",
              flush=True)
    metric = "eps" if stream else "rps"
    med = statistics.median
    return {
        "a": med(getattr(x, metric) for x, _ in pairs),
        "b": med(getattr(y, metric) for _, y in pairs),
        "ratio": med(getattr(x, metric) / getattr(y, metric) for x, y in pairs),
        "cpu_a": med(x.cpu_us for x, _ in pairs),
        "cpu_b": med(y.cpu_us for _, y in pairs),
        "cpu_ratio": med(y.cpu_us / x.cpu_us for x, y in pairs),
        "client_cpu": max(max(x.client_cpu, y.client_cpu) for x, y in pairs),
        "errors": sum(x.errors + y.errors for x, y in pairs),
    }


# --- main --------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mockai serve vs a bare Starlette app on loopback.")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measured round (default 2)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per server and mode (default 4)")
    parser.add_argument("--connections", type=int, default=24, help="concurrent keep-alive connections (24)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap on requests per round")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of unmeasured load per server and mode")
    parser.add_argument("--startup-runs", type=int, default=5, help="start-up measurements per server (5)")
    parser.add_argument("--no-check", action="store_true", help="only report; exit 0 even if a target is missed")
    parser.add_argument("--mockai-src", metavar="DIR",
                        help="benchmark the mockai package found in DIR (put first on PYTHONPATH), e.g. a scratch copy")
    parser.add_argument("--bare-nagle", action="store_true",
                        help="leave Nagle on in the bare app too (as mockai.server does today): shows CPU, not latency")
    args = parser.parse_args(argv)
    global MOCKAI_SRC, BARE_NAGLE
    MOCKAI_SRC, BARE_NAGLE = args.mockai_src, args.bare_nagle

    print(f"bench/serve.py: {os.cpu_count()} cores, python {sys.version.split()[0]}, {args.connections} connections, "
          f"{args.rounds} rounds x {args.duration:g} s per server and mode\n", flush=True)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mockai-bench-") as tmp:
        workdir = Path(tmp)
        canned_path = workdir / "canned.json"
        with Server("mockai", mockai_cmd(), workdir) as mock:
            mock.wait_ready()
            canned = {"json": capture(mock.port, JSON_REQUEST), "stream": capture(mock.port, STREAM_REQUEST)}
            canned_path.write_text(json.dumps(canned))
            with Server("bare", bare_cmd(canned_path), workdir) as bare:
                bare.wait_ready()
                sizes = {}
                for kind, body in (("json", JSON_REQUEST), ("stream", STREAM_REQUEST)):
                    got = [fetch(s.port, body) for s in (mock, bare)]
                    if got[1][2] != base64.b64decode(canned[kind]["body_b64"]):
                        raise RuntimeError(f"bare app does not echo the captured {kind} body")
                    sizes[kind] = [len(g[2]) for g in got]
                    if sizes[kind][0] != sizes[kind][1]:
                        print(f"  note: {kind} body sizes differ: mockai {sizes[kind][0]}, bare {sizes[kind][1]}")
                events = base64.b64decode(canned["stream"]["body_b64"]).count(b"data: ")
                print(f"  reply sizes: JSON {sizes['json'][0]} B; stream {sizes['stream'][0]} B in {events} events",
                      flush=True)
                for stream in (False, True):
                    for s in (mock, bare):
                        load_round(s, stream, args.connections, args.warmup, args.max_requests)
                print("a. non-stream requests/s", flush=True)
                results["json"] = compare(mock, bare, False, args)
                print("b. stream events/s", flush=True)
                results["stream"] = compare(mock, bare, True, args)

        print("c. start-up to first answer", flush=True)
        startup: dict[str, list[float]] = {"mockai": [], "bare": []}
        for r in range(args.startup_runs):
            runs = [("mockai", mockai_cmd()), ("bare", bare_cmd(canned_path))]
            for name, cmd in runs if r % 2 == 0 else runs[::-1]:
                startup[name].append(time_to_first_answer(name, cmd, workdir))
        print("  " + "   ".join(f"{k}: " + " ".join(f"{v * 1000:.0f}" for v in vals) + " ms"
                                for k, vals in startup.items()), flush=True)

    up_mock, up_bare = statistics.median(startup["mockai"]), statistics.median(startup["bare"])
    j, s = results["json"], results["stream"]
    rows = [
        ("non-stream requests/s", f"{j['a']:.0f}", f"{j['b']:.0f}", f"{j['ratio']:.2f}x", f">= {TARGET_RATIO}x",
         j["ratio"] >= TARGET_RATIO),
        ("stream events/s", f"{s['a']:.0f}", f"{s['b']:.0f}", f"{s['ratio']:.2f}x", f">= {TARGET_RATIO}x",
         s["ratio"] >= TARGET_RATIO),
        ("non-stream server CPU us/req", f"{j['cpu_a']:.0f}", f"{j['cpu_b']:.0f}", f"{j['cpu_ratio']:.2f}x", "info",
         None),
        ("stream server CPU us/req", f"{s['cpu_a']:.0f}", f"{s['cpu_b']:.0f}", f"{s['cpu_ratio']:.2f}x", "info", None),
        ("start-up to first 200 (s)", f"{up_mock:.3f}", f"{up_bare:.3f}", "-", f"< {TARGET_STARTUP_S} s (mockai)",
         up_mock < TARGET_STARTUP_S),
    ]
    print()
    print(f"{'metric':30} {'mockai':>9} {'bare':>9} {'ratio':>7}  {'target':22} result")
    for name, a, b, ratio, target, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{name:30} {a:>9} {b:>9} {ratio:>7}  {target:22} {verdict}")
    print("(ratios are medians of per-pair ratios, mockai/bare; the CPU row's ratio is bare/mockai, i.e. the same "
          "direction: higher is better)")
    errors = j["errors"] + s["errors"]
    if errors:
        print(f"WARNING: {errors} failed or malformed responses during load")
    if max(j["client_cpu"], s["client_cpu"]) > 0.9:
        print("WARNING: the load generator used >90% of a core; the bare app may be under-driven and the ratios "
              "flattered")
    missed = [r[0] for r in rows if r[5] is False] + (["errors during load"] if errors else [])
    if missed and not args.no_check:
        print("targets missed: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
