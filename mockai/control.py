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
=========================  ======================================================================

On by default in-process and when the server is bound to a loopback address; off otherwise unless
``control_token`` is set, in which case every control request must send ``Authorization: Bearer TOKEN``
(or ``X-Mockai-Token: TOKEN``).
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from .errors import APIError
from .scenario import ScenarioError, apply, parse_scenario

if TYPE_CHECKING:
    from .engine import Call, Engine, HTTPRequest, HTTPResponse


def handle(engine: Engine, http: HTTPRequest, action: str) -> HTTPResponse:
    try:
        _authorize(engine, http)
        return _dispatch(engine, http, action.strip("/"))
    except APIError as err:
        return engine.error_response(err)


def _authorize(engine: Engine, http: HTTPRequest) -> None:
    token = engine.config.control_token
    if token is None:
        return
    given = http.headers.get("x-mockai-token")
    auth = http.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise APIError(401, "The control API needs the control token (Authorization: Bearer TOKEN or "
                            "X-Mockai-Token).", code="invalid_control_token")


def _dispatch(engine: Engine, http: HTTPRequest, action: str) -> HTTPResponse:
    method = http.method
    script = engine.script
    if (action, method) == ("health", "GET"):
        return engine.json_response(200, {"status": "ok", "calls": len(engine.calls), "rules": len(script.rules),
                                          "queued": len(script.pending)})
    if (action, method) == ("calls", "GET"):
        return engine.json_response(200, {"object": "list", "data": [call_json(i, c)
                                                                     for i, c in enumerate(list(engine.calls))]})
    if (action, method) == ("calls", "DELETE"):
        engine.calls.clear()
        return engine.json_response(200, {"deleted": True})
    if (action, method) == ("rules", "GET"):
        return engine.json_response(200, {
            "rules": [{"rule": r.describe(), "call_count": r.call_count, "times": r.times} for r in script.rules],
            "queued": len(script.pending),
            "unused": script.unused(),
        })
    if (action, method) == ("rules", "POST"):
        try:
            data, lines = _document(http)
            scenario = parse_scenario(data, "request body", lines)
        except ScenarioError as exc:
            raise APIError(400, str(exc), code="invalid_scenario") from None
        apply(scenario, script)
        return engine.json_response(201, {"rules": len(script.rules), "queued": len(script.pending)})
    if (action, method) == ("rules", "DELETE"):
        script.clear()
        return engine.json_response(200, {"deleted": True})
    if (action, method) == ("stats", "GET"):
        return engine.json_response(200, process_stats(engine))
    if (action, method) == ("reset", "POST"):
        script.clear()
        engine.reset()
        return engine.json_response(200, {"reset": True})
    if action in ("health", "calls", "rules", "reset", "stats"):
        raise APIError(405, f"Method not allowed: {method} /_mockai/{action}.")
    raise APIError(404, f"Invalid URL ({method} /_mockai/{action}). The control API serves GET /_mockai/health, "
                        "GET and DELETE /_mockai/calls, GET, POST and DELETE /_mockai/rules, POST /_mockai/reset and "
                        "GET /_mockai/stats.")


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
        "method": call.http.method,
        "path": call.http.path,
        "route": call.route,
        "status": res.status,
        "request": call.body,
        "stream": res.is_stream,
        "unexpected": call.unexpected,
        "responder": call.responder,
        "fault": call.fault,
    }
    if res.is_stream:
        out["events"] = [e.decode("utf-8", "replace").strip() for e in res.events or []]
    else:
        try:
            out["response"] = json.loads(res.body) if res.body else None
        except ValueError:
            out["response"] = res.body.decode("utf-8", "replace")
    return out
