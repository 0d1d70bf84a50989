"""One retry policy for every loop that waits out a failure.

The RPC client (a request that failed transiently), the indexer's database
outage loop and ``orbitpay index --once`` all wait the same way:

- **Capped exponential backoff with full jitter.** The ``n``-th retry
  (``n`` counting from 0) sleeps ``uniform(0, min(max_delay, base_delay * 2**n))``.
  Full jitter rather than "equal jitter" (``ceiling/2 + uniform(0, ceiling/2)``)
  spreads clients that failed together over the whole window, so they do not
  come back in lockstep; the expected wait is half the ceiling.
- **``Retry-After`` is a floor.** A server that says when to come back
  (HTTP 429/503, seconds or an HTTP date) is not asked earlier; its value is
  capped at ``max_retry_after`` so a broken header cannot park the indexer.
- **Bounded by attempts and/or a deadline.** ``max_retries=None`` retries
  forever (the long-running indexer); ``deadline`` gives up once the next
  sleep would end past it. Giving up raises :class:`GaveUp`.
- **Injectable time.** Sleeping, the monotonic clock, the wall clock (for
  HTTP dates) and the random source are parameters, so tests run without real
  sleeps and with exact expectations.

Two shapes cover the callers: :func:`retrying` retries one call, and
:class:`Retries` counts the consecutive failures of a loop that owns its own
control flow (it resets on success and sleeps on a stop-aware wait).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

__all__ = [
    "Attempt",
    "Backoff",
    "Clock",
    "GaveUp",
    "Retries",
    "Sleep",
    "Transient",
    "parse_retry_after",
    "retrying",
]

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
"""``await sleep(seconds)``; :func:`asyncio.sleep` unless a test or a stop-aware wait is given."""

Clock = Callable[[], float]
"""Monotonic seconds (deadlines only); :func:`time.monotonic` by default."""

MAX_RETRY_AFTER_SECONDS = 60.0

# Doubling beyond this many retries cannot change a capped ceiling; it only risks
# an OverflowError in ``2.0 ** n`` for loops that retry forever.
_MAX_EXPONENT = 1000

_RANDOM = random.Random()


class Transient(Exception):
    """A failure worth retrying, with the server's ``Retry-After`` (seconds) when it sent one."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class GaveUp(Exception):
    """The policy's attempts or deadline are used up; ``error`` is the last failure."""

    def __init__(self, attempts: int, error: BaseException | None) -> None:
        if error is None:
            reason = "failed"
        else:
            reason = str(error) or type(error).__name__
        super().__init__(f"{reason} (gave up after {attempts} attempts)")
        self.attempts = attempts
        self.error = error


@dataclass(frozen=True, slots=True)
class Attempt:
    """A failed attempt that will be retried: what to log or count before sleeping."""

    number: int  # 1 for the first attempt
    delay: float  # seconds until the next attempt
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter, bounded by retries and/or a deadline."""

    max_retries: int | None = 8
    base_delay: float = 0.1
    max_delay: float = 10.0
    deadline: float | None = None
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS

    def ceiling(self, retry: int) -> float:
        """The longest jittered sleep before retry number ``retry`` (from 0)."""
        return min(self.max_delay, self.base_delay * 2.0 ** min(max(retry, 0), _MAX_EXPONENT))

    def delay(
        self, retry: int, retry_after: float | None = None, *, rng: random.Random | None = None
    ) -> float:
        """Full jitter: ``uniform(0, ceiling(retry))``; a (capped) ``Retry-After`` is a floor."""
        wait = (rng or _RANDOM).uniform(0.0, self.ceiling(retry))
        if retry_after is not None:
            wait = max(wait, min(max(0.0, retry_after), self.max_retry_after))
        return wait


class Retries:
    """The consecutive failures of one loop, and how long to wait after each.

    :meth:`failed` counts a failure and returns the sleep before the next
    attempt, or raises :class:`GaveUp` when the policy is spent;
    :meth:`succeeded` starts a new streak (attempt count and deadline).
    """

    def __init__(
        self, policy: Backoff, *, clock: Clock = time.monotonic, rng: random.Random | None = None
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng
        self.failures = 0
        self._started = clock()

    def failed(self, error: BaseException | None = None, retry_after: float | None = None) -> float:
        """Count a failure; the seconds to sleep before the next attempt.

        ``retry_after`` defaults to the one a :class:`Transient` ``error``
        carries. Raises :class:`GaveUp` when the retries are used up or the
        sleep would end past the deadline.
        """
        if retry_after is None and isinstance(error, Transient):
            retry_after = error.retry_after
        retry = self.failures
        self.failures += 1
        limit = self.policy.max_retries
        if limit is not None and retry >= limit:
            raise GaveUp(self.failures, error)
        wait = self.policy.delay(retry, retry_after, rng=self._rng)
        deadline = self.policy.deadline
        if deadline is not None and self._clock() - self._started + wait > deadline:
            raise GaveUp(self.failures, error)
        return wait

    def succeeded(self) -> None:
        """The loop got through: the next failure starts from the base delay again."""
        self.failures = 0
        self._started = self._clock()


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    policy: Backoff,
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool],
    on_retry: Callable[[Attempt], None] | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """``await call()`` until it succeeds, retrying the failures ``retry_on`` accepts.

    Other exceptions propagate at once. When the policy is spent, :class:`GaveUp`
    is raised with the last failure as ``error`` (and as ``__cause__``).
    ``on_retry`` runs before each sleep (metrics, logs).
    """
    retries = Retries(policy, clock=clock, rng=rng)
    while True:
        try:
            return await call()
        except Exception as exc:
            accepted = isinstance(exc, retry_on) if isinstance(retry_on, tuple) else retry_on(exc)
            if not accepted:
                raise
            try:
                wait = retries.failed(exc)
            except GaveUp as spent:
                raise spent from exc
            if on_retry is not None:
                on_retry(Attempt(retries.failures, wait, exc))
        await sleep(wait)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, *, now: Callable[[], datetime] = _utcnow) -> float | None:
    """An HTTP ``Retry-After`` header in seconds from ``now``: delta-seconds or an HTTP date.

    ``None`` for an absent or unparseable header; never negative (a date in
    the past means "now").
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())
