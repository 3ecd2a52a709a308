"""What the model says, before it is dressed for the wire.

Every responder (the default generator, scripted rules, cassettes, fuzz) produces a :class:`Reply`: a list of
:class:`Choice` drafts. The engine then gives it ids, a clock and usage, and :mod:`mockai.streaming` writes it as
one JSON body or as a stream of chunks; that split is what makes a stream reassemble to the non-stream reply.

>>> Reply.text("Hello!").choices[0].content
'Hello!'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from . import tokens

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
FINISH_REASONS: tuple[FinishReason, ...] = ("stop", "length", "tool_calls", "content_filter", "function_call")


@dataclass
class ToolCall:
    """A tool call the model makes; ``id`` is filled in by the engine when left ``None``.

    A ``type="custom"`` call is to a custom tool: ``arguments`` then holds its free-form ``input``.

    >>> ToolCall("run_sql", "SELECT 1", type="custom").type
    'custom'
    """

    name: str
    arguments: str
    id: str | None = None
    type: Literal["function", "custom"] = "function"


@dataclass
class Audio:
    """A spoken answer (``modalities: ["text", "audio"]``): the transcript and the encoded file.

    The engine gives it its ``id`` and ``expires_at``; ``tokens`` is what usage counts as ``audio_tokens``.
    """

    transcript: str
    data: bytes
    format: str
    tokens: int = 0
    id: str | None = None
    expires_at: int | None = None


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "logprob": self.logprob,
            "bytes": list(self.token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in self.top],
        }


@dataclass
class Choice:
    """One choice of a reply. ``tokens`` splits ``content`` for streaming and logprobs (computed when absent)."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    finish_reason: FinishReason = "stop"
    tokens: list[str] | None = None
    logprobs: list[TokenLogprob] | None = None
    function_call: ToolCall | None = None  # the deprecated `functions` API: one call, no id
    audio: Audio | None = None  # a spoken answer: then ``content`` is None and the text is its transcript
    reasoning: str | None = None  # a reasoning summary (the Responses API shows it as a reasoning item)
    annotations: list[dict[str, Any]] = field(default_factory=list)  # url_citation and the like, on the text

    @property
    def calls(self) -> list[ToolCall]:
        """The tool calls, and the legacy function call if any."""
        return [*self.tool_calls, *([self.function_call] if self.function_call else [])]

    def content_tokens(self) -> list[str]:
        if self.tokens is None:
            self.tokens = tokens.split(self.content) if self.content else []
        return self.tokens

    def completion_tokens(self) -> int:
        n = len(self.content_tokens())
        if self.audio is not None:
            n += len(tokens.split(self.audio.transcript))
        if self.refusal:
            n += len(tokens.split(self.refusal))
        for call in self.calls:
            n += len(tokens.split(call.name)) + len(tokens.split(call.arguments)) + 3
        return n


@dataclass
class Reply:
    """A whole reply: its choices, and optionally a model name or usage that override the engine's."""

    choices: list[Choice]
    model: str | None = None
    usage: dict[str, Any] | None = None

    @classmethod
    def text(cls, content: str, finish_reason: FinishReason = "stop") -> Reply:
        return cls([Choice(content=content, finish_reason=finish_reason)])

    def copy(self) -> Reply:
        return dataclasses.replace(
            self,
            choices=[
                dataclasses.replace(c, tool_calls=[dataclasses.replace(t) for t in c.tool_calls],
                                    function_call=dataclasses.replace(c.function_call) if c.function_call else None,
                                    audio=dataclasses.replace(c.audio) if c.audio else None)
                for c in self.choices
            ],
        )
