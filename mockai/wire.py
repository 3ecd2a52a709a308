"""Wire models (pydantic v2) for chat completions: requests, replies, stream chunks, usage and errors.

Requests are validated strictly (no string-to-number coercion, as the real API) but accept unknown fields, which
are new API features rather than mistakes. Replies (``ChatCompletion``, ``ChatCompletionChunk``, ``Usage``,
``ErrorEnvelope``...) are presented here for users who build them by hand and for the test suite; they live in
:mod:`mockai.wire_replies`, imported on first use, since the engine writes its replies as plain JSON for speed and
the tests hold both to these models.

>>> req = ChatCompletionRequest.model_validate(
...     {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
>>> req.messages[0].role
'user'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .enums import (
    REASONING_EFFORTS,
    SERVICE_TIERS,
    AllowedToolsMode,
    FunctionCallMode,
    ImageDetail,
    InputAudioFormat,
    Modality,
    OpenEnum,
    ToolChoiceMode,
    Verbosity,
)

NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
# The real API's limits on ``metadata`` (checked in mockai.validation, with its messages).
METADATA_MAX_KEYS, METADATA_MAX_KEY, METADATA_MAX_VALUE = 16, 64, 512
MAX_TOOLS = 128


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)


# --- content parts ------------------------------------------------------------------------------------------


class TextPart(_Wire):
    type: Literal["text"]
    text: str


class ImageURL(_Wire):
    url: str
    detail: ImageDetail | None = None


class ImagePart(_Wire):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Wire):
    data: str
    format: InputAudioFormat


class AudioPart(_Wire):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Wire):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Wire):
    type: Literal["file"]
    file: FileRef


class RefusalPart(_Wire):
    type: Literal["refusal"]
    refusal: str


UserPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]
# Every role's array of content parts holds at least one part (the real API: "empty array").
TextParts = Annotated[list[TextPart], Field(min_length=1)]


# --- messages -----------------------------------------------------------------------------------------------


class FunctionCall(_Wire):
    name: str
    arguments: str


class ToolCall(_Wire):
    id: str
    type: Literal["function"]
    function: FunctionCall


class CustomCall(_Wire):
    input: str
    name: str


class CustomToolCall(_Wire):
    id: str
    type: Literal["custom"]
    custom: CustomCall


AnyToolCall = Annotated[ToolCall | CustomToolCall, Field(discriminator="type")]


class SystemMessage(_Wire):
    role: Literal["system"]
    content: str | TextParts
    name: str | None = None


class DeveloperMessage(_Wire):
    role: Literal["developer"]
    content: str | TextParts
    name: str | None = None


class UserMessage(_Wire):
    role: Literal["user"]
    content: str | Annotated[list[UserPart], Field(min_length=1)]
    name: str | None = None


class AssistantMessage(_Wire):
    role: Literal["assistant"]
    content: str | Annotated[list[AssistantPart], Field(min_length=1)] | None = None
    refusal: str | None = None
    name: str | None = None
    # OpenAI rejects ``tool_calls: []`` ("empty array"); leave the field out instead.
    tool_calls: Annotated[list[AnyToolCall], Field(min_length=1)] | None = None
    function_call: FunctionCall | None = None
    audio: dict[str, Any] | None = None


class ToolMessage(_Wire):
    role: Literal["tool"]
    content: str | TextParts
    tool_call_id: str


class FunctionMessage(_Wire):
    role: Literal["function"]
    content: str | None
    name: str


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


# --- tools and formats --------------------------------------------------------------------------------------


class FunctionDefinition(_Wire):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Wire):
    type: Literal["function"]
    function: FunctionDefinition


class CustomDefinition(_Wire):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    format: dict[str, Any] | None = None


class CustomTool(_Wire):
    type: Literal["custom"]
    custom: CustomDefinition


Tool = Annotated[FunctionTool | CustomTool, Field(discriminator="type")]


class NamedFunction(_Wire):
    name: str


class NamedToolChoice(_Wire):
    type: Literal["function"]
    function: NamedFunction


class NamedCustomChoice(_Wire):
    type: Literal["custom"]
    custom: NamedFunction


class AllowedTools(_Wire):
    mode: AllowedToolsMode
    tools: list[dict[str, Any]]


class AllowedToolsChoice(_Wire):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


ToolChoice = (
    ToolChoiceMode
    | Annotated[NamedToolChoice | NamedCustomChoice | AllowedToolsChoice, Field(discriminator="type")]
)


class TextFormat(_Wire):
    type: Literal["text"]


class JsonObjectFormat(_Wire):
    type: Literal["json_object"]


class JsonSchemaSpec(_Wire):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(_Wire):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class StreamOptions(_Wire):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class VoiceRef(_Wire):
    id: str


class AudioParam(_Wire):
    """``audio``: how a spoken reply sounds and is encoded (any voice name: the list grows)."""

    voice: str | VoiceRef
    format: Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]


class Prediction(_Wire):
    type: Literal["content"]
    content: str | TextParts


# --- the request --------------------------------------------------------------------------------------------


class ChatCompletionRequest(_Wire):
    """The body of ``POST /v1/chat/completions``; ``extra`` holds any parameter this version does not know."""

    model: str
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: str | Annotated[list[str], Field(min_length=1, max_length=4)] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    seed: int | None = None
    user: str | None = None
    tools: Annotated[list[Tool], Field(min_length=1, max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    service_tier: Annotated[str, OpenEnum(SERVICE_TIERS)] | None = None
    metadata: dict[str, Annotated[str, Field(max_length=METADATA_MAX_VALUE)]] | None = None
    store: bool | None = None
    reasoning_effort: Annotated[str, OpenEnum(REASONING_EFFORTS)] | None = None
    modalities: list[Modality] | None = None
    prediction: Prediction | None = None
    audio: AudioParam | None = None
    functions: Annotated[list[FunctionDefinition], Field(min_length=1, max_length=MAX_TOOLS)] | None = None
    function_call: FunctionCallMode | NamedFunction | None = None
    verbosity: Verbosity | None = None

    @property
    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    @property
    def function_tools(self) -> list[FunctionDefinition]:
        return [t.function for t in self.tools or [] if isinstance(t, FunctionTool)]


# --- replies: in mockai.wire_replies, imported on first use ------------------------------------------------

_REPLIES = frozenset({
    "TopLogprob", "TokenLogprob", "ChoiceLogprobs", "ReplyFunction", "ReplyToolCall", "ReplyCustom",
    "ReplyCustomToolCall", "ReplyAudio", "ReplyMessage", "Choice", "PromptTokensDetails",
    "CompletionTokensDetails", "Usage", "ChatCompletion", "DeltaFunction", "DeltaCustom", "DeltaToolCall",
    "DeltaAudio", "Delta", "ChunkChoice", "ChatCompletionChunk", "ErrorBody", "ErrorEnvelope", "FinishReason"
})


if not TYPE_CHECKING:  # (type checkers read the imports below, and so still refuse a misspelled name)
    from .lazy import on_first_use as _on_first_use

    __getattr__, __dir__ = _on_first_use(globals(), dict.fromkeys(_REPLIES, "wire_replies"))

    # What ``from mockai.wire import *`` took when the reply models were defined here, and them.
    __all__ = sorted({name for name in globals() if not name.startswith("_") and name != "TYPE_CHECKING"} | _REPLIES)


if TYPE_CHECKING:  # what __getattr__ presents, for type checkers
    from .wire_replies import *  # noqa: F403
