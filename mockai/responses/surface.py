"""The Responses API surface: ``/v1/responses`` and its stored responses, on the engine's shared pipeline.

============================================  =========================================================================
``POST   /v1/responses``                      a response, JSON or a stream of typed events (``stream: true``)
``GET    /v1/responses/{id}``                 a stored response; ``?stream=true&starting_after=N`` replays its events
``DELETE /v1/responses/{id}``                 ``{"id", "object": "response", "deleted": true}``
``POST   /v1/responses/{id}/cancel``          cancels a ``background`` response not yet retrieved
``GET    /v1/responses/{id}/input_items``     its input, newest first by default (``after``, ``before``, ``limit``,
                                              ``order``)
``POST   /v1/responses/input_tokens``         ``{"object": "response.input_tokens", "input_tokens": N}``
``POST   /v1/responses/compact``              a ``response.compaction``: the input, then one ``compaction`` item
============================================  =========================================================================

A request is validated (:mod:`mockai.responses.validation`), its chain looked up (``previous_response_id``: the
stored responses it continues; ``conversation``: a conversation's items, :mod:`mockai.responses.conversations`),
described as a :class:`~mockai.prompt.Prompt` with that history, and answered by the shared pipeline (scripted
rules, cassettes, faults, limits, the generator); the reply is written here (:mod:`mockai.responses.render`).

Stored responses (``store`` defaults to true) live in the engine, bounded (:data:`STORED`: the oldest go first),
and are forgotten by ``MockAI.reset()`` and ``POST /_mockai/reset``. A ``background`` response answers
``queued`` and completes when it is first retrieved (so a test can cancel it before), the same bytes every run.
An ``item_reference`` names any stored item, of a stored response or of a conversation (:meth:`Responses.references`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from ..core import Core, Exchange, Route
from ..enums import served_tier
from ..errors import APIError, invalid
from ..generate import logprobs_for, rng_for
from ..http import HTTPRequest, HTTPResponse, dumps, scratch_dumps
from ..journal import Call
from ..models import effort, family, offered, reasoning_tokens, snapshot
from ..prompt import Prompt, Turn
from ..reply import Reply
from ..rules import build
from ..state import Store, page
from ..usage import output_tokens
from ..usage import prompt_tokens as count_prompt
from ..validation import strict_problem
from . import render
from .items import Resolve, input_items, item_turns, to_prompt
from .validation import (
    check_call_outputs,
    check_model_support,
    conversation_not_found,
    item_not_found,
    parse_response_request,
    previous_response_not_found,
)
from .values import SERVICE_TIERS
from .wire import CreateResponseRequest, CustomTool, FormatJsonSchema, FunctionTool, InputItem, ItemReference

if TYPE_CHECKING:
    from .conversations import Conversations

# Fields that change how a reply travels or is kept, not what the model says.
UNSEEDED_FIELDS = frozenset({
    "stream", "stream_options", "user", "metadata", "store", "service_tier", "background", "include",
    "max_output_tokens", "max_tool_calls", "parallel_tool_calls", "prompt_cache_key", "prompt_cache_retention",
    "safety_identifier", "truncation", "top_logprobs",
})
STORED = 10_000  # stored responses kept (and 64 MiB of them); the oldest are dropped first
CHAIN = 1_000  # previous responses followed, at most, to rebuild a conversation
DEFAULT_MODEL = "gpt-4.1"  # the model of a request that names none (a reusable prompt's, which mockai cannot see)
_ITEM: TypeAdapter[InputItem] = TypeAdapter(InputItem, config=ConfigDict(defer_build=True))


class Responses:
    """The Responses API wire and routes, mounted on a :class:`~mockai.core.Core`."""

    name = "responses"
    trailer = 0  # no [DONE]
    unseeded = UNSEEDED_FIELDS

    def __init__(self, core: Core, conversations: Conversations | None = None) -> None:
        self.core = core
        self.conversations = conversations
        self.store = Store("response", max_items=STORED)
        core.on_reset.append(self.store.clear)
        if conversations is not None:
            conversations.find_items = self.find_items

    def routes(self) -> Iterable[Route]:
        yield Route("POST", "/responses", self.create, "responses")
        yield Route("POST", "/responses/input_tokens", self.input_tokens, "responses.input_tokens")
        yield Route("POST", "/responses/compact", self.compact, "responses.compact")
        yield Route("GET", "/responses/{id}", self.retrieve, "responses.retrieve")
        yield Route("DELETE", "/responses/{id}", self.delete, "responses.delete")
        yield Route("POST", "/responses/{id}/cancel", self.cancel, "responses.cancel")
        yield Route("GET", "/responses/{id}/input_items", self.list_input_items, "responses.input_items")

    # --- POST /responses -------------------------------------------------------------------------------------

    def create(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        core = self.core
        try:
            body, request = core.parse(http, lambda raw: parse_response_request(raw, model_checks=False),
                                       "responses")
            call.body, call.request = body, request
            history = self.history(request)
            references = self.references(request, history)
            check_model_support(request)
            model = request.model or DEFAULT_MODEL
            if core.config.strict_models and not offered(model, core.config.models):
                raise APIError(404, f"The model `{model}` does not exist or you do not have access to it.",
                               code="model_not_found")
        except APIError as err:
            return core.reject(http, call, err)
        prompt = to_prompt(request, history.turns, references)
        if not request.model:
            prompt = _with_model(prompt, model)
        return core.answer(core.exchange(self, request, body, prompt, http, call))

    def history(self, request: CreateResponseRequest) -> History:
        """The conversation a request continues (its previous responses, or its conversation's items), checked
        against the request's tool outputs."""
        history = self._continued(request)
        if request.previous_response_id is not None or request.conversation_id is not None:
            check_call_outputs(request, history.calls, history.unanswered)
        return history

    def _continued(self, request: CreateResponseRequest) -> History:
        """The conversation a request continues, unchecked."""
        items: list[dict[str, Any]] = []
        if request.previous_response_id is not None:
            items = self.chain(request.previous_response_id)
        elif request.conversation_id is not None:
            conversations = self.conversations
            record = conversations.get(request.conversation_id) if conversations is not None else None
            if record is None:
                raise conversation_not_found(request.conversation_id)
            items = list(record["items"])
        return History(items)

    def references(self, request: CreateResponseRequest, history: History | None = None, *,
                   required: bool = True) -> Resolve:
        """Finds the items the request's ``item_reference`` s name: in the history it continues, else in any stored
        response or conversation (the real API knows every stored item of the project). An unknown id is the real
        API's 404 when ``required``; otherwise (listing what was already answered) it is not found."""
        wanted = {item.id for item in request.items if isinstance(item, ItemReference)}
        found: dict[str, Mapping[str, Any]] = {}
        for item_id in wanted:
            hit = history.resolve(item_id) if history is not None else None
            if hit is not None:
                found[item_id] = hit
        missing = wanted - found.keys()
        if missing:
            found.update(self.find_items(missing))
        for item in request.items if required else ():  # the first unknown reference, in input order
            if isinstance(item, ItemReference) and item.id not in found:
                raise item_not_found(item.id)
        return found.get

    def _found(self, request: CreateResponseRequest) -> Resolve | None:
        """What the request's references name, to list them as those items once it is answered (``None``: it has
        none, and nothing is looked up): in the history it continues first, as when it was checked."""
        if not any(isinstance(item, ItemReference) for item in request.items):
            return None
        try:
            history: History | None = self._continued(request)
        except APIError:  # (what it continues was deleted meanwhile: the store is searched alone)
            history = None
        return self.references(request, history, required=False)

    def find_items(self, ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """The stored items with these ids, from every stored response (its input and output) and conversation,
        newest first: a reference is usually to a recent item, and the search ends when every id is found."""
        found: dict[str, Mapping[str, Any]] = {}
        records: Iterable[list[dict[str, Any]]] = (
            [*record["input_items"], *record["response"]["output"]] for record in reversed(list(self.store.values())))
        if self.conversations is not None:
            records = itertools.chain(records, (record["items"] for record in self.conversations.store.values()))
        for items in records:
            for item in items:
                if item.get("id") in ids:
                    found.setdefault(str(item["id"]), item)
            if len(found) == len(ids):
                break
        return found

    def chain(self, response_id: str) -> list[dict[str, Any]]:
        """The items of a stored response and of those it continues, oldest first: each one's input, then its
        output. A 400 ``previous_response_not_found`` when it is not stored."""
        records: list[dict[str, Any]] = []
        current: str | None = response_id
        while current is not None and len(records) < CHAIN:
            record = self.store.get(current)
            if record is None:
                if not records:
                    raise previous_response_not_found(response_id)
                break  # an older link was dropped from the bounded store: the chain starts here
            records.append(record)
            current = record["response"].get("previous_response_id")
        items: list[dict[str, Any]] = []
        for record in reversed(records):
            items.extend(record["input_items"])
            items.extend(record["response"]["output"])
        return items

    # --- the wire --------------------------------------------------------------------------------------------

    def default(self, ex: Exchange) -> Reply:
        return self.core.generate(ex)

    def build(self, spec: Any, ex: Exchange) -> Reply | APIError:
        return build(spec, ex.request, 1)

    def prompt_tokens(self, ex: Exchange) -> int:
        return self.core.counted(ex, lambda: count_prompt(ex.prompt))

    def stream_error(self, err: APIError, ex: Exchange, index: int) -> bytes:
        event = render.error_event(err.message, err.code, err.param, index, err.type)
        return render.sse([event], scratch_dumps)[0]

    def render(self, reply: Reply, ex: Exchange) -> HTTPResponse:
        """Give a reply its ids, clock and usage, keep it (``store``), and write it as JSON or a stream."""
        core, request, prompt = self.core, ex.request, ex.prompt
        assert isinstance(request, CreateResponseRequest)
        reply.choices = reply.choices[:1]  # the Responses API has no n
        ids = core.ids(ex)
        core.name_calls(reply, ids)
        choice = reply.choices[0]
        thinking = reasoning_tokens(prompt.model, prompt.reasoning_effort, ex.key, core.config.seed, 0)
        if thinking and choice.reasoning is None:
            choice.reasoning = ""  # a reasoning model's output starts with its reasoning item
        if prompt.logprobs and choice.logprobs is None and choice.content:
            rng = rng_for(ex.key, core.config.seed, "logprobs", 0)
            choice.logprobs = logprobs_for(choice.content_tokens(), prompt.top_logprobs, rng, core.generator._words())
        rid = "resp_" + ids.digest.hex()[:48]
        meta = render.Meta(
            id=rid, created_at=core.config.now(), model=reply.model or snapshot(prompt.model),
            usage=self.usage(ex, reply), echo=self.echo(request, prompt.model), logprobs=prompt.logprobs,
            encrypted="reasoning.encrypted_content" in (request.include or []))
        done = render.response(reply, meta)
        headers = {"x-request-id": "req_" + ids.digest[8:24].hex(), "openai-processing-ms": "1",
                   "openai-version": "2020-10-01"}
        background = bool(request.background)
        conversation = request.conversation_id
        if conversation is not None:
            self._append(conversation, request, done)
        if request.stream:
            headers["content-type"] = "text/event-stream; charset=utf-8"
            headers["cache-control"] = "no-cache"
            options = request.stream_options
            padded = options is None or options.include_obfuscation is not False
            events = render.sse(render.obfuscated(render.resplit(render.events(done), reply), rid, padded),
                                scratch_dumps)
            if request.store is not False:
                self.keep(request, done, False, 3 * (len(events[-1]) + len(ex.http.body)))
            return HTTPResponse(200, headers, events=events)
        headers["content-type"] = "application/json"
        body = dumps(done)
        if request.store is not False:
            self.keep(request, done, background, 3 * (len(body) + len(ex.http.body)))
        if background:
            body = dumps(render.lifecycle(done, "queued"))
        return HTTPResponse(200, headers, body=body)

    def usage(self, ex: Exchange, reply: Reply) -> dict[str, Any]:
        prompt = ex.prompt_tokens
        out = output_tokens(ex.prompt, reply, ex.key, self.core.config.seed)
        return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": out.total, "output_tokens_details": {"reasoning_tokens": out.reasoning},
                "total_tokens": prompt + out.total}

    def echo(self, request: CreateResponseRequest, model: str) -> dict[str, Any]:
        """The request's fields as the response repeats them."""
        fields = request.model_fields_set
        out: dict[str, Any] = {
            "instructions": request.instructions,
            "tools": [_tool(t) for t in request.tools or []],
            "tool_choice": _plain(request.tool_choice) if request.tool_choice is not None else "auto",
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "max_output_tokens": request.max_output_tokens,
            "max_tool_calls": request.max_tool_calls,
            "metadata": dict(request.metadata or {}),
            "previous_response_id": request.previous_response_id,
            "service_tier": _served_tier(request.service_tier),
            "store": request.store is not False,
            "background": bool(request.background),
            "truncation": request.truncation or "disabled",
            "user": request.user,
            "prompt_cache_key": request.prompt_cache_key,
            "safety_identifier": request.safety_identifier,
            "top_logprobs": request.top_logprobs or 0,
        }
        for name in ("temperature", "top_p"):
            if name in fields and getattr(request, name) is not None:
                out[name] = float(getattr(request, name))
        reasoning = request.reasoning
        asked = reasoning.effort if reasoning is not None else None
        # A model the catalogue does not know is taken at its word: the effort asked, if any.
        out["reasoning"] = {"effort": effort(model, asked) if family(model) is not None else asked,
                            "summary": (reasoning.summary or reasoning.generate_summary) if reasoning else None}
        text = request.text
        fmt = text.format if text is not None else None
        if isinstance(fmt, FormatJsonSchema):
            shown: dict[str, Any] = {"type": "json_schema", "name": fmt.name, "schema": fmt.schema_,
                                     "strict": bool(fmt.strict)}
            if fmt.description is not None:
                shown["description"] = fmt.description
        else:
            shown = _plain(fmt) if fmt is not None else {"type": "text"}
        out["text"] = {"format": shown, "verbosity": (text.verbosity if text is not None else None) or "medium"}
        if request.conversation_id is not None:
            out["conversation"] = {"id": request.conversation_id}
        return out

    # --- the store -------------------------------------------------------------------------------------------

    def keep(self, request: CreateResponseRequest, done: dict[str, Any], pending: bool, size: int) -> None:
        """Store a finished response with its input (``pending``: a background response not yet retrieved);
        ``size``: about the memory the record holds (its objects take about three times their JSON)."""
        rid = done["id"]
        listed = input_items(request, lambda prefix, i: f"{prefix}_{_hexid(rid, prefix, i)}", self._found(request))
        self.store.put(rid, {"response": done, "input_items": listed, "pending": pending}, size=size)

    def stored(self, response_id: str) -> dict[str, Any]:
        """The stored record of a response, or the real API's 404."""
        record = self.store.get(response_id)
        if record is None:
            raise APIError(404, f"Response with id '{response_id}' not found.", param=None, code=None)
        if record.get("pending"):
            record = {**record, "pending": False}
            self.store.update(response_id, record)
        return dict(record)

    def _append(self, conversation_id: str, request: CreateResponseRequest, done: dict[str, Any]) -> None:
        conversations = self.conversations
        if conversations is None:
            return
        rid = done["id"]
        listed = input_items(request, lambda prefix, i: f"{prefix}_{_hexid(rid, prefix, i)}", self._found(request))
        conversations.append(conversation_id, [*listed, *done["output"]])

    # --- the other routes ------------------------------------------------------------------------------------

    def retrieve(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        try:
            record = self.stored(args["id"])
        except APIError as err:
            return self.core.reject(http, call, err)  # a cassette may hold it (see Core.reject)
        done = record["response"]
        query = _query(http)
        if query.get("stream", "").lower() == "true":
            after = query.get("starting_after")
            start = 0
            if after is not None:
                if not after.lstrip("-").isdigit():
                    raise invalid(f"Invalid 'starting_after': expected an integer, but got '{after}' instead.",
                                  "starting_after", "invalid_type")
                start = int(after) + 1
            headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
            padded = query.get("include_obfuscation", "").lower() != "false"
            replayed = render.obfuscated(render.events(done), done["id"], padded)[max(start, 0):]
            return HTTPResponse(200, headers, events=render.sse(replayed, scratch_dumps))
        return self.core.json_response(200, done)

    def delete(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        rid = args["id"]
        if not self.store.delete(rid):
            return self.core.reject(http, call, APIError(404, f"Response with id '{rid}' not found."))
        return self.core.json_response(200, {"id": rid, "object": "response", "deleted": True})

    def cancel(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        rid = args["id"]
        record = self.store.get(rid)
        if record is None:
            return self.core.reject(http, call, APIError(404, f"Response with id '{rid}' not found."))
        done = record["response"]
        if not done.get("background"):
            raise invalid("Only responses created with background=true can be cancelled.", None, None)
        if record.get("pending") or done.get("status") == "cancelled":
            cancelled = {**render.lifecycle(done, "cancelled"), "usage": None}
            self.store.update(rid, {**record, "response": cancelled, "pending": False})
            return self.core.json_response(200, cancelled)
        return self.core.json_response(200, done)  # already finished: cancelling changes nothing

    def list_input_items(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        try:
            record = self.stored(args["id"])
        except APIError as err:
            return self.core.reject(http, call, err)
        return self.core.json_response(200, page(record["input_items"], _query(http)))

    def input_tokens(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        _, prompt = self._counted_request(http, call)
        return self.core.json_response(200, {"object": "response.input_tokens",
                                             "input_tokens": count_prompt(prompt)})

    def compact(self, http: HTTPRequest, call: Call, args: dict[str, str]) -> HTTPResponse:
        request, prompt = self._counted_request(http, call)
        history = self.history(request)
        rid = "resp_" + hashlib.sha256(http.body).hexdigest()[:48]
        references = self.references(request, history)
        listed = [*history.items, *input_items(request, lambda prefix, i: f"{prefix}_{_hexid(rid, prefix, i)}",
                                               references)]
        digest = hashlib.sha256(b"compaction|%s" % http.body).hexdigest()
        compaction = {"type": "compaction", "id": "cmp_" + digest[:48], "encrypted_content": "gAAAAA" + digest}
        tokens = count_prompt(prompt)
        usage = {"input_tokens": tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                 "output_tokens": max(1, tokens // 8), "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": tokens + max(1, tokens // 8)}
        return self.core.json_response(200, {"id": rid, "object": "response.compaction",
                                             "output": [*[i for i in listed if i.get("type") == "message"
                                                          and i.get("role") == "user"], compaction],
                                             "created_at": self.core.config.now(), "usage": usage})

    def _counted_request(self, http: HTTPRequest, call: Call) -> tuple[CreateResponseRequest, Prompt]:
        """A body of ``input_tokens`` or ``compact``: a response request whose ``model`` may be left out."""
        raw = _json_object(http)
        raw.setdefault("model", DEFAULT_MODEL)
        body, request = parse_response_request(raw, model_checks=False)
        call.body, call.request = body, request
        history = self.history(request)
        prompt = to_prompt(request, history.turns, self.references(request, history))
        call.prompt = prompt
        return request, prompt


class History:
    """The items a request continues from, as turns, with the tool calls they made and left unanswered."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self._by_id = {str(i["id"]): i for i in items if i.get("id")}
        models = []
        for item in items:
            try:
                models.append(_ITEM.validate_python(item))
            except ValidationError:
                continue  # an item shape the request models do not read: no turn
        self.turns: list[Turn] = item_turns(models)
        calls = [i["call_id"] for i in items if i.get("type") in ("function_call", "custom_tool_call")]
        answered = {i.get("call_id") for i in items if i.get("type") in ("function_call_output",
                                                                          "custom_tool_call_output")}
        self.calls = set(calls)
        self.unanswered = [c for c in calls if c not in answered]

    def resolve(self, item_id: str) -> Mapping[str, Any] | None:
        return self._by_id.get(item_id)


def _tool(tool: Any) -> dict[str, Any]:
    """A tool as the response echoes it: functions with every field (``strict`` true when left out and the schema
    allows strict mode, as the real API decides), custom tools with their format."""
    if isinstance(tool, FunctionTool):
        strict = tool.strict
        if strict is None:
            strict = tool.parameters is not None and strict_problem(tool.parameters) is None
        return {"type": "function", "description": tool.description, "name": tool.name,
                "parameters": tool.parameters, "strict": bool(strict)}
    if isinstance(tool, CustomTool):
        fmt = _plain(tool.format) if tool.format is not None else {"type": "text"}
        shown = {"type": "custom", "name": tool.name, "format": fmt}
        if tool.description is not None:  # a string when given (the schema has no null for it)
            shown["description"] = tool.description
        return shown
    builtin: dict[str, Any] = _plain(tool)
    return builtin


def _served_tier(requested: str | None) -> str:
    """The ``service_tier`` a response reports: chat's answer (:func:`mockai.enums.served_tier`), but a tier only
    the Responses API has (``ultrafast``) reports itself, as its ``Response`` type allows."""
    if requested in SERVICE_TIERS and requested not in ("auto", "fast"):
        return requested
    return served_tier(requested)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return value


def _with_model(prompt: Prompt, model: str) -> Prompt:
    return dataclasses.replace(prompt, model=model)


def _hexid(response_id: str, prefix: str, index: int) -> str:
    return hashlib.sha256(f"{response_id}|input|{prefix}|{index}".encode()).hexdigest()[:48]


def _query(http: HTTPRequest) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(http.query, keep_blank_values=True))


def _json_object(http: HTTPRequest) -> dict[str, Any]:
    from ..validation import parse_json

    data = parse_json(http.body)
    if not isinstance(data, dict):
        raise invalid("Invalid type for request body: expected an object.", None, "invalid_type")
    return dict(data)

