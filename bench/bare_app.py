"""The baseline for bench/serve.py and bench/load.py: a bare Starlette app answering canned bytes like mockai.

    python bench/bare_app.py CANNED.json [--host 127.0.0.1] [--port 0] [--log-level warning]

CANNED.json holds two captured mockai replies, ``{"json": {...}, "stream": {...}}``, each
``{"status": 200, "headers": [[name, value], ...], "body_b64": "..."}``. A request whose body contains
``"stream":true`` gets the stream reply (one write, as mockai sends it), any other the JSON reply. The body is
read in full, as any real server must. uvicorn is configured exactly as ``mockai.server.serve`` configures it for
one worker (log level, ``lifespan="off"``, ``timeout_graceful_shutdown=2``), and the base URL is announced with
the same ``OPENAI_BASE_URL=...`` line, so the benchmark drives both servers the same way. The listening socket
gets ``TCP_NODELAY``, as ``mockai.server.listen`` gives it; pass ``--nagle`` to leave it off.

uvicorn's ``loop="auto"`` and ``http="auto"`` pick uvloop and httptools when they are installed: bench/serve.py
runs it in the project's venv (asyncio and h11, like mockai there), bench/load.py in a venv that has both (the
fastest uvicorn stack, the limit it compares mockai against).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')


def create_app(canned: dict) -> Starlette:
    replies = {}
    for kind in ("json", "stream"):
        item = canned[kind]
        replies[kind] = (item["status"], dict(item["headers"]), base64.b64decode(item["body_b64"]))

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        status, headers, content = replies["stream" if STREAM_FLAG.search(body) else "json"]
        return Response(content, status_code=status, headers=headers)

    return Starlette(routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("canned")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--nagle", action="store_true",
                        help="leave Nagle's algorithm on for accepted connections (a slow path, for comparison)")
    args = parser.parse_args(argv)
    with open(args.canned, encoding="utf-8") as fh:
        canned = json.load(fh)
    config = uvicorn.Config(create_app(canned), host=args.host, port=args.port, log_level=args.log_level,
                            lifespan="off", timeout_graceful_shutdown=2)
    sock = config.bind_socket()
    if not args.nagle:
        # uvicorn.Config.bind_socket() makes a socket with proto 0, and asyncio only sets TCP_NODELAY on sockets
        # whose proto is IPPROTO_TCP; left alone, a response's body (written after its headers) waits for the
        # client's delayed ACK, ~40 ms per keep-alive request. Accepted sockets inherit the option on Linux.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(f"OPENAI_BASE_URL=http://{args.host}:{sock.getsockname()[1]}/v1", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
