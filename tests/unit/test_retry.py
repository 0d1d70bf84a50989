"""The one retry helper: full-jitter bounds, Retry-After, attempts, deadlines, and its callers.

No test here sleeps for real: sleeping, the clock and the random source are injected.
"""

from __future__ import annotations

import email.utils
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitpay.observability.metrics import REGISTRY
from orbitpay.retry import (
    Attempt,
    Backoff,
    GaveUp,
    Retries,
    Transient,
    parse_retry_after,
    retrying,
)
from orbitpay.stellar.rpc import RpcClient, RpcError, RpcUnavailable


class Edge(random.Random):
    """A random source pinned to one end of every interval (0.0: low end, 1.0: high end)."""

    def __init__(self, where: float) -> None:
        super().__init__(0)
        self.where = where

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.where


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Fails with the given exceptions in turn, then returns ``"done"``; counts calls."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


# ── the delay ────────────────────────────────────────────────────────────────

policies = st.builds(
    Backoff,
    max_retries=st.none() | st.integers(0, 50),
    base_delay=st.floats(1e-4, 10.0),
    max_delay=st.floats(1e-3, 600.0),
    max_retry_after=st.floats(0.0, 600.0),
)


@given(policies, st.integers(0, 5000), st.integers(0, 2**32))
def test_delay_is_full_jitter_within_the_capped_ceiling(
    policy: Backoff, retry: int, seed: int
) -> None:
    ceiling = policy.ceiling(retry)
    assert ceiling == min(policy.max_delay, policy.base_delay * 2.0 ** min(retry, 1000))
    assert 0.0 <= policy.delay(retry, rng=random.Random(seed)) <= ceiling
    # the whole window is used: both ends are reachable (equal jitter never goes below ceiling/2)
    assert policy.delay(retry, rng=Edge(0.0)) == 0.0
    assert policy.delay(retry, rng=Edge(1.0)) == ceiling
    assert policy.ceiling(retry + 1) >= ceiling


@given(policies, st.integers(0, 200), st.floats(-10.0, 10_000.0), st.integers(0, 2**32))
def test_retry_after_is_a_capped_floor(
    policy: Backoff, retry: int, retry_after: float, seed: int
) -> None:
    floor = min(max(0.0, retry_after), policy.max_retry_after)
    d = policy.delay(retry, retry_after, rng=random.Random(seed))
    assert floor <= d <= max(floor, policy.ceiling(retry))
    assert policy.delay(retry, retry_after, rng=Edge(0.0)) == floor


def test_ceiling_doubles_from_base_to_cap() -> None:
    policy = Backoff(base_delay=0.5, max_delay=3.0)
    assert [policy.ceiling(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# ── retrying() ───────────────────────────────────────────────────────────────


async def test_retries_until_success_counting_attempts() -> None:
    t = FakeTime()
    call = Flaky(Transient("a"), Transient("b"), Transient("c"))
    seen: list[Attempt] = []
    result = await retrying(
        call,
        policy=Backoff(max_retries=5, base_delay=1.0, max_delay=100.0),
        retry_on=(Transient,),
        on_retry=seen.append,
        sleep=t.sleep,
        clock=t.clock,
        rng=Edge(1.0),
    )
    assert result == "done" and call.calls == 4
    assert [a.number for a in seen] == [1, 2, 3]
    assert [str(a.error) for a in seen] == ["a", "b", "c"]
    assert t.sleeps == [a.delay for a in seen] == [1.0, 2.0, 4.0]


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    t = FakeTime()
    call = Flaky(*(Transient(f"fail {i}") for i in range(10)))
    with pytest.raises(GaveUp, match=r"fail 3 \(gave up after 4 attempts\)") as info:
        await retrying(
            call,
            policy=Backoff(max_retries=3),
            retry_on=(Transient,),
            sleep=t.sleep,
            clock=t.clock,
        )
    assert call.calls == 4 and len(t.sleeps) == 3
    assert info.value.attempts == 4
    assert str(info.value.error) == "fail 3" and info.value.__cause__ is info.value.error


async def test_non_retryable_errors_are_raised_at_once() -> None:
    t = FakeTime()
    call = Flaky(ValueError("bug"), Transient("never reached"))
    with pytest.raises(ValueError, match="bug"):
        await retrying(call, policy=Backoff(), retry_on=(Transient,), sleep=t.sleep)
    assert call.calls == 1 and t.sleeps == []


async def test_predicate_decides_what_is_retried() -> None:
    t = FakeTime()
    call = Flaky(OSError("down"), KeyError("bug"))
    with pytest.raises(KeyError):
        await retrying(
            call,
            policy=Backoff(),
            retry_on=lambda exc: isinstance(exc, OSError),
            sleep=t.sleep,
        )
    assert call.calls == 2 and len(t.sleeps) == 1


async def test_retry_after_of_a_transient_error_is_waited_out() -> None:
    t = FakeTime()
    call = Flaky(Transient("HTTP 429", retry_after=7.0), Transient("HTTP 503", retry_after=500))
    await retrying(
        call,
        policy=Backoff(base_delay=0.1, max_delay=1.0, max_retry_after=60.0),
        retry_on=(Transient,),
        sleep=t.sleep,
        clock=t.clock,
    )
    assert t.sleeps == [7.0, 60.0]  # the second one capped at max_retry_after


async def test_deadline_stops_before_sleeping_past_it() -> None:
    t = FakeTime()
    call = Flaky(*(Transient("x") for i in range(100)))
    with pytest.raises(GaveUp) as info:
        await retrying(
            call,
            policy=Backoff(max_retries=None, base_delay=1.0, max_delay=100.0, deadline=10.0),
            retry_on=(Transient,),
            sleep=t.sleep,
            clock=t.clock,
            rng=Edge(1.0),
        )
    # sleeps of 1, 2, 4 end at 7 s; the next (8 s) would end at 15 s > 10 s
    assert t.sleeps == [1.0, 2.0, 4.0]
    assert call.calls == 4 and info.value.attempts == 4


def test_retries_reset_on_success_and_never_give_up_without_limits() -> None:
    forever = Backoff(max_retries=None, base_delay=1.0, max_delay=30.0)  # the outage loop's
    retries = Retries(forever, rng=Edge(1.0))
    waits = [retries.failed() for _ in range(2000)]  # no OverflowError from 2**n
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert set(waits[5:]) == {30.0}
    retries.succeeded()
    assert retries.failures == 0 and retries.failed() == 1.0


# ── Retry-After parsing ──────────────────────────────────────────────────────

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("Tue, 01 Dec 2026 10:00:30 GMT", 30.0),
        ("Tue, 01 Dec 2026 09:59:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=lambda: NOW) == seconds


@given(st.integers(0, 10**7))
def test_parse_retry_after_http_dates(delta: int) -> None:
    header = email.utils.format_datetime(NOW + timedelta(seconds=delta), usegmt=True)
    assert parse_retry_after(header, now=lambda: NOW) == delta


# ── the RPC client uses it ───────────────────────────────────────────────────


def _rpc(
    answers: list[tuple[int, dict[str, str], Any]], t: FakeTime, retries: int = 4
) -> tuple[RpcClient, list[dict[str, Any]]]:
    requests: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(status, headers=headers, content=json.dumps(body).encode())

    client = RpcClient(
        "http://rpc.invalid",
        retry=Backoff(max_retries=retries, base_delay=0.01, max_delay=0.05),
        transport=httpx.MockTransport(handle),
        sleep=t.sleep,
    )
    return client, requests


HEALTHY = {"jsonrpc": "2.0", "id": 1, "result": {"status": "healthy", "latestLedger": 9}}


def _retries_counted(method: str) -> float:
    labels = {"method": method, "outcome": "retry"}
    return REGISTRY.get_sample_value("orbitpay_rpc_requests_total", labels) or 0.0


async def test_rpc_waits_out_retry_after_seconds_and_dates() -> None:
    t = FakeTime()
    soon = datetime.now(UTC) + timedelta(seconds=30)
    answers = [
        (429, {"Retry-After": "7"}, {}),
        (503, {"Retry-After": email.utils.format_datetime(soon, usegmt=True)}, {}),
        (200, {}, HEALTHY),
    ]
    before = _retries_counted("getHealth")
    client, requests = _rpc(answers, t)
    async with client:
        health = await client.get_health()
    assert health.latest_ledger == 9 and len(requests) == 3
    assert t.sleeps[0] == 7.0
    assert 25.0 < t.sleeps[1] <= 30.0
    assert client.stats.retries == 2
    assert _retries_counted("getHealth") - before == 2


async def test_rpc_gives_up_after_max_retries() -> None:
    t = FakeTime()
    client, requests = _rpc([(503, {}, {})], t, retries=3)
    async with client:
        with pytest.raises(
            RpcUnavailable, match=r"getHealth: HTTP 503 \(gave up after 4 attempts\)"
        ):
            await client.get_health()
    assert len(requests) == 4 and len(t.sleeps) == 3
    assert all(0.0 <= s <= 0.05 for s in t.sleeps)


async def test_rpc_request_errors_are_not_retried() -> None:
    t = FakeTime()
    bad = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad params"}}
    client, requests = _rpc([(200, {}, bad), (200, {}, HEALTHY)], t)
    async with client:
        with pytest.raises(RpcError):
            await client.get_health()
    assert len(requests) == 1 and t.sleeps == []
