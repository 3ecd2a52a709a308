"""Deterministic embedding vectors that keep similarity: feature hashing, projected and normalized.

A vector is a pure function of (seed, model, input). Texts that share words and word pieces point the same way;
unrelated texts are nearly orthogonal; the same text under another seed or model lands somewhere unrelated.

>>> a = embed("How do I reset my password?", model="text-embedding-3-small")
>>> b = embed("How can I reset my password", model="text-embedding-3-small")
>>> c = embed("Best hiking trails near Denver", model="text-embedding-3-small")
>>> len(a), round(cosine(a, a), 6), cosine(a, b) > 0.8, abs(cosine(a, c)) < 0.1
(1536, 1.0, True, True)

**Features.** The text is NFKC-normalized, stripped of accents ("café" is "cafe") and case-folded, then split
into words (runs of letters and digits; symbols such as emoji count as one-character words). Each word is a
feature, and so is each character 3-gram of the word between boundary markers (``"<pa" "pas" … "rd>"`` for
"password"), which is what makes "reset" and "resetting" alike. About 120 English function words ("the",
"of", "how" …) get a small weight and no 3-grams, so two English sentences are not alike merely for being
English. Weights: a word 1.0, a 3-gram 0.4, a function word 0.15, each times ``sqrt(count)`` (sublinear:
repeating a word does not drown the rest). A text with no words uses its other characters, and a text of only
whitespace the text itself, so every input is a unit vector.

A list of token ids has no text to split: decoding it needs tiktoken's vocabulary, which not every machine
has, and a vector must not depend on the machine. Its features are the ids (weight 1.0) and the pairs of
neighbouring ids (weight 0.4), so token lists that share tokens are alike. Pass ``decode`` (ids to text) to
embed the decoded text instead, as the real API does.

**Projection.** Each feature is hashed (BLAKE2b, keyed with the seed and the model) onto one signed coordinate
in each *segment* of the vector: ``[0,1) [1,2) [2,4) [4,8) … [256,512)`` and then every 512 coordinates, 15
segments for 3072 dimensions and 12 for 1536. A coordinate of a segment of size ``s`` carries ``±sqrt(s)``, so
every coordinate has the same expected share of the vector's length, every feature's code has exactly the
same length, and two different features overlap by chance with variance ``1/D``, as a dense random projection
does. Because every power-of-two prefix is a whole number of segments, **any prefix of the vector is itself a
projection of the same features**: ``dimensions=d`` (the first ``d`` coordinates, renormalized, exactly as
the v3 models shorten) keeps the similarities, with chance overlap ``~1/sqrt(d)``.

**Numbers** (measured on the corpus of tests/test_vectors.py, which pins the bounds): identical text 1.0; a
query and a paraphrase sharing most of its words 0.64–0.99, mean 0.86 (bound: > 0.5); unrelated sentences mean
0.02, at most 0.13 (bounds: |mean| < 0.05, max < 0.2; at 256–1024 dimensions max 0.20, bound 0.3); the same
text under another seed or model |cos| ≤ 0.07 (bound 0.1). Even a 64-coordinate prefix keeps every paraphrase
above every unrelated pair. The arithmetic is IEEE doubles with ``sqrt`` and ``fsum`` only (both correctly
rounded; no ``log`` or ``pow``, which libms round differently), so the bytes are the same on every machine.

**Speed** (pure Python, no numpy; 3072 dimensions, CPU time on a busy 2-core machine): 2,000–2,800 short
inputs/s and 55–80 inputs/s of 8,000 tokens, encoding included. A feature's coordinates are computed once and
kept (an LRU of 16,384 features, about 4 MB).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import math
import operator
import re
import struct
import sys
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal, overload

MODEL_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_DIMENSIONS = 1536  # an unknown model (an Azure deployment name, a newer model) embeds like 3-small
_FIXED_SIZE = frozenset({"text-embedding-ada-002"})  # models that reject ``dimensions``

_WORD_WEIGHT = 1.0
_GRAM_WEIGHT = 0.4
_STOP_WEIGHT = 0.15
_SEGMENT = 512  # the largest segment; every power of two up to it, and every multiple of it, is a clean cut
_SPARSE_FACTOR = 32  # under size / 32 features, sum in a dict: a list of `size` zeros costs more than it saves

_WORDS = re.compile(r"[^\W_]+")
_ACCENTS = re.compile("[\u0300-\u036f]")  # the combining accents of Latin, Greek and Cyrillic letters
_SYMBOLS = re.compile(r"[^\x00-\x7f\w\s]")  # candidates for symbols (emoji, ©, €); unicodedata decides
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves s t d ll m re ve""".split()
)


def dimensions_of(model: str) -> int:
    """The length of ``model``'s vectors; :data:`DEFAULT_DIMENSIONS` for a model not in :data:`MODEL_DIMENSIONS`.

    >>> dimensions_of("text-embedding-3-large"), dimensions_of("my-azure-deployment")
    (3072, 1536)
    """
    return MODEL_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)


def max_dimensions(model: str) -> int:
    """The largest ``dimensions`` a request to ``model`` may ask for: its size; for a model not in
    :data:`MODEL_DIMENSIONS` (an Azure deployment may be of any of them), the largest model's.

    >>> max_dimensions("text-embedding-3-small"), max_dimensions("my-azure-deployment")
    (1536, 3072)
    """
    return MODEL_DIMENSIONS.get(model, max(MODEL_DIMENSIONS.values()))


def accepts_dimensions(model: str) -> bool:
    """Whether ``model`` can shorten its vectors (``dimensions``): every model but ``text-embedding-ada-002``.

    >>> accepts_dimensions("text-embedding-3-small"), accepts_dimensions("text-embedding-ada-002")
    (True, False)
    """
    return model not in _FIXED_SIZE


def embed(
    input: str | Sequence[int],
    *,
    model: str,
    seed: int = 0,
    dimensions: int | None = None,
    decode: Callable[[Sequence[int]], str] | None = None,
) -> list[float]:
    """The unit vector of ``input`` (a text or a list of token ids) for ``model`` under ``seed``.

    ``dimensions`` shortens it: the first ``dimensions`` coordinates, renormalized (for a model not in
    :data:`MODEL_DIMENSIONS`, a larger ``dimensions`` sizes it). ``decode`` turns token ids into text first
    (otherwise the ids themselves are the features). Raises ``ValueError`` for ``dimensions`` out of
    ``1..max_dimensions(model)``; which models *accept* the parameter is :func:`accepts_dimensions`.

    >>> v = embed("hello world", model="text-embedding-3-large", dimensions=256)
    >>> len(v), round(math.fsum(x * x for x in v), 9)
    (256, 1.0)
    """
    size = dimensions_of(model)
    if dimensions is not None and not 1 <= dimensions <= max_dimensions(model):
        raise ValueError(f"dimensions must be between 1 and {max_dimensions(model)} for {model}, got {dimensions}")
    size = max(size, dimensions or 0)  # (a model it does not know, asked for more than its default size)
    if not isinstance(input, str) and decode is not None:
        input = decode(input)
    features = _text_features(input) if isinstance(input, str) else _token_features(input)
    return _project(features, _key(seed, model), size, dimensions or size)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between two vectors (their dot product when both are unit vectors).

    >>> cosine([1.0, 0.0], [0.6, 0.8])
    0.6
    """
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norms if norms else 0.0


@overload
def encode(vector: Sequence[float], encoding_format: Literal["float"]) -> list[float]: ...
@overload
def encode(vector: Sequence[float], encoding_format: Literal["base64"]) -> str: ...
def encode(vector: Sequence[float], encoding_format: Literal["float", "base64"]) -> list[float] | str:
    """A vector as the API sends it: float32 values, as a list (``"float"``) or little-endian bytes in base64.

    The two forms agree exactly: ``decode_base64(encode(v, "base64")) == encode(v, "float")``.

    >>> encode([0.1, -0.5], "float")
    [0.10000000149011612, -0.5]
    >>> encode([0.1, -0.5], "base64")
    'zczMPQAAAL8='
    """
    packed = array("f", vector)
    if encoding_format == "float":
        return packed.tolist()
    if encoding_format == "base64":
        if sys.byteorder != "little":
            packed.byteswap()
        return base64.b64encode(packed.tobytes()).decode("ascii")
    raise ValueError(f"encoding_format must be 'float' or 'base64', got {encoding_format!r}")


def decode_base64(data: str) -> list[float]:
    """The floats of a base64 embedding (little-endian float32), as the ``openai`` SDK reads them.

    >>> decode_base64("zczMPQAAAL8=")
    [0.10000000149011612, -0.5]
    """
    packed = array("f")
    packed.frombytes(base64.b64decode(data))
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tolist()


def _text_features(text: str) -> dict[bytes, float]:
    text = unicodedata.normalize("NFKC", _ACCENTS.sub("", unicodedata.normalize("NFKD", text))).casefold()
    words = _WORDS.findall(text)
    words += [ch for ch in _SYMBOLS.findall(text) if unicodedata.category(ch)[0] == "S"]
    if not words:  # punctuation only: its characters; whitespace only: the text itself
        words = [ch for ch in text if not ch.isspace()] or [text]
    features: dict[bytes, float] = {}
    grams: Counter[bytes] = Counter()
    for word, n in Counter(words).items():
        if word in _STOPWORDS:
            features[b"w" + _utf8(word)] = _STOP_WEIGHT * math.sqrt(n)
        else:
            features[b"w" + _utf8(word)] = _WORD_WEIGHT * math.sqrt(n)
            grams.update(_grams(word) * n)
    for gram, n in grams.items():
        features[gram] = _GRAM_WEIGHT * math.sqrt(n)
    return features


def _grams(word: str) -> tuple[bytes, ...]:
    """The character 3-grams of a word between boundary markers: ``"<ca", "cat", "at>"`` for "cat"."""
    padded = _utf8(f"<{word}>")
    return tuple(b"g" + padded[i : i + 3] for i in range(len(padded) - 2))


def _token_features(ids: Sequence[int]) -> dict[bytes, float]:
    counts: Counter[bytes] = Counter(b"t%d" % i for i in ids)
    pairs: Counter[bytes] = Counter(b"p%d,%d" % pair for pair in itertools.pairwise(ids))
    features = {f: _WORD_WEIGHT * math.sqrt(n) for f, n in counts.items()}
    features.update((f, _GRAM_WEIGHT * math.sqrt(n)) for f, n in pairs.items())
    return features or {b"empty": 1.0}


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # JSON may carry a lone surrogate; it must not crash a hash


def _key(seed: int, model: str) -> bytes:
    return hashlib.blake2b(b"mockai-vectors|%d|%s" % (seed, _utf8(model)), digest_size=32).digest()


@functools.lru_cache(maxsize=16)
def _layout(size: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]]:
    """Where each segment starts, how long it is, and each coordinate's magnitude (``sqrt`` of its length).

    Segments are 1, 1, 2, 4 … 512 long, then 512 each (the last one whatever is left).
    """
    starts, lengths = [0], [1]
    while (start := starts[-1] + lengths[-1]) < size:
        starts.append(start)
        lengths.append(min(start, _SEGMENT, size - start))
    scales = tuple(math.sqrt(length) for length in lengths for _ in range(length))
    return tuple(starts), tuple(lengths), scales


@functools.lru_cache(maxsize=1 << 14)  # about 4 MB when full
def _code(key: bytes, size: int, feature: bytes) -> tuple[array[int], array[int]]:
    """The coordinates a feature adds to and subtracts from: one in each segment, chosen by a keyed hash."""
    starts, lengths, _ = _layout(size)
    digest = hashlib.blake2b(feature, key=key, digest_size=2 * len(starts)).digest()
    picks = zip(starts, lengths, struct.unpack(f"<{len(starts)}H", digest), strict=True)
    plus, minus = array("H"), array("H")
    for start, length, r in picks:
        (plus if r & 1 else minus).append(start + (r >> 1) % length)
    return plus, minus


def _project(features: dict[bytes, float], key: bytes, size: int, keep: int) -> list[float]:
    """The normalized first ``keep`` coordinates of the weighted sum of the features' codes.

    Few features touch few coordinates, so they are summed in a dict; many are summed in a list. Both add the
    same numbers in the same order, so they give the same vector (a test holds them to it).
    """
    _, _, scales = _layout(size)
    if len(features) * _SPARSE_FACTOR < size:
        sums: dict[int, float] = {}
        get = sums.get
        for feature, w in features.items():
            plus, minus = _code(key, size, feature)
            for p in plus:
                sums[p] = get(p, 0.0) + w
            for p in minus:
                sums[p] = get(p, 0.0) - w
        scaled = {p: x * scales[p] for p, x in sums.items() if p < keep}
        norm = math.sqrt(math.fsum(x * x for x in scaled.values()))
        vector = [0.0] * keep
        if norm:
            for p, x in scaled.items():
                vector[p] = x / norm
    else:
        dense = [0.0] * size
        for feature, w in features.items():
            plus, minus = _code(key, size, feature)
            for p in plus:
                dense[p] += w
            for p in minus:
                dense[p] -= w
        vector = list(map(operator.mul, dense[:keep], scales[:keep]))
        norm = math.sqrt(math.fsum(x * x for x in vector))
        if norm:
            vector = [x / norm for x in vector]
    if not norm:  # every feature cancelled out in the kept coordinates: a fixed direction, still unit length
        vector = [0.0] * keep
        vector[0] = 1.0
    return vector
