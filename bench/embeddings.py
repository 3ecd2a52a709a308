"""Embeddings benchmark (issue 11, item 6): big requests do not stall other clients; inputs/s beside chat req/s.

    .venv/bin/python bench/embeddings.py [--probe-gap 0.02] [--duration 3] [--connections 4] [--no-check]

What it measures, against one `mockai serve --port 0` it starts (its own process group, stopped in a `finally`),
all on 127.0.0.1:

a. A stall check: one client sends small chat requests one after another (a probe, a fresh body each time, a short
   pause between them) while another sends a 2,048-input request to `text-embedding-3-large` (3,072 dimensions),
   once as base64 (the `openai` SDK's default) and once as floats. Reported: the big request's time and size, and
   the probe's latency p50/p99/max while it was in flight, beside the probe's latency with nothing else running.
   The big answer is made in a worker thread (`mockai.app.heavy`), so the event loop keeps answering: the probe's
   p99 must stay under a quarter of the big request's time (a loop held by it would make the probe wait for all of
   it) and under 250 ms.
b. Throughput in the same run: `--connections` clients sending embeddings requests of 16 short inputs each
   (varied texts), then the same clients sending small chat requests, alternating rounds; reported as embedding
   inputs/s and vectors' bytes/s beside chat requests/s, the median of the rounds.

The load generator is Python (`http.client`, a thread per connection) in its own process: on two cores it takes
a share of the CPU, so read the numbers as a floor, and the ratios within one run as the result. No numpy is
needed: mockai's vectors are pure Python (see `mockai/vectors.py` for their cost).

Exit status: 0 when the stall target is met (or with --no-check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

HOST = "127.0.0.1"
HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
BIG_INPUTS = 2048
TARGET_PROBE_P99_S = 0.25
TARGET_SHARE = 0.25  # probe p99 below this share of the big request's time


@contextlib.contextmanager
def server() -> Iterator[tuple[str, int, int]]:
    """`mockai serve --port 0`: yields (host, port, pid); stopped (its process group) when done."""
    cmd = [sys.executable, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        url = ""
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("OPENAI_BASE_URL="):
                url = line.strip().split("=", 1)[1]
        if not url:
            raise RuntimeError("mockai serve did not announce its URL")
        parts = urlsplit(url)
        yield parts.hostname or HOST, parts.port or 80, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, object]) -> tuple[int, bytes]:
    conn.request("POST", path, json.dumps(body), HEADERS)
    res = conn.getresponse()
    return res.status, res.read()


def chat(i: int) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Say hi, probe {i}."}],
            "max_tokens": 16}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def probe(host: str, port: int, gap: float, stop: threading.Event, out: list[float]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    i = 0
    while not stop.is_set():
        start = time.perf_counter()
        status, _ = post(conn, "/v1/chat/completions", chat(i))
        assert status == 200, status
        out.append(time.perf_counter() - start)
        i += 1
        time.sleep(gap)
    conn.close()


def stall_check(host: str, port: int, gap: float, fmt: str) -> dict[str, float]:
    """The big request's time and size, and the probe's latency while it ran."""
    inputs = [f"Document {i}: the lighthouse keeper logs ship number {i * 7919 % 10007} at dusk." for i in
              range(BIG_INPUTS)]
    body = {"model": "text-embedding-3-large", "input": inputs, "encoding_format": fmt}
    latencies: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=probe, args=(host, port, gap, stop, latencies))
    thread.start()
    time.sleep(0.5)  # the probe is warm before the big request starts
    before = len(latencies)
    conn = http.client.HTTPConnection(host, port, timeout=600)
    start = time.perf_counter()
    status, data = post(conn, "/v1/embeddings", body)
    took = time.perf_counter() - start
    during = latencies[before:]
    stop.set()
    thread.join()
    conn.close()
    assert status == 200, data[:300]
    assert len(json.loads(data)["data"]) == BIG_INPUTS
    return {"seconds": took, "mb": len(data) / 1e6, "probes": len(during), "p50": percentile(during, 0.5),
            "p99": percentile(during, 0.99), "max": max(during, default=float("nan"))}


def baseline(host: str, port: int, gap: float, seconds: float = 2.0) -> dict[str, float]:
    latencies: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=probe, args=(host, port, gap, stop, latencies))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return {"probes": len(latencies), "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "max": max(latencies)}


def load(host: str, port: int, kind: str, connections: int, duration: float) -> tuple[float, float]:
    """(requests/s, embedding inputs/s) of `connections` clients sending `kind` requests for `duration` s."""
    counts = [0] * connections
    deadline = time.monotonic() + duration

    def run(slot: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        i = 0
        while time.monotonic() < deadline:
            if kind == "chat":
                status, _ = post(conn, "/v1/chat/completions", chat(slot * 1_000_000 + i))
            else:
                texts = [f"Slot {slot} request {i} text {j}: a harbour at dusk." for j in range(16)]
                status, _ = post(conn, "/v1/embeddings", {"model": "text-embedding-3-small", "input": texts})
            assert status == 200, status
            counts[slot] += 1
            i += 1
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=run, args=(s,)) for s in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    requests = sum(counts) / elapsed
    return requests, requests * (16 if kind == "embeddings" else 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe-gap", type=float, default=0.02, help="seconds between probe requests")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds of each kind, alternating")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    ok = True
    with server() as (host, port, _):
        warm = http.client.HTTPConnection(host, port, timeout=60)  # first answers load the generator and tokenizer
        for i in range(5):
            post(warm, "/v1/chat/completions", chat(-i))
            post(warm, "/v1/embeddings", {"model": "text-embedding-3-large", "input": [f"warm {i}"] * 4})
        warm.close()
        base = baseline(host, port, args.probe_gap)
        print(f"probe alone: {base['probes']} chat requests, p50 {base['p50'] * 1e3:.1f} ms, "
              f"p99 {base['p99'] * 1e3:.1f} ms, max {base['max'] * 1e3:.1f} ms")
        for fmt in ("base64", "float"):
            big = stall_check(host, port, args.probe_gap, fmt)
            limit = min(TARGET_PROBE_P99_S, TARGET_SHARE * big["seconds"])
            met = big["p99"] <= limit
            ok &= met
            print(f"2048 inputs to text-embedding-3-large ({fmt}): {big['seconds']:.2f} s, {big['mb']:.1f} MB; "
                  f"meanwhile {big['probes']} chat probes: p50 {big['p50'] * 1e3:.1f} ms, p99 "
                  f"{big['p99'] * 1e3:.1f} ms, max {big['max'] * 1e3:.1f} ms "
                  f"[target p99 <= {limit * 1e3:.0f} ms: {'met' if met else 'MISSED'}]")
        chat_rates: list[float] = []
        input_rates: list[float] = []
        for _ in range(args.rounds):
            input_rates.append(load(host, port, "embeddings", args.connections, args.duration)[1])
            chat_rates.append(load(host, port, "chat", args.connections, args.duration)[0])
        print(f"throughput ({args.connections} connections, median of {args.rounds} rounds of {args.duration:g} s): "
              f"{statistics.median(input_rates):.0f} embedding inputs/s (16 short inputs a request, 1536 dimensions, "
              f"base64) beside {statistics.median(chat_rates):.0f} chat requests/s")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
