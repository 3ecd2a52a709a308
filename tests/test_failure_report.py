"""pytest failure reports: a failing test that used ``mockai`` or ``mockai_server`` gets a "mockai journal"
section with the transcript of its calls, capped, and off with ``--mockai-no-journal`` or
``mockai_journal_report = false``."""

from __future__ import annotations

import hypothesis  # noqa: F401  (imported once here: otherwise every in-process pytester run re-imports it)
import openai
import pytest

# The SDK imports its HTTP stack (httpx2, httpcore2) when a client is first made. Made here, once: otherwise the
# in-process pytester runs below import it, pytester drops those modules afterwards, and the next test of this
# worker gets a second copy whose connection errors the SDK no longer recognises.
openai.OpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9").close()

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

TESTS = """
import openai

def ask(text, **kw):
    client = openai.OpenAI(max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kw)

def test_in_process_fails(mockai):
    mockai.on(last_user="refund", name="refund").reply("Refunds take 5 days.")
    assert ask("How long does a refund take?").choices[0].message.content == "Refunds take 3 days."

def test_over_the_socket_fails(mockai_server):
    mockai_server.queue("From the socket.")
    for _ in ask("Stream it", stream=True):
        pass
    assert False, "the service misread the stream"

def test_passes(mockai):
    ask("fine")

def test_no_mockai_fails():
    assert 1 == 2
"""


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_app=TESTS)
    return pytester


def sections(result: pytest.RunResult) -> dict[str, str]:
    """The failure report's sections by test: the text between pytest's ``___ test ___`` headers."""
    out, current = {}, None
    for line in result.outlines:
        if line.startswith("____") and line.rstrip("_ ").lstrip("_ "):
            current = line.strip("_ ")
            out[current] = ""
        elif current is not None:
            out[current] += line + "\n"
    return out


def test_a_failing_test_shows_its_journal(tester: pytest.Pytester) -> None:
    result = tester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    by_test = sections(result)
    in_process = by_test["test_in_process_fails"]
    assert "- mockai journal -" in in_process
    journal = in_process.split("- mockai journal -")[1]
    assert "1 call\n" in journal
    assert "#0 POST /v1/chat/completions model=gpt-4o-mini -> 200 by rule 'refund'" in journal
    assert "  user: How long does a refund take?" in journal
    assert "  assistant: Refunds take 5 days.  [stop]" in journal
    assert "--mockai-no-journal" in journal
    socket = by_test["test_over_the_socket_fails"].split("- mockai journal -")[1]
    assert "#0 POST /v1/chat/completions model=gpt-4o-mini stream -> 200 by queue #1" in socket
    assert "  assistant: From the socket.  [stop]" in socket
    assert "mockai journal" not in by_test["test_no_mockai_fails"]
    assert "test_passes" not in by_test


def test_the_journal_section_is_capped(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_many="""
        import openai

        def test_many_calls(mockai):
            client = openai.OpenAI(max_retries=0)
            for i in range(60):
                client.chat.completions.create(model="gpt-4o-mini",
                                               messages=[{"role": "user", "content": f"question {i} " * 30}])
            assert False
    """)
    result = tester.runpytest("-p", "no:cacheprovider", "test_many.py")
    result.assert_outcomes(failed=1)
    journal = "\n".join(result.outlines).split("- mockai journal -")[1].split("short test summary")[0]
    assert len(journal) < 8 * 1024 + 600
    head = next(line for line in journal.splitlines() if line.startswith("60 calls"))
    assert head.startswith("60 calls (the first ")
    assert "#59 POST" in journal
    assert "#39 POST" not in journal  # beyond the last 20


def test_the_journal_section_can_be_turned_off(tester: pytest.Pytester) -> None:
    result = tester.runpytest("-p", "no:cacheprovider", "--mockai-no-journal")
    result.assert_outcomes(passed=1, failed=3)
    assert "mockai journal" not in result.stdout.str()
    tester.makeini(INI + "mockai_journal_report = false\n")
    result = tester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    assert "mockai journal" not in result.stdout.str()


def test_a_teardown_failure_shows_the_journal_too(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_unused="""
        import openai

        def test_leaves_a_reply_unused(mockai):
            mockai.queue("used", "never used")
            openai.OpenAI(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "once"}])
    """)
    result = tester.runpytest("-p", "no:cacheprovider", "test_unused.py")
    result.assert_outcomes(passed=1, errors=1)
    text = result.stdout.str()
    assert "queued reply #2 was never used" in text
    journal = text.split("- mockai journal -")[1]
    assert "#0 POST /v1/chat/completions model=gpt-4o-mini -> 200 by queue #1" in journal
