"""Exceptions in the test's own scripted code (reply callables, ``where=`` predicates, exceptions given as replies):
raised in the test through the in-process door, a 500 naming them over a socket (then raised by verify()), never
retried and never reported as "never matched"."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import openai
import pytest
import respx

from mockai import MockAI
from mockai.rules import CallbackError
from mockai.wire import ChatCompletionRequest

MESSAGES = [{"role": "user", "content": "weather in Oslo?"}]


def ask(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]


def broken_reply(request: ChatCompletionRequest) -> str:
    return request.metadata["city"]  # type: ignore[index]  # metadata is None: TypeError, the test author's bug


def test_a_reply_callable_raises_in_the_test_with_its_traceback() -> None:
    mock = MockAI()
    rule = mock.on(last_user="weather").respond(broken_reply)
    client = mock.client()  # default retries: an exception must not be retried
    with pytest.raises(TypeError, match="not subscriptable") as caught:
        ask(client)
    frames = [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-1] == "broken_reply"  # the user's own line is where it points
    assert mock.call_count == 1
    assert rule.call_count == 1
    assert mock.calls.last.status == 500  # the journal keeps the attempt
    assert mock.unused() == []
    mock.verify()  # the test saw it: nothing more to report


def test_patch_mode_async_clients_and_respx_raise_it_too() -> None:
    def boom(request: ChatCompletionRequest) -> str:
        raise KeyError("no such city")

    with MockAI() as mock:
        mock.on().respond(boom)
        with pytest.raises(KeyError, match="no such city"):
            ask(openai.OpenAI())  # the code under test's own client, through patch mode

    mock = MockAI()
    mock.on().respond(boom)

    async def main() -> None:
        with pytest.raises(KeyError):
            await mock.async_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    import anyio

    anyio.run(main)
    with respx.mock(assert_all_called=False) as router:
        router.route(host="api.openai.com").mock(side_effect=mock.respx_side_effect)
        with pytest.raises(KeyError):
            httpx.post("https://api.openai.com/v1/chat/completions", headers={"authorization": "Bearer sk-x"},
                       json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert mock.call_count == 2


def test_where_predicates_queued_callables_and_exception_replies() -> None:
    mock = MockAI()
    rule = mock.on(where=lambda request: request.messages[5] is None).reply("never")
    with pytest.raises(IndexError):
        ask(mock.client())
    assert rule.call_count == 1
    assert mock.unused() == []
    assert str(mock.callback_errors[0]).startswith("the where= predicate of rule on(where=<lambda>) raised IndexError")

    mock = MockAI()
    mock.queue(lambda request: 1 / 0, ConnectionRefusedError("scripted"))
    with pytest.raises(ZeroDivisionError):
        ask(mock.client())
    with pytest.raises(ConnectionRefusedError, match="scripted"):
        ask(mock.client(max_retries=0))
    assert [str(e).split(" raised")[0] for e in mock.callback_errors] == ["queued reply #1", "queued reply #2"]


def test_a_callable_returning_something_unsendable_is_raised_too() -> None:
    mock = MockAI()
    mock.on().respond(lambda request: 42)
    with pytest.raises(TypeError, match="cannot reply with int"):
        ask(mock.client())


# --- over a socket ---------------------------------------------------------------------------------------------


def test_over_a_socket_a_500_names_it_is_not_retried_is_logged_and_verify_raises_it(
        caplog: pytest.LogCaptureFixture) -> None:
    mock = MockAI()
    mock.on(last_user="weather", name="weather").respond(broken_reply)
    with caplog.at_level(logging.ERROR, logger="mockai"), mock.serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client, \
            pytest.raises(openai.InternalServerError) as caught:  # the client's default max_retries=2
        ask(client)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "mockai_callback_error"
    assert error["message"].startswith("mockai: rule 'weather' on(last_user='weather') raised TypeError: "
                                       "'NoneType' object is not subscriptable.")
    assert mock.call_count == 1  # x-should-retry: false, so the SDK did not run the callback again
    assert caught.value.response.headers["x-should-retry"] == "false"
    logged = [r for r in caplog.records if r.name == "mockai"]
    assert logged
    assert logged[0].exc_info is not None
    assert "broken_reply" in caplog.text
    with pytest.raises(AssertionError, match=r"1 exception raised by scripted code could not reach the "
                                             r"test") as failed:
        mock.verify()
    assert isinstance(failed.value.__cause__, TypeError)  # the traceback shown is the callback's
    assert "rule 'weather' on(last_user='weather') raised TypeError" in str(failed.value)
    assert "answering POST /v1/chat/completions model='gpt-4o-mini'" in str(failed.value)
    assert "never matched" not in str(failed.value)
    assert "The test fails with this exception at teardown" in mock.calls.last.error.message


def test_the_same_mock_raises_in_process_and_answers_500_over_the_socket() -> None:
    mock = MockAI()
    mock.on().respond(broken_reply)
    with mock.serve() as server:
        with pytest.raises(TypeError):
            ask(mock.client())
        with pytest.raises(openai.InternalServerError), \
                openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client:
            ask(client)
    assert [e.raised for e in mock.callback_errors] == [True, False]
    # The journal says where each went: raised in the test, or kept for the teardown (it said teardown for both).
    in_process, over_socket = (c.error.message for c in mock.calls)
    assert "The exception was raised in the test" in in_process
    assert "The test fails with this exception at teardown" in over_socket
    assert len(mock.problems()) == 1  # only the one the test could not see


def test_reset_forgets_callback_errors() -> None:
    mock = MockAI()
    mock.on().respond(broken_reply)
    with mock.serve() as server, pytest.raises(openai.InternalServerError), \
            openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client:
        ask(client)
    mock.reset()
    assert mock.callback_errors == []
    mock.verify()


def test_callback_error_is_exported_for_isinstance_checks() -> None:
    error = CallbackError(ValueError("x"), "rule on()")
    assert str(error) == "rule on() raised ValueError: x"
    assert error.api_error().status == 500
