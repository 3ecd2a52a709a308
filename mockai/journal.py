"""The journal: every call the engine answered, with assertion helpers in ``unittest.mock``'s vocabulary.

The journal keeps every call unless the engine's configuration bounds it: by count (``journal_size``) and by
bytes (``journal_bytes``, 8 MiB under ``mockai serve``), dropping the oldest calls first and always keeping the
newest. The bytes are estimates (:func:`call_bytes`) of what a call keeps alive: its body, the parsed request,
the response and the reply; a test measures them against the real footprint.

>>> calls = CallList()
>>> calls.called, calls.call_count
(False, 0)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

from .errors import APIError
from .http import HTTPRequest, HTTPResponse
from .prompt import Prompt
from .suggest import checked_keywords, did_you_mean

if TYPE_CHECKING:
    from .reply import Reply


@dataclass
class Call:
    """One entry of the journal: what came in (raw, parsed, and as the API-neutral :class:`~mockai.prompt.Prompt`)
    and what went out.

    ``route`` names the operation (``chat``, ``responses``, ``embeddings``, ``models``…); ``request`` is the
    validated request in that API's own models, ``prompt`` its neutral view (for the APIs that ask for a model
    reply). ``unexpected`` is set when a strict engine had no scripted reply for the request.
    """

    http: HTTPRequest
    route: str
    response: HTTPResponse
    body: dict[str, Any] | None = None
    request: Any = None
    reply: Reply | None = None
    error: APIError | None = None
    unexpected: bool = False
    responder: str | None = None
    fault: str | None = None  # the fault applied to this call (mockai.faults), e.g. "429" or "cut=3"
    prompt: Prompt | None = None
    source: str | None = None  # which scripted reply answered: "rule 'greet'", "rule #2", "queue #1"
    # Why the answer ended before all of it was sent, when it did without a fault: "client" (the client left) or
    # "stopped" (the server stopped); ``response`` then holds the part that was sent.
    ended: str | None = None
    # The call's estimated bytes (call_bytes), measured once as it enters a byte-bounded journal.
    size: int = field(default=0, repr=False, compare=False)
    # Its place in the journal's order (from 0), given as it is recorded; -1 until then.
    seq: int = field(default=-1, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"<Call {self.describe()}>"

    @property
    def answered_by(self) -> str | None:
        """Who answered, in a few words: ``"rule 'greet'"``, ``"rule #2"`` (no name: its place, from 1),
        ``"queue #1"``, ``"generator"``, ``"fuzz"``, ``"cassette"`` (replayed), ``"cassette (recorded)"``,
        ``"faults"``, ``"ratelimit"``; ``None`` when mockai's own checks refused the request first.

        A rule's fault on a reply the generator wrote reads ``"generator (fault of rule #1)"``.
        """
        responder = self.responder
        if responder == "script":
            return self.source or responder
        if responder == "cassette" and self.response.live is not None:
            return "cassette (recorded)"
        if responder is not None and self.source is not None:
            return f"{responder} (fault of {self.source})"
        return responder

    @property
    def last_user_text(self) -> str:
        return self.prompt.last_user_text if self.prompt is not None else ""

    @property
    def model(self) -> str | None:
        """The model asked for, whatever the API (``None`` when the request had none or did not parse)."""
        if self.prompt is not None:
            return self.prompt.model
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    @property
    def stream(self) -> bool:
        return self.prompt.stream if self.prompt is not None else bool(self.response.is_stream)

    @property
    def status(self) -> int:
        return self.response.status

    def describe(self, status: bool = True) -> str:
        what = f"{self.http.method} {self.http.path}" + (f" -> {self.response.status}" if status else "")
        if self.prompt is not None and self.prompt.api in ("embeddings", "moderations"):
            texts = self.prompt.texts  # what was embedded (or moderated): one turn per input
            shown = ", ".join(repr(_clip(t, 40)) for t in texts[:3]) + (f", … {len(texts) - 3} more" * (len(texts) > 3))
            what += f" model={self.prompt.model!r} input=[{shown}]"
        elif self.prompt is not None:
            what += f" model={self.prompt.model!r} last_user={_clip(self.last_user_text)!r}"
            if self.prompt.tools:
                what += f" tools={[t.name for t in self.prompt.tools]}"
            if self.prompt.stream:
                what += " stream"
        elif self.model is not None:
            what += f" model={self.model!r}"
        elif self.body is None and self.http.body:
            what += f" body={_clip(self.http.body.decode('utf-8', 'replace'))!r}"
        if self.error is not None:
            what += f" error={_clip(self.error.message)!r}"
        if self.fault is not None:
            what += f" fault={self.fault}"
        return what


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


class CallList(list[Call]):
    """A list of :class:`Call` with ``last``, ``call_count``, ``called`` and filters."""

    @property
    def last(self) -> Call:
        __tracebackhide__ = True
        if not self:
            raise AssertionError("no call was made")
        return self[-1]

    @property
    def call_count(self) -> int:
        return len(self)

    @property
    def called(self) -> bool:
        return bool(self)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Call: ...

    @overload
    def __getitem__(self, index: slice) -> CallList: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Call | CallList:
        if isinstance(index, slice):
            return CallList(super().__getitem__(index))
        return super().__getitem__(index)

    @checked_keywords
    def filter(self, *, route: str | None = None, model: str | None = None, status: int | None = None,
               stream: bool | None = None, where: Callable[[Call], bool] | None = None) -> CallList:
        """The calls matching every condition: ``calls.filter(route="chat", model="gpt-4o")``."""
        def keep(c: Call) -> bool:
            return (
                (route is None or c.route == route)
                and (model is None or c.model == model)
                and (status is None or c.response.status == status)
                and (stream is None or c.stream == stream)
                and (where is None or where(c))
            )

        return CallList(c for c in self if keep(c))

    # --- assertions -----------------------------------------------------------------------------------------

    def assert_called(self) -> None:
        __tracebackhide__ = True
        if not self:
            raise AssertionError("expected a call to the mock; none was made")

    def assert_not_called(self) -> None:
        __tracebackhide__ = True
        if self:
            raise AssertionError(f"expected no call; {len(self)} were made:\n{self.describe()}")

    def assert_called_once(self) -> None:
        __tracebackhide__ = True
        if len(self) != 1:
            raise AssertionError(f"expected 1 call; {len(self)} were made:\n{self.describe()}")

    def assert_call_count(self, count: int) -> None:
        __tracebackhide__ = True
        if len(self) != count:
            raise AssertionError(f"expected {count} calls; {len(self)} were made:\n{self.describe()}")

    def assert_any_call(self, *, model: str | None = None, last_user: str | re.Pattern[str] | None = None,
                        **params: Any) -> None:
        """Some call had this model, a last user message containing (or matching) ``last_user``, and these
        request parameters (compared with the JSON body: ``temperature=0``, ``tool_choice="required"``; a call
        that did not send ``stream`` is not streamed, as for :meth:`filter`).

        A parameter that no call's API has and no call sent is a :class:`TypeError` (a misspelling), as for
        :meth:`filter`.
        """
        __tracebackhide__ = True
        self._check_params(params)
        asked: dict[str, Any] = {k: v for k, v in (("model", model), ("last_user", last_user)) if v is not None}
        asked.update(params)
        if any(_matches(c, asked) for c in self):
            return
        want = ", ".join(f"{k}={v!r}" for k, v in asked.items())
        shown = "\n".join(f"  [{i}] {c.describe()}\n      {_compared(c, asked)}" for i, c in enumerate(self))
        raise AssertionError(f"no call with {want}; the calls were:\n{shown or '  (none)'}")

    def _check_params(self, params: dict[str, Any]) -> None:
        if not self:
            return  # nothing to check them against (and the assertion fails anyway)
        known = {"model", "last_user", "stream"}.union(*(_params(c) for c in self))
        for name in params:
            if name not in known:
                raise TypeError(f"CallList.assert_any_call() got an unexpected keyword argument {name!r}"
                                f"{did_you_mean(name, sorted(known))} It takes model, last_user and request "
                                "parameters: those of the calls' APIs, and any other parameter a call sent.")

    def describe(self) -> str:
        return "\n".join(f"  [{i}] {c.describe()}" for i, c in enumerate(self)) or "  (none)"

    # --- reading it -----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        if not self:
            return "<CallList: no calls>"
        many = f"{len(self)} call{'s' if len(self) != 1 else ''}"
        return f"<CallList: {many}, last: {self[-1].describe()}>"

    def __str__(self) -> str:
        return self.transcript()

    def transcript(self, *, last: int | None = None, max_chars: int | None = None) -> str:
        """The calls as a readable transcript (see :mod:`mockai.transcript`): each call's conversation, tools,
        reply or error, and a stream's timing. ``last`` keeps only the newest calls, ``max_chars`` cuts the
        oldest ones that do not fit; either says what it left out.

        >>> print(CallList().transcript())
        no calls
        """
        from .transcript import transcript

        return transcript(self, last=last, max_chars=max_chars)

    def show(self, *, last: int | None = None) -> None:
        """Print :meth:`transcript`: ``mock.calls.show()``; ``mock.calls.show(last=3)``."""
        print(self.transcript(last=last))


_ABSENT = object()


def _params(call: Call) -> set[str]:
    """The parameters ``call``'s API takes (its validated request's fields) and those it sent."""
    fields = getattr(type(call.request), "model_fields", {})
    return {f.alias or name for name, f in fields.items()} | (set(call.body) if isinstance(call.body, dict) else set())


def _value(call: Call, name: str) -> Any:
    """What ``call`` has for ``name`` of :meth:`CallList.assert_any_call` (``_ABSENT`` when it did not send it)."""
    if name == "model":
        return call.model
    if name == "last_user":
        return call.last_user_text
    if name == "stream":
        return call.stream  # the SDK leaves ``stream`` out of a body that does not stream
    return call.body.get(name, _ABSENT) if isinstance(call.body, dict) else _ABSENT


def _agrees(call: Call, name: str, want: Any) -> bool:
    value = _value(call, name)
    if name == "last_user":
        return bool(want.search(value)) if isinstance(want, re.Pattern) else str(want).lower() in value.lower()
    return bool((None if value is _ABSENT else value) == want)


def _matches(call: Call, asked: dict[str, Any]) -> bool:
    if call.request is None or call.body is None:
        return False
    return all(_agrees(call, name, want) for name, want in asked.items())


def _compared(call: Call, asked: dict[str, Any]) -> str:
    """The values ``call`` has for the fields asked, those that differ marked."""
    if call.request is None or call.body is None:
        return "(not compared: no validated request body)"
    shown = []
    for name, want in asked.items():
        value = _value(call, name)
        text = f"{name} not sent" if value is _ABSENT else f"{name}={_clip(value) if name == 'last_user' else value!r}"
        shown.append(text if _agrees(call, name, want) else text + " (differs)")
    return ", ".join(shown)


def summarize(body: Any, size: int = 160) -> str:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= size else text[: size - 1] + "…"



# --- sizes, for bounding the journal and the engine's memos by bytes -------------------------------------------

_CALL = 3 * 1024  # a call's own objects: Call, HTTPRequest, HTTPResponse, their header dicts
_CONTAINER = 900  # one JSON object or array of a request once parsed: a dict or list, and mostly a pydantic model


def parsed_bytes(body: bytes) -> int:
    """About the memory a request body takes once parsed (its dict and its pydantic request): its text twice
    over, and a dict and a model per JSON object or array.

    >>> parsed_bytes(b'{"model": "m", "messages": [{"role": "user", "content": "Hi"}]}')
    4874
    """
    return 2 * len(body) + _CONTAINER * (body.count(b"{") + body.count(b"[")) + 2048


def reply_bytes(reply: Reply) -> int:
    """About the memory a :class:`~mockai.reply.Reply` takes: its text, its tokens and logprobs when made."""
    total = 512
    for c in reply.choices:
        total += 600 + 2 * (len(c.content or "") + len(c.refusal or ""))
        total += sum(300 + 2 * (len(t.name) + len(t.arguments)) for t in c.calls)
        total += 72 * len(c.tokens or ())  # the content split into tokens, for streams, usage and logprobs
        total += sum(200 + 2 * len(lp.token) + 150 * len(lp.top) for lp in c.logprobs or ())
    return total


def call_bytes(call: Call) -> int:
    """About the memory one journal entry keeps alive: request, parsed request, response and reply."""
    http, res = call.http, call.response
    size = _CALL + len(http.body) + 100 * len(http.headers) + 100 * len(res.headers) + len(res.body)
    if http.body:  # parsed, or kept by the validation error that refused it (an APIError's __context__)
        size += parsed_bytes(http.body)
    if res.events is not None:
        size += sum(map(len, res.events)) + 40 * len(res.events)
    if call.reply is not None:
        size += reply_bytes(call.reply)
    return size


def trim(calls: list[Call], budget: int) -> int:
    """Drop the oldest calls until the others hold at most three quarters of ``budget`` bytes (so trimming, which
    measures every call, comes once per quarter budget of new calls); the newest call always stays. Returns the
    bytes the journal then holds.
    """
    sizes = [c.size or call_bytes(c) for c in calls]  # summed afresh: a reset may have emptied the journal
    total = sum(sizes)
    target = budget * 3 // 4
    drop = 0
    while total > target and drop < len(calls) - 1:
        total -= sizes[drop]
        drop += 1
    del calls[:drop]
    return total
