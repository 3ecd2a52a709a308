"""Token counting and splitting, offline.

Generated text is always split by :func:`split`, a pure-Python approximation of OpenAI's BPE pre-tokenizer
(GPT-2 style pieces: a word with its leading space, up to three digits, a run of punctuation, whitespace; words
longer than ten letters are cut into pieces of at most six). It is deterministic everywhere, so streams, ``max_tokens``
cuts and logprobs are the same bytes on every machine. For English prose it lands within about 15% of
``o200k_base``.

Prompt tokens are counted by the first of these that works on this machine, never touching the network:

1. ``bpe-openai`` (``pip install 'pytest-mockai[tokens]'``): ships ``o200k_base`` and ``cl100k_base`` in its wheel, so
   counts are exact offline (the same counts as tiktoken's). An encoding is loaded on its first count, never at
   import: about 0.2 s and 70 MB of memory (half of it the wheel's file, mapped read-only) once per process, by
   one thread while any other waits.
2. tiktoken, when it is installed *and* its encoding file is already in the local cache (``TIKTOKEN_CACHE_DIR``,
   ``DATA_GYM_CACHE_DIR`` or ``$TMPDIR/data-gym-cache``) with the sha256 tiktoken expects; tiktoken is never
   allowed to download (an empty ``TIKTOKEN_CACHE_DIR``, tiktoken's "no cache", means no tiktoken).
3. :func:`split`, the approximation.

``MOCKAI_TOKENIZER`` picks one: ``auto`` (the default: that order), ``bpe-openai``, ``tiktoken`` or ``approx``.
``approx`` makes ``usage.prompt_tokens`` the same on every machine; a named counter that cannot be loaded falls
back to the approximation with a :class:`RuntimeWarning`.

>>> split("Hello, lighthouse keepers!")  # ' lighthouse' is 11 characters with its space
['Hello', ',', ' light', 'house', ' keepers', '!']
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# "_" is a word character to ``re`` but neither a letter nor a digit: it goes with the punctuation.
_PIECES = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d{1,3}| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")
_LONG = 10
_PIECE = 6

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
# The sha256 tiktoken expects of each file (tiktoken_ext/openai_public.py). tiktoken deletes a cached file that
# does not match and downloads it again, so a file is only handed to tiktoken after it passes this check.
_ENCODING_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


def split(text: str) -> list[str]:
    """Split text into token-sized pieces that join back to exactly ``text``.

    Short texts are remembered (a scripted reply is split once, not at every call it answers).
    """
    if len(text) <= _SPLIT_TEXT:
        known = _SPLITS.get(text)
        if known is None:
            if len(_SPLITS) >= _SPLIT_ENTRIES:
                _SPLITS.clear()
            known = _SPLITS[text] = _split(text)
        return list(known)
    return _split(text)


_SPLIT_TEXT = 256  # longer texts are split each time
_SPLIT_ENTRIES = 256  # at most about 256 × 4 KB of text and pieces
_SPLITS: dict[str, list[str]] = {}


def _split(text: str) -> list[str]:
    out: list[str] = []
    for piece in _PIECES.findall(text):
        if len(piece) <= _LONG:
            out.append(piece)
        else:
            out.extend(piece[i : i + _PIECE] for i in range(0, len(piece), _PIECE))
    return out


@functools.lru_cache(maxsize=256)
def encoding_name(model: str) -> str:
    """The tiktoken encoding a model uses: ``cl100k_base`` for GPT-3.5/GPT-4 (not 4o) and the embedding models,
    else ``o200k_base``."""
    m = model.lower()
    if m.startswith(("gpt-3.5", "gpt-35", "text-embedding")) or (
            m.startswith("gpt-4") and not m.startswith(("gpt-4o", "gpt-4.1"))):
        return "cl100k_base"
    return "o200k_base"


def _cache_dir() -> Path | None:
    """Where tiktoken looks for its files, chosen as tiktoken chooses; ``None`` when its cache is turned off.

    tiktoken takes the first of the two variables that is *set*, and an empty value means "no cache, always
    download", so that is "no tiktoken" here.
    """
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return Path(os.environ[var]) if os.environ[var] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _cached_file_ok(name: str) -> bool:
    """The encoding file is in tiktoken's cache and intact, so loading it cannot reach the network."""
    url, expected = _ENCODING_URLS.get(name), _ENCODING_SHA256.get(name)
    cache = _cache_dir()
    if url is None or expected is None or cache is None:
        return False
    try:
        data = (cache / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected


def _tiktoken(name: str) -> Callable[[str], int] | None:
    if not _cached_file_ok(name):
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        enc = tiktoken.get_encoding(name)
    except Exception:  # a corrupt cache would make tiktoken try the network; count approximately instead
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


def _bpe_openai(name: str) -> Callable[[str], int] | None:
    try:
        bindings = _bpe_bindings()
        count = bindings.tokenizer_for_encoding(name).count if bindings is not None else None
    except Exception:  # a version without this API, a broken install: the next counter
        return None
    if count is None:
        return None

    def counter(text: str) -> int:
        try:
            return int(count(text))
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): replaced, as tiktoken does
            return int(count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")))

    return counter


def _bpe_bindings() -> Any:
    """bpe-openai's Rust core (``bpe_openai._bindings``), or ``None`` when bpe-openai is not installed.

    Loaded from its file without running the package's ``__init__``, which decodes three vocabularies into Python
    dicts (0.7 s and 70 MB) that counting never uses: the core carries its own. The core counts without building
    a list of ids and without the wrapper's 200,000-token limit per call (a 16 MB prompt is 4 million tokens).
    """
    spec = importlib.util.find_spec("bpe_openai")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_bindings" + suffix)
            if os.path.exists(path):
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", path)
                module = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(loader.name, loader,
                                                                                        origin=path))
                loader.exec_module(module)
                return module
    return None


_LOADERS: dict[str, Callable[[str], Callable[[str], int] | None]] = {"bpe-openai": _bpe_openai, "tiktoken": _tiktoken}
_CHOICES = ("auto", *_LOADERS, "approx")
_counters: dict[str, tuple[str, Callable[[str], int] | None]] = {}
_loading = threading.Lock()


def _counter(name: str) -> tuple[str, Callable[[str], int] | None]:
    """``(backend, count)`` for an encoding, loaded once per process (``count`` is ``None`` for the approximation)."""
    found = _counters.get(name)
    if found is None:
        with _loading:  # one thread loads (seconds, a hundred MB); the others wait for it rather than load too
            found = _counters.get(name)
            if found is None:
                found = _counters[name] = _load(name)
    return found


def _load(name: str) -> tuple[str, Callable[[str], int] | None]:
    choice = os.environ.get("MOCKAI_TOKENIZER", "auto").strip().lower() or "auto"
    if choice == "approx":
        return "approx", None
    if choice not in _CHOICES:
        warnings.warn(f"MOCKAI_TOKENIZER={choice!r} is not one of {', '.join(_CHOICES)}: counting tokens "
                      "approximately", RuntimeWarning, stacklevel=3)
        return "approx", None
    for backend in _LOADERS if choice == "auto" else (choice,):
        count = _LOADERS[backend](name)
        if count is not None:
            return f"{backend}:{name}", count
    if choice != "auto":
        how = ("pip install 'pytest-mockai[tokens]'" if choice == "bpe-openai"
               else "install tiktoken and put its encoding files in its cache")
        warnings.warn(f"MOCKAI_TOKENIZER={choice}: {choice} cannot count {name} on this machine ({how}); counting "
                      "tokens approximately", RuntimeWarning, stacklevel=3)
    return "approx", None


def forget() -> None:
    """Load the counters again on the next count (after ``MOCKAI_TOKENIZER`` or an install changed)."""
    with _loading:
        _counters.clear()


def backend(model: str) -> str:
    """What :func:`count` uses for this model on this machine: ``"bpe-openai:<encoding>"``,
    ``"tiktoken:<encoding>"`` or ``"approx"``."""
    return _counter(encoding_name(model))[0]


def count(text: str, model: str = "gpt-4o-mini") -> int:
    """How many tokens ``text`` is for ``model``."""
    return counting(model)(text)


def counting(model: str) -> Callable[[str], int]:
    """:func:`count` for one model, looked up once: for counting many texts.

    >>> counting("gpt-4o-mini")("Hello") == count("Hello", "gpt-4o-mini")
    True
    """
    return _counter(encoding_name(model))[1] or pieces


def pieces(text: str) -> int:
    """``len(split(text))``, without making the pieces: the approximate count of a prompt's tokens.

    >>> pieces("Hello, lighthouse keepers!")
    6
    """
    lengths = list(map(len, _PIECES.findall(text)))
    n = len(lengths)
    if n and max(lengths) > _LONG:  # rare: a long word is cut into pieces of _PIECE
        n += sum(-(-size // _PIECE) - 1 for size in lengths if size > _LONG)
    return n


# The most tokens a model writes in one choice (OpenAI's model pages); a longer reply ends with ``length``.
# Longer prefixes first; a model not listed (an Azure deployment name, a new model) gets the last entry's value.
_MAX_OUTPUT = (
    ("gpt-5", 128_000), ("gpt-4.1", 32_768), ("gpt-4o", 16_384), ("o1-mini", 65_536), ("o1", 100_000),
    ("o3", 100_000), ("o4", 100_000), ("gpt-4-turbo", 4_096), ("gpt-4", 8_192), ("gpt-3.5", 4_096), ("", 16_384),
)
# What mockai writes for all the choices of one reply together, at most: a request for 128 choices of a 100,000-
# token reply would cost minutes and gigabytes, so each choice then gets its share (1,024 tokens for n=128).
MAX_REPLY_TOKENS = 131_072


@functools.lru_cache(maxsize=256)
def max_output(model: str) -> int:
    """The most tokens ``model`` writes in one choice: ``max_output("gpt-4o-mini") == 16384``."""
    m = model.lower()
    return next(limit for prefix, limit in _MAX_OUTPUT if m.startswith(prefix))


def output_limit(model: str, max_tokens: int | None = None, n: int = 1) -> int:
    """The tokens one choice of a generated reply may hold: the request's ``max_tokens``, the model's output limit
    and the choice's share of :data:`MAX_REPLY_TOKENS`, whichever is least.

    >>> output_limit("gpt-4o-mini"), output_limit("gpt-5", 50), output_limit("gpt-5", n=128)
    (16384, 50, 1024)
    """
    limit = min(max_output(model), MAX_REPLY_TOKENS // max(n, 1))
    return limit if max_tokens is None else min(limit, max_tokens)
