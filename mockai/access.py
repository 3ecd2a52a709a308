"""The socket door's request log: one line per request, in place of uvicorn's access line.

Each line says what a person debugging a client needs: method and path, the model, stream or not, who answered
(a rule by its name or place, the queue, the generator, fuzz, a cassette hit or a recording), the status, the
fault applied and whether the connection was dropped, the tokens in and out, the time to the first byte and in
all; an error adds its message and ``param``::

    INFO:     POST /v1/chat/completions 200 model=gpt-4o-mini stream=true by="rule 'greet'" tokens=12/5 …
              … ttfb_ms=0.6 total_ms=1.9 client=127.0.0.1:50312
    INFO:     POST /v1/chat/completions 400 model=- stream=false by=- error="Invalid 'temperature': …" …
              … param=temperature code=integer_above_max_value ttfb_ms=0.4 total_ms=0.4 client=127.0.0.1:50312

``mockai serve --log-format json`` writes the same fields as one JSON object per line (uvicorn's own messages
too). The line is written when the response has been sent, or the connection dropped (a ``reset``, ``hang`` or
``cut`` fault, a client that left): the door times it (:class:`LoggedEndpoint`). Nothing here runs unless the
log is on (level ``info`` or below): the door and the engine then carry no logging code at all.

No line holds an API key or a header the cassettes scrub: headers are not logged, and the query string and
error messages go through the cassettes' :class:`~mockai.cassettes.Scrubber`.

>>> fields = {"method": "GET", "path": "/v1/models", "status": 200, "model": None, "stream": False,
...           "by": None, "ttfb_ms": 0.4, "total_ms": 0.5}
>>> text_line(fields)
'GET /v1/models 200 model=- stream=false by=- ttfb_ms=0.4 total_ms=0.5'
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import os
import re
import time
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from . import transcript

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Message, Receive, Scope, Send

    from .core import Core
    from .journal import Call

LOGGER = logging.getLogger("mockai.access")
LOG_FORMATS = ("text", "json")


@dataclass
class _Slot:
    """What the door learns about one request while it is answered: its journal entry, when it had one."""

    call: Call | None = None


_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("mockai_access_slot", default=None)


def claim(call: Call) -> None:
    """The journal listener (:attr:`Core.on_record`): hand the call to the request being logged in this context
    (a worker thread answering a heavy request runs in a copy of it)."""
    slot = _SLOT.get()
    if slot is not None and slot.call is None:
        slot.call = call


class AccessLog:
    """The request log of one engine's socket door; see the module docstring."""

    def __init__(self, engine: Core, logger: logging.Logger = LOGGER) -> None:
        from .cassettes.scrub import Scrubber
        self.logger = logger
        self.scrubber = Scrubber.of(engine.config.scrub)
        if claim not in engine.on_record:
            engine.follow(claim)

    @classmethod
    def wanted(cls, engine: Core, logger: logging.Logger = LOGGER) -> AccessLog | None:
        """An access log when ``logger`` logs at ``info``, else ``None`` (no cost at all)."""
        return cls(engine, logger) if logger.isEnabledFor(logging.INFO) else None

    def fields(self, scope: Scope, call: Call | None, response: Response | None, sent: Sent) -> dict[str, Any]:
        """The fields of one line (see :func:`text_line`)."""
        query = scope.get("query_string", b"").decode("latin-1")
        secrets: list[str] | None = None

        def found() -> list[str]:  # the credentials to scrub, found only when there is text to scrub
            nonlocal secrets
            if secrets is None:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
                secrets = self.scrubber.secrets(headers, query)
            return secrets

        path = scope.get("path", "")
        if query:
            path += "?" + self.scrubber.query(query, found())
        error: dict[str, Any] | None
        if call is not None:
            out: dict[str, Any] = {"method": scope.get("method"), "path": path, "status": sent.status,
                                   "route": call.route, "model": call.model, "stream": call.stream,
                                   "by": call.answered_by}
            if call.fault:
                out["fault"] = call.fault
            tokens_in, tokens_out = transcript.tokens_of(call)
            if tokens_in is not None or tokens_out is not None:
                out["tokens_in"], out["tokens_out"] = tokens_in, tokens_out
            error = transcript.error_of(call)
        else:
            out = {"method": scope.get("method"), "path": path, "status": sent.status, "model": None,
                   "stream": False, "by": None}
            error = _body_error(response)
        if sent.dropped:
            out["dropped"] = sent.dropped
        if error is not None and (sent.status or 0) >= 400:
            out["error"] = self.scrubber.text(str(error.get("message")), found())
            if error.get("param"):
                out["param"] = error["param"]
            if error.get("code"):
                out["code"] = error["code"]
        out["ttfb_ms"] = _ms(sent.first - sent.start) if sent.first is not None else None
        out["total_ms"] = _ms((sent.done or time.perf_counter()) - sent.start)
        client = scope.get("client")
        if client:
            out["client"] = f"{client[0]}:{client[1]}"
        return out

    def write(self, scope: Scope, call: Call | None, response: Response | None, sent: Sent) -> None:
        fields = self.fields(scope, call, response, sent)
        # The control API (the inspector's page and feed among it) is not the API under test: debug only.
        level = logging.DEBUG if scope.get("path", "").startswith("/_mockai/") else logging.INFO
        logger = self.logger
        if logger.isEnabledFor(level):
            # Made here, not by Logger.log, which would walk the stack to find this line: same record, less work.
            logger.handle(logger.makeRecord(logger.name, level, __file__, _WRITE_LINE, text_line(fields), (), None,
                                            "write", {"mockai": fields}))


_WRITE_LINE = AccessLog.write.__code__.co_firstlineno


@dataclass
class Sent:
    """How a response went out, timed by the door: ``perf_counter`` times and what, if anything, cut it short."""

    start: float
    status: int | None = None
    first: float | None = None
    done: float | None = None
    dropped: str | None = None


class LoggedEndpoint:
    """The door (:class:`mockai.app.Door`) with a log line per request (:class:`AccessLog`); without one the app
    uses the plain door, so a server without the log runs none of this."""

    def __init__(self, handler: Callable[[Scope, Receive], Awaitable[Response]],
                 crash: Callable[[Scope, Receive, Send], Awaitable[bool]], log: AccessLog) -> None:
        self.handler = handler
        self.crash = crash
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = Sent(time.perf_counter())
        slot = _Slot()
        token = _SLOT.set(slot)

        async def timed(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                sent.status = message["status"]
            elif kind == "http.response.body":
                if sent.first is None and message.get("body"):
                    sent.first = time.perf_counter()
                if not message.get("more_body", False):
                    sent.done = time.perf_counter()
                    if sent.first is None:
                        sent.first = sent.done
            await send(message)

        response: Response | None = None
        try:
            response = await self.handler(scope, receive)
            if getattr(response, "sent_at_once", False):
                # Sent by one call with no pause (mockai.app.PlainResponse): timed around it, with the server's own
                # send, so the door may still write it whole (a wrapped send cannot).
                sent.status = response.status_code  # (set first, as for a start message: the send may fail)
                await response(scope, receive, send)
                sent.first = sent.done = time.perf_counter()
            else:
                await response(scope, receive, timed)
        except Exception:
            sent.dropped = "error"
            if not await self.crash(scope, receive, timed):
                raise
            logging.getLogger("mockai.errors").exception("mockai: %s %s failed; answered 500 server_error",
                                                         scope["method"], scope["path"])
        except BaseException:
            sent.dropped = "error"
            raise
        finally:
            _SLOT.reset(token)
            if sent.done is None:
                sent.dropped = getattr(response, "dropped", None) or sent.dropped or "client"
            try:
                self.log.write(scope, slot.call, response, sent)
            except Exception:  # a log line must never break an answer
                self.log.logger.exception("mockai: could not write the request log line")


def _body_error(response: Response | None) -> dict[str, Any] | None:
    body = getattr(response, "body", None)
    if not body or not isinstance(body, bytes):
        return None
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return err if isinstance(err, dict) else None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1 if seconds < 1 else 0)


# --- formats -----------------------------------------------------------------------------------------------

_ALWAYS = frozenset({"model", "stream", "by"})  # written as ``-`` when there is none
_NOT_PAIRS = frozenset({"method", "path", "status", "route", "tokens_in", "tokens_out"})


def text_line(fields: dict[str, Any]) -> str:
    """One line: ``METHOD PATH STATUS`` and ``key=value`` pairs (values with spaces in JSON quotes; ``-`` for
    none); a connection dropped before any status shows ``-``."""
    status = fields.get("status")
    parts = [str(fields.get("method")), str(fields.get("path")), "-" if status is None else str(status)]
    tokens = "tokens_in" in fields or "tokens_out" in fields
    for key, value in fields.items():
        if key in _NOT_PAIRS or (value is None and key not in _ALWAYS):
            continue
        parts.append(f"{key}={_value(value)}")
        if key == "by" and tokens:
            parts.append(f"tokens={_value(fields.get('tokens_in'))}/{_value(fields.get('tokens_out'))}")
    return " ".join(parts)


def _value(value: Any) -> str:
    if type(value) is not str:  # (the common case, a plain string, goes straight to the quoting check)
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):  # (statuses, tokens, times: never quoted)
            return str(value)
        value = str(value)
    if not value or _QUOTED.search(value):
        return json.dumps(value, ensure_ascii=False)
    return value  # type: ignore[no-any-return]


_QUOTED = re.compile(r'[ "=\n\t]')  # a value with one of these is written in JSON quotes


def _text_formatter() -> type[logging.Formatter]:
    from uvicorn.logging import DefaultFormatter

    class TextFormatter(DefaultFormatter):
        """uvicorn's look (``INFO:     message``, the level in colour on a terminal), made as uvicorn's
        ``ColourizedFormatter.formatMessage`` makes it, but a plain record is copied by its ``__dict__``
        (``copy.copy`` cost as much as the rest of the formatting)."""

        def formatMessage(self, record: logging.LogRecord) -> str:
            if type(record) is logging.LogRecord:  # (all there is to copy is its __dict__)
                copied = object.__new__(logging.LogRecord)
                copied.__dict__.update(record.__dict__)
            else:  # a record factory's class may copy itself otherwise
                copied = copy.copy(record)
            levelname = copied.levelname
            separator = " " * (8 - len(copied.levelname))
            if self.use_colors:
                levelname = self.color_level_name(levelname, copied.levelno)
                if "color_message" in copied.__dict__:
                    copied.msg = copied.__dict__["color_message"]
                    copied.__dict__["message"] = copied.getMessage()
            copied.__dict__["levelprefix"] = levelname + ":" + separator
            return logging.Formatter.formatMessage(self, copied)

    return TextFormatter


if not TYPE_CHECKING:
    def __getattr__(name: str) -> Any:
        # ``mockai.access.TextFormatter``, named in the logging configuration: uvicorn is imported only when a
        # configuration asks for it (the app's door imports this module without needing uvicorn).
        if name == "TextFormatter":
            globals()[name] = cls = _text_formatter()
            return cls
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class JSONFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``, then a request line's fields
    (``method``, ``path``, ``status``, ``model``…) or the ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "mockai", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A :class:`logging.StreamHandler` that writes the request lines of one turn of the event loop together.

    Under load ``mockai serve`` logs a line per request, and one system call per line cost more than the rest of
    the line (dearly so where system calls are dear: a sandboxed container). A request line (``mockai.access``,
    ``info``) logged on a thread running an event loop waits for the end of the loop's turn (``call_soon``); at
    most ``limit`` characters wait. Every other record (uvicorn's own lines, warnings, errors, anything logged
    off the loop) is written at once, after the lines waiting before it: nothing is reordered, and a server's
    last words ("Shutting down", "Finished server process") write out the request lines before them.

    Lines go out in writes of at most ``PIPE_BUF`` bytes (4,096 on Linux), cut between lines: as one write per
    line did, this keeps each line whole when several worker processes share one pipe (``--workers``).
    :meth:`flush` and :meth:`close` (and so :func:`logging.shutdown` at exit) write what waits; a process forked
    while lines wait does not write them again.

    >>> import io, logging
    >>> out = io.StringIO()
    >>> handler = BatchingStreamHandler(out)
    >>> handler.handle(logging.makeLogRecord({"msg": "no loop runs here: written at once"}))
    True
    >>> out.getvalue()
    'no loop runs here: written at once\\n'
    """

    batched = "mockai.access"  # the logger whose info lines wait for the end of the turn

    def __init__(self, stream: TextIO | None = None, limit: int = 64 * 1024) -> None:
        super().__init__(stream)
        self.limit = limit
        self._waiting: list[str] = []
        self._size = 0  # bytes waiting (characters, for ASCII lines)
        self._last: logging.LogRecord | None = None  # (for handleError, should a deferred write fail)
        self._scheduled: AbstractEventLoop | None = None  # the loop whose turn will write what waits
        _HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:  # (called with the handler's lock held)
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self._waiting.append(line)
        self._size += len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
        self._last = record
        loop: AbstractEventLoop | None = None
        if record.name == self.batched and record.levelno == logging.INFO:
            try:
                loop = get_running_loop()
            except RuntimeError:  # (no loop runs on this thread)
                loop = None
        if self._scheduled is not loop:  # (a loop that ended before its turn did: this one writes its lines)
            self._scheduled = None
        if loop is None or self._size >= self.limit:
            self._write()
        elif self._scheduled is None:
            loop.call_soon(self._turn_ended)
            self._scheduled = loop

    def flush(self) -> None:
        self.acquire()
        try:
            if not self._turn_ended():
                super().flush()
        finally:
            self.release()

    def close(self) -> None:
        self.flush()
        super().close()

    def _turn_ended(self) -> bool:
        """Write what waits (the end of a loop's turn): false when nothing did."""
        self.acquire()
        try:
            self._scheduled = None
            if not self._waiting:
                return False
            self._write()
            return True
        finally:
            self.release()

    def _write(self) -> None:
        lines, record = self._waiting, self._last
        self._waiting, self._size, self._last = [], 0, None
        try:
            stream = self.stream
            chunk: list[str] = []
            size = 0
            for line in lines:
                n = len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
                if chunk and size + n > _PIPE_BUF:
                    stream.write("".join(chunk))
                    super().flush()
                    chunk, size = [], 0
                chunk.append(line)
                size += n
            stream.write("".join(chunk))
            super().flush()
        except RecursionError:
            raise
        except Exception:
            if record is not None:  # (the last record stands for the lines written with it)
                self.handleError(record)


_PIPE_BUF = 4096  # POSIX promises at least 512; Linux and macOS write 4,096 bytes to a pipe at once
_HANDLERS: weakref.WeakSet[BatchingStreamHandler] = weakref.WeakSet()


def _forget_waiting_lines() -> None:
    """In a forked child: the parent writes the lines that waited when it forked, the child does not."""
    for handler in list(_HANDLERS):
        handler._waiting, handler._size, handler._last, handler._scheduled = [], 0, None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_waiting_lines)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``mockai serve``: uvicorn's messages and mockai's request lines on
    stderr, in ``text`` (uvicorn's look) or ``json``; uvicorn's own access line off. Given to uvicorn, so each
    worker process applies it too."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "json":
        formatter: dict[str, Any] = {"()": "mockai.access.JSONFormatter"}
    else:
        formatter = {"()": "mockai.access.TextFormatter", "fmt": "%(levelprefix)s %(message)s",
                     "use_colors": None}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter, "access": dict(formatter)},
        "handlers": {"default": {"formatter": "default", "class": "mockai.access.BatchingStreamHandler",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "mockai": {"handlers": ["default"], "level": upper, "propagate": False},
        },
    }
