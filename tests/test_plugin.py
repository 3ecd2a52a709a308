"""The pytest plugin, driven with pytester: fixtures, configuration (mockai_config, marker, options, ini), seeds
derived from the node id (stable across runs, order and xdist), teardown checks, async tests and Hypothesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (imported once here: otherwise every in-process pytester run re-imports it, ~1.5 s)
import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

# Writes what a test saw (its seed and a generated reply) to out/<test name>.json, to compare runs.
RECORD = """
import json, openai
from pathlib import Path

def record(request, mock):
    client = openai.OpenAI(max_retries=0)
    text = client.chat.completions.create(model="gpt-4o-mini",
                                          messages=[{"role": "user", "content": "Say something"}]
                                          ).choices[0].message.content
    out = request.config.rootpath / "out"
    out.mkdir(exist_ok=True)
    name = request.node.name.replace("/", "_")
    (out / f"{name}.json").write_text(json.dumps({"seed": mock.engine.config.seed, "text": text}))
"""


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    return result.parseoutcomes()


def read_out(pytester: pytest.Pytester) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((pytester.path / "out").glob("*.json"))}


# --- the fixtures --------------------------------------------------------------------------------------------


def test_mockai_fixture_patches_the_sdk(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import os
        import openai

        def summarize(text):
            client = openai.OpenAI()  # the code under test builds its own client
            reply = client.chat.completions.create(model="gpt-4o-mini",
                                                   messages=[{"role": "user", "content": f"Summarize: {text}"}])
            return reply.choices[0].message.content

        def test_summary(mockai):
            mockai.on(last_user="summarize").reply("A short summary.")
            assert summarize("long text") == "A short summary."
            assert mockai.calls.last.request.model == "gpt-4o-mini"
            assert os.environ["OPENAI_API_KEY"] == "sk-mockai-test-key"
            assert "OPENAI_BASE_URL" not in os.environ

        def test_patch_is_undone_after_the_test():
            import httpx2
            assert httpx2.HTTPTransport.handle_request.__qualname__ == "HTTPTransport.handle_request"
    """)
    result = tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_mockai_server_fixture(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import json, os, subprocess, sys
        import openai

        def test_socket(mockai_server):
            mockai_server.queue("over the socket", "to a subprocess")
            assert os.environ["OPENAI_BASE_URL"] == mockai_server.base_url
            assert mockai_server.base_url.startswith("http://127.0.0.1:")
            with openai.OpenAI(max_retries=0) as client:  # configured from the environment
                assert client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                ).choices[0].message.content == "over the socket"
            code = (
                "import json, os, urllib.request\\n"
                "req = urllib.request.Request(os.environ['OPENAI_BASE_URL'] + '/chat/completions', method='POST',"
                " data=json.dumps({'model': 'gpt-4o-mini', 'messages': [{'role': 'user', 'content': 'y'}]}).encode(),"
                " headers={'authorization': 'Bearer ' + os.environ['OPENAI_API_KEY'],"
                " 'content-type': 'application/json'})\\n"
                "print(json.load(urllib.request.urlopen(req))['choices'][0]['message']['content'])\\n"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            assert out.strip() == "to a subprocess"
            assert mockai_server.call_count == 2
    """)
    tester.runpytest().assert_outcomes(passed=1)


def test_mockai_config_in_a_conftest(tester: pytest.Pytester) -> None:
    tester.makeconftest("""
        import pytest

        @pytest.fixture
        def mockai_config():
            return {"strict": True, "models": ["gpt-4o-mini"], "strict_models": True, "seed": 99}
    """)
    tester.makepyfile("""
        import openai, pytest

        def test_config(mockai):
            assert mockai.engine.config.seed == 99
            client = openai.OpenAI(max_retries=0)
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
            mockai.queue("scripted")
            assert client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                                                  ).choices[0].message.content == "scripted"

        @pytest.mark.mockai(seed=7)
        def test_marker_beats_config(mockai):
            assert mockai.engine.config.seed == 7
            assert mockai.engine.config.strict is True
    """)
    tester.runpytest().assert_outcomes(passed=2)


def test_marker_kwargs(tester: pytest.Pytester) -> None:
    tester.makefile(".yaml", greeting="rules:\n  - match: {last_user: hi}\n    reply: Hello from the scenario\n")
    tester.makepyfile("""
        import openai, pytest

        pytestmark = pytest.mark.mockai(seed=3, api_key="sk-right")

        def ask(text, key="sk-right"):
            return openai.OpenAI(api_key=key, max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": text}]).choices[0].message.content

        @pytest.mark.mockai(scenario="greeting.yaml", strict=True)
        def test_scenario_next_to_the_test_file(mockai):
            assert ask("hi") == "Hello from the scenario"
            assert mockai.engine.config.seed == 3  # the module marker still applies
            with pytest.raises(openai.AuthenticationError):
                ask("hi", key="sk-wrong")

        @pytest.mark.mockai(assert_all_called=False)
        def test_unused_allowed(mockai):
            mockai.queue("never used")

        @pytest.mark.mockai(seed=4)
        def test_closest_marker_wins(mockai):
            assert mockai.engine.config.seed == 4

        @pytest.mark.mockai(base_urls=["https://gateway.internal/v1"])
        def test_base_urls(mockai):
            mockai.queue("via gateway")
            client = openai.OpenAI(base_url="https://gateway.internal/v1", api_key="sk-right", max_retries=0)
            assert client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                                                  ).choices[0].message.content == "via gateway"

        @pytest.mark.mockai("positional")
        def test_positional_is_an_error(mockai):
            pass
    """)
    result = tester.runpytest("-rE")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*keyword arguments only*"])


def test_marker_takes_a_single_string_for_a_list(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai, pytest

        @pytest.mark.mockai(models="gpt-4o", strict_models=True, base_urls="http://localhost:1234/v1")
        def test_one_model_one_host(mockai):
            mockai.queue("local")
            client = openai.OpenAI(base_url="http://localhost:1234/v1", max_retries=0)
            assert [m.id for m in client.models.list()] == ["gpt-4o"]
            assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]
                                                  ).choices[0].message.content == "local"
    """)
    tester.runpytest().assert_outcomes(passed=1)


def test_options_and_their_group(tester: pytest.Pytester) -> None:
    result = tester.runpytest("--help")
    result.stdout.fnmatch_lines(["mockai: a fake OpenAI chat completions API:", "*--mockai-seed=N*",
                                 "*--mockai-strict*"])
    result.stdout.fnmatch_lines(["*mockai_seed*", "*mockai_strict*", "*mockai_assert_all_called*"])
    result = tester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.mockai(**kwargs): configure the mockai fixtures*"])


def test_seed_and_strict_options(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai, pytest
        from mockai import MockAI

        def generated():
            return openai.OpenAI(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]).choices[0].message.content

        def test_seed(mockai):
            assert mockai.engine.config.seed == 1234
            assert mockai.engine.config.strict is True
            with pytest.raises(openai.BadRequestError, match="no scripted reply"):
                generated()
            mockai.reset()

        @pytest.mark.mockai(strict=False)
        def test_same_reply_as_the_same_seed(mockai):
            expected = MockAI(seed=1234).client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]).choices[0].message.content
            assert generated() == expected
    """)
    tester.runpytest("--mockai-seed", "1234", "--mockai-strict").assert_outcomes(passed=2)


def test_ini_settings(tester: pytest.Pytester) -> None:
    tester.makeini(INI + "mockai_seed = 42\nmockai_strict = true\nmockai_assert_all_called = false\n")
    tester.makepyfile("""
        def test_ini(mockai):
            config = mockai.engine.config
            assert (config.seed, config.strict, mockai.assert_all_called) == (42, True, False)
            mockai.queue("unused but allowed by the ini")
    """)
    tester.runpytest().assert_outcomes(passed=1)
    # the command line beats the ini
    tester.makepyfile(test_seed_option="""
        def test_seed_from_the_command_line(mockai):
            assert mockai.engine.config.seed == 5
    """)
    tester.runpytest("test_seed_option.py", "--mockai-seed=5").assert_outcomes(passed=1)


def test_pyproject_ini_options(tester: pytest.Pytester) -> None:
    (tester.path / "tox.ini").unlink()
    tester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        asyncio_default_fixture_loop_scope = "function"
        filterwarnings = ["error"]
        mockai_seed = "8"
        mockai_strict = true
    """)
    tester.makepyfile("""
        def test_pyproject(mockai):
            assert (mockai.engine.config.seed, mockai.engine.config.strict) == (8, True)
    """)
    tester.runpytest().assert_outcomes(passed=1)


# --- seeds derived from the node id --------------------------------------------------------------------------


SEEDED_TESTS = RECORD + """
import pytest

def test_alpha(request, mockai):
    record(request, mockai)

def test_beta(request, mockai):
    record(request, mockai)

@pytest.mark.parametrize("case", ["one", "two"])
def test_gamma(request, mockai, case):
    record(request, mockai)
"""


def test_seed_is_derived_from_the_node_id(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_seeded=SEEDED_TESTS)
    tester.runpytest().assert_outcomes(passed=4)
    first = read_out(tester)
    assert set(first) == {"test_alpha", "test_beta", "test_gamma[one]", "test_gamma[two]"}
    assert len({v["seed"] for v in first.values()}) == 4  # each test its own seed...
    assert len({v["text"] for v in first.values()}) == 4  # ...and so its own generated reply
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"test_seeded.py::test_alpha").digest()[:4], "big")
    assert first["test_alpha"]["seed"] == expected

    # a second run, in another order and with a selection, agrees test by test
    tester.runpytest("test_seeded.py::test_gamma", "test_seeded.py::test_beta").assert_outcomes(passed=3)
    tester.runpytest("test_seeded.py::test_alpha").assert_outcomes(passed=1)
    assert read_out(tester) == first


def test_seed_is_the_same_under_xdist(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_seeded=SEEDED_TESTS)
    tester.runpytest().assert_outcomes(passed=4)
    serial = read_out(tester)
    result = tester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*2 workers*"])
    assert read_out(tester) == serial


# --- teardown checks ---------------------------------------------------------------------------------------


def test_teardown_fails_on_an_unused_scripted_reply(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_forgot_to_call(mockai):
            mockai.on(last_user="weather", name="weather rule").reply("Sunny")
            mockai.queue("queued and forgotten")
    """)
    result = tester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_forgot_to_call*",
        "*mockai: 2 scripted replies were never used:*",
        "*rule 'weather rule' on(last_user='weather') was never matched*",
        "*queued reply #1 was never used: 'queued and forgotten'*",
        "*To allow this, pass assert_all_called=False (in pytest: @pytest.mark.mockai(assert_all_called=False)).*",
    ])


def test_teardown_fails_on_an_unexpected_request(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai, pytest

        @pytest.mark.mockai(strict=True)
        def test_swallowed_error(mockai):
            try:
                openai.OpenAI(max_retries=0).chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "unplanned"}])
            except openai.BadRequestError:
                pass  # the code under test hides the failure; the teardown does not
    """)
    result = tester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*mockai: 1 unexpected request with no scripted reply (strict mode):*",
        "*last_user='unplanned'*",
        "*To let the default generator answer them, use strict=False.*",
    ])


def test_mockai_server_teardown_checks_too(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_unused(mockai_server):
            mockai_server.queue("never fetched")
    """)
    result = tester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*1 scripted reply was never used*"])


def test_a_failing_test_gets_no_extra_teardown_error(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_fails(mockai):
            mockai.queue("unused")
            assert 1 == 2
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    assert "never used" not in result.stdout.str()


# --- fresh state, async, Hypothesis ------------------------------------------------------------------------


def test_parametrize_gives_fresh_state_each_case(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai, pytest

        seen = []

        @pytest.mark.parametrize("case", range(3))
        def test_case(mockai, case):
            seen.append(mockai)
            assert mockai.call_count == 0
            assert mockai.rules == [] and mockai.unused() == []
            mockai.on(last_user="x").reply(f"case {case}")
            reply = openai.OpenAI(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            assert reply.choices[0].message.content == f"case {case}"
            assert len({id(m) for m in seen}) == len(seen)
    """)
    tester.runpytest().assert_outcomes(passed=3)


def test_pytest_asyncio_and_anyio(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai, pytest

        async def ask():
            async with openai.AsyncOpenAI(max_retries=0) as client:
                reply = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                return reply.choices[0].message.content, text

        @pytest.mark.asyncio
        async def test_asyncio(mockai):
            mockai.queue("one", "two")
            assert await ask() == ("one", "two")

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_anyio(mockai):
            mockai.queue("three", "four")
            assert await ask() == ("three", "four")

        @pytest.mark.asyncio
        async def test_asyncio_server(mockai_server):
            mockai_server.queue("five", "six")
            assert await ask() == ("five", "six")
    """)
    tester.runpytest().assert_outcomes(passed=3)


HYPOTHESIS_TESTS = """
import openai
from hypothesis import HealthCheck, given, settings, strategies as st
from mockai import MockAI

# Recommended: a MockAI per example, made inside the test body; `with` patches and verifies it.
@settings(max_examples=15, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_mock_per_example(text):
    with MockAI(seed=1) as mock:
        mock.on(last_user=text).reply(f"echo {text}")
        reply = openai.OpenAI(api_key="k", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
        assert reply.choices[0].message.content == f"echo {text}"
        assert mock.call_count == 1

# Or: the fixture, reset at the start of every example, with the health check suppressed.
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=5))
def test_fixture_reset_per_example(mockai, n):
    mockai.reset()
    mockai.queue(*[f"reply {i}" for i in range(n)])
    client = openai.OpenAI(max_retries=0)
    got = [client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                                          ).choices[0].message.content for _ in range(n)]
    assert got == [f"reply {i}" for i in range(n)]
    assert mockai.call_count == n
"""


def test_hypothesis_recommended_patterns(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_hyp=HYPOTHESIS_TESTS)
    tester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_hypothesis_without_reset_leaks_state_between_examples(tester: pytest.Pytester) -> None:
    # Why the pattern matters: the fixture lives for the whole test, so examples share its journal.
    tester.makepyfile("""
        import openai
        from hypothesis import HealthCheck, given, settings, strategies as st

        @settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(st.integers())
        def test_no_reset(mockai, n):
            openai.OpenAI(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            assert mockai.call_count == 1
    """)
    result = tester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert * == 1*", "*where * = <MockAI seed=* calls=*>.call_count*"])


def test_hypothesis_health_check_without_suppression(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        from hypothesis import given, strategies as st

        @given(st.integers())
        def test_fixture_in_given(mockai, n):
            mockai.reset()
    """)
    result = tester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*function_scoped_fixture*"])


# --- cost and opting out -----------------------------------------------------------------------------------


def test_plugin_can_be_disabled(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_uses(mockai):
            pass
    """)
    result = tester.runpytest("-p", "no:mockai")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'mockai' not found*"])


def test_plugin_imports_nothing_heavy_until_a_fixture_is_used(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import sys

        def test_without_fixture():
            heavy = {"mockai", "starlette", "uvicorn", "faker", "mockai.engine"}
            assert heavy.isdisjoint(sys.modules), sorted(heavy & set(sys.modules))
    """)
    # a subprocess: the outer pytest process has imported mockai long ago
    # (Faker's own pytest plugin imports faker: disabled here, as it is not ours)
    result = tester.runpytest_subprocess("-p", "no:faker")
    result.assert_outcomes(passed=1)


def test_plugin_module_is_light() -> None:
    source = Path(__import__("pytest_mockai").__file__).read_text()
    top_level_imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all(("mockai" not in line or "__future__" in line) for line in top_level_imports), top_level_imports


# --- issue 9: the test author's experience -------------------------------------------------------------------


def test_the_api_key_marker_is_what_both_fixtures_export(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import os, subprocess, sys
        import openai, pytest

        ASK = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])

        @pytest.mark.mockai(api_key="sk-right")
        def test_in_process(mockai):
            assert os.environ["OPENAI_API_KEY"] == "sk-right"
            assert openai.OpenAI(max_retries=0).chat.completions.create(**ASK).choices[0].message.content
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(api_key="sk-wrong", max_retries=0).chat.completions.create(**ASK)

        @pytest.mark.mockai(api_key="sk-right")
        def test_socket(mockai_server):
            assert os.environ["OPENAI_API_KEY"] == "sk-right"
            with openai.OpenAI(max_retries=0) as client:
                assert client.chat.completions.create(**ASK).choices[0].message.content
            code = "import openai; print(openai.OpenAI(max_retries=0).chat.completions.create(model='gpt-4o-mini', " \\
                   "messages=[{'role': 'user', 'content': 'y'}]).object)"
            assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.strip() == "chat.completion"
    """)
    tester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize("order", ["mockai, mockai_server", "mockai_server, mockai"])
def test_both_fixtures_are_one_mock_with_two_doors_in_either_order(tester: pytest.Pytester, order: str) -> None:
    tester.makepyfile(f"""
        import os
        import openai, httpx

        ASK = dict(model="gpt-4o-mini", messages=[{{"role": "user", "content": "x"}}])

        def test_two_doors({order}):
            assert mockai is mockai_server
            assert os.environ["OPENAI_BASE_URL"] == mockai_server.base_url  # whatever the order
            mockai.queue("in-process", "over the socket")
            inproc = openai.OpenAI(base_url="https://api.openai.com/v1", max_retries=0)
            assert inproc.chat.completions.create(**ASK).choices[0].message.content == "in-process"
            # patch mode lets the test's own server through (other_hosts="fail" would refuse any other host)
            with openai.OpenAI(max_retries=0) as client:
                assert client.chat.completions.create(**ASK).choices[0].message.content == "over the socket"
            assert mockai.call_count == 2  # one journal
            assert [c.http.headers.get("host") for c in mockai.calls] == [
                "api.openai.com", mockai_server.base_url.split("/")[2]]
    """)
    tester.runpytest().assert_outcomes(passed=1)


def test_an_autouse_mockai_does_not_block_the_socket_fixture(tester: pytest.Pytester) -> None:
    tester.makeconftest("""
        import pytest

        @pytest.fixture(autouse=True)
        def _offline(mockai):
            yield
    """)
    tester.makepyfile("""
        import httpx, openai, pytest
        from mockai.patch import NotMockedError

        def test_socket(mockai_server):
            mockai_server.on(last_user="ping").reply("pong")
            with openai.OpenAI(max_retries=0) as client:
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
            assert reply.choices[0].message.content == "pong"
            with pytest.raises(NotMockedError):  # other hosts are still refused
                httpx.get("http://127.0.0.1:9/elsewhere")
    """)
    tester.runpytest().assert_outcomes(passed=1)


def test_a_callback_exception_fails_the_test_with_its_traceback(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai

        def answer(request):
            return {"content": request.metadata["city"]}  # metadata is None

        def test_in_process(mockai):
            mockai.on(last_user="weather").respond(answer)
            openai.OpenAI().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}])

        def test_over_the_socket(mockai_server):
            mockai_server.on(last_user="weather", name="weather").respond(answer)
            with openai.OpenAI() as client:
                try:
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}])
                except openai.APIError:
                    pass  # a retry wrapper, or an app that swallows errors: the teardown still raises it
    """)
    result = tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=1, errors=1)
    out = result.stdout.str()
    errors, failures = out.split("= FAILURES =")
    # over the socket: a teardown error whose cause is the callback's exception, at the callback's line
    assert "ERROR at teardown of test_over_the_socket" in errors
    assert '>       return {"content": request.metadata["city"]}  # metadata is None' in errors
    assert "The above exception was the direct cause of the following exception" in errors
    assert ("mockai: 1 exception raised by scripted code could not reach the test (the client got a 500 over the "
            "socket)") in errors
    assert ("rule 'weather' on(last_user='weather') raised TypeError: 'NoneType' object is not subscriptable "
            "(answering POST /v1/chat/completions model='gpt-4o-mini' last_user='weather?')") in errors
    assert "mockai:errors.py" in errors  # the log of the server side, with the traceback
    # in-process: the test fails with the exception itself, pointing at the callback
    assert '>       return {"content": request.metadata["city"]}  # metadata is None' in failures
    assert "E       TypeError: 'NoneType' object is not subscriptable" in failures
    assert "never matched" not in out
    assert "Retrying request" not in out


def test_bad_on_arguments_fail_where_they_are_written(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_bad_value(mockai):
            mockai.on(last_user=5).reply("x")

        def test_typo(mockai):
            mockai.on(last_usr="hi").reply("x")
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*mockai.on(last_user=5).reply(\"x\")*",
        "E*TypeError: on(last_user=...) takes a string (a case-insensitive substring) or a compiled regex*",
        "*mockai.on(last_usr=\"hi\").reply(\"x\")*",
        "E*TypeError: MockAI.on() got an unexpected keyword argument 'last_usr'; did you mean 'last_user'?*",
    ])
    assert "never matched" not in result.stdout.str()


def test_strict_mode_shows_its_diagnosis_when_the_test_fails_first(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import openai, pytest

        def summarize(text):  # the app swallows API errors
            try:
                return openai.OpenAI(max_retries=0).chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": text}]).choices[0].message.content
            except openai.APIError:
                return None

        @pytest.mark.mockai(strict=True)
        def test_summary(mockai):
            mockai.on(last_user="summarise", name="summary").reply("Short.")
            assert summarize("Summarize this") == "Short."
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*assert None == 'Short.'*",
        "*- mockai -*",
        "*1 unexpected request with no scripted reply (strict mode):*",
        "*mockai (strict): no scripted reply for POST /v1/chat/completions model='gpt-4o-mini' "
        "last_user='Summarize this'*",
        "*#1 'summary' on(last_user='summarise'): the last user message 'Summarize this' does not contain "
        "'summarise'*",
    ])
    assert "never used" not in result.stdout.str()  # the unused rule is noise next to the real failure


def test_a_block_of_the_fixtures_mock_inside_a_test_keeps_it_intercepting(tester: pytest.Pytester) -> None:
    """``with mockai:`` in a test (its fixture already intercepts) unpatched the rest of the test; a test that
    starts the mock again without stopping it does not leave the next test patched."""
    tester.makepyfile("""
        import openai, pytest

        def ask():
            return openai.OpenAI(max_retries=0, timeout=5).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

        def test_nested(mockai):
            with mockai:
                pass
            assert ask().choices
            assert mockai.calls.call_count == 1

        def test_started_and_left(mockai):
            mockai.start()
            assert ask().choices

        def test_after(monkeypatch):
            monkeypatch.setenv("OPENAI_API_KEY", "k")
            with pytest.raises((openai.APIConnectionError, openai.AuthenticationError)):  # not the mock
                ask()
    """)
    result = tester.runpytest()
    result.assert_outcomes(passed=3)


def test_a_wrong_key_401_says_which_key_the_mock_accepts(tester: pytest.Pytester) -> None:
    """The 401 names only the key sent, as the real API's does; the failure report says what the mock wanted."""
    tester.makepyfile("""
        import openai, pytest

        @pytest.mark.mockai(api_key="sk-project-key-1234")
        def test_key(mockai):
            client = mockai.client(api_key="sk-other", max_retries=0)
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            except openai.AuthenticationError:
                pass
            assert False, "the app gave up"
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- mockai -*",
        "*1 request was refused with 401 invalid_api_key: this mock accepts only the key given as api_key= "
        "(sk-******1234, from MockAI(api_key=...)*",
    ])
    assert "(sk-project-key-1234" not in result.stdout.str()  # the key itself is in the source shown, not here


def test_what_the_failure_already_says_is_not_repeated_in_the_mockai_section(tester: pytest.Pytester) -> None:
    """A cassette miss raised in the test was shown three times: the exception, the mockai section, the journal."""
    tester.makepyfile("""
        import pytest

        @pytest.mark.mockai(cassette="nope.json")
        def test_replay(mockai):
            mockai.client(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "The cassette file does not exist." in out
    assert "- mockai -" not in out
    assert "had no recorded answer in the cassette" not in out


def test_marker_and_config_typos_suggest_the_name(tester: pytest.Pytester) -> None:
    tester.makeconftest("""
        import pytest

        @pytest.fixture
        def mockai_config(request):
            return {"sead": 1} if "config" in request.node.name else {}
    """)
    tester.makepyfile("""
        import pytest

        @pytest.mark.mockai(strcit=True)
        def test_marker(mockai):
            pass

        def test_config(mockai_server):
            pass
    """)
    result = tester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.mockai got an unknown argument 'strcit'; did you mean 'strict'? It takes MockAI's keyword "
        "arguments: seed, strict, *",
        "*the mockai_config fixture returned an unknown argument 'sead'; did you mean 'seed'?*",
    ])
    assert "pytest_mockai/__init__.py" not in result.stdout.str()  # no traceback from inside the plugin


def test_bad_marker_and_config_values_are_one_error_naming_the_option(tester: pytest.Pytester) -> None:
    tester.makeconftest("""
        import pytest

        @pytest.fixture
        def mockai_config(request):
            return {"latency": {"ttft": "x"}} if "config" in request.node.name else {}
    """)
    tester.makepyfile("""
        import pytest

        @pytest.mark.mockai(faults="bogus:0.1")
        def test_faults(mockai):
            pass

        @pytest.mark.mockai(latency="fast")
        def test_latency(mockai_server):
            pass

        def test_config(mockai):
            pass
    """)
    result = tester.runpytest()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        "@pytest.mark.mockai got a bad faults='bogus:0.1': unknown fault 'bogus': expected one of 400, *",
        "@pytest.mark.mockai got a bad latency='fast': unknown latency profile 'fast': expected none, realistic, *",
        "the mockai_config fixture got a bad latency={'ttft': 'x'}: latency ttft: 'x' is not a number",
    ])
    out = result.stdout.str()
    assert "mockai/" not in out  # no traceback through mockai's internals…
    assert "pytest_asyncio" not in out  # … or pytest-asyncio's
    assert "During handling" not in out


def test_a_missing_scenario_says_where_it_looked(tester: pytest.Pytester) -> None:
    tester.mkdir("tests")
    tester.makepyfile(**{"tests/test_s": """
        import pytest

        @pytest.mark.mockai(scenario="nonexistent.yaml")
        def test_scenario(mockai):
            pass
    """})
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        f"@pytest.mark.mockai got scenario='nonexistent.yaml', and there is no such file: not next to the test file "
        f"({tester.path / 'tests' / 'nonexistent.yaml'}), nor in the current directory "
        f"({tester.path / 'nonexistent.yaml'}).",
    ])


def test_a_mockai_config_fixture_without_return_says_so(tester: pytest.Pytester) -> None:
    tester.makeconftest("""
        import pytest

        @pytest.fixture
        def mockai_config():
            {"seed": 1}
    """)
    tester.makepyfile("""
        def test_it(mockai):
            pass
    """)
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(['the mockai_config fixture must return a dict of MockAI options, e.g. `return '
                                 '{"strict": True}`; it returned None (is its `return` missing?)'])
    assert "NoneType" not in result.stdout.str()


def test_a_bad_ini_seed_is_one_usage_error(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_a(mockai):
            pass

        def test_b(mockai):
            pass
    """)
    result = tester.runpytest("-o", "mockai_seed=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.str().count("mockai_seed must be an integer, not 'abc' (mockai_seed = 42 in "
                                     "[tool.pytest.ini_options], or -o mockai_seed=42, or --mockai-seed 42)") == 1


def test_assertion_helpers_hide_their_own_frames(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_helper(mockai):
            mockai.calls.assert_called_once()
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*mockai.calls.assert_called_once()*", "E*AssertionError: expected 1 call; 0 were*"])
    assert "journal.py" not in result.stdout.str()


def test_upstream_option_and_ini_set_where_cassettes_record_from(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.mockai(cassette=True)
        def test_from_the_option(mockai):
            assert mockai.engine.config.upstream == "http://127.0.0.1:9/v1"

        @pytest.mark.mockai(cassette=True, upstream="http://marker/v1")
        def test_marker_wins(mockai):
            assert mockai.engine.config.upstream == "http://marker/v1"

        def test_no_cassette_no_upstream(mockai):
            assert mockai.engine.config.upstream is None
    """)
    tester.runpytest("--mockai-upstream", "http://127.0.0.1:9/v1").assert_outcomes(passed=3)
    tester.runpytest("-o", "mockai_upstream=http://127.0.0.1:9/v1").assert_outcomes(passed=3)
    result = tester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--mockai-upstream=URL*", "*mockai_upstream*"])
