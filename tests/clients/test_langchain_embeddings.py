"""LangChain's OpenAIEmbeddings, unchanged, feeding its InMemoryVectorStore: the document sharing the query's words
is the one found, whether LangChain sends token ids (its default, ``check_embedding_ctx_length``) or strings, in
patch mode and over a real socket."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mockai import MockAI, embeddings, tokens

langchain_openai = pytest.importorskip("langchain_openai")
pytest.importorskip("numpy")  # InMemoryVectorStore computes its cosines with numpy
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

DOCS = ["To reset your password, open Settings and choose Reset password.",
        "Our office is closed on public holidays.",
        "The best hiking trails near Denver are in the foothills.",
        "Refunds are paid to the card you used within five days."]
QUERY = "How do I reset my password?"


@pytest.fixture(autouse=True)
def tiktoken_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LangChain counts tokens with tiktoken, which downloads cl100k_base; give it bpe-openai's copy of the file
    (byte for byte the one tiktoken checks by sha256) in its cache instead."""
    url = tokens._ENCODING_URLS["cl100k_base"]
    data = next(iter(embeddings._vocabulary_files()), None)
    if data is None:
        pytest.skip("no cl100k_base vocabulary on this machine (pip install bpe-openai)")
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))


@pytest.mark.parametrize("token_ids", [True, False])
def test_similarity_search_in_patch_mode(token_ids: bool) -> None:
    with MockAI(seed=1) as mock:
        embedder = langchain_openai.OpenAIEmbeddings(model="text-embedding-3-small", api_key="sk-test",
                                                     check_embedding_ctx_length=token_ids)
        store = InMemoryVectorStore(embedder)
        store.add_texts(DOCS)
        hits = store.similarity_search_with_score(QUERY, k=len(DOCS))
        refund = store.similarity_search("When are refunds paid?", k=1)
    assert hits[0][0].page_content == DOCS[0]
    assert hits[0][1] > 0.5 > max(score for _, score in hits[1:])
    assert refund[0].page_content == DOCS[3]
    sent = json.loads(mock.calls[0].http.body)["input"]
    assert all(isinstance(item, list) for item in sent) if token_ids else sent == DOCS
    assert mock.calls[0].prompt is not None
    assert mock.calls[0].prompt.texts == DOCS  # token ids journaled as the text they stand for
    assert mock.calls.last.prompt is not None
    assert mock.calls.last.prompt.texts == ["When are refunds paid?"]


def test_token_ids_and_strings_give_the_same_scores() -> None:
    scores = []
    for token_ids in (True, False):
        with MockAI(seed=7):
            embedder = langchain_openai.OpenAIEmbeddings(model="text-embedding-3-large", dimensions=256,
                                                         api_key="sk-test", check_embedding_ctx_length=token_ids)
            store = InMemoryVectorStore(embedder)
            store.add_texts(DOCS)
            scores.append([score for _, score in store.similarity_search_with_score(QUERY, k=len(DOCS))])
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)


@pytest.mark.asyncio
async def test_async_over_a_socket_with_a_scripted_neighbour() -> None:
    mock = MockAI(seed=2)
    # Script the query to land on the holidays document, whatever its words.
    mock.on(api="embeddings", last_user="when can I visit").respond({"like": DOCS[1], "noise": 0.1})
    with mock.serve() as server:
        embedder = langchain_openai.OpenAIEmbeddings(model="text-embedding-3-small", api_key="sk-test",
                                                     base_url=server.base_url)
        store = InMemoryVectorStore(embedder)
        await store.aadd_texts(DOCS)
        found = await store.asimilarity_search("when can I visit?", k=1)
        await embedder.async_client._client.close()
    assert [d.page_content for d in found] == [DOCS[1]]
    assert mock.rules[0].call_count == 1
