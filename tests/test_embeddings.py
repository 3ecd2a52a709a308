"""POST /v1/embeddings: the wire (float and base64, as the schema and the SDK read them), validation with the real
API's errors, vectors that keep similarity, and the engine's tools (rules, queue, journal, faults, rate limits,
latency, patch mode, both doors, cassettes, Hypothesis strategies)."""

from __future__ import annotations

import asyncio
import doctest
import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from conftest import AUTH, assert_envelope, request
from hypothesis import HealthCheck, given, settings
from openai.types import CreateEmbeddingResponse
from request_types import _fits

from mockai import Clock, Engine, HTTPResponse, MockAI, embedding_strategies, embeddings, fault, specs, tokens, vectors
from mockai.app import heavy
from mockai.embeddings import EmbeddingRequest, parse_embeddings
from mockai.strategies import embedding_requests, embedding_responses
from mockai.vectors import cosine, decode_base64, embed

SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-spec" / "openai-chat.schema.json"
SMALL, LARGE, ADA = "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"
QUERY = "How do I reset my password?"
DOCS = ["To reset your password, open Settings and choose Reset password.",
        "Our office is closed on public holidays.",
        "The best hiking trails near Denver are in the foothills."]


def embed_post(engine: Engine, body: Any, path: str = "/v1/embeddings") -> HTTPResponse:
    return engine.handle(request(path=path, body=body))


def floats(body: dict[str, Any]) -> list[list[float]]:
    return [decode_base64(d["embedding"]) if isinstance(d["embedding"], str) else d["embedding"]
            for d in body["data"]]


@pytest.fixture(scope="module")
def schema() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is absent (it sits beside the checkout in the project's workspace)")
    defs = json.loads(SPEC.read_text())["$defs"]
    return {name: jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": defs})
            for name in ("CreateEmbeddingRequest", "CreateEmbeddingResponse")}


def conforms(body: dict[str, Any], schema: Any) -> dict[str, Any]:
    """``body`` is a ``CreateEmbeddingResponse`` by the official schema (base64 vectors decoded: the schema types
    them as numbers) and, with float vectors, by the SDK's types in strict mode."""
    shown = {**body, "data": [{**d, "embedding": v} for d, v in zip(body["data"], floats(body), strict=True)]}
    schema["CreateEmbeddingResponse"].validate(shown)
    CreateEmbeddingResponse.model_validate(shown, strict=True)
    assert list(body) == ["object", "data", "model", "usage"]
    assert [list(d) for d in body["data"]] == [["object", "index", "embedding"]] * len(body["data"])
    return body


def test_doctests() -> None:
    for module in (embeddings, embedding_strategies, specs):
        assert doctest.testmod(module).failed == 0, module.__name__


# --- the wire ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_reply_is_the_official_shape_with_usage_counted_by_the_embedding_tokenizer(engine: Engine, schema: Any,
                                                                                   fmt: str) -> None:
    texts = ["The lighthouse keeper.", "A harbour at dusk", "café ☕ naïve"]
    res = embed_post(engine, {"model": SMALL, "input": texts, "encoding_format": fmt})
    assert res.status == 200, res.body
    body = conforms(res.json(), schema)
    assert body["model"] == SMALL
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    want = sum(tokens.count(t, SMALL) for t in texts)
    assert tokens.encoding_name(SMALL) == "cl100k_base"
    assert body["usage"] == {"prompt_tokens": want, "total_tokens": want}
    for text, vector in zip(texts, floats(body), strict=True):
        assert len(vector) == 1536
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, abs_tol=1e-6)
        assert vector == vectors.encode(embed(text, model=SMALL, seed=1), "float")  # float32, exactly


def test_models_sizes_dimensions_and_the_ada_snapshot_name(engine: Engine, schema: Any) -> None:
    large = conforms(embed_post(engine, {"model": LARGE, "input": "hi"}).json(), schema)
    assert len(floats(large)[0]) == 3072
    ada = conforms(embed_post(engine, {"model": ADA, "input": "hi"}).json(), schema)
    assert ada["model"] == "text-embedding-ada-002-v2"
    assert len(floats(ada)[0]) == 1536
    short = conforms(embed_post(engine, {"model": LARGE, "input": "hi", "dimensions": 256}).json(), schema)
    full = floats(large)[0]
    scale = math.sqrt(math.fsum(x * x for x in full[:256]))
    assert floats(short)[0] == pytest.approx([x / scale for x in full[:256]], abs=1e-6)  # the same direction, shortened


def test_float_and_base64_carry_the_same_float32_values(engine: Engine) -> None:
    body = {"model": SMALL, "input": ["one", "two"]}
    plain = embed_post(engine, {**body, "encoding_format": "float"}).json()
    packed = embed_post(engine, {**body, "encoding_format": "base64"}).json()
    assert all(isinstance(d["embedding"], str) for d in packed["data"])
    assert floats(packed) == floats(plain)


def test_sdk_default_base64_and_floats_sync_and_async_in_process() -> None:
    mock = MockAI(seed=2)
    client = mock.client()
    default = client.embeddings.create(model=SMALL, input=DOCS)
    assert json.loads(mock.calls.last.http.body)["encoding_format"] == "base64"  # what the SDK asks for
    assert isinstance(json.loads(mock.calls.last.response.body)["data"][0]["embedding"], str)
    plain = client.embeddings.create(model=SMALL, input=DOCS, encoding_format="float")
    assert [d.embedding for d in default.data] == [d.embedding for d in plain.data]
    assert len(default.data[0].embedding) == 1536

    async def go() -> list[list[float]]:
        async with mock.async_client() as aclient:
            reply = await aclient.embeddings.create(model=SMALL, input=DOCS, dimensions=64)
            return [d.embedding for d in reply.data]

    shortened = asyncio.run(go())
    assert [len(v) for v in shortened] == [64, 64, 64]
    assert shortened[0] == vectors.encode(embed(DOCS[0], model=SMALL, seed=2, dimensions=64), "float")


def test_sdk_over_the_socket_sync_and_async_with_both_formats() -> None:
    mock = MockAI(seed=4)
    with mock.serve() as server:
        with openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as client:
            packed = client.embeddings.create(model=LARGE, input=[QUERY, *DOCS])
            plain = client.embeddings.create(model=LARGE, input=[QUERY, *DOCS], encoding_format="float")

        async def go() -> Any:
            async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as aclient:
                return await aclient.embeddings.create(model=LARGE, input=[QUERY, *DOCS])

        again = asyncio.run(go())
    assert [d.embedding for d in packed.data] == [d.embedding for d in plain.data] == [d.embedding for d in again.data]
    q, *docs = [d.embedding for d in packed.data]
    ranked = sorted(range(len(docs)), key=lambda i: -cosine(q, docs[i]))
    assert ranked[0] == 0  # the document sharing the query's words comes first
    assert cosine(q, docs[0]) > 0.3 > max(abs(cosine(q, d)) for d in docs[1:])
    assert mock.calls.last.route == "embeddings"


def test_azure_deployment_paths_over_the_socket() -> None:
    mock = MockAI()
    with mock.serve() as server, openai.AzureOpenAI(azure_endpoint=server.url, api_key="azure-key",
                                                    api_version="2024-10-21", max_retries=0) as client:
        reply = client.embeddings.create(model="my-embedder", input="hello", dimensions=32)
    assert len(reply.data[0].embedding) == 32
    assert mock.calls.last.http.path == "/openai/deployments/my-embedder/embeddings"
    # A body without a model is for the deployment's model, as Azure has it.
    res = mock.engine.handle(request(path="/openai/deployments/emb-large/embeddings?api-version=2024-10-21",
                                     body={"input": "hi", "encoding_format": "float"}))
    assert res.status == 200, res.body
    assert res.json()["model"] == "emb-large"
    assert len(res.json()["data"][0]["embedding"]) == 1536  # an unknown model embeds like text-embedding-3-small


def test_a_deployment_of_a_larger_model_takes_its_dimensions() -> None:
    """A model mockai does not know (an Azure deployment of text-embedding-3-large has a name of its own) takes
    any ``dimensions``: 3072 was a 400 ("Expected a value <= 1536"), which the real service answers."""
    mock = MockAI()
    azure = openai.AzureOpenAI(azure_endpoint="https://x.openai.azure.com", api_key="k", api_version="2024-10-21",
                               http_client=httpx.Client(transport=mock.transport()), max_retries=0)
    with azure:
        vector = azure.embeddings.create(model="emb-large", input="hello", dimensions=3072).data[0].embedding
        again = azure.embeddings.create(model="emb-large", input="hello", dimensions=3072).data[0].embedding
        short = azure.embeddings.create(model="emb-large", input="hello", dimensions=1024).data[0].embedding
    assert (len(vector), len(short)) == (3072, 1024)
    assert vector == again
    # Up to the largest model's size: beyond it, the real API's 400 (no deployment is larger; it was a 500).
    res = mock.engine.handle(request(path="/v1/embeddings", body={"model": "emb-large", "input": "x",
                                                                   "dimensions": 3073}))
    assert_envelope(res, 400, param="dimensions", code="integer_above_max_value")
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, abs_tol=1e-5)


# --- validation ------------------------------------------------------------------------------------------------

INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


@pytest.mark.parametrize(("value", "param"), [
    ("", "input"), ([], "input"), (["a", ""], "input[1]"), ([[]], "input[0]"), ([[1, 2], []], "input[1]"),
    ([1, "a"], "input[0]"), (["a", 1], "input[0]"), ([[1], ["a"]], "input[1]"), ([-1], "input[0]"),
    ([1.5], "input[0]"), ([True], "input[0]"), (5, "input"), (None, "input"), ({"text": "a"}, "input"),
    ([["a"]], "input[0]"),
])
def test_inputs_the_real_api_refuses(engine: Engine, value: Any, param: str) -> None:
    err = assert_envelope(embed_post(engine, {"model": SMALL, "input": value}), 400, param=param, code=None)
    assert err["message"] == INVALID_INPUT


def test_more_than_2048_inputs(engine: Engine) -> None:
    assert embed_post(engine, {"model": SMALL, "input": ["x"] * 2048}).status == 200
    err = assert_envelope(embed_post(engine, {"model": SMALL, "input": ["x"] * 2049}), 400, param="input")
    assert err["message"].startswith("'$.input' is invalid: array length must be 2048 or less, but got 2049.")


def test_token_limits_per_input_and_per_request(engine: Engine) -> None:
    ok = "hello " * 4000
    assert tokens.count(ok.strip(), SMALL) <= embeddings.MAX_INPUT_TOKENS
    err = assert_envelope(embed_post(engine, {"model": SMALL, "input": ["hi", ("hello " * 9000).strip()]}), 400,
                          param="input[1]", code=None)
    assert err["message"] == ("This model's maximum context length is 8192 tokens, however you requested 9000 tokens "
                              "(9000 in your prompt; 0 for the completion). Please reduce your prompt; or completion "
                              "length.")
    assert_envelope(embed_post(engine, {"model": SMALL, "input": list(range(8193))}), 400, param="input")
    assert embed_post(engine, {"model": SMALL, "input": [list(range(8192))]}).status == 200
    many = embed_post(engine, {"model": SMALL, "input": [[7] * 8000] * 38})  # 304,000 tokens
    assert many.status == 400
    assert many.json() == {"error": {"message": "Requested 304000 tokens, max 300000 tokens per request",
                                     "type": "max_tokens_per_request", "param": "input",
                                     "code": "max_tokens_per_request"}}


@pytest.mark.parametrize(("body", "status", "param", "code", "message"), [
    ({"input": "x"}, 400, "model", "missing_required_parameter", "Missing required parameter: 'model'."),
    ({"model": SMALL}, 400, "input", "missing_required_parameter", "Missing required parameter: 'input'."),
    ({"model": "", "input": "x"}, 400, None, None, "you must provide a model parameter"),
    ({"model": ADA, "input": "x", "dimensions": 256}, 400, "dimensions", None,
     "This model does not support specifying dimensions."),
    ({"model": ADA, "input": "x", "dimensions": None}, 400, "dimensions", None,
     "This model does not support specifying dimensions."),
    ({"model": SMALL, "input": "x", "dimensions": 0}, 400, "dimensions", "integer_below_min_value", None),
    ({"model": SMALL, "input": "x", "dimensions": 1537}, 400, "dimensions", "integer_above_max_value",
     "Invalid 'dimensions': integer above maximum value. Expected a value <= 1536 for text-embedding-3-small, but "
     "got 1537 instead."),
    ({"model": SMALL, "input": "x", "dimensions": "8"}, 400, "dimensions", "invalid_type", None),
    ({"model": SMALL, "input": "x", "encoding_format": "int8"}, 400, "encoding_format", "invalid_value",
     "Invalid value: 'int8'. Supported values are: 'float' and 'base64'."),
    ({"model": SMALL, "input": "x", "user": 5}, 400, "user", "invalid_type", None),
    ({"model": 5, "input": "x"}, 400, "model", "invalid_type", None),
])
def test_parameters_the_real_api_refuses(engine: Engine, body: dict[str, Any], status: int, param: str | None,
                                         code: str | None, message: str | None) -> None:
    err = assert_envelope(embed_post(engine, body), status, param=param, code=code)
    if message is not None:
        assert err["message"] == message


def test_what_the_real_api_accepts(engine: Engine) -> None:
    for body in ({"model": SMALL, "input": "x", "a_new_parameter": {"nested": True}},  # new features, not errors
                 {"model": SMALL, "input": "x", "dimensions": None, "encoding_format": None, "user": None},
                 {"model": LARGE, "input": "x", "dimensions": 3072}, {"model": SMALL, "input": " "},
                 {"model": "my-embedder", "input": "x", "dimensions": 1536}, {"model": SMALL, "input": [0]}):
        assert embed_post(engine, body).status == 200, body
    assert_envelope(engine.handle(request(path="/v1/embeddings", raw=b"[1, 2]")), 400, code="invalid_type")
    assert_envelope(engine.handle(request(path="/v1/embeddings", raw=b'{"model": ')), 400)


def test_strict_models_knows_the_embedding_models(make_engine: Any) -> None:
    engine = make_engine(strict_models=True)
    assert embed_post(engine, {"model": LARGE, "input": "x"}).status == 200
    assert_envelope(embed_post(engine, {"model": "text-embedding-4", "input": "x"}), 404, param="model",
                    code="model_not_found")
    assert embed_post(make_engine(), {"model": "text-embedding-4", "input": "x"}).status == 200  # lenient by default


def test_the_default_catalogue_lists_the_embedding_and_moderation_models() -> None:
    """A client may look a model up before using it: the default listing has what mockai serves, and a configured
    list stays exactly as given."""
    with MockAI() as mock:
        client = mock.client()
        listed = [m.id for m in client.models.list()]
        assert {SMALL, LARGE, "text-embedding-ada-002", "omni-moderation-latest"} <= set(listed)
        assert "text-moderation-latest" not in listed  # still answered, no longer listed by the real API
        assert listed[0] == "gpt-4o"
        assert len(listed) == len(set(listed))
        assert client.models.retrieve(LARGE).id == LARGE
        client.embeddings.create(model=listed[listed.index(SMALL)], input="x")
    with MockAI(models=["alpha"]) as mock:
        assert [m.id for m in mock.client().models.list()] == ["alpha"]
        with pytest.raises(openai.NotFoundError):
            mock.client().models.retrieve(SMALL)


# --- token ids ---------------------------------------------------------------------------------------------


def test_token_ids_embed_as_the_text_they_stand_for(engine: Engine) -> None:
    ids = [9906, 326, 59009, 54516]  # "Hello lighthouse keeper" in cl100k_base
    assert embeddings.decode(ids) == "Hello lighthouse keeper"
    as_text = floats(embed_post(engine, {"model": SMALL, "input": "Hello lighthouse keeper"}).json())
    as_ids = floats(embed_post(engine, {"model": SMALL, "input": ids}).json())
    as_lists = embed_post(engine, {"model": SMALL, "input": [ids, ids[:2]]})
    assert as_ids == as_text
    assert floats(as_lists.json())[0] == as_text[0]
    assert as_lists.json()["usage"]["prompt_tokens"] == 6  # ids are tokens: counted as sent
    assert engine.calls.last.prompt is not None
    assert engine.calls.last.prompt.texts == ["Hello lighthouse keeper", "Hello l"]


def test_token_ids_without_a_vocabulary_are_their_own_features(engine: Engine, monkeypatch: Any) -> None:
    monkeypatch.setattr(embeddings, "_vocabulary", lambda: None)
    ids = [9906, 326, 59009, 54516]
    res = embed_post(engine, {"model": SMALL, "input": [ids, [100257, 9906]], "encoding_format": "float"})
    first, special = floats(res.json())
    assert first == vectors.encode(embed(ids, model=SMALL, seed=1), "float")
    assert math.isclose(math.fsum(x * x for x in special), 1.0, abs_tol=1e-6)
    assert engine.calls.last.prompt is not None
    assert engine.calls.last.prompt.texts[0] == "[9906, 326, 59009, 54516]"
    monkeypatch.undo()
    assert embeddings.decode([100257]) is None  # a special token: not text, so the ids are the features


def test_the_vocabulary_comes_from_tiktokens_cache_without_bpe_openai(monkeypatch: Any, tmp_path: Path) -> None:
    import hashlib
    import importlib.util

    data = b"".join(embeddings._vocabulary_files())  # bpe-openai's copy, here
    url = tokens._ENCODING_URLS["cl100k_base"]
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "bpe_openai" else find_spec(name))
    embeddings._vocabulary.cache_clear()
    try:
        assert embeddings.decode([9906, 1917]) == "Hello world"
        (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data[:-10])  # corrupt: not trusted
        embeddings._vocabulary.cache_clear()
        assert embeddings.decode([9906, 1917]) is None
    finally:
        embeddings._vocabulary.cache_clear()


# --- scripted replies ------------------------------------------------------------------------------------------


def test_a_rule_answers_with_a_vector_near_another_texts() -> None:
    mock = MockAI(seed=5)
    mock.on(api="embeddings", any_message="refund").respond({"like": "refund policy"})
    mock.on(api="embeddings", last_user="wobble").respond({"like": "refund policy", "noise": 0.5})
    client = mock.client()
    got = client.embeddings.create(model=SMALL, input="When do I get my refund?").data[0].embedding
    assert got == vectors.encode(embed("refund policy", model=SMALL, seed=5), "float")
    near = client.embeddings.create(model=SMALL, input=["wobble", "wobble too"], dimensions=256).data
    base = embed("refund policy", model=SMALL, seed=5, dimensions=256)
    for item in near:
        assert cosine(item.embedding, base) == pytest.approx(1 / math.sqrt(1.25), abs=1e-5)
        assert math.isclose(math.fsum(x * x for x in item.embedding), 1.0, abs_tol=1e-5)
    assert near[0].embedding != near[1].embedding  # each input turned its own way
    again = client.embeddings.create(model=SMALL, input=["wobble", "wobble too"], dimensions=256).data
    assert [d.embedding for d in again] == [d.embedding for d in near]  # deterministic
    assert mock.calls[0].responder == "script"


def test_scripted_vectors_fit_the_request_or_fail_the_test() -> None:
    mock = MockAI()
    unit = [0.6, 0.8]
    mock.on(api="embeddings", last_user="two").respond(unit)
    mock.on(api="embeddings", any_message="each").respond([[1.0, 0.0], {"embedding": [0.0, 1.0]}])
    mock.on(api="embeddings", last_user="full").respond([1.0] * 1536)
    mock.on(api="embeddings", last_user="wrong").respond([0.1, 0.2, 0.3])
    client = mock.client(max_retries=0)
    assert [d.embedding for d in client.embeddings.create(model=SMALL, input=["two", "two"], dimensions=2).data] == [
        pytest.approx(unit)] * 2
    each = client.embeddings.create(model=SMALL, input=["each", "x"], dimensions=2, encoding_format="float")
    assert [d.embedding for d in each.data] == [[1.0, 0.0], [0.0, 1.0]]
    shortened = client.embeddings.create(model=SMALL, input="full", dimensions=4).data[0].embedding
    assert shortened == pytest.approx([0.5] * 4)  # the full-size vector, cut and renormalized
    with pytest.raises(ValueError, match=r"has 3 numbers, but the request asks for 1536 dimensions "
                                         r"\(text-embedding-3-small\)"):
        client.embeddings.create(model=SMALL, input="wrong")
    with pytest.raises(ValueError, match="2 vectors were scripted for a request of 3 inputs"):
        client.embeddings.create(model=SMALL, input=["each", "b", "c"], dimensions=2)
    assert mock.calls.last.status == 500
    assert mock.calls.last.error is not None
    mock.engine.script.errors.clear()


def test_a_bad_scripted_vector_over_the_socket_is_a_500_and_fails_verify() -> None:
    mock = MockAI()
    mock.on(api="embeddings").respond([0.5, 0.5])
    with mock.serve() as server, openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as client, \
            pytest.raises(openai.InternalServerError) as info:
        client.embeddings.create(model=SMALL, input="x")
    assert "the vector for input 0 has 2 numbers" in str(info.value)
    with pytest.raises(AssertionError, match="the vector for input 0 has 2 numbers") as failed:
        mock.verify()
    assert isinstance(failed.value.__cause__, ValueError)


def test_malformed_embedding_replies_are_refused_when_scripted() -> None:
    mock = MockAI()
    for spec, kind, match in [({"like": 5}, TypeError, "takes a text"), ({"like": "x", "noise": -1}, TypeError,
                                                                       "noise"),
                              ({"embedding": [1.0], "like": "x"}, ValueError, "is {'embedding'"),
                              ([[1.0], "not a vector"], TypeError, "an embeddings reply is a vector"),
                              ([[0.1, True]], TypeError, "an embeddings reply is a vector")]:
        with pytest.raises(kind, match=match):
            mock.on(api="embeddings").respond(spec)
    with pytest.raises(TypeError, match="cannot reply with list"):
        mock.queue([])
    assert mock.rules == []


def test_errors_callables_whole_responses_and_the_queue() -> None:
    mock = MockAI(seed=3)
    mock.on(api="embeddings", last_user="limit").error(429, code="rate_limit_exceeded")
    seen: list[EmbeddingRequest] = []

    def answer(req: EmbeddingRequest) -> Any:
        seen.append(req)
        return {"like": req.texts[0].upper()}

    mock.on(api="embeddings", last_user="call").respond(answer)
    client = mock.client(max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model=SMALL, input="limit me")
    got = client.embeddings.create(model=SMALL, input="call me").data[0].embedding
    assert seen[0].model == SMALL
    assert got == vectors.encode(embed("CALL ME", model=SMALL, seed=3), "float")
    recorded = {"object": "list", "model": "recorded-model", "usage": {"prompt_tokens": 9, "total_tokens": 9},
                "data": [{"object": "embedding", "index": 0, "embedding": vectors.encode([0.0, 1.0], "base64")}]}
    mock.queue(recorded)
    whole = client.embeddings.create(model=SMALL, input="anything", dimensions=2, encoding_format="float")
    assert (whole.data[0].embedding, whole.model, whole.usage.prompt_tokens) == ([0.0, 1.0], "recorded-model", 9)


def test_chat_replies_and_embedding_replies_wait_for_their_own_requests() -> None:
    mock = MockAI(seed=1, strict=False)
    mock.queue("The answer, for the chat request")
    mock.on(last_user="password").reply("Reset it in Settings.")  # no api=: a chat reply answers chat only
    mock.queue([1.0, 0.0])  # a vector: answers the next embeddings request, not a chat one
    client = mock.client()
    vector = client.embeddings.create(model=SMALL, input=QUERY, encoding_format="float").data[0].embedding
    assert vector == vectors.encode(embed(QUERY, model=SMALL, seed=1), "float")  # generated: the queue waits
    assert mock.calls.last.responder == "generator"
    messages: Any = [{"role": "user", "content": "Hi"}]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert reply.choices[0].message.content == "The answer, for the chat request"
    with pytest.raises(ValueError, match="has 2 numbers"):  # now the vector is next, and 2 numbers do not fit
        client.embeddings.create(model=SMALL, input="x")
    mock.engine.script.errors.clear()
    assert mock.engine.script.pending == []
    strict = MockAI(strict=True)
    strict.on(last_user="password").reply("Reset it in Settings.")
    with pytest.raises(openai.BadRequestError, match="its reply is not one for embeddings requests"):
        strict.client(max_retries=0).embeddings.create(model=SMALL, input=QUERY)


# --- journal, faults, limits, latency ----------------------------------------------------------------------


def test_the_journal_says_what_was_embedded() -> None:
    mock = MockAI()
    mock.client().embeddings.create(model=SMALL, input=["first text", "second", "third", "fourth"])
    call = mock.calls.last
    assert call.route == "embeddings"
    assert call.prompt is not None
    assert call.prompt.api == "embeddings"
    assert call.prompt.texts == ["first text", "second", "third", "fourth"]
    assert call.describe() == ("POST /v1/embeddings -> 200 model='text-embedding-3-small' input=['first text', "
                               "'second', 'third', … 1 more]")
    mock.calls.assert_any_call(model=SMALL, encoding_format="base64")
    assert mock.calls.filter(route="embeddings").call_count == 1


def test_faults_reach_embeddings(make_engine: Any) -> None:
    mock = MockAI()
    mock.fault("429")
    client = mock.client(max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.embeddings.create(model=SMALL, input="x")
    assert info.value.response.headers["retry-after"] == "1"
    assert mock.calls.last.fault == "429"
    mock.queue(fault("malformed", reply=[0.6, 0.8]))
    with pytest.raises(json.JSONDecodeError):
        mock.client(max_retries=0).embeddings.create(model=SMALL, input="x", dimensions=2)
    engine = make_engine(fault_header=True)
    res = engine.handle(request(path="/v1/embeddings", body={"model": SMALL, "input": "x"},
                                headers={**AUTH, "x-mockai-fault": "503"}))
    assert_envelope(res, 503)


def test_token_budgets_count_embedding_tokens() -> None:
    clock = Clock()
    mock = MockAI(tpm=20, clock=clock)
    client = mock.client(max_retries=0)
    text = "one two three four five six seven eight nine ten"  # 10 tokens
    client.embeddings.create(model=SMALL, input=text)
    assert mock.calls.last.response.headers["x-ratelimit-remaining-tokens"] == "10"
    client.embeddings.create(model=SMALL, input=text)
    with pytest.raises(openai.RateLimitError, match="on tokens per min"):
        client.embeddings.create(model=SMALL, input=text)
    clock.advance(30)  # half a minute refills 10 tokens
    client.embeddings.create(model=SMALL, input=text)
    with pytest.raises(openai.RateLimitError, match="Request too large"):
        client.embeddings.create(model=SMALL, input=[text, text, text])


def test_latency_over_the_socket() -> None:
    mock = MockAI(latency="ttft=0.3")
    with mock.serve() as server, openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as client:
        start = time.monotonic()
        client.embeddings.create(model=SMALL, input="x")
        assert time.monotonic() - start >= 0.3


def test_patch_mode_answers_the_sdk_with_its_default_base_url(monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with MockAI(seed=9) as mock:
        reply = openai.OpenAI(api_key="sk-x", max_retries=0).embeddings.create(model=SMALL, input="patched")
    assert reply.data[0].embedding == vectors.encode(embed("patched", model=SMALL, seed=9), "float")
    assert mock.calls.last.http.path == "/v1/embeddings"


def test_an_embeddings_answer_being_made_does_not_hold_up_other_clients() -> None:
    import threading

    from mockai.engine import Exchange

    started, chat_answered = threading.Event(), threading.Event()
    waited: list[bool] = []

    def slow(ex: Exchange, res: HTTPResponse) -> HTTPResponse:  # an answer made until another client was served
        if ex.call.route == "embeddings":
            started.set()
            waited.append(chat_answered.wait(timeout=10))
        return res

    mock = MockAI()
    mock.engine.finishers.append(slow)
    with mock.serve() as server, \
            openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0, timeout=20) as client:
        embedding = threading.Thread(target=lambda: client.embeddings.create(model=SMALL, input="x"))
        embedding.start()
        assert started.wait(timeout=10)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        chat_answered.set()
        embedding.join()
    assert waited == [True]  # the chat request was answered while the embeddings answer was being made


def test_big_embedding_requests_are_answered_off_the_event_loop() -> None:
    assert heavy(b'{"model": "text-embedding-3-small", "input": "x"}', "/v1/embeddings")
    assert heavy(b'{"input": "x"}', "/openai/deployments/emb/embeddings/")
    assert not heavy(b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}', "/v1/chat/completions")


# --- cassettes ---------------------------------------------------------------------------------------------


def test_a_recorded_embeddings_answer_replays_as_recorded_and_never_answers_chat(tmp_path: Path) -> None:
    recorded_body = {"object": "list", "model": "text-embedding-3-small",
                     "data": [{"object": "embedding", "index": 0, "embedding": vectors.encode([0.6, 0.8], "base64")}],
                     "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    cassette = tmp_path / "embed.json"
    cassette.write_text(json.dumps({"mockai_cassette": 1, "interactions": [{
        "request": {"method": "POST", "path": "/v1/embeddings", "body": {
            "model": SMALL, "input": "hi", "encoding_format": "base64"}},
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": recorded_body}}]}))
    mock = MockAI(cassette=cassette, match_on=["method"], record_mode="none", assert_all_called=False)
    client = mock.client(max_retries=0)
    with pytest.raises(openai.BadRequestError, match="has no recorded answer"):  # a chat request: not this one
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    reply = client.embeddings.create(model=SMALL, input="hi")
    assert reply.data[0].embedding == pytest.approx([0.6, 0.8])
    assert json.loads(mock.calls.last.response.body) == recorded_body  # base64 as recorded
    assert mock.calls.last.responder == "cassette"


def test_recording_an_embeddings_call_then_replaying_it(tmp_path: Path) -> None:
    upstream = MockAI(seed=21, api_key="sk-real-upstream-key")
    with upstream.serve() as server:
        path = tmp_path / "rec.json"
        recorder = MockAI(cassette=path, record_mode="once", upstream=server.base_url)
        live = recorder.client(api_key="sk-real-upstream-key", max_retries=0).embeddings.create(
            model=LARGE, input=["a", "b"], dimensions=16)
        recorder.engine.responders[0].flush()  # type: ignore[attr-defined]
    saved = json.loads(path.read_text())["interactions"][0]
    assert isinstance(saved["response"]["body"]["data"][0]["embedding"], str)  # base64 stays base64
    assert "sk-real-upstream-key" not in path.read_text()
    replayer = MockAI(seed=99, cassette=path, record_mode="none")
    again = replayer.client(max_retries=0).embeddings.create(model=LARGE, input=["a", "b"], dimensions=16)
    assert [d.embedding for d in again.data] == [d.embedding for d in live.data]
    assert again.data[0].embedding == vectors.encode(embed("a", model=LARGE, seed=21, dimensions=16), "float")


# --- Hypothesis strategies -------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=embedding_requests())
def test_drawn_requests_are_valid_by_the_schema_the_sdk_and_mockai(body: dict[str, Any], schema: Any,
                                                                   engine: Engine) -> None:
    from openai.types import EmbeddingCreateParams

    schema["CreateEmbeddingRequest"].validate(body)
    assert _fits(body, EmbeddingCreateParams, "body") == []
    res = embed_post(engine, body)
    assert res.status == 200, res.body
    _, parsed = parse_embeddings(json.dumps(body).encode())
    sizes = {len(v) for v in floats(res.json())}
    assert sizes == {parsed.size}
    assert len(res.json()["data"]) == len(parsed.inputs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=embedding_responses(dimensions=4))
def test_drawn_responses_parse_and_can_be_scripted(drawn: dict[str, Any], schema: Any) -> None:
    conforms(drawn, schema)
    mock = MockAI()
    mock.queue(drawn)
    n = len(drawn["data"])
    reply = mock.client().embeddings.create(model=SMALL, input=["x"] * n, dimensions=4, encoding_format="float")
    assert [d.embedding for d in reply.data] == [d["embedding"] for d in drawn["data"]]


def test_drawn_base64_responses_decode_to_unit_vectors(schema: Any) -> None:
    from hypothesis import find

    drawn = find(embedding_responses(n=2, dimensions=3, encoding_format="base64"), lambda r: True)
    assert all(isinstance(d["embedding"], str) for d in drawn["data"])
    for vector in floats(conforms(drawn, schema)):
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, abs_tol=1e-6)


def test_strategy_arguments_are_checked() -> None:
    from hypothesis.errors import InvalidArgument

    for make in (lambda: embedding_requests(models=[]), lambda: embedding_responses(encoding_format="hex"),
                 lambda: embedding_responses(dimensions=0), lambda: embedding_responses(n=3000)):
        with pytest.raises(InvalidArgument):
            make()
