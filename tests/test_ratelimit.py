"""The per-API-key rate limiter (mockai.ratelimit): exact under a frozen or manual clock, with OpenAI's headers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockai import Clock, MockAI
from mockai.engine import HTTPRequest, HTTPResponse, prompt_tokens
from mockai.validation import parse_chat


def body(content: str = "Hi", **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **params}


def post(mock: MockAI, payload: dict[str, Any] | None = None, key: str = "sk-a") -> HTTPResponse:
    return mock.engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                          body=json.dumps(payload or body()).encode()))


def limits(res: HTTPResponse) -> dict[str, str]:
    return {k[len("x-ratelimit-"):]: v for k, v in res.headers.items() if k.startswith("x-ratelimit-")}


def cost(payload: dict[str, Any]) -> int:
    return prompt_tokens(parse_chat(json.dumps(payload).encode())[1])


def test_requests_per_minute_are_exact_under_a_frozen_clock() -> None:
    mock = MockAI(rpm=3, clock=1_700_000_000)
    seen = [limits(post(mock)) for _ in range(3)]
    assert [h["remaining-requests"] for h in seen] == ["2", "1", "0"]
    assert [h["reset-requests"] for h in seen] == ["20s", "40s", "1m0s"]
    assert all(h["limit-requests"] == "3" for h in seen)
    refused = post(mock)
    err = refused.json()["error"]
    assert refused.status == 429
    assert (err["type"], err["code"]) == ("requests", "rate_limit_exceeded")
    assert err["message"].startswith("Rate limit reached for gpt-4o-mini in organization org-mockai on requests per "
                                     "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.")
    assert (refused.headers["retry-after"], refused.headers["retry-after-ms"]) == ("20", "20000")
    assert limits(refused)["remaining-requests"] == "0"
    assert [post(mock).status for _ in range(5)] == [429] * 5  # frozen: never refills


def test_a_manual_clock_refills_exactly() -> None:
    clock = Clock(1000)
    mock = MockAI(rpm=60, clock=clock)
    assert [post(mock).status for _ in range(61)] == [200] * 60 + [429]
    assert mock.calls.last.response.headers["retry-after-ms"] == "1000"
    clock.advance(0.999)
    assert post(mock).status == 429
    assert mock.calls.last.response.headers["retry-after-ms"] == "1"
    clock.advance(0.001)
    assert post(mock).status == 200
    clock.advance(30)
    assert limits(post(mock))["remaining-requests"] == "29"
    clock.advance(3600)
    assert limits(post(mock))["remaining-requests"] == "59"  # a full bucket holds one minute's worth
    with pytest.raises(ValueError, match="go back"):
        clock.advance(-1)


def test_tokens_per_minute_charge_the_prompt_and_max_tokens() -> None:
    payload = body("Hello there", max_tokens=40)
    each = cost(payload) + 40
    mock = MockAI(tpm=3 * each + 5, clock=0)
    remaining = [int(limits(post(mock, payload))["remaining-tokens"]) for _ in range(3)]
    assert remaining == [2 * each + 5, each + 5, 5]
    refused = post(mock, payload)
    err = refused.json()["error"]
    assert (refused.status, err["type"], err["code"]) == (429, "tokens", "rate_limit_exceeded")
    wait = (each - 5) * 60 / (3 * each + 5)
    assert refused.headers["retry-after-ms"] == str(round(wait * 1000))
    assert f"Limit {3 * each + 5}, Used {3 * each}, Requested {each}." in err["message"]


def test_without_max_tokens_the_reply_is_charged() -> None:
    mock = MockAI(tpm=10_000, clock=0)
    res = post(mock)
    usage = res.json()["usage"]
    assert limits(res)["remaining-tokens"] == str(10_000 - usage["prompt_tokens"] - usage["completion_tokens"])


def test_a_request_larger_than_the_limit_is_refused_outright() -> None:
    mock = MockAI(tpm=50, clock=0)
    res = post(mock, body(max_tokens=100))
    err = res.json()["error"]
    assert res.status == 429
    assert err["message"].startswith("Request too large for gpt-4o-mini")
    assert err["type"] == "tokens"
    assert "retry-after" not in res.headers


def test_limits_are_per_api_key() -> None:
    mock = MockAI(rpm=1, clock=0)
    assert [post(mock, key="sk-a").status, post(mock, key="sk-a").status] == [200, 429]
    assert post(mock, key="sk-b").status == 200
    azure = mock.engine.handle(HTTPRequest("POST", "/v1/chat/completions", headers={"api-key": "sk-c"},
                                           body=json.dumps(body()).encode()))
    assert azure.status == 200


def test_every_chat_answer_carries_the_headers_streams_and_faults_included() -> None:
    mock = MockAI(rpm=100, tpm=100_000, clock=0)
    stream = post(mock, body(stream=True))
    assert stream.events is not None
    assert set(limits(stream)) == {f"{w}-{u}" for w in ("limit", "remaining", "reset") for u in ("requests", "tokens")}
    mock.fault("500")
    assert limits(post(mock))["remaining-requests"] == "98"
    mock.fault("429")
    res = post(mock)
    assert limits(res)["limit-requests"] == "100"  # a 429 fault reports the real limiter's limits, spent
    assert limits(res)["remaining-requests"] == "0"
    assert limits(res)["limit-tokens"] == "100000"
    assert "Limit 100, Used 100, Requested 1." in res.json()["error"]["message"]
    models = mock.engine.handle(HTTPRequest("GET", "/v1/models", headers={"authorization": "Bearer sk-a"}))
    assert not limits(models)


def test_no_limits_no_headers_and_reset_refills() -> None:
    assert not limits(post(MockAI()))
    mock = MockAI(rpm=1, clock=0)
    assert [post(mock).status, post(mock).status] == [200, 429]
    mock.reset()
    assert post(mock).status == 200


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_limits_must_be_whole_positive_numbers(bad: Any) -> None:
    with pytest.raises(ValueError, match="rpm must be a whole number"):
        MockAI(rpm=bad)


def test_the_sdk_sees_a_rate_limit_error_with_the_headers() -> None:
    import openai

    mock = MockAI(rpm=1, clock=0)
    client = mock.client(max_retries=0)
    client.chat.completions.create(**body())
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**body())
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert info.value.code == "rate_limit_exceeded"


def test_retry_after_is_the_longest_wait_over_every_short_bucket() -> None:
    # The request bucket alone once set retry-after; the token bucket could still be short after it.
    clock = Clock(1000)
    mock = MockAI(rpm=2, tpm=200, clock=clock)
    base = cost(body())
    assert [post(mock, body(max_tokens=n - base)).status for n in (90, 90)] == [200, 200]
    big = body(max_tokens=190 - base)
    refused = post(mock, big)
    assert refused.status == 429
    wait = int(refused.headers["retry-after"])
    assert wait == 51  # 190 tokens with 20 left refill at 200/min: 51 s (the request bucket: 30 s)
    assert refused.json()["error"]["type"] == "tokens"
    clock.advance(wait - 1)
    assert post(mock, big).status == 429
    clock.advance(1)
    assert post(mock, big).status == 200
