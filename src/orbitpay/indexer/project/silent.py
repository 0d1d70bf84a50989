"""State no event states, from the contract storage changes of archived ledger metas.

Two paths change an entity without an event (CONTRACTS.md): ``finalize``
rejecting a proposal for quorum or grace period, and a withdrawal whose
approvals reach the threshold through a signer change rather than an
``approve``. The RPC path learns of them only from the reconciliation's
ledger-entry reads; a ledger data lake carries every ``CONTRACT_DATA`` change
of the watched contracts, so the archive path applies them in order, in the
batch's transaction, like an event.

Rule: after a batch's events are applied, the last change of each
``Proposal(id)`` / ``Withdrawal(id)`` entry in the batch is the entity's state
at the end of the batch. Where its ``status`` differs from the row's (and the
row is not newer), the row takes the entry's status and the change's ledger:
exactly what an event-less transition did on chain.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from stellar_sdk import xdr

from orbitpay.enums import ProposalStatus, WithdrawalStatus
from orbitpay.indexer import state_rows
from orbitpay.indexer.model import Changes, Key, Needs, Snapshot
from orbitpay.indexer.state_rows import StateError
from orbitpay.stellar import scval as sv
from orbitpay.stellar.ledgermeta import StorageChange

_VARIANTS = ("Proposal", "Withdrawal")


def _decode(b64: str) -> Any:
    return sv.decode_scval(xdr.SCVal.from_xdr_bytes(base64.b64decode(b64)))


def _entity_key(change: StorageChange) -> tuple[str, int] | None:
    """``("Proposal", 3)`` for a proposal entry's change, None for any other entry."""
    if change.durability != "persistent" or change.after_xdr is None:
        return None
    try:
        key = _decode(change.key_xdr)
    except (ValueError, TypeError, KeyError):
        return None
    if isinstance(key, list | tuple) and len(key) == 2 and key[0] in _VARIANTS:
        if isinstance(key[1], int) and not isinstance(key[1], bool):
            return str(key[0]), int(key[1])
    return None


def _newer(last: int, state: int | None, ledger: int) -> bool:
    return last > ledger or (state is not None and state >= ledger)


def latest_by_entity(
    changes: Iterable[StorageChange],
) -> dict[tuple[str, Key], StorageChange]:
    """The last change of each proposal/withdrawal entry: ``(variant, (contract, id))``."""
    out: dict[tuple[str, Key], StorageChange] = {}
    for change in changes:
        found = _entity_key(change)
        if found is not None:
            out[(found[0], (change.contract_id, found[1]))] = change
    return out


def add_needs(need: Needs, latest: dict[tuple[str, Key], StorageChange]) -> None:
    """The rows :func:`apply_silent` compares (loaded with the page's)."""
    for variant, key in latest:
        (need.proposals if variant == "Proposal" else need.withdrawals).add(key)


def apply_silent(snap: Snapshot, out: Changes, latest: dict[tuple[str, Key], StorageChange]) -> int:
    """Apply event-less status changes (after the page's events); the number applied."""
    applied = 0
    for (variant, key), change in sorted(latest.items(), key=lambda kv: kv[1].ledger):
        assert change.after_xdr is not None
        try:
            value = _decode(change.after_xdr)
            if variant == "Proposal":
                status = state_rows.proposal(value, key[1]).row["status"]
            else:
                status = state_rows.withdrawal(value, key[1]).row["status"]
        except (StateError, ValueError, TypeError, KeyError):
            continue  # undecodable: the reconciliation reads and reports it
        if variant == "Proposal":
            row = snap.proposals.get(key)
            if row is None or _newer(row.last_ledger, row.state_ledger, change.ledger):
                continue
            if row.status == status:
                continue
            row.status = ProposalStatus(status)
            row.last_ledger = change.ledger
            out.dirty_proposals.add(key)
        else:
            wrow = snap.withdrawals.get(key)
            if wrow is None or _newer(wrow.last_ledger, wrow.state_ledger, change.ledger):
                continue
            if wrow.status == status:
                continue
            wrow.status = WithdrawalStatus(status)
            wrow.last_ledger = change.ledger
            out.dirty_withdrawals.add(key)
        applied += 1
    return applied


__all__ = ["add_needs", "apply_silent", "latest_by_entity"]
