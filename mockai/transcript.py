"""Journal calls as people read them: a transcript like ``mockai cassette show``'s, and the facts the request log
and the inspector share (who answered, the error, the tokens, a stream's timing), for every API alike.

A call's conversation comes from its neutral :class:`~mockai.prompt.Prompt` (chat messages and Responses input
items read the same), its answer from the :class:`~mockai.reply.Reply` the engine wrote, or, for answers sent as
they were recorded (cassettes) and APIs without a model reply (embeddings, models), from the response itself.

>>> from mockai import MockAI
>>> mock = MockAI(seed=1)
>>> mock.queue("Hello!")
>>> _ = mock.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
>>> print(mock.calls.transcript())
1 call
<BLANKLINE>
#0 POST /v1/chat/completions model=gpt-4o-mini -> 200 by queue #1
  user: Hi
  assistant: Hello!  [stop]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import Delivery, HTTPResponse
    from .journal import Call
    from .reply import Reply

TURN_CHARS = 300  # a turn's text is clipped to this many characters (system prompts can be long)
_IN = re.compile(rb'"(?:prompt_tokens|input_tokens)"\s*:\s*(\d+)')
_OUT = re.compile(rb'"(?:completion_tokens|output_tokens)"\s*:\s*(\d+)')
_IN_KEYS = (b'"prompt_tokens"', b'"input_tokens"')
_OUT_KEYS = (b'"completion_tokens"', b'"output_tokens"')


def transcript(calls: Sequence[Call], *, last: int | None = None, max_chars: int | None = None,
               start: int = 0) -> str:
    """``calls`` as text: a line saying how many, then each call (numbered from ``start``) as :func:`block`
    writes it. ``last`` keeps the newest ``last`` calls; ``max_chars`` then drops the oldest of those until the
    text fits (the newest call stays, clipped if it alone is too long). What was left out is said."""
    total = len(calls)
    if not total:
        return "no calls"
    first = max(0, total - last) if last is not None else 0
    blocks = [block(c, start + i) for i, c in enumerate(calls[first:], first)]
    if max_chars is not None:
        size = sum(len(b) + 2 for b in blocks)
        while len(blocks) > 1 and size > max_chars:
            size -= len(blocks.pop(0)) + 2
            first += 1
        if len(blocks[0]) > max_chars:
            blocks[0] = blocks[0][: max(0, max_chars - 40)] + f"\n  … (cut: the call's text is over {max_chars} "\
                                                              "characters)"
    head = f"{total} call{'s' if total != 1 else ''}"
    if first:
        head += f" (the first {first} left out; the last {total - first} shown)"
    return "\n\n".join([head, *blocks])


def block(call: Call, index: int) -> str:
    """One call: a head line (request, status, who answered, fault), then its conversation and its answer."""
    lines = [head(call, index)]
    prompt = call.prompt
    if prompt is not None:
        if prompt.tools:
            lines.append(f"  tools: {', '.join(t.name for t in prompt.tools)}")
        for turn in prompt.turns:
            text = turn.text
            for ref in turn.calls:
                text += f" -> {ref.name}({ref.arguments})"
            if turn.role == "tool":
                text = f"[{turn.answers}] {text}"
            lines.append(f"  {turn.role}: {_clip(text.strip())}")
    elif isinstance(call.body, dict):
        lines.append(f"  request: {_clip(_compact(call.body))}")
    lines += answer_lines(call)
    timing = stream_timing(call)
    if timing:
        lines.append(f"  {'stream' if call.response.events is not None else 'timing'}: {timing}")
    return "\n".join(lines)


def head(call: Call, index: int) -> str:
    http = call.http
    line = f"#{index} {http.method} {http.path.split('?', 1)[0]}"
    model = call.model
    if model:
        line += f" model={model}"
    if call.stream:
        line += " stream"
    if call.response.status:
        line += f" -> {call.response.status}"
    else:  # no status: nothing was answered (a connection fault, a client that left), or a live proxy's answer
        line += " -> streamed live" if call.response.live is not None else " -> no answer"
    who = call.answered_by
    if who:
        line += f" by {who}"
    if call.fault:
        line += f" fault={call.fault}"
    if call.unexpected:
        line += " (strict: no scripted reply)"
    return line


def answer_lines(call: Call) -> list[str]:
    """The answer: the reply's choices, or the error, or what the response body says; for a stream that was cut or
    that an error event ended, what was sent of it, and the error."""
    sent = sent_answer(call.response)
    if sent is not None:
        return sent[0]
    if call.ended is not None and call.response.events is None:  # a JSON reply that was not sent whole
        who = "the client left" if call.ended == "client" else "the server stopped"
        body = call.response.body
        return [f"  nothing was sent: {who} first" if not body else
                f"  body, as far as it was sent before {who}: {_clip(body.decode('utf-8', 'replace'))}"]
    err = error_of(call)
    if err is not None:
        where = f" (param {err['param']})" if err.get("param") else ""
        code = f" {err['code']}" if err.get("code") else ""
        return [f"  error: {err.get('type')}{code}{where}: {_clip(str(err.get('message')), 600)}"]
    if call.reply is not None:
        return reply_lines(call.reply)
    res = call.response
    if res.events is not None:
        return _folded(res.events)
    if res.body:
        try:
            body = json.loads(res.body)
        except ValueError:
            return [f"  body: {_clip(res.body.decode('utf-8', 'replace'))}"]
        return _body_lines(body)
    return []


def sent_answer(res: HTTPResponse) -> tuple[list[str], dict[str, Any] | None] | None:
    """For a stream that was cut, or that an error event ended: the transcript's lines for what was sent of the
    answer and for the error, and the error (``None`` for a cut). ``None`` for any other answer: its reply is what
    went out."""
    if res.events is None:
        return None
    cut_after = res.delivery.cut_after if res.delivery is not None else None
    if cut_after is None and not (res.events and _FAILED.search(res.events[-1])):  # an error event ends a stream
        return None
    text, refusal, finish = "", "", None
    calls: dict[Any, list[str]] = {}  # a tool call's name and arguments, by its index
    err: dict[str, Any] | None = None
    for data in _payloads(res.events if cut_after is None else res.events[:cut_after]):
        kind = data.get("type")
        found = data.get("error")
        if isinstance(found, dict) or kind == "error":  # chat's {"error": ...}, the Responses API's error event
            found = found if isinstance(found, dict) else data
            err = {k: found.get(k) for k in ("message", "type", "param", "code")}
            break
        if kind == "response.failed" and isinstance(data.get("response"), dict):
            found = data["response"].get("error")
            found = found if isinstance(found, dict) else {}
            err = {k: found.get(k) for k in ("message", "type", "param", "code")}
            break
        if kind == "response.output_text.delta":
            text += str(data.get("delta") or "")
        elif kind == "response.refusal.delta":
            refusal += str(data.get("delta") or "")
        elif kind == "response.output_item.added" and isinstance(data.get("item"), dict):
            item = data["item"]
            if item.get("type") in ("function_call", "custom_tool_call"):
                calls.setdefault(data.get("output_index"), ["", ""])[0] = str(item.get("name") or "")
        elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            calls.setdefault(data.get("output_index"), ["", ""])[1] += str(data.get("delta") or "")
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            refusal += delta.get("refusal") or ""
            for tc in delta.get("tool_calls") or []:
                fn = tc.get("function") or tc.get("custom") or {}
                entry = calls.setdefault(tc.get("index", 0), ["", ""])
                entry[0] += fn.get("name") or ""
                entry[1] += fn.get("arguments") or fn.get("input") or ""
            finish = choice.get("finish_reason") or finish
    if cut_after is None and err is None:
        return None
    answer = text + (f"[refusal] {refusal}" if refusal else "")
    for name, args in calls.values():
        answer += f" -> {name}({args})"
    answer = _clip(answer.strip(), 600) or "(nothing)"
    if err is not None:
        where = f" (param {err['param']})" if err.get("param") else ""
        code = f" {err['code']}" if err.get("code") else ""
        lines = [f"  assistant, sent before the error: {answer}",
                 f"  error (in the stream): {err.get('type')}{code}{where}: {_clip(str(err.get('message')))}"]
    else:
        lines = [f"  assistant, sent before the cut: {answer}" + (f"  [{finish}]" if finish else "")]
    return lines, err


def reply_lines(reply: Reply) -> list[str]:
    lines = []
    many = len(reply.choices) > 1
    for i, choice in enumerate(reply.choices):
        text = choice.content or ""
        if choice.audio is not None:
            text = f"(audio) {choice.audio.transcript}"
        if choice.refusal:
            text += f"[refusal] {choice.refusal}"
        for call in choice.calls:
            text += f" -> {call.name}({call.arguments})"
        if choice.reasoning:
            lines.append(f"  reasoning: {_clip(choice.reasoning)}")
        who = f"assistant[{i}]" if many else "assistant"
        lines.append(f"  {who}: {_clip(text.strip(), 600)}  [{choice.finish_reason}]")
    return lines


def error_of(call: Call) -> dict[str, Any] | None:
    """The error a call was answered with (``message``, ``type``, ``param``, ``code``), or ``None``: from the
    engine's error, else from a 4xx/5xx body in OpenAI's envelope (a recorded or proxied answer)."""
    if call.error is not None:
        err = call.error
        return {"message": err.message, "type": err.type, "param": err.param, "code": err.code}
    res = call.response
    if res.status < 400 or res.events is not None or not res.body:
        return None
    try:
        body = json.loads(res.body)
    except ValueError:
        return {"message": res.body[:200].decode("utf-8", "replace"), "type": None, "param": None, "code": None}
    found = body.get("error") if isinstance(body, dict) else None
    return found if isinstance(found, dict) else None


def tokens_of(call: Call) -> tuple[int | None, int | None]:
    """``(input, output)`` tokens the answer reported in its ``usage`` (either ``None`` when it has none: a
    stream without ``include_usage``, an error, embeddings' output)."""
    res = call.response
    # Usage rides on a stream's last events (chat's usage chunk, the Responses API's response.completed).
    data = b"".join(res.events[-3:]) if res.events is not None else res.body
    if b"_tokens" not in data:
        return None, None
    return _last(_IN, _IN_KEYS, data), _last(_OUT, _OUT_KEYS, data)


def _last(pattern: re.Pattern[bytes], keys: tuple[bytes, bytes], data: bytes) -> int | None:
    """The number of the last match of ``pattern`` in ``data``. A match starts with one of ``keys``: the last
    key is where the last match starts, when a number follows it (no match can start inside another)."""
    first, second = data.rfind(keys[0]), data.rfind(keys[1])
    start = first if first > second else second
    if start < 0:
        return None
    last = pattern.match(data, start)
    if last is None:  # (that key is not followed by a number: look at every match)
        found = pattern.findall(data)
        return int(found[-1]) if found else None
    return int(last.group(1))


ENDED = {"client": "the client left after {} events were sent",
         "stopped": "the server stopped after {} events were sent: the connection was closed"}


def stream_timing(call: Call) -> str:
    """A stream's length and timing as its delivery planned it, and the fault that cut or dropped it: ``14 events;
    first after 350 ms, then 12 ms apart; 0.51 s in all``. Empty for a JSON answer without a connection fault."""
    res = call.response
    d = res.delivery
    parts = []
    if res.events is not None:
        parts.append(f"{len(res.events)} events")
    if d is not None:
        if d.reset:
            return "the connection was reset before any answer (fault)"
        if d.hang is not None:
            return f"nothing sent for {d.hang:g} s, then the connection was dropped (fault)"
        timed = timing_words(d, len(res.events) if res.events is not None else 1)
        if timed:
            parts.append(timed)
        if d.cut_after is not None and res.events is not None:
            parts.append(ENDED.get(call.ended or "", "cut after {} events: the connection was dropped (fault)")
                         .format(d.cut_after))
    return "; ".join(parts) if res.events is not None or len(parts) > 0 else ""


def timing_words(d: Delivery, count: int) -> str:
    gaps = list(d.gaps or [])[: max(0, count - 1)]
    if not d.delay and not any(gaps):
        return ""
    words = f"first after {_ms(d.delay)}"
    if gaps:
        low, high = min(gaps), max(gaps)
        spread = _ms(low) if high - low < 0.0005 else f"{_ms(low).split()[0]}–{_ms(high)}"
        words += f", then {spread} apart"
    return words + f"; {d.delay + sum(gaps):.2f} s in all"


def delays(d: Delivery | None, count: int) -> list[float]:
    """Seconds from the start of the answer to each of ``count`` events, as the delivery plans them."""
    if d is None:
        return [0.0] * count
    gaps = list(d.gaps or [])
    out, at = [], d.delay
    for i in range(count):
        if i and gaps:
            at += gaps[min(i - 1, len(gaps) - 1)]
        out.append(at)
    return out


# --- answers sent as they came (cassettes, listings, embeddings) ----------------------------------------------


def _body_lines(body: Any) -> list[str]:
    if isinstance(body, dict) and isinstance(body.get("choices"), list):  # a chat completion
        lines = []
        for choice in body["choices"]:
            msg = choice.get("message") or {}
            text = _content(msg.get("content")) + (f"[refusal] {msg['refusal']}" if msg.get("refusal") else "")
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") or call.get("custom") or {}
                text += f" -> {fn.get('name')}({fn.get('arguments', fn.get('input', ''))})"
            lines.append(f"  assistant: {_clip(text.strip(), 600)}  [{choice.get('finish_reason')}]")
        return lines
    if isinstance(body, dict) and isinstance(body.get("output"), list):  # a response (the Responses API)
        return _output_lines(body)
    if isinstance(body, dict) and body.get("object") == "list" and isinstance(body.get("data"), list):
        kinds = {str(d.get("object")) for d in body["data"] if isinstance(d, dict)}
        return [f"  reply: a list of {len(body['data'])} {', '.join(sorted(kinds)) or 'items'}"]
    return [f"  reply: {_clip(_compact(body))}"]


def _output_lines(response: dict[str, Any]) -> list[str]:
    lines, text = [], ""
    for item in response.get("output") or []:
        kind = item.get("type")
        if kind == "message":
            text += _content(item.get("content"))
        elif kind in ("function_call", "custom_tool_call"):
            text += f" -> {item.get('name')}({item.get('arguments', item.get('input', ''))})"
        elif kind == "reasoning":
            summary = " ".join(s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict))
            if summary:
                lines.append(f"  reasoning: {_clip(summary)}")
    lines.append(f"  assistant: {_clip(text.strip(), 600)}  [{response.get('status')}]")
    return lines


# The last event of a stream an error ended: chat's {"error": …}, the Responses API's error or response.failed.
_FAILED = re.compile(rb'"error"\s*:\s*\{|"type"\s*:\s*"(?:error|response\.failed)"')


def _payloads(events: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects a stream's events carry on their ``data:`` lines (``[DONE]`` and anything else left out)."""
    for event in events:
        for line in event.split(b"\n"):
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            try:
                data = json.loads(line[6:])
            except ValueError:
                continue
            if isinstance(data, dict):
                yield data


def _folded(events: Iterable[bytes]) -> list[str]:
    """A stream's text, folded from its events: chat chunks' deltas, or the Responses API's final response."""
    text, finish = "", None
    calls: dict[int, list[str]] = {}
    for data in _payloads(events):
        if isinstance(data.get("error"), dict):
            err = data["error"]
            message = _clip(str(err.get("message")))
            return [f"  error (in the stream): {err.get('type')} {err.get('code')}: {message}"]
        if isinstance(data.get("response"), dict) and data.get("type", "").startswith("response.") and \
                data["response"].get("status") not in (None, "in_progress", "queued"):
            return _output_lines(data["response"])
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            for tc in delta.get("tool_calls") or []:
                fn = tc.get("function") or {}
                entry = calls.setdefault(tc.get("index", 0), ["", ""])
                entry[0] += fn.get("name") or ""
                entry[1] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    for name, args in calls.values():
        text += f" -> {name}({args})"
    if not text and finish is None:
        return []
    return [f"  assistant: {_clip(text.strip(), 600)}  [{finish}]"]


def _content(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", f"[{p.get('type')}]")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _clip(text: str, size: int = TURN_CHARS) -> str:
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ")
    return text if len(text) <= size else text[: size - 1] + "…"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
