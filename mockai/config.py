"""The engine's configuration: everything that shapes its answers, JSON-serializable so that every worker of
``mockai serve --workers N`` builds the same engine.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .models import DEFAULT_MODELS

MiB = 1024 * 1024
SERVE_JOURNAL_SIZE = 1000  # calls `mockai serve` keeps in its journal (and a shared state's journal) by default
SERVE_JOURNAL_BYTES = 8 * MiB  # bytes of them


@dataclass
class Config:
    """Everything that shapes the engine's answers.

    >>> Config(seed=1, models=["gpt-4o-mini"], strict_models=True).strict_models
    True
    """

    seed: int = 0
    api_key: str | None = None
    auth: bool = True
    models: Sequence[str] = DEFAULT_MODELS
    strict_models: bool = False
    max_body: int = 16 * MiB
    clock: Callable[[], float] | float | None = None
    locale: str = "en_US"
    # Mixed into ids only: set per worker process when several serve one port, so their ids never collide.
    instance: str = ""
    # Calls the journal keeps (the newest); None keeps all. `mockai serve` keeps 1,000 so a long load test does
    # not grow without bound.
    journal_size: int | None = None
    # Bytes the journal may hold (an estimate: request bodies, parsed requests, replies); the newest call is always
    # kept. None: no bound. `mockai serve` keeps 8 MiB: a count alone lets a thousand 1 MB prompts hold 2 GB.
    journal_bytes: int | None = None
    # Unscripted requests fail (400, listing why each rule missed) instead of reaching the generator.
    strict: bool = False
    # The control API under /_mockai/: None means on for loopback servers and in-process, off otherwise.
    control: bool | None = None
    control_token: str | None = None
    # Who answers unscripted requests: "default" (the generator) or "fuzz" (mockai.fuzz: drawn shapes), and for
    # fuzz the share of replies whose bytes are fragmented on the socket. JSON-serializable, for workers.
    responder: str = "default"
    fuzz_fragments: float = 0.25
    # Faults, latency and rate limits (see mockai.faults, mockai.latency, mockai.ratelimit); JSON-serializable.
    faults: dict[str, float] | str | None = None  # a seeded random schedule: {"429": 0.05, "reset": 0.01}
    fault_header: bool = False  # honour the X-Mockai-Fault request header
    latency: str | dict[str, float] | None = None  # "none", "realistic", or {"ttft":…, "per_token":…, "jitter":…}
    rpm: int | None = None  # requests per minute per API key
    tpm: int | None = None  # tokens per minute per API key
    # Cassettes (mockai.cassettes): a file to replay from / record to, and how. JSON-serializable, so workers of
    # `mockai serve --workers N` get them too; ``match_on`` and ``scrub`` may also be objects in-process.
    cassette: str | None = None
    record_mode: str = "none"  # none | once | new_episodes | all
    upstream: str | None = None  # where recording proxies to (default https://api.openai.com/v1)
    match_on: Any = None
    scrub: Any = None
    replay_speed: float | None = 1.0  # recorded timing divided by this (socket door); 0 or None: instant
    replay_elapsed: bool = False  # non-stream replays also wait their recorded elapsed time (socket door)
    allow_playback_repeats: bool = False
    cassette_run: str | None = None  # record mode all: one id for every worker of a run (see Cassette.run)
    # One state for several processes (mockai.shared): "sqlite:///PATH" or "redis://HOST:PORT/DB"; None keeps the
    # state in this process's memory.
    state: str | None = None

    def __post_init__(self) -> None:
        # Mistakes fail where they are written, not as a 500 at the first request.
        self.models = strings("models", self.models, "a model name")
        given: object = self.seed
        if isinstance(given, float) and given.is_integer():  # (seed=1.0 worked before seeds were checked)
            self.seed = int(given)
        if isinstance(self.seed, bool) or not hasattr(type(self.seed), "__index__"):  # (numpy's ints are ints)
            digits = isinstance(self.seed, str) and self.seed.strip().isdigit()
            hint = f": write seed={str(self.seed).strip()}" if digits else ""
            raise TypeError(f"seed must be an int, not {_shown(self.seed)}{hint}")
        self.seed = operator.index(self.seed)
        clock = self.clock
        if clock is not None and not callable(clock) and (not isinstance(clock, (int, float))
                                                          or isinstance(clock, bool)):
            raise TypeError(f"clock must be a Unix time in seconds (clock=1_700_000_000), a callable returning one "
                            f"(clock=mockai.Clock(), or time.time), or None for the real time; not {_shown(clock)}")

    def now(self) -> int:
        if self.clock is None:
            return int(time.time())
        if callable(self.clock):
            return int(self.clock())
        return int(self.clock)


def strings(option: str, value: str | Sequence[str], what: str) -> list[str]:
    """``value`` as a list of strings: a single string is a list of one (not its characters); anything else but
    strings is a :class:`TypeError` naming ``option``.

    >>> strings("models", "gpt-4o", "a model name"), strings("models", ("a", "b"), "a model name")
    (['gpt-4o'], ['a', 'b'])
    """
    if isinstance(value, str):
        return [value]
    items = list(value) if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise TypeError(f"{option} must be {what} or a list of them, not {_shown(value)}")
    return items


def _shown(value: object) -> str:
    """``value`` and its type, for an error message: ``'42' (str)``."""
    return f"{value!r} ({type(value).__name__})"
