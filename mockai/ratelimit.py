"""Rate limits: a per-API-key limiter on requests and tokens per minute, like the real API's.

Each API key has two buckets that refill continuously: ``rpm`` requests and ``tpm`` tokens per minute (a full
bucket holds one minute's worth). A chat request costs one request and its prompt tokens plus ``max_tokens`` /
``max_completion_tokens`` (OpenAI's estimate, taken before the model runs); when it sets no limit, the tokens of
the reply are charged once it is made. A request the buckets cannot pay for gets a 429 ``rate_limit_exceeded``
(error ``type`` ``requests`` or ``tokens``) with ``retry-after`` / ``retry-after-ms`` saying exactly when it would
pass; one that could never pass (more tokens than ``tpm``) gets a 429 saying it is too large.

Every answer to a chat request carries ``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests``,
``x-ratelimit-reset-requests`` (time until the bucket is full again, e.g. ``120ms``, ``6m0s``) and the same for
``-tokens``.

Time is the engine's clock (``Config.clock``): a frozen clock (a number, ``--freeze-time``) never refills, so a
run is exact and repeatable; a :class:`Clock` refills only when the test advances it. Without a clock the
limiter uses ``time.monotonic()``.

>>> from mockai import MockAI
>>> clock = Clock()
>>> mock = MockAI(rpm=2, clock=clock)
>>> client = mock.client(max_retries=0)
>>> for _ in range(2):
...     _ = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
>>> mock.calls.last.response.headers["x-ratelimit-remaining-requests"]
'0'
>>> clock.advance(30)  # half a minute refills one request
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import APIError
from .faults import duration, rate_limit_error

if TYPE_CHECKING:
    from .config import Config
    from .core import Core, Exchange
    from .http import HTTPResponse

R = TypeVar("R")
Pair = tuple["Bucket | None", "Bucket | None"]  # an API key's request and token buckets


class Buckets(Protocol):
    """Where the buckets live when several processes share them (a :class:`mockai.shared.Backend`)."""

    def transact(self, key: str, update: Callable[[Any | None], tuple[Any | None, R]]) -> R: ...

    def clear(self, *names: str) -> None: ...


class Clock:
    """A clock that moves only when told to: pass it as ``MockAI(clock=...)`` / ``Config(clock=...)``.

    >>> clock = Clock(1_700_000_000)
    >>> clock.advance(1.5)
    >>> clock()
    1700000001.5
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.time = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        with self._lock:
            self.time += seconds


def seconds(config: Config) -> float:
    """The engine's time in seconds: the configured clock, or ``time.monotonic()``."""
    clock = config.clock
    if clock is None:
        return time.monotonic()
    return float(clock()) if callable(clock) else float(clock)


@dataclass
class Bucket:
    """``capacity`` units that refill at ``capacity`` per minute."""

    capacity: int
    level: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(float(self.capacity), self.level + (now - self.updated) * self.capacity / 60.0)
        self.updated = max(self.updated, now)
        self.level = round(self.level, 9)  # so that refilling in steps adds up exactly

    def wait(self, need: float) -> float:
        """Seconds until ``need`` units are available."""
        return max(0.0, (need - self.level) * 60.0 / self.capacity)

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level + 1e-9))

    @property
    def reset(self) -> float:
        """Seconds until the bucket is full again."""
        return max(0.0, (self.capacity - self.level) * 60.0 / self.capacity)


def api_key(ex: Exchange) -> str:
    headers = ex.http.headers
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("api-key", "")


class RateLimiter:
    """Per-API-key request and token buckets; installed on every engine as ``engine.rate_limiter``."""

    name = "ratelimit"

    def __init__(self, engine: Core, rpm: int | None, tpm: int | None) -> None:
        for label, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{label} must be a whole number of at least 1")
        self.engine = engine
        self.rpm, self.tpm = rpm, tpm
        self._keys: dict[str, tuple[Bucket | None, Bucket | None]] = {}
        self._lock = threading.Lock()
        # Set by mockai.shared: the buckets of every worker and replica, each request one atomic update of them.
        self.shared: Buckets | None = None

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def reset(self) -> None:
        with self._lock:
            self._keys.clear()
        if self.shared is not None:
            self.shared.clear("bucket:")

    def _buckets(self, key: str, now: float) -> tuple[Bucket | None, Bucket | None]:
        pair = self._keys.get(key)
        if pair is None:
            pair = self._new(now)
            self._keys[key] = pair
        for bucket in pair:
            if bucket is not None:
                bucket.refill(now)
        return pair

    def _new(self, now: float) -> Pair:
        return (Bucket(self.rpm, float(self.rpm), now) if self.rpm else None,
                Bucket(self.tpm, float(self.tpm), now) if self.tpm else None)

    def _with(self, key: str, use: Callable[[Pair], R]) -> R:
        """``use(buckets)`` on ``key``'s buckets, refilled to now, atomically: under the lock in one process, in
        one transaction of the shared state otherwise (where time is the wall clock, the same in every process)."""
        if self.shared is None:
            with self._lock:
                return use(self._buckets(key, seconds(self.engine.config)))
        clock = self.engine.config.clock
        now = time.time() if clock is None else seconds(self.engine.config)

        def update(saved: Any | None) -> tuple[Any, R]:
            pair = self._new(now)
            for bucket, state in zip(pair, saved or (None, None), strict=True):
                if bucket is not None and state is not None:
                    bucket.level, bucket.updated = state
                if bucket is not None:
                    bucket.refill(now)
            result = use(pair)
            return [None if b is None else [b.level, b.updated] for b in pair], result

        return self.shared.transact("bucket:" + hashlib.sha256(key.encode()).hexdigest()[:32], update)

    @staticmethod
    def estimate(ex: Exchange) -> int:
        """Tokens charged when a request is admitted: its prompt plus its completion limit."""
        return ex.prompt_tokens + (ex.prompt.token_limit or 0)

    # hooks -------------------------------------------------------------------------------------------------

    def __call__(self, ex: Exchange) -> HTTPResponse | None:
        """Admit the request, or answer 429."""
        if not self.active:
            return None
        model = ex.prompt.model
        cost = self.estimate(ex) if self.tpm else 0

        def admit(pair: Pair) -> None:
            requests, tokens = pair
            if tokens is not None and cost > tokens.capacity:
                raise APIError(429, f"Request too large for {model} in organization org-mockai on tokens per min "
                                    f"(TPM): Limit {tokens.capacity}, Requested {cost}. The input or output tokens "
                                    "must be reduced in order to run successfully. Visit "
                                    "https://platform.openai.com/account/rate-limits to learn more.",
                               type="tokens", code="rate_limit_exceeded", headers=self._headers(requests, tokens))
            # Every bucket that is short: the request passes once the last of them has refilled enough.
            short: list[tuple[float, str, Bucket, float]] = []
            if requests is not None and requests.level < 1 - 1e-9:
                short.append((requests.wait(1), "requests", requests, 1))
            if tokens is not None and tokens.level < cost - 1e-9:
                short.append((tokens.wait(cost), "tokens", tokens, cost))
            if short:
                wait, kind, bucket, need = max(short, key=lambda item: item[0])
                headers = self._headers(requests, tokens)
                raise rate_limit_error(model, kind=kind, limit=bucket.capacity,
                                       used=bucket.capacity - bucket.remaining, requested=need, wait=wait,
                                       headers=headers)
            if requests is not None:
                requests.level -= 1
            if tokens is not None:
                tokens.level -= cost

        self._with(api_key(ex), admit)
        return None

    def finish(self, ex: Exchange, response: HTTPResponse) -> HTTPResponse:
        """Charge a reply's tokens when the request set no limit, and add the ``x-ratelimit-*`` headers."""
        if not self.active:
            return response

        def charge(pair: Pair) -> dict[str, str]:
            requests, tokens = pair
            reply = ex.call.reply
            if (tokens is not None and reply is not None and ex.call.responder != self.name
                    and ex.prompt.token_limit is None and 200 <= response.status < 300):
                tokens.level -= sum(c.completion_tokens() for c in reply.choices)
            return self._headers(requests, tokens)

        headers = self._with(api_key(ex), charge)
        response.headers.update({k: v for k, v in headers.items() if k not in response.headers})
        return response

    def headers(self, ex: Exchange) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers for this request's API key, as they stand."""
        return self._with(api_key(ex), lambda pair: self._headers(*pair))

    @staticmethod
    def _headers(requests: Bucket | None, tokens: Bucket | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for label, bucket in (("requests", requests), ("tokens", tokens)):
            if bucket is not None:
                out[f"x-ratelimit-limit-{label}"] = str(bucket.capacity)
                out[f"x-ratelimit-remaining-{label}"] = str(bucket.remaining)
                out[f"x-ratelimit-reset-{label}"] = duration(bucket.reset)
        return out


def install(engine: Core) -> RateLimiter:
    """Add the limiter for ``engine.config.rpm`` / ``tpm`` (inactive when neither is set)."""
    limiter = RateLimiter(engine, engine.config.rpm, engine.config.tpm)
    engine.interceptors.append(limiter)
    engine.finishers.append(limiter.finish)
    engine.on_reset.append(limiter.reset)
    return limiter
