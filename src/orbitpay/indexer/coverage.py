"""Which ledgers of each contract's history are indexed, and what is missing: never silent.

Every committed batch records ``first_ledger .. scanned_to`` as covered for
every contract of its group and for the source that read it (``rpc`` or
``archive``), in the transaction of its rows (:func:`record`). Adjacent and
overlapping ranges of one contract and source merge, so the ``coverage``
table holds one row per contiguous stretch. A retention gap skipped with
``ORBITPAY_GAP_POLICY=resume`` is never recorded, so it stays a hole.

A bootstrap from ledger state (``indexer/bootstrap.py``) is current state, not
history: it is not recorded here. Its ledgers are the rows' ``state_ledger``.

A contract's history is *complete* when the indexed ranges (all sources
together) run without a hole from its ``initialize`` ledger (``contracts.
initialized_ledger``, set by the projection when the init event is indexed)
to the newest ledger indexed. Otherwise ``history_from_ledger`` is where the
newest contiguous stretch begins: the ledger from which lists are complete.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from orbitpay.enums import CoverageSource
from orbitpay.observability.metrics import HISTORY_COMPLETE, HISTORY_GAP_LEDGERS

# Sources whose ranges are history (ledger_state is a reading of current state).
HISTORY_SOURCES = (CoverageSource.RPC, CoverageSource.ARCHIVE)

# One transaction-scoped advisory lock per contract (taken in contract order, so two writers
# never deadlock) serializes merges of the same contract by concurrent writers (backfill
# workers); the lock key space is shared with nobody else (``hashtext`` of a prefixed id).
_LOCK_SQL = text(
    "SELECT pg_advisory_xact_lock(hashtext('orbitpay.coverage:' || c)) "
    "FROM unnest(CAST(:ids AS text[])) AS c ORDER BY c"
)
# Delete every range of the contract and source that overlaps or touches the new one, and
# insert their union with it. The INSERT reads the DELETE's output, so it runs after it.
_MERGE_SQL = text(
    """
    WITH new AS (SELECT unnest(CAST(:ids AS text[])) AS contract_id),
    gone AS (
        DELETE FROM coverage AS c USING new
        WHERE c.contract_id = new.contract_id AND c.source = :source
          AND c.from_ledger <= CAST(:to_ledger AS integer) + 1
          AND c.to_ledger >= CAST(:from_ledger AS integer) - 1
        RETURNING c.contract_id, c.from_ledger, c.to_ledger
    )
    INSERT INTO coverage (contract_id, source, from_ledger, to_ledger, updated_at)
    SELECT new.contract_id, :source,
           LEAST(CAST(:from_ledger AS integer), min(gone.from_ledger)),
           GREATEST(CAST(:to_ledger AS integer), max(gone.to_ledger)),
           now()
    FROM new LEFT JOIN gone ON gone.contract_id = new.contract_id
    GROUP BY new.contract_id
    """
)
_READ_SQL = text(
    """
    SELECT k.contract_id, k.kind, k.organization_id, k.initialized_ledger,
           c.source, c.from_ledger, c.to_ledger
    FROM contracts AS k LEFT JOIN coverage AS c ON c.contract_id = k.contract_id
    WHERE CAST(:ids AS text[]) IS NULL OR k.contract_id = ANY(CAST(:ids AS text[]))
    ORDER BY k.contract_id, c.from_ledger
    """
)


async def record(
    conn: AsyncConnection,
    contract_ids: Sequence[str],
    source: CoverageSource,
    from_ledger: int,
    to_ledger: int,
) -> None:
    """Record ``from_ledger .. to_ledger`` as indexed from ``source`` for every contract.

    Call inside the transaction that writes the rows of that range. An empty
    range (a batch inside one ledger) records nothing.
    """
    if from_ledger > to_ledger or not contract_ids:
        return
    ids = sorted(set(contract_ids))
    await conn.execute(_LOCK_SQL, {"ids": ids})
    await conn.execute(
        _MERGE_SQL,
        {"ids": ids, "source": source.value, "from_ledger": from_ledger, "to_ledger": to_ledger},
    )


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of inclusive ranges as sorted, disjoint, non-adjacent ranges."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


@dataclass(slots=True)
class ContractCoverage:
    """One contract's indexed ranges by source and what they leave out."""

    contract_id: str
    kind: str
    organization_id: int
    first_ledger: int | None  # the initialize ledger, when its event is indexed
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def stretches(self) -> list[tuple[int, int]]:
        """The history ranges of every source, merged."""
        return merge(r for s in HISTORY_SOURCES for r in self.ranges.get(s.value, []))

    @property
    def gaps(self) -> list[tuple[int | None, int]]:
        """Holes in the history: before the first stretch (``None``: from an unknown ledger,
        the contract's first ledger not being indexed) and between stretches."""
        stretches = self.stretches
        if not stretches:
            return []
        out: list[tuple[int | None, int]] = []
        first = stretches[0][0]
        if self.first_ledger is None:
            out.append((None, first - 1))
        elif self.first_ledger < first:
            out.append((self.first_ledger, first - 1))
        out.extend((a[1] + 1, b[0] - 1) for a, b in itertools.pairwise(stretches))
        return out

    @property
    def gap_ledgers(self) -> int:
        """Ledgers in holes of known size (a hole before an unknown first ledger counts 0)."""
        return sum(hi - lo + 1 for lo, hi in self.gaps if lo is not None)

    @property
    def history_complete(self) -> bool:
        stretches = self.stretches
        return bool(stretches) and not self.gaps

    @property
    def history_from_ledger(self) -> int | None:
        """From this ledger on, the contract's history is indexed without a hole."""
        stretches = self.stretches
        if not stretches:
            return None
        if self.history_complete:
            return self.first_ledger if self.first_ledger is not None else stretches[0][0]
        return stretches[-1][0]

    @property
    def covered_to(self) -> int | None:
        stretches = self.stretches
        return stretches[-1][1] if stretches else None


async def read(
    conn: AsyncConnection, contract_ids: Sequence[str] | None = None
) -> list[ContractCoverage]:
    """Every registered contract's coverage (or only ``contract_ids``'), by contract id."""
    rows = await conn.execute(
        _READ_SQL, {"ids": list(contract_ids) if contract_ids is not None else None}
    )
    return assemble(dict(r._mapping) for r in rows)


def assemble(rows: Iterable[Mapping[str, Any]]) -> list[ContractCoverage]:
    """:class:`ContractCoverage` of rows shaped like ``_READ_SQL``'s / :data:`API_READ_SQL`'s."""
    found: dict[str, ContractCoverage] = {}
    for r in rows:
        cid = r["contract_id"]
        cov = found.get(cid)
        if cov is None:
            cov = ContractCoverage(
                cid, r["kind"], int(r["organization_id"]), r["initialized_ledger"]
            )
            found[cid] = cov
        if r["source"] is not None:
            cov.ranges.setdefault(r["source"], []).append((r["from_ledger"], r["to_ledger"]))
    return list(found.values())


def publish(found: Iterable[ContractCoverage]) -> None:
    """Set the per-contract history gauges (``orbitpay_history_gap_ledgers`` and
    ``orbitpay_history_complete``)."""
    for cov in found:
        HISTORY_GAP_LEDGERS.labels(cov.contract_id).set(cov.gap_ledgers)
        HISTORY_COMPLETE.labels(cov.contract_id).set(1 if cov.history_complete else 0)


@dataclass(frozen=True, slots=True)
class History:
    """What a history list says beside its items: complete, or complete from a ledger on."""

    complete: bool
    from_ledger: int | None

    def fields(self) -> dict[str, Any]:
        return {"history_complete": self.complete, "history_from_ledger": self.from_ledger}


def history_of(found: Sequence[ContractCoverage]) -> History:
    """A list over these contracts is complete when each contract's history is; otherwise it
    is complete from the newest of their ``history_from_ledger`` on (no coverage: unknown)."""
    if not found:
        return History(False, None)
    complete = all(c.history_complete for c in found)
    starts = [c.history_from_ledger for c in found]
    if any(s is None for s in starts):
        return History(complete, None)
    known = [s for s in starts if s is not None]
    return History(complete, max(known) if not complete else min(known))


# Raw SQL for the API's read pool (asyncpg, ``$n`` parameters): the same rows as _READ_SQL.
API_READ_SQL = """
    SELECT k.contract_id, k.kind, k.organization_id, k.initialized_ledger,
           c.source, c.from_ledger, c.to_ledger
    FROM contracts AS k LEFT JOIN coverage AS c ON c.contract_id = k.contract_id
    WHERE $1::text[] IS NULL OR k.contract_id = ANY($1::text[])
    ORDER BY k.contract_id, c.from_ledger
"""


__all__ = [
    "API_READ_SQL",
    "HISTORY_SOURCES",
    "ContractCoverage",
    "History",
    "assemble",
    "history_of",
    "merge",
    "publish",
    "read",
    "record",
]
