"""The stream and vesting formulas against CONTRACTS.md, written independently here."""

from __future__ import annotations

from fractions import Fraction
from math import floor

from hypothesis import given
from hypothesis import strategies as st

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
