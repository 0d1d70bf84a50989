"""The devnet's stream and vesting arithmetic, against CONTRACTS.md and orbitpay.formulas."""

from __future__ import annotations

from fractions import Fraction
from math import floor
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from orbitpay import formulas
from orbitpay.devnet.contracts.arithmetic import (
    I128_MAX,
    I128_MIN,
    ResultErr,
    Trap,
    checked_add,
    checked_div,
    checked_mul,
    checked_sub,
    vesting_unvested,
)
from orbitpay.devnet.contracts.arithmetic import stream_claimable as devnet_claimable
from orbitpay.devnet.contracts.arithmetic import vested_amount as devnet_vested
from orbitpay.devnet.contracts.payroll import stream_claimable
from orbitpay.devnet.contracts.vesting import vested_amount

amounts = st.integers(min_value=1, max_value=10**24)
times = st.integers(min_value=1_700_000_000, max_value=1_900_000_000)


def ref_accrued(total: int, start: int, end: int, t: int) -> int:
    if t <= start:
        return 0
    return min(total, floor(Fraction(total * (min(t, end) - start), end - start)))


@given(amounts, times, st.integers(1, 10**8), st.integers(-(10**8), 2 * 10**8))
def test_stream_claimable_matches_formula(total: int, start: int, dur: int, dt: int) -> None:
    end, t = start + dur, start + dt
    got = stream_claimable(total, 0, start, end, t)
    assert got == ref_accrued(total, start, end, t)
    assert 0 <= got <= total


@given(amounts, times, st.integers(2, 10**7), st.data())
def test_stream_edges_and_monotonic(total: int, start: int, dur: int, data: st.DataObject) -> None:
    end = start + dur
    assert stream_claimable(total, 0, start, end, start) == 0  # t == start: nothing
    assert stream_claimable(total, 0, start, end, start - 1) == 0
    assert stream_claimable(total, 0, start, end, end) == total  # at end: everything
    assert stream_claimable(total, 0, start, end, end + 10**6) == total
    t1 = data.draw(st.integers(start, end))
    t2 = data.draw(st.integers(t1, end))
    assert stream_claimable(total, 0, start, end, t1) <= stream_claimable(total, 0, start, end, t2)
    claimed = stream_claimable(total, 0, start, end, t1)
    assert (
        stream_claimable(total, claimed, start, end, t2)
        == ref_accrued(total, start, end, t2) - claimed
    )


def test_stream_flooring_example() -> None:
    # 10 over 3 seconds: 3.33 -> 3, 6.66 -> 6
    assert stream_claimable(10, 0, 100, 103, 101) == 3
    assert stream_claimable(10, 0, 100, 103, 102) == 6
    assert stream_claimable(10, 3, 100, 103, 102) == 3


def ref_vested(total: int, cliff_amt: int, start: int, cliff: int, dur: int, t: int) -> int:
    if t < start or t - start < cliff:
        return 0
    if t - start >= dur:
        return total
    return cliff_amt + floor(Fraction((total - cliff_amt) * (t - start - cliff), dur - cliff))


@given(amounts, times, st.data())
def test_vesting_matches_formula(total: int, start: int, data: st.DataObject) -> None:
    dur = data.draw(st.integers(1, 10**8))
    cliff = data.draw(st.integers(0, dur - 1))
    cliff_amt = data.draw(st.integers(0, total))
    t = start + data.draw(st.integers(-(10**6), 2 * 10**8))
    got = vested_amount(total, cliff_amt, start, cliff, dur, t)
    assert got == ref_vested(total, cliff_amt, start, cliff, dur, t)
    assert 0 <= got <= total


@given(amounts, times, st.data())
def test_vesting_edge_times(total: int, start: int, data: st.DataObject) -> None:
    dur = data.draw(st.integers(2, 10**8))
    cliff = data.draw(st.integers(1, dur - 1))
    cliff_amt = data.draw(st.integers(0, total))
    assert vested_amount(total, cliff_amt, start, cliff, dur, start - 1) == 0
    assert vested_amount(total, cliff_amt, start, cliff, dur, start) == 0
    assert vested_amount(total, cliff_amt, start, cliff, dur, start + cliff - 1) == 0
    assert (
        vested_amount(total, cliff_amt, start, cliff, dur, start + cliff) == cliff_amt
    )  # exactly at cliff
    assert (
        vested_amount(total, cliff_amt, start, cliff, dur, start + dur) == total
    )  # exactly at end
    assert vested_amount(total, cliff_amt, start, cliff, dur, start + dur - 1) <= total


def test_vesting_flooring_example() -> None:
    # total 100, cliff 25 at 10s, linear to 40s: at 20s 25 + 75*10//30 = 25 + 25
    assert vested_amount(100, 25, 0, 10, 40, 20) == 50
    assert vested_amount(100, 25, 0, 10, 40, 11) == 27  # 75/30 = 2.5 -> 2


# ── the devnet's contract arithmetic against the indexer's orbitpay.formulas ──
#
# The devnet computes amounts with its own reading of the Rust contracts
# (orbitpay.devnet.contracts.arithmetic); the indexer and the API use
# orbitpay.formulas. Wherever the contract answers, the two must agree; where
# the contract fails (i128 overflow, inconsistent state, terms it refuses to
# create) the tests pin down exactly when, so a change on either side shows.

U64 = (1 << 64) - 1
i128_amounts = st.one_of(
    st.integers(1, 10**24),
    st.integers(1, I128_MAX),
    st.integers(I128_MAX - 10**6, I128_MAX),
)
u64_times = st.integers(0, 1 << 62)
durations = st.one_of(st.integers(1, 10**9), st.integers(1, 1 << 40), st.just(1))


def offsets(duration: int) -> st.SearchStrategy[int]:
    """Times relative to a start: before it, at it, at the end, after it, and inside."""
    return st.one_of(
        st.sampled_from([-1, 0, 1, duration - 1, duration, duration + 1]),
        st.integers(-(10**9), 2 * duration + 10**9),
    )


@given(i128_amounts, u64_times, durations, st.data())
def test_devnet_stream_claimable_equals_formulas(
    total: int, start: int, duration: int, data: st.DataObject
) -> None:
    end = start + duration
    t = max(0, start + data.draw(offsets(duration)))
    # claimed is what the contract paid at an earlier claim, as on chain
    t_claim = data.draw(st.integers(min(t, max(0, start - 10)), t))
    elapsed = min(t, end) - start
    if t > start and total * elapsed > I128_MAX:
        # the contract's checked_mul fails: get_claimable errors, the stream cannot be claimed
        with pytest.raises(ResultErr, match="ArithmeticError"):
            devnet_claimable(total, 0, start, end, t)
        return
    claimed = devnet_claimable(total, 0, start, end, t_claim)
    got = devnet_claimable(total, claimed, start, end, t)
    assert got == formulas.stream_claimable(total, claimed, start, end, t)
    assert claimed + got == formulas.stream_accrued(total, start, end, t)
    assert 0 <= claimed + got <= total


@given(i128_amounts, u64_times, durations, st.data())
def test_devnet_stream_refuses_claimed_above_accrued(
    total: int, start: int, duration: int, data: st.DataObject
) -> None:
    end = start + duration
    t = start + data.draw(st.integers(1, duration))
    assume(total * (t - start) <= I128_MAX)
    accrued = formulas.stream_accrued(total, start, end, t)
    assume(accrued < total)
    claimed = data.draw(st.integers(accrued + 1, total))
    # inconsistent state: the contract errors, the formula says "nothing to claim"
    with pytest.raises(ResultErr, match="ArithmeticError"):
        devnet_claimable(total, claimed, start, end, t)
    assert formulas.stream_claimable(total, claimed, start, end, t) == 0


def test_devnet_stream_edges() -> None:
    big = I128_MAX
    assert devnet_claimable(big, 0, 100, 101, 100) == 0  # at start
    assert devnet_claimable(big, 0, 100, 101, 101) == big  # one second, the whole i128 range
    assert devnet_claimable(big, 0, 100, 101, 10**9) == big  # after end: clamped to end
    assert formulas.stream_claimable(big, 0, 100, 101, 101) == big
    assert devnet_claimable(big, 0, 100, 102, 101) == big // 2  # big * 1 fits
    with pytest.raises(ResultErr, match="ArithmeticError"):
        devnet_claimable(big, 0, 100, 102, 102)  # big * 2 does not: checked_mul fails
    assert formulas.stream_claimable(big, 0, 100, 102, 102) == big  # the formula has no limit
    # zero duration cannot be created; the contract answers InvalidDuration after start,
    # and a reversed stream traps (u64 underflow) before reaching that check
    assert devnet_claimable(10, 0, 100, 100, 100) == 0
    with pytest.raises(ResultErr, match="InvalidDuration"):
        devnet_claimable(10, 0, 100, 100, 101)
    with pytest.raises(Trap):
        devnet_claimable(10, 0, 100, 90, 101)
    assert formulas.stream_claimable(10, 0, 100, 100, 101) == 0  # the formula: nothing accrues


@given(i128_amounts, u64_times, durations, st.data())
def test_devnet_vesting_equals_formulas(
    total: int, start: int, total_duration: int, data: st.DataObject
) -> None:
    cliff_duration = data.draw(
        st.sampled_from([0, total_duration - 1]) | st.integers(0, total_duration - 1)
    )
    cliff_amount = data.draw(st.sampled_from([0, total]) | st.integers(0, total))
    at_cliff = st.sampled_from([cliff_duration - 1, cliff_duration, cliff_duration + 1])
    t = max(0, start + data.draw(offsets(total_duration) | at_cliff))
    terms = (total, cliff_amount, start, cliff_duration, total_duration)
    since_cliff = t - start - cliff_duration
    linear = start + cliff_duration <= t < start + total_duration
    if linear and (total - cliff_amount) * since_cliff > I128_MAX:
        with pytest.raises(Trap, match="multiply with overflow"):  # overflow-checks = true
            devnet_vested(*terms, t)
        return
    got = devnet_vested(*terms, t)
    assert got == formulas.vesting_vested(*terms, t)
    assert 0 <= got <= total


@given(st.integers(1, 10**24), u64_times, st.integers(2, 10**8), st.data())
def test_devnet_vesting_after_revoke(
    total: int, start: int, total_duration: int, data: st.DataObject
) -> None:
    """A revoked schedule keeps its terms with ``total_amount`` capped at what had vested.

    ``claim`` refuses it, so the formula only matters for views. Where the
    capped total is at least the cliff amount both sides agree; revoked before
    the cliff (capped total 0 < cliff amount) the linear part is negative and
    the contract's ``/`` truncates where Python floors: the devnet follows the
    contract, and the API never applies the formula to a revoked schedule.
    """
    cliff_duration = data.draw(st.integers(0, total_duration - 1))
    cliff_amount = data.draw(st.integers(0, total))
    revoked_at = start + data.draw(st.integers(-10, total_duration + 10))
    t = revoked_at + data.draw(st.integers(0, 2 * total_duration))
    terms = (total, cliff_amount, start, cliff_duration, total_duration)
    capped = devnet_vested(*terms, revoked_at)
    assert capped == formulas.vesting_vested(*terms, revoked_at)
    assert vesting_unvested(total, capped) == total - capped
    kept = (capped, cliff_amount, start, cliff_duration, total_duration)
    got = devnet_vested(*kept, t)
    if capped >= cliff_amount:
        assert got == formulas.vesting_vested(*kept, t)
    else:
        num = (capped - cliff_amount) * (t - start - cliff_duration)
        span = total_duration - cliff_duration
        in_linear = start + cliff_duration <= t < start + total_duration
        want = cliff_amount - (-num // span) if in_linear else formulas.vesting_vested(*kept, t)
        assert got == want  # truncation toward zero: cliff - floor(|num| / span)


def test_devnet_vesting_truncates_toward_zero() -> None:
    # revoked before a 25-unit cliff: total capped at 0; at 1/3 of the linear part
    # the contract computes 25 + (-25 * 10) / 30 = 25 - 8 = 17; Python's floor would give 16
    assert devnet_vested(0, 25, 0, 10, 40, 20) == 17
    assert formulas.vesting_vested(0, 25, 0, 10, 40, 20) == 16
    assert devnet_vested(0, 25, 0, 10, 40, 40) == 0  # at the end: total_amount


def test_devnet_vesting_edges() -> None:
    big = I128_MAX
    assert devnet_vested(big, 0, 50, 0, 1, 49) == 0
    assert devnet_vested(big, 0, 50, 0, 1, 51) == big
    assert devnet_vested(big, big, 50, 0, 2, 51) == big  # all at the (zero) cliff
    with pytest.raises(Trap):
        devnet_vested(big, 0, 50, 0, 3, 52)  # big * 2 overflows i128
    assert devnet_vested(100, 25, 0, 10, 40, 9) == 0  # one second before the cliff
    assert devnet_vested(100, 25, 0, 10, 40, 10) == 25  # at the cliff
    assert devnet_vested(100, 25, 0, 10, 40, 39) == 97
    assert devnet_vested(100, 25, 0, 10, 40, 40) == 100


def test_checked_ops_follow_rust() -> None:
    assert checked_div(-7, 2) == -3 and checked_div(7, -2) == -3 and checked_div(-7, -2) == 3
    assert checked_div(1, 0) is None and checked_div(I128_MIN, -1) is None
    assert checked_mul(I128_MAX, 1) == I128_MAX and checked_mul(I128_MAX, 2) is None
    assert checked_add(I128_MAX, 1) is None and checked_sub(I128_MIN, 1) is None
    assert checked_sub(0, 5) == -5


def test_devnet_contracts_do_not_import_the_indexer_formulas() -> None:
    import orbitpay.devnet.contracts as package

    for path in Path(package.__path__[0]).glob("*.py"):
        assert "orbitpay.formulas" not in path.read_text().replace(
            "``orbitpay.formulas``", ""
        ).replace(":mod:`orbitpay.formulas`", ""), path.name
