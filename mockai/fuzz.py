"""The fuzz responder: every unscripted request answered with a reply, and a stream split, drawn for it.

``mockai serve --responder fuzz --seed N``, ``MockAI(responder="fuzz")`` or
``@pytest.mark.mockai(responder="fuzz")``. It takes the default generator's place at the end of the chain
(scripted rules and cassettes still answer first) and draws from the very building blocks the Hypothesis
strategies use. Chat completions (:mod:`mockai.shapes`): text with ZWJ emoji and combining marks, tool calls,
refusals, JSON for the schema asked for, finishes on ``length`` and ``content_filter``, role-only and empty
deltas, content and arguments split anywhere, interleaved choices — within what the request constrains (tools
offered and ``tool_choice``, ``n``, ``response_format``, ``max_tokens``, ``stop``, ``logprobs``,
``include_usage``). The Responses API (:mod:`mockai.response_shapes`): a reasoning item with summary parts
before the text (reasoning models), one or two messages with ``url_citation`` annotations (and their
``annotation.added`` events), a refusal part, a message then function and custom tool calls, ``incomplete``
finishes; every text (summaries, arguments and tool input too) in many tiny deltas: one code point each, cut
inside ZWJ emoji, flags and combining sequences, or anywhere — within ``tools`` and ``tool_choice``
(``allowed_tools`` too), ``parallel_tool_calls``, ``text.format``, ``max_output_tokens``, ``reasoning`` and the
logprobs ``include``. Each stream is written from its finished response by the server's renderer (its deltas
cut by :func:`mockai.responses.render.resplit`), so it reassembles to it.

Deterministic: the draws come from a :class:`~mockai.shapes.SeededSource` over ``random.Random`` seeded from
(seed, canonical request), not from Hypothesis (whose ``.example()`` is not reproducible and whose engine is
built for search, not for serving). So the same seed and request give the same bytes in any process, a stream
reassembles to the non-stream reply of the same request, and different requests explore different shapes.

Over the socket, a share of replies (``fuzz_fragments``, 0.25 by default; ``--fuzz-fragments P``) is also
fragmented on the wire, drawn per request: an event split over several writes and, when the body holds any, a
multi-byte UTF-8 character split between two writes; latency and stall pauses still hold, before the first
fragment of the event they delay. The in-process door has no wire and ignores it.

>>> from mockai import MockAI
>>> mock = MockAI(responder="fuzz", seed=3)
>>> reply = mock.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
>>> reply.choices[0].finish_reason in ("stop", "length", "content_filter")
True
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from typing import TYPE_CHECKING

from .errors import APIError
from .generate import Generator, rng_for, schema_budget
from .prompt import Prompt
from .reply import Reply
from .response_shapes import SeededSplit, draw_drafted, space_of
from .schema import RandomSource, SchemaError
from .shapes import SeededSource, Source, draw_reply, space_for

if TYPE_CHECKING:
    from .core import Core, Exchange
    from .http import HTTPResponse

RESPONDERS = ("default", "fuzz")
_CONTINUATION = re.compile(rb"[\x80-\xbf]")
MAX_FRAGMENTS = 8


class Fuzzer(Generator):
    """Draws each reply from :mod:`mockai.shapes` with a source seeded by (seed, canonical request)."""

    name = "fuzz"

    def generate(self, prompt: Prompt, *, key: bytes, seed: int) -> Reply:
        self.check_schemas(prompt, key=key, seed=seed)
        src = SeededSource(rng_for(key, seed, "fuzz"))
        try:
            if prompt.api == "responses":
                split = SeededSplit(b"%d|%s" % (seed, key))
                return draw_drafted(src, space_of(prompt), split)
            return draw_reply(src, space_for(prompt))
        except (SchemaError, LookupError, TypeError, ValueError, RecursionError) as exc:
            reason = "its $ref recursion has no end" if isinstance(exc, RecursionError) else str(exc) or repr(exc)
            raise APIError(400, f"Invalid schema: {reason}.", code="invalid_json_schema") from None

    def check_schemas(self, prompt: Prompt, *, key: bytes, seed: int) -> None:
        """Make a value for every schema a reply to ``prompt`` must follow (the response format's, each callable
        strict function's parameters), whatever this reply turns out to be: a schema no value satisfies is the
        default generator's 400 (its message, ``param`` and ``code``) on every request, not only on those that
        happen to draw JSON or a call. A non-strict function's schema is checked, as the default does, when a
        reply calls it."""
        rng = rng_for(key, seed, "fuzz-schemas")  # its own draws: the reply's stay as they were
        budget = schema_budget(prompt)
        fmt = prompt.format
        if fmt is not None and fmt.kind == "json_schema":
            self._from_schema(fmt.schema or {"type": "object"}, rng, fmt.strict, f"{fmt.param} '{fmt.name}'",
                              fmt.param, "invalid_json_schema", budget=budget)
        for tool in prompt.callable_tools():  # strict ones: a non-strict schema is only followed when called
            if not tool.custom and tool.strict:
                self._from_schema(tool.parameters or {"type": "object", "properties": {}}, rng, tool.strict,
                                  f"function '{tool.name}'", tool.param, "invalid_function_parameters",
                                  budget=budget)

    def _source(self, rng: random.Random) -> RandomSource:
        return SeededSource(rng)  # an empty enum reads as one, as every other schema error does


def fragment_sizes(src: Source, data: bytes) -> list[int]:
    """Write sizes (summing to ``len(data)``) that cut ``data`` at a few drawn places: inside an event, and
    (when there is one) inside a multi-byte UTF-8 character."""
    if len(data) < 2:
        return [len(data)]
    cuts = {src.integer(1, len(data) - 1)}
    inside = [m.start() for m in _CONTINUATION.finditer(data, 1)]
    if inside:
        cuts.add(src.choice(inside))  # before a continuation byte: the character arrives in two reads
    while len(cuts) < MAX_FRAGMENTS - 1 and src.boolean(0.5):
        cuts.add(src.integer(1, len(data) - 1))
    edges = [0, *sorted(cuts), len(data)]
    return [b - a for a, b in itertools.pairwise(edges)]


class WireFragmenter:
    """A finisher: fragments the bytes of a share of the fuzz responder's answers (socket door only)."""

    name = "fuzz-wire"

    def __init__(self, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"fuzz_fragments must be between 0 and 1, got {share!r}")
        self.share = share

    def __call__(self, ex: Exchange, response: HTTPResponse) -> HTTPResponse:
        from .http import Delivery

        if ex.call.responder != Fuzzer.name or response.status != 200 or not self.share:
            return response
        if response.delivery is not None and response.delivery.fragments:
            return response  # a fault already decided how these bytes travel
        src = SeededSource(rng_for(ex.key, ex.seed, "wire", ex.prompt.stream))
        if not src.boolean(self.share):
            return response
        sizes = fragment_sizes(src, response.content())
        response.delivery = dataclasses.replace(response.delivery or Delivery(), fragments=sizes)
        return response


def install(engine: Core) -> None:
    """Put the responder ``engine.config.responder`` names in place of the default generator."""
    name = engine.config.responder
    if name not in RESPONDERS:
        raise ValueError(f"unknown responder {name!r}; expected one of {', '.join(RESPONDERS)}")
    if name == "fuzz":
        engine.generator = Fuzzer(engine.config.locale)
        engine.finishers.append(WireFragmenter(engine.config.fuzz_fragments))
