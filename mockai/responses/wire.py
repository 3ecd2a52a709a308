"""Wire models (pydantic v2) of the body of ``POST /v1/responses``.

Validated strictly (no string-to-number coercion, as the real API) but open to unknown fields, which are new API
features rather than mistakes. Input items, tools and tool choices that mockai only carries along (built-in tools,
computer and MCP calls, ...) are accepted as they are sent once their ``type`` is known. The rules that span
fields live in :mod:`mockai.responses.validation`.

>>> req = CreateResponseRequest.model_validate(
...     {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "Hi"}]})
>>> req.items[0].role
'user'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from ..enums import OpenEnum
from ..wire import NAME_PATTERN
from .values import (
    MODELLED_ITEM_TYPES,
    OTHER_ITEM_TYPES,
    REASONING_EFFORTS,
    SERVICE_TIERS,
    AllowedToolsMode,
    AudioFormat,
    BuiltinToolType,
    FileDetail,
    GrammarSyntax,
    HostedToolChoice,
    ImageDetail,
    Include,
    ItemStatus,
    OtherItemType,
    Phase,
    PromptCacheRetention,
    ReasoningContext,
    ReasoningSummary,
    Role,
    SpecificToolChoice,
    ToolChoiceOption,
    Truncation,
    Verbosity,
)

# What the real API holds function and custom tool names to (no length limit is known for this API).
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"


class _Wire(BaseModel):
    # Validators built by the first Responses request, not at import: a server answering only chat starts sooner.
    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)


# --- content parts ------------------------------------------------------------------------------------------


class InputText(_Wire):
    type: Literal["input_text"]
    text: str


class InputImage(_Wire):
    # The schema makes ``detail`` required; the API and its own examples do without it.
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: ImageDetail | None = None


class InputFile(_Wire):
    type: Literal["input_file"]
    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None
    detail: FileDetail | None = None


class AudioData(_Wire):
    data: str
    format: AudioFormat


class InputAudio(_Wire):
    type: Literal["input_audio"]
    input_audio: AudioData


class OutputText(_Wire):
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]] | None = None
    logprobs: list[dict[str, Any]] | None = None


class Refusal(_Wire):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[
    InputText | InputImage | InputFile | InputAudio | OutputText | Refusal, Field(discriminator="type")
]
# What a function or custom tool output may hold besides a string.
OutputPart = Annotated[InputText | InputImage | InputFile, Field(discriminator="type")]


# --- input items --------------------------------------------------------------------------------------------


class Message(_Wire):
    """A message: ``type`` may be left out; user, system and developer messages hold input parts, assistant
    messages given back hold ``output_text`` and ``refusal`` parts (checked in validation, for the real error)."""

    type: Literal["message"] = "message"
    role: Role
    content: str | list[ContentPart]
    id: str | None = None
    status: ItemStatus | None = None
    phase: Phase | None = None


class FunctionCall(_Wire):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: ItemStatus | None = None


class FunctionCallOutput(_Wire):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[OutputPart]
    id: str | None = None
    status: ItemStatus | None = None


class CustomToolCall(_Wire):
    type: Literal["custom_tool_call"]
    call_id: str
    name: str
    input: str
    id: str | None = None


class CustomToolCallOutput(_Wire):
    type: Literal["custom_tool_call_output"]
    call_id: str
    output: str | list[OutputPart]
    id: str | None = None


class ReasoningItem(_Wire):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[dict[str, Any]] | None = None
    content: list[dict[str, Any]] | None = None
    encrypted_content: str | None = None
    status: ItemStatus | None = None


class ItemReference(_Wire):
    """A stored item named by id; ``type`` may be left out (or null)."""

    type: Literal["item_reference"] | None = None
    id: str


class OtherItem(_Wire):
    """An item of a built-in tool (web search, computer use, MCP, shell, ...): kept exactly as sent."""

    type: OtherItemType


_OTHER = frozenset(OTHER_ITEM_TYPES)
_MODELLED = frozenset(MODELLED_ITEM_TYPES)


def item_tag(value: Any) -> str | None:
    """Which model an input item is: its ``type`` (``"other"`` for the items kept as sent); an item without a
    ``type`` is a message, or a reference when it holds only an ``id``. An unknown ``type`` is returned as is,
    so pydantic reports it; a non-object has no tag."""
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind is None:
            reference = "id" in value and "role" not in value and "content" not in value
            return "item_reference" if reference else "message"
    elif isinstance(value, BaseModel):
        kind = getattr(value, "type", None)
        if kind is None:
            return "item_reference" if isinstance(value, ItemReference) else None
    else:
        return None
    if not isinstance(kind, str):
        return None
    return "other" if kind in _OTHER else kind


InputItem = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[CustomToolCall, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutput, Tag("custom_tool_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(item_tag),
]


# --- tools --------------------------------------------------------------------------------------------------


class FunctionTool(_Wire):
    type: Literal["function"]
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CustomTextFormat(_Wire):
    type: Literal["text"]


class CustomGrammarFormat(_Wire):
    type: Literal["grammar"]
    syntax: GrammarSyntax
    definition: str


class CustomTool(_Wire):
    type: Literal["custom"]
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    format: Annotated[CustomTextFormat | CustomGrammarFormat, Field(discriminator="type")] | None = None


class BuiltinTool(_Wire):
    """A built-in tool (file search, web search, MCP, code interpreter, ...): kept exactly as sent."""

    type: BuiltinToolType


Tool = Annotated[FunctionTool | CustomTool | BuiltinTool, Field(discriminator="type")]


class FunctionChoice(_Wire):
    type: Literal["function"]
    name: str


class CustomChoice(_Wire):
    type: Literal["custom"]
    name: str


class AllowedToolsChoice(_Wire):
    type: Literal["allowed_tools"]
    mode: AllowedToolsMode
    tools: list[dict[str, Any]]


class HostedChoice(_Wire):
    type: HostedToolChoice


class McpChoice(_Wire):
    type: Literal["mcp"]
    server_label: str
    name: str | None = None


class SpecificChoice(_Wire):
    """``apply_patch``, ``shell`` or ``programmatic_tool_calling``."""

    type: SpecificToolChoice


NamedChoice = Annotated[
    FunctionChoice | CustomChoice | AllowedToolsChoice | HostedChoice | McpChoice | SpecificChoice,
    Field(discriminator="type"),
]
ToolChoice = ToolChoiceOption | NamedChoice


# --- text, reasoning and the rest ---------------------------------------------------------------------------


class FormatText(_Wire):
    type: Literal["text"]


class FormatJsonObject(_Wire):
    type: Literal["json_object"]


class FormatJsonSchema(_Wire):
    type: Literal["json_schema"]
    name: str = Field(pattern=NAME_PATTERN)
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = Annotated[FormatJsonObject | FormatText | FormatJsonSchema, Field(discriminator="type")]


class TextConfig(_Wire):
    format: TextFormat | None = None
    verbosity: Verbosity | None = None


class ReasoningConfig(_Wire):
    effort: Annotated[str, OpenEnum(REASONING_EFFORTS)] | None = None  # open, as chat's (mockai.enums)
    summary: ReasoningSummary | None = None
    generate_summary: ReasoningSummary | None = None  # deprecated spelling of ``summary``
    context: ReasoningContext | None = None
    mode: str | None = None


class StreamOptions(_Wire):
    include_obfuscation: bool | None = None


class ConversationRef(_Wire):
    id: str


class PromptRef(_Wire):
    id: str
    version: str | None = None
    variables: dict[str, Any] | None = None


# --- the request --------------------------------------------------------------------------------------------


class CreateResponseRequest(_Wire):
    """The body of ``POST /v1/responses``; ``model_extra`` holds any parameter this version does not know.

    Fields are declared in the order the real API checks them, so the first invalid one is the one reported.
    ``model`` and ``input`` may be left out only with a reusable ``prompt`` (checked in validation).
    """

    model: str | None = None
    input: str | list[InputItem] | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    prompt: PromptRef | None = None
    include: list[Include] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    metadata: dict[str, str] | None = None
    text: TextConfig | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    parallel_tool_calls: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    background: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=16)
    max_tool_calls: int | None = Field(default=None, ge=1)
    reasoning: ReasoningConfig | None = None
    user: str | None = None
    # 64 in the published spec; the SDK documents 128 since (a false 400 is the worse mistake).
    safety_identifier: str | None = Field(default=None, max_length=128)
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: PromptCacheRetention | None = None
    truncation: Truncation | None = None
    instructions: str | None = None
    store: bool | None = None
    service_tier: Annotated[str, OpenEnum(SERVICE_TIERS)] | None = None  # open, as chat's
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    context_management: list[dict[str, Any]] | None = None
    moderation: dict[str, Any] | None = None

    @property
    def items(self) -> list[InputItem]:
        """The input as items (empty for a string input: see :func:`mockai.responses.items.input_items`)."""
        return [] if self.input is None or isinstance(self.input, str) else list(self.input)

    @property
    def function_tools(self) -> list[FunctionTool]:
        return [t for t in self.tools or [] if isinstance(t, FunctionTool)]

    @property
    def custom_tools(self) -> list[CustomTool]:
        return [t for t in self.tools or [] if isinstance(t, CustomTool)]

    @property
    def conversation_id(self) -> str | None:
        conv = self.conversation
        return conv.id if isinstance(conv, ConversationRef) else conv

    @property
    def wants_logprobs(self) -> bool:
        return "message.output_text.logprobs" in (self.include or [])
