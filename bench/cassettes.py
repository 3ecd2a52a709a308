"""Cassette benchmarks: replay lookup must not grow with the number of interactions (issue 5, point 9), and
recording new episodes beside a large cassette must not pay for the whole file per request (issue 9, point 12).

    /work/venv/bin/python bench/cassettes.py [--requests 2000] [--rounds 5] [--big 10000] [--yaml]
                                             [--record 3000] [--new 20] [--part both|replay|record] [--no-check]

Builds two cassettes in a temporary directory — 10 interactions and 10,000 (``--big``) — of realistic chat
completions (a user question, a ~40-token answer, headers, usage), then:

- load: the time to construct a replaying ``Cassette`` from each file (JSON parse + match-key index), best of 3;
- per request: the time for ``Engine.handle`` to answer a replayed request (validation, matching, building the
  response) through an engine whose cassette is the small or the big one, ``--requests`` requests per round,
  rounds alternating the order (small, big, then big, small, ...). Both answer the same request mix (the first 10
  recorded questions, ``allow_playback_repeats`` so they can repeat). The ratio is the median of per-round ratios.

Targets: per-request ratio big/small <= 1.2; loading the big cassette < 1 s. With ``--yaml`` the same interactions
are also dumped as YAML and loaded with PyYAML's C loader, for the format choice documented in
``mockai/cassettes/store.py``.

Record (``--part record``): a cassette of ``--record`` interactions (3,000: about 5 MB) is replayed with record
mode ``new_episodes`` while ``--new`` requests it lacks are recorded from an upstream (a mockai server on a local
socket, answering at once). Each recorded request is timed through the ``openai`` SDK in-process, alternating with
the same kind of request sent straight to the upstream; the overhead is the median of (recorded − direct). Then
the time to write the cassette file (``Cassette.flush``, when the mockai under test has it) and a check that the
file holds every interaction. Target: overhead per recorded request < 50 ms (whole-file rewrites cost 0.5–1 s).

Exit status 0 when the targets are met (or with --no-check), 1 otherwise. Runs on older mockai too (for the numbers
before a change): ``PYTHONPATH=/path/to/old/checkout python bench/cassettes.py --part record``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mockai.cassettes import Cassette, save
from mockai.engine import Config, Engine, HTTPRequest

ANSWER = ("The lighthouse keeper climbed the spiral stairs at dusk, trimmed the wick and watched the beam sweep "
          "across the dark water, counting ships as they passed the reef.")


def interaction(i: int) -> dict[str, Any]:
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"Question {i}: tell me about lighthouses."}]
    body = {"model": "gpt-4o-mini", "messages": messages}
    return {
        "request": {"method": "POST", "path": "/v1/chat/completions", "query": "",
                    "headers": {"authorization": "REDACTED", "content-type": "application/json"}, "body": body},
        "response": {"status": 200, "headers": {"content-type": "application/json", "x-request-id": f"req_{i:08x}",
                                                "openai-processing-ms": "412"}, "elapsed": 0.41,
                     "body": {"id": f"chatcmpl-{i:010d}", "object": "chat.completion", "created": 1_700_000_000,
                              "model": "gpt-4o-mini-2024-07-18",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER,
                                                                   "refusal": None, "annotations": []},
                                           "logprobs": None, "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 24, "completion_tokens": 36, "total_tokens": 60},
                              "service_tier": "default", "system_fingerprint": "fp_0123456789"}},
    }


def best_load(path: Path) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        Cassette(path, allow_playback_repeats=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def per_request(engine: Engine, requests: list[HTTPRequest]) -> float:
    t0 = time.perf_counter()
    for req in requests:
        res = engine.handle(req)
        assert res.status == 200, res.body
    elapsed = time.perf_counter() - t0
    engine.reset()
    return elapsed / len(requests)


def replay_part(args: argparse.Namespace, tmp: str) -> bool:
    small_path, big_path = Path(tmp) / "small.json", Path(tmp) / "big.json"
    save(small_path, [interaction(i) for i in range(10)])
    save(big_path, [interaction(i) for i in range(args.big)])
    size = big_path.stat().st_size / 1e6
    load_small, load_big = best_load(small_path), best_load(big_path)
    print(f"load: 10 interactions {load_small * 1000:.1f} ms; {args.big} interactions ({size:.1f} MB) "
          f"{load_big * 1000:.0f} ms")
    if args.yaml:
        import yaml

        doc = json.loads(big_path.read_text())
        text = yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
        t0 = time.perf_counter()
        yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # a safe loader
        print(f"load as YAML with PyYAML's {'C' if hasattr(yaml, 'CSafeLoader') else 'pure-Python'} safe loader: "
              f"{time.perf_counter() - t0:.2f} s")

    engines = {name: Engine(Config(cassette=str(path), allow_playback_repeats=True))
               for name, path in (("small", small_path), ("big", big_path))}
    bodies = [json.dumps(interaction(i % 10)["request"]["body"]).encode() for i in range(args.requests)]
    requests = [HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer sk-bench"},
                            body=b) for b in bodies]
    for engine in engines.values():  # warm up
        per_request(engine, requests[:200])
    ratios, smalls, bigs = [], [], []
    for r in range(args.rounds):
        order = ["small", "big"] if r % 2 == 0 else ["big", "small"]
        got = {name: per_request(engines[name], requests) for name in order}
        smalls.append(got["small"])
        bigs.append(got["big"])
        ratios.append(got["big"] / got["small"])
    ratio = statistics.median(ratios)
    print(f"per request: 10 interactions {statistics.median(smalls) * 1e6:.0f} us; {args.big} interactions "
          f"{statistics.median(bigs) * 1e6:.0f} us; ratio {ratio:.3f} (rounds: "
          f"{', '.join(f'{x:.3f}' for x in ratios)})")
    ok = ratio <= 1.2 and load_big < 1.0
    print(f"replay targets (ratio <= 1.2, load < 1 s): {'met' if ok else 'NOT met'}")
    return ok


def record_part(args: argparse.Namespace, tmp: str) -> bool:
    import openai

    from mockai import MockAI
    from mockai.cassettes import load

    path = Path(tmp) / "record.json"
    save(path, [interaction(i) for i in range(args.record)])
    size = path.stat().st_size / 1e6
    upstream = MockAI(seed=3, assert_all_called=False)
    with upstream.serve() as server:
        direct = openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
        recorder = MockAI(cassette=path, record_mode="new_episodes", upstream=server.base_url)
        client = recorder.client(api_key="sk-bench", max_retries=0)
        hit = interaction(0)["request"]["body"]
        client.chat.completions.create(**hit)  # warm up: a replayed hit, and one direct call
        direct.chat.completions.create(**interaction(-1)["request"]["body"])
        recorded, straight = [], []
        for j in range(args.new):
            for side in (("recorded", "direct") if j % 2 == 0 else ("direct", "recorded")):
                body = interaction(args.record + j)["request"]["body"] if side == "recorded" else \
                    interaction(-2 - j)["request"]["body"]
                t0 = time.perf_counter()
                (client if side == "recorded" else direct).chat.completions.create(**body)
                (recorded if side == "recorded" else straight).append(time.perf_counter() - t0)
        flush = getattr(recorder.cassette, "flush", None)
        t0 = time.perf_counter()
        if flush is not None:
            flush()
        flushed = time.perf_counter() - t0
    on_disk = len(json.loads(path.read_text())["interactions"])
    assert on_disk == args.record + args.new, (on_disk, args.record + args.new)
    assert len(load(path)) == on_disk
    overhead = statistics.median(r - d for r, d in zip(recorded, straight, strict=True))
    print(f"record {args.new} new episodes beside {args.record} interactions ({size:.1f} MB): recorded request "
          f"{statistics.median(recorded) * 1000:.1f} ms (max {max(recorded) * 1000:.1f}), direct to the upstream "
          f"{statistics.median(straight) * 1000:.1f} ms; overhead {overhead * 1000:.1f} ms per request")
    print("write the file: " + (f"flush {flushed * 1000:.0f} ms, once, off the request path" if flush is not None
                                else "on every recorded request (no Cassette.flush)"))
    ok = overhead < 0.05
    print(f"record target (overhead < 50 ms per recorded request): {'met' if ok else 'NOT met'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--yaml", action="store_true", help="also time PyYAML's C loader on the same data")
    parser.add_argument("--record", type=int, default=3000, help="interactions of the cassette recorded beside")
    parser.add_argument("--new", type=int, default=20, help="new episodes recorded")
    parser.add_argument("--part", choices=["both", "replay", "record"], default="both")
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("both", "replay"):
            ok = replay_part(args, tmp) and ok
        if args.part in ("both", "record"):
            ok = record_part(args, tmp) and ok
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
