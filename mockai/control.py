"""The control API under ``/_mockai/``: script and inspect a running server from any language.

=========================  ======================================================================
``GET    /_mockai/health``  ``{"status": "ok", "calls": N, "rules": N, "queued": N}``
``GET    /_mockai/calls``   the journal: method, path, status, request body, reply, flags
``DELETE /_mockai/calls``   forget the journal
``GET    /_mockai/rules``   the rules, how often each matched, and the unused queue
``POST   /_mockai/rules``   add rules/queue: a scenario document (``{"rules": [...], "queue": [...]}``), JSON or YAML
``DELETE /_mockai/rules``   remove every rule and queued reply
``POST   /_mockai/reset``   both of the above, and ids start over
``GET    /_mockai/stats``   the serving process: asyncio tasks, open file descriptors, RSS, threads, calls
``GET    /_mockai/``        the inspector: a live page of the journal, rules and cassette (:mod:`mockai.inspector`)
``GET    /_mockai/events``  the journal as server-sent events, live (the inspector's feed)
``GET    /_mockai/state``   rules, queue, unused scripted replies, configuration and cassette
=========================  ======================================================================

On by default in-process and when the server is bound to a loopback address; off otherwise unless
``control_token`` is set, in which case every control request must send ``Authorization: Bearer TOKEN``
(or ``X-Mockai-Token: TOKEN``). A browser cannot send those: ``GET /_mockai/?token=TOKEN`` answers with a
cookie (``HttpOnly``, ``SameSite=Strict``, path ``/_mockai/``) that lets the page read, never write: it is
accepted on ``GET`` requests only. Its name carries a digest of the token (:func:`cookie_name`): cookies do not
keep to a port, and servers on one host with different tokens must not sign each other's pages out.

A scenario document posted to ``POST /_mockai/rules`` is read as a scenario file is (strictly: a count is a
number, not ``true``; a flag is ``true`` or ``false``, not ``"yes"``; ``version`` is ``1``); a mistake is a 400
naming the field in ``param``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING, Any

from .errors import APIError
from .scenario import ScenarioError, apply, parse_scenario

if TYPE_CHECKING:
    from .engine import Call, Engine, HTTPRequest, HTTPResponse
    from .shared.wiring import Sharing


def handle(engine: Engine, http: HTTPRequest, action: str) -> HTTPResponse:
    try:
        action = action.strip("/")
        if action == "" and http.method == "GET" and _query_token(http) is not None:
            return _sign_in(engine, http)
        _authorize(engine, http)
        return _dispatch(engine, http, action)
    except APIError as err:
        return engine.error_response(err)


COOKIE = "mockai_control"  # the cookie's name: this, then a digest of the token (cookie_name)


def cookie_name(token: str) -> str:
    """The inspector's cookie for ``token``: ``mockai_control_`` and a digest of the token, so servers on one host
    (cookies are shared by every port of a host) with different tokens each keep their own.

    >>> cookie_name("s3cret")
    'mockai_control_0d44bb5595c9b201'
    """
    return f"{COOKIE}_{hashlib.sha256(b'mockai-control:' + token.encode()).hexdigest()[:16]}"


def _authorize(engine: Engine, http: HTTPRequest) -> None:
    token = engine.config.control_token
    if token is None:
        return
    given = http.headers.get("x-mockai-token")
    auth = http.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given is None and http.method == "GET":  # the inspector's cookie reads, never writes
        given = _cookie(http, cookie_name(token))
        if given is None:  # set by an earlier version, before the name carried the token's digest
            given = _cookie(http, COOKIE)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise APIError(401, "The control API needs this server's control token (the one given to --control-token): "
                            "send Authorization: Bearer TOKEN or X-Mockai-Token: TOKEN; in a browser, open "
                            "/_mockai/?token=TOKEN once.", code="invalid_control_token")


def _query_token(http: HTTPRequest) -> str | None:
    from urllib.parse import parse_qs

    query = http.query or (http.path.split("?", 1)[1] if "?" in http.path else "")
    values = parse_qs(query).get("token")
    return values[0] if values else None


def _cookie(http: HTTPRequest, name: str) -> str | None:
    from urllib.parse import unquote

    for part in http.headers.get("cookie", "").split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            return unquote(value)
    return None


def _sign_in(engine: Engine, http: HTTPRequest) -> HTTPResponse:
    """``GET /_mockai/?token=TOKEN``: the inspector's cookie, and a redirect to the page (the token leaves the
    address bar and the browser's history)."""
    from urllib.parse import quote

    from .http import HTTPResponse

    token, given = engine.config.control_token, _query_token(http)
    if token is None:
        return HTTPResponse(303, {"location": "/_mockai/", "cache-control": "no-store"})
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise APIError(401, "The control token in ?token= is not this server's: open /_mockai/?token=TOKEN with "
                            "the token given to --control-token.", code="invalid_control_token")
    cookie = f"{cookie_name(token)}={quote(token, safe='')}; Path=/_mockai/; HttpOnly; SameSite=Strict"
    return HTTPResponse(303, {"location": "/_mockai/", "set-cookie": cookie, "cache-control": "no-store"})


# The page's own rules: its files only, no inline code, nothing from elsewhere.
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _inspector(engine: Engine, http: HTTPRequest, action: str) -> HTTPResponse | None:
    """The inspector's routes (:mod:`mockai.inspector`), or ``None`` for another action."""
    if action not in ("", "events", "state") and not action.startswith("inspector/"):
        return None
    if http.method != "GET":
        raise APIError(405, f"Method not allowed: {http.method} /_mockai/{action} accepts GET.",
                       headers={"allow": "GET"})
    from .http import HTTPResponse
    from .inspector import Feed, page, state_view

    if action == "events":
        feed = Feed.of(engine)
        return HTTPResponse(200, {"content-type": "text/event-stream; charset=utf-8"}, live=feed)
    if action == "state":
        return engine.json_response(200, state_view(engine))
    name = "index.html" if action == "" else action[len("inspector/"):]
    try:
        kind, data = page(name)
    except KeyError:
        raise APIError(404, f"Invalid URL (GET /_mockai/{action}): the inspector has no such file.") from None
    return HTTPResponse(200, {"content-type": kind, **_PAGE_HEADERS}, body=data)


def _dispatch(engine: Engine, http: HTTPRequest, action: str) -> HTTPResponse:
    method = http.method
    script = engine.script
    inspected = _inspector(engine, http, action)
    if inspected is not None:
        return inspected
    shared = _sharing(engine)
    shared_script = shared.script if shared is not None else None
    if shared_script is not None:
        shared_script.sync()  # rules other processes added
    if (action, method) == ("health", "GET"):
        calls = len(shared.backend.entries(shared.max_items)) if shared is not None else len(engine.calls)
        return engine.json_response(200, {"status": "ok", "calls": calls, "rules": len(script.rules),
                                          "queued": len(script.pending)})
    if (action, method) == ("calls", "GET"):
        data = shared.calls() if shared is not None else [call_json(i, c) for i, c in enumerate(list(engine.calls))]
        return engine.json_response(200, {"object": "list", "data": data})
    if (action, method) == ("calls", "DELETE"):
        engine.calls.clear()
        if shared is not None:
            shared.clear_calls()
        from .inspector import Feed

        feed = Feed.existing(engine)
        if feed is not None:
            feed.cleared()
        return engine.json_response(200, {"deleted": True})
    if (action, method) == ("rules", "GET"):
        if shared_script is not None:
            shared_script.refresh()  # every process's uses of each rule
        return engine.json_response(200, {
            "rules": [{"rule": r.describe(), "call_count": r.call_count, "times": r.times} for r in script.rules],
            "queued": len(script.pending),
            "unused": script.unused(),
        })
    if (action, method) == ("rules", "POST"):
        data, lines = _document(http)
        try:
            scenario = parse_scenario(data, "request body", lines)
        except ScenarioError as exc:
            raise APIError(400, str(exc), param=_param_of(str(exc)), code="invalid_scenario") from None
        if shared_script is not None:
            shared_script.publish(data)  # for every process (mockai.shared)
        else:
            apply(scenario, script)
        _state_changed(engine)
        return engine.json_response(201, {"rules": len(script.rules), "queued": len(script.pending)})
    if (action, method) == ("rules", "DELETE"):
        script.clear()
        _state_changed(engine)
        return engine.json_response(200, {"deleted": True})
    if (action, method) == ("stats", "GET"):
        return engine.json_response(200, process_stats(engine))
    if (action, method) == ("reset", "POST"):
        script.clear()
        engine.reset()
        _state_changed(engine)
        return engine.json_response(200, {"reset": True})
    if action in ("health", "calls", "rules", "reset", "stats"):
        raise APIError(405, f"Method not allowed: {method} /_mockai/{action}.")
    raise APIError(404, f"Invalid URL ({method} /_mockai/{action}). The control API serves GET /_mockai/health, "
                        "GET and DELETE /_mockai/calls, GET, POST and DELETE /_mockai/rules, POST /_mockai/reset, "
                        "GET /_mockai/stats, and the inspector: GET /_mockai/ (the page), /_mockai/events and "
                        "/_mockai/state.")


def _state_changed(engine: Engine) -> None:
    """The rules or the queue changed: open inspector pages refresh their Scenario tab."""
    from .inspector import Feed

    feed = Feed.existing(engine)
    if feed is not None:
        feed.changed()


_PARAM = re.compile(r"request body(?::\d+)?: ([A-Za-z_][\w.\[\]-]*): ")


def _param_of(message: str) -> str | None:
    """The field a scenario error names (``request body:2: rules[0].match.last_usr: unknown field…``)."""
    found = _PARAM.match(message)
    return found.group(1) if found else None


_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


def _document(http: HTTPRequest) -> tuple[Any, dict[tuple[Any, ...], int] | None]:
    """The scenario document a ``POST /_mockai/rules`` body holds, and its line numbers when it is YAML.

    JSON, or YAML as scenario files are written: by ``Content-Type`` (``application/yaml``…), or by sniffing a body
    that is not JSON (``curl --data-binary @scenario.yaml`` sends a form content type).
    """
    kind = http.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _YAML_TYPES:
        try:
            return json.loads(http.body or b"{}"), None
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, or nesting too deep
            if kind == "application/json" or http.body.lstrip()[:1] in (b"{", b"["):
                raise APIError(400, f"The control API expects a scenario document as JSON or YAML; this body is not "
                                    f"valid JSON ({exc}).", code="invalid_json") from None
    return _yaml(http.body, "invalid_yaml" if kind in _YAML_TYPES else "invalid_json")


def _yaml(body: bytes, code: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """YAML ``body``; errors carry ``code``: ``invalid_yaml`` when the body said it was YAML, else ``invalid_json``
    (JSON is what an undeclared body is first taken for)."""
    import yaml

    from .scenario import yaml_with_lines

    try:
        text = body.decode("utf-8")
        # Aliases can expand a small body exponentially: scenario files may use them, a request may not.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise APIError(400, "The control API does not accept YAML aliases (*name): write the document out.",
                           code=code)
        return yaml_with_lines(text, "request body")
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        raise APIError(400, "The control API expects a scenario document as JSON or YAML; this body is neither.",
                       code=code) from None
    except ScenarioError as exc:
        raise APIError(400, f"The control API expects a scenario document as JSON or YAML: {exc}", code=code) from None


def _sharing(engine: Engine) -> Sharing | None:
    """The shared state's hooks when several processes share one (:mod:`mockai.shared`)."""
    if engine.shared is None:
        return None
    from .shared.wiring import Sharing

    return engine.shared if isinstance(engine.shared, Sharing) else None


def process_stats(engine: Engine) -> dict[str, Any]:
    """What a leak would show: the event loop's tasks, open file descriptors and resident memory (Linux)."""
    import asyncio
    import os
    import threading

    try:
        tasks: int | None = len(asyncio.all_tasks())
    except RuntimeError:  # in-process: no running event loop
        tasks = None
    try:
        fds: int | None = len(os.listdir("/proc/self/fd"))
        with open("/proc/self/statm") as statm:
            rss: int | None = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        fds = rss = None
    return {"pid": os.getpid(), "tasks": tasks, "fds": fds, "rss_bytes": rss, "threads": threading.active_count(),
            "calls": len(engine.calls)}


def call_json(index: int, call: Call) -> dict[str, Any]:
    res = call.response
    out: dict[str, Any] = {
        "index": index,
        "seq": call.seq,  # its number since the server started: the inspector's, whatever the journal let go
        "method": call.http.method,
        "path": call.http.path,
        "route": call.route,
        "status": res.status,
        "request": call.body,
        "stream": res.is_stream,
        "unexpected": call.unexpected,
        "responder": call.responder,
        "fault": call.fault,
        "ended": call.ended,  # "client" or "stopped": why a stream ended early without a fault
    }
    if res.is_stream:
        out["events"] = [e.decode("utf-8", "replace").strip() for e in res.events or []]
    else:
        try:
            out["response"] = json.loads(res.body) if res.body else None
        except ValueError:
            out["response"] = res.body.decode("utf-8", "replace")
    return out
