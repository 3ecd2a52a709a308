"""The engine: configuration, routing, validation, the responder chain and the journal, without any HTTP server.

Each door is a thin adapter: it turns what it received into an :class:`HTTPRequest`, calls
:meth:`Engine.handle`, and sends back the :class:`HTTPResponse`. That keeps the in-process door free of ASGI
machinery and makes every door answer alike.

>>> engine = Engine(Config(seed=7))
>>> res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
...     body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'))
>>> res.status, res.json()["object"]
(200, 'chat.completion')
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import streaming, tokens
from .enums import served_tier
from .errors import APIError
from .generate import Generator, last_user_text, logprobs_for, message_text, rng_for
from .journal import CallList
from .models import DEFAULT_MODELS, model_object, snapshot
from .reply import Reply
from .rules import Script
from .shapes import SplitReply
from .validation import parse_chat, parse_json
from .wire import ChatCompletionRequest

if TYPE_CHECKING:
    from .faults import FaultPlan
    from .latency import LatencyFinisher
    from .ratelimit import RateLimiter

MiB = 1024 * 1024

# Fields that change how a reply travels, or how it is cut, but not what the model "says".
UNSEEDED_FIELDS = frozenset({
    "stream", "stream_options", "user", "metadata", "store", "service_tier", "n", "logprobs", "top_logprobs",
    "max_tokens", "max_completion_tokens", "stop", "parallel_tool_calls",
})


@dataclass
class Config:
    """Everything that shapes the engine's answers.

    >>> Config(seed=1, models=["gpt-4o-mini"], strict_models=True).strict_models
    True
    """

    seed: int = 0
    api_key: str | None = None
    auth: bool = True
    models: Sequence[str] = DEFAULT_MODELS
    strict_models: bool = False
    max_body: int = 16 * MiB
    clock: Callable[[], float] | float | None = None
    locale: str = "en_US"
    # Mixed into ids only: set per worker process when several serve one port, so their ids never collide.
    instance: str = ""
    # Calls the journal keeps (the newest); None keeps all. `mockai serve` keeps 1,000 so a long load test does
    # not grow without bound.
    journal_size: int | None = None
    # Unscripted requests fail (400, listing why each rule missed) instead of reaching the generator.
    strict: bool = False
    # The control API under /_mockai/: None means on for loopback servers and in-process, off otherwise.
    control: bool | None = None
    control_token: str | None = None
    # Who answers unscripted requests: "default" (the generator) or "fuzz" (mockai.fuzz: drawn shapes), and for
    # fuzz the share of replies whose bytes are fragmented on the socket. JSON-serializable, for workers.
    responder: str = "default"
    fuzz_fragments: float = 0.25
    # Faults, latency and rate limits (see mockai.faults, mockai.latency, mockai.ratelimit); JSON-serializable.
    faults: dict[str, float] | str | None = None  # a seeded random schedule: {"429": 0.05, "reset": 0.01}
    fault_header: bool = False  # honour the X-Mockai-Fault request header
    latency: str | dict[str, float] | None = None  # "none", "realistic", or {"ttft":…, "per_token":…, "jitter":…}
    rpm: int | None = None  # requests per minute per API key
    tpm: int | None = None  # tokens per minute per API key
    # Cassettes (mockai.cassettes): a file to replay from / record to, and how. JSON-serializable, so workers of
    # `mockai serve --workers N` get them too; ``match_on`` and ``scrub`` may also be objects in-process.
    cassette: str | None = None
    record_mode: str = "none"  # none | once | new_episodes | all
    upstream: str | None = None  # where recording proxies to (default https://api.openai.com/v1)
    match_on: Any = None
    scrub: Any = None
    replay_speed: float | None = 1.0  # recorded timing divided by this (socket door); 0 or None: instant
    allow_playback_repeats: bool = False
    cassette_run: str | None = None  # record mode all: one id for every worker of a run (see Cassette.run)

    def now(self) -> int:
        if self.clock is None:
            return int(time.time())
        if callable(self.clock):
            return int(self.clock())
        return int(self.clock)


@dataclass
class HTTPRequest:
    """A request as any door received it. Header names are lower-case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Delivery:
    """How a response travels, beyond its bytes: timing and connection faults.

    The socket door honours all of it. The in-process door has no wire and no clock: it raises the error a
    client would see for ``reset``, ``hang`` and ``cut_after`` (``httpx.RemoteProtocolError`` /
    ``httpx.ReadTimeout``) and ignores timing and fragmentation. The ASGI app under a server other than uvicorn
    (or ``httpx.ASGITransport``) cannot drop a connection: there those three raise ``ConnectionAbortedError``.
    """

    delay: float = 0.0  # seconds before anything is sent (time to first byte; the whole delay of a JSON reply)
    gaps: Sequence[float] | None = None  # seconds before each event after the first (a stream)
    reset: bool = False  # drop the connection (TCP reset) before sending any response
    hang: float | None = None  # send nothing for this long (bounded), then drop the connection
    cut_after: int | None = None  # send this many events, then drop the connection: no [DONE]
    fragments: Sequence[int] | None = None  # write the bytes in pieces of these sizes (cycled), not event-aligned
    fragment_pause: float = 0.0005  # seconds between fragments

    @property
    def plain(self) -> bool:
        """Nothing to do beyond sending the bytes in one write."""
        return (not self.delay and not self.gaps and not self.reset and self.hang is None
                and self.cut_after is None and not self.fragments)


class ConnectionDropped(Exception):
    """A live source lost its connection (before the response, or mid-body): the door drops its own too."""


class LiveSource(Protocol):
    """A response produced while it is sent: ``(status, headers, pieces)``, sync or async.

    Iterating the pieces may raise :class:`ConnectionDropped`; so may opening, when nothing arrived at all.
    """

    def open(self) -> tuple[int, dict[str, str], Iterator[bytes]]: ...

    async def aopen(self) -> tuple[int, dict[str, str], AsyncIterator[bytes]]: ...


@dataclass
class HTTPResponse:
    """An answer: a JSON body, or (``events`` not ``None``) a server-sent event stream."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    events: list[bytes] | None = None
    delivery: Delivery | None = None
    # An answer that arrives while it is being sent (a recording proxy): the door opens it and forwards each
    # piece as it comes; status, headers and body above are filled in once it has finished.
    live: LiveSource | None = None

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    def content(self) -> bytes:
        return b"".join(self.events) if self.events is not None else self.body

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Call:
    """One entry of the journal: what came in (raw and parsed) and what went out.

    ``unexpected`` is set when a strict engine had no scripted reply for the request.
    """

    http: HTTPRequest
    route: str
    response: HTTPResponse
    body: dict[str, Any] | None = None
    request: ChatCompletionRequest | None = None
    reply: Reply | None = None
    error: APIError | None = None
    unexpected: bool = False
    responder: str | None = None
    fault: str | None = None  # the fault applied to this call (mockai.faults), e.g. "429" or "cut=3"

    @property
    def last_user_text(self) -> str:
        return last_user_text(self.request) if self.request is not None else ""

    @property
    def status(self) -> int:
        return self.response.status

    def describe(self, status: bool = True) -> str:
        what = f"{self.http.method} {self.http.path}" + (f" -> {self.response.status}" if status else "")
        if self.request is not None:
            what += f" model={self.request.model!r} last_user={_clip(self.last_user_text)!r}"
            if self.request.tools:
                what += f" tools={[t.function.name for t in self.request.tools if hasattr(t, 'function')]}"
            if self.request.stream:
                what += " stream"
        elif self.body is None and self.http.body:
            what += f" body={_clip(self.http.body.decode('utf-8', 'replace'))!r}"
        if self.error is not None:
            what += f" error={_clip(self.error.message)!r}"
        if self.fault is not None:
            what += f" fault={self.fault}"
        return what


# A reply source: the scripted rules, a cassette, the fuzzer… ``None`` passes to the next one. An HTTPResponse is
# sent as it is (a recorded or proxied answer).
Responder = Callable[["Exchange"], "Reply | APIError | HTTPResponse | None"]
# Runs before the responders (faults, rate limits): an HTTPResponse or an APIError answers the call instead.
Interceptor = Callable[["Exchange"], "HTTPResponse | None"]
# Runs on every answer to a validated chat request (latency, headers): returns the response to send.
Finisher = Callable[["Exchange", "HTTPResponse"], "HTTPResponse"]
# Rewrites a reply before it is rendered (content faults): returns the reply to render.
Transform = Callable[["Exchange", Reply], Reply]


@dataclass
class Exchange:
    """What responders see: the validated request, its body, the journal entry and the engine's keys."""

    request: ChatCompletionRequest
    body: dict[str, Any]
    http: HTTPRequest
    key: bytes
    seed: int
    engine: Engine
    call: Call
    exact: bytes = b""  # digest of the whole body: the key of ids' occurrence counts and of the reply cache


def canonical_key(body: Mapping[str, Any], drop: frozenset[str] = UNSEEDED_FIELDS) -> bytes:
    """A digest of the request without the fields that do not change what the model says."""
    kept = {k: v for k, v in body.items() if k not in drop}
    text = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


_B62_TABLE = bytes(ord(_ALPHABET[b % 62]) for b in range(256))  # byte -> alphanumeric (ids are hot)


def _b62(digest: bytes, size: int) -> str:
    """``size`` alphanumeric characters from a digest (``size`` <= its length)."""
    return digest[:size].translate(_B62_TABLE).decode("ascii")


@functools.lru_cache(maxsize=256)
def fingerprint(seed: int, model: str) -> str:
    """A ``system_fingerprint`` that is stable for a seed and model, like a backend configuration."""
    return "fp_" + hashlib.sha256(b"%d|%s" % (seed, model.encode())).hexdigest()[:10]


class Engine:
    """Answers requests for every route; see the module docstring."""

    # Installed from the config by mockai.faults.install, so every door and every worker has them.
    fault_plan: FaultPlan
    latency: LatencyFinisher
    rate_limiter: RateLimiter

    def __init__(self, config: Config | None = None, responders: Sequence[Responder] = ()) -> None:
        self.config = config or Config()
        self.generator = Generator(self.config.locale)
        self.script = Script()
        self.responders: list[Responder] = list(responders)
        # Memos of what is a pure function of the request (see _parse, _generate, _memo); each bounded.
        self._parsed: dict[tuple[str, bytes], tuple[dict[str, Any], ChatCompletionRequest]] = {}
        self._keys: dict[tuple[str, bytes], tuple[bytes, bytes]] = {}  # (path, body) -> (content key, exact key)
        self._generated: dict[bytes, Reply] = {}
        self._prompt_tokens: dict[bytes, int] = {}
        self._encoded: dict[bytes, list[bytes] | bytes] = {}
        self._epoch = 0  # see _occurrence
        self._answers = 0  # answers without a reply id, for their x-request-id
        self.interceptors: list[Interceptor] = []
        self.finishers: list[Finisher] = []
        self.transforms: list[Transform] = []
        self.on_reset: list[Callable[[], None]] = []
        self.calls = CallList()
        self._seen: dict[bytes, int] = {}
        self._lock = threading.Lock()
        if self.config.cassette is not None:
            from .cassettes import Cassette

            self.responders.insert(0, Cassette.from_config(self.config))
        from .faults import install

        install(self)  # faults, latency and rate limits, as the config asks (so every door and worker has them)
        if self.config.responder != "default":
            from .fuzz import install as install_responder

            install_responder(self)

    # --- the entry point -------------------------------------------------------------------------------------

    def handle(self, http: HTTPRequest) -> HTTPResponse:
        route, arg = self.route(http)
        if route == "control":
            from .control import handle as control

            try:
                return control(self, http, arg)
            except Exception as exc:  # the control API must fail like the rest: an envelope, never a traceback
                return self.error_response(APIError(500, f"The control API failed ({type(exc).__name__}: {exc}).",
                                                    code="server_error"))
        call = Call(http=http, route=route, response=_EMPTY)
        try:
            call.response = self._dispatch(route, arg, http, call)
        except APIError as err:
            call.error = err
            call.response = self.error_response(err)
        except Exception as exc:  # a bug here must still look like the real API's 500, never a traceback page
            call.error = APIError(500, f"The server had an error while processing your request ({type(exc).__name__}"
                                       f": {exc}).", code="server_error")
            call.response = self.error_response(call.error)
        with self._lock:
            self.calls.append(call)
            limit = self.config.journal_size
            if limit is not None and len(self.calls) >= 2 * limit + 1:
                del self.calls[:-limit]  # amortized: trim to the newest `limit` once twice that piled up
        return call.response

    def route(self, http: HTTPRequest) -> tuple[str, str]:
        """``(route, argument)``: ``chat``, ``models``, ``model`` (argument: its id), or ``unknown``."""
        path = http.path.split("?", 1)[0].rstrip("/")
        if path.startswith("/_mockai/") and self.config.control is not False:
            return "control", path[len("/_mockai/"):]
        if path.startswith("/openai/deployments/"):
            parts = path.split("/")
            if len(parts) == 6 and parts[4:] == ["chat", "completions"]:
                return "chat", parts[3]
            return "unknown", ""
        for prefix in ("/openai/v1", "/v1"):
            if path.startswith(prefix + "/"):
                path = path[len(prefix):]
                break
        if path == "/chat/completions":
            return "chat", ""
        if path == "/models":
            return "models", ""
        if path.startswith("/models/") and path.count("/") >= 2:
            return "model", path[len("/models/"):]
        return "unknown", ""

    def _dispatch(self, route: str, arg: str, http: HTTPRequest, call: Call) -> HTTPResponse:
        if route == "unknown":
            raise APIError(404, f"Invalid URL ({http.method} {http.path.split('?', 1)[0]})")
        allowed = _METHODS[route]
        if http.method != allowed:
            raise APIError(405, f"Method not allowed: {http.method} {http.path.split('?', 1)[0]} accepts {allowed}.",
                           headers={"allow": allowed})
        self.authenticate(http)
        if route == "models":
            listing = {"object": "list", "data": [model_object(m) for m in self.config.models]}
            return self.json_response(200, listing)
        if route == "model":
            if arg not in self.config.models:
                raise APIError(404, f"The model '{arg}' does not exist", param="model", code="model_not_found")
            return self.json_response(200, model_object(arg))
        if len(http.body) > self.config.max_body:
            raise too_large(self.config.max_body)
        body, request = self._parse(http, deployment=arg)
        call.body, call.request = body, request
        if self.config.strict_models and request.model not in self.config.models:
            raise APIError(404, f"The model `{request.model}` does not exist or you do not have access to it.",
                           code="model_not_found")
        return self.chat(body, request, http, call)

    # --- pieces a door or a responder may reuse --------------------------------------------------------------

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

    def chat(self, body: dict[str, Any], request: ChatCompletionRequest, http: HTTPRequest,
             call: Call) -> HTTPResponse:
        """Answer a validated chat request: interceptors, then responders, then the generator; then finishers."""
        memo = (http.path, http.body)
        keys = self._keys.get(memo)
        if keys is None:
            keys = (canonical_key(body), canonical_key(body, frozenset()))
            if len(http.body) <= _CACHEABLE_BODY:
                if len(self._keys) >= _CACHE_SIZE:
                    self._keys.clear()
                self._keys[memo] = keys
        key, exact = keys
        exchange = Exchange(request, body, http, key, self.config.seed, self, call, exact)
        try:
            response = self._answer(exchange)
        except APIError as err:
            call.error = err
            response = self.error_response(err)
        for finish in self.finishers:
            response = finish(exchange, response)
        return response

    def _answer(self, ex: Exchange) -> HTTPResponse:
        call, request = ex.call, ex.request
        for intercept in self.interceptors:
            early = intercept(ex)
            if early is not None:
                call.responder = getattr(intercept, "name", type(intercept).__name__.lower())
                return early
        reply: Reply | APIError | HTTPResponse | None = None
        chain: list[Responder] = [self.script, *self.responders]
        for responder in chain:
            reply = responder(ex)
            if reply is not None:
                call.responder = getattr(responder, "name", type(responder).__name__.lower())
                break
        if reply is None:
            if self.config.strict:
                call.unexpected = True
                raise unscripted(self.script.misses(request), call)
            call.responder = getattr(self.generator, "name", "generator")
            reply = self._generate(ex)
        if isinstance(reply, APIError):
            raise reply
        if isinstance(reply, HTTPResponse):
            return reply
        for transform in self.transforms:
            reply = transform(ex, reply)
        call.reply = reply
        return self.render(reply, ex)

    def _parse(self, http: HTTPRequest, deployment: str = "") -> tuple[dict[str, Any], ChatCompletionRequest]:
        """Parse and validate a body, memoized by path and bytes: load tests and retries send them again.

        The body and request are then shared by the calls that sent them; nothing in mockai changes either. On
        an Azure deployment path a body without ``model`` is for the deployment's model, as Azure has it.
        """
        memo = (http.path, http.body)
        hit = self._parsed.get(memo)
        if hit is not None:
            return hit
        raw: bytes | dict[str, Any] = http.body
        if deployment:
            data = parse_json(http.body)
            if isinstance(data, dict) and "model" not in data:
                data["model"] = deployment
            raw = data if isinstance(data, dict) else http.body
        parsed = parse_chat(raw)
        if len(http.body) <= _CACHEABLE_BODY:
            if len(self._parsed) >= _CACHE_SIZE:
                self._parsed.clear()
            self._parsed[memo] = parsed
        return parsed

    def _generate(self, ex: Exchange) -> Reply:
        """The generator's reply, memoized: it is a pure function of the request and the seed."""
        cached = self._generated.get(ex.exact)
        if cached is None:
            cached = self.generator.generate(ex.request, key=ex.key, seed=self.config.seed)
            size = sum(len(c.content or "") + sum(len(t.arguments) for t in c.tool_calls) for c in cached.choices)
            if size * (8 if ex.request.logprobs else 1) > _MEMO_BYTES:
                return cached
            if len(self._generated) >= _CACHE_SIZE:
                self._generated.clear()
            self._generated[ex.exact] = cached.copy()
            return cached
        return cached.copy()

    def render(self, reply: Reply, ex: Exchange) -> HTTPResponse:
        """Give a reply its ids, clock and usage, and write it as JSON or a stream."""
        request = ex.request
        exact = ex.exact or canonical_key(ex.body, frozenset())
        occurrence, epoch = self._occurrence(exact)
        digest = hashlib.sha256(b"%d|%s|%s|%d|%d" % (
            self.config.seed, self.config.instance.encode(), exact, occurrence, epoch)).digest()
        for ci, choice in enumerate(reply.choices):
            for ti, tool_call in enumerate(choice.tool_calls):
                if tool_call.id is None:
                    # From the content key and the occurrence: the first stream carries the same tool calls as
                    # the first non-stream reply to the same request, and a repeated request gets new ids.
                    salt = b"%d|%s|%s|%d|%d|%d|%d" % (self.config.seed, self.config.instance.encode(), ex.key,
                                                      occurrence, epoch, ci, ti)
                    tool_call.id = "call_" + _b62(hashlib.sha256(salt).digest(), 24)
            if request.logprobs and choice.logprobs is None and choice.content and not isinstance(reply, SplitReply):
                rng = rng_for(ex.key, self.config.seed, "logprobs", ci)
                choice.logprobs = logprobs_for(choice.content_tokens(), request.top_logprobs or 0, rng,
                                               self.generator._words())
        model = reply.model or snapshot(request.model)
        meta = streaming.Meta(
            id="chatcmpl-" + _b62(digest, 29),
            created=self.config.now(),
            model=model,
            system_fingerprint=fingerprint(self.config.seed, model),
            service_tier=served_tier(request.service_tier),
            usage=reply.usage or self.usage(request, reply, ex.key),
            include_usage=bool(request.stream_options and request.stream_options.include_usage),
        )
        if isinstance(reply, SplitReply) and reply.meta is not None:
            meta = reply.meta  # a drawn stream is sent exactly as drawn (mockai.shapes)
        headers = {"x-request-id": "req_" + digest[8:24].hex(), "openai-processing-ms": "1",
                   "openai-version": "2020-10-01"}
        if request.stream:
            headers["content-type"] = "text/event-stream; charset=utf-8"
            headers["cache-control"] = "no-cache"
            if isinstance(reply, SplitReply):
                return HTTPResponse(200, headers, events=streaming.sse(reply.chunks(meta)))
            return HTTPResponse(200, headers, events=streaming.encode(reply, meta, self._stream_parts(reply, ex)))
        headers["content-type"] = "application/json"
        body = streaming.encode_body(reply, meta, self._body_part(reply, ex))
        return HTTPResponse(200, headers, body=body)

    def _stream_parts(self, reply: Reply, ex: Exchange) -> list[bytes] | None:
        """The chunks' choices of a generated reply, serialized once per request body (they never change)."""
        parts = self._memo(ex, lambda: streaming.choice_parts(reply))
        return parts if isinstance(parts, list) else None

    def _body_part(self, reply: Reply, ex: Exchange) -> bytes | None:
        """The ``choices`` of a generated reply's JSON body, serialized once per request body."""
        part = self._memo(ex, lambda: streaming.choices_part(reply))
        return part if isinstance(part, bytes) else None

    def _memo(self, ex: Exchange, make: Callable[[], list[bytes] | bytes]) -> list[bytes] | bytes | None:
        if ex.call.responder != getattr(self.generator, "name", "generator") or ex.call.fault is not None:
            return None  # only the generator's replies are a pure function of the request
        if ex.call.reply is not None and any(c.tool_calls for c in ex.call.reply.choices):
            return None  # tool call ids change with each occurrence
        value = self._encoded.get(ex.exact)
        if value is None:
            value = make()
            size = sum(map(len, value)) if isinstance(value, list) else len(value)
            if size > _MEMO_BYTES:
                return value
            if len(self._encoded) >= _CACHE_SIZE:
                self._encoded.clear()
            self._encoded[ex.exact] = value
        return value

    def usage(self, request: ChatCompletionRequest, reply: Reply, key: bytes | None = None) -> dict[str, Any]:
        """Usage for ``reply``; ``key`` (the request's content key) lets the prompt count be remembered."""
        prompt = self._prompt_tokens.get(key) if key is not None else None
        if prompt is None:
            prompt = prompt_tokens(request)
            if key is not None:
                if len(self._prompt_tokens) >= _CACHE_SIZE:
                    self._prompt_tokens.clear()
                self._prompt_tokens[key] = prompt
        limit = request.token_limit
        completion = sum(
            min(c.completion_tokens(), limit) if limit is not None and c.finish_reason == "length"
            else c.completion_tokens() for c in reply.choices
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }

    def json_response(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> HTTPResponse:
        out = {"content-type": "application/json"}
        out.update(headers or {})
        if "x-request-id" not in out:
            out["x-request-id"] = self._request_id()
            out["openai-version"] = "2020-10-01"
        return HTTPResponse(status, out, body=streaming.dumps(value))

    def error_response(self, err: APIError) -> HTTPResponse:
        return self.json_response(err.status, err.envelope(), err.headers)

    def _request_id(self) -> str:
        """A unique ``x-request-id`` for answers that have no reply id to derive one from (errors, listings)."""
        with self._lock:
            self._answers += 1
            n = self._answers
        salt = b"%d|%s|%d" % (self.config.seed, self.config.instance.encode(), n)
        return "req_" + hashlib.sha256(salt).hexdigest()[:32]

    def reset(self) -> None:
        """Forget the journal and the occurrence counts (ids start over)."""
        with self._lock:
            self.calls.clear()
            self._seen.clear()
            self._epoch = 0
        for hook in self.on_reset:
            hook()

    def _occurrence(self, key: bytes) -> tuple[int, int]:
        """How often this exact request was seen before, and the epoch of that count.

        The counts are bounded: when they fill up they start over in a new epoch, which is mixed into ids, so
        ids stay unique (and a run still replays byte for byte) without the counts growing for ever.
        """
        with self._lock:
            if len(self._seen) >= _SEEN_SIZE:
                self._seen.clear()
                self._epoch += 1
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            return n, self._epoch


_EMPTY = HTTPResponse(0, {})
_SEEN_SIZE = 1_000_000  # distinct request bodies whose occurrences are counted before a new epoch starts
_MEMO_BYTES = 256 * 1024  # larger replies or encodings are not memoized
_CACHE_SIZE = 4096  # entries kept by each memo (parsed bodies, generated replies); emptied when full
_CACHEABLE_BODY = 64 * 1024
_METHODS = {"chat": "POST", "models": "GET", "model": "GET"}


def unscripted(misses: list[str], call: Call) -> APIError:
    lines = "\n".join("  " + m for m in misses)
    return APIError(400, f"mockai (strict): no scripted reply for {call.describe(status=False)}\n"
                         f"Rules and why each missed:\n"
                         f"{lines}\nScript a reply, or construct the mock with strict=False to let the generator "
                         "answer.", code="mockai_unscripted")


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def too_large(limit: int) -> APIError:
    return APIError(413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


def _redact(key: str) -> str:
    return key[:3] + "*" * 6 + key[-4:] if len(key) > 8 else "*" * len(key)


def prompt_tokens(request: ChatCompletionRequest) -> int:
    """Prompt tokens as OpenAI counts them: 3 per message, its text and name, 3 to prime the reply, plus tools."""
    model = request.model
    total = 3
    for msg in request.messages:
        total += 3 + tokens.count(message_text(getattr(msg, "content", None)), model)
        name = getattr(msg, "name", None)
        if name:
            total += 1 + tokens.count(name, model)
        for tool_call in getattr(msg, "tool_calls", None) or []:
            function = getattr(tool_call, "function", None)
            if function is not None:
                total += 3 + tokens.count(function.name, model) + tokens.count(function.arguments, model)
    if request.tools:
        total += 8 + tokens.count(json.dumps([t.model_dump(exclude_none=True) for t in request.tools]), model)
    return total

