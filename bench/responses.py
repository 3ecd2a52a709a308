"""The Responses API beside chat completions (issue 10, point 10): the same `mockai serve`, the same reply text, in
one run under wrk.

    python bench/responses.py [--duration 5] [--rounds 4] [--connections 32] [--no-check]

One `mockai serve` process (the interpreter running this script, so run it from the venv you want measured) is
scripted by a scenario (rule ``match: {}``) to answer every request with one fixed text, so both APIs say the same
words and only their wires differ. wrk (bench/load.lua) sends varied prompts (a counter in the prompt; never the
same body twice) to ``/v1/chat/completions`` and to ``/v1/responses``, JSON and ``"stream": true``; rounds
alternate the order (chat, responses, then responses, chat…). Reported: requests/s and events/s of each (events
per reply counted from one sample of each stream), p50/p99, server CPU per request, and the median of per-round
ratios responses / chat. Target (issue 10): >= 0.8x chat on requests/s and on events/s.

Exit status: 0 when both targets are met (or --no-check), 1 otherwise, 2 when wrk is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from load import REPLY, Load, Server, Spec, fetch, need, re  # type: ignore[import-not-found]

TARGET = 0.8


def events_per_reply(port: int, path: str, body: dict[str, object]) -> int:
    """Events of one streamed reply: SSE blocks, chat's [DONE] included (each is one write of the wire)."""
    status, _, content = fetch(port, json.dumps(body).encode(), path=path)
    assert status == 200, content[:300]
    return len([b for b in content.split(b"\n\n") if b.strip()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)
    wrk = need("wrk", "apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="mockai-bench-") as tmp:
        work = Path(tmp)
        scenario = work / "same-text.json"
        scenario.write_text(json.dumps({"rules": [{"match": {}, "reply": REPLY}]}))
        spec = Spec("mockai", [sys.executable, "-m", "mockai.cli", "serve", "--port", "0", "--log-level", "warning",
                               "--scenario", str(scenario)],
                    re.compile(r"http://127\.0\.0\.1:(\d+)/v1"), f"mockai serve ({sys.executable})")
        load = Load(wrk, 1, args.connections)
        with Server(spec, work) as server:
            server.wait_ready()
            chat_events = events_per_reply(server.port, "/v1/chat/completions", {
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True})
            resp_events = events_per_reply(server.port, "/v1/responses",
                                           {"model": "gpt-4o-mini", "input": "hi", "stream": True})
            print(f"{spec.about}; same reply text on both APIs; events per stream: chat {chat_events}, "
                  f"responses {resp_events}; wrk -t1 -c{args.connections}, {args.rounds} rounds x {args.duration} s")
            ok = True
            for stream in (False, True):
                runs: dict[str, list] = {"chat": [], "responses": []}
                for api in runs:
                    load.run(server, "varied", stream, args.warmup, api=api)
                for r in range(args.rounds):
                    order = ["chat", "responses"] if r % 2 == 0 else ["responses", "chat"]
                    for api in order:
                        runs[api].append(load.run(server, "varied", stream, args.duration, api=api))
                per = {"chat": chat_events if stream else 1, "responses": resp_events if stream else 1}
                what = "events/s" if stream else "req/s"
                ratios = [runs["responses"][i].rps * per["responses"] / (runs["chat"][i].rps * per["chat"])
                          for i in range(args.rounds)]
                print(f"\n{'stream' if stream else 'non-stream'} (varied prompts):")
                for api, rs in runs.items():
                    rate = statistics.median(x.rps for x in rs) * per[api]
                    print(f"  {api:10s} {rate:10.0f} {what}  {statistics.median(x.rps for x in rs):7.0f} req/s  "
                          f"p50 {statistics.median(x.p50_ms for x in rs):6.1f} ms  "
                          f"p99 {statistics.median(x.p99_ms for x in rs):6.1f} ms  "
                          f"server CPU {statistics.median(x.cpu_us for x in rs):5.0f} us/req  "
                          f"errors {sum(x.errors for x in rs)}")
                ratio = statistics.median(ratios)
                met = ratio >= TARGET
                ok = ok and met
                print(f"  responses / chat: {ratio:.2f}x {what} (target >= {TARGET}x: {'met' if met else 'MISSED'}); "
                      f"per round {', '.join(f'{x:.2f}' for x in ratios)}")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
