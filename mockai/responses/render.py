"""A finished reply written for the Responses API: the ``response`` object, and its stream of typed events.

The reply's first choice becomes the response's ``output`` items, in the order the real API sends them: a
``reasoning`` item (when the model reasoned; its summary when one was asked for), a ``message`` (``output_text``
and ``refusal`` parts, with ``annotations``), then one ``function_call`` or ``custom_tool_call`` item per call. A
reply cut by its token limit is ``incomplete`` (``incomplete_details.reason: max_output_tokens``; with no message
when a reasoning model spent the whole limit reasoning), one stopped by the content filter likewise with
``content_filter``.

The stream is written from the finished response object (:func:`events`), so it always reassembles to the stored
response: ``response.created`` → [``response.queued``, in the background] → ``response.in_progress`` → for each
item ``output_item.added`` → (its parts: ``content_part.added`` → ``output_text.delta``… →
[``output_text.annotation.added``…] → ``output_text.done`` → ``content_part.done``; or ``refusal.delta``… →
``refusal.done``; or ``function_call_arguments.delta``… → ``.done``; or ``custom_tool_call_input.delta``… →
``.done``; or ``reasoning_summary_part.added`` → ``reasoning_summary_text.delta``… → ``.done`` →
``reasoning_summary_part.done``) → ``output_item.done`` → ``response.completed`` (or ``.incomplete``). Every
event carries ``sequence_number`` from 0; each is framed as ``event: <type>`` and ``data: <json>``, and there is
no ``data: [DONE]``. Each delta event ends with an ``obfuscation`` string (:func:`obfuscated`), unless the request
turned it off (``stream_options.include_obfuscation: false``).

>>> from mockai.reply import Reply
>>> meta = Meta(id="resp_1", created_at=0, model="gpt-4o-mini-2024-07-18", usage=None)
>>> [e["type"].removeprefix("response.") for e in events(response(Reply.text("Hi there"), meta))][:4]
['created', 'in_progress', 'output_item.added', 'content_part.added']
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..reply import Choice, Reply, ToolCall
from ..streaming import padding, pads
from ..tokens import split

Event = dict[str, Any]
Split = Callable[[str], list[str]]  # a text -> the deltas a stream sends it in (joining to it)
_PREFIXES = {"message": "msg_", "function_call": "fc_", "custom_tool_call": "ctc_", "reasoning": "rs_"}
TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed",
            "cancelled": "response.failed"}


def item_id(response_id: str, kind: str, index: int) -> str:
    """A deterministic id for output item ``index`` of a response: ``msg_…``, ``fc_…``, ``ctc_…``, ``rs_…`` and
    48 hex digits, as the real API's look."""
    digest = hashlib.sha256(f"{response_id}|{kind}|{index}".encode()).hexdigest()
    return _PREFIXES.get(kind, "item_") + digest[:48]


@dataclass
class Meta:
    """What the response object carries besides its output: ids, clock, model, usage and the request's echo.

    ``echo`` holds the request fields the response repeats (``instructions``, ``tools``, ``tool_choice``,
    ``text``, ``reasoning``, ``metadata``, …), already in their reply form; :func:`response` lays them out.
    ``encrypted`` gives reasoning items an ``encrypted_content`` (``include: ["reasoning.encrypted_content"]``).
    """

    id: str
    created_at: int
    model: str
    usage: dict[str, Any] | None
    echo: dict[str, Any] = field(default_factory=dict)
    logprobs: bool = False
    encrypted: bool = False
    item_ids: Callable[[str, str, int], str] = item_id


@dataclass
class Drafted(Reply):
    """A reply already laid out as Responses output items: what the fuzz responder and the Hypothesis strategies
    draw (:mod:`mockai.response_shapes`), which one choice cannot say (two messages, several summary parts,
    annotations on each part, where each delta ends).

    ``items`` are the drafts of ``output``, in order, without ids or status: ``{"type": "reasoning", "summary":
    [...]}``, ``{"type": "message", "content": [parts]}`` and, for each of the first choice's tool calls in turn, a
    bare ``{"type": "function_call"}`` or ``{"type": "custom_tool_call"}`` (the call itself, id included, is the
    choice's: the engine names it). ``split`` cuts each text into its stream's deltas (``None``: token-sized; see
    :func:`resplit`). The first choice says the same in neutral form, for rules, the journal, usage and the chat
    wire; a rewritten reply (a content fault) is a plain :class:`Reply` again.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    split: Split | None = None


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


def output(reply: Reply, meta: Meta) -> list[dict[str, Any]]:
    """The response's ``output`` items."""
    choice = reply.choices[0]
    status, _ = status_of(choice)
    if isinstance(reply, Drafted) and reply.items:
        return _drafted(reply.items, choice, meta, status)
    items: list[dict[str, Any]] = []

    def new_id(kind: str) -> str:
        return meta.item_ids(meta.id, kind, len(items))

    if choice.reasoning is not None:
        item: dict[str, Any] = {"id": new_id("reasoning"), "type": "reasoning",
                                "summary": [{"type": "summary_text", "text": choice.reasoning}] if choice.reasoning
                                else []}
        if meta.encrypted:
            item["encrypted_content"] = "gAAAAA" + hashlib.sha256(item["id"].encode()).hexdigest()
        item["status"] = status
        items.append(item)
    # A reasoning model whose limit ran out while it reasoned said nothing: its output is the reasoning item alone.
    out_of_tokens = status == "incomplete" and choice.reasoning is not None and not choice.content \
        and choice.refusal is None and not choice.tool_calls
    if not out_of_tokens and (choice.content is not None or choice.refusal is not None or not choice.tool_calls):
        parts: list[dict[str, Any]] = []
        if choice.content is not None or choice.refusal is None:
            lps = [lp.to_wire() for lp in choice.logprobs or []] if meta.logprobs else []
            parts.append({"type": "output_text", "annotations": list(choice.annotations), "logprobs": lps,
                          "text": choice.content or ""})
        if choice.refusal is not None:
            parts.append({"type": "refusal", "refusal": choice.refusal})
        items.append({"id": new_id("message"), "type": "message", "status": status, "content": parts,
                      "role": "assistant"})
    for call in choice.tool_calls:
        if call.type == "custom":
            items.append({"id": new_id("custom_tool_call"), "type": "custom_tool_call", "status": status,
                          "call_id": call.id, "input": call.arguments, "name": call.name})
        else:
            items.append({"id": new_id("function_call"), "type": "function_call", "status": status,
                          "arguments": call.arguments, "call_id": call.id, "name": call.name})
    return items


def _drafted(drafts: list[dict[str, Any]], choice: Choice, meta: Meta, status: str) -> list[dict[str, Any]]:
    """The output items of a :class:`Drafted` reply: each draft with its id and status, the calls filled in."""
    calls = list(choice.tool_calls)
    items: list[dict[str, Any]] = []
    for draft in drafts:
        kind = draft["type"]
        if kind in ("function_call", "custom_tool_call"):
            if calls:
                items.append(_call_item(calls.pop(0), meta, len(items), status))
            continue
        item_id = meta.item_ids(meta.id, kind, len(items))
        if kind == "message":
            parts = [{**part, "annotations": list(part.get("annotations") or []),
                      "logprobs": list(part.get("logprobs") or []) if meta.logprobs else []}
                     if part["type"] == "output_text" else dict(part) for part in draft["content"]]
            items.append({"id": item_id, "type": "message", "status": status, "content": parts,
                          "role": "assistant"})
            continue
        item = {"id": item_id, **copy.deepcopy({k: v for k, v in draft.items() if k != "id"})}
        if kind == "reasoning" and meta.encrypted:
            item["encrypted_content"] = "gAAAAA" + hashlib.sha256(item_id.encode()).hexdigest()
        item["status"] = status
        items.append(item)
    items.extend(_call_item(call, meta, len(items) + i, status) for i, call in enumerate(calls))
    return items


def _call_item(call: ToolCall, meta: Meta, index: int, status: str) -> dict[str, Any]:
    """A function or custom tool call as an output item."""
    if call.type == "custom":
        return {"id": meta.item_ids(meta.id, "custom_tool_call", index), "type": "custom_tool_call",
                "status": status, "call_id": call.id, "input": call.arguments, "name": call.name}
    return {"id": meta.item_ids(meta.id, "function_call", index), "type": "function_call", "status": status,
            "arguments": call.arguments, "call_id": call.id, "name": call.name}


def response(reply: Reply | None, meta: Meta, *, status: str | None = None,
             error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``response`` object: finished (``reply`` given), or as the lifecycle events and background creation
    show it (``status`` given: ``in_progress``, ``queued``, ``cancelled``…, with no output yet)."""
    body: dict[str, Any] = {"id": meta.id, "object": "response", "created_at": meta.created_at}
    values: dict[str, Any]
    if reply is not None:
        finished, incomplete = status_of(reply.choices[0])
        body["status"] = status or finished
        values = {"incomplete_details": incomplete, "output": output(reply, meta), "usage": meta.usage}
    else:
        body["status"] = status or "in_progress"
        values = {"output": [], "usage": None}
    if error is not None:
        values["error"] = error
    body.update(DEFAULTS)  # the real API's order; then the request's echo and this response's own values
    body.update(meta.echo)
    body["model"] = meta.model
    body.update(values)
    if reply is not None and body["status"] == "completed":
        body["completed_at"] = meta.created_at
    return body


def lifecycle(done: dict[str, Any], status: str = "in_progress") -> dict[str, Any]:
    """``done`` as ``response.created`` shows it: no output, no usage, in progress, not completed."""
    out = {**done, "status": status, "output": [], "usage": None, "incomplete_details": None, "error": None}
    out.pop("completed_at", None)
    return out


def events(done: dict[str, Any]) -> list[Event]:
    """Every event of the stream of the finished response ``done``, numbered; the last one carries ``done``.

    A ``background`` response is created ``queued`` and says so with a ``response.queued`` event before it is
    ``in_progress``.
    """
    start = lifecycle(done)
    out: list[Event] = [{"type": "response.created", "response": start}]
    if done.get("background"):
        out[0]["response"] = lifecycle(done, "queued")
        out.append({"type": "response.queued", "response": lifecycle(done, "queued")})
    out.append({"type": "response.in_progress", "response": copy.deepcopy(start)})
    for index, item in enumerate(done["output"]):
        out.extend(_item_events(item, index))
    out.append({"type": TERMINAL.get(done["status"], "response.completed"), "response": done})
    for n, event in enumerate(out):
        event["sequence_number"] = n
    return out


def _added(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``output_item.added`` shows it: empty, in progress."""
    added = {**item, "status": "in_progress"}
    if item["type"] == "message":
        added["content"] = []
    elif item["type"] == "function_call":
        added["arguments"] = ""
    elif item["type"] == "custom_tool_call":
        added["input"] = ""
    elif item["type"] == "reasoning":
        added["summary"] = []
    return added


def _item_events(item: dict[str, Any], index: int) -> Iterator[Event]:
    where = {"item_id": item["id"], "output_index": index}
    yield {"type": "response.output_item.added", "output_index": index, "item": _added(item)}
    kind = item["type"]
    if kind == "reasoning":
        for si, part in enumerate(item["summary"]):
            text = part["text"]
            yield {"type": "response.reasoning_summary_part.added", **where, "summary_index": si,
                   "part": {"type": "summary_text", "text": ""}}
            for piece in split(text):
                yield {"type": "response.reasoning_summary_text.delta", **where, "summary_index": si, "delta": piece}
            yield {"type": "response.reasoning_summary_text.done", **where, "summary_index": si, "text": text}
            yield {"type": "response.reasoning_summary_part.done", **where, "summary_index": si,
                   "part": {"type": "summary_text", "text": text}}
    elif kind == "message":
        for ci, part in enumerate(item["content"]):
            yield from _part_events(part, {**where, "content_index": ci})
    elif kind == "function_call":
        for piece in split(item["arguments"]):
            yield {"type": "response.function_call_arguments.delta", **where, "delta": piece}
        yield {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"],
               "name": item["name"]}
    elif kind == "custom_tool_call":
        for piece in split(item["input"]):
            yield {"type": "response.custom_tool_call_input.delta", **where, "delta": piece}
        yield {"type": "response.custom_tool_call_input.done", **where, "input": item["input"]}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def _part_events(part: dict[str, Any], where: dict[str, Any]) -> Iterator[Event]:
    if part["type"] == "refusal":
        yield {"type": "response.content_part.added", **where, "part": {"type": "refusal", "refusal": ""}}
        for piece in split(part["refusal"]):
            yield {"type": "response.refusal.delta", **where, "delta": piece}
        yield {"type": "response.refusal.done", **where, "refusal": part["refusal"]}
        yield {"type": "response.content_part.done", **where, "part": part}
        return
    yield {"type": "response.content_part.added", **where,
           "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}}
    lps = part.get("logprobs") or []
    pieces = [lp["token"] for lp in lps] if lps and "".join(lp["token"] for lp in lps) == part["text"] \
        else split(part["text"])
    for i, piece in enumerate(pieces):
        lp = lps[i] if i < len(lps) else None
        delta_lps = [{"token": lp["token"], "logprob": lp["logprob"],
                      "top_logprobs": [{"token": t["token"], "logprob": t["logprob"]} for t in lp["top_logprobs"]]}
                     ] if lp is not None else []
        yield {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": delta_lps}
    for ai, annotation in enumerate(part["annotations"]):
        yield {"type": "response.output_text.annotation.added", **where, "annotation_index": ai,
               "annotation": annotation}
    yield {"type": "response.output_text.done", **where, "text": part["text"], "logprobs": lps}
    yield {"type": "response.content_part.done", **where, "part": part}


_DELTAS = ("response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
           "response.custom_tool_call_input.delta", "response.reasoning_summary_text.delta")


def resplit(events_: list[Event], reply: Reply | Split | None) -> list[Event]:
    """``events_`` with each run of deltas of one text sent again as ``split`` cuts it (a :class:`Drafted`
    reply's own ``split``; anything else leaves the events as they are), numbered anew. Deltas that carry
    logprobs stay token by token (each logprob is a token's).

    >>> meta = Meta(id="resp_1", created_at=0, model="gpt-4o-mini", usage=None)
    >>> done = response(Reply.text("Hi there"), meta)
    >>> [e["delta"] for e in resplit(events(done), list) if e["type"].endswith(".delta")]
    ['H', 'i', ' ', 't', 'h', 'e', 'r', 'e']
    """
    cut = reply.split if isinstance(reply, Drafted) else reply if not isinstance(reply, Reply) else None
    if cut is None:
        return events_
    out: list[Event] = []
    run: list[Event] = []

    def flush() -> None:
        if any(e.get("logprobs") for e in run):
            out.extend(run)
        elif run:
            text = "".join(e["delta"] for e in run)
            out.extend({**run[0], "delta": piece} for piece in cut(text))
        run.clear()

    for event in events_:
        same = run and all(event.get(k) == run[0].get(k) for k in ("type", "item_id", "content_index",
                                                                     "summary_index"))
        if event["type"] in _DELTAS and (not run or same):
            run.append(event)
            continue
        flush()
        if event["type"] in _DELTAS:
            run.append(event)
        else:
            out.append(event)
    flush()
    for n, event in enumerate(out):
        event["sequence_number"] = n
    return out


def obfuscated(events_: list[Event], response_id: str, include: bool = True) -> list[Event]:
    """``events_``, each delta event (``response.output_text.delta`` and the like) ending with an ``obfuscation``
    string of 1 to 16 letters and digits, as the real API pads them, drawn from ``response_id`` (the same stream
    is padded the same way); unchanged when not ``include``.

    >>> done = response(Reply.text("Hi there"), Meta(id="resp_1", created_at=0, model="gpt-4o-mini", usage=None))
    >>> [list(e)[-1] for e in obfuscated(events(done), "resp_1") if e["type"] == "response.output_text.delta"]
    ['obfuscation', 'obfuscation']
    """
    if not include:
        return events_
    deltas = [event for event in events_ if event["type"] in _DELTAS]
    for event, pad in zip(deltas, pads(padding(response_id), len(deltas)), strict=True):
        event["obfuscation"] = pad.decode("ascii")
    return events_


def sse(events_: list[Event], dumps: Callable[[Any], bytes]) -> list[bytes]:
    """Each event framed as ``event: <type>`` + ``data: <json>``; no ``[DONE]``."""
    return [b"event: " + e["type"].encode() + b"\ndata: " + dumps(e) + b"\n\n" for e in events_]


def error_event(message: str, code: str | None, param: str | None, sequence_number: int,
                type_: str = "server_error") -> Event:
    """The ``error`` event a stream ends with when it fails midway.

    The schema puts ``code``, ``message`` and ``param`` at the top; the real API sends them nested under
    ``error`` (with its ``type``), which is what the ``openai`` SDK reads and raises ``APIError`` on. Both are
    sent, so the event is valid by the schema and fails the SDK's stream as the real one does.

    >>> error_event("Boom", None, None, 7)["error"]
    {'type': 'server_error', 'code': None, 'message': 'Boom', 'param': None}
    """
    return {"type": "error", "code": code, "message": message, "param": param, "sequence_number": sequence_number,
            "error": {"type": type_, "code": code, "message": message, "param": param}}
