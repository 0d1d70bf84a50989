"""Treasury rules: withdrawals, their approvals, signers and threshold, the history rows.

A withdrawal is created with its proposer's approval and becomes ``approved``
when an ``approve`` brings its approvals to the treasury's threshold (the
contract re-checks the threshold only inside ``approve_withdrawal``: there is
no event for it). ``deposit`` and ``w_exec`` name no token: it comes from the
call (``deposit``) or the stored request (``w_exec``).
"""

from __future__ import annotations

from collections.abc import Mapping

from orbitpay.contracts import treasury as tre
from orbitpay.contracts.base import ContractEvent
from orbitpay.enums import DiscrepancyEntity, TreasuryEventType, WithdrawalStatus
from orbitpay.indexer.model import (
    ApprovalRow,
    Item,
    Key,
    Needs,
    TreasuryEventRow,
    WithdrawalRow,
)
from orbitpay.indexer.project.page import Need, Page, Rule, need, rule

WITHDRAWAL = DiscrepancyEntity.WITHDRAWAL


def history(
    page: Page,
    item: Item,
    type_: TreasuryEventType,
    *,
    address: str | None = None,
    amount: int | None = None,
    token: str | None = None,
    withdrawal_id: int | None = None,
) -> None:
    """A ``treasury_events`` row (the treasury's activity feed)."""
    page.out.treasury_events.append(
        TreasuryEventRow(
            item.raw.id,
            item.contract.contract_id,
            type_,
            address,
            amount,
            token,
            withdrawal_id,
            item.raw.ledger,
            item.raw.tx_hash,
            item.raw.ledger_closed_at,
        )
    )


def unrecognised(page: Page, item: Item) -> None:
    """An event the decoder does not know still shows in the activity feed, as ``unknown``."""
    history(page, item, TreasuryEventType.UNKNOWN)


def initialized(page: Page, item: Item, ev: tre.Initialized) -> None:
    call = page.call(item, tre.Initialize)
    params = page.initialized(item, ev.admin).params
    params.signers = list(call.signers)
    params.threshold = call.threshold
    params.withdrawal_count = 0
    history(page, item, TreasuryEventType.INITIALIZED, address=ev.admin)


def deposited(page: Page, item: Item, ev: tre.Deposited) -> None:
    token = page.call(item, tre.Deposit).token
    history(page, item, TreasuryEventType.DEPOSIT, address=ev.from_, amount=ev.amount, token=token)


def withdrawal_created(page: Page, item: Item, ev: tre.WithdrawalCreated) -> None:
    call = page.call(item, tre.CreateWithdrawal)
    c = item.contract.contract_id
    key = (c, ev.withdrawal_id)
    history(
        page,
        item,
        TreasuryEventType.WITHDRAWAL_CREATED,
        address=ev.proposer,
        amount=call.amount,
        token=call.token,
        withdrawal_id=ev.withdrawal_id,
    )
    if key not in page.s.withdrawals:
        raw = item.raw
        page.s.withdrawals[key] = WithdrawalRow(
            contract_id=c,
            withdrawal_id=ev.withdrawal_id,
            proposer=ev.proposer,
            token=call.token,
            recipient=call.recipient,
            amount=call.amount,
            memo=call.memo,
            status=WithdrawalStatus.PENDING,
            executed_ledger=None,
            executed_at=None,
            created_ledger=raw.ledger,
            created_tx_hash=raw.tx_hash,
            created_at=raw.ledger_closed_at,
            last_ledger=raw.ledger,
        )
        page.out.dirty_withdrawals.add(key)
    else:
        page.creation(item, page.s.withdrawals[key], key, page.out.dirty_withdrawals)
    params = page.contract_row(item).params
    params.withdrawal_count = max(params.withdrawal_count or 0, ev.withdrawal_id + 1)
    page.out.dirty_contracts.add(c)
    _approve(page, item, key, ev.proposer, reaches_threshold=False)


def _approve(page: Page, item: Item, key: Key, signer: str, *, reaches_threshold: bool) -> None:
    row = page.s.withdrawals.get(key)
    if row is None:
        page.missing(item, WITHDRAWAL, key[1])
        return
    approvals = page.s.approvals.setdefault(key, set())
    # In a backfill the approval may be held already without its transaction (read from
    # ledger state: ledger 0); the row goes out and the backfill fills that one in.
    if signer not in approvals or page.history:
        approvals.add(signer)
        page.out.approvals.append(
            ApprovalRow(
                key[0], key[1], signer, item.raw.ledger, item.raw.tx_hash, item.raw.ledger_closed_at
            )
        )
    if not page.fresh(item, row, WITHDRAWAL, key[1]):
        return
    row.last_ledger = item.raw.ledger
    page.out.dirty_withdrawals.add(key)
    # The contract re-checks the threshold only inside approve_withdrawal.
    if reaches_threshold and row.status == WithdrawalStatus.PENDING:
        threshold = page.contract_row(item).params.threshold
        if threshold is None:
            page.discrepancy(
                item,
                WITHDRAWAL,
                "treasury threshold unknown (init not indexed); status left to reconciliation",
                entity_id=key[1],
            )
        elif len(approvals) >= threshold:
            row.status = WithdrawalStatus.APPROVED


def withdrawal_approved(page: Page, item: Item, ev: tre.WithdrawalApproved) -> None:
    history(
        page,
        item,
        TreasuryEventType.WITHDRAWAL_APPROVED,
        address=ev.signer,
        withdrawal_id=ev.withdrawal_id,
    )
    key = (item.contract.contract_id, ev.withdrawal_id)
    _approve(page, item, key, ev.signer, reaches_threshold=True)


def withdrawal_executed(page: Page, item: Item, ev: tre.WithdrawalExecuted) -> None:
    wid = page.call(item, tre.ExecuteWithdrawal).id
    key = (item.contract.contract_id, wid)
    row = page.s.withdrawals.get(key)
    history(
        page,
        item,
        TreasuryEventType.WITHDRAWAL_EXECUTED,
        address=ev.recipient,
        amount=ev.amount,
        token=row.token if row else None,
        withdrawal_id=wid,
    )
    if row is None:
        page.missing(item, WITHDRAWAL, wid)
        return
    if row.recipient != ev.recipient or row.amount != ev.amount:
        page.discrepancy(
            item,
            WITHDRAWAL,
            "w_exec recipient/amount differ from the indexed request",
            entity_id=wid,
            indexed=f"{row.recipient}:{row.amount}",
            chain=f"{ev.recipient}:{ev.amount}",
        )
    if not page.fresh(item, row, WITHDRAWAL, wid):
        # Held by a ledger-state row already: fill in what storage does not record.
        if row.executed_ledger is None and row.status == WithdrawalStatus.EXECUTED:
            row.executed_ledger = item.raw.ledger
            row.executed_at = item.raw.ledger_closed_at
            page.out.dirty_withdrawals.add(key)
        return
    row.status = WithdrawalStatus.EXECUTED
    row.executed_ledger = item.raw.ledger
    row.executed_at = item.raw.ledger_closed_at
    row.last_ledger = item.raw.ledger
    page.out.dirty_withdrawals.add(key)


def signer_added(page: Page, item: Item, ev: tre.SignerAdded) -> None:
    params = page.contract_row(item).params
    signers = list(params.signers or [])
    if ev.signer not in signers:
        signers.append(ev.signer)
    params.signers = signers
    page.out.dirty_contracts.add(item.contract.contract_id)
    history(page, item, TreasuryEventType.SIGNER_ADDED, address=ev.signer)


def signer_removed(page: Page, item: Item, ev: tre.SignerRemoved) -> None:
    params = page.contract_row(item).params
    params.signers = [s for s in params.signers or [] if s != ev.signer]
    page.out.dirty_contracts.add(item.contract.contract_id)
    history(page, item, TreasuryEventType.SIGNER_REMOVED, address=ev.signer)


def threshold_updated(page: Page, item: Item, ev: tre.ThresholdUpdated) -> None:
    page.contract_row(item).params.threshold = ev.threshold
    page.out.dirty_contracts.add(item.contract.contract_id)
    history(page, item, TreasuryEventType.THRESHOLD_UPDATED)


RULES: Mapping[type[ContractEvent], Rule] = dict(
    [
        rule(tre.Initialized, initialized),
        rule(tre.Deposited, deposited),
        rule(tre.WithdrawalCreated, withdrawal_created),
        rule(tre.WithdrawalApproved, withdrawal_approved),
        rule(tre.WithdrawalExecuted, withdrawal_executed),
        rule(tre.SignerAdded, signer_added),
        rule(tre.SignerRemoved, signer_removed),
        rule(tre.ThresholdUpdated, threshold_updated),
    ]
)


def _withdrawal(n: Needs, item: Item, ev: tre.WithdrawalCreated | tre.WithdrawalApproved) -> None:
    n.withdrawals.add((item.contract.contract_id, ev.withdrawal_id))


def _executed(n: Needs, item: Item, ev: tre.WithdrawalExecuted) -> None:
    if isinstance(item.call, tre.ExecuteWithdrawal):
        n.withdrawals.add((item.contract.contract_id, item.call.id))


NEEDS: Mapping[type[ContractEvent], Need] = dict(
    [
        need(tre.WithdrawalCreated, _withdrawal),
        need(tre.WithdrawalApproved, _withdrawal),
        need(tre.WithdrawalExecuted, _executed),
    ]
)
