"""The value lists of chat completions requests: which strings each enum-valued parameter takes.

Each list is the union of OpenAI's published schema and the ``openai`` SDK's ``Literal`` types (the SDK is
generated from a newer schema than the published one now and then: ``detail: "original"``). The wire models
(:mod:`mockai.wire`) take their types from here, and ``tests/test_enums.py`` finds every enum the wire models
validate and compares it with the installed SDK and the schema, so a value the API gains fails a test here
instead of a user's call.

Two of them are **open**: ``reasoning_effort`` and ``service_tier`` accept any non-empty string. The real API
rejects an unknown value for them too, but it gains new values several times a year (``reasoning_effort``
went from ``low``/``medium``/``high`` to ``minimal``, ``none``, ``xhigh`` and ``max`` in about a year;
``service_tier`` gained ``flex``, ``scale``, ``priority`` and ``fast``), a client on a newer SDK sends them the
day they ship, and a false 400 breaks a working client while a misspelt value is already caught by the SDK's
types. Every other list has stayed put for years, so mockai rejects an unknown value there as the real API
does (``Invalid value: 'ogg'. Supported values are: 'wav' and 'mp3'.``).

>>> "max" in REASONING_EFFORTS and "fast" in SERVICE_TIERS
True
>>> served_tier("fast"), served_tier(None), served_tier("a-tier-from-next-year")
('priority', 'default', 'default')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ServiceTier = Literal["auto", "default", "flex", "scale", "priority", "fast"]
Verbosity = Literal["low", "medium", "high"]
Modality = Literal["text", "audio"]
ImageDetail = Literal["auto", "low", "high", "original"]
InputAudioFormat = Literal["wav", "mp3"]
ToolChoiceMode = Literal["none", "auto", "required"]
AllowedToolsMode = Literal["auto", "required"]
FunctionCallMode = Literal["none", "auto"]

REASONING_EFFORTS: tuple[str, ...] = get_args(ReasoningEffort)
SERVICE_TIERS: tuple[str, ...] = get_args(ServiceTier)
VERBOSITIES: tuple[str, ...] = get_args(Verbosity)
MODALITIES: tuple[str, ...] = get_args(Modality)
IMAGE_DETAILS: tuple[str, ...] = get_args(ImageDetail)
INPUT_AUDIO_FORMATS: tuple[str, ...] = get_args(InputAudioFormat)


def supported(values: tuple[str, ...] | list[str]) -> str:
    """The real API's list of supported values: ``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'``.

    >>> supported(["wav", "mp3"])
    "'wav' and 'mp3'"
    """
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


@dataclass(frozen=True)
class OpenEnum:
    """A string parameter whose known ``values`` the API keeps adding to: any non-empty string is accepted.

    Used as ``Annotated[str, OpenEnum(REASONING_EFFORTS)]``; an empty string gets the real API's message for
    an unknown value, and the known values stay visible to the tests that compare them with the SDK.

    >>> from pydantic import TypeAdapter
    >>> from typing import Annotated
    >>> TypeAdapter(Annotated[str, OpenEnum(("low", "high"))]).validate_python("ultra")
    'ultra'
    """

    values: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        check: Callable[[str], str] = self._check
        return core_schema.no_info_after_validator_function(check, handler(source))

    def _check(self, value: str) -> str:
        if not value:
            raise PydanticCustomError("literal_error", "Input should be one of {expected}",
                                      {"expected": " or ".join(f"'{v}'" for v in self.values)})
        return value


def served_tier(requested: str | None) -> str:
    """The ``service_tier`` a reply reports for the one requested: ``auto`` (or none) is served by
    ``default``; ``fast`` is how a request opts into ``priority`` processing, which the reply names; a tier
    mockai does not know yet is reported as ``default``, a value every client parses."""
    if requested in (None, "auto") or requested not in SERVICE_TIERS:
        return "default"
    return "priority" if requested == "fast" else requested
