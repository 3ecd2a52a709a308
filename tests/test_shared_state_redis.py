"""Replicas behind no balancer at all: two ``mockai serve --state redis://…`` processes over one real
redis-server, driven with the ``openai`` SDK, the test picking a replica per request. They must behave as one
server: a reply scripted through one's control API is served by the other, a response stored by one is continued
from the other, a limit of 10 requests a minute admits 10 across both; a replica restart loses nothing, and a
Redis that goes away is a prompt 503 in OpenAI's envelope, never a hang.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from test_shared_state import RedisServer, ask_control, redis_server, serving

from mockai.shared import BACKOFF, TIMEOUT
from mockai.shared.redis_state import PREFIX

__all__ = ["redis_server"]  # the fixture, used here


@contextlib.contextmanager
def replicas(redis: RedisServer, *args: str) -> Iterator[list[Any]]:
    with serving("--state", redis.url, *args) as one, serving("--state", redis.url, *args) as two:
        for served in (one, two):
            served.chat(retry_for=10)  # up and answering
        ask_control(one, "POST", "reset")
        yield [one, two]


_CLIENTS: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """The SDK clients a test made are closed after it (a socket left to the garbage collector warns in whichever
    test runs then)."""
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def sdk(served: Any) -> openai.OpenAI:
    _CLIENTS.append(openai.OpenAI(api_key="sk-test", base_url=served.base_url, max_retries=0, timeout=20))
    return _CLIENTS[-1]


def ask(client: openai.OpenAI, text: str) -> str:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def test_two_replicas_behave_as_one_server(redis_server: RedisServer) -> None:
    with replicas(redis_server, "--freeze-time", "1") as (one, two):
        a, b = sdk(one), sdk(two)
        status, _ = ask_control(one, "POST", "rules", {
            "rules": [{"match": {"last_user": "weather"}, "reply": "Sunny on every replica.", "times": 3}],
            "queue": ["The one queued reply."]})
        assert status == 201
        assert ask(b, "weather?") == "Sunny on every replica.", "scripted on one, served by the other"
        assert [ask(c, "weather?") for c in (a, b)] == ["Sunny on every replica."] * 2
        assert ask(a, "weather?") == "The one queued reply.", "times=3 held across replicas; then the queue"
        assert "The one queued reply." not in {ask(c, "Hi") for c in (a, b, a, b)}, "served once"
        _, rules = ask_control(two, "GET", "rules")
        assert rules["rules"][0]["call_count"] == 3

        first = a.responses.create(model="gpt-4o-mini", input="Remember the word teal.")
        follow = b.responses.create(model="gpt-4o-mini", input="Which word?", previous_response_id=first.id)
        assert follow.previous_response_id == first.id
        third = a.responses.create(model="gpt-4o-mini", input="And now?", previous_response_id=follow.id)
        assert b.responses.retrieve(third.id).previous_response_id == follow.id
        assert [item.type for item in b.responses.input_items.list(third.id).data][:1] == ["message"]
        conversation = b.conversations.create(metadata={"topic": "teal"})
        assert a.conversations.retrieve(conversation.id).metadata == {"topic": "teal"}

        _, calls = ask_control(two, "GET", "calls")
        paths = [c["path"] for c in calls["data"]]
        assert paths.count("/v1/chat/completions") == 8
        assert paths.count("/v1/responses") == 3
        assert len({c["worker"] for c in calls["data"]}) == 2, "the journal lists both replicas' calls"


def test_a_limit_of_10_rpm_admits_10_across_both(redis_server: RedisServer) -> None:
    with replicas(redis_server, "--rpm", "10", "--freeze-time", "1") as (one, two):
        clients = [sdk(one), sdk(two)]
        admitted, limited = 0, []
        for i in range(20):
            try:
                ask(clients[i % 2], f"request {i}")
                admitted += 1
            except openai.RateLimitError as exc:
                limited.append(exc)
        assert admitted == 10
        assert len(limited) == 10
        assert limited[0].code == "rate_limit_exceeded"
        assert limited[0].response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_replica_restart_loses_nothing(redis_server: RedisServer) -> None:
    with serving("--state", redis_server.url) as keeper:
        keeper.chat(retry_for=10)
        with serving("--state", redis_server.url) as leaving:
            leaving.chat(retry_for=10)
            first = sdk(leaving).responses.create(model="gpt-4o-mini", input="Remember teal.")
            status, _ = ask_control(leaving, "POST", "rules", {"queue": ["Kept through the restart."]})
            assert status == 201
            assert leaving.stop()[0] == 0
        with serving("--state", redis_server.url) as back:
            status, body = back.chat("after the restart", retry_for=10)
            assert body["choices"][0]["message"]["content"] == "Kept through the restart.", "the queue survived"
            client = sdk(back)
            follow = client.responses.create(model="gpt-4o-mini", input="Which?", previous_response_id=first.id)
            assert follow.previous_response_id == first.id
            assert client.responses.retrieve(first.id).output_text == first.output_text
        assert sdk(keeper).responses.retrieve(follow.id).previous_response_id == first.id


def test_redis_going_away_is_a_prompt_503_then_service_resumes(redis_server: RedisServer) -> None:
    with serving("--state", redis_server.url) as served:
        client = sdk(served)
        assert ask(client, "Hi")
        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as caught:
            ask(client, "Hi")
        assert time.monotonic() - started < 10, "no hang"
        assert caught.value.status_code == 503
        assert caught.value.code == "state_unavailable"
        assert caught.value.body["message"].startswith(f"mockai's shared state ({redis_server.url}) is unavailable")
        res = httpx.get(served.base_url.removesuffix("/v1") + "/_mockai/calls", timeout=10)
        assert res.status_code == 503, "the control API says so too"
        assert res.json()["error"]["code"] == "state_unavailable"
        redis_server.start()  # same port: the replica reconnects, nothing to restart
        assert ask(client, "Hi")
        _, calls = ask_control(served, "GET", "calls")
        assert [c["status"] for c in calls["data"]] == [200], "what Redis lost is gone; what it answered since is kept"


def test_a_redis_that_stops_answering_costs_a_request_one_timeout_then_service_resumes(
        redis_server: RedisServer) -> None:
    """A Redis that hangs (stopped, or a firewall dropping its packets) refuses nothing: each operation waits for
    the socket timeout. A request makes several (its journal entry, a stored response, the 503's request id); the
    first waits TIMEOUT and the rest fail at once, as do those of the requests answered meanwhile, so each gets its
    503 within about TIMEOUT (it took one TIMEOUT per operation: 20 s). Once Redis answers, requests do again."""
    from concurrent.futures import ThreadPoolExecutor

    with serving("--state", redis_server.url) as served, openai.OpenAI(
            api_key="sk-test", base_url=served.base_url, max_retries=0, timeout=TIMEOUT + 1.5) as client:
        assert ask(client, "Hi")
        calls = served.base_url.removesuffix("/v1") + "/_mockai/calls"
        asks: list[Any] = [
            lambda: ask(client, "Hi"),
            lambda: "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "a stream"}], stream=True)),
            lambda: client.responses.create(model="gpt-4o-mini", input="Remember teal."),
            lambda: httpx.get(calls, timeout=TIMEOUT + 1.5).raise_for_status(),
        ]

        def timed(run: Any) -> tuple[float, Any]:
            started = time.monotonic()
            try:
                run()
            except (openai.APIStatusError, httpx.HTTPStatusError) as exc:
                return time.monotonic() - started, exc
            raise AssertionError("answered while Redis is stopped")

        redis_server.pause()
        try:
            with ThreadPoolExecutor(len(asks)) as pool:  # all at once
                answered = list(pool.map(timed, asks))
            alone = timed(lambda: ask(client, "Hi again"))  # one more, after them
        finally:
            redis_server.resume()
        for took, error in [*answered, alone]:
            status = error.status_code if isinstance(error, openai.APIStatusError) else error.response.status_code
            assert status == 503, error
            assert took < TIMEOUT + 1.5, f"{took:.1f} s: not one timeout per operation"
        assert answered[0][1].code == "state_unavailable"
        assert alone[0] < 1, f"{alone[0]:.1f} s: a request right after the timeout fails at once"
        deadline = time.monotonic() + BACKOFF + 3
        while (back := served.chat("Back"))[0] != 200:  # 503 at once until the back-off is over, then Redis is asked
            assert back[1]["error"]["code"] == "state_unavailable"
            assert time.monotonic() < deadline, "Redis answers again, the replica does not"
            time.sleep(0.1)
        assert client.responses.create(model="gpt-4o-mini", input="Remember teal.").output_text
        assert ask_control(served, "GET", "calls")[0] == 200


def test_the_redis_keys_are_namespaced(redis_server: RedisServer) -> None:
    import redis

    with serving("--state", redis_server.url) as served:
        served.chat(retry_for=10)
    keys = redis.Redis.from_url(redis_server.url).keys("*")
    assert keys
    assert all(k.decode().startswith(PREFIX) for k in keys)


def test_a_redis_restart_between_requests_costs_no_request(redis_server: RedisServer) -> None:
    """The replica's connections die with the server: the first request after it is back still gets its answer."""
    with serving("--state", redis_server.url) as served:
        client = sdk(served)
        assert ask(client, "Hi")
        redis_server.stop()
        redis_server.start()
        assert ask(client, "Hi again")
        _, calls = ask_control(served, "GET", "calls")
        assert [c["status"] for c in calls["data"]] == [200]


def test_scenario_files_are_loaded_once_for_all_replicas(redis_server: RedisServer, tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("queue:\n  - Served by one replica, once.\nrules:\n  - match: {last_user: ping}\n"
                        "    reply: pong\n")
    with serving("--state", redis_server.url, "--scenario", str(scenario)) as one, \
            serving("--state", redis_server.url, "--scenario", str(scenario)) as two:
        assert "not added again" in "".join(two.announced), "the second replica says why it adds nothing"
        clients = [sdk(one), sdk(two)]
        texts = [ask(clients[i % 2], "Hi") for i in range(6)]
        assert texts.count("Served by one replica, once.") == 1
        _, rules = ask_control(one, "GET", "rules")
        assert len(rules["rules"]) == 1
        assert [ask(c, "ping") for c in clients] == ["pong", "pong"]


def test_concurrent_requests_share_round_trips_and_get_one_engines_ids(redis_server: RedisServer) -> None:
    """Requests in flight together on a replica keep their calls in one round trip (fewer ``EVALSHA`` than
    requests), each call kept once and only after it was counted. The same request sent to both replicas at once
    gets, across the two, exactly the ids one engine gives that many repeats of it: wrong guesses (the other
    replica counted it meanwhile) are answered again, never sent."""
    import asyncio

    import redis

    from mockai.engine import Config, Engine

    one = Engine(Config(seed=9, clock=1_700_000_000))
    alone = {one.handle(_chat_request("Same")).json()["id"] for _ in range(40)}
    with replicas(redis_server, "--seed", "9", "--freeze-time", "1700000000") as (first, second):
        stats = redis.Redis.from_url(redis_server.url)
        stats.config_resetstat()

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=40)) as client:
                return await asyncio.gather(*(
                    client.post(f"{(first, second)[i % 2].base_url}/chat/completions",
                                headers={"authorization": "Bearer sk-test"},
                                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
                    for i, text in enumerate(["Same"] * 40 + [f"Different {n}" for n in range(40)])))

        answers = asyncio.run(burst())
        assert [r.status_code for r in answers] == [200] * 80
        calls = int(stats.info("commandstats")["cmdstat_evalsha"]["calls"])
        assert calls < 80, f"{calls} round trips for 80 requests: none shared"
        assert {r.json()["id"] for r in answers[:40]} == alone, "as one engine counts 40 repeats"
        _, journal = ask_control(first, "GET", "calls")
        ids = [c["response"]["id"] for c in journal["data"] if c["path"].endswith("/chat/completions")]
        assert sorted(ids) == sorted(r.json()["id"] for r in answers), "each call kept once, as it was sent"


def _chat_request(text: str) -> Any:
    import json

    from mockai.engine import HTTPRequest

    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    return HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
                       body=json.dumps(body).encode())
