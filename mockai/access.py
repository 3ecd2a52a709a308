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
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
        from .transcript import error_of, tokens_of

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
        out: dict[str, Any] = {"method": scope.get("method"), "path": path, "status": sent.status}
        error: dict[str, Any] | None = None
        if call is not None:
            out.update(route=call.route, model=call.model, stream=call.stream, by=call.answered_by)
            if call.fault:
                out["fault"] = call.fault
            tokens_in, tokens_out = tokens_of(call)
            if tokens_in is not None or tokens_out is not None:
                out.update(tokens_in=tokens_in, tokens_out=tokens_out)
            error = error_of(call)
        else:
            out.update(model=None, stream=False, by=None)
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
        if self.logger.isEnabledFor(level):
            self.logger.log(level, text_line(fields), extra={"mockai": fields})


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

_HEAD = ("method", "path", "status")
_ALWAYS = ("model", "stream", "by")


def text_line(fields: dict[str, Any]) -> str:
    """One line: ``METHOD PATH STATUS`` and ``key=value`` pairs (values with spaces in JSON quotes; ``-`` for
    none); a connection dropped before any status shows ``-``."""
    status = fields.get("status")
    parts = [str(fields.get("method")), str(fields.get("path")), "-" if status is None else str(status)]
    for key, value in fields.items():
        if key in _HEAD or key == "route" or key in ("tokens_in", "tokens_out"):
            continue
        if value is None and key not in _ALWAYS:
            continue
        parts.append(f"{key}={_value(value)}")
        if key == "by" and ("tokens_in" in fields or "tokens_out" in fields):
            parts.append(f"tokens={_value(fields.get('tokens_in'))}/{_value(fields.get('tokens_out'))}")
    return " ".join(parts)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):  # (statuses, tokens, times: never quoted)
        return str(value)
    text = str(value)
    if not text or _QUOTED.search(text):
        return json.dumps(text, ensure_ascii=False)
    return text


_QUOTED = re.compile(r'[ "=\n\t]')  # a value with one of these is written in JSON quotes


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


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``mockai serve``: uvicorn's messages and mockai's request lines on
    stderr, in ``text`` (uvicorn's look) or ``json``; uvicorn's own access line off. Given to uvicorn, so each
    worker process applies it too."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "json":
        formatter: dict[str, Any] = {"()": "mockai.access.JSONFormatter"}
    else:
        formatter = {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s",
                     "use_colors": None}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter, "access": dict(formatter)},
        "handlers": {"default": {"formatter": "default", "class": "logging.StreamHandler",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "mockai": {"handlers": ["default"], "level": upper, "propagate": False},
        },
    }
