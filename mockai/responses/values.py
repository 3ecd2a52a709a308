"""The enum values a Responses API request may carry, as ``Literal`` types for the wire models and tuples for
messages and checks.

Each is taken from the official schema (``CreateResponse`` and what it references) and the ``openai`` SDK's
``Literal`` types; ``tests/test_responses_validation.py`` holds every one to both, so a new value in either shows
up as a failing test rather than as a false 400. ``ServiceTier`` and ``ReasoningEffort`` list the known values of
the two open enums: the wire takes any non-empty string there, as chat's does (see :mod:`mockai.enums`).

>>> "message.output_text.logprobs" in INCLUDE
True
>>> ROLES
('assistant', 'system', 'developer', 'user')
"""

from __future__ import annotations

from typing import Literal, get_args

Include = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]
ServiceTier = Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"]
Truncation = Literal["auto", "disabled"]
PromptCacheRetention = Literal["in_memory", "24h"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ReasoningSummary = Literal["concise", "detailed", "auto"]
ReasoningContext = Literal["auto", "current_turn", "all_turns"]
Verbosity = Literal["low", "medium", "high"]

# The order the real API lists them in its error message.
Role = Literal["assistant", "system", "developer", "user"]
Phase = Literal["commentary", "final_answer"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]
ImageDetail = Literal["low", "high", "auto", "original"]
FileDetail = Literal["auto", "low", "high"]
AudioFormat = Literal["mp3", "wav"]
GrammarSyntax = Literal["lark", "regex"]

ToolChoiceOption = Literal["none", "auto", "required"]
AllowedToolsMode = Literal["auto", "required"]
HostedToolChoice = Literal[
    "file_search",
    "web_search_preview",
    "computer",
    "computer_use_preview",
    "computer_use",
    "web_search_preview_2025_03_11",
    "image_generation",
    "code_interpreter",
]
SpecificToolChoice = Literal["programmatic_tool_calling", "apply_patch", "shell"]

# Tools other than ``function`` and ``custom``: the built-in tools, accepted as they are sent.
BuiltinToolType = Literal[
    "file_search",
    "computer",
    "computer_use_preview",
    "web_search",
    "web_search_2025_08_26",
    "mcp",
    "code_interpreter",
    "programmatic_tool_calling",
    "image_generation",
    "local_shell",
    "shell",
    "namespace",
    "tool_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "apply_patch",
]

# Input items mockai reads (messages, function and custom tool calls and their outputs, reasoning, references)
# and the rest, which it accepts and keeps as sent. ``configuration_update`` is in the SDK, not the schema.
ModelledItemType = Literal[
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "item_reference",
]
OtherItemType = Literal[
    "additional_tools",
    "apply_patch_call",
    "apply_patch_call_output",
    "code_interpreter_call",
    "compaction",
    "compaction_trigger",
    "computer_call",
    "computer_call_output",
    "configuration_update",
    "file_search_call",
    "image_generation_call",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "mcp_list_tools",
    "program",
    "program_output",
    "shell_call",
    "shell_call_output",
    "tool_search_call",
    "tool_search_output",
    "web_search_call",
]

INCLUDE: tuple[str, ...] = get_args(Include)
SERVICE_TIERS: tuple[str, ...] = get_args(ServiceTier)
TRUNCATION: tuple[str, ...] = get_args(Truncation)
REASONING_EFFORTS: tuple[str, ...] = get_args(ReasoningEffort)
REASONING_SUMMARIES: tuple[str, ...] = get_args(ReasoningSummary)
ROLES: tuple[str, ...] = get_args(Role)
TOOL_CHOICE_OPTIONS: tuple[str, ...] = get_args(ToolChoiceOption)
HOSTED_TOOL_CHOICES: tuple[str, ...] = get_args(HostedToolChoice)
SPECIFIC_TOOL_CHOICES: tuple[str, ...] = get_args(SpecificToolChoice)
BUILTIN_TOOL_TYPES: tuple[str, ...] = get_args(BuiltinToolType)
TOOL_TYPES: tuple[str, ...] = ("function", "custom", *BUILTIN_TOOL_TYPES)
MODELLED_ITEM_TYPES: tuple[str, ...] = get_args(ModelledItemType)
OTHER_ITEM_TYPES: tuple[str, ...] = get_args(OtherItemType)
# Sorted, as the real API lists them when it rejects an item ``type``.
ITEM_TYPES: tuple[str, ...] = tuple(sorted((*MODELLED_ITEM_TYPES, *OTHER_ITEM_TYPES)))

# Content parts: which a message of each role may hold, in the order the real API lists them.
INPUT_PARTS: tuple[str, ...] = ("input_text", "input_image", "input_file", "input_audio")
OUTPUT_PARTS: tuple[str, ...] = ("output_text", "refusal")
PART_TYPES: tuple[str, ...] = (*INPUT_PARTS, *OUTPUT_PARTS)
