"""Token counts for usage and rate limits, whatever the API: a prompt's input tokens and a reply's output tokens.

Input tokens follow OpenAI's cookbook ("How to count tokens with tiktoken"): per message 3 plus the tokens of its
role, text and name (a name 1 more), each earlier tool call 3 plus its name and arguments, 3 to prime the reply,
and the tools offered counted as its ``num_tokens_for_tools`` does. Exact for the cookbook's published examples
when the counter is exact (:mod:`mockai.tokens`).

Output tokens are the reply's own (text, refusal, tool calls, audio) plus the reasoning a reasoning model spent
first, which counts against the output limit: a scripted reply longer than what is left reasoned less.

>>> from mockai.prompt import Prompt, Turn
>>> prompt_tokens(Prompt(api="chat", model="gpt-4o-mini", turns=(Turn("user", "Hi"),)))
8
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import tokens
from .models import reasoning_tokens
from .prompt import Prompt
from .reply import Reply


def prompt_tokens(prompt: Prompt) -> int:
    """The input tokens of ``prompt``, as the cookbook counts them (see the module docstring)."""
    model = prompt.model
    count = tokens.counting(model)
    total = 3
    for turn in prompt.turns:
        total += 3 + _role_tokens(turn.role, count) + count(turn.text)
        if turn.name:
            total += 1 + count(turn.name)
        for call in turn.calls:
            total += 3 + count(call.name) + count(call.arguments)
    tools = [*prompt.tools, *prompt.functions]
    if tools:
        # The cookbook's num_tokens_for_tools: 7 per function (10 for cl100k models), "name:description", the
        # properties (nested ones too, which the cookbook leaves out), and 12 to close the list.
        opening = 10 if tokens.encoding_name(model) == "cl100k_base" else 7
        for tool in tools:
            total += opening + tokens.count(f"{tool.name}:{_undotted(tool.description)}", model)
            total += _properties_tokens(tool.parameters, model)
        total += 12
    return total


@functools.lru_cache(maxsize=64)
def _role_tokens(role: str, count: Callable[[str], int]) -> int:
    """Tokens of a role ("user", "assistant"…), per counter: a handful (roles are checked on the way in)."""
    return count(role)


def _undotted(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return text[:-1] if text.endswith(".") else text


def _properties_tokens(schema: Any, model: str) -> int:
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(props, Mapping) or not props:
        return 0
    total = 3
    for key, prop in props.items():
        prop = prop if isinstance(prop, Mapping) else {}
        total += 3
        enum = prop.get("enum")
        if isinstance(enum, list):
            total += -3 + sum(3 + tokens.count(v if isinstance(v, str) else json.dumps(v), model) for v in enum)
        kind = prop.get("type")
        kind = "|".join(map(str, kind)) if isinstance(kind, list) else str(kind or "")
        total += tokens.count(f"{key}:{kind}:{_undotted(prop.get('description'))}", model)
        total += _properties_tokens(prop, model) + _properties_tokens(prop.get("items"), model)
    return total


@dataclass(frozen=True)
class Output:
    """A reply's output tokens: ``total`` (what ``completion_tokens``/``output_tokens`` report), of which
    ``reasoning`` and ``audio``."""

    total: int
    reasoning: int
    audio: int

    @property
    def text(self) -> int:
        return self.total - self.reasoning - self.audio


def output_tokens(prompt: Prompt, reply: Reply, key: bytes, seed: int) -> Output:
    """Output tokens of ``reply`` to ``prompt`` (``key``: the request's content key, which the reasoning drawn
    for it depends on)."""
    limit = tokens.output_limit(prompt.model, prompt.token_limit, prompt.n)
    total = thinking = spoken = 0
    for index, choice in enumerate(reply.choices):
        visible = choice.completion_tokens()
        if choice.finish_reason == "length":
            visible = min(visible, limit)
        reasoned = min(reasoning_tokens(prompt.model, prompt.reasoning_effort, key, seed, index),
                       max(limit - visible, 0))
        voice = choice.audio.tokens if choice.audio is not None else 0
        total += visible + reasoned + voice
        thinking += reasoned
        spoken += voice
    return Output(total, thinking, spoken)
