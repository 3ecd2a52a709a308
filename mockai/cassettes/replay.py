"""A recorded interaction sent again: as it was, or converted between a stream and a JSON body.

The Responses API (a recording of ``/v1/responses``): a recorded stream answers a stream request as recorded
(``event:`` and ``data:`` lines, no ``[DONE]``, with its timing) and a request without ``stream`` with the
``response`` of its terminal event (``response.completed``, ``.incomplete`` or ``.failed``; a stream that ended
on an ``error`` event gives that error as a 500, one without a terminal event a 400 ``cassette_miss``); a
recorded ``response`` object answers a stream request with the events of that response, written by mockai's
renderer (the real API's grammar, the recorded ids), unless it is not finished (``queued``: a 400
``cassette_miss``). Chat recordings never answer Responses requests, nor the reverse (see
:mod:`.matching`). The rest of this docstring is about chat completions.

A recorded ``chat.completion`` answering a request with ``stream: true`` is chunked by :mod:`mockai.streaming`
(the same ids, model, fingerprint and usage; usage as a last chunk when ``stream_options.include_usage``); a
recorded stream answering a request without it is reassembled into the ``chat.completion`` it stands for. Errors
(any non-2xx) are sent as recorded either way, as the real API does. A recorded stream's usage follows the
request, not the recording: without ``stream_options.include_usage`` the usage-only chunk and the ``usage: null``
fields are left out; with it they are added when the recording lacks them, from the recorded usage or, when the
stream was recorded without any, from ``usage`` (the cassette counts as the engine does); when neither gives one
the stream is sent as recorded (no usage is made up). A stream the upstream dropped is never replayed as a
success: to a stream request its recorded events are sent and the connection drops; to a plain request the
connection drops. Timing: a recorded stream's ``at`` offsets become a
:class:`~mockai.engine.Delivery` (time to first byte, then the gaps between events), divided by ``speed``; an answer
sent as a JSON body (or a JSON body chunked) waits its recorded ``elapsed`` time only when ``elapsed`` is asked for;
``speed`` 0 or ``None`` sends everything at once.

>>> inter = {"request": {}, "response": {"status": 200, "headers": {"content-type": "application/json"},
...          "body": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
...                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"},
...                                "finish_reason": "stop"}]}}}
>>> res = respond(inter, stream=True)
>>> res.events[-1]
b'data: [DONE]\\n\\n'
>>> reassemble(events_json(res.events))["choices"][0]["message"]["content"]
'Hi there'
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from .. import streaming
from ..http import Delivery, HTTPResponse
from ..responses import render
from ..rules import from_completion
from .matching import api_of
from .proxy import encode_event, parse_event
from .scrub import is_secret_header_name

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"
TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def events_json(events: Sequence[bytes]) -> list[dict[str, Any]]:
    """The JSON chunks among SSE events (``[DONE]`` and others left out)."""
    out = []
    for event in events:
        for line in event.decode("utf-8", "replace").splitlines():
            if line.startswith("data:"):
                text = line[5:].strip()
                if text.startswith("{"):
                    out.append(json.loads(text))
    return out


def recorded_chunks(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON data of a recorded stream's events (a Responses event kept whole as ``raw``, as older mockai
    recorded them, is read too)."""
    out = []
    for event in response.get("events") or []:
        if "raw" in event and "data" not in event:
            event = parse_event(str(event["raw"]), 0.0)
        if isinstance(event.get("data"), dict):
            out.append(event["data"])
    return out


# --- the Responses API ------------------------------------------------------------------------------------------

FINAL_STATUSES = ("completed", "incomplete", "failed", "cancelled")


def final_response(events: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``response`` a recorded Responses stream ended with (its ``response.completed``, ``.incomplete`` or
    ``.failed`` event), or ``None``."""
    for event in reversed(events):
        if event.get("type") in TERMINAL_EVENTS and isinstance(event.get("response"), dict):
            return dict(event["response"])
    return None


def response_stream(body: dict[str, Any], obfuscation: bool = True) -> list[bytes] | None:
    """A recorded ``response`` object as the stream of the same response (mockai's own renderer: the grammar the
    real API sends, the recorded ids, delta events padded unless not ``obfuscation``); ``None`` for a response that
    is not finished (``queued``, …)."""
    if body.get("status") not in FINAL_STATUSES or not isinstance(body.get("output"), list):
        return None
    events = render.obfuscated(render.events(body), str(body.get("id") or ""), obfuscation)
    return render.sse(events, streaming.dumps)


def reassemble(chunks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``chat.completion`` that stream ``chunks`` stand for: content, refusal, tool calls, logprobs, usage."""
    first = next((c for c in chunks if "choices" in c), chunks[0] if chunks else {})
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        if chunk.get("usage"):
            usage = chunk["usage"]
        for c in chunk.get("choices") or []:
            d = choices.setdefault(c.get("index", 0), {"content": None, "refusal": None, "calls": [],
                                                       "logprobs": None, "finish_reason": None})
            delta = c.get("delta") or {}
            for key in ("content", "refusal"):
                if delta.get(key) is not None:
                    d[key] = (d[key] or "") + delta[key]
            for tc in delta.get("tool_calls") or []:
                index = tc.get("index", 0)
                while len(d["calls"]) <= index:
                    d["calls"].append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                call = d["calls"][index]
                call["id"] = tc.get("id") or call["id"]
                fn = tc.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
            if c.get("logprobs") and c["logprobs"].get("content"):
                d["logprobs"] = (d["logprobs"] or []) + c["logprobs"]["content"]
            if c.get("finish_reason") is not None:
                d["finish_reason"] = c["finish_reason"]
    out_choices = []
    for index in sorted(choices):
        d = choices[index]
        message: dict[str, Any] = {"role": "assistant", "content": d["content"], "refusal": d["refusal"]}
        if d["calls"]:
            message["tool_calls"] = d["calls"]
        message["annotations"] = []
        out_choices.append({"index": index, "message": message,
                            "logprobs": {"content": d["logprobs"], "refusal": None} if d["logprobs"] else None,
                            "finish_reason": d["finish_reason"] or "stop"})
    body: dict[str, Any] = {"id": first.get("id"), "object": "chat.completion", "created": first.get("created"),
                            "model": first.get("model"), "choices": out_choices, "usage": usage}
    for key in ("service_tier", "system_fingerprint"):
        if key in first:
            body[key] = first[key]
    return body


UsageFor = Callable[[dict[str, Any]], "dict[str, Any] | None"]  # a chat.completion -> its usage


def _is_chunk(data: Any) -> bool:
    return isinstance(data, dict) and data.get("object") == "chat.completion.chunk"


def _is_usage_chunk(data: Any) -> bool:
    return _is_chunk(data) and data.get("choices") == [] and data.get("usage") is not None


def usage_events(events: list[dict[str, Any]], include_usage: bool, usage: UsageFor | None = None,
                 complete: bool = True) -> list[dict[str, Any]]:
    """Recorded stream ``events`` with their usage as a request with (or without) ``include_usage`` gets it."""
    if not include_usage:
        out = []
        for event in events:
            data = event.get("data")
            if _is_usage_chunk(data):
                continue
            if isinstance(data, dict) and _is_chunk(data) and "usage" in data and data["usage"] is None:
                event = {**event, "data": {k: v for k, v in data.items() if k != "usage"}}
            out.append(event)
        return out
    chunks = [e["data"] for e in events if _is_chunk(e.get("data"))]
    if not chunks or any(_is_usage_chunk(c) for c in chunks):
        return events
    value = next((c["usage"] for c in chunks if c.get("usage")), None)
    if value is None and usage is not None:
        value = usage(reassemble(chunks))
    if value is None:  # nothing recorded and nothing to count with: send as recorded rather than invent usage
        return events
    out = [{**e, "data": _with_usage(e["data"], None)} if _is_chunk(e.get("data")) and "usage" not in e["data"]
           else e for e in events]
    if complete:  # the usage chunk comes last, before [DONE]; a dropped stream never got that far
        last = chunks[-1]
        tail = {k: last[k] for k in ("id", "object", "created", "model", "service_tier", "system_fingerprint")
                if k in last}
        made: dict[str, Any] = {**tail, "choices": [], "usage": value}
        if "obfuscation" in last:  # a stream recorded padded: the usage chunk is too, as the real API pads it
            made["obfuscation"] = streaming.pads(streaming.padding(str(last.get("id"))), len(chunks) + 1)[-1].decode()
        done = next((i for i, e in enumerate(out) if e.get("data") == "[DONE]"), len(out))
        at = out[done]["at"] if done < len(out) else out[-1].get("at", 0.0)
        out.insert(done, {"at": at, "data": made})
    return out


def _with_usage(chunk: dict[str, Any], usage: Any) -> dict[str, Any]:
    """``chunk`` with ``usage`` right after its ``choices``, where the real API writes it."""
    out: dict[str, Any] = {}
    for key, value in chunk.items():
        out[key] = value
        if key == "choices":
            out["usage"] = usage
    out.setdefault("usage", usage)
    return out


def chunk(body: dict[str, Any], include_usage: bool, usage: UsageFor | None = None,
          obfuscation: bool = True) -> list[bytes]:
    """A recorded ``chat.completion`` as the SSE events of the same reply streamed (padded, as the real API pads
    them, unless not ``obfuscation``)."""
    value = body.get("usage")
    if value is None and include_usage and usage is not None:
        value = usage(body)
    reply_id = body.get("id") or "chatcmpl-recorded"
    meta = streaming.Meta(id=reply_id, created=int(body.get("created") or 0),
                          model=body.get("model") or "", system_fingerprint=body.get("system_fingerprint"),
                          service_tier=body.get("service_tier"), usage=value,
                          include_usage=include_usage and value is not None,
                          obfuscation=streaming.padding(reply_id) if obfuscation else None)
    return streaming.sse(streaming.chunks(from_completion(body), meta))


def _headers(recorded: dict[str, str], content_type: str | None = None) -> dict[str, str]:
    out = {k: v for k, v in recorded.items() if not is_secret_header_name(k)}
    if content_type is not None:
        out = {k: v for k, v in out.items() if k.lower() != "content-type"}
        out["content-type"] = content_type
    return out


def _timing(at: Sequence[float], speed: float | None) -> Delivery | None:
    if not speed or not at:
        return None
    times = [max(0.0, float(t)) / speed for t in at]
    gaps = [max(0.0, b - a) for a, b in itertools.pairwise(times)]
    return Delivery(delay=times[0], gaps=gaps or None)


def _unconvertible(what: str, how: str, headers: dict[str, str]) -> HTTPResponse:
    """The answer to a request that matched a recording which cannot be sent the way it asks."""
    message = (f"mockai: the cassette matched {what}, which cannot be sent {how}; record this request as it "
               "is sent now (record_mode='new_episodes').")
    error = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "cassette_miss"}}
    return HTTPResponse(400, _headers(headers, JSON_TYPE), body=streaming.dumps(error))


def respond(inter: dict[str, Any], *, stream: bool, include_usage: bool = False,
            speed: float | None = None, elapsed: bool = False, usage: UsageFor | None = None,
            obfuscation: bool = True) -> HTTPResponse:
    """The response to send for a recorded interaction, to a request that asked for ``stream`` or not;
    ``usage`` counts a reply's usage when the request asks for it and the recording has none; a recorded body sent
    as a stream is padded (``obfuscation``) unless the request turned it off. A recorded stream is sent as it was
    recorded, its padding included.

    Timing (the socket door honours it): a recorded stream sent as a stream keeps its events' times, divided by
    ``speed``; any other answer (a JSON body, a stream reassembled into one, a body chunked into a stream) has
    only the recorded ``elapsed`` time, waited (divided by ``speed``) only with ``elapsed``. ``speed`` 0 or
    ``None``: nothing waits.
    """
    res = inter["response"]
    request = inter.get("request") or {}
    responses = api_of(str(request.get("path") or "")) == "responses"
    if "status" not in res:  # the upstream dropped the connection before answering
        return HTTPResponse(502, {}, delivery=Delivery(reset=True))
    status, headers = int(res["status"]), dict(res.get("headers") or {})
    events = res.get("events")
    waited = [float(res.get("elapsed") or 0.0)] if elapsed else []
    if events is not None:
        ok = 200 <= status < 300
        if stream or not ok:
            if ok and not responses:  # chat's usage chunk follows the request; a Responses stream is as it was
                events = usage_events(events, include_usage, usage, complete=not res.get("dropped"))
            out = [encode_event(e) for e in events]
            delivery = _timing([float(e.get("at") or 0.0) for e in events], speed)
            if res.get("dropped"):
                delivery = delivery or Delivery()
                delivery.cut_after = len(out)  # the connection drops after the recorded events
            return HTTPResponse(status, _headers(headers), events=out, delivery=delivery)
        if res.get("dropped"):  # a partial reply is not a reply: the connection drops, no finish_reason made up
            delivery = _timing(waited, speed) or Delivery()
            delivery.cut_after = 0
            return HTTPResponse(status, _headers(headers, JSON_TYPE), body=b"", delivery=delivery)
        chunks = recorded_chunks(res)
        if responses:
            errors = [{k: c.get(k) for k in ("message", "type", "param", "code")} | {"type": "server_error"}
                      for c in chunks if c.get("type") == "error"]
        else:
            errors = [c["error"] for c in chunks if isinstance(c.get("error"), dict)]
        if errors:
            err = errors[0]
            return HTTPResponse(500, _headers(headers, JSON_TYPE), body=streaming.dumps({"error": err}),
                                delivery=_timing(waited, speed))
        if responses:
            final = final_response(chunks)
            if final is None:
                return _unconvertible("a recorded stream without its final response event", "without stream",
                                      headers)
            body = streaming.dumps(final)
        else:
            body = streaming.dumps(reassemble(chunks))
        return HTTPResponse(status, _headers(headers, JSON_TYPE), body=body, delivery=_timing(waited, speed))
    if "body" in res:
        body_value = res["body"]
        ok = 200 <= status < 300 and isinstance(body_value, dict)
        if stream and ok and responses:
            converted = response_stream(body_value, obfuscation)
            if converted is None:
                return _unconvertible(f"a recorded response with status {body_value.get('status')!r}", "streamed",
                                      headers)
            return HTTPResponse(status, _headers(headers, SSE_TYPE), events=converted,
                                delivery=_timing(waited, speed))
        if stream and ok and not responses and "choices" in body_value:
            out = chunk(body_value, include_usage, usage, obfuscation)
            return HTTPResponse(status, _headers(headers, SSE_TYPE), events=out, delivery=_timing(waited, speed))
        raw = streaming.dumps(body_value)
    else:
        raw = str(res.get("text", "")).encode()
    delivery = _timing(waited, speed)
    if res.get("dropped"):  # nothing of the body is sent, so the journal holds none of it
        delivery = delivery or Delivery()
        delivery.cut_after = 0
        raw = b""
    return HTTPResponse(status, _headers(headers), body=raw, delivery=delivery)
