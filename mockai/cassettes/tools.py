"""Cassette tools behind ``mockai cassette …``: a readable transcript, importing VCR.py cassettes, scrubbing.

VCR.py and pytest-recording store each interaction as ``request: {method, uri, body, headers}`` and
``response: {status: {code}, headers, body: {string}}``, with headers as lists and bodies as text or bytes
(``!!binary``), often gzip-encoded. :func:`import_vcr` turns such a YAML document of OpenAI traffic into mockai
interactions: bodies decoded and parsed, streams split into events (at offset 0: VCR keeps no timing).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .matching import CassetteRequest, api_of, last_user
from .proxy import REQUEST_SKIP, RESPONSE_SKIP, parse_event
from .replay import final_response, reassemble, recorded_chunks


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _first(values: Any) -> str:
    if isinstance(values, list):
        return _text(values[0]) if values else ""
    return _text(values)


def _decode(raw: Any, encoding: str) -> bytes:
    data = raw if isinstance(raw, bytes) else _text(raw).encode("utf-8", "surrogateescape")
    encoding = encoding.lower().strip()
    if encoding == "gzip" or data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    return data


def import_vcr(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """mockai interactions from a loaded VCR.py cassette (``yaml.safe_load`` of the file).

    >>> vcr = {"version": 1, "interactions": [{"request": {"method": "POST",
    ...     "uri": "https://api.openai.com/v1/chat/completions", "body": '{"model": "gpt-4o-mini", "messages": []}',
    ...     "headers": {"Authorization": ["Bearer sk-secret-123456789"]}},
    ...     "response": {"status": {"code": 200, "message": "OK"}, "headers": {"Content-Type": ["application/json"]},
    ...                  "body": {"string": '{"id": "chatcmpl-1"}'}}}]}
    >>> import_vcr(vcr)[0]["response"]["body"]
    {'id': 'chatcmpl-1'}
    """
    out = []
    for index, inter in enumerate(doc.get("interactions") or []):
        req, res = inter.get("request") or {}, inter.get("response") or {}
        url = urlsplit(_text(req.get("uri")))
        req_headers = {k.lower(): _first(v) for k, v in (req.get("headers") or {}).items()
                       if k.lower() not in REQUEST_SKIP}
        raw = _decode(req.get("body") or b"", req_headers.get("content-encoding", ""))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        recorded_req = {"method": _text(req.get("method") or "POST").upper(), "path": url.path, "query": url.query,
                        "headers": req_headers, "body": body}
        all_headers = {k.lower(): _first(v) for k, v in (res.get("headers") or {}).items()}
        headers = {k: v for k, v in all_headers.items() if k not in RESPONSE_SKIP}
        status = res.get("status") or {}
        code = status.get("code") if isinstance(status, Mapping) else status
        if code is None:
            raise ValueError(f"interactions[{index}].response has no status code")
        body_field = res.get("body") or {}
        payload = _decode(body_field.get("string", b"") if isinstance(body_field, Mapping) else body_field,
                          all_headers.get("content-encoding", ""))
        recorded_res: dict[str, Any] = {"status": int(code), "headers": headers, "elapsed": 0.0}
        if headers.get("content-type", "").startswith("text/event-stream"):
            text = payload.decode("utf-8", "replace").replace("\r\n", "\n")
            recorded_res["events"] = [parse_event(e, 0.0) for e in text.split("\n\n") if e.strip()]
        else:
            try:
                recorded_res["body"] = json.loads(payload)
            except ValueError:
                recorded_res["text"] = payload.decode("utf-8", "replace")
        out.append({"request": recorded_req, "response": recorded_res})
    return out


def _content(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", f"[{p.get('type')}]") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def transcript(interactions: list[dict[str, Any]], source: str = "cassette") -> str:
    """A readable account of a cassette: each request's messages and the answer, streams folded into text.

    >>> print(transcript([{"request": {"method": "POST", "path": "/v1/chat/completions",
    ...     "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}},
    ...     "response": {"status": 200, "body": {"choices": [{"message": {"content": "Hello!"},
    ...                                                       "finish_reason": "stop"}]}}}], "demo.json"))
    demo.json: 1 interaction
    <BLANKLINE>
    #0 POST /v1/chat/completions model=gpt-4o-mini -> 200
      user: Hi
      assistant: Hello!  [stop]
    """
    lines = [f"{source}: {len(interactions)} interaction{'s' if len(interactions) != 1 else ''}"]
    for i, inter in enumerate(interactions):
        req, res = inter.get("request", {}), inter.get("response", {})
        body = req.get("body") if isinstance(req.get("body"), dict) else {}
        status = res.get("status", "dropped before answering")
        head = f"#{i} {req.get('method', '?')} {req.get('path', '?')}"
        if body.get("model"):
            head += f" model={body['model']}"
        if body.get("stream"):
            head += " stream"
        head += f" -> {status}"
        if "events" in res:
            head += f" ({len(res['events'])} events over {float(res.get('elapsed') or 0):.2f} s)"
        if res.get("dropped"):
            head += " [connection dropped]"
        lines += ["", head]
        if body.get("tools"):
            names = [(t.get("function") or {}).get("name") or t.get("name") or t.get("type")
                     for t in body["tools"] if isinstance(t, dict)]
            lines.append(f"  tools: {', '.join(str(n) for n in names)}")
        for msg in body.get("messages") or []:
            if not isinstance(msg, dict):
                continue
            text = _content(msg.get("content"))
            for call in msg.get("tool_calls") or []:
                fn = call.get("function", {})
                text += f" -> {fn.get('name')}({fn.get('arguments')})"
            if msg.get("role") == "tool":
                text = f"[{msg.get('tool_call_id')}] {text}"
            lines.append(f"  {msg.get('role')}: {text.strip()}")
        if api_of(str(req.get("path", ""))) == "responses":
            lines += _responses_lines(body, res)
            continue
        if not body.get("messages") and last_user(body):
            lines.append(f"  user: {last_user(body)}")
        answer = res.get("body")
        if "events" in res:
            chunks = recorded_chunks(res)
            errors = [c["error"] for c in chunks if isinstance(c.get("error"), dict)]
            answer = {"error": errors[0]} if errors else reassemble(chunks) if chunks else None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            err = answer["error"]
            lines.append(f"  error: {err.get('type')} {err.get('code')}: {err.get('message')}")
        elif isinstance(answer, dict):
            for choice in answer.get("choices") or []:
                msg = choice.get("message") or {}
                text = _content(msg.get("content"))
                if msg.get("refusal"):
                    text += f"[refusal] {msg['refusal']}"
                for call in msg.get("tool_calls") or []:
                    fn = call.get("function", {})
                    text += f" -> {fn.get('name')}({fn.get('arguments')})"
                prefix = f"assistant[{choice.get('index')}]" if len(answer.get("choices") or []) > 1 else "assistant"
                lines.append(f"  {prefix}: {text.strip()}  [{choice.get('finish_reason')}]")
        elif "text" in res:
            lines.append(f"  body: {res['text'][:200]}")
    return "\n".join(lines)


def _item_line(item: Any) -> str | None:
    """One input or output item of the Responses API as a transcript line (``None``: nothing to show)."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type", "message")
    if kind == "message":
        content = item.get("content")
        text = _content([{"text": p.get("text", p.get("refusal", f"[{p.get('type')}]"))} if isinstance(p, dict)
                         else p for p in content] if isinstance(content, list) else content)
        refused = isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "refusal"
                                                     for p in content)
        return f"  {item.get('role', 'assistant')}: {'[refusal] ' if refused else ''}{text.strip()}"
    if kind in ("function_call", "custom_tool_call"):
        return f"  assistant: -> {item.get('name')}({item.get('arguments', item.get('input'))})"
    if kind in ("function_call_output", "custom_tool_call_output"):
        return f"  tool: [{item.get('call_id')}] {_content(item.get('output'))}"
    if kind == "reasoning":
        summary = " ".join(s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict))
        return f"  reasoning: {summary}" if summary else None
    return f"  [{kind}]"


def _responses_lines(body: dict[str, Any], res: dict[str, Any]) -> list[str]:
    """A Responses API interaction: the instructions and input, then the output items and how it finished."""
    lines = [f"  instructions: {body['instructions']}"] if body.get("instructions") else []
    given = body.get("input")
    items = [{"role": "user", "content": given}] if isinstance(given, str) else given if isinstance(given, list) \
        else []
    lines += [line for line in map(_item_line, items) if line is not None]
    answer = res.get("body")
    if "events" in res:
        chunks = recorded_chunks(res)
        errors = [c for c in chunks if c.get("type") == "error"]
        answer = {"error": errors[0]} if errors else final_response(chunks)
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict) and answer.get("object") != "response":
        err = answer["error"]
        lines.append(f"  error: {err.get('type')} {err.get('code')}: {err.get('message')}")
    elif isinstance(answer, dict):
        lines += [line for line in map(_item_line, answer.get("output") or []) if line is not None]
        lines.append(f"  [{answer.get('status')}]")
    elif "text" in res:
        lines.append(f"  body: {res['text'][:200]}")
    return lines


def describe_request(inter: dict[str, Any]) -> str:
    return CassetteRequest.of(inter.get("request", {})).describe()
