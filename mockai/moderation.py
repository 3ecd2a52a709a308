"""Deterministic moderation results: quiet by default, flagged where a word list says so.

Each input gets a result shaped exactly like ``results[i]`` of ``POST /v1/moderations``: ``flagged``, every
category of the official schema in ``categories`` and ``category_scores``, and
``category_applied_input_types``.

>>> [result] = moderate("I want to kill them.")
>>> [c for c, flagged in result["categories"].items() if flagged]
['harassment', 'harassment/threatening', 'violence']
>>> moderate("What a lovely morning")[0]["flagged"]
False

**Scores.** A category that is not flagged scores between 1e-6 and 1e-2 (a power of ten and a mantissa drawn
from a hash of seed, text and category): the same for every model, on every machine, run to run. A flagged
category scores between 0.85 and 1. So ``categories[c]`` is exactly ``category_scores[c] >= 0.5``, and
``flagged`` is whether any category is.

**Word lists.** A category is flagged when the text contains one of its entries (:data:`DEFAULT_WORDS` unless
``words`` is given): a word or phrase, matched case-insensitively on whole words, with any run of spaces or
punctuation between the words of a phrase; a trailing ``*`` matches any ending (``"murder*"`` matches
"murdered"). A subcategory flags its parent too ("violence/graphic" flags "violence").

**Inputs.** A string gives one result; a list of strings one result each; a list of parts
(``{"type": "text", "text": …}``, ``{"type": "image_url", "image_url": {"url": …}}``) one result for all the
parts together, as the real API answers. An image is judged by the words of its URL (a ``data:`` URL has
none), so ``https://example.com/gore.png`` is flagged "violence/graphic" from the image.

**Applied input types.** The omni models score text in every category and images in six (self-harm and its
subcategories, sexual, violence, violence/graphic); a category lists the types of the input it was applied to
(``[]`` when the input has none of them). The legacy text models (``text-moderation-*``) take text only and
have no "illicit" categories: those are ``null`` in ``categories`` (the schema allows it), score 0 and apply
to ``[]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "hate",
    "hate/threatening",
    "harassment",
    "harassment/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)
TEXT_MODELS = frozenset({"text-moderation-latest", "text-moderation-stable"})
MODELS = ("omni-moderation-latest", "omni-moderation-2024-09-26", *sorted(TEXT_MODELS))
_TEXT_ONLY_ABSENT = frozenset({"illicit", "illicit/violent"})  # the text models have no such categories

DEFAULT_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "hate": ("subhuman", "inferior race"),
    "hate/threatening": ("exterminate them", "wipe them out"),
    "harassment": ("idiot*", "moron*", "loser*", "worthless"),
    "harassment/threatening": ("kill them", "kill you", "i will hurt you", "watch your back"),
    "illicit": ("shoplift*", "launder money", "counterfeit*"),
    "illicit/violent": ("build a bomb", "make a bomb", "untraceable gun"),
    "self-harm": ("suicid*", "self harm"),
    "self-harm/intent": ("kill myself", "end my life", "hurt myself"),
    "self-harm/instructions": ("how to cut myself", "ways to kill myself"),
    "sexual": ("porn*", "explicit sex", "nsfw"),
    "sexual/minors": (),
    "violence": ("kill them", "kill him", "kill her", "kill you", "murder*", "stab*", "massacre*"),
    "violence/graphic": ("gore", "gory", "dismember*", "disembowel*", "mutilat*"),
})

_FLAG_AT = 0.5
_WORD = re.compile(r"[^\W_]+")


class Moderator:
    """Moderates inputs with a word list under a seed.

    >>> mod = Moderator({"violence": ["dragon*"]}, seed=3)
    >>> [r["categories"]["violence"] for r in mod.moderate(["Dragons attack", "Kill them all"])]
    [True, False]

    ``words`` maps categories to entries and replaces :data:`DEFAULT_WORDS` (merge them yourself to extend it:
    ``{**DEFAULT_WORDS, "hate": (...)}``). An unknown category or a ``*`` anywhere but at the end of an entry is
    a ``ValueError``.
    """

    def __init__(self, words: Mapping[str, Iterable[str]] | None = None, *, seed: int = 0) -> None:
        self.seed = seed
        self._patterns: dict[str, re.Pattern[str]] = {}
        for category, entries in (DEFAULT_WORDS if words is None else words).items():
            if category not in CATEGORIES:
                raise ValueError(f"unknown moderation category {category!r}; the categories are {list(CATEGORIES)}")
            if isinstance(entries, str):
                raise ValueError(f"words[{category!r}] must be a list of words or phrases, not a string")
            alternatives = [_entry_pattern(category, entry) for entry in entries]
            if alternatives:
                self._patterns[category] = re.compile("|".join(alternatives), re.IGNORECASE)

    def moderate(self, input: str | Sequence[str] | Sequence[Mapping[str, Any]],
                 model: str = "omni-moderation-latest") -> list[dict[str, Any]]:
        """The ``results`` of a moderation request: one per string, or one for a list of parts.

        Raises ``ValueError`` for an input of another shape, or for an image given to a text model. An empty list
        gives no results (the real API rejects it: that is the route's check).
        """
        if isinstance(input, str):
            return [self.result([input], [], model)]
        items: list[str | Mapping[str, Any]] = list(input)
        strings = [item for item in items if isinstance(item, str)]
        if len(strings) == len(items):
            return [self.result([item], [], model) for item in strings]
        texts: list[str] = []
        images: list[str] = []
        for i, part in enumerate(items):
            kind, value = _part(part)
            if kind is None:
                raise ValueError(f"input[{i}] must be a string, a text part or an image_url part")
            (texts if kind == "text" else images).append(value)
        return [self.result(texts, images, model)]

    def result(self, texts: Sequence[str], images: Sequence[str], model: str) -> dict[str, Any]:
        """One result for some texts and image URLs taken together."""
        text_only = text_model(model)
        if text_only and images:
            raise ValueError(f"the model {model} does not support image inputs")
        text = "\n".join(texts)
        image_words = " ".join(_url_words(url) for url in images)
        categories: dict[str, bool | None] = {}
        scores: dict[str, float] = {}
        applied: dict[str, list[str]] = {}
        hits = self._hits(text, image_words)
        drawn = key(texts, images)
        for category in CATEGORIES:
            if text_only and category in _TEXT_ONLY_ABSENT:
                categories[category], scores[category], applied[category] = None, 0.0, []
                continue
            hit = category in hits
            scores[category] = score(self.seed, drawn, category, hit)
            categories[category] = scores[category] >= _FLAG_AT
            applied[category] = ["text"] * bool(texts)
            if images and category in IMAGE_CATEGORIES:
                applied[category].append("image")
        return {
            "flagged": any(categories.values()),
            "categories": categories,
            "category_scores": scores,
            "category_applied_input_types": applied,
        }

    def _hits(self, text: str, image_words: str) -> set[str]:
        hits = {c for c, pattern in self._patterns.items() if pattern.search(text)}
        hits |= {c for c, pattern in self._patterns.items() if c in IMAGE_CATEGORIES and pattern.search(image_words)}
        hits |= {c.split("/")[0] for c in hits}
        return hits


def moderate(input: str | Sequence[str] | Sequence[Mapping[str, Any]], *, model: str = "omni-moderation-latest",
             seed: int = 0, words: Mapping[str, Iterable[str]] | None = None) -> list[dict[str, Any]]:
    """The ``results`` of ``POST /v1/moderations`` for ``input``: ``Moderator(words, seed=seed).moderate(...)``.

    >>> r = moderate([{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "https://x/a.png"}}])
    >>> r[0]["category_applied_input_types"]["violence"], r[0]["category_applied_input_types"]["hate"]
    (['text', 'image'], ['text'])
    """
    return Moderator(words, seed=seed).moderate(input, model)


def text_model(model: str) -> bool:
    """Whether ``model`` is a legacy text moderation model (text only, no "illicit" categories).

    >>> text_model("text-moderation-stable"), text_model("omni-moderation-latest")
    (True, False)
    """
    return model in TEXT_MODELS or model.startswith("text-moderation")


def reply_model(model: str) -> str:
    """The model a reply names: the text models answer as the snapshot behind them, ``text-moderation-007``.

    >>> reply_model("text-moderation-latest"), reply_model("omni-moderation-latest")
    ('text-moderation-007', 'omni-moderation-latest')
    """
    return "text-moderation-007" if model in TEXT_MODELS else model


def _part(part: object) -> tuple[str | None, str]:
    """``("text", text)`` or ``("image_url", url)`` for a well-formed part, else ``(None, "")``."""
    if isinstance(part, Mapping):
        text, image = part.get("text"), part.get("image_url")
        if part.get("type") == "text" and isinstance(text, str):
            return "text", text
        if part.get("type") == "image_url" and isinstance(image, Mapping) and isinstance(image.get("url"), str):
            return "image_url", image["url"]
    return None, ""


def _entry_pattern(category: str, entry: str) -> str:
    if not isinstance(entry, str):
        raise ValueError(f"words[{category!r}] entries must be strings, got {entry!r}")
    star = entry.endswith("*")
    words = _WORD.findall(entry[:-1] if star else entry)
    if "*" in (entry[:-1] if star else entry) or not words:
        raise ValueError(f"words[{category!r}]: {entry!r} must be words, with '*' only at the end")
    body = r"[\W_]+".join(map(re.escape, words))
    return r"(?<![^\W_])" + body + (r"[^\W_]*" if star else r"(?![^\W_])")


def key(texts: Sequence[str], images: Sequence[str]) -> str:
    """What an input's scores are drawn from: its texts and the words of its image URLs."""
    return "\n".join(texts) + "\x00" + " ".join(_url_words(url) for url in images)


def _url_words(url: str) -> str:
    return "" if url.startswith("data:") else " ".join(_WORD.findall(url))


def score(seed: int, text: str, category: str, hit: bool) -> float:
    """A category's score for ``text`` (the texts and image words of an input): between 0.85 and 1 for a hit,
    between 1e-6 and 1e-2 otherwise, from a hash of seed, text and category.

    >>> score(0, "hello", "violence", True) >= 0.85, score(0, "hello", "violence", False) < 0.01
    (True, True)
    """
    # Decimal strings parse the same everywhere; ``10 ** x`` would lean on the platform's libm.
    digest = hashlib.sha256(b"moderation|%d|%s|%s" % (seed, category.encode(), _utf8(text))).digest()
    n = int.from_bytes(digest[:8], "big")
    if hit:
        return float(f"0.{8500 + n % 1500:04d}{n // 1500 % 10**6:06d}")
    mantissa = 1000 + n % 9000
    return float(f"{mantissa // 1000}.{mantissa % 1000:03d}e-{3 + n // 9000 % 4}")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # JSON may carry a lone surrogate; it must not crash a hash
