"""Faults under load (issue 6, point 8): slow streams, client disconnects, and stalled clients.

    /work/venv/bin/python bench/faults_load.py [--streams 1000] [--disconnects 10000] [--stalled 300] [--no-check]

Everything runs on 127.0.0.1 against `mockai serve` processes this script starts on port 0 (in their own process
groups, stopped in a `finally`). The client is raw asyncio sockets (HTTP/1.1, one request per connection), not
httpx, so a thousand connections cost the client little. Server-side numbers come from the server process itself:
`GET /_mockai/stats` (asyncio tasks, open file descriptors, RSS) and /proc/PID/status (peak RSS sampling).

a. **Slow streams**: `--streams` concurrent `"stream": true` requests against `mockai serve --latency
   ttft=0.2,per_token=0.05,jitter=0.2` (each stream ~1.2 s). Reported: errors (target 0; a stream must end with
   `data: [DONE]` and the chunked terminator), the wall time of all of them against one stream alone (median of
   5, run first: the baseline), and peak server RSS against its idle RSS (target: < 200 MiB growth).
b. **Disconnects mid-stream**: `--disconnects` streams, 200 at a time, each closed by the client right after its
   first event (half with a TCP reset, half with a FIN). The server is measured (after `DELETE /_mockai/calls`,
   which forgets the journal, and a settle pause) after a warm-up of 1,000 and again at the end. Targets: asyncio
   tasks and file descriptors back to the warm-up count (growth 0 ± 2), RSS growth < 20 MiB.
c. **Stalled clients do not block others**: on a server with `--fault-header`, `--stalled` connections are held
   open (half `X-Mockai-Fault: hang=30`, half streams with `stall=30` mid-stream), and 300 ordinary requests are
   timed with 4 clients in parallel; baseline: the same 300 requests with nothing stalled, in the same script.
   Target: 0 errors and a p50 latency ratio (stalled / baseline) < 3.

Exit status: 0 when every target is met (or with --no-check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a short story"}], "max_tokens": 20}
SLOW = "ttft=0.2,per_token=0.05,jitter=0.2"
MiB = 1024 * 1024


def raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def server(*args: str) -> Iterator[tuple[str, int, int]]:
    """``mockai serve --port 0 ARGS`` in its own process group: (host, port, pid); always stopped."""
    proc = subprocess.Popen([sys.executable, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        url = ""
        assert proc.stdout is not None
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("OPENAI_BASE_URL="):
                url = line.split("=", 1)[1].strip()
        if not url:
            raise RuntimeError("mockai serve did not start")
        hostport = url.split("//")[1].split("/")[0]
        host, port = hostport.rsplit(":", 1)
        yield host, int(port), proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def control(host: str, port: int, method: str, action: str) -> Any:
    req = urllib.request.Request(f"http://{host}:{port}/_mockai/{action}", method=method)
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def request_bytes(host: str, port: int, body: dict[str, Any], fault: str | None = None) -> bytes:
    data = json.dumps(body).encode()
    extra = f"X-Mockai-Fault: {fault}\r\n".encode() if fault else b""
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer sk-bench\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n%sContent-Length: %d\r\n\r\n%s"
            % (host.encode(), port, extra, len(data), data))


async def full_request(host: str, port: int, body: dict[str, Any], timeout: float) -> tuple[bool, float]:
    """Send one request, read the whole answer; (complete and well-formed, seconds)."""
    started = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(request_bytes(host, port, body))
        raw = await asyncio.wait_for(reader.read(-1), timeout)
        ok = raw.startswith(b"HTTP/1.1 200")
        if body.get("stream"):
            ok = ok and b"data: [DONE]\n\n" in raw and raw.endswith(b"0\r\n\r\n")
        else:
            ok = ok and b'"object":"chat.completion"' in raw
        return ok, time.monotonic() - started
    except (OSError, asyncio.TimeoutError):
        return False, time.monotonic() - started
    finally:
        if writer is not None:
            writer.close()


async def disconnect_after_first_event(host: str, port: int, reset: bool) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request_bytes(host, port, {**BODY, "stream": True}))
        seen = b""
        while b"data: " not in seen:
            piece = await asyncio.wait_for(reader.read(4096), 10)
            if not piece:
                return False
            seen += piece
        return True
    finally:
        if reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort() if reset else writer.close()


async def settled(host: str, port: int, pause: float = 1.0) -> dict[str, Any]:
    await asyncio.sleep(pause)
    control(host, port, "DELETE", "calls")
    await asyncio.sleep(0.2)
    return dict(control(host, port, "GET", "stats"))


# --- a ------------------------------------------------------------------------------------------------------------


async def slow_streams(n: int) -> dict[str, Any]:
    with server("--latency", SLOW) as (host, port, pid):
        idle = rss(pid)
        peak = idle
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss(pid))
                await asyncio.sleep(0.1)

        alone = [t for ok, t in [await full_request(host, port, {**BODY, "stream": True}, 30) for _ in range(5)] if ok]
        sampler = asyncio.ensure_future(sample())
        started = time.monotonic()
        results = await asyncio.gather(*[full_request(host, port, {**BODY, "stream": True}, 120) for _ in range(n)])
        wall = time.monotonic() - started
        stop.set()
        await sampler
        errors = sum(not ok for ok, _ in results)
        one = statistics.median(alone)  # baseline: the same stream with nothing else running
        return {"streams": n, "errors": errors, "one_stream_alone_s": round(one, 2), "wall_s": round(wall, 2),
                "wall_vs_one_stream": round(wall / one, 2),
                "median_stream_s": round(statistics.median(t for _, t in results), 2),
                "idle_rss_mib": round(idle / MiB, 1), "peak_rss_mib": round(peak / MiB, 1),
                "rss_growth_mib": round((peak - idle) / MiB, 1)}


# --- b ------------------------------------------------------------------------------------------------------------


async def disconnects(n: int, concurrency: int = 200, warmup: int = 1000) -> dict[str, Any]:
    with server("--latency", SLOW) as (host, port, _):
        failures = 0

        async def batch(count: int, offset: int) -> None:
            nonlocal failures
            sem = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                nonlocal failures
                async with sem:
                    try:
                        if not await disconnect_after_first_event(host, port, reset=(i % 2 == 0)):
                            failures += 1
                    except (OSError, asyncio.TimeoutError):
                        failures += 1

            for start in range(0, count, 1000):  # forget the journal every 1,000 calls: it is meant to grow
                await asyncio.gather(*[one(offset + i) for i in range(start, min(count, start + 1000))])
                control(host, port, "DELETE", "calls")

        await batch(warmup, 0)
        before = await settled(host, port)
        started = time.monotonic()
        await batch(n, warmup)
        wall = time.monotonic() - started
        after = await settled(host, port)
        return {"disconnects": n, "failures": failures, "wall_s": round(wall, 2),
                "tasks_before": before["tasks"], "tasks_after": after["tasks"],
                "fds_before": before["fds"], "fds_after": after["fds"],
                "rss_before_mib": round(before["rss_bytes"] / MiB, 1),
                "rss_after_mib": round(after["rss_bytes"] / MiB, 1),
                "rss_growth_mib": round((after["rss_bytes"] - before["rss_bytes"]) / MiB, 1)}


# --- c ------------------------------------------------------------------------------------------------------------


async def timed_requests(host: str, port: int, count: int, workers: int = 4) -> tuple[int, list[float]]:
    times: list[float] = []
    errors = 0
    queue = list(range(count))

    async def worker() -> None:
        nonlocal errors
        while queue:
            queue.pop()
            ok, seconds = await full_request(host, port, BODY, 10)
            errors += not ok
            times.append(seconds)

    await asyncio.gather(*[worker() for _ in range(workers)])
    return errors, times


async def stalled(n: int, count: int = 300) -> dict[str, Any]:
    with server("--fault-header") as (host, port, _):
        await timed_requests(host, port, 50)  # warm-up
        base_errors, base = await timed_requests(host, port, count)
        held: list[asyncio.StreamWriter] = []
        for i in range(n):
            _, writer = await asyncio.open_connection(host, port)
            stream = i % 2 == 1
            writer.write(request_bytes(host, port, {**BODY, "stream": stream}, "stall=30" if stream else "hang=30"))
            held.append(writer)
        await asyncio.sleep(0.5)
        stats = control(host, port, "GET", "stats")
        errors, loaded = await timed_requests(host, port, count)
        for writer in held:
            writer.transport.abort()
        return {"stalled_clients": n, "server_tasks_while_stalled": stats["tasks"], "errors": errors + base_errors,
                "baseline_p50_ms": round(statistics.median(base) * 1000, 2),
                "stalled_p50_ms": round(statistics.median(loaded) * 1000, 2),
                "baseline_p99_ms": round(sorted(base)[int(len(base) * 0.99) - 1] * 1000, 2),
                "stalled_p99_ms": round(sorted(loaded)[int(len(loaded) * 0.99) - 1] * 1000, 2),
                "p50_ratio": round(statistics.median(loaded) / statistics.median(base), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--disconnects", type=int, default=10000)
    parser.add_argument("--stalled", type=int, default=300)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    limit = raise_fd_limit(max(4096, 2 * args.streams + 512))
    print(f"fd limit {limit}; {os.cpu_count()} CPUs", flush=True)

    a = asyncio.run(asyncio.wait_for(slow_streams(args.streams), 300))
    print("a. slow streams:", json.dumps(a), flush=True)
    b = asyncio.run(asyncio.wait_for(disconnects(args.disconnects), 600))
    print("b. disconnects: ", json.dumps(b), flush=True)
    c = asyncio.run(asyncio.wait_for(stalled(args.stalled), 300))
    print("c. stalled:     ", json.dumps(c), flush=True)

    checks = {
        "a: 0 errors": a["errors"] == 0,
        "a: RSS growth < 200 MiB": a["rss_growth_mib"] < 200,
        "b: every stream started": b["failures"] == 0,
        "b: tasks back to the warm-up count (±2)": abs(b["tasks_after"] - b["tasks_before"]) <= 2,
        "b: fds back to the warm-up count (±2)": abs(b["fds_after"] - b["fds_before"]) <= 2,
        "b: RSS growth < 20 MiB": b["rss_growth_mib"] < 20,
        "c: 0 errors": c["errors"] == 0,
        "c: p50 ratio < 3": c["p50_ratio"] < 3,
    }
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if args.no_check or all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
