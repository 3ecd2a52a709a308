"""A Responses API request as the rest of mockai reads it, and its input as ``input_items`` lists it.

:func:`to_prompt` gives the API-neutral :class:`~mockai.prompt.Prompt` the generator, rules and journal read:
``instructions`` lead as a developer turn (the real model sees them first), then the turns of the previous
responses the engine supplies, then the input — messages as turns, consecutive function and custom tool calls as
one assistant turn, their outputs as tool turns; reasoning and built-in tool items shape no reply and are left out.
:func:`input_items` gives the input the way ``GET /responses/{id}/input_items`` lists it.

>>> from mockai.responses.wire import CreateResponseRequest
>>> req = CreateResponseRequest.model_validate(
...     {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": "Hi"})
>>> [(t.role, t.text) for t in to_prompt(req).turns]
[('developer', 'Be brief.'), ('user', 'Hi')]
>>> input_items(req, lambda prefix, index: f"{prefix}_{index}")[0]["id"]
'msg_0'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..prompt import AUTO, CallRef, Choosing, OutputFormat, Prompt, ToolDef, Turn
from .validation import message_text
from .wire import (
    AllowedToolsChoice,
    CreateResponseRequest,
    CustomChoice,
    CustomGrammarFormat,
    CustomTool,
    CustomToolCall,
    CustomToolCallOutput,
    FormatJsonObject,
    FormatJsonSchema,
    FunctionCall,
    FunctionCallOutput,
    FunctionChoice,
    FunctionTool,
    InputItem,
    InputText,
    ItemReference,
    Message,
    OutputPart,
    ToolChoice,
)

Resolve = Callable[[str], "Mapping[str, Any] | None"]
"""Looks a stored item up by id (for ``item_reference`` items); ``None`` when there is none."""
NewId = Callable[[str, int], str]
"""Makes the id of the input item at an index that was sent without one, from the prefix its type takes."""

_ITEM: TypeAdapter[InputItem] = TypeAdapter(InputItem, config=ConfigDict(defer_build=True))

# The id prefixes the real API gives items; other item types get "item".
_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "custom_tool_call": "ctc",
             "custom_tool_call_output": "ctco", "reasoning": "rs", "web_search_call": "ws",
             "file_search_call": "fs", "computer_call": "cu", "image_generation_call": "ig",
             "code_interpreter_call": "ci", "mcp_call": "mcp", "mcp_list_tools": "mcpl"}
# Items whose listed form requires a ``status`` (the SDK's ``ResponseItem`` and ``ConversationItem``); one sent
# without it is listed ``completed``, as the real API lists what the client sent.
_WITH_STATUS = frozenset({"message", "function_call", "function_call_output", "custom_tool_call",
                          "custom_tool_call_output", "computer_call", "computer_call_output", "file_search_call",
                          "web_search_call", "image_generation_call", "code_interpreter_call", "local_shell_call",
                          "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output",
                          "tool_search_call", "tool_search_output", "program_output"})


def to_prompt(request: CreateResponseRequest, history: Iterable[Turn] = (), resolve: Resolve | None = None) -> Prompt:
    """The request as a :class:`Prompt`; ``history`` is the turns of the previous responses (oldest first) and
    ``resolve`` finds the items ``item_reference`` s name (references are left out without it)."""
    turns: list[Turn] = [Turn("developer", request.instructions)] if request.instructions else []
    turns.extend(history)
    if isinstance(request.input, str):
        turns.append(Turn("user", request.input))
    else:
        turns.extend(item_turns(_resolved(request.items, resolve)))
    logprobs = request.wants_logprobs
    reasoning = request.reasoning
    return Prompt(
        api="responses",
        model=request.model or "",
        turns=tuple(turns),
        tools=tool_defs(request),
        choosing=choosing(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls is not False,
        format=output_format(request),
        token_limit=request.max_output_tokens,
        stream=bool(request.stream),
        logprobs=logprobs,
        top_logprobs=(request.top_logprobs or 0) if logprobs else 0,
        reasoning_effort=reasoning.effort if reasoning is not None else None,
        reasoning_summary=(reasoning.summary or reasoning.generate_summary) if reasoning is not None else None,
        extra=dict(request.model_extra or {}),
    )


def item_turns(items: Iterable[InputItem]) -> list[Turn]:
    """Input items as turns: consecutive calls become one assistant turn; reasoning, references and built-in
    tool items are skipped (they do not break a run of calls)."""
    turns: list[Turn] = []
    calls: list[CallRef] = []
    for item in items:
        if isinstance(item, FunctionCall):
            calls.append(CallRef(item.call_id, item.name, item.arguments))
            continue
        if isinstance(item, CustomToolCall):
            calls.append(CallRef(item.call_id, item.name, item.input, custom=True))
            continue
        if not isinstance(item, (Message, FunctionCallOutput, CustomToolCallOutput)):
            continue
        if calls:
            turns.append(Turn("assistant", calls=tuple(calls)))
            calls = []
        if isinstance(item, Message):
            turns.append(Turn(item.role, message_text(item)))
        else:
            turns.append(Turn("tool", output_text(item.output), answers=item.call_id))
    if calls:
        turns.append(Turn("assistant", calls=tuple(calls)))
    return turns


def output_text(output: str | Sequence[OutputPart]) -> str:
    """The text of a tool output: the string, or its text parts joined by spaces."""
    if isinstance(output, str):
        return output
    return " ".join(p.text for p in output if isinstance(p, InputText))


def _resolved(items: Iterable[InputItem], resolve: Resolve | None) -> list[InputItem]:
    out: list[InputItem] = []
    for item in items:
        if isinstance(item, ItemReference):
            found = resolve(item.id) if resolve is not None else None
            if found is None:
                continue
            try:
                item = _ITEM.validate_python(dict(found))
            except ValidationError:
                continue
        out.append(item)
    return out


def tool_defs(request: CreateResponseRequest) -> tuple[ToolDef, ...]:
    """The function and custom tools (built-in tools are not called by mockai's generator)."""
    defs: list[ToolDef] = []
    for i, tool in enumerate(request.tools or []):
        if isinstance(tool, FunctionTool):
            defs.append(ToolDef(tool.name, parameters=tool.parameters, strict=bool(tool.strict),
                                description=tool.description, param=f"tools[{i}].parameters"))
        elif isinstance(tool, CustomTool):
            defs.append(ToolDef(tool.name, custom=True, description=tool.description, format=_custom_format(tool),
                                param=f"tools[{i}]"))
    return tuple(defs)


def _custom_format(tool: CustomTool) -> dict[str, Any] | None:
    """A custom tool's ``format`` in the neutral (chat's) shape: a grammar's ``syntax`` and ``definition`` sit
    flat in the Responses API and under ``grammar`` in chat."""
    fmt = tool.format
    if fmt is None:
        return None
    if isinstance(fmt, CustomGrammarFormat):
        return {"type": "grammar", "grammar": {"syntax": fmt.syntax, "definition": fmt.definition}}
    return _plain(fmt)


def choosing(choice: ToolChoice | None) -> Choosing:
    """``tool_choice`` as a :class:`Choosing`; a forced built-in tool (which mockai cannot call) leaves text."""
    if choice is None or choice == "auto":
        return AUTO
    if choice == "none" or choice == "required":
        return Choosing(choice)
    if isinstance(choice, (FunctionChoice, CustomChoice)):
        return Choosing("named", only=(choice.name,))
    if isinstance(choice, AllowedToolsChoice):
        names = tuple(str(t["name"]) for t in choice.tools
                      if t.get("type") in ("function", "custom") and isinstance(t.get("name"), str))
        return Choosing(choice.mode, only=names)
    return Choosing("auto", only=())


def output_format(request: CreateResponseRequest) -> OutputFormat | None:
    """``text.format`` as an :class:`OutputFormat` (``None`` for plain text)."""
    fmt = request.text.format if request.text is not None else None
    if isinstance(fmt, FormatJsonObject):
        return OutputFormat("json_object", param="text.format")
    if isinstance(fmt, FormatJsonSchema):
        return OutputFormat("json_schema", name=fmt.name, schema=fmt.schema_, strict=bool(fmt.strict),
                            param="text.format")
    return None


# --- the input_items listing ------------------------------------------------------------------------------------


def input_items(request: CreateResponseRequest, new_id: NewId, resolve: Resolve | None = None) -> list[dict[str, Any]]:
    """The input as ``GET /responses/{id}/input_items`` lists it, oldest first (the route reverses it for the
    default ``order=desc``): a string input is one user message with an ``input_text`` part; string contents
    become parts; every item has an ``id`` (its own, else ``new_id(prefix, index)``, e.g. ``("msg", 0)``) and the
    ``status`` its listed form needs; ``item_reference`` s are replaced by what ``resolve`` finds, when it does.
    ``instructions`` are not input and are not listed.

    >>> from mockai.responses.wire import CreateResponseRequest
    >>> req = CreateResponseRequest.model_validate({"model": "m", "input": [
    ...     {"type": "function_call_output", "call_id": "call_1", "output": "12C", "id": "fco_9"}]})
    >>> [(it["type"], it["id"], it["status"]) for it in input_items(req, lambda p, i: f"{p}_{i}")]
    [('function_call_output', 'fco_9', 'completed')]
    """
    if isinstance(request.input, str):
        message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": request.input}]}
        return [_listed(message, new_id, 0)]
    listed: list[dict[str, Any]] = []
    for i, item in enumerate(request.items):
        if isinstance(item, ItemReference):
            found = resolve(item.id) if resolve is not None else None
            listed.append(dict(found) if found is not None else {"type": "item_reference", "id": item.id})
            continue
        data = _plain(item)
        data["type"] = item.type
        listed.append(_listed(data, new_id, i))
    return listed


def _plain(model: BaseModel) -> dict[str, Any]:
    """A model as the JSON it was sent as: the fields that were set (by alias) and the extras, in a fixed order.
    Unlike ``model_dump`` it does not walk the JSON values the models hold, which may nest as deep as the JSON
    parser allowed."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if name in model.model_fields_set:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                value = _plain(value)
            elif isinstance(value, list):
                value = [_plain(v) if isinstance(v, BaseModel) else v for v in value]
            out[info.alias or name] = value
    out.update(model.model_extra or {})
    return out


def _listed(data: dict[str, Any], new_id: NewId, index: int) -> dict[str, Any]:
    kind = str(data["type"])
    out = {**data, "id": data.get("id") or new_id(_PREFIXES.get(kind, "item"), index)}
    if kind in _WITH_STATUS and out.get("status") is None:
        out["status"] = "completed"
    if kind == "message":
        out["content"] = _parts(out.get("content"), out.get("role") == "assistant")
    elif kind in ("function_call_output", "custom_tool_call_output") and isinstance(out.get("output"), list):
        out["output"] = _parts(out["output"], False)
    return out


def _parts(content: Any, assistant: bool) -> list[Any]:
    """Content as parts, with the members the listed form requires (``annotations``/``logprobs`` on output
    text, ``detail`` on images)."""
    if isinstance(content, str):
        content = [{"type": "output_text", "text": content} if assistant else {"type": "input_text", "text": content}]
    parts: list[Any] = []
    for part in content if isinstance(content, list) else []:
        part = dict(part)
        if part.get("type") == "output_text":
            for key in ("annotations", "logprobs"):
                if part.get(key) is None:
                    part[key] = []
        elif part.get("type") == "input_image" and part.get("detail") is None:
            part["detail"] = "auto"
        parts.append(part)
    return parts
