"""``GET /api/coverage``: which ledgers of each contract's history are indexed, and the gaps.

History lists (``/api/events``, a treasury's events, a proposal's votes, a
stream's claims) say the same in two fields beside their items,
``history_complete`` and ``history_from_ledger`` (:func:`history_fields`):
one query on the small ``coverage`` table, remembered for a few seconds per
set of contracts, so lists stay as cheap as before.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import APIRouter, Request, Response

from orbitpay.api.common import READ_RESPONSES, ContractQuery, json_response, read_pool
from orbitpay.api.schemas import ContractCoverage, CoverageGap, CoverageRange, CoverageReport
from orbitpay.db.readpool import ReadPool
from orbitpay.enums import CoverageSource
from orbitpay.indexer import coverage

router = APIRouter(prefix="/api/coverage", tags=["coverage"], responses=READ_RESPONSES)

# How long a list's history fields are reused (coverage moves with every commit; a few
# seconds late only delays the moment a list turns complete).
HISTORY_TTL_SECONDS = 2.0
_MEMO_MAX = 1024
_Memo = dict[tuple[str, ...] | None, tuple[float, dict[str, Any]]]
# One memo per read pool, i.e. per database: two apps in one process (tests, or an API
# pointed at another database after a restart of its pool) never share answers.
_memos: weakref.WeakKeyDictionary[ReadPool, _Memo] = weakref.WeakKeyDictionary()


def _memo_of(pool: ReadPool) -> _Memo:
    memo = _memos.get(pool)
    if memo is None:
        memo = _memos[pool] = {}
    return memo


async def read(
    conn: asyncpg.Connection, contract_ids: Sequence[str] | None
) -> list[coverage.ContractCoverage]:
    rows = await conn.fetch(
        coverage.API_READ_SQL, list(contract_ids) if contract_ids is not None else None
    )
    return coverage.assemble(dict(r) for r in rows)


async def history_fields(
    pool: ReadPool, conn: asyncpg.Connection, contract_ids: Sequence[str] | None
) -> dict[str, Any]:
    """``{"history_complete", "history_from_ledger"}`` of a list over these contracts
    (``None``: every registered contract), read on ``conn`` (a connection of ``pool``)."""
    key = tuple(sorted(contract_ids)) if contract_ids is not None else None
    now = time.monotonic()
    _memo = _memo_of(pool)
    hit = _memo.get(key)
    if hit is not None and now - hit[0] < HISTORY_TTL_SECONDS:
        return hit[1]
    fields = coverage.history_of(await read(conn, contract_ids)).fields()
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[key] = (now, fields)
    return fields


async def history_for(pool: ReadPool, contract_ids: Sequence[str] | None) -> dict[str, Any]:
    """:func:`history_fields`, taking a connection only when the memo has no answer."""
    key = tuple(sorted(contract_ids)) if contract_ids is not None else None
    hit = _memo_of(pool).get(key)
    if hit is not None and time.monotonic() - hit[0] < HISTORY_TTL_SECONDS:
        return hit[1]
    async with pool.connection() as conn:
        return await history_fields(pool, conn, contract_ids)


def _model(c: coverage.ContractCoverage) -> ContractCoverage:
    ranges = [
        CoverageRange(source=CoverageSource(source), from_ledger=lo, to_ledger=hi)
        for source, spans in sorted(c.ranges.items())
        for lo, hi in spans
    ]
    ranges.sort(key=lambda r: (r.from_ledger, r.source))
    return ContractCoverage(
        contract_id=c.contract_id,
        kind=c.kind,
        organization_id=c.organization_id,
        first_ledger=c.first_ledger,
        covered_to=c.covered_to,
        ranges=ranges,
        gaps=[CoverageGap(from_ledger=lo, to_ledger=hi) for lo, hi in c.gaps],
        gap_ledgers=c.gap_ledgers,
        history_complete=c.history_complete,
        history_from_ledger=c.history_from_ledger,
    )


@router.get(
    "",
    response_model=CoverageReport,
    summary="Indexed ledger ranges and gaps of each contract's history",
    description="Per contract: the ledger ranges indexed by source (`rpc`: getEvents, "
    "`archive`: the ledger data lake), the first ledger of its history when known (its "
    "initialize event), the gaps, and whether its history is complete.",
)
async def get_coverage(request: Request, contract: ContractQuery = None) -> Response:
    async with read_pool(request).connection() as conn:
        found = await read(conn, [contract] if contract is not None else None)
    items = [_model(c) for c in found]
    return json_response(
        CoverageReport(items=items, history_complete=all(c.history_complete for c in items))
    )
