"""Scripted replies: rules that match requests, and a queue of replies used once each, in order.

The vocabulary is ``unittest.mock``'s and respx's: a rule has ``calls``, ``call_count`` and ``called``; its
reply is a ``return_value`` or a ``side_effect`` (a list used in order, a callable of the request, or an error).

>>> script = Script()
>>> rule = script.on(last_user="weather").reply("Sunny, 21°C.")
>>> rule.call_count
0
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .errors import PASSED_ON, SOCKET_DOOR, APIError, CallbackError
from .faults import Fault, Faulted, scripted
from .matchers import MATCHER_NAMES, MATCHERS, Text, check_on, check_times, clip, tool_result_name
from .reply import Choice, Reply, TokenLogprob, ToolCall
from .shapes import DrawnStream, SplitReply, as_reply
from .specs import (
    _MISSING,
    SHORT_FORM_FIELDS,
    ReplySpec,
    answers,
    call,
    check_spec,
    error,
    reply_spec,
    short_form,
    short_form_fields,
    spec_apis,
)
from .suggest import checked_keywords

if TYPE_CHECKING:
    from .core import Exchange

KEPT_CALLS = 1000  # calls a rule keeps in ``calls`` (the newest); ``call_count`` counts them all
P = ParamSpec("P")
R = TypeVar("R")
# A predicate of the validated request, in its API's own models (a chat or a Responses request).
Predicate = Callable[[Any], bool]
# Most reply specs live in mockai.specs; these names are kept here, where scripting code has always found them.
__all__ = ["MATCHER_NAMES", "SHORT_FORM_FIELDS", "SOCKET_DOOR", "_MISSING", "CallbackError", "Predicate", "ReplySpec",
           "Rule", "Script", "Text", "build", "call", "check_on", "check_spec", "check_times", "error",
           "from_completion", "reply_spec", "short_form", "short_form_fields", "tool_result_name"]
def build(spec: ReplySpec, request: Any, n: int | None = None) -> Reply | APIError:
    """Turn any reply spec into a :class:`Reply` (or an :class:`APIError`) for ``request``, which asked for ``n``
    choices (by default the request's own ``n``; a one-choice reply is repeated for each)."""
    if n is None:
        n = getattr(request, "n", None) or 1
    if callable(spec) and not isinstance(spec, (Reply, ToolCall, APIError)):
        return build(spec(request), request, n)
    if isinstance(spec, BaseException) and not isinstance(spec, APIError):
        raise spec
    if isinstance(spec, APIError):
        return spec
    if isinstance(spec, (DrawnStream, SplitReply)):
        return as_reply(spec)  # drawn by mockai.strategies: sent exactly as drawn, whatever the request's n
    if isinstance(spec, str):
        reply = Reply.text(spec)
    elif isinstance(spec, Reply):
        reply = spec.copy()
    elif isinstance(spec, ToolCall):
        reply = Reply([Choice(tool_calls=[ToolCall(spec.name, spec.arguments, spec.id, spec.type)],
                              finish_reason="tool_calls")])
    elif hasattr(spec, "model_dump") and not isinstance(spec, Mapping):
        return build(spec.model_dump(mode="json"), request, n)
    elif isinstance(spec, Mapping):
        if "error" in spec:
            err = spec["error"]
            return error(int(err.get("status", 400)), err.get("message"), code=err.get("code"),
                         type=err.get("type"), param=err.get("param"), headers=err.get("headers"))
        if "choices" in spec:
            reply = from_completion(spec)
        elif "output" in spec:
            reply = from_response(spec)
        else:
            reply = Reply([short_form(spec)])
    else:
        raise TypeError(f"cannot reply with {type(spec).__name__}: {spec!r}")
    if len(reply.choices) == 1 and n > 1:
        reply.choices = [reply.copy().choices[0] for _ in range(n)]
    return reply


def from_completion(data: Mapping[str, Any]) -> Reply:
    """A full ``chat.completion`` (as a dict) back into a :class:`Reply`."""
    choices = []
    for ch in sorted(data["choices"], key=lambda c: c.get("index", 0)):
        msg = ch.get("message") or {}
        calls = [ToolCall(t["custom"]["name"], t["custom"]["input"], t.get("id"), "custom")
                 if t.get("type") == "custom" else ToolCall(t["function"]["name"], t["function"]["arguments"],
                                                            t.get("id"))
                 for t in msg.get("tool_calls") or []]
        legacy = msg.get("function_call")
        lps = (ch.get("logprobs") or {}).get("content")
        choices.append(Choice(
            content=msg.get("content"), tool_calls=calls, refusal=msg.get("refusal"),
            finish_reason=ch.get("finish_reason") or ("tool_calls" if calls else "stop"),
            function_call=ToolCall(legacy["name"], legacy.get("arguments") or "") if legacy else None,
            logprobs=[TokenLogprob(t["token"], t["logprob"], [(a["token"], a["logprob"]) for a in t["top_logprobs"]])
                      for t in lps] if lps else None,
        ))
    return Reply(choices, model=data.get("model"), usage=data.get("usage"))


def from_response(data: Mapping[str, Any]) -> Reply:
    """A Responses API ``response`` (as a dict) back into a one-choice :class:`Reply`: its message text, refusal,
    annotations and reasoning summary, its function and custom tool calls, and its finish."""
    choice = Choice(content=None)
    texts: list[str] = []
    for item in data.get("output") or []:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
                    choice.annotations.extend(part.get("annotations") or [])
                elif part.get("type") == "refusal":
                    choice.refusal = part.get("refusal")
        elif kind == "function_call":
            choice.tool_calls.append(ToolCall(item["name"], item.get("arguments") or "", item.get("call_id")))
        elif kind == "custom_tool_call":
            choice.tool_calls.append(ToolCall(item["name"], item.get("input") or "", item.get("call_id"), "custom"))
        elif kind == "reasoning":
            choice.reasoning = " ".join(s.get("text") or "" for s in item.get("summary") or [])
    if texts or (choice.refusal is None and not choice.tool_calls):
        choice.content = "".join(texts)
    reason = (data.get("incomplete_details") or {}).get("reason")
    choice.finish_reason = ("length" if reason == "max_output_tokens" else "content_filter" if reason else
                            "tool_calls" if choice.tool_calls else "stop")
    return Reply([choice], model=data.get("model"), usage=None)


def _scripting(method: Callable[Concatenate[Rule, P], R]) -> Callable[Concatenate[Rule, P], R]:
    """A mistake in the first reply given to a rule removes the rule, so it does not fail teardown too."""
    @functools.wraps(method)
    def wrapper(rule: Rule, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(rule, *args, **kwargs)
        except BaseException:
            if rule._script is not None and not rule.scripted:
                rule._script.discard(rule)
            raise

    return wrapper


@dataclass
class Rule:
    """A scripted reply for the requests it matches; see :meth:`Script.on`."""

    matchers: dict[str, Any]
    where: Predicate | None = None
    name: str | None = None
    times: int | None = None
    return_value: ReplySpec = None
    side_effect: ReplySpec = None
    # The newest calls this rule answered (at most KEPT_CALLS, and none the journal has dropped when its size or
    # bytes are bounded, as under `mockai serve`: a rule answering a load test must not keep every request
    # alive); ``call_count`` counts them all.
    calls: list[Any] = field(default_factory=list)
    _count: int = field(default=0, repr=False)
    _effects: Iterator[Any] | None = field(default=None, repr=False)
    _fault: Fault | None = field(default=None, repr=False)
    _script: Script | None = field(default=None, repr=False, compare=False)
    _apis: tuple[Any, tuple[str, ...] | None] | None = field(default=None, repr=False, compare=False)
    _sequence: int = field(default=0, repr=False, compare=False)  # replies given to sequence(), if it was used

    # --- scripting ------------------------------------------------------------------------------------------

    @_scripting
    @checked_keywords
    def reply(self, content: str | None = None, *, tool_calls: Sequence[ToolCall] | None = None,
              json: Any = _MISSING, refusal: str | None = None, finish_reason: str | None = None,
              times: int | None = None) -> Rule:
        """Answer with text, tool calls, a JSON value (structured outputs) or a refusal.

        ``json`` is sent as the content, so it excludes ``content``; a ``refusal`` excludes both and
        ``tool_calls``. A mistake raises here, and leaves no half-made rule behind.
        """
        return self.respond(reply_spec(content, tool_calls=tool_calls, json=json, refusal=refusal,
                                       finish_reason=finish_reason), times=times)

    @_scripting
    def respond(self, spec: ReplySpec, *, times: int | None = None) -> Rule:
        """Answer with any reply spec: a :class:`Reply`, a full completion, a callable of the request…"""
        check_spec(spec)
        check_times(times)
        self.return_value, self.side_effect, self._effects = spec, None, None
        if times is not None:
            self.times = times
        return self

    @_scripting
    def error(self, /, status: int, message: str | None = None, *, code: str | None = None,
              times: int | None = None, **kwargs: Any) -> Rule:
        """Answer with an error in OpenAI's envelope."""
        return self.respond(error(status, message, code=code, **kwargs), times=times)

    @_scripting
    def fault(self, spec: str | Fault, arg: float | None = None, *, times: int | None = None) -> Rule:
        """Apply a fault (see :mod:`mockai.faults`) to this rule's answers: an error, a reset, a cut stream….

        With no reply scripted, the generator answers and the fault applies to that.

        >>> Script().on(stream=True).fault("cut=3").describe()
        'on(stream=True, fault=cut=3)'
        """
        check_times(times)
        self._fault = Fault.parse(spec, arg)
        if times is not None:
            self.times = times
        return self

    @_scripting
    def sequence(self, *specs: ReplySpec) -> Rule:
        """Answer the first match with ``specs[0]``, the next with ``specs[1]``…; matches no more afterwards."""
        if not specs:
            raise ValueError("sequence() needs at least one reply")
        for spec in specs:
            check_spec(spec)
        self.side_effect, self.return_value = list(specs), None
        self._effects = None
        self._sequence = len(specs)
        self.times = len(specs) if self.times is None else min(self.times, len(specs))
        return self

    @property
    def scripted(self) -> bool:
        """Whether a reply, a sequence or a fault was given (a rule without any cannot answer)."""
        return self.return_value is not None or self.side_effect is not None or self._fault is not None

    # --- the journal of this rule ---------------------------------------------------------------------------

    @property
    def call_count(self) -> int:
        return self._count

    @property
    def called(self) -> bool:
        return self._count > 0

    def record(self, call: Any) -> None:
        """Count a call this rule answered, and keep it among the newest :data:`KEPT_CALLS`."""
        self._count += 1
        self.calls.append(call)
        if len(self.calls) >= 2 * KEPT_CALLS:
            del self.calls[:-KEPT_CALLS]  # amortized: trim once twice the bound piled up

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self._count >= self.times

    def whose(self) -> str:
        """Whose code raised, in a :class:`~mockai.errors.CallbackError`: ``rule on(...)``."""
        return f"rule {self.describe()}"

    def describe(self) -> str:
        parts = [f"{k}=/{v.pattern}/" if isinstance(v, re.Pattern) else f"{k}={v!r}" for k, v in self.matchers.items()]
        if self.where is not None:
            parts.append(f"where={getattr(self.where, '__name__', 'callable')}")
        if self.times is not None and self.times != self._sequence:  # (a sequence's own length is said below)
            parts.append(f"times={self.times}")
        if self._fault is not None:
            parts.append(f"fault={self._fault}")
        label = f"{self.name!r} " if self.name else ""
        sequence = f".sequence({self._sequence} replies)" if self._sequence else ""
        return f"{label}on({', '.join(parts)}){sequence}"

    # --- matching -------------------------------------------------------------------------------------------

    def miss(self, ex: Exchange) -> str | None:
        """Why this rule does not match the request, or ``None`` when it does."""
        if self.exhausted:
            return f"used up ({self.call_count} of times={self.times})"
        if "api" not in self.matchers and not self._answers(ex.prompt.api):
            return f"its reply is not one for {ex.prompt.api} requests"
        for key, want in self.matchers.items():
            reason = MATCHERS[key](ex.prompt, want)
            if reason:
                return reason
        if self.where is not None:
            try:
                ok = self.where(ex.request)
            except PASSED_ON:
                raise
            except BaseException as exc:
                raise CallbackError(exc, f"the where= predicate of rule {self.describe()}") from exc
            if not ok:
                return f"where={getattr(self.where, '__name__', 'callable')} returned False"
        return None

    def _answers(self, api: str) -> bool:
        """Whether this rule's reply can answer ``api``'s requests: worked out once per reply spec."""
        spec = self._spec()
        known = self._apis
        if known is None or known[0] is not spec:
            known = self._apis = (spec, spec_apis(spec))
        return known[1] is None or api in known[1]

    def _spec(self) -> ReplySpec:
        """The reply this rule gives (the first of a sequence), to tell which APIs it can answer."""
        if self.return_value is not None:
            return self.return_value
        return self.side_effect[0] if isinstance(self.side_effect, list) and self.side_effect else None

    def produce(self, request: Any) -> ReplySpec:
        if self.side_effect is not None:
            if isinstance(self.side_effect, BaseException) or callable(self.side_effect):
                return self.side_effect
            if self._effects is None:
                self._effects = iter(self.side_effect)
            return next(self._effects)
        if self.return_value is None:
            if self._fault is not None:
                return None  # the generator answers; the fault applies to that
            raise LookupError("the rule has no reply: call .reply(), .respond(), .error() or .fault() on it")
        return self.return_value


class Script:
    """The scripted responder: rules first (in the order added), then the queue; thread-safe."""

    name = "script"

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.queued: list[ReplySpec] = []
        self.errors: list[CallbackError] = []  # what scripted code raised, in order (see CallbackError)
        self._queue_used = 0
        self._lock = threading.RLock()
        self._ids = itertools.count()

    @checked_keywords
    def on(self, *, model: Text | None = None, last_user: Text | None = None, any_message: Text | None = None,
           has_tools: bool | None = None, tool_result: str | bool | None = None, stream: bool | None = None,
           api: str | None = None, where: Predicate | None = None, name: str | None = None,
           times: int | None = None) -> Rule:
        """A rule for requests matching every given condition.

        Text conditions are a case-insensitive substring or a compiled regular expression (searched).
        ``tool_result`` matches when the last message is the result of that function (``True``: any function,
        ``False``: not a tool result): a chat ``tool`` message or a Responses ``function_call_output`` item alike.
        ``api`` is ``"chat"`` or ``"responses"`` (which API the request came through; by default a rule answers
        both). ``where`` is any predicate of the validated request, in its API's own models
        (:class:`mockai.wire.ChatCompletionRequest` or :class:`mockai.responses.wire.CreateResponseRequest`). A
        value of the wrong kind raises ``TypeError`` here, naming the argument.
        """
        given = {"model": model, "last_user": last_user, "any_message": any_message, "has_tools": has_tools,
                 "tool_result": tool_result, "stream": stream, "api": api}
        check_on({**given, "where": where, "name": name, "times": times})
        rule = Rule({k: v for k, v in given.items() if v is not None}, where=where, name=name, times=times,
                    _script=self)
        with self._lock:
            self.rules.append(rule)
        return rule

    def discard(self, rule: Rule) -> None:
        """Remove ``rule`` (the very object) from the rules."""
        with self._lock:
            self.rules[:] = [r for r in self.rules if r is not rule]

    def queue(self, *specs: ReplySpec) -> None:
        for spec in specs:
            check_spec(spec)
        with self._lock:
            self.queued.extend(specs)

    @property
    def pending(self) -> list[ReplySpec]:
        """Queued replies not used yet."""
        return self.queued[self._queue_used:]

    def unused(self) -> list[str]:
        """What was scripted but never used: rules never matched, rules with ``times`` left, queued replies."""
        out = []
        for rule in self.rules:
            if not rule.called and not rule.scripted:
                out.append(f"rule {rule.describe()} has no reply: call .reply(), .respond(), .error() or .fault()")
            elif not rule.called:
                out.append(f"rule {rule.describe()} was never matched")
            elif rule.times is not None and rule.call_count < rule.times:
                out.append(f"rule {rule.describe()} was matched {rule.call_count} of {rule.times} times")
        out.extend(f"queued reply #{self._queue_used + i + 1} was never used: {clip(repr(s))}"
                   for i, s in enumerate(self.pending))
        return out

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.queued.clear()
            self.errors.clear()
            self._queue_used = 0

    def forget_calls_before(self, seq: int) -> None:
        """Each rule's ``calls`` lets go of the calls the bounded journal dropped (recorded before ``seq``), so a
        server's rules keep no more than its journal; a call still being answered (not yet recorded) stays."""
        for rule in list(self.rules):
            calls = rule.calls
            n = 0
            while n < len(calls) and 0 <= calls[n].seq < seq:
                n += 1
            if n:
                del calls[:n]

    def misses(self, ex: Exchange) -> list[str]:
        """Why each rule (and the queue) did not answer the request."""
        lines = []
        for i, rule in enumerate(self.rules):
            try:
                reason = rule.miss(ex) or "matches"
            except CallbackError as exc:
                reason = str(exc)
            lines.append(f"#{i + 1} {rule.describe()}: {reason}")
        if self.pending and not answers(self.pending[0], ex.prompt.api):
            lines.append(f"queue: {len(self.pending)} left, the next not one for {ex.prompt.api} requests")
        else:
            lines.append("queue: empty" if not self.pending else f"queue: {len(self.pending)} left")
        return lines

    def __call__(self, ex: Exchange) -> Any:
        with self._lock:
            for index, rule in enumerate(self.rules):
                try:
                    missed = rule.miss(ex)
                except CallbackError as err:
                    rule.record(ex.call)  # a rule whose code raised counts as matched
                    raise self._failed(err, ex) from err.exception
                if missed is None:
                    rule.record(ex.call)
                    ex.call.source = f"rule {rule.name!r}" if rule.name else f"rule #{index + 1}"
                    return self._answer(rule.produce, rule._fault, rule.whose, ex)
            if self.pending and answers(self.queued[self._queue_used], ex.prompt.api):
                spec = self.queued[self._queue_used]
                self._queue_used += 1
                ex.call.source = f"queue #{self._queue_used}"
                return self._answer(lambda _: spec, None, f"queued reply #{self._queue_used}", ex)
        return None

    def _answer(self, produce: Callable[[Any], ReplySpec], fault: Fault | None, source: str | Callable[[], str],
                ex: Exchange) -> Any:
        """Run the scripted code of one answer; what it raises (an APIError aside) becomes a CallbackError naming
        ``source`` (a rule's :meth:`Rule.whose`, called only then)."""
        try:
            spec = produce(ex.request)
            if isinstance(spec, Faulted):
                return scripted(spec.fault, spec.reply, ex)
            if fault is not None:
                return scripted(fault, spec, ex)
            return ex.wire.build(spec, ex)
        except (APIError, *PASSED_ON):
            raise
        except BaseException as exc:
            raise self._failed(CallbackError(exc, source if isinstance(source, str) else source()), ex) from exc

    def _failed(self, err: CallbackError, ex: Exchange) -> CallbackError:
        err.call = ex.call
        self.errors.append(err)
        return err

