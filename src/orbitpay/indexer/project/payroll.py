"""Payroll rules: streams, their claims and cancellations.

``s_create`` and ``b_create`` carry only ids: every stream field comes from
the call. ``claim`` carries no stream id (the call has it). A cancel pays the
recipient what had accrued (the contract's formula, ``formulas.stream_claimable``),
recorded as a ``stream_claims`` row of kind ``cancel``, and refunds the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from orbitpay.contracts import payroll as pay
from orbitpay.contracts.base import ContractEvent
from orbitpay.enums import ClaimKind, DiscrepancyEntity, StreamStatus
from orbitpay.formulas import stream_claimable
from orbitpay.indexer.model import Item, Needs, StreamClaimRow, StreamRow
from orbitpay.indexer.project.page import Need, Page, Rule, need, now, rule

STREAM = DiscrepancyEntity.STREAM


def initialized(page: Page, item: Item, ev: pay.Initialized) -> None:
    page.initialized(item, ev.admin).params.stream_count = 0


def _new_stream(
    page: Page, item: Item, sid: int, sender: str, p: pay.StreamParams, batch: bool
) -> None:
    c = item.contract.contract_id
    key = (c, sid)
    if key in page.s.streams:
        existing = page.s.streams[key]
        if existing.created_ledger == 0:  # a ledger-state row: storage has no batch flag
            existing.batch = batch
        page.creation(item, existing, key, page.out.dirty_streams)
        return
    start = page.bigint(item, p.start_time, STREAM, sid, "start_time")
    end = page.bigint(item, p.end_time, STREAM, sid, "end_time")
    duration = p.end_time - p.start_time
    raw = item.raw
    page.s.streams[key] = StreamRow(
        contract_id=c,
        stream_id=sid,
        sender=sender,
        recipient=p.recipient,
        token=p.token,
        total_amount=p.total_amount,
        claimed_amount=0,
        refunded_amount=0,
        rate_per_second=p.total_amount // duration if duration > 0 else None,
        start_time=start,
        end_time=end,
        last_claim_time=start,
        status=StreamStatus.ACTIVE,
        batch=batch,
        cancelled_at=None,
        created_ledger=raw.ledger,
        created_tx_hash=raw.tx_hash,
        created_at=raw.ledger_closed_at,
        last_ledger=raw.ledger,
    )
    page.out.dirty_streams.add(key)
    params = page.contract_row(item).params
    params.stream_count = max(params.stream_count or 0, sid + 1)
    page.out.dirty_contracts.add(c)


def stream_created(page: Page, item: Item, ev: pay.StreamCreated) -> None:
    call = page.call(item, pay.CreateStream)
    _new_stream(page, item, ev.stream_id, ev.sender, call.params, batch=False)


def batch_created(page: Page, item: Item, ev: pay.BatchCreated) -> None:
    call = page.call(item, pay.CreateBatchStreams)
    # Enrichment matched the call only if it has one parameter set per id.
    for sid, p in zip(ev.stream_ids, call.streams, strict=True):
        _new_stream(page, item, sid, ev.sender, p, batch=True)


def _payout(page: Page, item: Item, row: StreamRow, kind: ClaimKind, amount: int) -> None:
    page.out.stream_claims.append(
        StreamClaimRow(
            item.raw.id,
            row.contract_id,
            row.stream_id,
            kind,
            row.recipient,
            row.token,
            amount,
            item.raw.ledger,
            item.raw.tx_hash,
            item.raw.ledger_closed_at,
        )
    )


def stream_claimed(page: Page, item: Item, ev: pay.StreamClaimed) -> None:
    sid = page.call(item, pay.Claim).stream_id
    key = (item.contract.contract_id, sid)
    row = page.s.streams.get(key)
    if row is None:
        page.missing(item, STREAM, sid)
        return
    _payout(page, item, row, ClaimKind.CLAIM, ev.amount)
    if not page.fresh(item, row, STREAM, sid):
        return
    claimed = row.claimed_amount + ev.amount
    if claimed > row.total_amount:
        page.discrepancy(
            item,
            STREAM,
            "claims exceed the stream total; claimed capped at total",
            entity_id=sid,
            field="claimed_amount",
            indexed=row.total_amount,
            chain=claimed,
        )
        claimed = row.total_amount
    row.claimed_amount = claimed
    row.last_claim_time = min(now(item), row.end_time)
    if claimed >= row.total_amount:
        row.status = StreamStatus.COMPLETED
    row.last_ledger = item.raw.ledger
    page.out.dirty_streams.add(key)


def stream_cancelled(page: Page, item: Item, ev: pay.StreamCancelled) -> None:
    key = (item.contract.contract_id, ev.stream_id)
    row = page.s.streams.get(key)
    if row is None:
        page.missing(item, STREAM, ev.stream_id)
        return
    t = now(item)
    owed = stream_claimable(row.total_amount, row.claimed_amount, row.start_time, row.end_time, t)
    if owed > 0:
        _payout(page, item, row, ClaimKind.CANCEL, owed)
    if not page.fresh(item, row, STREAM, ev.stream_id):
        if row.status == StreamStatus.CANCELLED and row.cancelled_at is None:
            row.cancelled_at = item.raw.ledger_closed_at  # storage does not record it
            page.out.dirty_streams.add(key)
        return
    row.claimed_amount += owed
    row.refunded_amount = row.total_amount - row.claimed_amount
    row.last_claim_time = min(t, row.end_time)
    row.status = StreamStatus.CANCELLED
    row.cancelled_at = item.raw.ledger_closed_at
    row.last_ledger = item.raw.ledger
    page.out.dirty_streams.add(key)


RULES: Mapping[type[ContractEvent], Rule] = dict(
    [
        rule(pay.Initialized, initialized),
        rule(pay.StreamCreated, stream_created),
        rule(pay.BatchCreated, batch_created),
        rule(pay.StreamClaimed, stream_claimed),
        rule(pay.StreamCancelled, stream_cancelled),
    ]
)


def _stream(n: Needs, item: Item, ev: pay.StreamCreated | pay.StreamCancelled) -> None:
    n.streams.add((item.contract.contract_id, ev.stream_id))


def _batch(n: Needs, item: Item, ev: pay.BatchCreated) -> None:
    c = item.contract.contract_id
    n.streams.update((c, i) for i in ev.stream_ids)


def _claimed(n: Needs, item: Item, ev: pay.StreamClaimed) -> None:
    if isinstance(item.call, pay.Claim):
        n.streams.add((item.contract.contract_id, item.call.stream_id))


NEEDS: Mapping[type[ContractEvent], Need] = dict(
    [
        need(pay.StreamCreated, _stream),
        need(pay.StreamCancelled, _stream),
        need(pay.BatchCreated, _batch),
        need(pay.StreamClaimed, _claimed),
    ]
)
