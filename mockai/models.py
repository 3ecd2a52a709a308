"""The model catalogue: what ``GET /v1/models`` lists, which snapshot an alias answers as, and what each model
family accepts.

One table, :data:`FAMILIES`, says for each family of models: its aliases and the dated snapshot each answers as,
whether it reasons (``reasoning_tokens`` in usage, counted within ``completion_tokens`` and within the token
limit), which parameters the real API refuses for it, which sampling parameters it takes only at their default,
whether it can speak (``modalities: ["text", "audio"]``), and its tokenizer. :mod:`mockai.capabilities` holds
requests to it. A model the table does not know (a fine-tune of an unknown base, a new release, a local model)
keeps mockai's lenient behaviour: every parameter is accepted and nothing is added to usage.

>>> snapshot("gpt-4o-mini")
'gpt-4o-mini-2024-07-18'
>>> family("o3-2025-04-16").name, family("o3").reasoning
('o3', True)
>>> family("my-local-model") is None
True
>>> model_object("gpt-4o-mini")["owned_by"]
'system'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

# Parameters the reasoning models refuse whatever their value, and sampling parameters they take only at 1.
_REASONING_REJECTS = ("max_tokens", "logprobs", "top_logprobs")
_DEFAULT_ONLY = ("temperature", "top_p")


@dataclass(frozen=True)
class Family:
    """A family of models that the real API treats alike.

    ``snapshots`` maps each alias to the dated snapshot it answers as. ``rejects`` are parameters the API refuses
    for these models whatever their value (``logprobs: false`` and ``null`` excepted: they ask for nothing);
    ``default_only`` are parameters it accepts only at their default, 1. ``audio``: the family speaks
    (``modalities`` may include ``"audio"``); ``audio_required``: it only answers when audio goes in or out.
    ``encoding`` is the tiktoken encoding of its tokenizer. ``default_effort`` is the ``reasoning_effort`` of a
    request that gives none; at ``"none"`` a reasoning model does not reason, and takes the sampling parameters
    (``temperature``, ``top_p``, ``logprobs``) again, as GPT-5.1 and later do.
    """

    name: str
    snapshots: dict[str, str]
    reasoning: bool = False
    rejects: tuple[str, ...] = ()
    default_only: tuple[str, ...] = ()
    audio: bool = False
    audio_required: bool = False
    encoding: str = "o200k_base"
    default_effort: str | None = None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.snapshots)


def _reasoning(name: str, snapshots: dict[str, str], *, stop: bool = False, effort: str = "medium") -> Family:
    rejects = _REASONING_REJECTS + (("stop",) if stop else ())
    return Family(name, snapshots, reasoning=True, rejects=rejects, default_only=_DEFAULT_ONLY,
                  default_effort=effort)


def _chat(name: str, snapshots: dict[str, str], *, encoding: str = "o200k_base", audio: bool = False) -> Family:
    # ``reasoning_effort`` is for reasoning models only.
    return Family(name, snapshots, rejects=("reasoning_effort",), audio=audio, audio_required=audio,
                  encoding=encoding)


FAMILIES: tuple[Family, ...] = (
    _chat("gpt-4o", {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18"}),
    _chat("gpt-4.1", {"gpt-4.1": "gpt-4.1-2025-04-14", "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
                      "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14"}),
    _chat("gpt-4", {"gpt-4-turbo": "gpt-4-turbo-2024-04-09", "gpt-4": "gpt-4-0613"}, encoding="cl100k_base"),
    _chat("gpt-3.5", {"gpt-3.5-turbo": "gpt-3.5-turbo-0125"}, encoding="cl100k_base"),
    _chat("gpt-4o-audio", {"gpt-4o-audio-preview": "gpt-4o-audio-preview-2025-06-03",
                           "gpt-4o-mini-audio-preview": "gpt-4o-mini-audio-preview-2024-12-17",
                           "gpt-audio": "gpt-audio-2025-08-28", "gpt-audio-mini": "gpt-audio-mini-2025-12-15"},
          audio=True),
    _reasoning("o1", {"o1": "o1-2024-12-17"}),
    _reasoning("o3-mini", {"o3-mini": "o3-mini-2025-01-31"}),
    _reasoning("o3", {"o3": "o3-2025-04-16", "o4-mini": "o4-mini-2025-04-16"}, stop=True),
    _reasoning("gpt-5", {"gpt-5": "gpt-5-2025-08-07", "gpt-5-mini": "gpt-5-mini-2025-08-07",
                         "gpt-5-nano": "gpt-5-nano-2025-08-07"}),
    _reasoning("gpt-5.1", {"gpt-5.1": "gpt-5.1-2025-11-13", "gpt-5.2": "gpt-5.2-2025-12-11"}, effort="none"),
)

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5.1",
    "gpt-5.2",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
    "gpt-4o-audio-preview",
    "gpt-4o-mini-audio-preview",
    "gpt-audio",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
)

# The real API answers an alias with the dated snapshot it points to.
SNAPSHOTS: dict[str, str] = {alias: snap for f in FAMILIES for alias, snap in f.snapshots.items()}
_BY_MODEL: dict[str, Family] = {m: f for f in FAMILIES for m in (*f.snapshots, *f.snapshots.values())}
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")

# Reasoning tokens a reply spends before it answers, by effort: bands that do not overlap, so more effort
# always reasons longer; where in its band a request falls is drawn from the request and the seed.
EFFORT_TOKENS: dict[str, tuple[int, int]] = {
    "minimal": (4, 15), "low": (16, 31), "medium": (32, 127), "high": (128, 383), "xhigh": (384, 767),
    "max": (768, 1535),
}

_CREATED = 1_700_000_000


def snapshot(model: str) -> str:
    return SNAPSHOTS.get(model, model)


def offered(model: str, models: Collection[str]) -> bool:
    """Whether ``model`` is one of ``models`` (``--strict-models``' list) or the dated snapshot one of them answers
    as: a key that may use ``gpt-4o`` may use the ``gpt-4o-2024-08-06`` its replies name.

    >>> offered("gpt-4o-2024-08-06", ["gpt-4o"]), offered("gpt-4o-2024-05-13", ["gpt-4o"])
    (True, False)
    """
    return model in models or any(SNAPSHOTS.get(m) == model for m in models)


def family(model: str) -> Family | None:
    """The family of ``model``: an alias, a dated snapshot of one, or a fine-tune of one (``ft:BASE:…``)."""
    hit = _BY_MODEL.get(model)
    if hit is not None:
        return hit
    if model.startswith("ft:"):
        return family(model.split(":")[1])
    base = _DATED.sub("", model)
    return _BY_MODEL.get(base) if base != model else None


def effort(model: str, requested: str | None) -> str | None:
    """The reasoning effort a request to ``model`` runs at (``None``: the model does not reason)."""
    fam = family(model)
    if fam is None or not fam.reasoning:
        return None
    return requested or fam.default_effort


def reasoning_tokens(model: str, requested: str | None, key: bytes, seed: int, index: int) -> int:
    """The reasoning tokens choice ``index`` spends: 0 for a model that does not reason (or at effort
    ``"none"``); otherwise drawn from the request (``key``) and the seed within the band of its effort, so the
    same request always reasons as long, and more effort always longer.

    >>> reasoning_tokens("o3", "high", b"k", 0, 0) > reasoning_tokens("o3", "low", b"k2", 0, 0)
    True
    >>> reasoning_tokens("gpt-4o", None, b"k", 0, 0), reasoning_tokens("gpt-5.1", None, b"k", 0, 0)
    (0, 0)
    """
    band = EFFORT_TOKENS.get(effort(model, requested) or "none")
    if band is None:
        return 0
    digest = hashlib.sha256(b"reasoning|%d|%s|%d" % (seed, key, index)).digest()
    lo, hi = band
    return lo + int.from_bytes(digest[:4], "big") % (hi - lo + 1)


def model_object(model: str) -> dict[str, Any]:
    """The ``model`` object the real API lists; ``created`` is fixed so listings are byte-stable."""
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "system"}
