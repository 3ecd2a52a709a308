"""The engine's core: routes, authentication, the answer pipeline, ids, memos and the journal, with no API of its
own.

An API surface (:mod:`mockai.chat`, :mod:`mockai.responses`, :mod:`mockai.embeddings`, …) mounts its routes on a
:class:`Core`. A route that asks for a model reply validates its request, describes it as a
:class:`~mockai.prompt.Prompt` and hands both to :meth:`Core.answer`, which runs the pipeline every API shares::

    interceptors (rate limits, faults) ─▶ responders (scripted rules, cassettes, fuzz) ─▶ the surface's default
    (the generator) ─▶ transforms (content faults) ─▶ the surface's wire writes it ─▶ finishers (latency, headers)

so a reply scripted once renders on any wire, and faults, limits and latency treat every API alike. The wiring
(:class:`mockai.engine.Engine`) builds a core with every surface and extension installed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .config import Config
from .errors import APIError, CallbackError
from .generate import Generator
from .http import HTTPRequest, HTTPResponse, dumps, sent_part
from .journal import Call, CallList, call_bytes, parsed_bytes, reply_bytes, trim
from .keys import CACHEABLE_BODY, TRANSPORT_FIELDS, Ids, Occurrences, b62, body_key, canonical_key, canonical_keys
from .memo import Memo
from .prompt import Prompt
from .reply import Reply, ToolCall

MiB = 1024 * 1024

Handler = Callable[[HTTPRequest, Call, dict[str, str]], HTTPResponse]


@dataclass(frozen=True)
class Route:
    """``method path`` served by ``handler``; ``{name}`` segments (``{name:path}``: with slashes) become its
    arguments. ``name`` is the journal's
    ``call.route``; ``deployment`` routes are also served on Azure's ``/openai/deployments/{deployment}/…``."""

    method: str
    path: str
    handler: Handler
    name: str
    deployment: bool = False


class Wire(Protocol):
    """What :meth:`Core.answer` needs of a surface: its default reply, scripted replies, and how to write them."""

    name: str
    # Events a stream sends after its last data event (chat's ``data: [DONE]``: 1); stream faults cut before them.
    trailer: int
    # Body fields that change how a reply travels or is cut, not what the model says: left out of the content key.
    unseeded: frozenset[str]

    def default(self, ex: Exchange) -> Any: ...

    def build(self, spec: Any, ex: Exchange) -> Any: ...

    def render(self, reply: Any, ex: Exchange) -> HTTPResponse: ...

    def stream_error(self, err: APIError, ex: Exchange, index: int) -> bytes: ...

    def prompt_tokens(self, ex: Exchange) -> int: ...


class Shared(Protocol):
    """The state several processes share (:mod:`mockai.shared`), when they do: ``Core.shared``."""

    def request_number(self) -> int: ...

    def record(self, call: Call) -> bool:
        """Keep ``call`` in the shared journal; ``False`` when its ids were guessed wrong (nothing kept): the
        request must be answered again."""

    async def record_async(self, call: Call) -> bool:
        """:meth:`record`, its round trip awaited (and shared with other requests')."""

    def amend(self, call: Call) -> bool:
        """``call`` changed since it was kept (see :meth:`Core.sent_only`): its shared journal entry changes too;
        ``False`` when it could not (never kept, let go since, or the store failed)."""


class AnswerAgain(BaseException):
    """Raised while a request is answered when the ids it was given turn out to be wrong (another process counted
    the same request meanwhile, or changed the script): :meth:`Core.handle` answers it again, from the start. A
    ``BaseException``, so that no handler of ordinary errors on the way turns it into an error response."""


_ATTEMPTS = 3  # answers of one request before the shared state is said to be too busy (a second is already rare)


class Scripted(Protocol):
    """The first responder: scripted rules and a queue, which can say why each missed (strict mode)."""

    name: str

    def __call__(self, ex: Exchange) -> Any: ...

    def misses(self, ex: Exchange) -> list[str]: ...

    def forget_calls_before(self, seq: int) -> None:
        """Let go of the calls recorded before ``seq``: the bounded journal has dropped them."""


# A reply source: scripted rules, a cassette, the fuzzer… ``None`` passes to the next one. An HTTPResponse is sent
# as it is (a recorded or proxied answer); anything else is a reply for the exchange's wire (a Reply, vectors…).
Responder = Callable[["Exchange"], Any]
# Runs before the responders (faults, rate limits): an HTTPResponse answers the call instead.
Interceptor = Callable[["Exchange"], "HTTPResponse | None"]
# Runs on every answer to a validated request (latency, headers): returns the response to send.
Finisher = Callable[["Exchange", HTTPResponse], HTTPResponse]
# Rewrites a model reply before it is written (content faults).
Transform = Callable[["Exchange", Reply], Reply]
# A hook offered a request that failed mockai's own checks (a recording cassette forwards it instead).
Rejection = Callable[[HTTPRequest, Call, APIError], "HTTPResponse | None"]


@dataclass
class Exchange:
    """What the pipeline's hooks see: the validated request (the surface's own model) and its neutral
    :class:`~mockai.prompt.Prompt`, the body, the journal entry, the engine's keys and the surface's wire."""

    request: Any
    body: dict[str, Any]
    http: HTTPRequest
    key: bytes
    seed: int
    engine: Core
    call: Call
    exact: bytes
    prompt: Prompt
    wire: Wire
    # The key without stream/stream_options, when it is the content key (those were the only unseeded fields).
    transport: bytes | None = None
    _prompt_tokens: int | None = None
    # Whether the engine's memos are consulted for this request (see Core._body_key: not while they go unused).
    memo: bool = True

    @property
    def prompt_tokens(self) -> int:
        """The request's input tokens, counted as its API counts them (once)."""
        if self._prompt_tokens is None:
            self._prompt_tokens = self.wire.prompt_tokens(self)
        return self._prompt_tokens


def too_large(limit: int) -> APIError:
    return APIError(413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


class Core:
    """Answers requests for the routes mounted on it; see the module docstring."""

    script: Scripted

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.generator = Generator(self.config.locale)
        self._routes: list[Route] = []
        self._patterns: list[tuple[re.Pattern[str], Route]] = []
        # (method, raw path) -> (path, route, Azure's deployment argument) for routes without arguments of their own
        self._routed: dict[tuple[str, str], tuple[str, Route, dict[str, str]]] = {}
        self.responders: list[Responder] = []
        self.interceptors: list[Interceptor] = []
        self.finishers: list[Finisher] = []
        self.transforms: list[Transform] = []
        self.on_reset: list[Callable[[], None]] = []
        self.on_reject: list[Rejection] = []
        # Called with each call as it enters the journal, under the journal's lock (keep them quick): the socket
        # door's request log and the inspector's live feed. Empty, as it is unless someone listens, it costs nothing.
        self.on_record: list[Callable[[Call], None]] = []
        self.calls = CallList()
        # Memos of what is a pure function of the request, under digests of the bodies, bounded by bytes.
        self._parsed = Memo[Any](_PARSED_BYTES)
        # body digest -> (content key, exact key, transport key when it is the content key: see Exchange.transport)
        self._keys = Memo[tuple[bytes, bytes, bytes | None]](_KEYS_BYTES)
        self._generated = Memo[Reply](_GENERATED_BYTES, _MEMO_BYTES)
        self._encoded = Memo[Any](_ENCODED_BYTES, _MEMO_BYTES)
        self._counted = Memo[int](_COUNTED_BYTES)  # content key -> prompt tokens
        self._transport = Memo[bytes](_KEYS_BYTES)  # exact key -> key without the transport fields
        self._last_key: tuple[HTTPRequest | None, str, bytes | None] = (None, "", None)  # see _body_key
        self._misses = 0  # parsed bodies in a row that the memo did not have (see _body_key)
        self._probes = 0
        self._journal_bytes = 0  # estimated bytes the journal holds, when config.journal_bytes bounds it
        self._recorded = 0  # calls recorded so far: the next one's Call.seq
        self._seen = Occurrences(_SEEN_SIZE)  # per request: how often it was seen (ids come from it)
        self._answers = 0  # answers without a reply id, for their x-request-id
        self._lock = threading.Lock()
        self.shared: Shared | None = None  # set by mockai.shared when processes share one state

    # --- routes ----------------------------------------------------------------------------------------------

    def mount(self, routes: Iterable[Route]) -> None:
        """Serve ``routes`` (an API surface's) from now on."""
        for route in routes:
            pattern = re.escape(route.path)
            pattern = re.sub(r"\\\{(\w+):path\\\}", r"(?P<\1>.+)", pattern)  # {name:path}: slashes too
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
            self._routes.append(route)
            self._patterns.append((re.compile(pattern), route))
        self._routed.clear()

    @property
    def routes(self) -> list[Route]:
        """The routes served, in the order they are tried."""
        return self._routes

    def route(self, http: HTTPRequest) -> tuple[str, Route | None, dict[str, str]]:
        """``(path, route, arguments)`` for a request: the path without ``/v1``/``/openai`` prefixes, the route
        serving it and its path arguments (``deployment`` on Azure's paths). No route: ``None``; a path served
        for other methods only: the first of those routes, with the argument ``__methods``."""
        seen = self._routed.get((http.method, http.path))
        if seen is not None:  # a path answered before by a route without arguments of its own (see below)
            return seen[0], seen[1], dict(seen[2])
        path = http.path.split("?", 1)[0].rstrip("/")
        args: dict[str, str] = {}
        parts = path.split("/")
        if path.startswith("/openai/deployments/") and len(parts) >= 5:
            args["deployment"] = parts[3]
            path = "/" + "/".join(parts[4:])
        else:
            for prefix in ("/openai/v1", "/v1", "/openai"):
                if path.startswith(prefix + "/"):
                    path = path[len(prefix):]
                    break
        allowed: list[Route] = []
        for pattern, route in self._patterns:
            m = pattern.fullmatch(path)
            if m is None or ("deployment" in args and not route.deployment):
                continue
            if route.method != http.method:
                allowed.append(route)
                continue
            found = m.groupdict()
            if not found:  # the same answer every time (paths with ids in them are not kept: unbounded)
                if len(self._routed) >= _STATIC_ROUTES:
                    self._routed.clear()
                self._routed[http.method, http.path] = (path, route, dict(args))
            return path, route, {**args, **found}
        if allowed:
            return path, allowed[0], {**args, "__methods": ", ".join(sorted({r.method for r in allowed}))}
        return path, None, args

    # --- the entry point -------------------------------------------------------------------------------------

    def handle(self, http: HTTPRequest) -> HTTPResponse:
        """Answer one request; every answer (errors included) lands in the journal."""
        path, route, args = self.route(http)
        for _ in range(_ATTEMPTS):
            try:
                call, raised = self._attempt(http, path, route, args)
                if self.shared is None or self.shared.record(call):
                    return self._done(call, raised)
            except AnswerAgain:
                pass
        return self._done(self._busy(http, route), None)

    async def handle_async(self, http: HTTPRequest) -> HTTPResponse:
        """:meth:`handle`, for an event loop (the socket door): a shared state's round trip is awaited, and shared
        with the other requests answered meanwhile, instead of holding up the loop."""
        if self.shared is None:
            return self.handle(http)
        path, route, args = self.route(http)
        for _ in range(_ATTEMPTS):
            try:
                call, raised = self._attempt(http, path, route, args)
            except AnswerAgain:
                continue
            if await self.shared.record_async(call):
                return self._done(call, raised)
        return self._done(self._busy(http, route), None)

    def _attempt(self, http: HTTPRequest, path: str, route: Route | None,
                 args: dict[str, str]) -> tuple[Call, BaseException | None]:
        """One answer to ``http`` (errors included), and the test's own exception to raise once it is recorded."""
        call = Call(http=http, route=route.name if route is not None else "unknown", response=_EMPTY)
        raised: BaseException | None = None
        try:
            call.response = self._dispatch(http, path, route, args, call)
        except APIError as err:
            call.error = err
            call.response = self.error_response(err)
        except CallbackError as err:  # the test's own scripted code raised: the test must see it, not a 500
            call.error = err.api_error()
            call.response = self.error_response(call.error)
            raised = err.deliver()  # in-process: raise it in the test; over a socket: a 500, logged, for verify()
        except Exception as exc:  # a bug here must still look like the real API's 500, never a traceback page
            call.error = APIError(500, "The server had an error while processing your request "
                                       f"({type(exc).__name__}: {exc}).", code="server_error")
            call.response = self.error_response(call.error)
        return call, raised

    def _busy(self, http: HTTPRequest, route: Route | None) -> Call:
        """The answer when every attempt found its guessed ids wrong (never seen: each answer again asks)."""
        call = Call(http=http, route=route.name if route is not None else "unknown", response=_EMPTY)
        call.error = APIError(503, "mockai's shared state kept changing while this request was answered; retry it.",
                              type="server_error", code="state_busy")
        call.response = self.error_response(call.error)
        if self.shared is not None:
            self.shared.record(call)
        return call

    def _done(self, call: Call, raised: BaseException | None) -> HTTPResponse:
        self.record(call)
        if raised is not None:
            raise raised  # outside any except block: its traceback is the callback's, without mockai's chaining
        return call.response

    def record(self, call: Call) -> None:
        """Add a call to the journal, within its bounds."""
        budget = self.config.journal_bytes
        size = call.size = call_bytes(call) if budget is not None else 0
        with self._lock:
            call.seq = self._recorded
            self._recorded += 1
            self.calls.append(call)
            if self.on_record:
                for listener in self.on_record:
                    listener(call)
            limit = self.config.journal_size
            trimmed = False
            if limit is not None and len(self.calls) >= 2 * limit + 1:
                del self.calls[:-limit]  # amortized: trim to the newest `limit` once twice that piled up
                trimmed = True
            if budget is not None:
                self._journal_bytes += size
                if trimmed or self._journal_bytes > budget:
                    self._journal_bytes = trim(self.calls, budget)
                    trimmed = True
            if trimmed:  # what the journal let go, the rules' lists of their calls let go too (memory stays bounded)
                self.script.forget_calls_before(self.calls[0].seq)

    def sent_only(self, res: HTTPResponse, sent: int, why: str) -> Call | None:
        """The answer ``res`` stopped after ``sent`` bytes of its body (``why``: ``"client"``, the client left;
        ``"stopped"``, the server stopped): its journal entry keeps those bytes, as the journal promises the bytes
        on the wire. Returns the call changed (``None``: this journal had let it go); a shared journal's entry
        changes with :meth:`amend_shared`."""
        with self._lock:
            for call in reversed(self.calls):
                if call.response is res:
                    call.response = sent_part(res, sent)
                    call.ended = why
                    return call
        return None

    def amend_shared(self, call: Call) -> None:
        """After :meth:`sent_only`: the call's entry in a shared journal (:mod:`mockai.shared`), which every process
        lists, changes too while that journal still holds it. One operation on the store, with its bounded wait (the
        store failing leaves the shared entry as it was planned): the socket door runs it off its event loop."""
        if self.shared is not None:
            self.shared.amend(call)

    def follow(self, listener: Callable[[Call], None]) -> CallList:
        """Call ``listener(call)`` for every call recorded from now on, and return the journal so far: atomically,
        so no call is in both or in neither. ``listener`` runs under the journal's lock: it must be quick."""
        with self._lock:
            self.on_record.append(listener)
            return CallList(self.calls)

    def unfollow(self, listener: Callable[[Call], None]) -> None:
        """Stop calling ``listener`` (see :meth:`follow`)."""
        with self._lock:
            self.on_record[:] = [f for f in self.on_record if f is not listener]

    def _dispatch(self, http: HTTPRequest, path: str, route: Route | None, args: dict[str, str],
                  call: Call) -> HTTPResponse:
        if route is None:
            raise self.unknown(http)
        if "__methods" in args:
            allowed = args["__methods"]
            raise APIError(405, f"Method not allowed: {http.method} {http.path.split('?', 1)[0]} accepts {allowed}.",
                           headers={"allow": allowed})
        self.authenticate(http)
        if len(http.body) > self.config.max_body:
            raise too_large(self.config.max_body)
        return route.handler(http, call, args)

    def unknown(self, http: HTTPRequest) -> APIError:
        """The 404 for a URL no route serves: the real API's message, then what mockai serves instead."""
        methods: dict[str, list[str]] = {}
        for r in self.routes:
            methods.setdefault(r.path.replace(":path}", "}"), []).append(r.method)
        served = [f"{_listed(list(dict.fromkeys(m)))} /v1{path}" for path, m in methods.items()]
        return APIError(404, f"Invalid URL ({http.method} {http.path.split('?', 1)[0]}). mockai serves "
                             f"{', '.join(served)} (also without /v1, and on Azure OpenAI's paths).")

    def reject(self, http: HTTPRequest, call: Call, err: APIError) -> HTTPResponse:
        """A request failed mockai's own checks: the ``on_reject`` hooks may answer it (a recording cassette
        forwards it to the upstream, which judges); otherwise the error stands."""
        for rejected in self.on_reject:
            answer = rejected(http, call, err)
            if answer is not None:
                return answer
        raise err

    def authenticate(self, http: HTTPRequest) -> None:
        if not self.config.auth:
            return
        given = http.headers.get("api-key")
        header = http.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" and token.strip() else None
            if given is None:
                raise APIError(401, "Invalid authorization header. Expected 'Authorization: Bearer YOUR_KEY'.",
                               code="invalid_api_key")
        if not given:
            raise APIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        if self.config.api_key is not None and given != self.config.api_key:
            raise APIError(401, f"Incorrect API key provided: {_redact(given)}.", code="invalid_api_key")

    # --- the pipeline ----------------------------------------------------------------------------------------

    def parse(self, http: HTTPRequest, parse: Callable[[bytes], Any], salt: str = "") -> Any:
        """``parse(http.body)``, memoized by path and bytes: load tests and retries send them again. The result is
        then shared by the calls that sent the body; nothing in mockai changes it."""
        memo = self._body_key(http, salt)
        hit = self._parsed.get(memo) if memo is not None else None
        if hit is not None:
            self._misses = 0
            return hit
        if memo is not None:
            self._misses += 1
        parsed = parse(http.body)
        if memo is not None:
            self._parsed.put(memo, parsed, parsed_bytes(http.body))
        return parsed

    def exchange(self, wire: Wire, request: Any, body: dict[str, Any], prompt: Prompt, http: HTTPRequest,
                 call: Call) -> Exchange:
        """The exchange for a validated request: its content key (without ``wire.unseeded``) and exact key."""
        call.body, call.request, call.prompt = body, request, prompt
        memo = self._body_key(http, wire.name)
        keys = self._keys.get(memo) if memo is not None else None
        if keys is None:  # (each API's bodies have their own required fields: no salt needed between them)
            # Keys of the same text are the same digest: a body without the unseeded fields has one serialization
            # for both keys, and one whose only unseeded fields are stream/stream_options has its content key
            # for its transport key (see _transport_key).
            content, exact = canonical_keys(body, wire.unseeded)
            dropped = wire.unseeded.intersection(body)
            keys = (content, exact, content if dropped and dropped == TRANSPORT_FIELDS.intersection(body) else None)
            if memo is not None:
                self._keys.put(memo, keys, _KEY_ENTRY)
        key, exact, transport = keys
        ex = Exchange(request, body, http, key, self.config.seed, self, call, exact, prompt, wire, transport)
        ex.memo = memo is not None or len(http.body) > CACHEABLE_BODY  # (not one of the requests _body_key skips)
        return ex

    def _body_key(self, http: HTTPRequest, salt: str) -> bytes | None:
        """:func:`~mockai.keys.body_key`, worked out once per request: parsing and the exchange both ask.

        ``None`` (no memo for this request) for most requests while the memos go unused: once
        :data:`_COLD_AFTER` bodies in a row were new (a load of ever-new prompts), only one request in
        :data:`_PROBE_EVERY` is looked up and kept, which is enough to notice bodies that come again (then every
        request is, as before). The answers are the same either way: the memos only save work."""
        last = self._last_key
        if last[0] is http and last[1] == salt:
            return last[2]
        if len(http.body) > CACHEABLE_BODY:  # (a body too big to memoize is not kept alive here either)
            return None
        key: bytes | None = None
        if self._misses < _COLD_AFTER:
            key = body_key(http, salt)
        else:
            self._probes += 1
            if self._probes % _PROBE_EVERY == 0:
                key = body_key(http, salt)
        self._last_key = (http, salt, key)
        return key

    def answer(self, ex: Exchange) -> HTTPResponse:
        """Answer a validated request: interceptors, responders, the wire's default; transforms; the wire writes
        it; then the finishers."""
        try:
            response = self._answer(ex)
        except APIError as err:
            ex.call.error = err
            response = self.error_response(err)
        for finish in self.finishers:
            response = finish(ex, response)
        return response

    def _answer(self, ex: Exchange) -> HTTPResponse:
        call = ex.call
        for intercept in self.interceptors:
            early = intercept(ex)
            if early is not None:
                call.responder = getattr(intercept, "name", type(intercept).__name__.lower())
                return early
        reply: Any = None
        chain: list[Responder] = [self.script, *self.responders]
        for responder in chain:
            reply = responder(ex)
            if reply is not None:
                call.responder = getattr(responder, "name", type(responder).__name__.lower())
                break
        if reply is None:
            if self.config.strict:
                call.unexpected = True
                raise unscripted(self.script.misses(ex), call)
            call.responder = getattr(self.generator, "name", "generator")
            reply = ex.wire.default(ex)
        if isinstance(reply, APIError):
            raise reply
        if isinstance(reply, HTTPResponse):
            return reply
        if isinstance(reply, Reply):
            for transform in self.transforms:
                reply = transform(ex, reply)
        call.reply = reply if isinstance(reply, Reply) else None
        return ex.wire.render(reply, ex)

    def generate(self, ex: Exchange) -> Reply:
        """The generator's reply to the prompt, memoized: it is a pure function of the request and the seed."""
        if not ex.memo:
            return self.generator.generate(ex.prompt, key=ex.key, seed=self.config.seed)
        cached = self._generated.get(ex.exact)
        if cached is None:
            cached = self.generator.generate(ex.prompt, key=ex.key, seed=self.config.seed)
            size = reply_bytes(cached) * (8 if ex.prompt.logprobs else 1)
            if size <= self._generated.largest:
                self._generated.put(ex.exact, cached.copy(), size)
            return cached
        return cached.copy()

    def counted(self, ex: Exchange, count: Callable[[], int]) -> int:
        """``count()`` (a prompt's tokens), remembered by the request's content key."""
        if not ex.memo:
            return count()
        hit = self._counted.get(ex.key)
        if hit is None:
            hit = count()
            self._counted.put(ex.key, hit, _COUNT_ENTRY)
        return hit

    def encoded(self, ex: Exchange, make: Callable[[], Any]) -> Any | None:
        """``make()`` (a serialized part of a generated reply), remembered per request body: ``None`` for replies
        that are not a pure function of the request (scripted, faulted, with ids inside)."""
        if ex.call.responder != getattr(self.generator, "name", "generator") or ex.call.fault is not None:
            return None
        reply = ex.call.reply
        if reply is not None and any(c.tool_calls or c.audio for c in reply.choices):
            return None  # tool call and audio ids change with each occurrence
        if not ex.memo:
            return make()
        value = self._encoded.get(ex.exact)
        if value is None:
            value = make()
            size = sum(len(v) + _OBJECT for v in value) if isinstance(value, list) else len(value) + _OBJECT
            self._encoded.put(ex.exact, value, size)
        return value

    # --- ids -------------------------------------------------------------------------------------------------

    def ids(self, ex: Exchange) -> Ids:
        """This call's ids (invariant 2: from the request and how often it was seen).

        Occurrences are counted per request without its transport fields (``stream``, ``stream_options``) and
        per wire (stream or not): the first stream of a request carries the same tool calls, ids included, as
        its first non-stream reply, while a repeat, or a request that differs in anything else (``user``,
        ``metadata``, an explicit ``stream: false``), gets new ones.
        """
        transport = self._transport_key(ex)
        occurrence, epoch = self._seen.next(transport, b"s" if ex.prompt.stream else b"j")
        digest = hashlib.sha256(b"%d|%s|%s|%d|%d" % (
            self.config.seed, self.config.instance.encode(), ex.exact, occurrence, epoch)).digest()
        return Ids(digest, transport, occurrence, epoch)

    def name_calls(self, reply: Reply, ids: Ids) -> None:
        """Give each tool call without an id its ``call_…`` id (new objects: a scripted reply hands the same
        :class:`~mockai.reply.ToolCall` to every call)."""
        for ci, choice in enumerate(reply.choices):
            if any(t.id is None for t in choice.tool_calls):
                choice.tool_calls = [t if t.id is not None else self._named(t, ids, ci, ti)
                                     for ti, t in enumerate(choice.tool_calls)]

    def _named(self, call: ToolCall, ids: Ids, ci: int, ti: int) -> ToolCall:
        salt = b"%d|%s|%s|%d|%d|%d|%d" % (self.config.seed, self.config.instance.encode(), ids.transport,
                                          ids.occurrence, ids.epoch, ci, ti)
        return dataclasses.replace(call, id="call_" + b62(hashlib.sha256(salt).digest(), 24))

    def _transport_key(self, ex: Exchange) -> bytes:
        """The digest of the body without ``stream`` and ``stream_options``: the same for a request's stream and
        non-stream forms. Bodies without either field are their own transport key."""
        if "stream" not in ex.body and "stream_options" not in ex.body:
            return ex.exact
        if ex.transport is not None:
            return ex.transport
        if not ex.memo:  # (the memos are quiet: nothing is looked up or kept)
            return canonical_key(ex.body, TRANSPORT_FIELDS)
        key = self._transport.get(ex.exact)
        if key is None:
            key = canonical_key(ex.body, TRANSPORT_FIELDS)
            self._transport.put(ex.exact, key, _KEY_ENTRY)
        return key

    # --- answers ---------------------------------------------------------------------------------------------

    def json_response(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> HTTPResponse:
        out = {"content-type": "application/json"}
        out.update(headers or {})
        if "x-request-id" not in out:
            out["x-request-id"] = self._request_id()
            out["openai-version"] = "2020-10-01"
        return HTTPResponse(status, out, body=dumps(value))

    def error_response(self, err: APIError) -> HTTPResponse:
        return self.json_response(err.status, err.envelope(), err.headers)

    def _request_id(self) -> str:
        """A unique ``x-request-id`` for answers that have no reply id to derive one from (errors, listings)."""
        if self.shared is not None:
            n = self.shared.request_number()
        else:
            with self._lock:
                self._answers += 1
                n = self._answers
        salt = b"%d|%s|%d" % (self.config.seed, self.config.instance.encode(), n)
        return "req_" + hashlib.sha256(salt).hexdigest()[:32]

    def reset(self) -> None:
        """Forget the journal and the occurrence counts (ids start over), and whatever the hooks keep."""
        with self._lock:
            self.calls.clear()
            self._journal_bytes = 0
            self._seen.clear()
        for hook in self.on_reset:
            hook()


def _listed(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def unscripted(misses: list[str], call: Call) -> APIError:
    lines = "\n".join("  " + m for m in misses)
    return APIError(400, f"mockai (strict): no scripted reply for {call.describe(status=False)}\n"
                         f"Rules and why each missed:\n"
                         f"{lines}\nScript a reply, or turn strict mode off to let the generator answer "
                         "(MockAI(strict=False), or `mockai serve` without --strict).", code="mockai_unscripted")


def _redact(key: str) -> str:
    return key[:3] + "*" * 6 + key[-4:] if len(key) > 8 else "*" * len(key)


_EMPTY = HTTPResponse(0, {})
# New bodies in a row after which the memos are consulted for one request in _PROBE_EVERY only (see _body_key).
_COLD_AFTER = 1024
_PROBE_EVERY = 16
_STATIC_ROUTES = 256  # (method, path) pairs remembered by Core.route
# Distinct requests whose occurrences are counted before a new epoch starts (ids stay unique: the epoch is in
# them): about 10 MB at most.
_SEEN_SIZE = 65_536
# Byte budgets of the memos (each emptied when full; see mockai.memo), and what is too big to memoize at all.
_PARSED_BYTES = 4 * MiB
_KEYS_BYTES = 1 * MiB
_GENERATED_BYTES = 2 * MiB
_ENCODED_BYTES = 2 * MiB
_COUNTED_BYTES = 512 * 1024
_MEMO_BYTES = 256 * 1024  # larger replies or encodings are not memoized
_KEY_ENTRY = 250  # bytes of one entry of the keys memo: a digest and two more in a tuple, in a dict
_COUNT_ENTRY = 120  # a digest and an int in a dict
_OBJECT = 40  # overhead of one bytes object or str
