"""Start-up: request validators are built on first use, once, and first uses from many threads at once are safe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (nothing built yet) and return the JSON it prints last."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_engine_builds_no_request_validator_until_a_request_needs_it() -> None:
    got = run("""
        import json
        from mockai.engine import Engine, HTTPRequest
        from mockai.wire import ChatCompletionRequest, TextPart
        from mockai.responses.wire import CreateResponseRequest
        engine = Engine()
        before = [ChatCompletionRequest.__pydantic_complete__, CreateResponseRequest.__pydantic_complete__]
        res = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer k"},
                            body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'))
        after = [ChatCompletionRequest.__pydantic_complete__, CreateResponseRequest.__pydantic_complete__]
        print(json.dumps({"before": before, "after": after, "status": res.status,
                          "nested": TextPart.__pydantic_complete__}))
        """)
    assert got == {"before": [False, False], "after": [True, False], "status": 200, "nested": False}


def test_the_first_requests_of_every_surface_from_many_threads_at_once_are_answered() -> None:
    """Each thread's first request builds (or waits for) its surface's validator; none may see a half-built one."""
    got = run("""
        import json, threading
        from mockai.engine import Engine, HTTPRequest
        engine = Engine()
        bodies = {
            "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
                                     "max_tokens": 5, "temperature": 0.5},
            "/v1/responses": {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "Hi"}],
                              "max_output_tokens": 16},
            "/v1/embeddings": {"model": "text-embedding-3-small", "input": ["a", "b"]},
            "/v1/moderations": {"input": "hello"},
        }
        jobs = [path for path in bodies for _ in range(8)]
        start = threading.Barrier(len(jobs))
        statuses = [0] * len(jobs)
        def work(i):
            start.wait()
            http = HTTPRequest("POST", jobs[i], headers={"authorization": "Bearer k"},
                               body=json.dumps(bodies[jobs[i]]).encode())
            statuses[i] = engine.handle(http).status
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps({"statuses": sorted(set(statuses)), "n": len(statuses)}))
        """)
    assert got == {"statuses": [200], "n": 32}


def test_the_surfaces_a_run_never_calls_are_never_imported() -> None:
    """Chat completions alone import neither the Responses API, nor embeddings, nor moderations; their first
    request imports and mounts them (see also test_validation's test of their routes)."""
    got = run("""
        import json, sys
        from mockai.engine import Engine, HTTPRequest
        LATER = ("mockai.responses.surface", "mockai.responses.wire", "mockai.embeddings", "mockai.moderations")
        engine = Engine()
        auth = {"authorization": "Bearer k"}
        chat = engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers=auth,
                             body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'))
        before = [m for m in LATER if m in sys.modules]
        res = engine.handle(HTTPRequest("POST", "/v1/responses", headers=auth,
                            body=b'{"model": "gpt-4o-mini", "input": "Hi"}'))
        print(json.dumps({"before": before, "after": [m for m in LATER if m in sys.modules],
                          "status": [chat.status, res.status]}))
        """)
    assert got == {"before": [], "after": ["mockai.responses.surface", "mockai.responses.wire", "mockai.embeddings",
                                           "mockai.moderations"], "status": [200, 200]}


def test_mockai_serve_answers_its_first_request_without_what_it_does_not_need() -> None:
    """``mockai serve`` as the README starts it, to its first (generated) answer: no Faker (its import loads every
    provider, ~150 ms; the word list is read as data), no scenario loader without ``--scenario``, no reply models
    (the engine writes JSON), and the request log's scrubber without the cassettes' recorder and httpx (~85 ms)."""
    got = run("""
        import asyncio, json, sys
        import uvicorn.server
        from mockai.cli import main

        started = uvicorn.server.Server.startup
        answer = {}

        async def ask(server):
            port = server.servers[0].sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'
            writer.write(b"POST /v1/chat/completions HTTP/1.1\\r\\nhost: x\\r\\nauthorization: Bearer k\\r\\n"
                         b"content-type: application/json\\r\\ncontent-length: %d\\r\\n\\r\\n%s" % (len(body), body))
            answer["status"] = (await reader.readline()).decode().split()[1]
            writer.close()
            server.should_exit = True

        async def startup(self, sockets=None):
            await started(self, sockets)
            self.first = asyncio.ensure_future(ask(self))

        uvicorn.server.Server.startup = startup
        main(["serve", "--port", "0"], standalone_mode=False)
        print(json.dumps({**answer, "logged": "mockai.cassettes.scrub" in sys.modules, "loaded": [
            m for m in ("faker", "mockai.scenario", "mockai.wire_replies", "httpx", "mockai.cassettes.proxy")
            if m in sys.modules]}))
        """)
    assert got == {"status": "200", "logged": True, "loaded": []}
