"""Strategies and fuzz benchmark (issue 4, point 7), in one script.

    /work/venv/bin/python bench/strategies.py [--draws 2000] [--examples 300] [--duration 2] [--rounds 4] [--no-check]

a. Drawing one reply with its stream at the default size (``ReplySpace()``; a tool offered in a second run):
   - through the seeded source the fuzz responder uses (``draw_stream(SeededSource(...))``), mean ms per draw;
   - through Hypothesis (``@given(chunk_streams())`` with an empty body, generate phase only), mean ms per example,
     which includes Hypothesis's own per-example bookkeeping.
   Target: at most a few ms (3 ms) for each.
b. Socket throughput: `mockai serve --responder fuzz` vs `mockai serve` (the default generator), both started here
   with the same flags (`--fuzz-fragments 0`, so the socket bytes are written as the default does; fragmentation
   is a deliberate slowdown), the same load generator (bench/serve.py's asyncio keep-alive client, 24
   connections), replies per second, non-stream and stream (events/s shown too, but fuzz streams are shorter),
   alternating rounds (A,B then B,A ...); the reported ratio is the
   median of per-pair ratios fuzz/default. Target: >= 0.3x. Both servers answer bench/serve.py's one repeated
   request, and the engine memoizes either responder's reply per exact request, so this measures serving a fuzz
   reply (its drawn split and rendering) against serving a generated one; the drawing itself is (a) and (c).
c. The responders themselves, uncached: `Fuzzer().generate` vs `Generator().generate` on 500 distinct requests
   (in-process, alternating rounds), ratio of throughputs fuzz/default. Reported, with the same 0.3x target.

Loopback only; every load loop is bounded; servers on port 0, in their own process group, always stopped.
Exit status: 0 when every target is met (or with --no-check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import serve as loadgen  # noqa: E402  (bench/serve.py: Server, load_round)

TARGET_DRAW_MS = 3.0
TARGET_RATIO = 0.3
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1,
                                                                             "maximum": 7}},
    "required": ["city"]}}}


def seeded_draw_ms(draws: int, with_tool: bool) -> float:
    from mockai.shapes import ReplySpace, SeededSource, ToolSpec, draw_stream

    space = ReplySpace(tools=(ToolSpec("get_weather", TOOL["function"]["parameters"]),) if with_tool else ())
    start = time.perf_counter()
    for seed in range(draws):
        draw_stream(SeededSource(random.Random(seed)), space)
    return (time.perf_counter() - start) / draws * 1000


def hypothesis_draw_ms(examples: int, with_tool: bool) -> float:
    from hypothesis import HealthCheck, Phase, given, settings

    from mockai.strategies import chunk_streams

    count = 0

    @settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(chunk_streams(tools=[TOOL] if with_tool else None))
    def run(drawn: object) -> None:
        nonlocal count
        count += 1

    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / max(count, 1) * 1000


def responder_ratio(rounds: int = 6, requests: int = 500) -> float:
    """Throughput of Fuzzer().generate over Generator().generate on distinct requests (median per-pair ratio)."""
    from mockai.fuzz import Fuzzer
    from mockai.generate import Generator
    from mockai.wire import ChatCompletionRequest

    reqs = [ChatCompletionRequest.model_validate({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": f"Write two sentences about lighthouse number {i}."}]}) for i in range(requests)]
    sides = {"fuzz": Fuzzer(), "default": Generator()}
    for side in sides.values():
        side.generate(reqs[0], key=b"warm", seed=0)
    ratios = []
    for r in range(rounds):
        took = {}
        for name in (("fuzz", "default") if r % 2 == 0 else ("default", "fuzz")):
            start = time.perf_counter()
            for i, req in enumerate(reqs):
                sides[name].generate(req, key=b"%d|%d" % (r, i), seed=r)
            took[name] = time.perf_counter() - start
        ratios.append(took["default"] / took["fuzz"])
        print(f"  round {r + 1}: fuzz {took['fuzz'] / requests * 1e6:6.0f} us/reply  default "
              f"{took['default'] / requests * 1e6:6.0f} us/reply  ratio {ratios[-1]:.2f}", flush=True)
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drawing cost and fuzz server throughput.")
    parser.add_argument("--draws", type=int, default=2000, help="seeded draws per measurement (2000)")
    parser.add_argument("--examples", type=int, default=300, help="Hypothesis examples per measurement (300)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per load round (2)")
    parser.add_argument("--rounds", type=int, default=4, help="load rounds per server and mode (4)")
    parser.add_argument("--connections", type=int, default=24)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)

    print("a. one reply with its stream, default size")
    rows = []
    for with_tool in (False, True):
        label = "with a tool" if with_tool else "no tools"
        seeded = statistics.median(seeded_draw_ms(args.draws, with_tool) for _ in range(3))
        hyp = statistics.median(hypothesis_draw_ms(args.examples, with_tool) for _ in range(3))
        print(f"  {label:12} seeded source {seeded:.3f} ms/draw   Hypothesis {hyp:.3f} ms/example", flush=True)
        rows += [(f"seeded draw, {label} (ms)", seeded), (f"Hypothesis example, {label} (ms)", hyp)]

    print("b. socket throughput, fuzz / default")
    results = {}
    with tempfile.TemporaryDirectory(prefix="mockai-bench-") as tmp:
        work = Path(tmp)
        base = [loadgen.PY, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning"]
        fuzz = loadgen.Server("fuzz", [*base, "--responder", "fuzz", "--fuzz-fragments", "0"], work)
        default = loadgen.Server("default", base, work)
        try:
            fuzz.start().wait_ready()
            default.start().wait_ready()
            for stream in (False, True):
                for s in (fuzz, default):
                    loadgen.load_round(s, stream, args.connections, 0.5, 200_000)
                ratios = []
                for r in range(args.rounds):
                    order = (fuzz, default) if r % 2 == 0 else (default, fuzz)
                    got = {s.name: loadgen.load_round(s, stream, args.connections, args.duration, 200_000)
                           for s in order}
                    a, b = got["fuzz"].rps, got["default"].rps
                    ratios.append(a / b)
                    events = (f"  (events/s {got['fuzz'].eps:.0f} vs {got['default'].eps:.0f}: fuzz streams are "
                              "shorter)") if stream else ""
                    print(f"  {'stream' if stream else 'json':6} round {r + 1}: fuzz {a:6.0f} req/s  default "
                          f"{b:6.0f} req/s  ratio {a / b:.2f}  errors {got['fuzz'].errors + got['default'].errors}"
                          f"{events}", flush=True)
                results["stream" if stream else "json"] = statistics.median(ratios)
        finally:
            fuzz.stop()
            default.stop()
    print("c. the responders, uncached, in-process")
    results["responder (uncached, in-process)"] = responder_ratio()
    print()
    ok = True
    for name, ms in rows:
        met = ms <= TARGET_DRAW_MS
        ok &= met
        print(f"{name:40} {ms:8.3f}   target <= {TARGET_DRAW_MS} ms   {'ok' if met else 'MISSED'}")
    for name, ratio in results.items():
        met = ratio >= TARGET_RATIO
        ok &= met
        print(f"{'fuzz/default ' + name:40} {ratio:8.2f}x  target >= {TARGET_RATIO}x     "
              f"{'ok' if met else 'MISSED'}")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
