"""Every enum mockai validates takes exactly the values the installed ``openai`` SDK's ``Literal`` types and the
official schema list (issue 9, item 1): a value the API gains fails here, not in a user's call.

The enums are found by walking mockai's wire models, the SDK's request types and the schema (see
``request_types``), so a new enum in any of them is compared without anyone listing it here.
"""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel
from request_types import SPEC_MISSING, load_spec, sdk_enums, spec_enums, wire_enums

from mockai import enums
from mockai.wire import ChatCompletionRequest

WIRE = wire_enums(ChatCompletionRequest)
SDK = sdk_enums()
SCHEMA = load_spec()
SPEC = spec_enums(SCHEMA) if SCHEMA is not None else {}


def test_the_walks_find_the_enums() -> None:
    found = {"reasoning_effort", "service_tier", "verbosity", "modalities[]", "tool_choice", "messages[].role",
             "messages[]<user>.content[].type", "messages[]<user>.content[]<input_audio>.input_audio.format",
             "messages[]<user>.content[]<image_url>.image_url.detail", "response_format.type", "tools[].type",
             "tool_choice<allowed_tools>.allowed_tools.mode", "function_call"}
    assert found <= set(WIRE)
    assert found <= set(SDK)
    if SCHEMA is not None:
        assert found <= set(SPEC)


@pytest.mark.parametrize("path", sorted(WIRE))
def test_every_value_the_sdk_can_send_is_accepted(path: str) -> None:
    assert path in SDK, f"mockai validates {path!r}, which the SDK's request types do not have"
    assert SDK[path] <= WIRE[path], f"{path}: the SDK sends {sorted(SDK[path] - WIRE[path])}, which mockai refuses"


@pytest.mark.parametrize("path", sorted(WIRE))
def test_every_enum_is_the_schema_and_the_sdk_together(path: str) -> None:
    if SCHEMA is None:
        pytest.skip(SPEC_MISSING)
    expected = SDK.get(path, set()) | SPEC.get(path, set())
    assert WIRE[path] == expected, (f"{path}: mockai takes {sorted(WIRE[path])}; the SDK lists "
                                    f"{sorted(SDK.get(path, set()))}, the schema {sorted(SPEC.get(path, set()))}")


def test_a_stale_list_is_caught() -> None:
    """The comparison fails on the lists mockai had before issue 9 (a check that cannot fail finds nothing)."""
    class Stale(BaseModel):
        reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
        service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None

    stale = wire_enums(Stale)
    assert SDK["reasoning_effort"] - stale["reasoning_effort"] == {"max"}
    assert SDK["service_tier"] - stale["service_tier"] == {"fast"}


def test_the_module_lists_are_the_wire_models_lists() -> None:
    assert set(enums.REASONING_EFFORTS) == WIRE["reasoning_effort"]
    assert set(enums.SERVICE_TIERS) == WIRE["service_tier"]
    assert set(enums.VERBOSITIES) == WIRE["verbosity"]
    assert set(enums.MODALITIES) == WIRE["modalities[]"]
    assert set(enums.IMAGE_DETAILS) == WIRE["messages[]<user>.content[]<image_url>.image_url.detail"]
    assert set(enums.INPUT_AUDIO_FORMATS) == WIRE["messages[]<user>.content[]<input_audio>.input_audio.format"]


@pytest.mark.parametrize(("values", "expected"), [
    (["low"], "'low'"), (["wav", "mp3"], "'wav' and 'mp3'"), (["low", "medium", "high"], "'low', 'medium', and 'high'"),
])
def test_supported_values_are_listed_as_the_real_api_lists_them(values: list[str], expected: str) -> None:
    assert enums.supported(values) == expected
