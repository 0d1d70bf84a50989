"""``/api/treasury/{addr}``: a treasury's event log, balance and withdrawal requests (BK-5)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Label, literal_column

from orbitpay.api.common import (
    READ_RESPONSES,
    ContractPath,
    ListSpec,
    Resources,
    json_text,
    list_response,
    read_pool,
)
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.errors import ApiError
from orbitpay.api.pagination import Keyset, Page, Paging
from orbitpay.api.queryparams import FormatQuery, csv_requested
from orbitpay.api.routers.coverage import history_fields
from orbitpay.api.schemas import (
    HistoryPage,
    TreasuryBalance,
    TreasuryEvent,
    TreasuryEventType,
    Withdrawal,
    WithdrawalStatus,
)
from orbitpay.cache import TTL_TREASURY_BALANCE
from orbitpay.db.schema import treasury_events, withdrawals

router = APIRouter(prefix="/api/treasury", tags=["treasury"], responses=READ_RESPONSES)

EVENTS_KEYSET = Keyset(
    columns=(treasury_events.c.ledger, treasury_events.c.event_id), types=(int, str)
)
WITHDRAWALS_KEYSET = Keyset(
    columns=(withdrawals.c.created_ledger, withdrawals.c.withdrawal_id), types=(int, int)
)

EVENT_COLUMNS = [
    treasury_events.c.event_id,
    treasury_events.c.event_id.label("id"),
    treasury_events.c.contract_id,
    treasury_events.c.type,
    treasury_events.c.address,
    treasury_events.c.amount,
    treasury_events.c.token,
    treasury_events.c.withdrawal_id,
    treasury_events.c.ledger,
    treasury_events.c.tx_hash,
    treasury_events.c.timestamp,
]

EVENTS_SPEC = ListSpec(
    endpoint="treasury_events",
    columns=tuple(EVENT_COLUMNS),
    keyset=EVENTS_KEYSET,
    filters={"addr": treasury_events.c.contract_id, "type": treasury_events.c.type},
    model=TreasuryEvent,
)


KNOWN_SQL = """
    SELECT EXISTS (SELECT 1 FROM contracts WHERE contract_id = $1 AND kind = 'treasury')
        OR EXISTS (SELECT 1 FROM treasury_events WHERE contract_id = $1)
        OR EXISTS (SELECT 1 FROM withdrawals WHERE contract_id = $1)
"""


async def require_treasury(conn: asyncpg.Connection, addr: str) -> None:
    """404 unless ``addr`` is a registered treasury or has indexed treasury rows."""
    if not await conn.fetchval(KNOWN_SQL, addr):
        raise ApiError(404, "not_found", f"no treasury contract {addr} is indexed")


@router.get(
    "/{addr}/events",
    response_model=HistoryPage[TreasuryEvent],
    responses=CSV_RESPONSE,
    summary="A treasury's event log",
    description="Deposits, withdrawal requests, approvals, executions and signer changes, "
    "newest first by default. `?format=csv` or `Accept: text/csv` streams every matching row "
    "as CSV.",
)
async def treasury_event_log(
    request: Request,
    paging: Paging,
    addr: ContractPath,
    type: Annotated[TreasuryEventType | None, Query(description="Only this event type.")] = None,
    format: FormatQuery = None,
) -> Response:
    values = {"addr": addr, "type": type}
    async with read_pool(request).connection() as conn:
        await require_treasury(conn, addr)
        if csv_requested(request, format):
            return csv_response(request, EVENTS_SPEC, values, paging, "treasury_events")
        history = await history_fields(read_pool(request), conn, [addr])
        return await list_response(request, EVENTS_SPEC, values, paging, conn, extra=history)


BALANCE_SQL = """
    SELECT COALESCE(te.token, w.token) AS token,
           COALESCE(sum(te.amount) FILTER (WHERE te.type = 'deposit'), 0) AS deposited,
           COALESCE(sum(COALESCE(te.amount, w.amount))
                    FILTER (WHERE te.type = 'withdrawal_executed'), 0) AS withdrawn
    FROM treasury_events te
    LEFT JOIN withdrawals w
           ON te.type = 'withdrawal_executed'
          AND w.contract_id = te.contract_id AND w.withdrawal_id = te.withdrawal_id
    WHERE te.contract_id = $1 AND te.type IN ('deposit', 'withdrawal_executed')
    GROUP BY 1
    HAVING COALESCE(te.token, w.token) IS NOT NULL
    ORDER BY 1
"""


AS_OF_SQL = """
    SELECT COALESCE(
        (SELECT max(last_ledger) FROM indexer_cursors WHERE $1 = ANY(contract_ids)),
        (SELECT max(ledger) FROM treasury_events WHERE contract_id = $1)
    )
"""


async def treasury_balance(conn: asyncpg.Connection, addr: str) -> dict[str, Any]:
    rows = await conn.fetch(BALANCE_SQL, addr)
    as_of = await conn.fetchval(AS_OF_SQL, addr)
    balances = [
        {
            "token": r["token"],
            "deposited": int(r["deposited"]),
            "withdrawn": int(r["withdrawn"]),
            "balance": int(r["deposited"]) - int(r["withdrawn"]),
        }
        for r in rows
    ]
    model = TreasuryBalance.model_validate(
        {"contract_id": addr, "balances": balances, "as_of_ledger": as_of}
    )
    return model.model_dump(mode="json")


@router.get(
    "/{addr}/balance",
    response_model=TreasuryBalance,
    summary="A treasury's accounting balance per token",
    description="Deposits minus executed withdrawals, per token, from the treasury's events "
    "(the contract does not move tokens on deposit today, so this is an accounting "
    "balance). Cached for 60 s; new treasury events invalidate it.",
)
async def get_balance(res: Resources, addr: ContractPath) -> Response:
    async def compute() -> dict[str, Any]:
        async with res.reads.connection() as conn:
            await require_treasury(conn, addr)
            return await treasury_balance(conn, addr)

    key = f"balance:{addr}"
    return json_text(
        await res.cache.get_or_set_text("treasury", key, TTL_TREASURY_BALANCE, compute)
    )


APPROVALS: Label[list[str]] = literal_column(
    "(SELECT COALESCE(array_agg(wa.signer ORDER BY wa.ledger, wa.signer), ARRAY[]::text[]) "
    "FROM withdrawal_approvals wa WHERE wa.contract_id = withdrawals.contract_id "
    "AND wa.withdrawal_id = withdrawals.withdrawal_id)"
).label("approvals")

WITHDRAWALS_SPEC = ListSpec(
    endpoint="withdrawals",
    columns=(
        withdrawals.c.withdrawal_id,
        withdrawals.c.contract_id,
        withdrawals.c.proposer,
        withdrawals.c.token,
        withdrawals.c.recipient,
        withdrawals.c.amount,
        withdrawals.c.memo,
        withdrawals.c.status,
        withdrawals.c.created_at,
        withdrawals.c.created_ledger,
        withdrawals.c.executed_at,
        APPROVALS,
    ),
    keyset=WITHDRAWALS_KEYSET,
    filters={"addr": withdrawals.c.contract_id, "status": withdrawals.c.status},
    model=Withdrawal,
)


@router.get(
    "/{addr}/withdrawals",
    response_model=Page[Withdrawal],
    responses=CSV_RESPONSE,
    summary="A treasury's withdrawal requests with their approvals",
    description="Newest first by default. `?format=csv` or `Accept: text/csv` streams every "
    "matching row as CSV (`approvals` as space-separated addresses).",
)
async def list_withdrawals(
    request: Request,
    paging: Paging,
    addr: ContractPath,
    status: Annotated[WithdrawalStatus | None, Query()] = None,
    format: FormatQuery = None,
) -> Response:
    values = {"addr": addr, "status": status}
    async with read_pool(request).connection() as conn:
        await require_treasury(conn, addr)
        if csv_requested(request, format):
            return csv_response(request, WITHDRAWALS_SPEC, values, paging, "withdrawals")
        return await list_response(request, WITHDRAWALS_SPEC, values, paging, conn)
