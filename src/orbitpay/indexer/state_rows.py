"""Contract storage values -> table rows: what a ledger entry says about one entity.

Pure functions, no I/O. Each takes the decoded value of a persistent
``DataKey`` entry (``Withdrawal(u32)``, ``Stream(u32)``, ``Schedule(u32)``,
``Proposal(u32)``: a ``#[contracttype]`` struct, decoded by
:func:`orbitpay.stellar.ledger.decode_entry` into a ``dict``) and returns the
entity's columns as the projection would have written them from events.

Only what storage really holds is filled in; what it cannot know stays NULL
(a stream's ``cancelled_at``, a proposal's ``finalized_at``...). Two columns
are derived from the contracts' rules (CONTRACTS.md) because they are exact:
a cancelled stream refunded ``total - claimed`` (the cancel paid out what was
owed into ``claimed_amount`` and returned the rest), and a schedule's
``cliff_time``/``end_time`` are ``start + cliff_duration``/``start +
total_duration``. A revoked schedule's ``original_total_amount`` is not in
storage (revoke overwrote ``total_amount``); it is set to ``total_amount``,
the only amount the ledger still shows, and ``revoked_amount`` stays NULL.

A malformed value (a missing field, a wrong type, an unknown enum variant)
raises :class:`StateError`: the caller reports it, it never becomes a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from orbitpay.enums import ContractEnum, ProposalStatus, ScheduleStatus, StreamStatus
from orbitpay.enums import WithdrawalStatus as WStatus

BIGINT_MAX = 2**63 - 1
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
"""The latest time Python can hold: a u64 timestamp beyond it is stored clamped."""

_E = TypeVar("_E", bound=ContractEnum)


class StateError(ValueError):
    """A stored value does not have the shape the contract's type defines."""


@dataclass
class EntityState:
    """One entity as its ledger entry shows it.

    ``row``: the table's state columns; ``clamped``: u64 values above BIGINT
    that had to be stored clamped (name -> chain value), to be reported;
    ``approvals``: a withdrawal's approving signers in approval order.
    """

    row: dict[str, Any]
    clamped: dict[str, int] = field(default_factory=dict)
    approvals: list[str] = field(default_factory=list)


def _get(value: Any, name: str) -> Any:
    if not isinstance(value, dict):
        raise StateError(f"expected a struct (map), got {type(value).__name__}")
    if name not in value:
        raise StateError(f"field {name!r} missing")
    return value[name]


def _int(value: Any, name: str) -> int:
    v = _get(value, name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise StateError(f"field {name!r}: expected an integer, got {v!r}")
    return v


def _str(value: Any, name: str) -> str:
    v = _get(value, name)
    if not isinstance(v, str):
        raise StateError(f"field {name!r}: expected an address or symbol, got {v!r}")
    return v


def _bool(value: Any, name: str) -> bool:
    v = _get(value, name)
    if not isinstance(v, bool):
        raise StateError(f"field {name!r}: expected a bool, got {v!r}")
    return v


def _status(value: Any, enum: type[_E]) -> _E:
    """A unit enum value (``["FullyClaimed"]``) as its member (``fully_claimed``)."""
    v = _get(value, "status")
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], str):
        try:
            return enum.from_variant(v[0])
        except ValueError as exc:
            raise StateError(f"status: {exc}") from exc
    raise StateError(f"status: expected a unit enum variant, got {v!r}")


def _addresses(value: Any, name: str) -> list[str]:
    v = _get(value, name)
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        raise StateError(f"field {name!r}: expected a list of addresses, got {v!r}")
    return list(v)


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _check_id(value: Any, expected: int) -> None:
    got = _int(value, "id")
    if got != expected:
        raise StateError(f"entry keyed by id {expected} holds id {got}")


class _Clamp:
    """Stores u64 values in BIGINT columns, remembering those that did not fit."""

    def __init__(self) -> None:
        self.clamped: dict[str, int] = {}

    def __call__(self, name: str, v: int) -> int:
        if v > BIGINT_MAX:
            self.clamped[name] = v
            return BIGINT_MAX
        return v

    def time(self, name: str, v: int) -> datetime:
        if v > int(MAX_TIME.timestamp()):
            self.clamped[name] = v
            return MAX_TIME
        return _time(v)


def withdrawal(value: Any, wid: int) -> EntityState:
    """``WithdrawalRequest {id, proposer, token, recipient, amount, memo, approvals, status,
    created_at}``."""
    _check_id(value, wid)
    clamp = _Clamp()
    return EntityState(
        row={
            "withdrawal_id": wid,
            "proposer": _str(value, "proposer"),
            "token": _str(value, "token"),
            "recipient": _str(value, "recipient"),
            "amount": _int(value, "amount"),
            "memo": _str(value, "memo"),
            "status": _status(value, WStatus).value,
            "created_at": clamp.time("created_at", _int(value, "created_at")),
        },
        clamped=clamp.clamped,
        approvals=_addresses(value, "approvals"),
    )


def stream(value: Any, sid: int) -> EntityState:
    """``PayrollStream {id, sender, recipient, token, total_amount, claimed_amount, start_time,
    end_time, last_claim_time, status, rate_per_second}``."""
    _check_id(value, sid)
    clamp = _Clamp()
    total = _int(value, "total_amount")
    claimed = _int(value, "claimed_amount")
    status = _status(value, StreamStatus)
    row = {
        "stream_id": sid,
        "sender": _str(value, "sender"),
        "recipient": _str(value, "recipient"),
        "token": _str(value, "token"),
        "total_amount": total,
        "claimed_amount": claimed,
        "refunded_amount": total - claimed if status is StreamStatus.CANCELLED else 0,
        "rate_per_second": _int(value, "rate_per_second"),
        "start_time": clamp("start_time", _int(value, "start_time")),
        "end_time": clamp("end_time", _int(value, "end_time")),
        "last_claim_time": clamp("last_claim_time", _int(value, "last_claim_time")),
        "status": status.value,
    }
    return EntityState(row=row, clamped=clamp.clamped)


def schedule(value: Any, sid: int) -> EntityState:
    """``VestingSchedule {id, grantor, beneficiary, token, total_amount, claimed_amount,
    start_time, cliff_duration, cliff_amount, total_duration, label, status, revocable,
    revoked_at: Option<u64>}``."""
    _check_id(value, sid)
    clamp = _Clamp()
    total = _int(value, "total_amount")
    start = _int(value, "start_time")
    cliff = _int(value, "cliff_duration")
    duration = _int(value, "total_duration")
    revoked = _get(value, "revoked_at")
    if revoked is not None and (isinstance(revoked, bool) or not isinstance(revoked, int)):
        raise StateError(f"field 'revoked_at': expected Option<u64>, got {revoked!r}")
    row = {
        "schedule_id": sid,
        "grantor": _str(value, "grantor"),
        "beneficiary": _str(value, "beneficiary"),
        "token": _str(value, "token"),
        "total_amount": total,
        "original_total_amount": total,
        "claimed_amount": _int(value, "claimed_amount"),
        "start_time": clamp("start_time", start),
        "cliff_duration": clamp("cliff_duration", cliff),
        "cliff_time": clamp("cliff_time", start + cliff),
        "cliff_amount": _int(value, "cliff_amount"),
        "total_duration": clamp("total_duration", duration),
        "end_time": clamp("end_time", start + duration),
        "label": _str(value, "label"),
        "revocable": _bool(value, "revocable"),
        "status": _status(value, ScheduleStatus).value,
        "revoked_at": None if revoked is None else clamp.time("revoked_at", revoked),
    }
    return EntityState(row=row, clamped=clamp.clamped)


def proposal(value: Any, pid: int) -> EntityState:
    """``Proposal {id, proposer, title, token, amount, recipient, yes_votes, no_votes,
    abstain_votes, votes, status, start_time, end_time}``; ``start_time`` is the creation
    time (``create_proposal`` sets it to the ledger time)."""
    _check_id(value, pid)
    clamp = _Clamp()
    row = {
        "proposal_id": pid,
        "proposer": _str(value, "proposer"),
        "title": _str(value, "title"),
        "token": _str(value, "token"),
        "amount": _int(value, "amount"),
        "recipient": _str(value, "recipient"),
        "status": _status(value, ProposalStatus).value,
        "yes_votes": _int(value, "yes_votes"),
        "no_votes": _int(value, "no_votes"),
        "abstain_votes": _int(value, "abstain_votes"),
        "start_time": clamp("start_time", _int(value, "start_time")),
        "end_time": clamp("end_time", _int(value, "end_time")),
    }
    return EntityState(row=row, clamped=clamp.clamped)


def created_at(kind: str, row: dict[str, Any]) -> datetime | None:
    """The creation time storage records exactly, if any: a withdrawal's ``created_at``, a
    proposal's ``start_time``. Streams and schedules do not record theirs."""
    if kind == "withdrawal":
        value = row["created_at"]
        return value if isinstance(value, datetime) else None
    if kind == "proposal":
        return _Clamp().time("start_time", int(row["start_time"]))
    return None
