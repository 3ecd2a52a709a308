"""The chat completions surface: ``POST /v1/chat/completions`` (JSON and server-sent events), and Azure's
``/openai/deployments/{deployment}/chat/completions``.

A request is validated (:mod:`mockai.validation`, :mod:`mockai.wire`), described as a
:class:`~mockai.prompt.Prompt` (:func:`prompt_of`) and answered by the engine's shared pipeline; this module then
writes the reply as a ``chat.completion`` or its ``chat.completion.chunk`` stream (:mod:`mockai.streaming`), with
its ids, clock, usage, logprobs and spoken audio.

>>> from mockai.wire import ChatCompletionRequest
>>> prompt = prompt_of(ChatCompletionRequest.model_validate(
...     {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "n": 2}))
>>> prompt.api, prompt.n, prompt.last_user_text
('chat', 2, 'Hi')
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from . import audio, capabilities, streaming
from .capabilities import allowed_tool
from .core import Core, Exchange, Route
from .enums import served_tier
from .errors import APIError
from .generate import logprobs_for, message_text, rng_for
from .http import HTTPRequest, HTTPResponse
from .journal import Call
from .keys import b62
from .models import offered, snapshot
from .moderation import MODELS as MODERATION_MODELS
from .prompt import AUTO, CallRef, Choosing, OutputFormat, Prompt, ToolDef, Turn
from .reply import Audio, Choice, Reply
from .rules import build
from .shapes import SplitReply
from .stored import StoredCompletions
from .usage import output_tokens
from .usage import prompt_tokens as count_prompt
from .validation import parse_chat, parse_json
from .vectors import MODEL_DIMENSIONS
from .wire import (
    AllowedToolsChoice,
    AssistantMessage,
    ChatCompletionRequest,
    CustomTool,
    FunctionMessage,
    FunctionTool,
    JsonObjectFormat,
    JsonSchemaFormat,
    NamedCustomChoice,
    NamedFunction,
    NamedToolChoice,
    ToolMessage,
)
from .wire import ToolCall as WireToolCall

# Fields that change how a reply travels, or how it is cut, but not what the model "says".
UNSEEDED_FIELDS = frozenset({
    "stream", "stream_options", "user", "metadata", "store", "service_tier", "n", "logprobs", "top_logprobs",
    "max_tokens", "max_completion_tokens", "stop", "parallel_tool_calls",
})


def prompt_of(request: ChatCompletionRequest) -> Prompt:
    """The neutral view of a validated chat request."""
    turns: list[Turn] = []
    for msg in request.messages:
        text = message_text(getattr(msg, "content", None))
        if isinstance(msg, ToolMessage):
            turns.append(Turn("tool", text, answers=msg.tool_call_id))
        elif isinstance(msg, FunctionMessage):  # the deprecated functions API: a result answers by name
            turns.append(Turn("tool", text, name=msg.name))
        elif isinstance(msg, AssistantMessage):
            calls = tuple(CallRef(c.id, c.function.name, c.function.arguments) if isinstance(c, WireToolCall)
                          else CallRef(c.id, c.custom.name, c.custom.input, custom=True) for c in msg.tool_calls or ())
            if msg.function_call is not None:
                calls += (CallRef("", msg.function_call.name, msg.function_call.arguments),)
            turns.append(Turn("assistant", text or (msg.refusal or ""), calls=calls, name=msg.name))
        else:
            turns.append(Turn(msg.role, text, name=getattr(msg, "name", None)))
    tools = tuple(_tool_def(i, t) for i, t in enumerate(request.tools)) if request.tools else ()
    functions = tuple(ToolDef(f.name, parameters=f.parameters, strict=bool(f.strict), description=f.description,
                              param=f"functions[{i}].parameters") for i, f in enumerate(request.functions)
                      ) if request.functions else ()
    fmt = request.response_format
    output: OutputFormat | None = None
    if isinstance(fmt, JsonSchemaFormat):
        spec = fmt.json_schema
        output = OutputFormat("json_schema", spec.name, spec.schema_, bool(spec.strict))
    elif isinstance(fmt, JsonObjectFormat):
        output = OutputFormat("json_object")
    legacy = request.function_call
    function_choice = (Choosing("none") if legacy == "none" else
                       Choosing("named", (legacy.name,)) if isinstance(legacy, NamedFunction) else AUTO)
    spoken = capabilities.wants_audio(request) and request.audio is not None
    return Prompt(
        api="chat", model=request.model, turns=tuple(turns), tools=tools, choosing=_choosing(request),
        parallel_tool_calls=request.parallel_tool_calls is not False, format=output,
        token_limit=request.token_limit, stop=tuple(request.stop_sequences), n=request.n or 1,
        stream=bool(request.stream), logprobs=bool(request.logprobs), top_logprobs=request.top_logprobs or 0,
        functions=functions, function_choice=function_choice, reasoning_effort=request.reasoning_effort,
        audio=request.audio.model_dump() if spoken and request.audio is not None else None,
        extra={"include_usage": bool(request.stream_options and request.stream_options.include_usage),
               "include_obfuscation": obfuscated(request)},
    )


def _tool_def(index: int, tool: FunctionTool | CustomTool) -> ToolDef:
    if isinstance(tool, FunctionTool):
        f = tool.function
        return ToolDef(f.name, parameters=f.parameters, strict=bool(f.strict), description=f.description,
                       param=f"tools[{index}].function.parameters")
    c = tool.custom
    return ToolDef(c.name, custom=True, description=c.description, format=c.format, param=f"tools[{index}].custom")


def _choosing(request: ChatCompletionRequest) -> Choosing:
    choice = request.tool_choice
    if choice is None:
        return AUTO
    if choice == "none":
        return Choosing("none")
    if choice == "required":
        return Choosing("required")
    if isinstance(choice, NamedToolChoice):
        return Choosing("named", (choice.function.name,))
    if isinstance(choice, NamedCustomChoice):
        return Choosing("named", (choice.custom.name,))
    if isinstance(choice, AllowedToolsChoice):
        entries = [allowed_tool(entry) for entry in choice.allowed_tools.tools]
        return Choosing(choice.allowed_tools.mode, tuple(entry[1] for entry in entries if entry is not None))
    return AUTO


def prompt_tokens(request: ChatCompletionRequest) -> int:
    """Prompt tokens of a chat request, as OpenAI's cookbook counts them (:func:`mockai.usage.prompt_tokens`)."""
    return count_prompt(prompt_of(request))


class Chat:
    """The chat completions wire, mounted on a :class:`~mockai.core.Core`."""

    name = "chat"
    trailer = 1  # data: [DONE]
    unseeded = UNSEEDED_FIELDS

    def __init__(self, core: Core) -> None:
        self.core = core
        self.stored = StoredCompletions(core)

    def routes(self) -> Iterable[Route]:
        yield Route("POST", "/chat/completions", self.create, "chat", deployment=True)
        stored = self.stored  # completions made with store: true (mockai.stored)
        yield Route("GET", "/chat/completions", stored.list, "chat.list")
        yield Route("GET", "/chat/completions/{completion_id}", stored.retrieve, "chat.retrieve")
        yield Route("POST", "/chat/completions/{completion_id}", stored.update, "chat.update")
        yield Route("DELETE", "/chat/completions/{completion_id}", stored.delete, "chat.delete")
        yield Route("GET", "/chat/completions/{completion_id}/messages", stored.messages, "chat.messages")

    # --- the route -------------------------------------------------------------------------------------------

    def create(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        core = self.core
        deployment = args.get("deployment", "")
        try:
            body, request = core.parse(http, functools.partial(_parse, deployment=deployment) if deployment else _parse,
                                       "chat")
            call.body, call.request = body, request
            if core.config.strict_models and not offered(request.model, core.config.models):
                raise APIError(404, f"The model `{request.model}` does not exist or you do not have access to it.",
                               code="model_not_found")
            # Other endpoints' models, refused in the real API's words (Azure words it otherwise: not refused there).
            if not deployment and (request.model in MODEL_DIMENSIONS or request.model in MODERATION_MODELS):
                raise APIError(404, "This is not a chat model and thus not supported in the v1/chat/completions "
                                    "endpoint. Did you mean to use v1/completions?", param="model")
        except APIError as err:
            return core.reject(http, call, err)
        return core.answer(core.exchange(self, request, body, prompt_of(request), http, call))

    # --- the wire --------------------------------------------------------------------------------------------

    def default(self, ex: Exchange) -> Reply:
        return self.core.generate(ex)

    def build(self, spec: Any, ex: Exchange) -> Reply | APIError:
        return build(spec, ex.request, ex.prompt.n)

    def prompt_tokens(self, ex: Exchange) -> int:
        return self.core.counted(ex, lambda: count_prompt(ex.prompt))

    def stream_error(self, err: APIError, ex: Exchange, index: int) -> bytes:
        return b"data: " + streaming.dumps(err.envelope()) + b"\n\n"

    def render(self, reply: Reply, ex: Exchange) -> HTTPResponse:
        """Give a reply its ids, clock, spoken audio and usage, and write it as JSON or a stream."""
        core, request = self.core, ex.request
        ids = core.ids(ex)
        created = core.config.now()
        drawn = isinstance(reply, SplitReply)
        core.name_calls(reply, ids)
        spoken = ex.prompt.audio is not None and not drawn
        for ci, choice in enumerate(reply.choices):
            if spoken:
                _speak(choice, ex.prompt.audio or {}, hashlib.sha256(ids.digest + b"|audio|%d" % ci).hexdigest()[:32],
                       created)
            if request.logprobs and choice.logprobs is None and choice.content and not drawn:
                rng = rng_for(ex.key, core.config.seed, "logprobs", ci)
                choice.logprobs = logprobs_for(choice.content_tokens(), request.top_logprobs or 0, rng,
                                               core.generator._words())
        model = reply.model or snapshot(request.model)
        reply_id = "chatcmpl-" + b62(ids.digest, 29)
        options = request.stream_options
        meta = streaming.Meta(
            id=reply_id,
            created=created,
            model=model,
            system_fingerprint=fingerprint(core.config.seed, model),
            service_tier=served_tier(request.service_tier),
            usage=reply.usage or self.usage(ex, reply),
            include_usage=bool(options and options.include_usage),
            obfuscation=streaming.padding(reply_id) if request.stream and obfuscated(request) else None,
        )
        if isinstance(reply, SplitReply) and reply.meta is not None:
            meta = reply.meta  # a drawn stream is sent exactly as drawn (mockai.shapes)
        headers = {"x-request-id": "req_" + ids.digest[8:24].hex(), "openai-processing-ms": "1",
                   "openai-version": "2020-10-01"}
        if request.store:  # kept as one chat.completion, streamed or not, as the real API stores it
            self.stored.keep(streaming.body(reply, meta), ex.body, headers["x-request-id"])
        if request.stream:
            headers["content-type"] = "text/event-stream; charset=utf-8"
            headers["cache-control"] = "no-cache"
            if isinstance(reply, SplitReply):
                return HTTPResponse(200, headers, events=streaming.sse(reply.chunks(meta)))
            parts = core.encoded(ex, lambda: streaming.choice_parts(reply))
            return HTTPResponse(200, headers, events=streaming.encode(reply, meta, parts))
        headers["content-type"] = "application/json"
        part = core.encoded(ex, lambda: streaming.choices_part(reply))
        return HTTPResponse(200, headers, body=streaming.encode_body(reply, meta, part))

    def usage(self, ex: Exchange, reply: Reply) -> dict[str, Any]:
        """The ``usage`` of a reply: prompt tokens (remembered per request) and its output tokens."""
        prompt = ex.prompt_tokens
        out = output_tokens(ex.prompt, reply, ex.key, self.core.config.seed)
        details: dict[str, int] = {"reasoning_tokens": out.reasoning, "audio_tokens": out.audio,
                                   "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        if out.audio:
            details["text_tokens"] = out.text
        return {
            "prompt_tokens": prompt,
            "completion_tokens": out.total,
            "total_tokens": prompt + out.total,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": details,
        }


def obfuscated(request: ChatCompletionRequest) -> bool:
    """Whether a stream's chunks carry ``obfuscation``: unless ``stream_options.include_obfuscation`` is false."""
    options = request.stream_options
    return options is None or options.include_obfuscation is not False


def _parse(raw: bytes, deployment: str = "") -> tuple[dict[str, Any], ChatCompletionRequest]:
    """Parse and validate a body. On an Azure deployment path a body without ``model`` is for the deployment's
    model, as Azure has it."""
    if deployment:
        data = parse_json(raw)
        if isinstance(data, dict) and "model" not in data:
            data["model"] = deployment
            return parse_chat(data)
    return parse_chat(raw)


def _speak(choice: Choice, spec: Mapping[str, Any], audio_id: str, created: int) -> None:
    """Turn a text choice into a spoken one: its content becomes the transcript of a clip in the asked format
    (:mod:`mockai.audio`); tool calls and refusals are not spoken."""
    if choice.audio is not None or choice.content is None or choice.tool_calls or choice.refusal:
        return
    transcript = choice.content
    ms = audio.duration_ms(len(choice.content_tokens()))
    fmt = spec["format"]
    choice.audio = Audio(transcript=transcript, data=audio.encode(fmt, ms), format=fmt,
                         tokens=audio.audio_tokens(ms), id="audio_" + audio_id,
                         expires_at=created + audio.EXPIRES_AFTER)
    choice.content, choice.tokens, choice.logprobs = None, None, None


@functools.lru_cache(maxsize=256)
def fingerprint(seed: int, model: str) -> str:
    """A ``system_fingerprint`` that is stable for a seed and model, like a backend configuration."""
    return "fp_" + hashlib.sha256(b"%d|%s" % (seed, model.encode())).hexdigest()[:10]
