"""Issue 4, point 6: mockai's strategies find real streaming bugs in a plausible client and shrink each to a
minimal stream (fixtures/examples/stream_client.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis.errors import NoSuchExample

from mockai import MockAI
from mockai.strategies import chunk_streams

EXAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "examples" / "stream_client.py"
_spec = importlib.util.spec_from_file_location("stream_client", EXAMPLE)
assert _spec is not None
assert _spec.loader is not None
stream_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stream_client)

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
SEARCH = settings(max_examples=300, database=None, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))


def expected(drawn: Any) -> tuple[str, list[dict[str, str]]]:
    message = drawn.completion["choices"][0]["message"]
    calls = [{"name": t["function"]["name"], "arguments": t["function"]["arguments"]}
             for t in message.get("tool_calls") or []]
    return message["content"] or "", calls


def client_is_wrong(answer: Any, drawn: Any) -> bool:
    mock = MockAI()  # a fresh mock per example
    mock.queue(drawn)
    return bool(answer(mock.client(), "Hi", [TOOL]) != expected(drawn))


def test_hypothesis_finds_the_lost_first_words_and_shrinks_them() -> None:
    drawn = find(chunk_streams(n=1, tools=[TOOL], kinds=["text"]),
                 lambda d: client_is_wrong(stream_client.stream_answer, d), settings=SEARCH)
    deltas = [c["choices"][0]["delta"] for c in drawn.chunks if c["choices"]]
    # Minimal: the whole text arrives in the role delta, and the stream's only other chunk is the finish.
    assert len(deltas) == 2, drawn
    assert deltas[0]["role"] == "assistant"
    assert deltas[0]["content"]
    assert deltas[1] == {}


def test_hypothesis_finds_the_overwritten_tool_arguments_and_shrinks_them() -> None:
    drawn = find(chunk_streams(n=1, tools=[TOOL], kinds=["tools"], finish_reasons=["tool_calls"]),
                 lambda d: client_is_wrong(stream_client.stream_answer, d)
                 and d.chunks[0]["choices"][0]["delta"].get("content") is not None,  # bug 2, not bug 1
                 settings=SEARCH)
    calls = drawn.completion["choices"][0]["message"]["tool_calls"]
    fragments: dict[int, list[str]] = {}
    for chunk in drawn.chunks:
        for t in (chunk["choices"][0]["delta"].get("tool_calls") or []) if chunk["choices"] else []:
            fragments.setdefault(t["index"], []).append((t.get("function") or {}).get("arguments") or "")
    # Each call's fragments rebuild its arguments, and the bug needs (and the shrunk stream has) a call whose
    # arguments arrive in two or more pieces. Shrinking is heuristic: the stream is small, and its arguments are
    # the smallest the schema allows, but it need not be the one smallest stream.
    assert {i: "".join(f) for i, f in fragments.items()} == {
        i: c["function"]["arguments"] for i, c in enumerate(calls)}
    assert any(len([f for f in pieces if f]) >= 2 for pieces in fragments.values()), drawn
    assert {c["function"]["arguments"] for c in calls} == {'{"query":"amber"}'}
    # (Bug 2 needs text before the calls: with none, content is null, not "". That text takes a chunk or two.)
    assert len(calls) <= 3, drawn
    assert len(drawn.chunks) <= 14, drawn


def test_the_fixed_client_survives_every_stream() -> None:
    with pytest.raises(NoSuchExample):
        find(chunk_streams(n=1, tools=[TOOL]), lambda d: client_is_wrong(stream_client.stream_answer_fixed, d),
             settings=settings(max_examples=60, database=None, deadline=None))


@settings(max_examples=30, deadline=None)
@given(chunk_streams(n=1, tools=[TOOL]))
def test_the_given_pattern_with_a_mock_built_per_example(drawn: Any) -> None:
    mock = MockAI()
    mock.queue(drawn)
    assert stream_client.stream_answer_fixed(mock.client(), "Hi", [TOOL]) == expected(drawn)
    mock.verify()
