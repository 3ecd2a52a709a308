"""A finished reply written for the Responses API: the ``response`` object, and its stream of typed events.

The reply's first choice becomes the response's ``output`` items, in the order the real API sends them: a
``reasoning`` item (when the reply carries a reasoning summary), a ``message`` (``output_text`` and ``refusal``
parts, with ``annotations``), then one ``function_call`` or ``custom_tool_call`` item per call. A reply cut by
its token limit is ``incomplete`` (``incomplete_details.reason: max_output_tokens``), one stopped by the content
filter likewise with ``content_filter``.

The stream is the real grammar: ``response.created`` → ``response.in_progress`` → for each item
``output_item.added`` → (its parts: ``content_part.added`` → ``output_text.delta``… → ``output_text.done`` →
``content_part.done``; or ``function_call_arguments.delta``… → ``.done``; or ``custom_tool_call_input.delta``… →
``.done``; or ``reasoning_summary_part.added`` → ``reasoning_summary_text.delta``… → ``.done`` →
``reasoning_summary_part.done``) → ``output_item.done`` → ``response.completed`` (or ``.incomplete``). Every
event carries ``sequence_number`` from 0; each is framed as ``event: <type>`` and ``data: <json>``, and there is
no ``data: [DONE]``. The terminal event's response is the one :func:`response` writes, so a stream always
reassembles to the stored response.

>>> from mockai.reply import Reply
>>> meta = Meta(id="resp_1", created_at=0, model="gpt-4o-mini-2024-07-18", usage=None)
>>> [e["type"].removeprefix("response.") for e in events(Reply.text("Hi there"), meta)][:4]
['created', 'in_progress', 'output_item.added', 'content_part.added']
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..reply import Choice, Reply, TokenLogprob, ToolCall
from ..tokens import split

Event = dict[str, Any]
_PREFIXES = {"message": "msg_", "function_call": "fc_", "custom_tool_call": "ctc_", "reasoning": "rs_"}
_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62 = bytes(_ALPHABET[b % 62] for b in range(256))


def item_id(response_id: str, kind: str, index: int) -> str:
    """A deterministic id for output item ``index`` of a response: ``msg_…``, ``fc_…``, ``ctc_…``, ``rs_…``."""
    digest = hashlib.sha256(f"{response_id}|{kind}|{index}".encode()).digest()
    return _PREFIXES.get(kind, "item_") + digest[:24].translate(_B62).decode("ascii")


@dataclass
class Meta:
    """What the response object carries besides its output: ids, clock, model, usage and the request's echo.

    ``echo`` holds the request fields the response repeats (``instructions``, ``tools``, ``tool_choice``,
    ``text``, ``reasoning``, ``metadata``, …), already in their reply form; :func:`response` lays them out.
    """

    id: str
    created_at: int
    model: str
    usage: dict[str, Any] | None
    echo: dict[str, Any] = field(default_factory=dict)
    logprobs: bool = False
    item_ids: Callable[[str, str, int], str] = item_id


# The fields of a response in the order the real API writes them, with their defaults.
DEFAULTS: dict[str, Any] = {
    "background": False,
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "model": None,
    "output": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "reasoning": {"effort": None, "summary": None},
    "safety_identifier": None,
    "service_tier": "default",
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": None,
    "user": None,
    "metadata": {},
}


def status_of(choice: Choice) -> tuple[str, dict[str, str] | None]:
    """``(status, incomplete_details)`` for a reply's finish."""
    if choice.finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if choice.finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _logprobs(lps: list[TokenLogprob] | None) -> list[dict[str, Any]]:
    return [lp.to_wire() for lp in lps or []]


def _delta_logprobs(lp: TokenLogprob) -> list[dict[str, Any]]:
    return [{"token": lp.token, "logprob": lp.logprob,
             "top_logprobs": [{"token": t, "logprob": v} for t, v in lp.top]}]


@dataclass
class _Item:
    """One output item, as it is when done; ``kind`` is its ``type``."""

    kind: str
    index: int
    id: str
    choice: Choice
    call: ToolCall | None = None


def _items(choice: Choice, meta: Meta) -> list[_Item]:
    out: list[_Item] = []

    def add(kind: str, call: ToolCall | None = None) -> None:
        out.append(_Item(kind, len(out), meta.item_ids(meta.id, kind, len(out)), choice, call))

    if choice.reasoning is not None:
        add("reasoning")
    if choice.content is not None or choice.refusal is not None or not choice.tool_calls:
        add("message")
    for call in choice.tool_calls:
        add("custom_tool_call" if call.type == "custom" else "function_call", call)
    return out


def _parts(choice: Choice, logprobs: bool) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if choice.content is not None or choice.refusal is None:
        parts.append({"type": "output_text", "annotations": list(choice.annotations),
                      "logprobs": _logprobs(choice.logprobs) if logprobs else [], "text": choice.content or ""})
    if choice.refusal is not None:
        parts.append({"type": "refusal", "refusal": choice.refusal})
    return parts


def _item(item: _Item, status: str, logprobs: bool, done: bool = True) -> dict[str, Any]:
    """The item's JSON: whole when ``done``, else as ``output_item.added`` shows it (empty, in progress)."""
    if item.kind == "reasoning":
        text = item.choice.reasoning or ""
        summary = [{"type": "summary_text", "text": text}] if done and text else []
        return {"id": item.id, "type": "reasoning", "summary": summary, "status": status}
    if item.kind == "message":
        content = _parts(item.choice, logprobs) if done else []
        return {"id": item.id, "type": "message", "status": status, "content": content, "role": "assistant"}
    call = item.call
    assert call is not None
    if item.kind == "custom_tool_call":
        return {"id": item.id, "type": "custom_tool_call", "status": status, "call_id": call.id,
                "input": call.arguments if done else "", "name": call.name}
    return {"id": item.id, "type": "function_call", "status": status, "arguments": call.arguments if done else "",
            "call_id": call.id, "name": call.name}


def output(reply: Reply, meta: Meta) -> list[dict[str, Any]]:
    """The response's ``output`` items."""
    choice = reply.choices[0]
    status, _ = status_of(choice)
    return [_item(item, status, meta.logprobs) for item in _items(choice, meta)]


def response(reply: Reply | None, meta: Meta, *, status: str | None = None,
             error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``response`` object: done (``reply`` given) or as the lifecycle events show it (``status`` given)."""
    body: dict[str, Any] = {"id": meta.id, "object": "response", "created_at": meta.created_at}
    if reply is not None:
        finished, incomplete = status_of(reply.choices[0])
        body["status"] = status or finished
        values: dict[str, Any] = {"incomplete_details": incomplete, "output": output(reply, meta),
                                  "usage": meta.usage}
    else:
        body["status"] = status or "in_progress"
        values = {"output": [], "usage": None}
    if error is not None:
        values["error"] = error
    body.update((key, _field(key, values, meta)) for key in DEFAULTS)
    if reply is not None and body["status"] == "completed":
        body["completed_at"] = meta.created_at
    return body


def _field(key: str, values: dict[str, Any], meta: Meta) -> Any:
    if key in values:
        return values[key]
    if key == "model":
        return meta.model
    return meta.echo.get(key, DEFAULTS[key])


def events(reply: Reply, meta: Meta) -> list[Event]:
    """Every event of the stream, numbered; the last one carries :func:`response`."""
    choice = reply.choices[0]
    status, _ = status_of(choice)
    out: list[Event] = [
        {"type": "response.created", "response": response(None, meta)},
        {"type": "response.in_progress", "response": response(None, meta)},
    ]
    for item in _items(choice, meta):
        out.extend(_item_events(item, status, meta))
    done = response(reply, meta)
    out.append({"type": "response.completed" if status == "completed" else "response.incomplete", "response": done})
    for n, event in enumerate(out):
        event["sequence_number"] = n
    return out


def _item_events(item: _Item, status: str, meta: Meta) -> Iterator[Event]:
    where = {"item_id": item.id, "output_index": item.index}
    yield {"type": "response.output_item.added", "output_index": item.index,
           "item": _item(item, "in_progress", meta.logprobs, done=False)}
    choice = item.choice
    if item.kind == "reasoning" and choice.reasoning:
        part = {"type": "summary_text", "text": ""}
        yield {"type": "response.reasoning_summary_part.added", **where, "summary_index": 0, "part": part}
        for piece in split(choice.reasoning):
            yield {"type": "response.reasoning_summary_text.delta", **where, "summary_index": 0, "delta": piece}
        yield {"type": "response.reasoning_summary_text.done", **where, "summary_index": 0, "text": choice.reasoning}
        yield {"type": "response.reasoning_summary_part.done", **where, "summary_index": 0,
               "part": {"type": "summary_text", "text": choice.reasoning}}
    elif item.kind == "message":
        for index, part in enumerate(_parts(choice, meta.logprobs)):
            yield from _part_events(part, {**where, "content_index": index}, choice, meta.logprobs)
    elif item.kind == "function_call":
        call = item.call
        assert call is not None
        for piece in split(call.arguments):
            yield {"type": "response.function_call_arguments.delta", **where, "delta": piece}
        yield {"type": "response.function_call_arguments.done", **where, "arguments": call.arguments,
               "name": call.name}
    elif item.kind == "custom_tool_call":
        call = item.call
        assert call is not None
        for piece in split(call.arguments):
            yield {"type": "response.custom_tool_call_input.delta", **where, "delta": piece}
        yield {"type": "response.custom_tool_call_input.done", **where, "input": call.arguments}
    yield {"type": "response.output_item.done", "output_index": item.index, "item": _item(item, status, meta.logprobs)}


def _part_events(part: dict[str, Any], where: dict[str, Any], choice: Choice, logprobs: bool) -> Iterator[Event]:
    if part["type"] == "refusal":
        yield {"type": "response.content_part.added", **where, "part": {"type": "refusal", "refusal": ""}}
        for piece in split(part["refusal"]):
            yield {"type": "response.refusal.delta", **where, "delta": piece}
        yield {"type": "response.refusal.done", **where, "refusal": part["refusal"]}
        yield {"type": "response.content_part.done", **where, "part": part}
        return
    empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    yield {"type": "response.content_part.added", **where, "part": empty}
    lps = choice.logprobs if logprobs else None
    for i, token in enumerate(choice.content_tokens()):
        lp = _delta_logprobs(lps[i]) if lps is not None and i < len(lps) else []
        yield {"type": "response.output_text.delta", **where, "delta": token, "logprobs": lp}
    for i, annotation in enumerate(part["annotations"]):
        yield {"type": "response.output_text.annotation.added", **where, "annotation_index": i,
               "annotation": annotation}
    yield {"type": "response.output_text.done", **where, "text": part["text"], "logprobs": part["logprobs"]}
    yield {"type": "response.content_part.done", **where, "part": part}


def sse(events_: list[Event], dumps: Callable[[Any], bytes]) -> list[bytes]:
    """Each event framed as ``event: <type>`` + ``data: <json>``; no ``[DONE]``."""
    return [b"event: " + e["type"].encode() + b"\ndata: " + dumps(e) + b"\n\n" for e in events_]


def error_event(message: str, code: str | None, param: str | None, sequence_number: int) -> Event:
    """The ``error`` event a stream ends with when it fails midway."""
    return {"type": "error", "code": code, "message": message, "param": param, "sequence_number": sequence_number}
