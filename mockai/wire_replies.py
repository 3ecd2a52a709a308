"""Reply models of the chat wire: completions, stream chunks, usage and errors (pydantic v2).

The engine writes its replies as JSON without them; they are here for users who build replies by hand and for the
test suite, which holds every reply to them. :mod:`mockai.wire` presents them (``from mockai.wire import
ChatCompletion``) and imports this module on first use: ~12 ms of start-up that a server never needs.

>>> ChatCompletionChunk.model_validate({"id": "c", "created": 0, "model": "m", "choices": []}).object
'chat.completion.chunk'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "Delta",
    "DeltaAudio",
    "DeltaCustom",
    "DeltaFunction",
    "DeltaToolCall",
    "ErrorBody",
    "ErrorEnvelope",
    "FinishReason",
    "PromptTokensDetails",
    "ReplyAudio",
    "ReplyCustom",
    "ReplyCustomToolCall",
    "ReplyFunction",
    "ReplyMessage",
    "ReplyToolCall",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
]


class _Reply(BaseModel):
    # Built on first use: the engine writes its replies as JSON without these models (start-up time).
    model_config = ConfigDict(extra="allow", defer_build=True)


class TopLogprob(_Reply):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(_Reply):
    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(_Reply):
    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None


class ReplyFunction(_Reply):
    name: str
    arguments: str


class ReplyToolCall(_Reply):
    id: str
    type: Literal["function"] = "function"
    function: ReplyFunction


class ReplyCustom(_Reply):
    name: str
    input: str


class ReplyCustomToolCall(_Reply):
    id: str
    type: Literal["custom"] = "custom"
    custom: ReplyCustom


class ReplyAudio(_Reply):
    id: str
    data: str
    expires_at: int
    transcript: str


class ReplyMessage(_Reply):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    tool_calls: list[Annotated[ReplyToolCall | ReplyCustomToolCall, Field(discriminator="type")]] | None = None
    annotations: list[dict[str, Any]] | None = None
    audio: ReplyAudio | None = None


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class Choice(_Reply):
    index: int
    message: ReplyMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason


class PromptTokensDetails(_Reply):
    cached_tokens: int = 0
    audio_tokens: int = 0


class CompletionTokensDetails(_Reply):
    reasoning_tokens: int = 0
    audio_tokens: int = 0
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class Usage(_Reply):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatCompletion(_Reply):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    service_tier: str | None = None
    system_fingerprint: str | None = None


class DeltaFunction(_Reply):
    name: str | None = None
    arguments: str | None = None


class DeltaCustom(_Reply):
    name: str | None = None
    input: str | None = None


class DeltaToolCall(_Reply):
    """A tool call's fragment; a custom tool's call streams ``custom`` (``name``, then ``input`` fragments)."""

    index: int
    id: str | None = None
    type: Literal["function", "custom"] | None = None
    function: DeltaFunction | None = None
    custom: DeltaCustom | None = None


class DeltaAudio(_Reply):
    id: str | None = None
    data: str | None = None
    transcript: str | None = None
    expires_at: int | None = None


class Delta(_Reply):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[DeltaToolCall] | None = None
    audio: DeltaAudio | None = None


class ChunkChoice(_Reply):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None


class ChatCompletionChunk(_Reply):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    service_tier: str | None = None
    system_fingerprint: str | None = None
    obfuscation: str | None = None  # padding, unless stream_options.include_obfuscation is false


class ErrorBody(_Reply):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(_Reply):
    error: ErrorBody
