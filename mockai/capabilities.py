"""What a request may ask of its model: the family rules of :mod:`mockai.models`, audio output, and the tools
``tool_choice`` names. Each failure is the 400 the real API answers, with its message, ``param`` and ``code``.

:func:`check` runs last among the request checks (:func:`mockai.validation.check_chat`), on a request whose
structure is already valid. A model the catalogue does not know is held to the rules that do not depend on the
model only.

>>> from mockai.errors import APIError
>>> from mockai.wire import ChatCompletionRequest
>>> req = ChatCompletionRequest.model_validate(
...     {"model": "o3", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5})
>>> try:
...     check(req)
... except APIError as err:
...     print(err.code, err.param)
unsupported_parameter max_tokens
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import APIError, invalid
from .models import Family, effort, family
from .wire import (
    AllowedToolsChoice,
    AssistantMessage,
    AudioPart,
    ChatCompletionRequest,
    CustomTool,
    FunctionTool,
    NamedCustomChoice,
    UserMessage,
)

TOOL_TYPES = ("function", "custom")
GRAMMAR_SYNTAXES = ("lark", "regex")
# Parameters a reasoning model takes again when it does not reason (``reasoning_effort: "none"``).
_SAMPLING = ("temperature", "top_p", "logprobs", "top_logprobs")


def check(request: ChatCompletionRequest) -> None:
    """Raise the real API's 400 for a parameter the model refuses, a spoken reply it cannot give, or a
    ``tool_choice`` that names a tool the request does not offer."""
    fam = family(request.model)
    if fam is not None:
        _check_family(request, fam)
    _check_audio(request, fam)
    if request.tools:
        _check_custom_formats(request)
        _check_tool_choice(request)


def wants_audio(request: ChatCompletionRequest) -> bool:
    """The request asks for a spoken reply."""
    return "audio" in (request.modalities or ()) and request.audio is not None


def allowed_tool(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(type, name)`` of one ``allowed_tools.tools`` entry, or ``None`` when it names no tool.

    Chat completions spells an entry like a tool (``{"type": "function", "function": {"name": …}}``); the
    Responses API's flat form (``{"type": "function", "name": …}``) is read too.
    """
    kind = entry.get("type")
    if kind not in TOOL_TYPES:
        return None
    inner = entry.get(kind)
    name = inner.get("name") if isinstance(inner, Mapping) else entry.get("name")
    return (kind, name) if isinstance(name, str) else None


def _check_family(request: ChatCompletionRequest, fam: Family) -> None:
    resting = fam.reasoning and effort(request.model, request.reasoning_effort) == "none"
    for name in fam.rejects:
        value = getattr(request, name, None)
        if value is None or value is False or (resting and name in _SAMPLING):
            continue
        hint = " Use 'max_completion_tokens' instead." if name == "max_tokens" else ""
        raise invalid(f"Unsupported parameter: '{name}' is not supported with this model.{hint}", name,
                      "unsupported_parameter")
    for name in fam.default_only:
        value = getattr(request, name, None)
        if value is not None and value != 1 and not (resting and name in _SAMPLING):
            raise invalid(f"Unsupported value: '{name}' does not support {_number(value)} with this model. Only "
                          "the default (1) value is supported.", name, "unsupported_value")


def _check_audio(request: ChatCompletionRequest, fam: Family | None) -> None:
    if "audio" in (request.modalities or ()):
        if fam is not None and not fam.audio:
            raise invalid("Unsupported value: 'modalities' does not support 'audio' with this model.",
                          "modalities", "unsupported_value")
        if request.audio is None:
            raise invalid("Missing required parameter: 'audio'.", "audio", "missing_required_parameter")
    elif fam is not None and fam.audio_required and not _has_audio_input(request):
        raise invalid("This model requires that either input content or output modality contain audio.", "model",
                      "invalid_value")


def _has_audio_input(request: ChatCompletionRequest) -> bool:
    for msg in request.messages:
        if isinstance(msg, UserMessage) and not isinstance(msg.content, str) and any(
                isinstance(part, AudioPart) for part in msg.content):
            return True
        if isinstance(msg, AssistantMessage) and msg.audio:
            return True
    return False


def _check_custom_formats(request: ChatCompletionRequest) -> None:
    """A custom tool's ``format`` is ``{"type": "text"}`` or a ``lark``/``regex`` grammar with its definition."""
    for i, tool in enumerate(request.tools or []):
        if not isinstance(tool, CustomTool) or tool.custom.format is None:
            continue
        fmt, where = tool.custom.format, f"tools[{i}].custom.format"
        kind = fmt.get("type")
        if kind not in ("text", "grammar"):
            if kind is None:
                raise _missing(f"{where}.type")
            raise invalid(f"Invalid value: {_quoted(kind)}. Supported values are: 'text' and 'grammar'.",
                          f"{where}.type")
        if kind == "text":
            continue
        grammar = fmt.get("grammar")
        if not isinstance(grammar, Mapping):
            raise _missing(f"{where}.grammar") if grammar is None else invalid(
                f"Invalid type for '{where}.grammar': expected an object.", f"{where}.grammar", "invalid_type")
        if grammar.get("syntax") not in GRAMMAR_SYNTAXES:
            if grammar.get("syntax") is None:
                raise _missing(f"{where}.grammar.syntax")
            raise invalid(f"Invalid value: {_quoted(grammar['syntax'])}. Supported values are: 'lark' and "
                          "'regex'.", f"{where}.grammar.syntax")
        if not isinstance(grammar.get("definition"), str):
            if grammar.get("definition") is None:
                raise _missing(f"{where}.grammar.definition")
            raise invalid(f"Invalid type for '{where}.grammar.definition': expected a string.",
                          f"{where}.grammar.definition", "invalid_type")


def _missing(param: str) -> APIError:
    return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _check_tool_choice(request: ChatCompletionRequest) -> None:
    choice = request.tool_choice
    if not isinstance(choice, (NamedCustomChoice, AllowedToolsChoice)):
        return
    offered = {
        "function": {t.function.name for t in request.tools or [] if isinstance(t, FunctionTool)},
        "custom": {t.custom.name for t in request.tools or [] if isinstance(t, CustomTool)},
    }
    if isinstance(choice, NamedCustomChoice) and choice.custom.name not in offered["custom"]:
        raise invalid(f"Invalid value for 'tool_choice': custom tool '{choice.custom.name}' not found in 'tools'.",
                      "tool_choice")
    if not isinstance(choice, AllowedToolsChoice):
        return
    listed = choice.allowed_tools.tools
    where = "tool_choice.allowed_tools.tools"
    if not listed:
        raise invalid(f"Invalid '{where}': empty array. Expected an array with minimum length 1, but got an empty "
                      "array instead.", where, "empty_array")
    for i, entry in enumerate(listed):
        param = f"{where}[{i}]"
        if entry.get("type") not in TOOL_TYPES:
            raise invalid(f"Invalid value: {_quoted(entry.get('type'))}. Supported values are: 'function' and "
                          "'custom'.", f"{param}.type")
        ref = allowed_tool(entry)
        if ref is None:
            raise _missing(f"{param}.{entry['type']}.name")
        kind, name = ref
        if name not in offered[kind]:
            what = "function" if kind == "function" else "custom tool"
            raise invalid(f"Invalid value for '{param}': {what} '{name}' not found in 'tools'.", param)


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _quoted(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)

