"""Recording: a request proxied to the upstream with the caller's credentials, its answer passed through as it
arrives and written down.

:class:`Recording` is a :class:`~mockai.engine.LiveSource`: the socket door opens it asynchronously and forwards
each piece the upstream sends (a stream event by event, never buffered whole); the in-process door opens it with
a sync or async ``httpx`` client as the caller's client is sync or async. When the answer is complete (or the
upstream dropped the connection) the interaction is handed to ``done`` to be scrubbed and saved. Its clients use a
transport that patch mode lets through, so recording works while ``api.openai.com`` is intercepted.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any

import httpx

from ..errors import APIError
from ..http import ConnectionDropped, HTTPRequest, HTTPResponse

DEFAULT_UPSTREAM = "https://api.openai.com/v1"
# Not sent upstream (httpx sets its own) and not recorded: transport details and per-run noise.
REQUEST_SKIP = frozenset({"host", "content-length", "connection", "accept-encoding", "transfer-encoding",
                          "keep-alive", "user-agent", "te", "upgrade"})
# Not passed back (the body is forwarded decoded) and not recorded.
RESPONSE_SKIP = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive",
                           "date", "server"})
TIMEOUT = httpx.Timeout(600.0, connect=15.0)


class _Direct(httpx.HTTPTransport):
    mockai_passthrough = True  # patch mode lets this transport's requests reach the network


class _AsyncDirect(httpx.AsyncHTTPTransport):
    mockai_passthrough = True


@functools.lru_cache(maxsize=1)
def _verify() -> ssl.SSLContext | bool:
    """One TLS context for every recording: loading the CA bundle costs 20-100 ms, too much per request."""
    make = getattr(httpx, "create_ssl_context", None)
    return make() if make is not None else True


def upstream_url(upstream: str, http: HTTPRequest) -> str:
    """``upstream`` + the request's path without its ``/v1`` (or ``/openai/v1``) prefix, + the query."""
    path = http.path
    for prefix in ("/openai/v1", "/v1"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix):]
            break
    url = upstream.rstrip("/") + path
    return url + ("?" + http.query if http.query else "")


class Capture:
    """What arrived, and when: the body bytes, or SSE events split as they complete."""

    def __init__(self, t0: float, stream: bool) -> None:
        self.t0, self.stream = t0, stream
        self.body = bytearray()
        self.events: list[dict[str, Any]] = []
        self._pending = b""

    def feed(self, piece: bytes) -> None:
        if not self.stream:
            self.body += piece
            return
        self._pending = (self._pending + piece).replace(b"\r\n", b"\n")
        while b"\n\n" in self._pending:
            event, self._pending = self._pending.split(b"\n\n", 1)
            if event.strip():
                self.events.append(parse_event(event.decode("utf-8", "replace"), self.elapsed()))

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.t0, 4)

    def response(self, status: int, headers: dict[str, str], dropped: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"status": status, "headers": headers, "elapsed": self.elapsed()}
        if self.stream:
            if self._pending.strip():
                self.events.append({"at": self.elapsed(), "raw": self._pending.decode("utf-8", "replace")})
            out["events"] = self.events
        else:
            try:
                out["body"] = json.loads(self.body)
            except ValueError:
                out["text"] = self.body.decode("utf-8", "replace")
        if dropped:
            out["dropped"] = True
        return out


def encode_event(event: dict[str, Any]) -> bytes:
    """One recorded event back as SSE bytes (``event: <name>`` first for a named one)."""
    if "raw" in event:
        return str(event["raw"]).encode() + b"\n\n"
    data = event.get("data")
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = b"event: " + str(event["event"]).encode() + b"\n" if "event" in event else b""
    return head + b"data: " + text.encode() + b"\n\n"


def parse_event(text: str, at: float) -> dict[str, Any]:
    """One SSE event as recorded: ``{"at", "data"}`` for a plain ``data:`` event, ``{"at", "event", "data"}`` for
    a named one (the Responses API's ``event: <type>`` + ``data: {...}``), else ``{"at", "raw"}``."""
    lines = text.split("\n")
    name = None
    if lines[0].startswith("event:") and len(lines) > 1:
        name = lines[0][6:].removeprefix(" ")
        lines = lines[1:]
    if all(line.startswith("data:") for line in lines):
        data = "\n".join(line[6:] if line.startswith("data: ") else line[5:] for line in lines)
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        if isinstance(value, (dict, list)):
            return {"at": at, "data": value} if name is None else {"at": at, "event": name, "data": value}
        if name is None:
            return {"at": at, "data": data}
    return {"at": at, "raw": text}


class Recording:
    """One proxied request; see the module docstring. ``done(interaction, secrets)`` receives the result."""

    def __init__(self, http: HTTPRequest, body: Any, upstream: str,
                 done: Callable[[dict[str, Any]], None], response: HTTPResponse) -> None:
        self.http, self.body, self.upstream = http, body, upstream
        self.url = upstream_url(upstream, http)
        self.done, self.response = done, response
        self.headers = {k: v for k, v in http.headers.items() if k.lower() not in REQUEST_SKIP}

    def _request(self) -> dict[str, Any]:
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("x-stainless")}
        return {"method": self.http.method, "path": self.http.path, "query": self.http.query, "headers": headers,
                "body": self.body}

    def _finish(self, capture: Capture, status: int, headers: dict[str, str], dropped: bool = False) -> None:
        res = capture.response(status, headers, dropped)
        self.response.status, self.response.headers = status, headers
        if capture.stream:
            self.response.events = [encode_event(e) for e in capture.events]
        else:
            self.response.body = bytes(capture.body)
        self.done({"request": self._request(), "response": res})

    def _dropped_early(self, t0: float) -> ConnectionDropped:
        self.response.status = 0
        self.done({"request": self._request(), "response": {"dropped": True,
                                                             "elapsed": round(time.perf_counter() - t0, 4)}})
        return ConnectionDropped(f"the upstream {self.url} dropped the connection")

    def _unreachable(self, exc: Exception) -> tuple[int, dict[str, str], list[bytes]]:
        err = APIError(502, f"mockai could not reach the upstream {self.url} to record this request: {exc}",
                       code="mockai_upstream_unreachable")
        body = json.dumps(err.envelope()).encode()
        self.response.status, self.response.body = 502, body
        self.response.headers = {"content-type": "application/json"}
        return 502, dict(self.response.headers), [body]

    @staticmethod
    def _head(res: httpx.Response) -> tuple[dict[str, str], bool]:
        headers = {k.lower(): v for k, v in res.headers.items() if k.lower() not in RESPONSE_SKIP}
        return headers, res.headers.get("content-type", "").startswith("text/event-stream")

    def open(self) -> tuple[int, dict[str, str], Iterator[bytes]]:
        client = httpx.Client(transport=_Direct(verify=_verify()), timeout=TIMEOUT)
        t0 = time.perf_counter()
        try:
            res = client.send(client.build_request(self.http.method, self.url, headers=self.headers,
                                                   content=self.http.body), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            client.close()
            status, headers, body = self._unreachable(exc)
            return status, headers, iter(body)
        except httpx.TransportError:
            client.close()
            raise self._dropped_early(t0) from None
        headers, stream = self._head(res)
        capture = Capture(t0, stream)

        def pieces() -> Generator[bytes, None, None]:
            dropped = closed = False
            source = res.iter_bytes()
            try:
                for piece in source:
                    capture.feed(piece)
                    yield piece
            except httpx.TransportError:
                dropped = True
            except GeneratorExit:  # the client stopped reading: read the rest, so the recording is whole
                closed = True
                try:
                    for piece in source:
                        capture.feed(piece)
                except httpx.TransportError:
                    dropped = True
            finally:
                res.close()
                client.close()
            self._finish(capture, res.status_code, headers, dropped)
            if dropped and not closed:
                raise ConnectionDropped(f"the upstream {self.url} dropped the connection")

        return res.status_code, dict(headers), _Pieces(pieces(), res, client)

    async def aopen(self) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
        client = httpx.AsyncClient(transport=_AsyncDirect(verify=_verify()), timeout=TIMEOUT)
        t0 = time.perf_counter()
        try:
            res = await client.send(client.build_request(self.http.method, self.url, headers=self.headers,
                                                         content=self.http.body), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            await client.aclose()
            status, headers, body = self._unreachable(exc)
            return status, headers, _aiter(body)
        except httpx.TransportError:
            await client.aclose()
            raise self._dropped_early(t0) from None
        headers, stream = self._head(res)
        capture = Capture(t0, stream)

        async def pieces() -> AsyncGenerator[bytes, None]:
            dropped = closed = False
            source = res.aiter_bytes()
            try:
                async for piece in source:
                    capture.feed(piece)
                    yield piece
            except httpx.TransportError:
                dropped = True
            except GeneratorExit:  # the client stopped reading: read the rest, so the recording is whole
                closed = True
                try:
                    async for piece in source:
                        capture.feed(piece)
                except httpx.TransportError:
                    dropped = True
            finally:
                await res.aclose()
                await client.aclose()
            self._finish(capture, res.status_code, headers, dropped)
            if dropped and not closed:
                raise ConnectionDropped(f"the upstream {self.url} dropped the connection")

        return res.status_code, dict(headers), _AsyncPieces(pieces(), res, client)


class _Pieces:
    """An upstream answer's pieces, as they arrive. Closing them closes the upstream response and client even
    when none was read: a generator closed before it started runs no ``finally``, and the connection was left to
    the garbage collector."""

    def __init__(self, pieces: Generator[bytes, None, None], res: httpx.Response, client: httpx.Client) -> None:
        self._pieces, self._res, self._client = pieces, res, client

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()  # once started: reads the rest, so the recording is whole, then closes
        self._res.close()
        self._client.close()


class _AsyncPieces:
    """:class:`_Pieces` for an async client."""

    def __init__(self, pieces: AsyncGenerator[bytes, None], res: httpx.Response, client: httpx.AsyncClient) -> None:
        self._pieces, self._res, self._client = pieces, res, client

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        return await self._pieces.__anext__()

    async def aclose(self) -> None:
        await self._pieces.aclose()
        await self._res.aclose()
        await self._client.aclose()


async def _aiter(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
