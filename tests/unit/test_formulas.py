"""``orbitpay.formulas`` against CONTRACTS.md, with exact rational references and brute force."""

from __future__ import annotations

from fractions import Fraction
from math import floor

from hypothesis import given, settings
from hypothesis import strategies as st

from orbitpay.formulas import (
    stream_accrued,
    stream_claimable,
    vesting_next_unlock,
    vesting_vested,
)

amounts = st.integers(min_value=1, max_value=10**30)
starts = st.integers(min_value=0, max_value=2_000_000_000)


def ref_accrued(total: int, start: int, end: int, t: int) -> int:
    if t <= start:
        return 0
    return min(total, floor(Fraction(total * (min(t, end) - start), end - start)))


def ref_vested(total: int, cliff: int, start: int, cd: int, td: int, t: int) -> int:
    if t < start or t - start < cd:
        return 0
    if t - start >= td:
        return total
    return cliff + floor(Fraction((total - cliff) * (t - start - cd), td - cd))


@given(amounts, starts, st.integers(1, 10**9), st.integers(-(10**9), 3 * 10**9), st.data())
def test_stream_formula(total: int, start: int, dur: int, dt: int, data: st.DataObject) -> None:
    end, t = start + dur, start + dt
    accrued = ref_accrued(total, start, end, t)
    assert stream_accrued(total, start, end, t) == accrued
    claimed = data.draw(st.integers(0, total))
    assert stream_claimable(total, claimed, start, end, t) == max(0, accrued - claimed)


def test_stream_examples() -> None:
    assert stream_claimable(1_000_003, 0, 100, 1100, 433) == 333_000
    assert stream_claimable(3_000_000, 500_000, 0, 3000, 1500) == 1_000_000
    assert stream_claimable(10, 0, 0, 3, 1) == 3  # 10 * 1 // 3
    assert stream_claimable(10, 0, 5, 5, 9) == 0  # impossible stream: no crash


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    total = draw(st.integers(1, 10**24))
    cliff_amount = draw(st.integers(0, total))
    start = draw(starts)
    td = draw(st.integers(1, 10**8))
    cd = draw(st.integers(0, td - 1))
    return total, cliff_amount, start, cd, td


@given(schedules(), st.integers(-(10**8), 2 * 10**8))
def test_vesting_formula(terms: tuple[int, int, int, int, int], dt: int) -> None:
    t = terms[2] + dt
    assert vesting_vested(*terms, t) == ref_vested(*terms, t)


@st.composite
def small_schedules(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    total = draw(st.integers(1, 60))
    cliff_amount = draw(st.integers(0, total))
    start = draw(st.integers(0, 20))
    td = draw(st.integers(1, 40))
    cd = draw(st.integers(0, td - 1))
    return total, cliff_amount, start, cd, td


@settings(max_examples=500)
@given(small_schedules(), st.integers(-5, 70))
def test_next_unlock_is_the_first_second_vested_grows(
    terms: tuple[int, int, int, int, int], t: int
) -> None:
    now = vesting_vested(*terms, t)
    expected = next(
        (x for x in range(t + 1, terms[2] + terms[4] + 2) if vesting_vested(*terms, x) > now),
        None,
    )
    assert vesting_next_unlock(*terms, t) == expected


def test_vesting_examples() -> None:
    terms = (1_200_000, 300_000, 0, 1000, 4000)
    assert vesting_vested(*terms, 999) == 0
    assert vesting_vested(*terms, 1000) == 300_000
    assert vesting_vested(*terms, 1500) == 450_000
    assert vesting_vested(*terms, 4000) == 1_200_000
    assert vesting_next_unlock(*terms, 500) == 1000
    assert vesting_next_unlock(*terms, 1500) == 1501
    assert vesting_next_unlock(*terms, 4000) is None
    # No cliff amount: the first unit vests after the cliff, once the linear part reaches it.
    assert vesting_next_unlock(10, 0, 0, 10, 110, 0) == 20
