"""What every Responses stream satisfies, checked event by event: the real API's grammar, and reassembly.

:func:`stream_problems` walks a stream as a strict client does: ``response.created`` (then ``response.queued`` for
a background response) then ``response.in_progress`` first, one terminal event (``response.completed``,
``.incomplete`` or ``.failed``) last, ``sequence_number`` counting from 0, one output item open at a time and
numbered in order, every event naming its item, part and summary part by id and index, and each item rebuilt from
its deltas alone (text, refusal, annotations, function arguments, custom tool input, reasoning summary parts): the
``.done`` events, ``output_item.done`` and the terminal response's ``output`` must all say what the deltas said.
:func:`reassemble` gives the items rebuilt. The fuzz responder's and the Hypothesis strategies' streams are held to
it (tests/test_responses_fuzz.py, tests/test_responses_strategies.py), and so may a client's own fake or proxy be.

>>> import random
>>> from mockai.response_shapes import ResponseSpace, draw_response
>>> from mockai.shapes import SeededSource
>>> drawn = draw_response(SeededSource(random.Random(1)), ResponseSpace())
>>> stream_problems(drawn.events, drawn.response)
[]
>>> stream_problems(drawn.events[1:], drawn.response)[0]
'event 0: response.in_progress, wanted response.created'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_HEAD = ("response.created", "response.queued", "response.in_progress")
TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
_EMPTY = {"message": ("content", []), "function_call": ("arguments", ""), "custom_tool_call": ("input", ""),
          "reasoning": ("summary", [])}


class _Walk:
    """The state of one walk through a stream: problems found, items rebuilt, the item and part open."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.items: list[dict[str, Any]] = []
        self.done: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item rebuilt so far
        self.part: dict[str, Any] | None = None  # the content or summary part open, with "done" once closed

    def fail(self, n: int, message: str) -> None:
        self.problems.append(f"event {n}: {message}")

    def check(self, cond: bool, n: int, message: str) -> bool:
        if not cond:
            self.fail(n, message)
        return cond


def reassemble(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The output items a stream's events build: each added item with what its deltas said (its status from its
    ``output_item.done``)."""
    walk = _Walk()
    for n, event in enumerate(events):
        _step(walk, n, dict(event))
    return walk.items


def stream_problems(events: Sequence[Mapping[str, Any]], response: Mapping[str, Any] | None = None) -> list[str]:
    """Why ``events`` is not a stream the real API could send (of ``response``, when given); ``[]`` when it is."""
    walk = _Walk()
    if not events:
        return ["no events"]
    types = [e.get("type") for e in events]
    head = ("response.created", "response.queued", "response.in_progress") if types[1:2] == ["response.queued"] \
        else ("response.created", "response.in_progress")  # a background response is queued first
    for n, want in enumerate(head):
        if n < len(types) and types[n] != want:
            walk.fail(n, f"{types[n]}, wanted {want}")
    if types[-1] not in TERMINAL:
        walk.problems.append(f"the last event is {types[-1]}, not a terminal response.* event")
    rid = (events[0].get("response") or {}).get("id")
    for n, event in enumerate(events):
        walk.check(event.get("sequence_number") == n, n, f"sequence_number {event.get('sequence_number')!r}")
        kind = event.get("type")
        if kind in TERMINAL and n != len(events) - 1:
            walk.fail(n, f"{kind} before the end")
        if kind in _HEAD and n >= len(head):
            walk.fail(n, f"{kind} after the stream began")
        if str(kind).startswith("response.") and "response" in event:
            lifecycle = event["response"]
            walk.check(lifecycle.get("id") == rid, n, "the response id changed")
            if kind in TERMINAL:
                status = lifecycle.get("status")
                walk.check(status == TERMINAL[kind], n, f"{kind} with status {status!r}")
            else:
                walk.check(lifecycle.get("status") in ("in_progress", "queued"), n, "a lifecycle event not in progress")
                walk.check(lifecycle.get("output") == [], n, "a lifecycle event with output")
            continue
        _step(walk, n, dict(event))
    if walk.open is not None:
        walk.problems.append("the stream ended with an output item open")
    final = events[-1].get("response") or {}
    if types[-1] in TERMINAL:
        if final.get("output") != walk.done:
            walk.problems.append("the terminal response's output is not the output_item.done items")
        if walk.items != walk.done:
            walk.problems.append(f"the deltas reassemble to {walk.items!r}, the items are {walk.done!r}")
    if response is not None and final != response:
        walk.problems.append("the terminal response is not the response")
    return walk.problems


def _step(walk: _Walk, n: int, e: dict[str, Any]) -> None:
    kind = str(e.get("type"))
    if kind == "response.output_item.added":
        _added(walk, n, e)
        return
    item = walk.open
    if item is None:
        if not kind.startswith("response.") or "response" not in e:
            walk.fail(n, f"{kind} outside any output item")
        return
    walk.check(e.get("output_index") == len(walk.items) - 1, n, f"{kind}: output_index {e.get('output_index')!r}")
    if kind == "response.output_item.done":
        _item_done(walk, n, e, item)
        return
    walk.check(e.get("item_id") == item.get("id"), n, f"{kind}: item_id {e.get('item_id')!r}, not {item.get('id')!r}")
    name = kind.removeprefix("response.")
    if name.startswith(("content_part.", "output_text.", "refusal.")):
        _content(walk, n, e, item, name)
    elif name.startswith("reasoning_summary_"):
        _summary(walk, n, e, item, name)
    elif name.startswith(("function_call_arguments.", "custom_tool_call_input.")):
        field = "arguments" if name.startswith("function") else "input"
        if not walk.check(item.get("type") == ("function_call" if field == "arguments" else "custom_tool_call"), n,
                          f"{kind} inside a {item.get('type')} item"):
            return
        if name.endswith(".delta"):
            item[field] += e.get("delta", "")
        elif walk.check(name.endswith(".done"), n, f"unknown event {kind}"):
            walk.check(e.get(field) == item[field], n, f"{kind}: {field} differs from its deltas")
            if field == "arguments":
                walk.check(e.get("name") == item.get("name"), n, f"{kind}: name differs from the item's")
    else:
        walk.fail(n, f"unexpected {kind} inside a {item.get('type')} item")


def _added(walk: _Walk, n: int, e: dict[str, Any]) -> None:
    walk.check(walk.open is None, n, "output_item.added while another item is open")
    walk.check(e.get("output_index") == len(walk.items), n, f"output_item.added output_index {e.get('output_index')!r}")
    item = dict(e.get("item") or {})
    walk.check(bool(item.get("id")), n, "an added item without an id")
    walk.check(item.get("status") == "in_progress", n, f"an added item with status {item.get('status')!r}")
    empty = _EMPTY.get(str(item.get("type")))
    if empty is not None:
        walk.check(item.get(empty[0]) == empty[1], n, f"an added {item.get('type')} that is not empty")
        item[empty[0]] = [] if isinstance(empty[1], list) else ""
    walk.items.append(item)
    walk.open, walk.part = item, None


def _item_done(walk: _Walk, n: int, e: dict[str, Any], item: dict[str, Any]) -> None:
    walk.check(walk.part is None or "done" in walk.part, n, "output_item.done while a part is open")
    final = e.get("item") or {}
    walk.check(final.get("id") == item.get("id") and final.get("type") == item.get("type"), n,
               "output_item.done is not the item that was added")
    item["status"] = final.get("status")
    for key in ("encrypted_content",):
        if key in final:
            item[key] = final[key]
    walk.done.append(final)
    walk.open, walk.part = None, None


def _content(walk: _Walk, n: int, e: dict[str, Any], item: dict[str, Any], name: str) -> None:
    if not walk.check(item.get("type") == "message", n, f"{name} inside a {item.get('type')} item"):
        return
    parts = item["content"]
    if name == "content_part.added":
        walk.check(walk.part is None or "done" in walk.part, n, "content_part.added while another part is open")
        walk.check(e.get("content_index") == len(parts), n, f"content_part.added at {e.get('content_index')!r}")
        part = dict(e.get("part") or {})
        key = "refusal" if part.get("type") == "refusal" else "text"
        walk.check(part.get(key) == "" and not part.get("annotations"), n, "an added part that is not empty")
        if key == "text":
            part["annotations"] = []
        parts.append(part)
        walk.part = {"part": part, "key": key}
        return
    open_ = walk.part
    if not walk.check(open_ is not None and "done" not in open_, n, f"{name} outside an open content part"):
        return
    assert open_ is not None
    part, key = open_["part"], open_["key"]
    walk.check(e.get("content_index") == len(parts) - 1, n, f"{name}: content_index {e.get('content_index')!r}")
    if name in ("output_text.delta", "refusal.delta"):
        walk.check(key == name.split(".")[0].replace("output_", ""), n, f"{name} in a {part.get('type')} part")
        part[key] += e.get("delta", "")
    elif name == "output_text.annotation.added":
        walk.check(e.get("annotation_index") == len(part.get("annotations", [])), n, "annotation_index out of order")
        part.setdefault("annotations", []).append(e.get("annotation"))
    elif name in ("output_text.done", "refusal.done"):
        walk.check(e.get(key) == part.get(key), n, f"{name}: {key} differs from its deltas")
        if "logprobs" in e:
            part["logprobs"] = e["logprobs"]
    elif name == "content_part.done":
        walk.check(e.get("part") == part, n, f"content_part.done {e.get('part')!r} differs from {part!r}")
        open_["done"] = True
    else:
        walk.fail(n, f"unknown event response.{name}")


def _summary(walk: _Walk, n: int, e: dict[str, Any], item: dict[str, Any], name: str) -> None:
    if not walk.check(item.get("type") == "reasoning", n, f"{name} inside a {item.get('type')} item"):
        return
    parts = item["summary"]
    if name == "reasoning_summary_part.added":
        walk.check(walk.part is None or "done" in walk.part, n, "a summary part added while another is open")
        walk.check(e.get("summary_index") == len(parts), n, f"summary_index {e.get('summary_index')!r}")
        part = dict(e.get("part") or {})
        walk.check(part == {"type": "summary_text", "text": ""}, n, "an added summary part that is not empty")
        parts.append(part)
        walk.part = {"part": part}
        return
    open_ = walk.part
    if not walk.check(open_ is not None and "done" not in open_, n, f"{name} outside an open summary part"):
        return
    assert open_ is not None
    part = open_["part"]
    walk.check(e.get("summary_index") == len(parts) - 1, n, f"{name}: summary_index {e.get('summary_index')!r}")
    if name == "reasoning_summary_text.delta":
        part["text"] += e.get("delta", "")
    elif name == "reasoning_summary_text.done":
        walk.check(e.get("text") == part["text"], n, "reasoning_summary_text.done differs from its deltas")
    elif name == "reasoning_summary_part.done":
        walk.check(e.get("part") == part, n, "reasoning_summary_part.done differs from its deltas")
        open_["done"] = True
    else:
        walk.fail(n, f"unknown event response.{name}")
