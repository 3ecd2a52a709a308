"""Latency: how long replies take over the socket door, seeded so that runs repeat.

A profile has three numbers: ``ttft`` (seconds before the first byte: time to first token for a stream, and the
start of a JSON reply's wait), ``per_token`` (seconds between stream events, and per completion token added to a
JSON reply's wait) and ``jitter`` (each of those is multiplied by a factor drawn uniformly from
``[1 - jitter, 1 + jitter]``, from the seed and the call, so the same run has the same timing).

==============  =========  ===========  ========  ===================================================
profile         ttft       per_token    jitter    what it is like
==============  =========  ===========  ========  ===================================================
``none``        0          0            0         no delay at all (the default)
``realistic``   0.35 s     0.012 s      ±25%      gpt-4o-mini on a good day: ~80 tokens/s after ~350 ms
custom          any        any          0..1      ``ttft=0.2,per_token=0.02,jitter=0.1`` or a mapping
==============  =========  ===========  ========  ===================================================

A JSON reply waits ``ttft + completion_tokens × per_token`` before it is sent; an error waits ``ttft``.

The in-process door has no wire and no clock: latency (like a stall) cannot be observed through it, and replies
arrive at once. Use the socket door (:meth:`mockai.MockAI.serve`, ``mockai serve``) to test timing.

>>> Latency.parse("realistic")
Latency(ttft=0.35, per_token=0.012, jitter=0.25)
>>> Latency.parse("ttft=0.2,per_token=0.01")
Latency(ttft=0.2, per_token=0.01, jitter=0.0)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .http import Delivery

if TYPE_CHECKING:
    from .core import Core, Exchange
    from .http import HTTPResponse

MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Latency:
    """A latency profile; see the module docstring.

    >>> Latency(ttft=0.1, per_token=0.01).stream_timing(4, random.Random(0))
    (0.1, [0.01, 0.01, 0.01])
    """

    ttft: float = 0.0
    per_token: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ttft", "per_token"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
                raise ValueError(f"latency {name} must be a number of seconds between 0 and {MAX_SECONDS:g}")
        if not isinstance(self.jitter, (int, float)) or not 0 <= self.jitter <= 1:
            raise ValueError("latency jitter must be a fraction between 0 and 1")

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | Latency | None) -> Latency:
        """A profile name (``none``, ``realistic``), ``"ttft=0.2,per_token=0.01,jitter=0.1"``, or a mapping."""
        if spec is None:
            return PROFILES["none"]
        if isinstance(spec, Latency):
            return spec
        if isinstance(spec, str):
            name = spec.strip().lower()
            if name in PROFILES:
                return PROFILES[name]
            if "=" not in name:
                raise ValueError(f"unknown latency profile {spec!r}: expected {', '.join(PROFILES)}, or "
                                 "ttft=SECONDS,per_token=SECONDS,jitter=FRACTION")
            values: dict[str, Any] = {}
            for part in name.split(","):
                key, _, raw = part.partition("=")
                values[key.strip()] = raw.strip()
            spec = values
        if not isinstance(spec, Mapping):
            raise ValueError(f"a latency is a profile name or a mapping, not {type(spec).__name__}")
        unknown = set(spec) - {"ttft", "per_token", "jitter"}
        if unknown:
            raise ValueError(f"unknown latency field(s) {sorted(unknown)}: expected ttft, per_token, jitter")
        numbers: dict[str, float] = {}
        for key, raw in spec.items():
            try:
                numbers[key] = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"latency {key}: {raw!r} is not a number") from None
        return cls(**numbers)

    @property
    def off(self) -> bool:
        return not self.ttft and not self.per_token

    def _jitter(self, value: float, rng: random.Random) -> float:
        return value * (1 + self.jitter * (2 * rng.random() - 1)) if self.jitter and value else value

    def stream_timing(self, events: int, rng: random.Random) -> tuple[float, list[float]]:
        """``(delay before the first event, gaps before each later event)``."""
        return self._jitter(self.ttft, rng), [self._jitter(self.per_token, rng) for _ in range(max(0, events - 1))]

    def total(self, tokens: int, rng: random.Random) -> float:
        """A JSON reply's whole wait for ``tokens`` completion tokens."""
        return self._jitter(self.ttft, rng) + sum(self._jitter(self.per_token, rng) for _ in range(tokens))


PROFILES = {
    "none": Latency(),
    "realistic": Latency(ttft=0.35, per_token=0.012, jitter=0.25),
}


class LatencyFinisher:
    """Sets each answer's delivery delay (and a stream's gaps) from the profile; installed on every engine as
    ``engine.latency``. Set ``engine.latency.profile`` to change it while the engine runs."""

    def __init__(self, profile: Latency, seed: int) -> None:
        self.profile = profile
        self.seed = seed

    def __call__(self, ex: Exchange, response: HTTPResponse) -> HTTPResponse:
        profile = self.profile
        if profile.off:
            return response
        d = response.delivery or Delivery()
        if d.reset or d.hang is not None:
            return response
        salt = response.headers.get("x-request-id", "")  # unique per call for replies (it depends on the seed,
        # the request and how many times it was seen), so each call has its own jitter, the same on every run
        rng = random.Random(hashlib.sha256(b"latency|%d|%s" % (self.seed, salt.encode())).digest())
        if response.events is not None:
            delay, gaps = profile.stream_timing(len(response.events), rng)
            d = dataclasses.replace(d, delay=d.delay + delay, gaps=d.gaps if d.gaps is not None else gaps)
        else:
            reply = ex.call.reply if response.status == 200 else None
            tokens = sum(c.completion_tokens() for c in reply.choices) if reply is not None else 0
            d = dataclasses.replace(d, delay=d.delay + profile.total(tokens, rng))
        return dataclasses.replace(response, delivery=d)


def install(engine: Core) -> LatencyFinisher:
    """Add the latency finisher for ``engine.config.latency`` (a no-op profile when unset)."""
    finisher = LatencyFinisher(Latency.parse(engine.config.latency), engine.config.seed)
    engine.finishers.append(finisher)
    return finisher
