"""Serving the engine on a real socket: in a background thread for tests, or in the foreground for the CLI.

>>> from mockai.engine import Engine
>>> with ServerThread(Engine()) as server:
...     server.base_url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from .engine import Config, Engine
from .rules import SOCKET_DOOR

CONFIG_ENV = "MOCKAI_SERVE_CONFIG"
SCENARIO_ENV = "MOCKAI_SERVE_SCENARIOS"
HOST_ENV = "MOCKAI_SERVE_HOST"
WORKERS_ENV = "MOCKAI_SERVE_WORKERS"
# mockai serves no WebSocket API: an upgrade request is answered as the plain request it also is (a 404 envelope
# naming what is served, not uvicorn's bare 403), and uvicorn does not import a WebSocket library at start-up.
WEBSOCKETS = "none"


class ServerThread:
    """uvicorn serving ``engine`` on ``host``:``port`` (0 picks a free port) in a daemon thread."""

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        from .access import AccessLog
        from .app import create_app

        self.engine = engine
        # At info or debug, a line per request on the ``mockai.access`` logger (pytest shows it with a failure).
        access = AccessLog(engine) if log_level in ("info", "debug", "trace") else None
        self._config = uvicorn.Config(SocketDoor(create_app(engine, host, access_log=access)), host=host, port=port,
                                      log_level=log_level, access_log=False, lifespan=lifespan(engine.config.state),
                                      proxy_headers=False, timeout_graceful_shutdown=2, ws=WEBSOCKETS)
        self._server = uvicorn.Server(self._config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._bound: tuple[str, int] | None = None  # (host, port) while running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        assert self._socket is not None, "the server is not running"
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without ``/v1``."""
        return url_of(self._config.host, self.port)

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client: ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    def start(self) -> ServerThread:
        host, port = self._config.host, self._config.port
        try:
            self._socket = listen(host, port, self._config.backlog)
        except OSError as exc:
            raise OSError(exc.errno, f"mockai: cannot listen on {host}:{port}: {exc.strerror or exc}. "
                                     f"{busy_port_hint(exc, 'port=0')}") from None
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"mockai-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the mockai server thread failed to start")
            time.sleep(0.002)
        self._bound = (self._config.host, self.port)
        _SERVING.add(self._bound)
        return self

    def stop(self) -> None:
        if "_inspector_feed" in self.engine.__dict__:  # open inspector pages: end their feeds, or they hold us up
            from .inspector.feed import end_feeds

            end_feeds(self.engine)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._bound is not None:
            _SERVING.discard(self._bound)
            self._bound = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class SocketDoor:
    """Marks the requests an app answers as the socket door's (see :data:`mockai.rules.SOCKET_DOOR`): there an
    exception raised by the test's scripted code becomes a 500 naming it, kept for ``verify()``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = SOCKET_DOOR.set(True)
        try:
            await self.app(scope, receive, send)
        finally:
            SOCKET_DOOR.reset(token)


# (host, port) of the servers running in this process: patch mode lets requests to them through.
_SERVING: set[tuple[str, int]] = set()
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"})


def serves(url: str) -> bool:
    """Whether ``url`` is on a :class:`ServerThread` running in this process."""
    if not _SERVING:
        return False
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    return any(p == port and (h == host or (h in _LOOPBACK and host in _LOOPBACK)) for h, p in _SERVING)


def busy_port_hint(exc: OSError, fix: str) -> str:
    """What to do about a port that cannot be bound."""
    import errno

    if isinstance(exc, socket.gaierror):
        return "The host name does not resolve: use 127.0.0.1, localhost, or an address of this machine."
    if exc.errno == errno.EADDRINUSE:
        return f"Another process holds the port: stop it, choose another port, or pass {fix} to pick a free one."
    if exc.errno == errno.EACCES:
        return f"Ports below 1024 need privileges: choose a port above 1023, or pass {fix} to pick a free one."
    if exc.errno == errno.EADDRNOTAVAIL:
        return "The host is not an address of this machine: use 127.0.0.1 (or 0.0.0.0 for every interface)."
    return f"Pass {fix} to pick a free port."


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket; raises ``OSError`` (e.g. the port is taken) instead of exiting like uvicorn.

    ``TCP_NODELAY`` is set because uvicorn writes headers and body separately: without it every keep-alive
    request after the first waits ~40 ms for the client's delayed ACK.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _quiet_server_class() -> type:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn re-raises the signal that stopped it once it has shut down, so a clean SIGTERM would end the
        process with -15 (and SIGINT with click's "Aborted!"); a test server should just exit 0."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            if "mockai.inspector.feed" in sys.modules:  # open inspector pages: end their feeds, or they hold us up
                sys.modules["mockai.inspector.feed"].end_feeds()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return QuietServer


def quiet_server(config: Any) -> Any:
    return _quiet_server_class()(config)


def control_line(options: dict[str, Any], host: str, workers: int, url: str) -> str:
    """Where the inspector and the control API are, or why they are off (see :func:`mockai.app.create_app`)."""
    from .app import is_loopback

    token = options.get("control_token")
    control = options.get("control")
    if control is False or (control is None and not is_loopback(host) and token is None):
        why = "--no-control" if control is False else f"{host} is not a loopback address: pass --control-token"
        return f"inspector and control API: off ({why})"
    line = f"inspector: {url}/_mockai/  (control API: {url}/_mockai/health, calls, rules, reset, events)"
    if token is not None:
        line = (f"inspector: {url}/_mockai/?token=CONTROL_TOKEN  (control API: {url}/_mockai/…, with "
                "Authorization: Bearer CONTROL_TOKEN)")
    return line


def config_from_env() -> Config:
    """The engine configuration the CLI handed to worker processes."""
    raw: dict[str, Any] = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    return Config(**raw)


def lifespan(state: str | None) -> Literal["on", "off"]:
    """uvicorn's ``lifespan`` for an app over a shared state (``state``) or not: only a shared state has anything
    to do at shutdown (close the connections the event loop opened: :func:`mockai.app.create_app`); elsewhere the
    lifespan protocol is left out (a round of messages at each start)."""
    return "on" if state else "off"


def app_factory() -> Any:
    """For uvicorn's ``--factory`` in each worker process: an app over a fresh engine, with the request log when
    the ``mockai.access`` logger is at ``info``."""
    from .access import AccessLog
    from .app import create_app

    config = config_from_env()
    workers = int(os.environ.get(WORKERS_ENV, "1"))
    engine = Engine(config)
    paths = [path for path in os.environ.get(SCENARIO_ENV, "").split(os.pathsep) if path]
    for path in paths if engine.shared is None else ():  # a shared state has them already (_prepare_state)
        from .scenario import apply, load_scenario

        apply(load_scenario(path), engine.script)
    return create_app(engine, os.environ.get(HOST_ENV, "127.0.0.1"), workers, access_log=AccessLog.wanted(engine))


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def url_of(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to ``host``: loopback's for a server bound to
    every interface (``0.0.0.0``, ``::``), which some clients cannot connect to as such (Windows, proxies).

    >>> url_of("127.0.0.1", 8000), url_of("0.0.0.0", 8000), url_of("::", 8000)
    ('http://127.0.0.1:8000', 'http://127.0.0.1:8000', 'http://[::1]:8000')
    """
    host = _WILDCARDS.get(host, host)
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def serve(options: dict[str, Any], *, host: str, port: int, workers: int, log_level: str,
          scenarios: Sequence[str] = (), announce: Callable[[str], None] = print, log_format: str = "text") -> None:
    """Serve in the foreground until SIGINT or SIGTERM; ``options`` are :class:`Config` keyword arguments,
    ``scenarios`` paths of scenario files (already checked by the caller). At ``info`` every request is logged on
    stderr, in ``log_format`` (``text`` or ``json``; see :mod:`mockai.access`).

    Several ``workers`` share one state (:mod:`mockai.shared`): ``options["state"]``, or a temporary SQLite file
    removed when the server stops."""
    if workers > 1 and not options.get("state"):
        import shutil
        import tempfile

        # In memory when the system has a tmpfs for it (Linux's /dev/shm): the file lives as long as the server.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        folder = tempfile.mkdtemp(prefix="mockai-state-", dir=shm)
        # Until the supervisor takes SIGTERM over, it would end the process before the folder is removed (a test
        # or a script stopping the server as soon as it is announced): leave through the `finally` instead.
        main = threading.current_thread() is threading.main_thread()  # (signal handlers are the main thread's)
        previous = signal.signal(signal.SIGTERM, _exit_quietly) if main else None
        try:
            serve({**options, "state": f"sqlite:///{os.path.join(folder, 'state.db')}"}, host=host, port=port,
                  workers=workers, log_level=log_level, scenarios=scenarios, announce=announce,
                  log_format=log_format)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            if main:
                signal.signal(signal.SIGTERM, previous)
        return
    if options.get("state"):  # create it (tables, WAL mode) once, before the workers open it all at once
        _prepare_state(options["state"], scenarios, announce)
    import logging.config

    import uvicorn

    from .access import logging_config

    os.environ[CONFIG_ENV] = json.dumps(options)
    os.environ[SCENARIO_ENV] = os.pathsep.join(scenarios)
    os.environ[HOST_ENV] = host
    os.environ[WORKERS_ENV] = str(workers)
    log_config = logging_config(log_format, log_level)
    logging.config.dictConfig(log_config)  # before the app is built: it asks whether requests are logged
    common: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "log_config": log_config,
                              "access_log": False, "lifespan": lifespan(options.get("state")),
                              "timeout_graceful_shutdown": 2,
                              # mockai never reads the client's address: no X-Forwarded-For middleware per request
                              "proxy_headers": False, "ws": WEBSOCKETS}
    if workers > 1:
        config = uvicorn.Config("mockai.server:app_factory", factory=True, workers=workers, **common)
    else:
        config = uvicorn.Config(app_factory(), **common)
    sock = listen(host, port, config.backlog)
    with sock:
        bound = sock.getsockname()[1]
        url = url_of(host, bound)
        every = f", listening on every interface ({host})" if host in _WILDCARDS else ""
        announce(f"mockai serving on {url}/v1  (seed {options.get('seed', 0)}, {workers} worker"
                 f"{'s' if workers > 1 else ''}{', state ' + _safe(options['state']) if options.get('state') else ''}"
                 f"{every})"
                 f"\n{control_line(options, host, workers, url)}\n"
                 f"OPENAI_BASE_URL={url}/v1")
        # Everything built so far lives as long as the server: keep it out of the collector's way.
        gc.freeze()
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
        else:
            quiet_server(config).run(sockets=[sock])


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _prepare_state(url: str, scenarios: Sequence[str], announce: Callable[[str], None]) -> None:
    """Create the shared state's tables once, before workers open it together, and put the scenario files' rules
    in it unless it has a script already (another replica's, or this server's before a restart): say so then."""
    from .shared import open_backend
    from .shared.wiring import SharedScript, scenario_documents

    backend = open_backend(url)
    try:
        if scenarios and not SharedScript(backend).seed(scenario_documents(scenarios)):
            announce(f"mockai: the shared state already holds scripted rules (another replica's, or from before a "
                     f"restart): {', '.join(scenarios)} not added again. POST /_mockai/reset and POST the files to "
                     "/_mockai/rules to start over.")
    finally:
        backend.close()


def _safe(url: str) -> str:
    """A state URL without its password, to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
