"""What bootstrap and reconciliation found, and how each finding becomes a record.

A :class:`Finding` is either a *difference* between a row and the chain
(recorded with source ``reconcile``, and corrected when it can be) or a
*problem* reading the chain (an entry absent, archived, undecodable or out of
a column's range; source ``bootstrap``). Problems are recorded once: a later
pass meeting the same entry in the same state adds no row and only logs at
debug level, so a periodic reconciliation does not flood the table or the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.db.schema import discrepancies
from orbitpay.enums import DiscrepancySource
from orbitpay.indexer import store
from orbitpay.indexer.model import Discrepancy
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import DISCREPANCIES
from orbitpay.stellar.rpc import LedgerEntry

log = get_logger(__name__)

BOOTSTRAP = DiscrepancySource.BOOTSTRAP
RECONCILE = DiscrepancySource.RECONCILE


@dataclass
class Finding:
    """A difference between a row and the chain (or an entry that could not be used)."""

    contract_id: str
    entity: str
    entity_id: str
    field: str
    indexed: Any
    chain: Any
    message: str


@dataclass
class BootstrapReport:
    """What one bootstrap (or reconciliation) pass read, wrote and found.

    ``checked``: entity entries requested; ``inserted``: rows written that did not
    exist; ``corrected``: fields corrected on existing rows; ``skipped_newer``: our
    row was newer than the entry; ``deferred``: the entry was newer than the indexed
    ledger (see :mod:`orbitpay.indexer.bootstrap`); ``final``: rows in a final status, not read
    again; ``missing``: entries absent from the ledger; ``archived``: entries past
    their TTL; ``undecodable``: entries whose value has an unexpected shape.
    ``findings`` are differences between a row and the chain; ``problems`` what
    could not be read as it should (absent, archived, undecodable, clamped).
    ``state_ledgers`` maps ``(entity, contract_id, id)`` of every row written from
    an entry to the entry's ``lastModifiedLedgerSeq``.
    """

    contracts: int = 0
    checked: int = 0
    inserted: int = 0
    corrected: int = 0
    skipped_newer: int = 0
    deferred: int = 0
    final: int = 0
    missing: int = 0
    archived: int = 0
    undecodable: int = 0
    findings: list[Finding] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    state_ledgers: dict[tuple[str, str, int], int] = field(default_factory=dict)


def discrepancy_row(
    source: DiscrepancySource, f: Finding, ledger: int | None, corrected: bool, suffix: str
) -> Discrepancy:
    """``f`` as a ``discrepancies`` row; ``suffix`` adds what was done about it."""
    return Discrepancy.of(
        source,
        f.entity,
        f.message + suffix,
        contract_id=f.contract_id,
        entity_id=f.entity_id,
        field=f.field,
        indexed=f.indexed,
        chain=f.chain,
        ledger=ledger,
        corrected=corrected,
    )


async def record_finding(
    engine: AsyncEngine,
    rep: BootstrapReport,
    f: Finding,
    ledger: int | None,
    *,
    source: DiscrepancySource = BOOTSTRAP,
) -> None:
    """Record ``f`` once: a later pass finding the same thing adds no row (but logs).

    A ``reconcile`` record is a difference (``findings``), any other a problem."""
    (rep.findings if source == RECONCILE else rep.problems).append(f)
    row = discrepancy_row(source, f, ledger, False, "")
    async with engine.begin() as conn:
        seen = await _seen(conn, row)
        if not seen:
            await store.add_discrepancies(conn, [row])
    # Periodic passes meet the same archived entry again and again: warn once.
    (log.debug if seen else log.warning)(
        "bootstrap_finding", entity=f.entity, entity_id=f.entity_id, message=f.message
    )
    if not seen:
        DISCREPANCIES.labels(source, f.entity).inc()


async def _seen(conn: AsyncConnection, row: Discrepancy) -> bool:
    d = discrepancies.c
    found = await conn.scalar(
        select(func.count())
        .select_from(discrepancies)
        .where(
            d.source == row.source,
            d.contract_id == row.contract_id,
            d.entity == row.entity,
            d.entity_id == row.entity_id,
            d.field == row.field,
            d.chain_value.is_not_distinct_from(row.chain_value),
        )
    )
    return bool(found)


async def report_archived(
    engine: AsyncEngine,
    rep: BootstrapReport,
    cid: str,
    entity: str,
    eid: str,
    entry: LedgerEntry,
    latest: int,
) -> None:
    """An entry past its TTL: recorded once per ``liveUntilLedgerSeq`` (a restore and a new
    archival later is a new record)."""
    await record_finding(
        engine,
        rep,
        Finding(
            cid,
            entity,
            eid,
            "live_until_ledger",
            None,
            entry.live_until_ledger,
            f"{entity} {eid}: ledger entry archived (live until ledger "
            f"{entry.live_until_ledger}, latest {latest}); its stored state is used as it is, "
            "and the contract must restore it before it can change",
        ),
        latest,
    )
