"""``MockAI``: the object a test author holds. One engine, scripted and inspected here, reachable in-process
(httpx transport, ready-made ``openai`` clients, respx patching) and over a real socket (:meth:`MockAI.serve`).

>>> from mockai import MockAI, call
>>> mock = MockAI(seed=1)
>>> _ = mock.on(last_user="weather").reply(tool_calls=[call("get_weather", city="Oslo")])
>>> _ = mock.on(tool_result="get_weather").reply("It is 12°C in Oslo.")
>>> client = mock.client()
>>> reply = client.chat.completions.create(model="gpt-4o-mini", messages=[
...     {"role": "user", "content": "What's the weather in Oslo?"}])
>>> reply.choices[0].message.tool_calls[0].function.name
'get_weather'
>>> mock.calls.last.request.model
'gpt-4o-mini'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from .config import strings
from .engine import Call, Config, Engine
from .journal import CallList
from .models import DEFAULT_MODELS
from .reply import ToolCall
from .rules import _MISSING, CallbackError, Predicate, ReplySpec, Rule, Text, error, reply_spec
from .scenario import Scenario, apply, load_scenario, parse_scenario
from .suggest import checked_keywords

if TYPE_CHECKING:
    import httpx
    import openai

    from .cassettes import Cassette
    from .patch import Patcher
    from .server import ServerThread
    from .transport import EngineTransport

TEST_KEY = "sk-mockai-test-key"


class MockAI:
    """A fake OpenAI for one test: configuration, scripted replies, the journal and every door.

    ``models`` and ``base_urls`` take a list or a single string (a list of one). ``seed`` is an int, ``clock`` a
    Unix time, a callable returning one (``mockai.Clock()``) or ``None`` (the real time); anything else is a
    ``TypeError`` here rather than an error at every request.

    ``strict=True`` makes unscripted requests fail with a list of the rules and why each missed, instead of
    reaching the default generator. ``assert_all_called`` (default on) makes :meth:`verify` (run when a
    ``with MockAI()`` block or the pytest fixture ends) fail on scripted replies that were never used.

    Resilience (see :mod:`mockai.faults`, :mod:`mockai.latency`, :mod:`mockai.ratelimit`): ``latency`` is a
    profile (``"realistic"``, ``"ttft=0.2,per_token=0.01"``), ``faults`` a seeded random schedule
    (``"429:0.05,reset:0.01"``), ``fault_header=True`` honours the ``X-Mockai-Fault`` request header, and
    ``rpm``/``tpm`` limit requests and tokens per minute per API key (with ``clock=mockai.Clock()`` to control
    time).

    Cassettes (see :mod:`mockai.cassettes`): ``cassette`` is a file to replay from and record to;
    ``record_mode`` is ``none`` (replay only, the default), ``once``, ``new_episodes`` or ``all``; ``upstream``
    the base URL recording proxies to (default ``https://api.openai.com/v1``); ``match_on`` a
    :class:`~mockai.cassettes.Matcher` or its spec; ``scrub`` a :class:`~mockai.cassettes.Scrubber` or its spec;
    ``replay_speed`` divides recorded timing on the socket door (0: instant): streams keep their recorded timing,
    other replies answer at once unless ``replay_elapsed=True`` (they then wait their recorded elapsed time);
    ``allow_playback_repeats=True`` replays the last of identical recordings again; :meth:`reset` rewinds playback.

    ``responder="fuzz"`` answers unscripted requests with replies and streams drawn for each request from the
    shapes the Hypothesis strategies cover (see :mod:`mockai.fuzz`); ``fuzz_fragments`` is the share of them whose
    bytes are also fragmented on the socket.
    """

    @checked_keywords
    def __init__(
        self,
        *,
        seed: int = 0,
        strict: bool = False,
        assert_all_called: bool = True,
        api_key: str | None = None,
        auth: bool = True,
        models: str | Sequence[str] | None = None,
        strict_models: bool = False,
        clock: Callable[[], float] | float | None = None,
        scenario: str | Path | Sequence[str | Path] | dict[str, Any] | None = None,
        base_urls: str | Sequence[str] = (),
        other_hosts: Literal["fail", "pass"] = "fail",
        control: bool | None = None,
        control_token: str | None = None,
        max_body: int | None = None,
        latency: str | dict[str, float] | None = None,
        faults: str | dict[str, float] | None = None,
        fault_header: bool = False,
        rpm: int | None = None,
        tpm: int | None = None,
        cassette: str | Path | None = None,
        record_mode: Literal["none", "once", "new_episodes", "all"] = "none",
        upstream: str | None = None,
        match_on: Any = None,
        scrub: Any = None,
        replay_speed: float | None = 1.0,
        replay_elapsed: bool = False,
        allow_playback_repeats: bool = False,
        responder: Literal["default", "fuzz"] = "default",
        fuzz_fragments: float = 0.25,
    ) -> None:
        config = Config(seed=seed, api_key=api_key, auth=auth, models=models or DEFAULT_MODELS,
                        strict_models=strict_models, clock=clock, strict=strict, control=control,
                        control_token=control_token, latency=latency, faults=faults, fault_header=fault_header,
                        rpm=rpm, tpm=tpm, cassette=None if cassette is None else str(cassette),
                        record_mode=record_mode, upstream=upstream, match_on=match_on, scrub=scrub,
                        replay_speed=replay_speed, replay_elapsed=replay_elapsed,
                        allow_playback_repeats=allow_playback_repeats)
        if max_body is not None:
            config.max_body = max_body
        config.responder, config.fuzz_fragments = responder, fuzz_fragments  # mockai.fuzz
        self.engine = Engine(config)
        self.assert_all_called = assert_all_called
        self.base_urls = strings("base_urls", base_urls, "a base URL")
        if other_hosts not in ("fail", "pass"):  # (checked again by the Patcher; here so it fails now, not later)
            raise ValueError(f"other_hosts must be 'fail' or 'pass', not {other_hosts!r}")
        self.other_hosts = other_hosts
        self._patcher: Patcher | None = None
        self._blocks: list[bool] = []  # for each open `with mock:` block, whether it started the patching
        self._servers: list[ServerThread] = []
        if scenario is not None:
            self.load(scenario)

    def __repr__(self) -> str:
        """One line: ``<MockAI seed=1 rules=2 queued=1 calls=3, last: POST /v1/chat/completions -> 200 …>``."""
        script = self.engine.script
        line = f"<MockAI seed={self.engine.config.seed} rules={len(script.rules)} queued={len(script.pending)} "\
               f"calls={len(self.engine.calls)}"
        if self.engine.config.strict:
            line += " strict"
        running = [s for s in self._servers if s.running]
        if running:
            line += f" serving {running[-1].base_url}"
        if self.engine.calls:
            line += f", last: {self.engine.calls[-1].describe()}"
        return line + ">"

    # --- scripting -----------------------------------------------------------------------------------------

    @checked_keywords
    def on(self, *, model: Text | None = None, last_user: Text | None = None, any_message: Text | None = None,
           has_tools: bool | None = None, tool_result: str | bool | None = None, stream: bool | None = None,
           api: str | None = None, where: Predicate | None = None, name: str | None = None,
           times: int | None = None) -> Rule:
        """A rule answering the requests that match every condition given; see :meth:`Rule.reply`.

        >>> mock = MockAI()
        >>> mock.on(model="gpt-4o", last_user="hello").reply("Hi!", times=1).times
        1
        """
        return self.engine.script.on(model=model, last_user=last_user, any_message=any_message,
                                     has_tools=has_tools, tool_result=tool_result, stream=stream, api=api,
                                     where=where, name=name, times=times)

    def queue(self, *replies: ReplySpec) -> None:
        """Replies used once each, in order, by requests no rule matched.

        >>> mock = MockAI()
        >>> mock.queue("first", "second", error(429))
        """
        self.engine.script.queue(*replies)

    @checked_keywords
    def reply(self, content: str | None = None, *, tool_calls: Sequence[ToolCall] | None = None,
              json: Any = _MISSING, refusal: str | None = None, finish_reason: str | None = None) -> None:
        """Queue one reply: text, tool calls, a JSON value (structured outputs) or a refusal (see
        :meth:`Rule.reply` for which go together)."""
        self.queue(reply_spec(content, tool_calls=tool_calls, json=json, refusal=refusal, finish_reason=finish_reason))

    def fail(self, status: int, message: str | None = None, *, code: str | None = None, times: int = 1,
             **kwargs: Any) -> None:
        """Queue ``times`` errors in OpenAI's envelope: ``mock.fail(429, times=2)`` then answer normally."""
        self.queue(*[error(status, message, code=code, **kwargs) for _ in range(times)])

    def fault(self, spec: str, arg: float | None = None, *, times: int = 1, on_call: int | None = None) -> None:
        """Fault the next ``times`` chat requests (before any rule or queued reply), or chat request number
        ``on_call`` (counted from 1); kinds and arguments are listed in :mod:`mockai.faults`.

        >>> mock = MockAI()
        >>> mock.fault("429", 0.05, times=2)   # two 429s with retry-after-ms 50, then normal answers
        >>> mock.fault("reset", on_call=4)      # the fourth chat request: connection reset
        """
        self.engine.fault_plan.add(spec, arg, times=times, on_call=on_call)

    def load(self, scenario: str | Path | Sequence[str | Path] | dict[str, Any] | Scenario) -> None:
        """Add the rules and queue of scenario files (YAML or JSON) or an already loaded document."""
        if isinstance(scenario, Scenario):
            apply(scenario, self.engine.script)
        elif isinstance(scenario, dict):
            apply(parse_scenario(scenario, "scenario"), self.engine.script)
        elif isinstance(scenario, (str, Path)):
            apply(load_scenario(scenario), self.engine.script)
        else:
            for item in scenario:
                apply(load_scenario(item), self.engine.script)

    @property
    def rules(self) -> list[Rule]:
        return self.engine.script.rules

    # --- the journal ---------------------------------------------------------------------------------------

    @property
    def calls(self) -> CallList:
        """Every call answered, in order: ``mock.calls.last.request.messages``."""
        return self.engine.calls

    @property
    def call_count(self) -> int:
        return len(self.engine.calls)

    @property
    def called(self) -> bool:
        return bool(self.engine.calls)

    @property
    def unexpected(self) -> CallList:
        """Calls a strict mock had no scripted reply for."""
        return CallList(c for c in self.engine.calls if c.unexpected)

    @property
    def cassette(self) -> Cassette | None:
        """The cassette replaying (and recording) for this mock, when ``cassette=`` was given.

        ``mock.cassette.interactions`` are the recorded interactions; ``mock.cassette.misses`` the requests it
        had no answer for.
        """
        from .cassettes import Cassette

        return next((r for r in self.engine.responders if isinstance(r, Cassette)), None)

    def unused(self) -> list[str]:
        """Scripted replies and faults never used, one readable line each."""
        return self.engine.script.unused() + self.engine.fault_plan.unused()

    @property
    def callback_errors(self) -> list[CallbackError]:
        """What scripted code (reply callables, ``where=`` predicates…) raised, in order; see
        :class:`~mockai.rules.CallbackError`. ``error.exception`` is the exception, ``error.call`` the call."""
        return list(self.engine.script.errors)

    def problems(self, *, unused: bool | None = None) -> list[str]:
        """What :meth:`verify` fails on, one paragraph each: exceptions of scripted code that could not reach the
        test (socket door), unexpected requests (strict mode), cassette misses, and (``unused``, by default
        ``assert_all_called``) scripted replies never used."""
        problems = []
        lost = [e for e in self.engine.script.errors if not e.raised]
        if lost:
            problems.append(f"{_count(len(lost), 'exception')} raised by scripted code could not reach the test "
                            "(the client got a 500 over the socket); the first one's traceback is shown as the cause:\n"
                            + "\n".join(f"  {e} (answering {_request_line(e.call)})" for e in lost))
        if self.unexpected:
            problems.append(f"{_count(len(self.unexpected), 'unexpected request')} with no scripted reply "
                            "(strict mode):\n"
                            + _strict_details(self.unexpected)
                            + "\n  To let the default generator answer them, use strict=False.")
        if self.cassette is not None and self.cassette.misses:
            problems.append(f"{_count(len(self.cassette.misses), 'request')} had no recorded answer in the cassette:\n"
                            + "\n".join(self.cassette.misses))
        left = self.unused() if (self.assert_all_called if unused is None else unused) else []
        if left:
            problems.append(f"{len(left)} scripted repl{'y was' if len(left) == 1 else 'ies were'} never used:\n"
                            + "\n".join("  " + u for u in left)
                            + "\n  To allow this, pass assert_all_called=False (in pytest: "
                              "@pytest.mark.mockai(assert_all_called=False)).")
        return problems

    def verify(self) -> None:
        """Fail on exceptions scripted code raised over the socket, unexpected requests and cassette misses, and
        (unless ``assert_all_called=False``) on unused scripted replies; see :meth:`problems`."""
        __tracebackhide__ = True
        problems = self.problems()
        if problems:
            cause = next((e.exception for e in self.engine.script.errors if not e.raised), None)
            raise AssertionError("mockai: " + "\nmockai: ".join(problems)) from cause

    def reset(self) -> None:
        """Forget rules, queue, scripted faults and journal; ids start over."""
        self.engine.script.clear()
        self.engine.fault_plan.clear()
        self.engine.reset()

    # --- door 1: in-process --------------------------------------------------------------------------------

    def transport(self) -> EngineTransport:
        """An httpx transport (sync and async) answered by this mock."""
        from .transport import EngineTransport

        return EngineTransport(self.engine)

    def http_client(self, **kwargs: Any) -> httpx.Client:
        import httpx

        kwargs.setdefault("base_url", "https://api.openai.com/v1")
        return httpx.Client(transport=self.transport(), **kwargs)

    def async_http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        import httpx

        kwargs.setdefault("base_url", "https://api.openai.com/v1")
        return httpx.AsyncClient(transport=self.transport(), **kwargs)

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` client wired to this mock (keyword arguments go to the client)."""
        import httpx

        _require_openai("client")
        import openai

        kwargs.setdefault("api_key", self.engine.config.api_key or TEST_KEY)
        kwargs.setdefault("http_client", httpx.Client(transport=self.transport()))
        return openai.OpenAI(**kwargs)

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` client wired to this mock."""
        import httpx

        _require_openai("async_client")
        import openai

        kwargs.setdefault("api_key", self.engine.config.api_key or TEST_KEY)
        kwargs.setdefault("http_client", httpx.AsyncClient(transport=self.transport()))
        return openai.AsyncOpenAI(**kwargs)

    def start(self) -> MockAI:
        """Intercept requests to api.openai.com, Azure OpenAI hosts and ``base_urls`` sent by any ``httpx`` or
        ``httpx2`` client (the ``openai`` SDK's included), until :meth:`stop`. Requests to other hosts fail
        (``other_hosts="fail"``) or go out to the network (``"pass"``); requests to mockai's own servers
        (:meth:`serve`) go through.

        While it intercepts, an ``OPENAI_API_KEY`` is set when none is (the mock's ``api_key``, else a test
        key), so code that builds its own ``openai.OpenAI()`` works in a CI without a key; :meth:`stop` removes it.

        ``start()`` is idempotent and ``stop()`` stops. A ``with mock:`` block stops only what it started: inside
        another ``with mock:``, or in a test that uses the ``mockai`` fixture (which already intercepts), it leaves
        the mock intercepting when it ends.
        """
        from .patch import Patcher

        if self._patcher is None:
            self._patcher = Patcher(self.engine, base_urls=self.base_urls, other_hosts=self.other_hosts,
                                    api_key=self.engine.config.api_key or TEST_KEY)
            self._patcher.start()
        return self

    def respx_side_effect(self, request: httpx.Request) -> httpx.Response:
        """Answer a respx route: ``respx.route(host="api.openai.com").mock(side_effect=mock.respx_side_effect)``.
        A request under one of ``base_urls`` (a gateway's ``https://gw/proxy/v1``) loses that path's prefix, as in
        patch mode."""
        from .patch import Patcher
        from .transport import to_httpx

        patcher = Patcher(self.engine, base_urls=self.base_urls)
        http = patcher.engine_request(request, request.read(), patcher.prefix(str(request.url)) or "")
        return to_httpx(self.engine.handle(http), request)

    def stop(self) -> None:
        """Stop intercepting (see :meth:`start`)."""
        if self._patcher is not None:
            self._patcher.stop()
            self._patcher = None

    @contextmanager
    def patch(self) -> Iterator[MockAI]:
        """``with mock.patch():`` intercepts like :meth:`start` for the block (see :meth:`start` for nesting)."""
        started = self._patcher is None
        self.start()
        try:
            yield self
        finally:
            if started:
                self.stop()

    def __enter__(self) -> MockAI:
        self._blocks.append(self._patcher is None)
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        __tracebackhide__ = True
        if self._blocks.pop() if self._blocks else True:
            self.stop()
        if et is None:
            self.verify()

    # --- door 2: a real socket -----------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> ServerThread:
        """Serve this mock over HTTP in a background thread: ``with mock.serve() as server: server.base_url``."""
        from .server import ServerThread

        server = ServerThread(self.engine, host=host, port=port, log_level=log_level)
        self._servers.append(server)
        return server

    @property
    def base_url(self) -> str:
        """The base URL of the running server (``http://127.0.0.1:PORT/v1``), while :meth:`serve` runs."""
        running = [s for s in self._servers if s.running]
        if not running:
            raise RuntimeError("the mock is not being served; use `with mock.serve() as server:`")
        return running[-1].base_url


def _require_openai(method: str) -> None:
    import importlib.util

    if importlib.util.find_spec("openai") is None:
        raise ImportError(f"MockAI.{method}() builds an openai SDK client, and the openai package is not installed: "
                          "pip install openai (or use mock.http_client() / mock.transport() with httpx)")


def _request_line(call: Call | None) -> str:
    if call is None:
        return "a request"
    line = f"{call.http.method} {call.http.path}"
    if call.model is not None:
        line += f" model={call.model!r} last_user={call.last_user_text[:60]!r}"
    return line


def _strict_details(calls: CallList, shown: int = 3) -> str:
    """Each unexpected call with why every rule missed it (the first ``shown`` in full, the rest in a line)."""
    lines = []
    for i, call in enumerate(calls):
        if i < shown and call.error is not None:
            lines.append(f"  [{i}] " + call.error.message.replace("\n", "\n      "))
        else:
            lines.append(f"  [{i}] {call.describe()}")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    """``1 request``, ``2 requests``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
