"""A finished reply, written for the wire: one JSON body, or chunks framed as server-sent events.

Chunks follow the real API: the first delta of a choice carries ``role: "assistant"``; content, refusal and
tool-call arguments arrive in token-sized deltas; a tool call's first delta has ``index``, ``id``, ``type``,
``function.name`` and ``arguments: ""``; each choice ends with an empty delta and its ``finish_reason``; with
``n > 1`` the choices interleave; with ``include_usage`` every chunk has ``usage: null`` and a last chunk with
``choices: []`` carries the usage. Every chunk ends with an ``obfuscation`` string of 1 to 16 letters and digits
(padding that evens out chunk sizes, which the real API adds unless ``stream_options.include_obfuscation`` is
``false``), drawn from the reply's id: the same reply is padded the same way. The stream ends with
``data: [DONE]``.

A custom tool's call streams like a function's, with ``type: "custom"`` and ``custom`` in place of ``function``:
its first delta has ``index``, ``id``, ``type`` and ``custom: {"name", "input": ""}``, later ones only ``index``
and ``custom.input`` fragments. (The official schema and the SDKs' chunk types have no such delta yet; this is
the shape the API is reported to send, and the SDK's stream helper accumulates it.) A spoken reply streams
``delta.audio``: its first delta carries the ``id`` and the first piece of ``transcript``, then transcript and
base64 ``data`` pieces alternate (the data pieces join to the whole file), and after the choice's finish chunk one
last delta carries only ``expires_at``, as the SDK's types describe.

>>> from mockai.reply import Reply
>>> meta = Meta(id="chatcmpl-1", created=0, model="gpt-4o-mini")
>>> [c["choices"][0]["delta"] for c in chunks(Reply.text("Hi there"), meta)]
[{'role': 'assistant', 'content': '', 'refusal': None}, {'content': 'Hi'}, {'content': ' there'}, {}]
>>> [c["obfuscation"] for c in chunks(Reply.text("Hi there"), Meta(id="chatcmpl-1", created=0, model="m",
...                                                                   obfuscation=padding("chatcmpl-1")))]
['yGliMP1rma', 'rmaJJnPp', 'peB8h0GsWRE62', 'sWRE62sAlL']
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import audio
from .http import dumps as dumps
from .http import scratch_dumps
from .keys import b62
from .reply import Audio, Choice, Reply, ToolCall
from .tokens import split

DONE = b"data: [DONE]\n\n"


@dataclass
class Meta:
    """What a reply shares across its body or all its chunks."""

    id: str
    created: int
    model: str
    system_fingerprint: str | None = None
    service_tier: str | None = "default"
    usage: dict[str, Any] | None = None
    include_usage: bool = False
    logprobs: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # What each chunk's ``obfuscation`` is cut from (:func:`padding`); ``None``: chunks carry none.
    obfuscation: bytes | None = None


def padding(reply_id: str) -> bytes:
    """The letters a stream's ``obfuscation`` strings are cut from (:func:`pads`), for the reply ``reply_id``."""
    digest = hashlib.sha256(b"obfuscation|" + reply_id.encode()).digest()
    return b62(digest + hashlib.sha256(digest).digest(), _PADDING).encode()


def pads(letters: bytes, count: int) -> list[bytes]:
    """The ``obfuscation`` of each of a stream's first ``count`` chunks: 1 to 16 of ``letters``
    (:func:`padding`), their length and start varying from chunk to chunk (and repeating every 64 chunks)."""
    cycle = [letters[start:start + 1 + letters[i] % 16] for i, start in enumerate(_STARTS[:count])]
    return cycle if count <= _PADDING else (cycle * (count // _PADDING + 1))[:count]


_PADDING = 64
_STARTS = tuple((7 * i) % (_PADDING - 16) for i in range(_PADDING))


def _logprobs(choice: Choice) -> dict[str, Any] | None:
    if choice.logprobs is None:
        return None
    return {"content": [lp.to_wire() for lp in choice.logprobs], "refusal": None}


def _tool_call(call: ToolCall) -> dict[str, Any]:
    if call.type == "custom":
        return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def message(choice: Choice) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": choice.refusal}
    if choice.tool_calls:
        msg["tool_calls"] = [_tool_call(t) for t in choice.tool_calls]
    if choice.audio is not None:
        spoken = choice.audio
        msg["audio"] = {"id": spoken.id, "data": base64.b64encode(spoken.data).decode("ascii"),
                        "expires_at": spoken.expires_at, "transcript": spoken.transcript}
    if choice.function_call is not None:
        msg["function_call"] = {"name": choice.function_call.name, "arguments": choice.function_call.arguments}
    msg["annotations"] = []
    return msg


def body(reply: Reply, meta: Meta) -> dict[str, Any]:
    """The ``chat.completion`` object."""
    out: dict[str, Any] = {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [
            {"index": i, "message": message(c), "logprobs": _logprobs(c), "finish_reason": c.finish_reason}
            for i, c in enumerate(reply.choices)
        ],
        "usage": meta.usage,
        "service_tier": meta.service_tier,
        "system_fingerprint": meta.system_fingerprint,
    }
    out.update(meta.extra)
    return out


_Event = tuple[dict[str, Any], "dict[str, Any] | None", "str | None"]


def encode_body(reply: Reply, meta: Meta, choices: bytes | None = None) -> bytes:
    """``dumps(body(reply, meta))``, byte for byte; ``choices`` is :func:`choices_part` of ``reply``, if known."""
    if meta.extra:
        return dumps(body(reply, meta))
    head = scratch_dumps({"id": meta.id, "object": "chat.completion", "created": meta.created, "model": meta.model})
    tail = scratch_dumps({"usage": meta.usage, "service_tier": meta.service_tier,
                  "system_fingerprint": meta.system_fingerprint})
    return head[:-1] + b',"choices":' + (choices_part(reply) if choices is None else choices) + b"," + tail[1:]


def choices_part(reply: Reply) -> bytes:
    """The serialized ``choices`` of the ``chat.completion``: all of it that does not depend on its id or clock."""
    return dumps([{"index": i, "message": message(c), "logprobs": _logprobs(c), "finish_reason": c.finish_reason}
                  for i, c in enumerate(reply.choices)])


def _events(choice: Choice) -> list[_Event]:
    """(delta, logprobs, finish_reason) for each chunk of one choice."""
    out: list[_Event] = [
        ({"role": "assistant", "content": "" if choice.content is not None else None, "refusal": None}, None, None)
    ]
    if choice.content:
        lps = choice.logprobs
        for i, tok in enumerate(choice.content_tokens()):
            lp = {"content": [lps[i].to_wire()], "refusal": None} if lps is not None and i < len(lps) else None
            out.append(({"content": tok}, lp, None))
    if choice.refusal:
        out.extend(({"refusal": tok}, None, None) for tok in split(choice.refusal))
    if choice.audio is not None:
        out.extend(_audio_events(choice.audio))
    for index, call in enumerate(choice.tool_calls):
        if call.type == "custom":
            head = {"index": index, "id": call.id, "type": "custom", "custom": {"name": call.name, "input": ""}}
            body_key, field = "custom", "input"
        else:
            head = {"index": index, "id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": ""}}
            body_key, field = "function", "arguments"
        out.append(({"tool_calls": [head]}, None, None))
        out.extend(
            ({"tool_calls": [{"index": index, body_key: {field: frag}}]}, None, None)
            for frag in split(call.arguments)
        )
    if choice.function_call is not None:
        legacy = choice.function_call
        out.append(({"function_call": {"name": legacy.name, "arguments": ""}}, None, None))
        out.extend(({"function_call": {"arguments": frag}}, None, None) for frag in split(legacy.arguments))
    out.append(({}, None, choice.finish_reason))
    if choice.audio is not None:
        out.append(({"audio": {"expires_at": choice.audio.expires_at}}, None, None))
    return out


def _audio_events(spoken: Audio) -> list[_Event]:
    """Transcript and data pieces, alternating; the first also carries the audio's ``id``."""
    words = split(spoken.transcript)
    data = audio.pieces(spoken.data)
    deltas: list[dict[str, Any]] = []
    for i in range(max(len(words), len(data))):
        if i < len(words):
            deltas.append({"transcript": words[i]})
        if i < len(data):
            deltas.append({"data": data[i]})
    if not deltas:
        deltas.append({"transcript": ""})
    deltas[0] = {"id": spoken.id, **deltas[0]}
    return [({"audio": d}, None, None) for d in deltas]


def _base(meta: Meta) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "service_tier": meta.service_tier,
        "system_fingerprint": meta.system_fingerprint,
    }
    base.update(meta.extra)
    return base


def _choices(reply: Reply) -> Iterator[dict[str, Any]]:
    """Each chunk's single choice, in stream order: choices interleave step by step."""
    per_choice = [_events(c) for c in reply.choices]
    longest = max((len(p) for p in per_choice), default=0)
    for step in range(longest):
        for index, events in enumerate(per_choice):
            if step < len(events):
                delta, logprobs, finish = events[step]
                yield {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def chunks(reply: Reply, meta: Meta) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of the stream, in order (``[DONE]`` not included)."""
    return envelop((choice for choice in _choices(reply)), meta)


def envelop(choices: Iterable[dict[str, Any]], meta: Meta) -> list[dict[str, Any]]:
    """A chunk for each of ``choices`` (each chunk's one choice), then the usage chunk when ``include_usage``."""
    base = _base(meta)
    out: list[dict[str, Any]] = [{**base, "choices": [choice]} for choice in choices]
    if meta.include_usage:
        for chunk in out:
            chunk["usage"] = None
        out.append({**base, "choices": [], "usage": meta.usage})
    if meta.obfuscation is not None:
        for chunk, pad in zip(out, pads(meta.obfuscation, len(out)), strict=True):
            chunk["obfuscation"] = pad.decode("ascii")
    return out


def sse(chunk_list: Iterable[dict[str, Any]]) -> list[bytes]:
    """Each chunk framed as one server-sent event, then ``data: [DONE]``."""
    events = [b"data: " + scratch_dumps(c) + b"\n\n" for c in chunk_list]
    events.append(DONE)
    return events


def choice_parts(reply: Reply) -> list[bytes]:
    """The serialized ``choices[0]`` of each chunk: all of a stream that does not depend on its id or clock."""
    return _text_parts(reply) or [dumps(choice) for choice in _choices(reply)]


_FIRST_TEXT = (b'{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,'
               b'"finish_reason":null}')


def _text_parts(reply: Reply) -> list[bytes] | None:
    """:func:`choice_parts` of the usual stream, one choice of plain text, written without making each chunk's
    objects; ``None`` for any other reply."""
    if len(reply.choices) != 1:
        return None
    c = reply.choices[0]
    if (not c.content or c.logprobs is not None or c.refusal or c.audio is not None or c.tool_calls
            or c.function_call is not None):
        return None
    pieces = c.content_tokens()
    if len(pieces) > _KEPT_TOKENS:
        return _written(pieces, c.finish_reason)
    key = (tuple(pieces), c.finish_reason)  # a scripted reply is the same text every time: written once
    parts = _PARTS.get(key)
    if parts is None:
        if len(_PARTS) >= _KEPT_PARTS:
            _PARTS.clear()
        parts = _PARTS[key] = _written(pieces, c.finish_reason)
    return parts


def _written(pieces: list[str], finish_reason: str | None) -> list[bytes]:
    parts = [_FIRST_TEXT]
    parts += [b'{"index":0,"delta":{"content":' + scratch_dumps(tok) + b'},"logprobs":null,"finish_reason":null}'
              for tok in pieces]
    parts.append(b'{"index":0,"delta":{},"logprobs":null,"finish_reason":' + scratch_dumps(finish_reason) + b"}")
    return parts


# The text streams written last (never changed once made: callers only read them), by their tokens and finish
# reason; at most _KEPT_PARTS of _KEPT_TOKENS tokens each (about 2 MB).
_PARTS: dict[tuple[tuple[str, ...], str | None], list[bytes]] = {}
_KEPT_PARTS = 128
_KEPT_TOKENS = 160


def encode(reply: Reply, meta: Meta, parts: list[bytes] | None = None) -> list[bytes]:
    """``sse(chunks(reply, meta))``, byte for byte, without serializing the fields every chunk shares again
    for each chunk (they are most of its bytes). ``parts``: :func:`choice_parts` of ``reply``, if known."""
    base = _base(meta)
    head = b"data: " + scratch_dumps(base)[:-1] + b',"choices":['
    if parts is None:
        parts = _text_parts(reply) or [scratch_dumps(choice) for choice in _choices(reply)]
    tail = b'],"usage":null' if meta.include_usage else b"]"
    count = len(parts) + meta.include_usage
    padded = pads(meta.obfuscation, count) if meta.obfuscation is not None else None
    if padded is None:
        events = [head + part + tail + b"}\n\n" for part in parts]
    else:  # (the padding is letters and digits: nothing in it to escape; the usage chunk's pad is the last one)
        before = tail + b',"obfuscation":"'
        events = [b"".join((head, part, before, pad, b'"}\n\n')) for part, pad in zip(parts, padded, strict=False)]
    if meta.include_usage:
        last = b"data: " + scratch_dumps({**base, "choices": [], "usage": meta.usage})
        events.append(last[:-1] + (b',"obfuscation":"' + padded[-1] + b'"}\n\n' if padded else b"}\n\n"))
    events.append(DONE)
    return events
