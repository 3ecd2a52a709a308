"""The space of Responses API replies and their event streams, drawn through a :class:`~mockai.shapes.Source`:
one implementation behind the Hypothesis strategies (:mod:`mockai.response_strategies`) and the fuzz responder on
``/v1/responses`` (:mod:`mockai.fuzz`); :mod:`mockai.response_checks` holds any stream to its response.

A reply is drafted first (:func:`draw_drafted`) as the response's output items: for a reasoning model a
``reasoning`` item (with one to three summary parts when the request asks for a summary), then one or two
messages of ``output_text`` (text with ZWJ emoji, combining marks, right-to-left and CJK text, any code point, and
``url_citation`` annotations; JSON for a ``text.format``), a message with a ``refusal`` part, or one to three
function and custom tool calls (one without ``parallel_tool_calls``), maybe after a message. It finishes
``completed`` or ``incomplete`` (``max_output_tokens``: cut anywhere, also mid-call, and always within the
request's ``max_output_tokens``; ``content_filter``). Then how each text travels (:func:`split_deltas`): cut at
drawn code points, token-sized, one code point per delta, or at every joiner, combining mark and flag half.

The stream itself is written by the server's own renderer (:func:`mockai.responses.render.events`) from the
finished response, its deltas cut as drawn (:func:`mockai.responses.render.resplit`), so drawn streams keep the
real API's event grammar.

>>> import random
>>> from mockai.shapes import SeededSource
>>> drawn = draw_response(SeededSource(random.Random(4)), ResponseSpace())
>>> drawn.response["object"], drawn.events[0]["type"], drawn.events[-1]["response"] == drawn.response
('response', 'response.created', True)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from . import schema, tokens
from .generate import compact, custom_input
from .models import effort
from .prompt import Prompt, ToolDef
from .reply import Choice, TokenLogprob, ToolCall
from .responses import render
from .shapes import MAX_TOOL_CALLS, MODELS, REFUSALS, Kind, SeededSource, Source, _b62, _logprob, draw_text

KINDS: tuple[Kind, ...] = ("text", "tools", "refusal")
STATUSES = ("completed", "incomplete")
INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")
MAX_SUMMARY_PARTS = 3
MAX_ANNOTATIONS = 2
ONE_BY_ONE = 400  # texts up to this many code points may travel one code point per delta
_JSON_OBJECT = {"type": "object", "minProperties": 1,
                "additionalProperties": {"type": ["string", "integer", "number", "boolean", "null", "array"]}}
_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class ResponseSpace:
    """The replies a Responses request allows (see :func:`space_of`); the defaults allow every shape but tool
    calls (no tools are offered).

    ``tools`` are the tools a reply may call (after ``tool_choice``), ``forced`` says it must call one
    (``required``, or a named tool); ``reasoning`` puts a reasoning item first (a reasoning model), ``summary``
    gives it summary parts (and ``encrypted``, ``encrypted_content``: ``None`` draws it); ``logprobs`` is ``None`` or
    the number of ``top_logprobs``.
    """

    tools: tuple[ToolDef, ...] = ()
    forced: bool = False
    parallel_tool_calls: bool = True
    schema: Mapping[str, Any] | None = None
    strict: bool = False
    json_object: bool = False
    max_tokens: int | None = None
    reasoning: bool = False
    summary: bool = False
    logprobs: int | None = None
    kinds: tuple[Kind, ...] = KINDS
    statuses: tuple[str, ...] = STATUSES
    model: str | None = None
    encrypted: bool | None = None  # reasoning items carry encrypted_content (None: drawn)
    obfuscation: bool | None = None  # delta events carry ``obfuscation`` (None: drawn)

    @property
    def json(self) -> bool:
        """Whether the text must be JSON (``text.format`` ``json_object`` or ``json_schema``)."""
        return self.schema is not None or self.json_object

    def allowed_kinds(self) -> list[Kind]:
        """The kinds of reply this space can draw, simplest first."""
        out: list[Kind] = []
        if "text" in self.kinds and not self.forced:
            out.append("text")
        if "tools" in self.kinds and self.tools:
            out.append("tools")
        if "refusal" in self.kinds and not self.forced:
            out.append("refusal")
        return out


def space_of(prompt: Prompt) -> ResponseSpace:
    """What a Responses request constrains: the tools it offers and ``tool_choice`` (``allowed_tools`` too),
    ``parallel_tool_calls``, ``text.format``, ``max_output_tokens``, whether the model reasons and a summary is
    asked for, and the logprobs ``include``.

    >>> from mockai.prompt import Turn
    >>> space = space_of(Prompt(api="responses", model="o3", turns=(Turn("user", "Hi"),), reasoning_summary="auto"))
    >>> space.reasoning, space.summary, space.allowed_kinds()
    (True, True, ['text', 'refusal'])
    """
    tools = prompt.callable_tools()
    fmt = prompt.format
    schema_ = (fmt.schema or {"type": "object"}) if fmt is not None and fmt.kind == "json_schema" else None
    reasons = effort(prompt.model, prompt.reasoning_effort) not in (None, "none")
    return ResponseSpace(
        tools=tools, forced=bool(tools) and prompt.choosing.mode in ("required", "named"),
        parallel_tool_calls=prompt.parallel_tool_calls, schema=schema_,
        strict=bool(fmt.strict) if schema_ is not None and fmt is not None else False,
        json_object=fmt is not None and fmt.kind == "json_object", max_tokens=prompt.token_limit,
        reasoning=reasons, summary=reasons and bool(prompt.reasoning_summary),
        logprobs=prompt.top_logprobs if prompt.logprobs else None, model=prompt.model or None)


# --- how a text travels ------------------------------------------------------------------------------------


def _awkward(ch: str, before: str) -> bool:
    """Whether a cut just before ``ch`` (after ``before``) splits a user-perceived character."""
    if before == "\u200d" or ch == "\u200d" or unicodedata.combining(ch) or ch in "\ufe0f\ufe0e\u20e3":
        return True
    regional = 0x1F1E6 <= ord(ch) <= 0x1F1FF and 0x1F1E6 <= ord(before) <= 0x1F1FF
    return regional or 0x1F3FB <= ord(ch) <= 0x1F3FF or (0x1160 <= ord(ch) <= 0x11FF)  # flags, skin tones, jamo


def split_deltas(src: Source, text: str) -> list[str]:
    """Pieces joining to ``text`` (never empty; ``[]`` for no text): cut at drawn code points (fewer cuts shrink
    first), token-sized, one code point each, or at every place that splits a user-perceived character (after a
    ZWJ, before a combining mark, a variation selector, a skin tone, between a flag's halves) and between
    words.

    >>> pieces = split_deltas(SeededSource(random.Random(0)), "Hi \U0001f469\u200d\U0001f4bb!")
    >>> "".join(pieces)
    'Hi 👩\u200d💻!'
    """
    if not text:
        return []
    mode = src.integer(0, 3)
    if mode == 1:
        return tokens.split(text)
    if mode == 2 and len(text) <= ONE_BY_ONE:
        return list(text)
    cuts: set[int] = set()
    if mode == 3:
        cuts = {i for i in range(1, len(text)) if _awkward(text[i], text[i - 1]) or text[i - 1] == " "}
    while len(cuts) < len(text) - 1 and src.boolean(0.6):
        cuts.add(src.integer(1, len(text) - 1))
    edges = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


class SeededSplit:
    """A :data:`~mockai.responses.render.Split` drawing each text's pieces from ``seed`` and the text alone: the
    same text splits the same way in any process, in any order, from any thread.

    >>> SeededSplit(b"seed")("Hello, world") == SeededSplit(b"seed")("Hello, world")
    True
    """

    def __init__(self, seed: bytes) -> None:
        self.seed = seed

    def __call__(self, text: str) -> list[str]:
        digest = hashlib.sha256(self.seed + b"|" + text.encode("utf-8", "surrogatepass")).digest()
        return split_deltas(SeededSource(random.Random(int.from_bytes(digest[:8], "big"))), text)


class Pieces:
    """A :data:`~mockai.responses.render.Split` that draws each text's pieces from ``src`` the first time and
    keeps them (``drawn``); once :meth:`freeze` is called it only replays them (token-sized for a new text).

    >>> pieces = Pieces(SeededSource(random.Random(2)))
    >>> first = pieces("Hello, world")
    >>> pieces.freeze()("Hello, world") == first, pieces("new text")
    (True, ['new', ' text'])
    """

    def __init__(self, src: Source | None) -> None:
        self.src = src
        self.drawn: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        hit = self.drawn.get(text)
        if hit is None:
            hit = split_deltas(self.src, text) if self.src is not None else tokens.split(text)
            self.drawn[text] = hit
        return list(hit)

    def freeze(self) -> Pieces:
        self.src = None
        return self


# --- drawing a reply -----------------------------------------------------------------------------------------


def _annotations(src: Source, text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while text and len(out) < MAX_ANNOTATIONS and src.boolean(0.3):
        start = src.integer(0, len(text))
        end = src.integer(start, len(text))
        path = "".join(src.choice(_HEX) for _ in range(src.integer(1, 8)))
        out.append({"type": "url_citation", "end_index": end, "start_index": start,
                    "title": draw_text(src) or src.word(), "url": f"https://example.com/{path}"})
    return out


def _text_part(src: Source, space: ResponseSpace) -> dict[str, Any]:
    if space.schema is not None:
        text = compact(schema.value_for(space.schema, src, strict=space.strict))
    elif space.json_object:
        text = compact(schema.value_for(_JSON_OBJECT, src))
    else:
        text = draw_text(src)
    part: dict[str, Any] = {"type": "output_text", "annotations": [] if space.json else _annotations(src, text),
                            "logprobs": [], "text": text}
    if space.logprobs is not None:
        part["logprobs"] = [_logprob(src, tok, space.logprobs).to_wire() for tok in tokens.split(text)]
    return part


def _call(src: Source, tool: ToolDef) -> ToolCall:
    if tool.custom:
        return ToolCall(tool.name, custom_input(tool, cast(Any, src)), type="custom")
    params = tool.parameters or {"type": "object", "properties": {}}
    return ToolCall(tool.name, compact(schema.value_for(params, src, strict=tool.strict)))


def _message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "content": list(parts)}


def draw_drafted(src: Source, space: ResponseSpace, split: render.Split | None = None) -> render.Drafted:
    """A whole reply for ``space`` as output drafts (its calls without ids: the engine names them), travelling as
    ``split`` says; see the module docstring."""
    kinds = space.allowed_kinds()
    if not kinds:
        raise ValueError("this reply space allows no reply at all: check kinds, tools and tool_choice")
    items: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    if space.reasoning:
        count = src.integer(1, MAX_SUMMARY_PARTS) if space.summary else 0
        items.append({"type": "reasoning", "summary": [
            {"type": "summary_text", "text": draw_text(src) or src.word()} for _ in range(count)]})
    kind = src.choice(kinds[1:]) if len(kinds) > 1 and src.boolean(0.5) else kinds[0]
    if kind == "refusal":
        text = src.choice(REFUSALS) if src.boolean(0.7) else draw_text(src) or REFUSALS[0]
        items.append(_message({"type": "refusal", "refusal": text}))
    elif kind == "tools":
        if not space.json and src.boolean(0.3):
            part = _text_part(src, space)  # a message before the calls; none at all rather than an empty one
            if part["text"]:
                items.append(_message(part))
        for _ in range(src.integer(1, MAX_TOOL_CALLS) if space.parallel_tool_calls else 1):
            calls.append(_call(src, src.choice(space.tools)))
            items.append({"type": "custom_tool_call" if calls[-1].type == "custom" else "function_call"})
    else:
        items.append(_message(_text_part(src, space)))
        if not space.json and src.boolean(0.25):
            items.append(_message(_text_part(src, space)))  # a second message
    reason = None
    if "incomplete" in space.statuses and ("completed" not in space.statuses or src.integer(0, 4) == 0):
        reason = src.choice(INCOMPLETE_REASONS)
        _cut_last(src, items, calls)
    if space.max_tokens is not None and _cut_to(items, calls, space.max_tokens):
        reason = "max_output_tokens"
    return _drafted(items, calls, reason, split)


def _texts(items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The (part, key) of every text a message holds, in order."""
    return [(part, "refusal" if part["type"] == "refusal" else "text")
            for item in items if item["type"] == "message" for part in item["content"]]


def _cut_last(src: Source, items: list[dict[str, Any]], calls: list[ToolCall]) -> None:
    """Cut the last text of the reply (a call's arguments, or a message's text) at a drawn code point, or at a
    drawn token for text with logprobs (each logprob is a token's); now and then leave it whole."""
    if calls and items[-1]["type"] != "message":
        last = calls[-1]
        last.arguments = last.arguments[: src.integer(0, max(len(last.arguments) - 1, 0))]
        return
    found = _texts(items)
    if not found or src.boolean(0.3):
        return
    part, key = found[-1]
    if part.get("logprobs"):
        keep = src.integer(0, len(part["logprobs"]) - 1)
        part["logprobs"] = part["logprobs"][:keep]
        part[key] = "".join(lp["token"] for lp in part["logprobs"])
    else:
        part[key] = part[key][: src.integer(0, max(len(part[key]) - 1, 0))]
    if key == "text":
        part["annotations"] = [a for a in part["annotations"] if a["end_index"] <= len(part["text"])]


def _cut_to(items: list[dict[str, Any]], calls: list[ToolCall], budget: int) -> bool:
    """Cut the reply at ``budget`` output tokens, counted as usage counts them; whether anything was cut."""
    cut = False
    while budget >= 0 and _visible(items, calls) > budget:
        cut = True
        left = budget
        kept: list[dict[str, Any]] = []
        pending = list(calls)
        calls.clear()
        for item in items:
            if item["type"] == "reasoning":  # none of its tokens are visible ones: kept however little is left
                kept.append(item)
                continue
            if left <= 0:
                break
            if item["type"] == "message":
                for i, part in enumerate(item["content"]):
                    key = "refusal" if part["type"] == "refusal" else "text"
                    pieces = tokens.split(part[key])
                    if len(pieces) > left:
                        part[key] = "".join(pieces[:left])
                        if part.get("logprobs"):
                            part["logprobs"] = part["logprobs"][:left]
                        if key == "text":
                            part["annotations"] = [a for a in part["annotations"] if a["end_index"] <= len(part[key])]
                        item["content"] = item["content"][: i + 1]
                    left -= min(len(pieces), left)
            elif item["type"] in ("function_call", "custom_tool_call"):
                call = pending.pop(0)
                head = len(tokens.split(call.name)) + 3
                if head >= left:
                    break
                pieces = tokens.split(call.arguments)
                call.arguments = "".join(pieces[: left - head])
                left -= head + min(len(pieces), left - head)
                calls.append(call)
            kept.append(item)
        items[:] = kept
        budget -= 1  # joined text may count a token more than its parts did: go round once more if so
    return cut


def _visible(items: list[dict[str, Any]], calls: list[ToolCall]) -> int:
    return _mirror(items, calls, None).completion_tokens()


def _mirror(items: list[dict[str, Any]], calls: list[ToolCall], reason: str | None) -> Choice:
    """The reply's first choice: what it says, in neutral form (see :class:`~mockai.responses.render.Drafted`)."""
    texts = [p["text"] for p, key in _texts(items) if key == "text"]
    refusals = [p["refusal"] for p, key in _texts(items) if key == "refusal"]
    summary = [s["text"] for item in items if item["type"] == "reasoning" for s in item["summary"]]
    choice = Choice(content="".join(texts) if texts or (not refusals and not calls) else None,
                    tool_calls=[ToolCall(c.name, c.arguments, c.id, c.type) for c in calls],
                    refusal="".join(refusals) if refusals else None,
                    reasoning=" ".join(summary) if any(i["type"] == "reasoning" for i in items) else None,
                    annotations=[a for p, key in _texts(items) if key == "text" for a in p["annotations"]])
    choice.tokens = [t for text in texts for t in tokens.split(text)]  # counted part by part, as drawn and cut
    drawn = [lp for p, key in _texts(items) if key == "text" for lp in p.get("logprobs") or []]
    if drawn:  # the engine would make some up otherwise
        choice.logprobs = [TokenLogprob(lp["token"], lp["logprob"], [(t["token"], t["logprob"])
                                                                     for t in lp["top_logprobs"]]) for lp in drawn]
    choice.finish_reason = ("length" if reason == "max_output_tokens" else "content_filter" if reason else
                            "tool_calls" if calls else "stop")
    return choice


def _drafted(items: list[dict[str, Any]], calls: list[ToolCall], reason: str | None,
             split: render.Split | None) -> render.Drafted:
    choice = _mirror(items, calls, reason)
    return render.Drafted([choice], items=items, split=split)


# --- a whole drawn response ----------------------------------------------------------------------------------


@dataclass
class DrawnResponse(render.Drafted):
    """A drawn reply (a :class:`~mockai.responses.render.Drafted`, so ``mock.queue(drawn)`` answers the next
    request with these output items, each text split into exactly these deltas, under the engine's ids), the
    ``response`` object it is (``.response``) and the events it is streamed as (``.events``, which the SDK's
    stream state reassembles to ``.response``)."""

    response: dict[str, Any] = field(default_factory=dict)
    events: list[render.Event] = field(default_factory=list)

    def sse(self) -> bytes:
        """The stream as the server sends it: ``event: <type>`` and ``data: <json>`` per event, no ``[DONE]``."""
        return b"".join(render.sse(self.events, _dumps))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis shows a falsifying example
        printer.text(repr(self))

    def __repr__(self) -> str:
        lines = [f"DrawnResponse({self.response.get('status')}, {len(self.events)} events):"]
        lines += ["  " + json.dumps(item, ensure_ascii=False) for item in self.response.get("output", [])]
        return "\n".join(lines)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _flat(fmt: Mapping[str, Any] | None) -> dict[str, Any]:
    """A custom tool's format as the Responses API writes it (chat nests a grammar under ``grammar``)."""
    if fmt is None or fmt.get("type") != "grammar":
        return {"type": "text"}
    return {"type": "grammar", **dict(fmt.get("grammar", {k: v for k, v in fmt.items() if k != "type"}))}


def _echo(space: ResponseSpace) -> dict[str, Any]:
    tools = [{"type": "custom", "format": _flat(t.format), "name": t.name} if t.custom else
             {"type": "function", "description": t.description, "name": t.name,
              "parameters": dict(t.parameters or {"type": "object", "properties": {}}), "strict": t.strict}
             for t in space.tools]
    fmt: dict[str, Any] = {"type": "text"}
    if space.schema is not None:
        fmt = {"type": "json_schema", "name": "drawn", "schema": dict(space.schema), "strict": space.strict}
    elif space.json_object:
        fmt = {"type": "json_object"}
    return {"tools": tools, "tool_choice": "required" if space.forced else "auto",
            "parallel_tool_calls": space.parallel_tool_calls, "max_output_tokens": space.max_tokens,
            "text": {"format": fmt, "verbosity": "medium"}, "top_logprobs": space.logprobs or 0,
            "reasoning": {"effort": "medium" if space.reasoning else None,
                          "summary": "auto" if space.summary else None}}


def draw_response(src: Source, space: ResponseSpace) -> DrawnResponse:
    """A reply with its own id, clock, model and usage, and the events it is sent as; see :class:`DrawnResponse`."""
    pieces = Pieces(src)
    drafted = draw_drafted(src, space, pieces)
    choice = drafted.choices[0]
    for index, call in enumerate(choice.tool_calls):
        call.id = f"call_{_b62(src, 22)}{_b62(src, 1)}{index}"  # unique by construction, however it shrinks
    visible = choice.completion_tokens()
    thinking = src.integer(1, 400) if space.reasoning else 0
    if space.max_tokens is not None:
        thinking = min(thinking, max(space.max_tokens - visible, 0))
    prompt = src.integer(1, 4000)
    usage = {"input_tokens": prompt,
             "input_tokens_details": {"cached_tokens": src.integer(0, prompt // 64) * 64, "cache_write_tokens": 0},
             "output_tokens": visible + thinking, "output_tokens_details": {"reasoning_tokens": thinking},
             "total_tokens": prompt + visible + thinking}
    digest = "".join(src.choice(_HEX) for _ in range(8)) + "0" * 40
    models = [m for m in MODELS if (effort(m, None) is not None) == space.reasoning] or list(MODELS)
    meta = render.Meta(id="resp_" + digest, created_at=src.integer(1_700_000_000, 1_800_000_000),
                       model=space.model or src.choice(models), usage=usage, echo=_echo(space),
                       logprobs=space.logprobs is not None,
                       encrypted=space.reasoning and (src.boolean(0.3) if space.encrypted is None else space.encrypted))
    done = render.response(drafted, meta)
    padded = src.boolean(0.8) if space.obfuscation is None else space.obfuscation
    events = render.obfuscated(render.resplit(render.events(done), pieces), meta.id, padded)
    pieces.freeze()
    return DrawnResponse(drafted.choices, model=meta.model, usage=usage, items=drafted.items, split=pieces,
                         response=done, events=events)
