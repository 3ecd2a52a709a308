"""The API-neutral view of a request for a model reply: what the generator, scripted rules, the journal, faults
and limits read, whichever API surface the request came through.

Each surface (chat completions, the Responses API) validates its own wire format, then describes the request
once as a :class:`Prompt`: the conversation as :class:`Turn` s, the tools offered, how a tool may be chosen, the
output format and the limits. Everything shared reads only this, so a reply scripted once renders on either wire.

>>> prompt = Prompt(api="chat", model="gpt-4o-mini", turns=(Turn("user", "What's the weather in Oslo?"),))
>>> prompt.last_user_text
"What's the weather in Oslo?"
>>> prompt.tool_result is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]
Mode = Literal["auto", "none", "required", "named"]


@dataclass(frozen=True)
class CallRef:
    """A tool call made earlier in the conversation: an assistant's function or custom tool call."""

    id: str
    name: str
    arguments: str = ""
    custom: bool = False


@dataclass(frozen=True)
class Turn:
    """One message of the conversation, reduced to what shapes a reply.

    ``text`` joins the text parts; an assistant turn may carry ``calls``; a ``tool`` turn answers the call whose
    id is ``answers`` (a function or custom tool output).
    """

    role: Role
    text: str = ""
    calls: tuple[CallRef, ...] = ()
    answers: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ToolDef:
    """A tool the model may call: a function with JSON-schema ``parameters``, or a custom tool taking free-form
    ``input`` (``format``: ``{"type": "text"}`` or a grammar, in chat's shape
    ``{"type": "grammar", "grammar": {"syntax", "definition"}}`` whichever API sent it). ``param`` names its
    definition in the request, for errors (``tools[0].function.parameters`` in chat, ``tools[0].parameters`` in the
    Responses API)."""

    name: str
    custom: bool = False
    parameters: Mapping[str, Any] | None = None
    strict: bool = False
    description: str | None = None
    format: Mapping[str, Any] | None = None
    param: str = "tools"


@dataclass(frozen=True)
class Choosing:
    """How a tool may be chosen: ``mode`` ``auto`` (text or a call), ``none`` (text only), ``required`` (one call
    or more) or ``named`` (one call of the one tool in ``only``); ``only`` narrows the tools that may be called (a
    named ``tool_choice``, or ``allowed_tools``)."""

    mode: Mode = "auto"
    only: tuple[str, ...] | None = None


AUTO = Choosing()


@dataclass(frozen=True)
class OutputFormat:
    """What the text must be: ``json_object`` (any JSON object) or ``json_schema`` (valid against ``schema``)."""

    kind: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: Mapping[str, Any] | None = None
    strict: bool = False
    param: str = "response_format"


@dataclass(frozen=True)
class Prompt:
    """A request for a model reply, as every shared piece of mockai sees it; see the module docstring.

    ``token_limit`` is the output limit (``max_completion_tokens``, ``max_output_tokens``); ``functions`` and
    ``function_choice`` are chat's deprecated ``functions``/``function_call``; ``reasoning_effort`` and
    ``reasoning_summary`` are set for reasoning requests; ``audio`` is the requested audio output
    (``{"voice", "format"}``) when chat asks for the audio modality.
    """

    api: str
    model: str
    turns: tuple[Turn, ...]
    tools: tuple[ToolDef, ...] = ()
    choosing: Choosing = AUTO
    parallel_tool_calls: bool = True
    format: OutputFormat | None = None
    token_limit: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    stream: bool = False
    logprobs: bool = False
    top_logprobs: int = 0
    functions: tuple[ToolDef, ...] = ()
    function_choice: Choosing = AUTO
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    audio: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def last_user_text(self) -> str:
        """The text of the last user turn ("" when there is none)."""
        for turn in reversed(self.turns):
            if turn.role == "user":
                return turn.text
        return ""

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    @property
    def tool_result(self) -> str | None:
        """When the last turn is a tool result: the name of the tool it answers ("" if no earlier call has its
        id); ``None`` otherwise."""
        last = self.last
        if last is None or last.role != "tool":
            return None
        for turn in reversed(self.turns):
            for call in turn.calls:
                if call.id == last.answers:
                    return call.name
        return ""

    @property
    def texts(self) -> list[str]:
        """The text of every turn, in order."""
        return [t.text for t in self.turns]

    def callable_tools(self) -> tuple[ToolDef, ...]:
        """The tools a reply may call, after ``tool_choice`` (empty when it is ``none``)."""
        if self.choosing.mode == "none":
            return ()
        only = self.choosing.only
        return tuple(t for t in self.tools if only is None or t.name in only)

    def tool(self, name: str) -> ToolDef | None:
        return next((t for t in self.tools if t.name == name), None)
