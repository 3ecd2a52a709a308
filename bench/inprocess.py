"""In-process door benchmark (issue 3, point 8, second part): one `openai` SDK call answered by mockai's engine
through an httpx transport, against the same SDK call answered by `httpx.MockTransport` returning a static reply
(the very bytes and headers of a reply captured from the engine first). Both in this one process, alternating.

    /work/venv/bin/python bench/inprocess.py [--calls 2000] [--rounds 5] [--no-check]

The mockai side uses the project's transport from `mockai.transport` (the httpx transport class found there,
constructed with an engine) when it exists, else a minimal transport defined below that does the same thing:
httpx.Request -> mockai.engine.HTTPRequest -> Engine.handle -> httpx.Response. Rounds alternate the order
(static, mockai, then mockai, static, ...); the ratio is the median of the per-round ratios. Target: a
non-stream call costs at most 1.5x the static one. Streaming calls (iterating every chunk) are measured the
same way, for information. No socket is opened: the clients' base URL is http://127.0.0.1:9/v1 and the
transports answer without I/O. The engine's journal is reset between rounds (outside the timing), so it does
not grow over a run longer than any test would make.

Exit status: 0 when the target is met (or with --no-check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai

from mockai.engine import Engine, HTTPRequest

TARGET = 1.5
BASE_URL = "http://127.0.0.1:9/v1"  # never contacted: both transports answer in-process
API_KEY = "sk-bench-0123456789"
MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Write two sentences about lighthouses."}]


class BenchEngineTransport(httpx.BaseTransport):
    """Stand-in for the in-process door, used only when `mockai.transport` does not provide one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        http = HTTPRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query.decode("ascii", "replace"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw},
            body=request.read(),
        )
        res = self.engine.handle(http)
        return httpx.Response(res.status, headers=res.headers, content=res.content())


def engine_transport(engine: Engine) -> tuple[httpx.BaseTransport, str]:
    """The project's in-process transport if `mockai.transport` has one, else the stand-in above."""
    try:
        import mockai.transport as module
    except ImportError:
        return BenchEngineTransport(engine), "bench/inprocess.py BenchEngineTransport (mockai.transport missing)"
    for name, obj in sorted(vars(module).items()):
        if (isinstance(obj, type) and obj.__module__ == module.__name__ and issubclass(obj, httpx.BaseTransport)):
            for make in (lambda c=obj: c(engine), lambda c=obj: c(engine=engine)):
                try:
                    return make(), f"mockai.transport.{name}"
                except TypeError:
                    continue
    return BenchEngineTransport(engine), "bench/inprocess.py BenchEngineTransport (no usable class in mockai.transport)"


def sdk_client(transport: httpx.BaseTransport) -> openai.OpenAI:
    return openai.OpenAI(api_key=API_KEY, base_url=BASE_URL, max_retries=0,
                         http_client=httpx.Client(transport=transport, base_url=BASE_URL))


def captured(engine: Engine, stream: bool) -> tuple[dict[str, str], bytes]:
    """Headers and body of one real engine reply, for the static baseline."""
    client = httpx.Client(transport=engine_transport(engine)[0], base_url=BASE_URL)
    res = client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": stream},
                      headers={"authorization": f"Bearer {API_KEY}"})
    res.read()
    if res.status_code != 200:
        raise RuntimeError(f"engine answered {res.status_code}: {res.text[:300]}")
    skip = {"content-length", "transfer-encoding"}
    return {k: v for k, v in res.headers.items() if k.lower() not in skip}, res.content


def static_transport(json_reply: tuple[dict[str, str], bytes],
                     stream_reply: tuple[dict[str, str], bytes]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers, body = stream_reply if b'"stream":true' in request.content.replace(b" ", b"") else json_reply
        return httpx.Response(200, headers=headers, content=body)

    return httpx.MockTransport(handler)


def call_plain(client: openai.OpenAI) -> str | None:
    return client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content  # type: ignore[arg-type]


def call_stream(client: openai.OpenAI) -> str:
    parts = []
    for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):  # type: ignore[arg-type]
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


def per_call_us(fn: Callable[[openai.OpenAI], Any], client: openai.OpenAI, calls: int, time_limit: float) -> float:
    deadline = time.perf_counter() + time_limit
    start = time.perf_counter()
    n = 0
    while n < calls:
        fn(client)
        n += 1
        if n % 64 == 0 and time.perf_counter() > deadline:
            break
    return (time.perf_counter() - start) / n * 1e6


def compare(name: str, fn: Callable[[openai.OpenAI], Any], static: openai.OpenAI, mock: openai.OpenAI,
            engine: Engine, args: argparse.Namespace) -> dict[str, float]:
    if fn(static) != fn(mock):
        raise RuntimeError(f"{name}: the static and mockai replies differ")
    for client in (static, mock):  # warm-up
        per_call_us(fn, client, max(args.calls // 10, 20), args.round_limit)
    rows = []
    for r in range(args.rounds):
        results = {}
        for side in (("static", "mockai") if r % 2 == 0 else ("mockai", "static")):
            engine.reset()
            gc.collect()
            results[side] = per_call_us(fn, static if side == "static" else mock, args.calls, args.round_limit)
        rows.append((results["static"], results["mockai"]))
        print(f"  {name} round {r + 1}: static {results['static']:7.1f} us  mockai {results['mockai']:7.1f} us  "
              f"ratio {results['mockai'] / results['static']:.2f}", flush=True)
    return {"static": statistics.median(s for s, _ in rows), "mockai": statistics.median(m for _, m in rows),
            "ratio": statistics.median(m / s for s, m in rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="openai SDK call: mockai in-process vs httpx.MockTransport.")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and side (default 2000)")
    parser.add_argument("--stream-calls", type=int, default=500, help="streaming calls per round and side (500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--round-limit", type=float, default=5.0, help="max seconds per round and side (5)")
    parser.add_argument("--no-check", action="store_true", help="only report; exit 0 even if the target is missed")
    args = parser.parse_args(argv)

    engine = Engine()
    transport, which = engine_transport(engine)
    static = sdk_client(static_transport(captured(engine, False), captured(engine, True)))
    mock = sdk_client(transport)
    print(f"bench/inprocess.py: python {sys.version.split()[0]}, openai {openai.__version__}, httpx "
          f"{httpx.__version__}; mockai side: {which}; {args.rounds} rounds x {args.calls} calls\n", flush=True)

    plain = compare("non-stream", call_plain, static, mock, engine, args)
    stream_args = argparse.Namespace(**{**vars(args), "calls": args.stream_calls})
    stream = compare("stream", call_stream, static, mock, engine, stream_args)

    print()
    print(f"{'call through the openai SDK':30} {'static':>10} {'mockai':>10} {'ratio':>7}  {'target':9} result")
    ok = plain["ratio"] <= TARGET
    print(f"{'non-stream, us/call':30} {plain['static']:10.1f} {plain['mockai']:10.1f} {plain['ratio']:6.2f}x  "
          f"{'<= ' + str(TARGET) + 'x':9} {'ok' if ok else 'MISSED'}")
    print(f"{'stream (all chunks), us/call':30} {stream['static']:10.1f} {stream['mockai']:10.1f} "
          f"{stream['ratio']:6.2f}x  {'info':9}")
    print(f"(mockai's own cost per call: non-stream {plain['mockai'] - plain['static']:.0f} us, stream "
          f"{stream['mockai'] - stream['static']:.0f} us; ratios are medians of per-round ratios)")
    if not ok and not args.no_check:
        print(f"target missed: non-stream ratio {plain['ratio']:.2f}x > {TARGET}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
