"""Reconciliation: compare the tables with contract storage, fill in and correct them.

Some changes have no event (a ``finalize`` that rejects for quorum or grace
period; a withdrawal reaching its threshold), and entities created before the
RPC's retention window have no event in reach at all. So every registered
contract is bootstrapped from ledger state (:mod:`orbitpay.indexer.bootstrap`):
its instance storage (admin, signers, threshold, governance parameters,
members) and the persistent entry of every entity that is missing from the
tables or still open (active proposals, pending and approved withdrawals,
active streams and schedules), read with ``getLedgerEntries``.

Only entries whose ``lastModifiedLedgerSeq`` is at or below the indexed
ledger are used: a newer entry reflects events not yet indexed, and
correcting from it would double-apply them (they are counted as deferred and
picked up by a later pass). Each difference is corrected (with an optimistic
``WHERE last_ledger = <seen>`` so a concurrent projection is never
overwritten) and recorded as a ``discrepancies`` row with source
``reconcile``; entries that are absent, archived or undecodable are recorded
with source ``bootstrap``.

Speed: every entry is read up front in full 200-key ``getLedgerEntries`` calls
across contracts (:func:`orbitpay.indexer.bootstrap.read_ahead`), decoded
without stellar-sdk objects, and only when it can matter (an entry older than
our row, or not settled yet, is not decoded). During a catch-up the read runs
beside ingest (``reconcile(..., read=...)`` with the read started before the
sync), so what is left after it is comparing and writing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.schema import contracts
from orbitpay.indexer.bootstrap import (
    BootstrapReport,
    Finding,
    LedgerRead,
    bootstrap_contract,
    read_ahead,
)
from orbitpay.observability.logging import get_logger
from orbitpay.stellar.ledger import instance_key, unit_variant
from orbitpay.stellar.rpc import RpcClient

log = get_logger(__name__)

ReconcileReport = BootstrapReport
"""A reconciliation pass reports what bootstrap does, summed over every contract."""


def _variant(value: Any) -> str | None:
    """``["FullyClaimed"]`` -> ``"fully_claimed"`` (kept for its callers; see ``unit_variant``)."""
    return unit_variant(value)


async def reconcile(
    engine: AsyncEngine,
    rpc: RpcClient,
    *,
    correct: bool = True,
    start_ledger: int | None = None,
    read: LedgerRead | None = None,
    every: bool = False,
) -> ReconcileReport:
    """Bootstrap every registered contract from ledger state; fix and record differences.

    ``start_ledger`` is where indexing starts for a contract that has no cursor yet
    (``ORBITPAY_START_LEDGER``); without it, the RPC's oldest ledger. ``read``:
    entries read ahead (:func:`read_ahead`, e.g. while ingest ran); read here
    when not given. A key the read lacks (an entity created since) is fetched.
    ``every``: entities in a final status are read and compared too (an audit).
    """
    report = ReconcileReport()
    async with engine.connect() as conn:
        ids = [r[0] for r in await conn.execute(select(contracts.c.contract_id))]
    if read is None:
        read = await read_ahead(engine, rpc, every=every)
    else:
        # Instance entries are read again: contract parameters have no per-row
        # ledger to tell a stale value from a correction (entities do: a row newer
        # than its entry is skipped, so an entity entry read earlier is safe).
        await read.fetch(rpc, [instance_key(cid) for cid in ids])
    for cid in sorted(ids):
        await bootstrap_contract(
            engine,
            rpc,
            cid,
            start_ledger=start_ledger,
            correct=correct,
            report=report,
            read=read,
            every=every,
        )
    log.info(
        "reconciled",
        checked=report.checked,
        differences=len(report.findings),
        corrected=report.corrected,
        inserted=report.inserted,
        skipped_newer=report.skipped_newer,
        deferred=report.deferred,
        missing=report.missing,
        archived=report.archived,
    )
    return report


__all__ = ["Finding", "LedgerRead", "ReconcileReport", "read_ahead", "reconcile"]
