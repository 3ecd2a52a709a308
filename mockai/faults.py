"""Faults: the failures a client meets against the real API, produced on demand and reproducibly.

A fault is written ``KIND`` or ``KIND=ARG`` (``KIND:ARG`` too, outside a schedule):

==========================  =====================================================================================
``400`` ``401`` ``403``     an error in OpenAI's envelope with that status (any 4xx/5xx works); ARG: a
``404`` ``409`` ``422``     ``retry-after`` in seconds (sent as ``retry-after`` and ``retry-after-ms``)
``429`` (``rate_limit``)    429 ``rate_limit_exceeded`` with ``retry-after``, ``retry-after-ms`` and
                            ``x-ratelimit-*``; ARG: retry-after seconds (default 1)
``quota``                   429 ``insufficient_quota`` (not worth retrying, but the SDK does)
``500`` ``502`` ``504``     ``server_error``, Cloudflare's ``cf_bad_gateway`` / ``cf_gateway_timeout``
``503`` (``overloaded``)    503 "The engine is currently overloaded"
``reset`` (``disconnect``)  the connection is reset before any response
``hang``                    nothing is sent for ARG seconds (default 30, at most 600), then the connection drops
``cut``                     a stream stops after ARG events (default: half) without ``[DONE]``; a JSON reply
                            stops after its headers
``error_event``             after ARG events (default: half) the stream sends ``data: {"error": {...}}`` and
                            ends; a JSON reply becomes a 500
``malformed``               event number ARG (default: the middle one) is invalid JSON; a JSON reply's body is
                            cut in half
``stall``                   a pause of ARG seconds (default 2) in the middle of a stream, or before a JSON reply
``empty``                   200 with an empty body
``length``                  the reply stops after ARG tokens (default: half) with ``finish_reason: length``
``content_filter``          likewise, with ``finish_reason: content_filter``
``refusal``                 the model refuses (``message.refusal``, no content)
``empty_content``           the reply's content is ``""``
==========================  =====================================================================================

Content faults rewrite the reply before it is split into a stream, so a drawn reply (the fuzz responder's, a
queued drawn stream) is sent rewritten, split anew. They do not apply to cassette replays, which send the
recorded bytes as they are (the journal still names the fault); the other faults do.

Faults are asked for in order of precedence: the ``X-Mockai-Fault`` request header (only when the engine was
built with ``fault_header=True``), a fault for a call number (``mock.fault("500", on_call=3)``), queued faults
(``mock.fault("429", times=2)``: the next two chat requests), a rule's fault (``mock.on(...).fault("cut=3")``),
then the seeded random schedule (``Config(faults={"429": 0.05, "reset": 0.01})``, ``mockai serve --faults
429:0.05,reset:0.01 --seed N``). A schedule's draw depends on the seed, the request and how many times that exact
request was seen by this engine, so a run repeats exactly, whatever the order of concurrent requests (the workers
of ``mockai serve --workers N`` and replicas sharing ``--state`` count together: :mod:`mockai.shared`). The
journal records
each call's fault (``mock.calls[0].fault == "429"``).

>>> Fault.parse("cut=3")
Fault(kind='cut', arg=3.0)
>>> parse_schedule("429:0.05,disconnect:0.02")
{'429': 0.05, 'reset': 0.02}
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import APIError
from .keys import Occurrences
from .reply import Choice, FinishReason, Reply
from .tokens import split

if TYPE_CHECKING:
    from .core import Core, Exchange
    from .http import HTTPResponse

HEADER = "x-mockai-fault"
HANG_DEFAULT, HANG_MAX = 30.0, 600.0
STALL_DEFAULT = 2.0
REFUSAL = "I'm sorry, but I can't help with that request."

ERROR_KINDS = ("400", "401", "403", "404", "409", "422", "429", "quota", "500", "502", "503", "504")
CONNECTION_KINDS = ("reset", "hang")
STREAM_KINDS = ("cut", "error_event", "malformed", "stall", "empty")
CONTENT_KINDS = ("length", "content_filter", "refusal", "empty_content")
KINDS = ERROR_KINDS + CONNECTION_KINDS + STREAM_KINDS + CONTENT_KINDS
ALIASES = {
    "rate_limit": "429", "rate_limit_exceeded": "429", "insufficient_quota": "quota", "server_error": "500",
    "bad_gateway": "502", "overloaded": "503", "gateway_timeout": "504", "disconnect": "reset",
    "timeout": "hang", "stream_error": "error_event", "invalid_json": "malformed",
}
# Faults answered before any responder runs: the request never reaches the scripted replies or the generator.
PREEMPTIVE = frozenset(ERROR_KINDS + CONNECTION_KINDS + ("empty",))


@dataclass(frozen=True)
class Fault:
    """One fault: a kind and its optional argument; see the module docstring for the kinds.

    >>> str(Fault.parse("HANG:2.5")), Fault.parse("overloaded").kind
    ('hang=2.5', '503')
    """

    kind: str
    arg: float | None = None

    @classmethod
    def parse(cls, spec: str | Fault, arg: float | None = None) -> Fault:
        """``"429"``, ``"cut=3"``, ``"cut:3"``, or a kind and its argument; raises ``ValueError`` with the kinds."""
        if isinstance(spec, Fault):
            return spec if arg is None else cls(spec.kind, float(arg))
        if not isinstance(spec, (str, int)):
            raise ValueError(f"a fault is a string such as '429' or 'cut=3', not {type(spec).__name__}")
        text = str(spec).strip().lower()
        kind, sep, raw = text.replace(":", "=", 1).partition("=")
        kind = ALIASES.get(kind.strip(), kind.strip())
        if kind not in KINDS and not (kind.isdigit() and len(kind) == 3 and 400 <= int(kind) <= 599):
            raise ValueError(f"unknown fault {spec!r}: expected one of {', '.join(KINDS)} (or any 4xx/5xx status), "
                             "optionally with an argument: 'cut=3', 'hang=2.5'")
        if sep:
            if arg is not None:
                raise ValueError(f"fault {spec!r} already has an argument")
            try:
                arg = float(raw)
            except ValueError:
                raise ValueError(f"fault {spec!r}: the argument must be a number") from None
        if arg is not None:
            arg = float(arg)
            if not math.isfinite(arg) or arg < 0:
                raise ValueError(f"fault {spec!r}: the argument must be a finite number >= 0")
            if kind in ("refusal", "empty_content", "empty", "reset", "quota"):
                raise ValueError(f"fault {kind!r} takes no argument")
        return cls(kind, arg)

    def __str__(self) -> str:
        if self.arg is None:
            return self.kind
        return f"{self.kind}={int(self.arg) if self.arg == int(self.arg) else self.arg}"

    @property
    def preemptive(self) -> bool:
        """Answered before the responders (errors, connection faults, an empty body)."""
        return self.kind in PREEMPTIVE or self.kind.isdigit()


@dataclass(frozen=True)
class Faulted:
    """A scripted reply with a fault, for :meth:`mockai.MockAI.queue` and :meth:`mockai.Rule.sequence`:
    ``mock.queue(fault("cut=2", reply="Hello there, friend"))``. ``reply=None`` lets the generator answer."""

    fault: Fault
    reply: Any = None


def fault(spec: str | Fault, arg: float | None = None, *, reply: Any = None) -> Faulted:
    """A reply spec that applies a fault: queue it, or put it in a rule's sequence.

    >>> fault("cut", 2, reply="Hello there").fault
    Fault(kind='cut', arg=2.0)
    """
    return Faulted(Fault.parse(spec, arg), reply)


def parse_schedule(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"429:0.05,500:0.01"`` (or a mapping) as ``{fault: probability}``; probabilities must add up to at most 1."""
    if spec is None:
        return {}
    items: list[tuple[str, Any]] = []
    if isinstance(spec, str):
        for part in spec.split(","):
            if not part.strip():
                continue
            name, sep, prob = part.strip().rpartition(":")
            if not sep or not name:
                raise ValueError(f"fault schedule entry {part.strip()!r}: expected FAULT:PROBABILITY, e.g. 429:0.05")
            items.append((name, prob))
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        raise ValueError(f"a fault schedule is a string or a mapping, not {type(spec).__name__}")
    out: dict[str, float] = {}
    for name, prob in items:
        try:
            p = float(prob)
        except (TypeError, ValueError):
            raise ValueError(f"fault schedule entry {name!r}: probability {prob!r} is not a number") from None
        if not 0 <= p <= 1:
            raise ValueError(f"fault schedule entry {name!r}: probability {p} is not between 0 and 1")
        key = str(Fault.parse(name))
        out[key] = out.get(key, 0.0) + p
    if sum(out.values()) > 1 + 1e-9:
        raise ValueError(f"fault probabilities add up to {sum(out.values()):g}, more than 1")
    return out


# --- what each fault does ------------------------------------------------------------------------------------


def retry_headers(seconds: float) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``, as OpenAI sends them."""
    return {"retry-after": str(max(0, math.ceil(seconds - 1e-9))), "retry-after-ms": str(max(0, round(seconds * 1000)))}


def duration(seconds: float) -> str:
    """OpenAI's reset durations: whole milliseconds below a second (``120ms``), else Go's duration format
    (``1s``, ``8.64s``, ``1m30s``, ``6m0s``, ``1h0m0s``); zero is ``0s``.

    >>> duration(0.12), duration(0.9999), duration(8.64), duration(90), duration(360), duration(3600), duration(0)
    ('120ms', '1s', '8.64s', '1m30s', '6m0s', '1h0m0s', '0s')
    """
    ms = round(max(0.0, seconds) * 1000)
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    text = f"{whole}" + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def rate_limit_error(model: str, *, kind: str, limit: int, used: int, requested: float, wait: float,
                     headers: Mapping[str, str]) -> APIError:
    """The real API's 429 ``rate_limit_exceeded``: error ``type`` ``requests`` or ``tokens``, the message with
    the limit's numbers, and ``retry-after`` / ``retry-after-ms`` for ``wait`` (added to ``headers``)."""
    unit = "RPM" if kind == "requests" else "TPM"
    out = dict(headers)
    out.update(retry_headers(wait))
    return APIError(429, f"Rate limit reached for {model} in organization org-mockai on {kind} per min ({unit}): "
                         f"Limit {limit}, Used {used}, Requested {requested:g}. Please try again in "
                         f"{duration(wait)}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                    type=kind, code="rate_limit_exceeded", headers=out)


QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more information "
                 "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.")


def quota_error(headers: Mapping[str, str] | None = None) -> APIError:
    """The real API's 429 ``insufficient_quota`` (error ``type`` and ``code`` both ``insufficient_quota``)."""
    return APIError(429, QUOTA_MESSAGE, type="insufficient_quota", code="insufficient_quota",
                    headers=dict(headers or {}))


def error_for(f: Fault, ex: Exchange) -> APIError:
    """The error an error fault answers with: the real API's status, envelope and headers."""
    model = ex.prompt.model
    wait = f.arg
    kind = f.kind
    if kind == "429":
        wait = 1.0 if wait is None else wait
        limiter = getattr(ex.engine, "rate_limiter", None)
        if limiter is not None and limiter.active:  # the limiter's own numbers, its bucket spent
            headers = limiter.headers(ex)
            unit = "requests" if limiter.rpm else "tokens"
            limit = limiter.rpm if limiter.rpm else limiter.tpm
            requested: float = 1 if unit == "requests" else limiter.estimate(ex)
            headers[f"x-ratelimit-remaining-{unit}"] = "0"
            return rate_limit_error(model, kind=unit, limit=limit, used=limit, requested=requested, wait=wait,
                                    headers=headers)
        headers = {
            "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": duration(wait), "x-ratelimit-limit-tokens": "200000",
            "x-ratelimit-remaining-tokens": str(max(0, 200000 - ex.prompt_tokens)),
            "x-ratelimit-reset-tokens": duration(wait * 0.1)}
        return rate_limit_error(model, kind="requests", limit=500, used=500, requested=1, wait=wait, headers=headers)
    headers = retry_headers(wait) if wait is not None else {}
    if kind == "quota":
        return quota_error(headers)
    status = int(kind)
    known: dict[int, tuple[str, str | None, str | None]] = {
        400: ("Invalid request: the request could not be understood (mockai fault).", None, None),
        401: ("Incorrect API key provided: sk-mock******test. You can find your API key at "
              "https://platform.openai.com/account/api-keys.", None, "invalid_api_key"),
        403: ("Country, region, or territory not supported", None, "unsupported_country_region_territory"),
        404: (f"The model `{model}` does not exist or you do not have access to it.", None, "model_not_found"),
        409: ("Another request is already being processed for this resource. Please retry.", None, None),
        422: ("The request was well-formed but could not be processed.", None, None),
        500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
        502: ("Bad gateway.", "cf_bad_gateway", None),
        503: ("The engine is currently overloaded, please try again later.", "server_error", None),
        504: ("Gateway timeout.", "cf_gateway_timeout", None),
    }
    message, type_, code = known.get(status, (f"Error {status} (mockai fault).", None, None))
    return APIError(status, message, type=type_, code=code, headers=headers)


def preempt(f: Fault, ex: Exchange) -> HTTPResponse:
    """The response of a preemptive fault (an error, a reset, a hang, an empty body)."""
    from .http import Delivery, HTTPResponse

    if f.kind == "reset":
        return HTTPResponse(0, {}, delivery=Delivery(reset=True))
    if f.kind == "hang":
        return HTTPResponse(0, {}, delivery=Delivery(hang=min(HANG_MAX, HANG_DEFAULT if f.arg is None else f.arg)))
    if f.kind == "empty":
        if ex.prompt.stream:
            return HTTPResponse(200, {"content-type": "text/event-stream; charset=utf-8"}, events=[])
        return HTTPResponse(200, {"content-type": "application/json"}, body=b"")
    err = error_for(f, ex)
    ex.call.error = err
    return ex.engine.error_response(err)


def _half(n: int) -> int:
    return max(1, n // 2)


def reshape(f: Fault, ex: Exchange, response: HTTPResponse) -> HTTPResponse:
    """Apply a stream fault (cut, error event, malformed event, stall) to a successful response."""
    from .http import Delivery

    if response.status != 200 or f.kind not in ("cut", "error_event", "malformed", "stall"):
        return response
    d = response.delivery or Delivery()
    arg = None if f.arg is None else int(f.arg)
    if response.events is None:  # a JSON reply: the closest thing to each stream fault
        if f.kind == "cut":  # the head is sent, then the connection drops: no byte of the body
            return dataclasses.replace(response, body=b"", delivery=dataclasses.replace(d, cut_after=0))
        if f.kind == "error_event":
            err = APIError(500, "The server had an error while processing your request. Sorry about that!",
                           type="server_error")
            ex.call.error = err
            return ex.engine.error_response(err)
        if f.kind == "malformed":
            return dataclasses.replace(response, body=response.body[: len(response.body) // 2])
        pause = STALL_DEFAULT if f.arg is None else f.arg
        return dataclasses.replace(response, delivery=dataclasses.replace(d, delay=d.delay + pause))
    events = list(response.events)
    data = len(events) - ex.wire.trailer  # events before the trailer (chat's [DONE])
    if f.kind == "cut":
        k = min(_half(data) if arg is None else arg, data)
        # The journal keeps what goes on the wire: the events sent before the drop, not the ones never sent.
        return dataclasses.replace(response, events=events[:k], delivery=dataclasses.replace(d, cut_after=k))
    if f.kind == "error_event":
        k = min(_half(data) if arg is None else arg, data)
        err = APIError(500, "The server had an error while processing your request. Sorry about that!",
                       type="server_error")
        return dataclasses.replace(response, events=[*events[:k], ex.wire.stream_error(err, ex, k)])
    if f.kind == "malformed":
        k = min(_half(data) if arg is None else arg, max(0, data - 1))
        event = events[k].rstrip(b"\n")
        events[k] = event[: max(len(b"data: {"), len(event) // 2)] + b"\n\n"
        return dataclasses.replace(response, events=events)
    pause = STALL_DEFAULT if f.arg is None else f.arg
    gaps = [*(d.gaps or [])]
    gaps = [gaps[min(i, len(gaps) - 1)] if gaps else 0.0 for i in range(len(events) - 1)]
    if gaps:
        gaps[_half(len(gaps)) - 1] += pause
    else:
        return dataclasses.replace(response, delivery=dataclasses.replace(d, delay=d.delay + pause))
    return dataclasses.replace(response, delivery=dataclasses.replace(d, gaps=gaps))


def rewrite(f: Fault, reply: Reply) -> Reply:
    """Apply a content fault (length, content_filter, refusal, empty_content) to a reply: a new plain
    :class:`Reply` (never a drawn one's pre-split events) that the engine renders and splits itself. Cassette
    replays never reach it: content faults do not apply to them."""
    if f.kind not in CONTENT_KINDS:
        return reply
    # A plain Reply, whatever came in: a drawn reply's pre-split stream events and meta (a SplitReply from the
    # fuzz responder or a queued drawn stream) would send the original text, so the engine splits this one anew.
    choices = []
    for c in reply.choices:
        if f.kind == "refusal":
            choices.append(Choice(content=None, refusal=REFUSAL, finish_reason="stop"))
        elif f.kind == "empty_content":
            choices.append(Choice(content="", finish_reason="stop"))
        else:
            finish: FinishReason = "length" if f.kind == "length" else "content_filter"
            toks = c.content_tokens()
            keep = _half(len(toks)) if f.arg is None else int(f.arg)
            content = "".join(toks[:keep]) if c.content is not None else None
            # The call as it was (its id, its type: a custom call stays one), its arguments or input cut.
            calls = [dataclasses.replace(t, arguments="".join(split(t.arguments)[: _half(len(split(t.arguments)))]))
                     for t in c.tool_calls] if finish == "length" else []
            if content is None and not calls:
                content = ""
            choices.append(Choice(content=content, tool_calls=calls, finish_reason=finish))
    return Reply(choices, model=reply.model)


# --- the plan: which call gets which fault ---------------------------------------------------------------------


class FaultPlan:
    """The engine's faults: the header switch, per-call-number faults, queued faults and the random schedule.

    Installed on every engine as ``engine.fault_plan`` (an interceptor, a reply transform and a finisher).

    >>> from mockai.engine import Engine, Config
    >>> plan = Engine(Config(faults="429:0.5", seed=3)).fault_plan
    >>> plan.schedule
    {'429': 0.5}
    """

    name = "faults"

    def __init__(self, engine: Core) -> None:
        config = engine.config
        self.engine = engine
        self.header = config.fault_header
        self.schedule = parse_schedule(config.faults)
        self._table = [(Fault.parse(k), p) for k, p in self.schedule.items()]
        self.queued: list[Fault] = []
        self.by_call: dict[int, Fault] = {}
        self.count = 0
        self._seen = Occurrences()  # per request: how often the schedule drew for it
        self._lock = threading.Lock()

    def add(self, spec: str | Fault, arg: float | None = None, *, times: int = 1,
            on_call: int | None = None) -> Fault:
        """Fault the next ``times`` chat requests, or chat request number ``on_call`` (1 is the first)."""
        f = Fault.parse(spec, arg)
        with self._lock:
            if on_call is not None:
                if on_call < 1:
                    raise ValueError("on_call counts chat requests from 1")
                self.by_call[on_call] = f
            else:
                if times < 1:
                    raise ValueError("times must be at least 1")
                self.queued.extend([f] * times)
        return f

    def unused(self) -> list[str]:
        with self._lock:
            out = [f"queued fault {f} was never used" for f in self.queued]
            made = f"{self.count} request{'' if self.count == 1 else 's'} for a model reply"
            out += [f"fault {f} for call #{n} was never used (only {made} came)"
                    for n, f in sorted(self.by_call.items()) if n > self.count]
        return out

    def clear(self) -> None:
        with self._lock:
            self.queued.clear()
            self.by_call.clear()

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self._seen.clear()

    def choose(self, ex: Exchange) -> Fault | None:
        if self.header:
            raw = ex.http.headers.get(HEADER)
            if raw is not None and raw.strip():
                try:
                    return Fault.parse(raw)
                except ValueError as exc:
                    raise APIError(400, f"Invalid X-Mockai-Fault header: {exc}.", code="invalid_fault") from None
        with self._lock:
            self.count += 1
            number = self.count
            if number in self.by_call:
                return self.by_call[number]
            if self.queued:
                return self.queued.pop(0)
        if self._table:
            return self.draw(ex)
        return None

    def draw(self, ex: Exchange) -> Fault | None:
        """The schedule's pick for this request: a function of the seed, the request and its occurrence."""
        key = ex.exact  # the digest of the whole body, canonical
        occurrence, epoch = self._seen.next(key)
        era = b"|%d" % epoch if epoch else b""  # the counts started over: draw anew (as before, until they do)
        digest = hashlib.sha256(b"faults|%d|%s|%d%s" % (ex.seed, key, occurrence, era)).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        total = 0.0
        for f, p in self._table:
            total += p
            if u < total:
                return f
        return None

    # hooks -------------------------------------------------------------------------------------------------

    def __call__(self, ex: Exchange) -> HTTPResponse | None:
        if not (self.header or self.queued or self.by_call or self._table):
            return None
        f = self.choose(ex)
        if f is None:
            return None
        ex.call.fault = str(f)
        return preempt(f, ex) if f.preemptive else None

    def transform(self, ex: Exchange, reply: Reply) -> Reply:
        if ex.call.fault is None:
            return reply
        return rewrite(Fault.parse(ex.call.fault), reply)

    def finish(self, ex: Exchange, response: HTTPResponse) -> HTTPResponse:
        if ex.call.fault is None:
            return response
        return reshape(Fault.parse(ex.call.fault), ex, response)


def scripted(f: Fault, reply: Any, ex: Exchange) -> Any:
    """What a rule or queued item with a fault answers (see :meth:`mockai.Rule.fault`)."""
    if ex.call.fault is None:
        ex.call.fault = str(f)
        if f.preemptive:
            return preempt(f, ex)
    if reply is None:
        return ex.wire.default(ex)
    return ex.wire.build(reply, ex)


def install(engine: Core) -> FaultPlan:
    """Install the fault plan for ``engine.config`` (an interceptor, a reply transform and a reset hook) and return
    it; its finisher (:meth:`FaultPlan.finish`) goes after latency's, which the wiring adds in that order."""
    plan = FaultPlan(engine)
    engine.interceptors.append(plan)
    engine.transforms.append(plan.transform)
    engine.on_reset.append(plan.reset)
    return plan
