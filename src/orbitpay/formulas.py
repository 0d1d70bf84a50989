"""The contracts' arithmetic, as pure functions of integers.

Exactly the formulas of the OrbitPay Soroban contracts (see
``/work/shared/CONTRACTS.md``): ``i128`` amounts and ``u64`` unix-second
times, integer floor division (every operand is non-negative, so Rust's
truncating division equals Python's ``//``). The API computes claimable and
vested amounts at request time with these; the indexer and the devnet may
reuse them so that all three agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "StreamTerms",
    "VestingTerms",
    "stream_accrued",
    "stream_claimable",
    "vesting_next_unlock",
    "vesting_vested",
]


@dataclass(frozen=True, slots=True)
class StreamTerms:
    """What the payroll contract stores about a stream (the fields the formula needs)."""

    total_amount: int
    claimed_amount: int
    start_time: int
    end_time: int


@dataclass(frozen=True, slots=True)
class VestingTerms:
    """What the vesting contract stores about a schedule (the fields the formula needs)."""

    total_amount: int
    cliff_amount: int
    start_time: int
    cliff_duration: int
    total_duration: int


def stream_accrued(total_amount: int, start_time: int, end_time: int, t: int) -> int:
    """How much of a stream has accrued at ``t`` (``calculate_claimable`` before subtracting).

    0 when ``t <= start``; otherwise ``total * (min(t, end) - start) // (end - start)``,
    clamped to ``total``. A stream with ``end <= start`` cannot be created; it
    accrues nothing here rather than dividing by zero.
    """
    if t <= start_time or end_time <= start_time:
        return 0
    elapsed = min(t, end_time) - start_time
    accrued = total_amount * elapsed // (end_time - start_time)
    return min(accrued, total_amount)


def stream_claimable(
    total_amount: int, claimed_amount: int, start_time: int, end_time: int, t: int
) -> int:
    """The payroll contract's ``get_claimable`` at ``t``: accrued minus already claimed.

    Never negative (the contract errors where the indexer's state would make it so).
    Callers decide what a cancelled or completed stream can claim (the
    contract's ``claim`` refuses both: 0).
    """
    return max(0, stream_accrued(total_amount, start_time, end_time, t) - claimed_amount)


def vesting_vested(
    total_amount: int,
    cliff_amount: int,
    start_time: int,
    cliff_duration: int,
    total_duration: int,
    t: int,
) -> int:
    """The vesting contract's ``calculate_vested`` at ``t`` (cliff, then linear).

    0 before ``start``; 0 while ``t - start < cliff_duration``; ``total`` once
    ``t - start >= total_duration``; otherwise ``cliff_amount + (total -
    cliff_amount) * (t - start - cliff_duration) // (total_duration - cliff_duration)``.
    """
    if t < start_time:
        return 0
    elapsed = t - start_time
    if elapsed < cliff_duration:
        return 0
    if elapsed >= total_duration:
        return total_amount
    span = total_duration - cliff_duration
    if span <= 0:  # cannot be created (cliff_duration < total_duration); be total, not crash
        return total_amount
    return cliff_amount + (total_amount - cliff_amount) * (elapsed - cliff_duration) // span


def vesting_next_unlock(
    total_amount: int,
    cliff_amount: int,
    start_time: int,
    cliff_duration: int,
    total_duration: int,
    t: int,
) -> int | None:
    """The first second ``t' > t`` at which the vested amount grows, or ``None`` if it never will.

    Exact for the step function ``vesting_vested`` (floor division makes the
    linear part advance in whole base units), computed in O(1).
    """
    vested = vesting_vested(
        total_amount, cliff_amount, start_time, cliff_duration, total_duration, t
    )
    if vested >= total_amount:
        return None
    end = start_time + total_duration
    cliff_at = start_time + cliff_duration
    terms = (total_amount, cliff_amount, start_time, cliff_duration, total_duration)
    if t < cliff_at:
        if vesting_vested(*terms, cliff_at) > vested:
            return cliff_at
        from_elapsed = cliff_duration  # nothing at the cliff: look along the linear part
    else:
        from_elapsed = t - start_time
    remaining = total_amount - cliff_amount
    span = total_duration - cliff_duration
    if remaining <= 0 or span <= 0:
        return end if vesting_vested(*terms, end) > vested else None
    steps = remaining * (from_elapsed - cliff_duration) // span
    # The smallest k with remaining * k // span >= steps + 1:
    # k = ceil((steps + 1) * span / remaining).
    k = -(-(steps + 1) * span // remaining)
    candidate = cliff_at + k
    if candidate >= end:
        return end if vesting_vested(*terms, end) > vested else None
    return candidate
