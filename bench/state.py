"""Shared state (issue 15): what one state for every worker and replica costs, under wrk, in one run.

    python bench/state.py [--duration 5] [--rounds 3] [--connections 32] [--only sqlite-1,redis-1] [--no-check]

Servers, each `mockai serve` of the interpreter running this script (so run it from the venv to measure),
answering with the generator (no scenario: every reply generated, every call journaled, ids counted):

  ``memory``          one worker, state in memory (the baseline: today's objects);
  ``sqlite-1``        one worker on a SQLite state file (``--state sqlite:///…``): the store's own cost, no contention;
  ``sqlite-2w``       ``--workers 2``: two workers on the default (temporary) SQLite file;
  ``redis-1``         one replica on a local ``redis-server`` (``--state redis://…``);
  ``redis-2r``        two replicas on that redis-server, each loaded by its own wrk (half the connections each):
                      no balancer, as the replicas test does.

First, counted in-process: the store operations (round trips to Redis, statements on SQLite) an ordinary request
makes, a figure no load on the machine can blur. Then wrk (C, bench/load.lua through bench/load.py's helpers) sends
varied prompts (a counter in the prompt, never the same body twice), non-stream and ``"stream": true``; rounds
alternate the order. Reported per server: requests/s,
p50/p99, and the CPU each request costs the server processes (all of them: workers, replicas) and redis-server.

The per-process figure the issue sets a target for (>= 0.7x of in-memory) is CPU efficiency: requests one process
serves per CPU-second, relative to the in-memory worker (``cpu_us(memory) / cpu_us(X)``, redis-server's CPU
counted in); the cost per request of the shared store is ``cpu_us(X) - cpu_us(memory)``. Raw requests/s are shown
too, but on a 2-core machine wrk, the workers and redis-server share the same two cores, so two processes cannot
show twice the throughput of one there.

Exit status: 0 when the 1-process shared states are at >= 0.7x of in-memory CPU efficiency (or --no-check),
1 otherwise, 2 when wrk or redis-server is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from load import CLK_TCK, Load, Server, Spec, need, parse_wrk  # type: ignore[import-not-found]

TARGET = 0.7
ANNOUNCE = re.compile(r"OPENAI_BASE_URL=http://127\.0\.0\.1:(\d+)/v1")
MODES = [("non-stream", False), ("stream", True)]


def group_cpu(groups: set[int]) -> float:
    """CPU seconds (user + system) of every live process in the process groups ``groups``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if binary is None:
        print("redis-server not found; install it with: apt-get install redis-server", file=sys.stderr)
        sys.exit(2)
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server processes' CPU per request
    redis_us: float  # redis-server's CPU per request
    errors: int


class Target:
    """One or more `mockai serve` processes measured together (the replicas each get their own wrk)."""

    def __init__(self, name: str, servers: list[Server], redis: subprocess.Popen[bytes] | None = None) -> None:
        self.name, self.servers, self.redis = name, servers, redis

    def run(self, load: Load, stream: bool, seconds: int) -> Result:
        groups = {s.pid for s in self.servers}
        redis_groups = {self.redis.pid} if self.redis is not None else set()
        cpu0, r0 = group_cpu(groups), group_cpu(redis_groups)
        share = max(1, load.connections // len(self.servers))
        procs = []
        for server in self.servers:
            cmd = load.command(server.port, "varied", stream, seconds)
            cmd[2] = f"-c{share}"
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          stdin=subprocess.DEVNULL))
        outs = [p.communicate(timeout=seconds + 60) for p in procs]
        cpu1, r1 = group_cpu(groups), group_cpu(redis_groups)
        runs = [parse_wrk(out, err, 0.0, 0.0) for out, err in outs]
        rps = sum(r.rps for r in runs)
        n = max(rps * seconds, 1)
        return Result(rps, max(r.p50_ms for r in runs), max(r.p99_ms for r in runs), (cpu1 - cpu0) / n * 1e6,
                      (r1 - r0) / n * 1e6, sum(r.errors for r in runs))


def operations(url: str, stream: bool, requests: int = 200) -> dict[str, float]:
    """The store operations an ordinary request makes (the wrk load's kind: a new prompt each time, generated
    replies), counted in-process on an engine sharing ``url``: a figure no load on the machine can blur."""
    import json

    from mockai.engine import Config, Engine, HTTPRequest
    from mockai.shared import Backend

    engine = Engine(Config(state=url))
    assert engine.shared is not None
    backend = engine.shared.backend
    counts: dict[str, int] = {}

    def counted(name: str) -> object:
        real = getattr(backend, name)

        def count(*args: object) -> object:
            counts[name] = counts.get(name, 0) + 1
            return real(*args)
        return count

    for name in Backend.__abstractmethods__:
        setattr(backend, name, counted(name))

    def ask(i: int) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Operations {stream} #{i}"}]}
        if stream:
            body["stream"] = True
        res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={
            "authorization": "Bearer sk-bench-0123456789", "content-type": "application/json"},
            body=json.dumps(body).encode()))
        assert res.status == 200, res.body

    ask(-1)  # the first look at the script reads it whole
    counts.clear()
    for i in range(requests):
        ask(i)
    backend.close()
    return {name: n / requests for name, n in sorted(counts.items()) if name != "close"}


def serve_spec(name: str, *args: str) -> Spec:
    return Spec(name, [sys.executable, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning", *args],
                ANNOUNCE, f"mockai serve {' '.join(args)}".strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--only", default=None, metavar="A,B", help="measure only these servers (memory always)")
    args = parser.parse_args(argv)
    wrk = need("wrk", "apt-get install wrk")
    load = Load(wrk, 1, args.connections)
    with tempfile.TemporaryDirectory(prefix="mockai-bench-state-") as tmp, redis_server() as (redis_url, redis), \
            contextlib.ExitStack() as stack:
        work = Path(tmp)
        specs = {
            "memory": [serve_spec("memory")],
            "sqlite-1": [serve_spec("sqlite-1", "--state", f"sqlite:///{work / 'one.db'}")],
            "sqlite-2w": [serve_spec("sqlite-2w", "--workers", "2")],
            "redis-1": [serve_spec("redis-1", "--state", redis_url)],
            "redis-2r": [serve_spec(f"redis-2r-{i}", "--state", redis_url) for i in (1, 2)],
        }
        if args.only:
            keep = {"memory", *args.only.split(",")}
            specs = {k: v for k, v in specs.items() if k in keep}
        targets = []
        for name, group in specs.items():
            servers = [stack.enter_context(Server(spec, work)) for spec in group]
            for server in servers:
                server.wait_ready()
            targets.append(Target(name, servers, redis if name.startswith("redis") else None))
        print(f"{sys.executable}; wrk -t1 -c{args.connections} (split between replicas), varied prompts, generated "
              f"replies; {args.rounds} rounds x {args.duration} s; {os.cpu_count()} cores; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        for label, url in (("sqlite", f"sqlite:///{work / 'count.db'}"), ("redis", redis_url)):
            shown = {mode: operations(url, stream) for mode, stream in MODES}
            print(f"store operations per request, {label}: " + "; ".join(
                f"{mode} {sum(ops.values()):.2f} ({', '.join(f'{k} {v:.2f}' for k, v in ops.items())})"
                for mode, ops in shown.items()), flush=True)
        ok = True
        for mode, stream in MODES:
            for t in targets:
                t.run(load, stream, args.warmup)
            results: dict[str, list[Result]] = {t.name: [] for t in targets}
            for r in range(args.rounds):
                for t in targets if r % 2 == 0 else targets[::-1]:
                    results[t.name].append(t.run(load, stream, args.duration))
            base_cpu = statistics.median(x.cpu_us for x in results["memory"])
            base_rps = statistics.median(x.rps for x in results["memory"])
            print(f"\n{mode}:")
            print(f"  {'':10s} {'req/s':>8s} {'x mem':>6s} {'p50 ms':>7s} {'p99 ms':>7s} {'cpu us/req':>10s} "
                  f"{'redis us':>8s} {'store us':>8s} {'cpu eff':>7s} errors")
            for t in targets:
                rs = results[t.name]
                rps = statistics.median(x.rps for x in rs)
                cpu = statistics.median(x.cpu_us + x.redis_us for x in rs)
                efficiency = base_cpu / cpu
                print(f"  {t.name:10s} {rps:8.0f} {rps / base_rps:6.2f} {statistics.median(x.p50_ms for x in rs):7.1f} "
                      f"{statistics.median(x.p99_ms for x in rs):7.1f} {statistics.median(x.cpu_us for x in rs):10.0f} "
                      f"{statistics.median(x.redis_us for x in rs):8.0f} {cpu - base_cpu:8.0f} {efficiency:7.2f} "
                      f"{sum(x.errors for x in rs)}")
                if t.name in ("sqlite-1", "redis-1"):
                    ok = ok and efficiency >= TARGET
        print(f"\ncpu eff = in-memory CPU per request / this one's (redis-server's included); target >= {TARGET}x for "
              f"one process on a shared state: {'met' if ok else 'MISSED'}")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
