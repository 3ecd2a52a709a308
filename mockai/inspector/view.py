"""What the inspector shows of a call, of the scripted rules and of the cassette, as JSON: every secret scrubbed.

A call's view holds its summary (method, path, model, stream, status, who answered, fault, error, tokens), its
transcript (:mod:`mockai.transcript`), the request and the response with their headers, and a stream's events
with the time each is sent (from the start of the answer, as its delivery plans it) and where a fault cut it.
A stream that a fault cut, or ended with an error event, shows what was sent of its answer and the error, not the
whole reply the engine wrote.

Credentials never reach the page: headers go through the cassettes' :class:`~mockai.cassettes.Scrubber` (the
same names and rules as a cassette file, the mock's own ``scrub`` included), and every credential found in them
(the bearer token, the ``api-key``…) is replaced wherever else it appears: bodies, events, the query string.

>>> from mockai import MockAI
>>> mock = MockAI(seed=1)
>>> _ = mock.client(api_key="sk-live-0123456789").models.list()
>>> v = call_view(mock.calls.last, 0, Scrubber())
>>> v["status"], v["request"]["headers"]["authorization"]
(200, 'REDACTED')
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..cassettes.scrub import Scrubber
from ..transcript import block, delays, error_of, sent_answer, tokens_of

if TYPE_CHECKING:
    from ..engine import Engine
    from ..journal import Call

BODY_CHARS = 256 * 1024  # larger bodies are shown as the start of their text
EVENTS = 2000  # a stream's events shown; the rest are counted


def call_view(call: Call, seq: int, scrubber: Scrubber, at: float | None = None) -> dict[str, Any]:
    """The inspector's JSON for one call (``seq`` numbers it on the page: the feed gives ``Call.seq``; ``at`` is when
    it was recorded)."""
    http, res = call.http, call.response
    secrets = scrubber.secrets(http.headers, http.query)
    tokens_in, tokens_out = tokens_of(call)
    sent = sent_answer(call.response)
    err = error_of(call) or (sent[1] if sent is not None else None)
    out: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "method": http.method,
        "path": http.path.split("?", 1)[0],
        "query": scrubber.query(http.query, secrets),
        "route": call.route,
        "model": call.model,
        "stream": call.stream,
        "status": res.status,
        "by": call.answered_by,
        "fault": call.fault,
        "ended": call.ended,  # "client" or "stopped": why a stream ended early without a fault
        "unexpected": call.unexpected,
        "error": None if err is None else {k: _text(scrubber, err.get(k), secrets)
                                           for k in ("message", "type", "param", "code")},
        "tokens": [tokens_in, tokens_out],
        "transcript": scrubber.text(block(call, seq), secrets),
        "request": {"headers": scrubber.clean_headers(http.headers, secrets),
                    "body": _body(scrubber, http.body, secrets)},
        "response": {"headers": scrubber.clean_headers(res.headers, secrets)},
    }
    d = res.delivery
    if d is not None:
        out["delivery"] = {"delay": d.delay, "reset": d.reset, "hang": d.hang, "cut_after": d.cut_after,
                           "fragments": bool(d.fragments)}
    if res.events is not None:
        times = delays(d, min(len(res.events), EVENTS))
        out["response"]["events"] = [
            {"at": round(t, 4), "data": scrubber.text(e.decode("utf-8", "replace").rstrip("\n"), secrets)}
            for t, e in zip(times, res.events[:EVENTS], strict=True)]
        out["response"]["more_events"] = max(0, len(res.events) - EVENTS)
    else:
        out["response"]["body"] = _body(scrubber, res.body, secrets)
    if res.live is not None and not res.status:
        out["response"]["note"] = "still being recorded from the upstream"
    return out


def state_view(engine: Engine) -> dict[str, Any]:
    """The loaded scenario (rules, queue, scripted faults), the configuration that shapes answers, and the
    cassette: what ``GET /_mockai/state`` answers."""
    from ..matchers import clip

    config, script = engine.config, engine.script
    rules = [{"index": i + 1, "name": r.name, "rule": r.describe(), "call_count": r.call_count, "times": r.times,
              "scripted": r.scripted} for i, r in enumerate(list(script.rules))]
    out: dict[str, Any] = {
        "config": {"seed": config.seed, "strict": config.strict, "auth": config.auth,
                   "latency": _jsonable(config.latency), "faults": _jsonable(config.faults),
                   "fault_header": config.fault_header, "rpm": config.rpm, "tpm": config.tpm,
                   "responder": config.responder, "models": list(config.models or [])},
        "rules": rules,
        "queue": [clip(repr(s), 200) for s in script.pending],
        "unused": engine.script.unused() + engine.fault_plan.unused(),
        "calls": len(engine.calls),
        "cassette": None,
    }
    cassette = next((r for r in engine.responders if getattr(r, "name", None) == "cassette"), None)
    if cassette is not None:
        from ..cassettes import transcript

        interactions = list(getattr(cassette, "interactions", []))
        out["cassette"] = {"path": str(getattr(cassette, "path", "")),
                           "record_mode": getattr(cassette, "record_mode", None),
                           "interactions": len(interactions),
                           "misses": list(getattr(cassette, "misses", [])),
                           "transcript": transcript(interactions[:200], str(getattr(cassette, "path", "cassette")))}
    return out


def _body(scrubber: Scrubber, raw: bytes, secrets: list[str]) -> Any:
    if not raw:
        return None
    if len(raw) > BODY_CHARS:
        head = raw[:BODY_CHARS].decode("utf-8", "replace")
        return scrubber.text(head, secrets) + f"\n… ({len(raw)} bytes in all)"
    try:
        return scrubber.body(json.loads(raw), secrets)
    except (ValueError, RecursionError):
        return scrubber.text(raw.decode("utf-8", "replace"), secrets)


def _text(scrubber: Scrubber, value: Any, secrets: list[str]) -> Any:
    return scrubber.text(value, secrets) if isinstance(value, str) else value


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value
