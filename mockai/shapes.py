"""The space of valid replies and streams, drawn through a :class:`Source`: one implementation behind the
Hypothesis strategies (:mod:`mockai.strategies`, a Hypothesis-backed source), the fuzz responder
(:mod:`mockai.fuzz`, a seeded :class:`SeededSource`) and the checks holding the default generator to the same
space (:func:`reply_problems`, :func:`stream_problems`).

A reply is drawn first (:func:`draw_reply`: per choice plain text, JSON for a schema, tool calls for the offered
tools with arguments from :func:`mockai.schema.value_for`, or a refusal; then cut by ``stop``, a ``length`` or
``content_filter`` finish and the token limit with the generator's own :func:`~mockai.generate.cut_at_stop` and
:func:`~mockai.generate.cut_to_tokens`), then how it is split into chunks (:func:`draw_events`): content and
tool-call arguments cut anywhere between code points (inside words, ZWJ emoji and combining sequences),
token-sized or one code point each; role-only, empty and ``content: ""`` deltas; the first content piece in the
role delta or the finish on the last delta; choices interleaved for ``n > 1``. A stream therefore always knows
the reply it must reassemble to.

Every primitive choice is ordered so that the simplest comes first (``integer`` shrinks to its lower bound,
``choice`` to its first option, ``boolean`` to ``False``): Hypothesis shrinks a drawn stream towards short plain
text, ``finish_reason: "stop"``, one choice, one content piece and the real API's own first delta.

>>> import random
>>> import random
>>> drawn = draw_stream(SeededSource(random.Random(3)), ReplySpace())
>>> drawn.completion["object"], drawn.chunks[0]["object"]
('chat.completion', 'chat.completion.chunk')
>>> reassemble(drawn.chunks) == choices_of(drawn.completion)
True
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from . import schema, streaming, tokens
from .generate import compact, cut_at_stop, cut_to_tokens
from .models import EFFORT_TOKENS, family
from .prompt import Prompt
from .reply import Choice, Reply, TokenLogprob, ToolCall
from .streaming import Meta

T = TypeVar("T")
Kind = Literal["text", "tools", "refusal"]
KINDS: tuple[Kind, ...] = ("text", "tools", "refusal")
TEXT_FINISHES = ("stop", "length", "content_filter")
TOOL_FINISHES = ("tool_calls", "length")
FINISHES = ("stop", "length", "tool_calls", "content_filter")
MAX_TOOL_CALLS = 3
# The most reasoning tokens a choice spends: the top of the highest effort's band, as the generator draws them.
MAX_REASONING_TOKENS = max(hi for _, hi in EFFORT_TOKENS.values())
MAX_ATOMS = 2000

# Pieces of text with a history of breaking clients: multi-byte, joined, combining, right-to-left, invisible.
UNICODE_ATOMS = (
    "é", "e\u0301", "nai\u0308ve", "\U0001f469\u200d\U0001f4bb", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1f3\U0001f1f4", "\U0001f44d\U0001f3fd", "1\ufe0f\u20e3", "日本語", "한국어", "\u1100\u1161\u11a8",
    "مرحبا", "שלום", "Ελληνικά", "€", "ß", "\U0001d518\U0001d52b\U0001d526", "\U0001f600", "\u200b", "\t", "…", "—",
)
PUNCTUATION = (".", ",", "!", "?", ":", ";", "'", '"', "-", "(", ")")
SPACES = (" ", "\n", "\n\n", "  ")
MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14",
          "o3-mini-2025-01-31", "gpt-5-2025-08-07")
REFUSALS = ("I'm sorry, but I can't help with that.", "I can't assist with that request.",
            "Sorry, I can't comply with that.")
# A word, wherever a source draws one: letters only (any script), 1 to MAX_WORD of them. The seeded sources'
# word lists (mockai.schema.WORDS, the generator's Faker lorem) lie inside; Hypothesis draws from all of it.
WORD_CATEGORIES: tuple[Literal["Ll", "Lu", "Lo"], ...] = ("Ll", "Lu", "Lo")
MAX_WORD = 24
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Code point ranges a seeded source picks characters from (no surrogates: they cannot be sent as UTF-8).
_CHAR_RANGES = ((0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
                (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF),
                (0x1D400, 0x1D7FF), (0x0, 0x1F), (0xE000, 0xF8FF))


def is_word(text: str) -> bool:
    """Whether ``text`` is in the word domain every :class:`Source` draws ``word()`` from."""
    return 1 <= len(text) <= MAX_WORD and all(unicodedata.category(ch) in WORD_CATEGORIES for ch in text)


class Source(schema.Source, Protocol):
    """:class:`mockai.schema.Source` plus single characters."""

    def char(self) -> str: ...


class SeededSource(schema.RandomSource):
    """A :class:`Source` over a seeded ``random.Random``: the same seed draws the same values everywhere.

    >>> import random
    >>> SeededSource(random.Random(1)).integer(1, 6)
    2
    """

    def choice(self, options: Sequence[T]) -> T:
        if not options:  # only a schema asks for a choice among none: an empty enum (or list of types)
            raise schema.SchemaError("an empty enum admits no value")
        return super().choice(options)

    def char(self) -> str:
        lo, hi = self.choice(_CHAR_RANGES)
        return chr(self.integer(lo, hi))


# --- what a request allows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: its name, JSON schema and ``strict`` flag."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool = False


@dataclass(frozen=True)
class ReplySpace:
    """The replies a request allows (see :func:`space_for`); the defaults allow every shape.

    ``tool_choice`` is ``"auto"``, ``"none"``, ``"required"`` or a function name. ``logprobs`` is ``None`` (no
    logprobs) or the number of ``top_logprobs``.
    """

    n: int = 1
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    parallel_tool_calls: bool = True
    schema: Mapping[str, Any] | None = None
    strict: bool = False
    json_object: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = FINISHES
    kinds: tuple[Kind, ...] = KINDS
    logprobs: int | None = None
    include_usage: bool = False
    model: str | None = None
    # Whether chunks carry ``obfuscation`` (``stream_options.include_obfuscation``); ``None``: drawn.
    obfuscation: bool | None = None

    def callable_tools(self) -> tuple[ToolSpec, ...]:
        if self.tool_choice == "none":
            return ()
        if self.tool_choice in ("auto", "required"):
            return self.tools
        return tuple(t for t in self.tools if t.name == self.tool_choice)

    def allowed_kinds(self) -> list[Kind]:
        """The kinds of choice this space can draw, simplest first."""
        out: list[Kind] = []
        forced = self.tool_choice not in ("auto", "none") and bool(self.callable_tools())
        if "text" in self.kinds and not forced and set(self.finish_reasons) & set(TEXT_FINISHES):
            out.append("text")
        if "tools" in self.kinds and self.callable_tools() and set(self.finish_reasons) & set(TOOL_FINISHES):
            out.append("tools")
        if "refusal" in self.kinds and not forced and "stop" in self.finish_reasons:
            out.append("refusal")
        return out


def space_for(prompt: Prompt) -> ReplySpace:
    """What a request constrains: ``n``, the tools offered and ``tool_choice``, ``parallel_tool_calls``, the
    response format, the token limit, ``stop``, ``logprobs`` and (chat) ``stream_options`` (``include_usage``,
    ``include_obfuscation``). Custom tools are not drawn: a request that can only call custom tools gets text."""
    choosing = prompt.choosing
    offered = [t for t in prompt.callable_tools() if not t.custom] if choosing.mode != "none" else []
    if choosing.mode == "named":
        tool_choice = offered[0].name if offered else "none"
    else:
        tool_choice = choosing.mode if offered or choosing.mode != "required" else "none"
    fmt = prompt.format
    return ReplySpace(
        n=prompt.n,
        tools=tuple(ToolSpec(t.name, t.parameters or {"type": "object", "properties": {}}, t.strict)
                    for t in offered),
        tool_choice=tool_choice,
        parallel_tool_calls=prompt.parallel_tool_calls,
        schema=(fmt.schema or {"type": "object"}) if fmt is not None and fmt.kind == "json_schema" else None,
        strict=bool(fmt.strict) if fmt is not None and fmt.kind == "json_schema" else False,
        json_object=fmt is not None and fmt.kind == "json_object",
        max_tokens=prompt.token_limit,
        stop=tuple(s for s in prompt.stop if s),
        logprobs=prompt.top_logprobs if prompt.logprobs else None,
        include_usage=bool(prompt.stream and prompt.extra.get("include_usage")),
        obfuscation=bool(prompt.extra.get("include_obfuscation", True)),
    )


# --- drawing a reply ---------------------------------------------------------------------------------------

_JSON_OBJECT = {"type": "object", "minProperties": 1,
                "additionalProperties": {"type": ["string", "integer", "number", "boolean", "null", "array"]}}


def draw_atom(src: Source) -> str:
    """One piece of text: a word (bare or after a space), spacing, punctuation, a tricky Unicode sequence, any
    character, or a number."""
    kind = src.integer(0, 7)
    if kind == 0:
        return src.word()
    if kind in (1, 2):
        return " " + src.word()
    if kind == 3:
        return src.choice(SPACES)
    if kind == 4:
        return src.choice(PUNCTUATION)
    if kind == 5:
        return src.choice(UNICODE_ATOMS)
    if kind == 6:
        return src.char()
    return str(src.integer(0, 10_000))


def draw_text(src: Source, more: float = 0.85) -> str:
    """Text of a geometric number of atoms (about 6 on average, at most :data:`MAX_ATOMS`; may be empty)."""
    parts: list[str] = []
    while len(parts) < MAX_ATOMS and src.boolean(more):
        parts.append(draw_atom(src))
    return "".join(parts)


def _b62(src: Source, size: int) -> str:
    n = src.integer(0, 62**size - 1)
    out = []
    for _ in range(size):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(out)


def _cut_point(src: Source, text: str) -> int:
    """A code point index strictly inside ``text`` (or 0 for text shorter than two code points)."""
    return src.integer(1, len(text) - 1) if len(text) > 1 else 0


def draw_choice(src: Source, space: ReplySpace) -> Choice:
    """One choice: plain text (or JSON for the response format), tool calls, or a refusal; then cut."""
    kinds = space.allowed_kinds()
    if not kinds:
        raise ValueError("this reply space allows no choice at all: check finish_reasons, kinds and tool_choice")
    # Half of all choices are the first kind allowed (text, as a rule); the rest spread over the others.
    kind = src.choice(kinds[1:]) if len(kinds) > 1 and src.boolean(0.5) else kinds[0]
    if kind == "refusal":
        text = src.choice(REFUSALS) if src.boolean(0.7) else draw_text(src) or REFUSALS[0]
        choice = Choice(content=None, refusal=text)
        if space.max_tokens is not None and choice.completion_tokens() > space.max_tokens:
            choice.refusal = "".join(tokens.split(text)[: space.max_tokens])
            choice.finish_reason = "length"
        return choice
    if kind == "tools":
        tools = space.callable_tools()
        count = src.integer(1, MAX_TOOL_CALLS) if space.parallel_tool_calls else 1
        calls = []
        for _ in range(count):
            tool = src.choice(tools)
            calls.append(ToolCall(tool.name, compact(schema.value_for(tool.parameters, src, strict=tool.strict))))
        preface = draw_text(src) if src.boolean(0.2) else None
        while preface and any(s in preface for s in space.stop):  # text before the calls never holds a stop
            for s in space.stop:
                preface = preface.replace(s, "")
        # No text before the calls is content null, never "": the real API's message (and the generator's), and
        # a stream whose first delta has content null, as the generator streams its calls.
        choice = Choice(content=preface or None, tool_calls=calls, finish_reason="tool_calls")
        finish = src.choice([f for f in TOOL_FINISHES if f in space.finish_reasons])
        if finish == "length":
            keep = src.integer(0, len(calls) - 1)
            last = calls[keep]
            last.arguments = last.arguments[: _cut_point(src, last.arguments)]
            choice.tool_calls = calls[: keep + 1]
            choice.finish_reason = "length"
        return cut_to_tokens(choice, space.max_tokens)
    if space.schema is not None:
        content = compact(schema.value_for(space.schema, src, strict=space.strict))
    elif space.json_object:
        content = compact(schema.value_for(_JSON_OBJECT, src))
    else:
        content = draw_text(src)
    choice = cut_at_stop(Choice(content=content), list(space.stop))
    finish = src.choice([f for f in TEXT_FINISHES if f in space.finish_reasons])
    if finish != "stop":
        text = choice.content or ""
        choice.content = text[: _cut_point(src, text)] if src.boolean(0.7) else text
        choice.tokens = None
        choice.finish_reason = finish  # type: ignore[assignment]
    return cut_to_tokens(choice, space.max_tokens)


def draw_reply(src: Source, space: ReplySpace) -> SplitReply:
    """A whole reply for ``space`` (tool calls get ids), split into stream events, without its meta."""
    choices = [draw_choice(src, space) for _ in range(space.n)]
    for ci, choice in enumerate(choices):
        for ti, tool_call in enumerate(choice.tool_calls):
            # Unique within the reply by construction, even when Hypothesis shrinks the random part to zeros.
            tool_call.id = f"call_{_b62(src, 22)}{_B62[ci % 62]}{_B62[ti % 62]}"
        if space.logprobs is not None and choice.content:
            choice.tokens = tokens.split(choice.content)  # logprobs come per token, so these deltas do too
            choice.logprobs = [_logprob(src, tok, space.logprobs) for tok in choice.tokens]
    return SplitReply(choices, events=draw_events(src, choices))


def _logprob(src: Source, token: str, top_n: int) -> TokenLogprob:
    """A token's logprob and its ``top_n`` most likely alternatives: the token itself first, then others less
    likely; none at all for ``top_n`` 0 (``top_logprobs`` 0 or unset), as the real API and the generator's
    :func:`~mockai.generate.logprobs_for` send ``"top_logprobs": []``."""
    lp = -src.integer(0, 400_000) / 100_000
    top = [(token, lp)]
    while len(top) < top_n:
        alt = (" " if token.startswith(" ") else "") + src.word()
        if any(alt == t for t, _ in top):
            alt += str(len(top))  # distinct by construction, however the words shrink
        top.append((alt, top[-1][1] - src.integer(1, 300_000) / 100_000))
    return TokenLogprob(token, lp, top[:top_n])


def reasons(model: str) -> bool:
    """Whether ``model`` is a reasoning model (``reasoning_tokens`` in its usage)."""
    fam = family(model)
    return fam is not None and fam.reasoning


def draw_meta(src: Source, reply: Reply, space: ReplySpace) -> Meta:
    """Ids, clock, model, fingerprint and usage, as the real API would send them with ``reply``: a reasoning
    model's reasoning tokens (0 to :data:`MAX_REASONING_TOKENS` a choice, within ``max_tokens``) are counted
    within ``completion_tokens``."""
    model = space.model or src.choice(MODELS)
    prompt = src.integer(1, 4000)
    completion = sum(c.completion_tokens() for c in reply.choices)
    details = {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
               "rejected_prediction_tokens": 0}
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": src.integer(0, prompt // 64) * 64, "audio_tokens": 0},
        "completion_tokens_details": details,
    }
    meta = Meta(
        id="chatcmpl-" + _b62(src, 29),
        created=src.integer(1_700_000_000, 1_800_000_000),
        model=model,
        system_fingerprint=None if src.boolean(0.2) else "fp_" + f"{src.integer(0, 16**10 - 1):010x}",
        service_tier="default",
        usage=usage,
        include_usage=space.include_usage,
    )
    if reasons(model):
        thinking = 0
        for choice in reply.choices:
            # None at all now and then (as at effort "none"); and that is what it shrinks to.
            drawn = src.integer(0, MAX_REASONING_TOKENS) if src.boolean(0.8) else 0
            if space.max_tokens is not None:  # the limit holds reasoning and visible tokens together
                drawn = min(drawn, max(space.max_tokens - choice.completion_tokens(), 0))
            thinking += drawn
        usage["completion_tokens"] = completion + thinking
        usage["total_tokens"] = prompt + completion + thinking
        details["reasoning_tokens"] = thinking
    if space.obfuscation if space.obfuscation is not None else src.boolean(0.8):
        meta.obfuscation = streaming.padding(meta.id)
    return meta


def usage_problems(usage: Mapping[str, Any], reply: Reply, space: ReplySpace, model: str) -> list[str]:
    """Why ``usage`` is not one :func:`draw_meta` could send with ``reply`` from ``model`` (``[]``: it is): the
    total is prompt plus completion tokens, completion tokens hold the reasoning ones, and only a reasoning model
    reasons, at most :data:`MAX_REASONING_TOKENS` a choice.

    Held against drawn usage and the default generator's, so both live in one space.
    """
    out: list[str] = []
    prompt, completion, total = usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]
    thinking = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    if total != prompt + completion:
        out.append(f"total_tokens {total} is not prompt_tokens {prompt} + completion_tokens {completion}")
    if thinking > completion:
        out.append(f"reasoning_tokens {thinking} over completion_tokens {completion}")
    if thinking and not reasons(model):
        out.append(f"{thinking} reasoning_tokens from {model!r}, which does not reason")
    if thinking > MAX_REASONING_TOKENS * max(len(reply.choices), space.n):
        out.append(f"{thinking} reasoning_tokens, over {MAX_REASONING_TOKENS} a choice")
    return out


def draw_stream(src: Source, space: ReplySpace) -> DrawnStream:
    """A reply with its own meta, and the chunks it is sent as: see :class:`DrawnStream`."""
    reply = draw_reply(src, space)
    reply.meta = draw_meta(src, reply, space)
    reply.model, reply.usage = reply.meta.model, reply.meta.usage
    return DrawnStream(reply)


# --- drawing how it is split ---------------------------------------------------------------------------------

Delta = dict[str, Any]
Event = tuple[int, Delta, "dict[str, Any] | None", "str | None"]  # choice index, delta, logprobs, finish_reason


def split_text(src: Source, text: str) -> list[str]:
    """Pieces joining to ``text``: cut at drawn code points (fewer cuts shrink first), token-sized, or one code
    point each. Never empty pieces; ``[]`` for empty text."""
    if not text:
        return []
    mode = src.integer(0, 2)
    if mode == 1:
        return tokens.split(text)
    if mode == 2 and len(text) <= 64:
        return list(text)
    cuts: set[int] = set()
    while len(cuts) < len(text) - 1 and src.boolean(0.6):
        cuts.add(src.integer(1, len(text) - 1))
    edges = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


def _choice_events(src: Source, choice: Choice) -> list[tuple[Delta, dict[str, Any] | None, str | None]]:
    logprobs = choice.logprobs
    pieces = list(choice.tokens or []) if logprobs is not None else split_text(src, choice.content or "")
    lps: list[dict[str, Any] | None] = (
        [{"content": [lp.to_wire()], "refusal": None} for lp in logprobs] if logprobs is not None
        else [None] * len(pieces))
    head_kind = src.integer(0, 2)  # 0: the real API's first delta; 1: role only; 2: role and the first piece
    head: Delta = {"role": "assistant", "content": "" if choice.content is not None else None, "refusal": None}
    head_lp = None
    if head_kind == 1:
        head = {"role": "assistant"}
    elif head_kind == 2 and pieces:
        head = {"role": "assistant", "content": pieces.pop(0)}
        head_lp = lps.pop(0)
    out: list[tuple[Delta, dict[str, Any] | None, str | None]] = [(head, head_lp, None)]
    if head_kind == 1 and choice.content == "":
        out.append(({"content": ""}, None, None))  # so the reassembled content is "" rather than missing

    def noise() -> None:
        if src.boolean(0.1):
            out.append(({"content": ""} if choice.content is not None and src.boolean(0.5) else {}, None, None))

    for piece, lp in zip(pieces, lps, strict=True):
        noise()
        out.append(({"content": piece}, lp, None))
    for piece in split_text(src, choice.refusal or ""):
        out.append(({"refusal": piece}, None, None))
    for index, call in enumerate(choice.tool_calls):
        frags = split_text(src, call.arguments)
        first = frags.pop(0) if frags and src.boolean(0.3) else ""
        noise()
        out.append(({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                     "function": {"name": call.name, "arguments": first}}]}, None, None))
        out.extend(({"tool_calls": [{"index": index, "function": {"arguments": f}}]}, None, None) for f in frags)
    if len(out) > 1 and src.integer(0, 3) == 3:  # the finish on the last delta, instead of an empty one
        delta, lp, _ = out[-1]
        out[-1] = (delta, lp, choice.finish_reason)
    else:
        out.append(({}, None, choice.finish_reason))
    return out


def draw_events(src: Source, choices: Sequence[Choice]) -> list[Event]:
    """The stream's deltas for ``choices``, interleaved; each choice first appears after the one before it (the
    order the SDK's accumulator relies on, as the real API keeps)."""
    per_choice = [_choice_events(src, c) for c in choices]
    pos = [0] * len(per_choice)
    started = 0
    out: list[Event] = []
    while True:
        ready = [i for i in range(min(started + 1, len(per_choice))) if pos[i] < len(per_choice[i])]
        if not ready:
            if started < len(per_choice):  # an earlier choice finished before the next one began
                started += 1
                continue
            return out
        i = ready[src.integer(0, len(ready) - 1)] if len(ready) > 1 else ready[0]
        delta, lp, finish = per_choice[i][pos[i]]
        pos[i] += 1
        started = max(started, i + 1)
        out.append((i, delta, lp, finish))


def render_chunks(events: Iterable[Event], meta: Meta) -> list[dict[str, Any]]:
    """``chat.completion.chunk`` objects for ``events`` (the same envelope :func:`mockai.streaming.chunks`
    writes), plus the usage chunk when ``meta.include_usage``."""
    return streaming.envelop(({"index": i, "delta": d, "logprobs": lp, "finish_reason": f}
                              for i, d, lp, f in events), meta)


@dataclass
class SplitReply(Reply):
    """A :class:`Reply` whose stream split is already drawn (``events``). With ``meta`` it is sent exactly as
    drawn (its own id, clock, model and usage); without, the engine supplies them."""

    events: list[Event] = field(default_factory=list)
    meta: Meta | None = None

    def chunks(self, meta: Meta) -> list[dict[str, Any]]:
        return render_chunks(self.events, meta)


@dataclass
class DrawnStream:
    """A drawn reply (``.reply``), the ``chat.completion`` it is as one body (``.completion``) and the chunks it
    is streamed as (``.chunks``, which reassemble to ``.completion``). Queue it into a mock as is:
    ``mock.queue(drawn)`` answers a streaming request with exactly these chunks and any other with
    ``.completion``.
    """

    reply: SplitReply
    completion: dict[str, Any] = field(init=False)
    chunks: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        assert self.reply.meta is not None, "a drawn stream has its meta"
        self.completion = streaming.body(self.reply, self.reply.meta)
        self.chunks = self.reply.chunks(self.reply.meta)

    def sse(self) -> bytes:
        """The stream as the server sends it: ``data: {chunk}`` events, then ``data: [DONE]``."""
        return b"".join(streaming.sse(self.chunks))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis shows a falsifying example
        printer.text(repr(self))

    def __repr__(self) -> str:
        lines = [f"DrawnStream({len(self.chunks)} chunks, n={len(self.reply.choices)}):"]
        for chunk in self.chunks:
            lines.append("  " + json.dumps({k: chunk[k] for k in ("choices", "usage") if k in chunk},
                                            ensure_ascii=False))
        return "\n".join(lines)


def as_reply(drawn: DrawnStream | SplitReply) -> SplitReply:
    """A fresh copy to send (the engine may be asked to send the same drawn value more than once)."""
    reply = drawn.reply if isinstance(drawn, DrawnStream) else drawn
    copy = reply.copy()
    assert isinstance(copy, SplitReply)  # Reply.copy keeps the subclass and its fields
    copy.events = list(reply.events)
    return copy


# --- the checks: what every drawn or generated reply satisfies -----------------------------------------------


def reply_problems(reply: Reply, space: ReplySpace) -> list[str]:
    """Why ``reply`` is not one :func:`draw_reply` could make for ``space`` (``[]``: it is).

    Held against drawn replies and against the default generator's, so both live in one space.
    """
    out: list[str] = []
    if len(reply.choices) != space.n:
        out.append(f"{len(reply.choices)} choices, the space has n={space.n}")
    allowed = set(space.allowed_kinds())
    names = {t.name for t in space.callable_tools()}
    for i, c in enumerate(reply.choices):
        where = f"choice {i}"
        for text, what in ((c.content, "content"), (c.refusal, "refusal")):
            if text is not None and (len(text) > MAX_ATOMS * 16 or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)):
                out.append(f"{where}: {what} is too long or holds a surrogate")
        if c.refusal is not None:
            kind: Kind = "refusal"
            if c.content is not None or c.tool_calls or c.finish_reason not in ("stop", "length"):
                out.append(f"{where}: a refusal has no content or tool calls and finishes on stop or length")
        elif c.tool_calls:
            kind = "tools"
            if c.finish_reason not in TOOL_FINISHES:
                out.append(f"{where}: tool calls finish on {c.finish_reason!r}")
            if len(c.tool_calls) > (MAX_TOOL_CALLS if space.parallel_tool_calls else 1):
                out.append(f"{where}: {len(c.tool_calls)} tool calls")
            for call in c.tool_calls:
                if call.name not in names:
                    out.append(f"{where}: calls {call.name!r}, not one of {sorted(names)}")
                if c.finish_reason == "tool_calls":
                    try:
                        if not isinstance(json.loads(call.arguments), dict):
                            out.append(f"{where}: arguments of {call.name!r} are not a JSON object")
                    except ValueError:
                        out.append(f"{where}: arguments of {call.name!r} are not JSON")
        else:
            kind = "text"
            if c.content is None:
                out.append(f"{where}: no content, tool calls or refusal")
            if c.finish_reason not in TEXT_FINISHES:
                out.append(f"{where}: text finishes on {c.finish_reason!r}")
            if (space.schema is not None or space.json_object) and c.finish_reason == "stop" and not space.stop:
                try:
                    json.loads(c.content or "")
                except ValueError:
                    out.append(f"{where}: content is not JSON, yet the response format asks for it")
        # A token limit may cut every tool call away, leaving the text before them.
        cut_calls = kind == "text" and c.finish_reason == "length" and "tools" in allowed
        if kind not in allowed and not cut_calls:
            out.append(f"{where}: a {kind} choice, the space allows {sorted(allowed)}")
        if c.finish_reason not in space.finish_reasons:
            out.append(f"{where}: finish_reason {c.finish_reason!r} not in {space.finish_reasons}")
        for s in space.stop:
            if c.content and s in c.content:
                out.append(f"{where}: content holds the stop sequence {s!r}")
        if (space.max_tokens is not None and c.finish_reason != "length"
                and c.completion_tokens() > space.max_tokens):
            out.append(f"{where}: {c.completion_tokens()} tokens over max_tokens={space.max_tokens}")
    return out


def reassemble(chunks: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Choices rebuilt from chunk dicts, as a client should: ``{index: {content, refusal, tool_calls,
    finish_reason}}`` (``tool_calls`` as ``[(id, name, arguments)]``)."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for c in chunk["choices"]:
            d = out.setdefault(c["index"], {"content": None, "refusal": None, "tool_calls": [],
                                            "finish_reason": None})
            delta = c["delta"]
            for key in ("content", "refusal"):
                if delta.get(key) is not None:
                    d[key] = (d[key] or "") + delta[key]
            for tc in delta.get("tool_calls") or []:
                calls = d["tool_calls"]
                if tc["index"] == len(calls):
                    calls.append([tc.get("id"), tc["function"].get("name"), ""])
                calls[tc["index"]][2] += tc["function"].get("arguments") or ""
            if c.get("finish_reason") is not None:
                d["finish_reason"] = c["finish_reason"]
    for d in out.values():
        d["tool_calls"] = [tuple(t) for t in d["tool_calls"]]
    return out


def choices_of(completion: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The shape of :func:`reassemble`, from a ``chat.completion``."""
    return {c["index"]: {"content": c["message"]["content"], "refusal": c["message"].get("refusal"),
                         "tool_calls": [(t["id"], t["function"]["name"], t["function"]["arguments"])
                                        for t in c["message"].get("tool_calls") or []],
                         "finish_reason": c["finish_reason"]}
            for c in completion["choices"]}


def stream_problems(chunks: Sequence[Mapping[str, Any]], completion: Mapping[str, Any]) -> list[str]:
    """Why ``chunks`` is not a legal stream of ``completion`` in the space :func:`draw_events` covers (``[]``:
    it is): shared envelope, role first and once, tool-call heads then argument fragments, one finish per choice
    at its end, choices first appearing in index order, the usage chunk last, and reassembly."""
    out: list[str] = []
    if not chunks:
        return ["no chunks"]
    shared = ("id", "created", "model", "system_fingerprint")
    seen_role: set[int] = set()
    finished: set[int] = set()
    heads: dict[int, set[int]] = {}
    first_seen: list[int] = []
    for k, chunk in enumerate(chunks):
        if chunk.get("object") != "chat.completion.chunk":
            out.append(f"chunk {k}: object is {chunk.get('object')!r}")
        for key in shared:
            if chunk.get(key) != completion.get(key):
                out.append(f"chunk {k}: {key} {chunk.get(key)!r} differs from the completion's")
        if not chunk["choices"]:
            if k != len(chunks) - 1 or chunk.get("usage") is None:
                out.append(f"chunk {k}: no choices, yet not the final usage chunk")
            continue
        if len(chunk["choices"]) != 1:
            out.append(f"chunk {k}: {len(chunk['choices'])} choices in one chunk")
        for c in chunk["choices"]:
            i, delta = c["index"], c["delta"]
            if i not in first_seen:
                if i != len(first_seen):
                    out.append(f"chunk {k}: choice {i} appears before choice {len(first_seen)}")
                first_seen.append(i)
                if delta.get("role") != "assistant":
                    out.append(f"chunk {k}: the first delta of choice {i} has no role")
            elif "role" in delta:
                out.append(f"chunk {k}: role repeated for choice {i}")
            seen_role.add(i)
            if i in finished:
                out.append(f"chunk {k}: choice {i} continues after its finish")
            if c.get("finish_reason") is not None:
                finished.add(i)
            for tc in delta.get("tool_calls") or []:
                known = heads.setdefault(i, set())
                is_head = "id" in tc
                if is_head and (tc["index"] != len(known) or tc.get("type") != "function"
                                or not tc.get("function", {}).get("name")):
                    out.append(f"chunk {k}: bad tool call head {tc}")
                if not is_head and (tc["index"] not in known or set(tc) != {"index", "function"}
                                    or set(tc["function"]) != {"arguments"}):
                    out.append(f"chunk {k}: bad tool call fragment {tc}")
                known.add(tc["index"])
    want = choices_of(completion)
    if finished != set(want):
        out.append(f"finished choices {sorted(finished)}, the completion has {sorted(want)}")
    got = reassemble(chunks)
    if got != want:
        out.append(f"reassembles to {got!r}, not {want!r}")
    return out
