"""Token splitting and counting, offline."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockai import tokens


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


def test_approximation_is_forced_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKAI_TOKENIZER", "approx")
    tokens._tiktoken_counter.cache_clear()
    try:
        assert tokens.backend("gpt-4o") == "approx"
        text = "The quick brown fox jumps over the lazy dog."
        assert tokens.count(text) == len(tokens.split(text))
    finally:
        monkeypatch.undo()
        tokens._tiktoken_counter.cache_clear()


def test_never_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """With an empty cache dir tiktoken is not consulted at all (it would try the network)."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MOCKAI_TOKENIZER", raising=False)
    tokens._tiktoken_counter.cache_clear()
    try:
        assert tokens.backend("gpt-4o-mini") == "approx"
        assert tokens.count("Hello there") == 2
    finally:
        monkeypatch.undo()
        tokens._tiktoken_counter.cache_clear()


def test_approximation_is_close_to_tiktoken_when_present() -> None:
    if not tokens.backend("gpt-4o").startswith("tiktoken"):
        pytest.skip("no tiktoken encoding cached locally")
    text = ("Mockai lets people test code that talks to OpenAI's chat completions API without the network, "
            "without cost and without flakiness. ") * 5
    exact = tokens.count(text, "gpt-4o")
    assert abs(len(tokens.split(text)) - exact) <= 0.2 * exact


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
    import hashlib

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    cached.write_bytes(b"IQ== 0\nIg== 1\nIw== 2\n")  # the first lines of the real file, cut short
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MOCKAI_TOKENIZER", raising=False)
    attempts = _no_network(monkeypatch)
    tokens._tiktoken_counter.cache_clear()
    try:
        assert tokens.backend("gpt-4o-mini") == "approx"
        assert tokens.count("Hello there") == 2
        assert attempts == []
        assert cached.exists()  # tiktoken deletes a file that fails its check before downloading
    finally:
        monkeypatch.undo()
        tokens._tiktoken_counter.cache_clear()


def test_empty_cache_dir_means_no_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """``TIKTOKEN_CACHE_DIR=""`` is tiktoken's "never cache, always download": no tiktoken, and no fallback to
    another cache directory that tiktoken itself would not read."""
    import hashlib

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"IQ== 0\n")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("MOCKAI_TOKENIZER", raising=False)
    attempts = _no_network(monkeypatch)
    tokens._tiktoken_counter.cache_clear()
    try:
        assert tokens.backend("gpt-4o") == "approx"
        assert tokens._cache_dir() is None
        assert attempts == []
    finally:
        monkeypatch.undo()
        tokens._tiktoken_counter.cache_clear()
