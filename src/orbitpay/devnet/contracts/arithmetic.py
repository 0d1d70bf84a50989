"""The payroll and vesting contracts' arithmetic, re-derived from their Rust source.

Written from ``contracts/contracts/payroll_stream/src/lib.rs``
(``calculate_claimable``, ``claim``, ``cancel_stream``) and
``contracts/contracts/vesting/src/lib.rs`` (``calculate_vested``, ``claim``,
``revoke``) of xqcxx/OrbitPay, and deliberately *not* from
:mod:`orbitpay.formulas`: the devnet is the reference an end-to-end test
compares the indexer and the API against, so it must not share their formulas.

Rust semantics that differ from Python's integers are kept:

- Amounts are ``i128``, times ``u64``. The contracts' workspace builds with
  ``overflow-checks = true``, so a plain ``+``, ``-`` or ``*`` that leaves its
  type panics, and so does a ``u64`` subtraction below zero. A panic traps the
  host function: here :class:`Trap`, a :class:`ContractError` (code 0) that
  the chain rolls back like any failed call.
- ``checked_*`` operations return ``None`` instead; the payroll contract turns
  that into its own ``ArithmeticError`` (:class:`ResultErr`).
- ``/`` truncates toward zero (Python's ``//`` floors; they differ when the
  operands' signs differ, which the vesting formula reaches for a schedule
  revoked before its cliff) and panics on a zero divisor.
"""

from __future__ import annotations

from orbitpay.devnet.contracts.base import ContractError

__all__ = [
    "I128_MAX",
    "I128_MIN",
    "U64_MAX",
    "ResultErr",
    "Trap",
    "cancel_settlement",
    "checked_add",
    "checked_div",
    "checked_mul",
    "checked_sub",
    "claimed_after",
    "rate_per_second",
    "stream_claimable",
    "vested_amount",
    "vesting_claimable",
    "vesting_claimed_after",
    "vesting_unvested",
]

I128_MIN = -(1 << 127)
I128_MAX = (1 << 127) - 1
U64_MAX = (1 << 64) - 1


class Trap(ContractError):
    """A Rust panic inside the contract (overflow, underflow, division by zero)."""

    def __init__(self, what: str) -> None:
        super().__init__(0, f"WasmVm(InvalidAction): {what}")


class ResultErr(Exception):
    """A helper returned ``Err(variant)``; the calling contract maps ``variant`` to its enum."""

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.variant = variant


# ── i128 / u64 operations ────────────────────────────────────────────────────


def _fits_i128(value: int) -> int | None:
    return value if I128_MIN <= value <= I128_MAX else None


def _truncating_div(a: int, b: int) -> int:
    """Rust's integer ``/``: the quotient rounded toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def checked_add(a: int, b: int) -> int | None:
    return _fits_i128(a + b)


def checked_sub(a: int, b: int) -> int | None:
    return _fits_i128(a - b)


def checked_mul(a: int, b: int) -> int | None:
    return _fits_i128(a * b)


def checked_div(a: int, b: int) -> int | None:
    """``i128::checked_div``: ``None`` on a zero divisor or ``i128::MIN / -1``."""
    if b == 0:
        return None
    return _fits_i128(_truncating_div(a, b))


def _add(a: int, b: int) -> int:
    out = checked_add(a, b)
    if out is None:
        raise Trap("attempt to add with overflow")
    return out


def _sub(a: int, b: int) -> int:
    out = checked_sub(a, b)
    if out is None:
        raise Trap("attempt to subtract with overflow")
    return out


def _mul(a: int, b: int) -> int:
    out = checked_mul(a, b)
    if out is None:
        raise Trap("attempt to multiply with overflow")
    return out


def _div(a: int, b: int) -> int:
    if b == 0:
        raise Trap("attempt to divide by zero")
    out = checked_div(a, b)
    if out is None:
        raise Trap("attempt to divide with overflow")
    return out


def _u64_sub(a: int, b: int) -> int:
    if not (0 <= b <= a <= U64_MAX):
        raise Trap("attempt to subtract with overflow")
    return a - b


def _ok(value: int | None) -> int:
    """``.ok_or(ArithmeticError)?`` of the payroll contract."""
    if value is None:
        raise ResultErr("ArithmeticError")
    return value


# ── payroll_stream ───────────────────────────────────────────────────────────


def rate_per_second(total: int, start: int, end: int) -> int:
    """``total_amount / (duration as i128)`` stored at creation (informational only)."""
    return _div(total, _u64_sub(end, start))


def stream_claimable(total: int, claimed: int, start: int, end: int, now: int) -> int:
    """``calculate_claimable``: accrued at ``now`` (clamped to total) minus claimed.

    Raises :class:`ResultErr` ``InvalidDuration`` for ``end == start`` once
    ``now > start``, ``ArithmeticError`` when ``total * elapsed`` leaves i128
    or the state is inconsistent (claimed more than accrued); :class:`Trap`
    for ``end < start`` (the ``u64`` elapsed time underflows first).
    """
    if now <= start:
        return 0
    effective = end if now >= end else now
    elapsed = _u64_sub(effective, start)
    if end <= start:
        raise ResultErr("InvalidDuration")
    duration = _u64_sub(end, start)
    accrued = _ok(checked_div(_ok(checked_mul(total, elapsed)), duration))
    if accrued > total:
        accrued = total
    if accrued < claimed:
        raise ResultErr("ArithmeticError")
    return _ok(checked_sub(accrued, claimed))


def claimed_after(total: int, claimed: int, amount: int) -> int:
    """``claim`` / ``cancel_stream``: the new ``claimed_amount``, never above total."""
    out = _ok(checked_add(claimed, amount))
    if out > total:
        raise ResultErr("ArithmeticError")
    return out


def cancel_settlement(total: int, claimed: int, owed: int) -> tuple[int, int, int]:
    """``cancel_stream``: (owed to the recipient, refund to the sender, their sum)."""
    remaining = _ok(checked_sub(total, claimed))
    refund = _ok(checked_sub(remaining, owed))
    return owed, refund, _ok(checked_add(owed, refund))


# ── vesting ──────────────────────────────────────────────────────────────────


def vested_amount(
    total: int,
    cliff_amount: int,
    start: int,
    cliff_duration: int,
    total_duration: int,
    now: int,
) -> int:
    """``calculate_vested``: nothing before the cliff, all from the end, linear between.

    Plain (panicking) i128 arithmetic as in the contract, and truncating
    division: for the terms a revoked schedule keeps (``total_amount`` capped
    at what had vested, ``cliff_amount`` unchanged) the linear part can be
    negative and rounds toward zero.
    """
    if now < start:
        return 0
    elapsed = _u64_sub(now, start)
    if elapsed < cliff_duration:
        return 0
    if elapsed >= total_duration:
        return total
    remaining = _sub(total, cliff_amount)
    vesting_duration = _u64_sub(total_duration, cliff_duration)
    since_cliff = _u64_sub(elapsed, cliff_duration)
    linear = _div(_mul(remaining, since_cliff), vesting_duration)
    return _add(cliff_amount, linear)


def vesting_claimable(vested: int, claimed: int) -> int:
    """``claim``: ``vested - claimed_amount`` (may be <= 0: ``NothingToClaim``)."""
    return _sub(vested, claimed)


def vesting_claimed_after(claimed: int, amount: int) -> int:
    """``claim``: ``claimed_amount += claimable``."""
    return _add(claimed, amount)


def vesting_unvested(total: int, vested: int) -> int:
    """``revoke``: ``total_amount - vested``, returned to the grantor."""
    return _sub(total, vested)
