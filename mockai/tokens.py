"""Token counting and splitting, offline.

Generated text is always split by :func:`split`, a pure-Python approximation of OpenAI's BPE pre-tokenizer
(GPT-2 style pieces: a word with its leading space, up to three digits, a run of punctuation, whitespace; words
longer than ten letters are cut into pieces of at most six). It is deterministic everywhere, so streams, ``max_tokens``
cuts and logprobs are the same bytes on every machine. For English prose it lands within about 15% of
``o200k_base``.

Prompt tokens are counted with tiktoken when it is installed *and* its encoding file is already in the local
cache (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or ``$TMPDIR/data-gym-cache``) with the sha256 tiktoken
expects; tiktoken is never allowed to download (an empty ``TIKTOKEN_CACHE_DIR``, tiktoken's "no cache", means no
tiktoken). Otherwise :func:`split` counts them too. ``MOCKAI_TOKENIZER=approx`` forces the approximation, so that
``usage.prompt_tokens`` is the same on machines with and without tiktoken.

>>> split("Hello, lighthouse keepers!")  # ' lighthouse' is 11 characters with its space
['Hello', ',', ' light', 'house', ' keepers', '!']
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

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
    """Split text into token-sized pieces that join back to exactly ``text``."""
    out: list[str] = []
    for piece in _PIECES.findall(text):
        if len(piece) <= _LONG:
            out.append(piece)
        else:
            out.extend(piece[i : i + _PIECE] for i in range(0, len(piece), _PIECE))
    return out


def encoding_name(model: str) -> str:
    """The tiktoken encoding a model uses: ``cl100k_base`` for GPT-3.5/GPT-4 (not 4o), else ``o200k_base``."""
    m = model.lower()
    if m.startswith(("gpt-3.5", "gpt-35")) or (m.startswith("gpt-4") and not m.startswith(("gpt-4o", "gpt-4.1"))):
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


@functools.lru_cache(maxsize=4)
def _tiktoken_counter(name: str) -> Callable[[str], int] | None:
    if os.environ.get("MOCKAI_TOKENIZER", "auto") == "approx":
        return None
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


def backend(model: str) -> str:
    """``"tiktoken:<encoding>"`` or ``"approx"``: what :func:`count` uses for this model on this machine."""
    name = encoding_name(model)
    return f"tiktoken:{name}" if _tiktoken_counter(name) else "approx"


def count(text: str, model: str = "gpt-4o-mini") -> int:
    """How many tokens ``text`` is for ``model``."""
    counter = _tiktoken_counter(encoding_name(model))
    return counter(text) if counter else len(split(text))
