"""The cassette responder: replay from a file, record to it, as the record mode says.

Record modes are VCR.py's: ``none`` replays only; ``once`` records everything when the file does not exist yet and
otherwise replays only; ``new_episodes`` replays what matches and records the rest; ``all`` records every request
again and makes this run's interactions the file's content (a run: one process, or every process sharing a ``run``
id: the workers of one ``mockai serve``, the xdist workers of one pytest run). Identical requests replay in
recorded order; once each recording was used, the request is a miss (unless ``allow_playback_repeats``, which
replays the last one again); :meth:`Cassette.rewind` (run by the engine's reset: ``mock.reset()``, ``POST
/_mockai/reset``) starts playback over. A miss that may not be recorded is answered with a 400
``invalid_request_error`` (code ``cassette_miss``; the SDKs do not retry a 400) naming the cassette, the request,
the nearest recorded requests and which matcher failed for each; :attr:`Cassette.misses` keeps the same text for
the pytest fixture.

While recording, the upstream judges requests, not mockai: a request mockai's own checks reject (validation, an
unknown model with ``strict_models``) is forwarded as it came when the cassette lacks it, and its answer (the real
API's error, or a success mockai would have refused) is recorded; replaying it gives that answer back, in every
record mode. Other requests take the engine's usual path (scripted rules first). See :meth:`Cassette.rejected`.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import APIError
from ..http import HTTPResponse
from . import writer
from .matching import CassetteRequest, Matcher, api_of
from .proxy import DEFAULT_UPSTREAM, Recording
from .replay import UsageFor, recorded_chunks, respond
from .scrub import Scrubber
from .store import CassetteError, append, exists, load

if TYPE_CHECKING:
    from ..config import Config
    from ..core import Core, Exchange
    from ..http import HTTPRequest
    from ..journal import Call

RECORD_MODES = ("none", "once", "new_episodes", "all")
_PROCESS_RUN = f"{os.getpid()}-{uuid.uuid4().hex}"


def current_run() -> str:
    """This run's id for record mode ``all``: pytest-xdist's id of the test run in its workers, else one per
    process (``mockai serve`` hands its workers one through :attr:`~mockai.engine.Config.cassette_run`)."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or _PROCESS_RUN


class Cassette:
    """A responder replaying (and recording) the interactions of one cassette file.

    >>> import tempfile, pathlib
    >>> cassette = Cassette(pathlib.Path(tempfile.mkdtemp()) / "new.json", record_mode="none")
    >>> len(cassette), cassette.recording
    (0, False)
    """

    name = "cassette"

    def __init__(self, path: str | os.PathLike[str], *, record_mode: str = "none", upstream: str | None = None,
                 match_on: Any = None, scrub: Any = None, replay_speed: float | None = 1.0,
                 replay_elapsed: bool = False, allow_playback_repeats: bool = False, run: str | None = None) -> None:
        if record_mode not in RECORD_MODES:
            raise ValueError(f"record_mode must be one of {', '.join(RECORD_MODES)}, not {record_mode!r}")
        if replay_speed is not None and replay_speed < 0:
            raise ValueError(f"replay_speed must be positive (or 0 for instant), not {replay_speed!r}")
        self.path = Path(path)
        self._file = self.path.absolute()  # folded in later (at exit, maybe): not relative to a later cwd
        self.record_mode = record_mode
        self.upstream = upstream or DEFAULT_UPSTREAM
        if urlsplit(self.upstream).scheme not in ("http", "https") or not urlsplit(self.upstream).netloc:
            raise ValueError(f"upstream must be an http:// or https:// URL, e.g. https://api.openai.com/v1, not "
                             f"{self.upstream!r}")
        self.matcher = Matcher.of(match_on)
        self.scrubber = Scrubber.of(scrub)
        self.replay_speed = replay_speed
        self.replay_elapsed = replay_elapsed
        self.allow_playback_repeats = allow_playback_repeats
        self.run = run or current_run()  # record mode all: the first save of this run replaces the file
        self.existed = exists(self.path)
        self.interactions: list[dict[str, Any]] = load(self.path) if self.existed else []
        # once: record everything when there was no file, else replay only; all: record everything.
        self.replaying = record_mode in ("none", "new_episodes") or (record_mode == "once" and self.existed)
        self.recording = record_mode in ("new_episodes", "all") or (record_mode == "once" and not self.existed)
        self.misses: list[str] = []
        self.recorded: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # The Responses API responses the cassette holds (what a follow-up may be about).
        self._response_ids = {rid for inter in self.interactions for rid in response_ids(inter)}
        self._index: dict[str, list[int]] = {}
        self._played: dict[str, int] = {}
        # Set by mockai.shared: playback counted once for every worker and replica, ``claim(key, recordings)``
        # returning which use of ``key`` this is (from 1), or None when all were played.
        self.claim: Callable[[str, int], int | None] | None = None
        for i, inter in enumerate(self.interactions):
            self._index.setdefault(self._key(CassetteRequest.of(inter["request"])), []).append(i)

    @classmethod
    def from_config(cls, config: Config) -> Cassette:
        assert config.cassette is not None
        return cls(config.cassette, record_mode=config.record_mode, upstream=config.upstream,
                   match_on=config.match_on, scrub=config.scrub, replay_speed=config.replay_speed,
                   replay_elapsed=config.replay_elapsed, allow_playback_repeats=config.allow_playback_repeats,
                   run=config.cassette_run)

    def install(self, engine: Core) -> Cassette:
        """Answer ``engine``'s requests: first of its responders after the scripted rules, the judge of requests
        its checks reject (:meth:`rejected`), and rewound by its reset (:meth:`rewind`)."""
        engine.responders.insert(0, self)
        engine.on_reject.append(self.rejected)
        engine.on_reset.append(self.rewind)
        return self

    def __len__(self) -> int:
        return len(self.interactions)

    def __repr__(self) -> str:
        return f"<Cassette {self.path} mode={self.record_mode} interactions={len(self)}>"

    # --- the responder -------------------------------------------------------------------------------------

    def __call__(self, ex: Exchange) -> HTTPResponse | APIError | None:
        req, key, answer = self._answer(ex.http, ex.body, lambda body: _usage(ex, body))
        if answer is not None:
            return answer
        text = self.miss_message(req, key)
        with self._lock:
            self.misses.append(text)
        return APIError(400, text, code="cassette_miss")

    def rejected(self, http: HTTPRequest, call: Call, error: APIError) -> HTTPResponse | None:
        """Answer a request the engine's own checks rejected with ``error``: its recorded answer when the cassette
        has one (a recorded error comes back as it was recorded), else, while recording, the upstream's answer
        to it, forwarded as it came; ``None`` leaves the engine's error standing (not recording, and a miss). A
        response the engine does not know (a 404, ``previous_response_not_found``) that this cassette answered
        with is a miss that says so: a replayed response is not stored by mockai."""
        try:
            body: Any = json.loads(http.body) if http.body else None
        except (ValueError, RecursionError):  # not JSON (or bad UTF-8, or nested too deep): matched as text
            body = http.body.decode("utf-8", "replace")
        try:
            req, key, answer = self._answer(http, body, None)
        except RecursionError:  # nested too deep to scrub: it cannot be recorded safely, the engine's error stands
            return None
        if answer is not None:
            call.body = body if isinstance(body, dict) else None
            call.responder = self.name
            return answer
        unknown = error.status == 404 or error.code == "previous_response_not_found"
        held = sorted(self._response_ids & set(mentioned_ids(http.path, body))) if unknown else []
        if held:  # a follow-up about a replayed response, unknown here: say so rather than "not found"
            text = (f"{self.miss_message(req, key)}\nThe response {held[0]} comes from this cassette: a replayed "
                    "response is not stored by mockai, so what follows it (retrieving, deleting, cancelling it, "
                    "listing its input items, continuing it with previous_response_id) is answered only from "
                    "what was recorded after it.")
            with self._lock:
                self.misses.append(text)
            raise APIError(400, text, code="cassette_miss")
        return None

    def _answer(self, http: HTTPRequest, body: Any, usage: UsageFor | None
                ) -> tuple[CassetteRequest, str, HTTPResponse | None]:
        """The request as matched, its key, and the recorded (or, recording, the upstream's) answer."""
        writer.WRITER.postpone(self._file)
        secrets = self.scrubber.secrets(http.headers, http.query)
        req = CassetteRequest(http.method, http.path, self.scrubber.query(http.query, secrets), http.headers,
                              self.scrubber.body(body, secrets))
        key = self._key(req)
        if self.replaying:
            with self._lock:
                found = self._next(key)
            if found is not None:
                # A stream: asked in the body (POST), or in the query (GET /responses/{id}?stream=true).
                stream = bool(body.get("stream")) if isinstance(body, dict) else "stream=true" in http.query.lower()
                options = body.get("stream_options") if isinstance(body, dict) else None
                include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                padded = (options.get("include_obfuscation") is not False if isinstance(options, dict)
                          else "include_obfuscation=false" not in http.query.lower())
                return req, key, respond(self.interactions[found], stream=stream, include_usage=include_usage,
                                         speed=self.replay_speed, elapsed=self.replay_elapsed, usage=usage,
                                         obfuscation=padded)
        if self.recording:
            response = HTTPResponse(0, {})
            response.live = Recording(http, body, self.upstream, lambda inter: self.add(inter, secrets), response)
            return req, key, response
        return req, key, None

    def _key(self, req: CassetteRequest) -> str:
        """The matchers' key, kept to the request's endpoint: whatever they compare, a recording answers only
        requests to the same endpoint (an embeddings answer never answers a chat request)."""
        return f"{endpoint(req.path)} {self.matcher.key(req)}"

    def _next(self, key: str) -> int | None:
        hits = self._index.get(key)
        if not hits:
            return None
        if self.claim is not None:
            n = self.claim(key, len(hits))
            if n is None:
                return hits[-1] if self.allow_playback_repeats else None
            return hits[n - 1]
        played = self._played.get(key, 0)
        if played >= len(hits):
            return hits[-1] if self.allow_playback_repeats else None
        self._played[key] = played + 1
        return hits[played]

    # --- recording -----------------------------------------------------------------------------------------

    def add(self, interaction: dict[str, Any], secrets: list[str] | tuple[str, ...] = ()) -> None:
        """Scrub ``interaction`` and keep it (already played: it answered its request): in memory, and on disk as
        one line of the cassette's journal, folded into the file off the request path (:mod:`.writer`)."""
        clean = self.scrubber.interaction(interaction, secrets)
        with self._lock:
            index = len(self.interactions)
            self.interactions.append(clean)
            key = self._key(CassetteRequest.of(clean["request"]))
            hits = self._index.setdefault(key, [])
            hits.append(index)
            self._played[key] = len(hits)
            self.recorded.append(clean)
            self._response_ids.update(response_ids(clean))
        append(self._file, clean, run=self.run if self.record_mode == "all" else None)
        writer.WRITER.pending(self._file)

    def flush(self) -> None:
        """Write everything recorded so far into the cassette file now (one atomic rewrite). Recording does it
        by itself once the cassette has been quiet for a second, and at exit; call this to read the file sooner.

        >>> import tempfile, pathlib
        >>> Cassette(pathlib.Path(tempfile.mkdtemp()) / "new.json", record_mode="once").flush()
        """
        writer.WRITER.flush(self._file)

    def rewind(self) -> None:
        """Start playback over: each recording answers its request again, in recorded order; forget the misses.
        The engine's reset runs it (``mock.reset()``, ``POST /_mockai/reset``)."""
        with self._lock:
            self._played.clear()
            self.misses.clear()

    # --- misses --------------------------------------------------------------------------------------------

    def miss_message(self, req: CassetteRequest, key: str) -> str:
        used = len(self._index.get(key, []))
        lines = [f"mockai: cassette {self.path} (record mode {self.record_mode!r}) has no recorded answer for "
                 f"{req.describe()}"]
        if used:
            lines.append(f"It matched {used} recorded interaction{'s' if used > 1 else ''}, already replayed: "
                         "identical requests replay in recorded order, each recording once. To replay the last "
                         "one again, pass allow_playback_repeats=True (pytest: @pytest.mark.mockai("
                         "allow_playback_repeats=True); mockai serve: --allow-playback-repeats); to start "
                         "playback over, reset the mock (mock.reset(); a server: POST /_mockai/reset).")
        elif not self.existed and not self.interactions:
            lines.append("The cassette file does not exist.")
        else:
            lines.append(f"Matchers: {self.matcher.describe()}. The nearest recorded requests:")
            lines.extend("  " + n for n in self.nearest(req))
        lines.append("To record it, use record_mode='new_episodes' (pytest: --mockai-record-mode=new_episodes; "
                     "mockai serve: --record-mode new_episodes) with an upstream to record from.")
        return "\n".join(lines)

    def nearest(self, req: CassetteRequest, limit: int = 3) -> list[str]:
        """The recorded requests closest to ``req`` (fewest failing matchers), each with why it failed."""
        scored = []
        for i, inter in enumerate(self.interactions):
            have = CassetteRequest.of(inter["request"])
            why = self.matcher.explain(req, have)
            scored.append((len(why), i, have, why))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [f"#{i} {have.describe()}: {'; '.join(why) or 'matches, already replayed'}"
                for _, i, have, why in scored[:limit]]


def endpoint(path: str) -> str:
    """The endpoint a request path names, without ``/v1`` and Azure's deployment prefix.

    >>> endpoint("/openai/deployments/emb/embeddings?api-version=1"), endpoint("/v1/chat/completions/")
    ('/embeddings', '/chat/completions')
    """
    path = path.split("?", 1)[0].rstrip("/")
    parts = path.split("/")
    if path.startswith("/openai/deployments/") and len(parts) >= 5:
        return "/" + "/".join(parts[4:])
    for prefix in ("/openai/v1", "/v1", "/openai"):
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return path


def _usage(ex: Exchange, body: dict[str, Any]) -> dict[str, Any] | None:
    """The usage the engine would report for the reply ``body`` (a ``chat.completion``) to ``ex``'s request."""
    from ..chat import Chat
    from ..rules import from_completion

    if not isinstance(ex.wire, Chat):
        return None
    try:
        return ex.wire.usage(ex, from_completion(body))
    except (KeyError, TypeError, ValueError):
        return None


def response_ids(inter: dict[str, Any]) -> list[str]:
    """The ids of the Responses API responses a recorded interaction answered with (its body's, or its stream's)."""
    res = inter.get("response") or {}
    body = res.get("body")
    found = [body] if isinstance(body, dict) and body.get("object") == "response" else []
    found += [c["response"] for c in recorded_chunks(res) if isinstance(c.get("response"), dict)]
    return sorted({str(r["id"]) for r in found if isinstance(r.get("id"), str)})


def mentioned_ids(path: str, body: Any) -> list[str]:
    """The response ids a Responses request is about: ``/responses/{id}…`` and ``previous_response_id``."""
    out = []
    parts = path.split("?", 1)[0].split("/")
    if api_of(path) == "responses" and "responses" in parts:
        after = parts[parts.index("responses") + 1:]
        out += after[:1]
    if isinstance(body, dict) and isinstance(body.get("previous_response_id"), str):
        out.append(body["previous_response_id"])
    return out

__all__ = ["RECORD_MODES", "Cassette", "CassetteError"]
