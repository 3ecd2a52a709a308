"""Model families (mockai.models): the parameters reasoning models refuse, with the real API's messages and codes,
what they accept, ``reasoning_tokens`` in usage (within ``completion_tokens`` and the token limit), snapshots,
and unknown models left lenient; through the engine and the real SDK."""

from __future__ import annotations

import typing
from typing import Any

import openai
import pydantic
import pytest
from conftest import MODEL, assert_envelope, chat_body, post, reply, stream
from openai.types.shared import ChatModel

from mockai import Engine, MockAI, tokens
from mockai.models import DEFAULT_MODELS, FAMILIES, family, reasoning_tokens, snapshot
from mockai.server import ServerThread

# Models that reason unless told otherwise, and the GPT-5.1 line, which reasons only when asked to.
REASONING = ["o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"]
RESTING = ["gpt-5.1", "gpt-5.2"]
# Real models the installed SDK's ``ChatModel`` does not list yet.
NOT_IN_SDK = {"gpt-audio", "gpt-audio-2025-08-28"}
CHAT = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4-turbo", "gpt-3.5-turbo"]


def body_for(model: str, **params: Any) -> dict[str, Any]:
    return {**chat_body("Write two sentences about lighthouses.", **params), "model": model}


# --- what the table holds ------------------------------------------------------------------------------------


def test_every_listed_model_has_a_family_and_a_snapshot() -> None:
    for model in DEFAULT_MODELS:
        fam = family(model)
        assert fam is not None, model
        assert snapshot(model) != model
        assert family(snapshot(model)) is fam, "a dated snapshot belongs to its alias's family"


def test_table_models_are_models_the_sdk_knows() -> None:
    """Drift check: every alias and snapshot in the table is one of the SDK's ``ChatModel`` names."""
    known = set(typing.get_args(ChatModel))
    names = {name for fam in FAMILIES for pair in fam.snapshots.items() for name in pair}
    assert names - known <= NOT_IN_SDK


def test_table_encodings_agree_with_the_tokenizer() -> None:
    for fam in FAMILIES:
        for alias in fam.models:
            assert tokens.encoding_name(alias) == fam.encoding, alias


def test_family_lookup() -> None:
    assert family("o3-2025-04-16") is family("o3")
    assert family("ft:gpt-4o-mini-2024-07-18:acme::abc123") is family("gpt-4o-mini")
    assert family("o3-pro-preview") is None
    assert family("llama-3") is None


# --- the 400s ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", REASONING + RESTING)
def test_max_tokens_is_refused(engine: Engine, model: str) -> None:
    err = assert_envelope(post(engine, body_for(model, max_tokens=50)), 400, param="max_tokens",
                          code="unsupported_parameter")
    assert err["message"] == ("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                              "'max_completion_tokens' instead.")


@pytest.mark.parametrize(("model", "effort"), [(m, None) for m in REASONING] + [(m, "low") for m in RESTING])
@pytest.mark.parametrize(("param", "value", "shown"), [("temperature", 0.5, "0.5"), ("temperature", 0, "0"),
                                                       ("top_p", 0.9, "0.9")])
def test_sampling_other_than_the_default_is_refused(engine: Engine, model: str, effort: str | None, param: str,
                                                    value: float, shown: str) -> None:
    params: dict[str, Any] = {param: value} if effort is None else {param: value, "reasoning_effort": effort}
    err = assert_envelope(post(engine, body_for(model, **params)), 400, param=param, code="unsupported_value")
    assert err["message"] == (f"Unsupported value: '{param}' does not support {shown} with this model. Only the "
                              "default (1) value is supported.")


@pytest.mark.parametrize("model", REASONING)
def test_logprobs_are_refused(engine: Engine, model: str) -> None:
    err = assert_envelope(post(engine, body_for(model, logprobs=True, top_logprobs=2)), 400, param="logprobs",
                          code="unsupported_parameter")
    assert err["message"] == "Unsupported parameter: 'logprobs' is not supported with this model."


@pytest.mark.parametrize("model", RESTING)
def test_gpt_5_1_takes_sampling_parameters_when_it_does_not_reason(engine: Engine, model: str) -> None:
    body = reply(engine, body_for(model, temperature=0.4, top_p=0.8, logprobs=True, reasoning_effort="none"))
    assert body["choices"][0]["logprobs"] is not None
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    default = reply(engine, body_for(model, temperature=0.4))
    assert default["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert_envelope(post(engine, body_for(model, logprobs=True, reasoning_effort="medium")), 400,
                    param="logprobs", code="unsupported_parameter")
    thinking = reply(engine, body_for(model, reasoning_effort="medium"))
    assert thinking["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


@pytest.mark.parametrize("model", ["o3", "o4-mini", "o3-2025-04-16"])
def test_stop_is_refused_by_o3_and_o4_mini(engine: Engine, model: str) -> None:
    err = assert_envelope(post(engine, body_for(model, stop=["\n"])), 400, param="stop",
                          code="unsupported_parameter")
    assert err["message"] == "Unsupported parameter: 'stop' is not supported with this model."


@pytest.mark.parametrize("model", ["gpt-5", "o3-mini", "gpt-4o"])
def test_stop_is_accepted_elsewhere(engine: Engine, model: str) -> None:
    assert reply(engine, body_for(model, stop=["\n"]))["object"] == "chat.completion"


@pytest.mark.parametrize("model", CHAT)
def test_reasoning_effort_is_refused_by_models_that_do_not_reason(engine: Engine, model: str) -> None:
    assert_envelope(post(engine, body_for(model, reasoning_effort="low")), 400, param="reasoning_effort",
                    code="unsupported_parameter")


@pytest.mark.parametrize("model", REASONING + RESTING)
def test_what_reasoning_models_accept(engine: Engine, model: str) -> None:
    body = reply(engine, body_for(model, temperature=1, top_p=1, logprobs=False, max_completion_tokens=4000,
                                  reasoning_effort="high", n=2, max_tokens=None, stop=None))
    assert body["model"] == snapshot(model)


@pytest.mark.parametrize("model", CHAT)
def test_chat_models_keep_accepting_sampling_parameters(engine: Engine, model: str) -> None:
    reply(engine, body_for(model, temperature=0.3, top_p=0.5, max_tokens=30, stop=["."], logprobs=True))


@pytest.mark.parametrize("model", ["my-local-model", "o9-preview", "ft:my-base:org::1"])
def test_unknown_models_stay_lenient(engine: Engine, model: str) -> None:
    body = reply(engine, body_for(model, temperature=0.5, max_tokens=40, stop=["."], logprobs=True,
                                  reasoning_effort="low"))
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


def test_sdk_raises_the_real_error() -> None:
    with MockAI() as mock, pytest.raises(openai.BadRequestError) as info:
        mock.client(max_retries=0).chat.completions.create(
            model="o4-mini", messages=[{"role": "user", "content": "Hi"}], max_tokens=100)
    assert info.value.code == "unsupported_parameter"
    assert info.value.param == "max_tokens"


# --- reasoning tokens ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", REASONING)
def test_usage_reports_reasoning_within_completion_tokens(engine: Engine, model: str) -> None:
    body = reply(engine, body_for(model, n=2))
    usage = body["usage"]
    thinking = usage["completion_tokens_details"]["reasoning_tokens"]
    visible = sum(len(tokens.split(c["message"]["content"])) for c in body["choices"])
    assert thinking > 0
    assert usage["completion_tokens"] == visible + thinking
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("model", CHAT)
def test_chat_models_do_not_reason(engine: Engine, model: str) -> None:
    assert reply(engine, body_for(model))["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


def test_reasoning_is_deterministic_and_scales_with_effort(make_engine: Any) -> None:
    def thinking(effort: str | None, seed: int = 0) -> int:
        params = {} if effort is None else {"reasoning_effort": effort}
        usage = reply(make_engine(seed=seed), body_for("o3", **params))["usage"]
        return int(usage["completion_tokens_details"]["reasoning_tokens"])

    assert thinking(None) == thinking(None)
    for seed in range(4):
        assert 0 < thinking("minimal", seed) < thinking("low", seed) < thinking("medium", seed)
        assert thinking("medium", seed) < thinking("high", seed) < thinking("xhigh", seed)
    assert len({thinking(None, seed) for seed in range(6)}) > 1, "varies with the seed"


def test_reasoning_counts_against_the_limit(engine: Engine) -> None:
    """A limit below the reasoning leaves nothing to say: ``content: ""`` and ``finish_reason: length``."""
    key_probe = reply(engine, body_for("gpt-5"))
    thinking = key_probe["usage"]["completion_tokens_details"]["reasoning_tokens"]
    starved = reply(engine, body_for("gpt-5", max_completion_tokens=thinking - 1))
    choice = starved["choices"][0]
    assert choice["message"]["content"] == ""
    assert choice["finish_reason"] == "length"
    assert starved["usage"]["completion_tokens"] == thinking - 1
    assert starved["usage"]["completion_tokens_details"]["reasoning_tokens"] == thinking - 1
    short = reply(engine, body_for("gpt-5", max_completion_tokens=thinking + 3))
    assert short["choices"][0]["finish_reason"] == "length"
    assert len(tokens.split(short["choices"][0]["message"]["content"])) == 3
    assert short["usage"]["completion_tokens"] == thinking + 3


def test_reasoning_function_matches_usage(engine: Engine) -> None:
    assert reasoning_tokens("gpt-4o", "high", b"k", 1, 0) == 0
    assert reasoning_tokens("o3", "high", b"k", 1, 0) > reasoning_tokens("o3", "low", b"k", 1, 0) > 0


def test_stream_usage_matches_the_reply(make_engine: Any) -> None:
    body = body_for("o4-mini", stream_options={"include_usage": True}, n=2)
    whole = reply(make_engine(seed=4), {k: v for k, v in body.items() if k != "stream_options"})
    chunks = stream(make_engine(seed=4), body)
    assert chunks[-1]["usage"]["completion_tokens_details"] == whole["usage"]["completion_tokens_details"]
    assert chunks[-1]["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]


def test_scripted_replies_on_reasoning_models_report_reasoning() -> None:
    with MockAI() as mock:
        mock.on().reply("Ready.")
        completion = mock.client().chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "Hi"}])
        details = completion.usage and completion.usage.completion_tokens_details
        assert details is not None
        assert details.reasoning_tokens
        assert completion.usage is not None
        assert completion.usage.completion_tokens == 2 + details.reasoning_tokens


class Answer(pydantic.BaseModel):
    answer: str
    confidence: float


def test_parse_helper_on_a_reasoning_model() -> None:
    with MockAI(seed=1) as mock:
        parsed = mock.client().chat.completions.parse(
            model="o3", messages=[{"role": "user", "content": "Hi"}], response_format=Answer,
            max_completion_tokens=4000, reasoning_effort="low")
        assert isinstance(parsed.choices[0].message.parsed, Answer)
        assert parsed.usage is not None
        assert parsed.usage.completion_tokens_details is not None
        assert parsed.usage.completion_tokens_details.reasoning_tokens


def test_stream_helper_on_a_reasoning_model(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(model="gpt-5", messages=[{"role": "user", "content": "Hi"}],
                                        stream_options={"include_usage": True}) as events:
        final = events.get_final_completion()
    assert final.choices[0].message.content
    assert final.usage is not None
    assert final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens


@pytest.mark.asyncio
async def test_async_sdk_sees_the_errors_and_the_usage(served: ServerThread) -> None:
    async with openai.AsyncOpenAI(base_url=served.base_url, api_key="sk-test", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="gpt-5-nano", messages=[{"role": "user", "content": "Hi"}],
                                                 temperature=0.2)
        assert info.value.code == "unsupported_value"
        completion = await client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": "Hi"}])
        assert completion.model == "gpt-5-nano-2025-08-07"
        assert completion.usage is not None
        assert completion.usage.completion_tokens_details is not None
        assert completion.usage.completion_tokens_details.reasoning_tokens


def test_models_route_lists_the_new_families(engine: Engine) -> None:
    from conftest import request

    listed = {m["id"] for m in engine.handle(request("GET", "/v1/models")).json()["data"]}
    assert {"o1", "gpt-5.1", "gpt-4o-audio-preview", "gpt-audio", MODEL} <= listed
