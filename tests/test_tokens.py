"""Token splitting and counting, offline."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockai import MockAI, tokens
from mockai.engine import prompt_tokens
from mockai.wire import ChatCompletionRequest


def test_split_examples() -> None:
    assert tokens.split("Hello, lighthouse keepers!") == ["Hello", ",", " light", "house", " keepers", "!"]
    assert tokens.split("first_name") == ["first", "_", "name"]
    assert tokens.split("") == []
    assert tokens.split("12345") == ["123", "45"]
    assert tokens.split("it's") == ["it", "'s"]
    assert tokens.split("incomprehensibilities") == ["incomp", "rehens", "ibilit", "ies"]


@given(st.text())
def test_split_joins_back(text: str) -> None:
    pieces = tokens.split(text)
    assert "".join(pieces) == text
    assert all(pieces)


@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4o-mini", "o200k_base"), ("gpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"), ("o3", "o200k_base"),
    ("gpt-5", "o200k_base"), ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"),
    ("gpt-3.5-turbo", "cl100k_base")])
def test_encoding_name(model: str, encoding: str) -> None:
    assert tokens.encoding_name(model) == encoding


def test_count_is_positive_and_monotone() -> None:
    short = tokens.count("Hello there")
    long = tokens.count("Hello there, how are you doing on this fine morning by the sea?")
    assert 0 < short < long
    assert tokens.count("") == 0


@pytest.fixture
def tokenizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set ``MOCKAI_TOKENIZER`` (or unset it with ``""``) and load the counters afresh; restored afterwards."""
    def use(value: str) -> None:
        if value:
            monkeypatch.setenv("MOCKAI_TOKENIZER", value)
        else:
            monkeypatch.delenv("MOCKAI_TOKENIZER", raising=False)
        tokens.forget()

    yield use
    monkeypatch.undo()
    tokens.forget()


def test_approximation_is_forced_by_env(tokenizer: Callable[[str], None]) -> None:
    tokenizer("approx")
    assert tokens.backend("gpt-4o") == "approx"
    text = "The quick brown fox jumps over the lazy dog."
    assert tokens.count(text) == len(tokens.split(text))


def test_bpe_openai_is_the_default_counter(tokenizer: Callable[[str], None]) -> None:
    """Installed with the ``tokens`` extra (and the ``test`` one), it counts exactly and offline."""
    tokenizer("")
    assert tokens.backend("gpt-4o-mini") == "bpe-openai:o200k_base"
    assert tokens.backend("gpt-4") == "bpe-openai:cl100k_base"
    # The cookbook's own example: "tiktoken is great!" is 6 cl100k_base tokens.
    assert tokens.count("tiktoken is great!", "gpt-4") == 6
    assert tokens.count("お誕生日おめでとう", "gpt-4") == 9  # the cookbook's comparison of encodings
    assert tokens.count("お誕生日おめでとう", "gpt-4o") == 8
    assert tokens.count("<|endoftext|>", "gpt-4o") > 1  # text, never a special token
    assert tokens.count("a\ud800b") >= 2  # a lone surrogate (JSON allows one) is counted, not an error


def test_named_counters_and_their_fallbacks(tokenizer: Callable[[str], None], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Any) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: tiktoken cannot count offline
    tokenizer("bpe-openai")
    assert tokens.backend("gpt-4o") == "bpe-openai:o200k_base"
    tokenizer("tiktoken")
    with pytest.warns(RuntimeWarning, match="tiktoken cannot count o200k_base on this machine"):
        assert tokens.backend("gpt-4o") == "approx"
    tokenizer("exact-please")
    with pytest.warns(RuntimeWarning, match="is not one of auto, bpe-openai, tiktoken, approx"):
        assert tokens.backend("gpt-4o") == "approx"


def test_without_bpe_openai_auto_falls_back_to_the_approximation(tokenizer: Callable[[str], None],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Any) -> None:
    monkeypatch.setitem(sys.modules, "bpe_openai", None)  # as if not installed: importing it fails
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokenizer("")
    assert tokens.backend("gpt-4o") == "approx"
    assert tokens.count("Hello there") == 2


def test_a_counter_is_loaded_once_and_never_at_import(tokenizer: Callable[[str], None],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code = ("import sys, mockai, mockai.engine, mockai.app, mockai.tokens\n"
            "assert 'bpe_openai' not in sys.modules and 'tiktoken' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)

    loads: list[str] = []
    real = tokens._LOADERS["bpe-openai"]

    def slow(name: str) -> Callable[[str], int] | None:
        loads.append(name)
        time.sleep(0.2)  # long enough for every thread to ask while it loads
        return real(name)

    monkeypatch.setitem(tokens._LOADERS, "bpe-openai", slow)
    tokenizer("")
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda i: tokens.count("tiktoken is great!", "gpt-4"), range(16)))
    assert counts == [6] * 16
    assert loads == ["cl100k_base"]


def test_the_approximation_is_within_15_percent_of_the_exact_count(tokenizer: Callable[[str], None]) -> None:
    tokenizer("")
    texts = [
        "Mockai lets people test code that talks to OpenAI's chat completions API without the network, without "
        "cost and without flakiness. " * 5,
        " ".join(COOKBOOK_MESSAGES[i]["content"] for i in range(len(COOKBOOK_MESSAGES))),
        "Write a long essay about lighthouses and the keepers who lived in them, with dates and names.",
    ]
    for text in texts:
        exact = tokens.count(text, "gpt-4o")
        assert tokens.backend("gpt-4o").startswith("bpe-openai")
        assert abs(len(tokens.split(text)) - exact) <= 0.15 * exact, (text, exact, len(tokens.split(text)))


def _wheel_vocabulary(name: str) -> bytes:
    """The encoding file inside bpe-openai's wheel, read without importing the package (its ``__init__`` warns)."""
    spec = importlib.util.find_spec("bpe_openai")
    assert spec is not None
    assert spec.submodule_search_locations
    folder = Path(spec.submodule_search_locations[0])
    return gzip.decompress((folder / "data" / f"{name}.tiktoken.gz").read_bytes())


def _tiktoken_from_the_wheel(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """tiktoken's own encoding (its regular expression and code), with the vocabulary bpe-openai ships instead of a
    download; the files are byte for byte the ones tiktoken checks by sha256."""
    import base64

    import tiktoken
    import tiktoken_ext.openai_public as public

    data = _wheel_vocabulary(name)
    assert hashlib.sha256(data).hexdigest() == tokens._ENCODING_SHA256[name]

    def load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        assert url == tokens._ENCODING_URLS[name]
        return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in data.splitlines())}

    monkeypatch.setattr(public, "load_tiktoken_bpe", load)
    return tiktoken.Encoding(**getattr(public, name)())


@pytest.mark.parametrize(("name", "model"), [("o200k_base", "gpt-4o"), ("cl100k_base", "gpt-4")])
def test_bpe_openai_counts_what_tiktoken_counts(name: str, model: str, tokenizer: Callable[[str], None],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer("")
    reference = _tiktoken_from_the_wheel(name, monkeypatch)

    @settings(max_examples=300, deadline=None)
    @given(st.text(st.characters(blacklist_categories=("Cs",))) | st.text(" \n\t\r aAbB1,.'!é中😀_-{}\":", max_size=60))
    def check(text: str) -> None:
        assert tokens.count(text, model) == len(reference.encode(text, disallowed_special=()))

    check()


# --- prompt tokens: OpenAI's cookbook, "How to count tokens with tiktoken" ----------------------------------
# Its example messages and tools, and the prompt tokens the API reported for them (the notebook's printed output).

COOKBOOK_MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
                                  "into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch "
                                                          "base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do "
                                                               "better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]
COOKBOOK_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]},
    }, "required": ["location"]}}}]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(("model", "reported"), [
    ("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)])
def test_prompt_tokens_are_what_the_api_reported_for_the_cookbook_messages(
        model: str, reported: int, tokenizer: Callable[[str], None]) -> None:
    tokenizer("")
    client = MockAI().client(max_retries=0)
    reply = client.chat.completions.create(model=model, messages=COOKBOOK_MESSAGES,  # type: ignore[arg-type]
                                           temperature=0, max_tokens=1)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == reported


@pytest.mark.parametrize(("model", "reported"), [
    ("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)])
def test_prompt_tokens_are_what_the_api_reported_for_the_cookbook_tools(
        model: str, reported: int, tokenizer: Callable[[str], None]) -> None:
    tokenizer("")
    client = MockAI().client(max_retries=0)
    reply = client.chat.completions.create(model=model, messages=COOKBOOK_TOOL_MESSAGES,  # type: ignore[arg-type]
                                           tools=COOKBOOK_TOOLS, temperature=0)  # type: ignore[arg-type]
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == reported


def test_every_message_counts_its_role(tokenizer: Callable[[str], None]) -> None:
    """The cookbook counts every value of a message, the role too: 3 + role + content (+ 1 + name), then 3."""
    tokenizer("approx")
    for role, name in [("user", None), ("developer", None), ("system", "example_user"), ("assistant", "bot")]:
        message: dict[str, str] = {"role": role, "content": "Hello there"}
        if name:
            message["name"] = name
        request = ChatCompletionRequest.model_validate({"model": "gpt-4o", "messages": [message]})
        expected = 3 + sum(len(tokens.split(v)) for v in message.values()) + (1 if name else 0) + 3
        assert prompt_tokens(request) == expected


def test_legacy_functions_count_like_tools(tokenizer: Callable[[str], None]) -> None:
    tokenizer("")
    function = COOKBOOK_TOOLS[0]["function"]
    legacy = ChatCompletionRequest.model_validate({"model": "gpt-4o", "messages": COOKBOOK_TOOL_MESSAGES,
                                                   "functions": [function]})
    assert prompt_tokens(legacy) == 101


# --- model output limits --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "limit"), [
    ("gpt-4o-mini", 16_384), ("gpt-4o", 16_384), ("gpt-4.1-nano", 32_768), ("gpt-5", 128_000), ("gpt-5-mini", 128_000),
    ("o3", 100_000), ("o4-mini", 100_000), ("o1-mini", 65_536), ("gpt-4-turbo", 4_096), ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 4_096), ("my-azure-deployment", 16_384)])
def test_max_output(model: str, limit: int) -> None:
    assert tokens.max_output(model) == limit


def test_output_limit_takes_the_least() -> None:
    assert tokens.output_limit("gpt-4o", 100) == 100
    assert tokens.output_limit("gpt-4o", 10**6) == 16_384
    assert tokens.output_limit("gpt-5", None, 4) == tokens.MAX_REPLY_TOKENS // 4
    assert tokens.output_limit("gpt-5", 10, 128) == 10


def _no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make every name lookup and connect fail, and record that it was tried."""
    import socket

    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> object:
        attempts.append(args)
        raise OSError("mockai tests: the network is off")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_corrupt_cache_file_is_not_handed_to_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A truncated encoding file fails tiktoken's hash check, and tiktoken would then download it again."""
    url = tokens._ENCODING_URLS["o200k_base"]
    cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    cached.write_bytes(b"IQ== 0\nIg== 1\nIw== 2\n")  # the first lines of the real file, cut short
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    attempts = _no_network(monkeypatch)
    assert tokens._tiktoken("o200k_base") is None
    assert attempts == []
    assert cached.exists()  # tiktoken deletes a file that fails its check before downloading


def test_empty_cache_dir_means_no_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """``TIKTOKEN_CACHE_DIR=""`` is tiktoken's "never cache, always download": no tiktoken, and no fallback to
    another cache directory that tiktoken itself would not read."""
    url = tokens._ENCODING_URLS["o200k_base"]
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"IQ== 0\n")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    attempts = _no_network(monkeypatch)
    assert tokens._tiktoken("o200k_base") is None
    assert tokens._cache_dir() is None
    assert attempts == []


def test_tiktoken_with_a_verified_cache_is_the_second_choice(tokenizer: Callable[[str], None],
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """With the encoding file in tiktoken's cache (here: the wheel's copy, which has the sha256 tiktoken expects),
    tiktoken counts when bpe-openai is absent or not chosen, without the network."""
    data = _wheel_vocabulary("o200k_base")
    (tmp_path / hashlib.sha1(tokens._ENCODING_URLS["o200k_base"].encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    attempts = _no_network(monkeypatch)
    tokenizer("tiktoken")
    assert tokens.backend("gpt-4o") == "tiktoken:o200k_base"
    assert tokens.count("お誕生日おめでとう", "gpt-4o") == 8
    monkeypatch.setitem(sys.modules, "bpe_openai", None)
    tokenizer("")
    assert tokens.backend("gpt-4o") == "tiktoken:o200k_base"
    assert attempts == []


@given(st.text(max_size=300))
@example("a" * 61 + " " + "b" * 10 + "c" * 11 + " 12345 __ '' 've")
def test_pieces_counts_what_split_makes(text: str) -> None:
    assert tokens.pieces(text) == len(tokens.split(text))
