"""``/api/vesting``: vesting schedules, their claims and progress (BK-6)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request, Response

from orbitpay.api.common import (
    READ_RESPONSES,
    AppResources,
    ContractQuery,
    ListSpec,
    Now,
    OnChainId,
    Resources,
    address_query,
    json_response,
    list_response,
    resolve_entity,
)
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.pagination import Keyset, Page
from orbitpay.api.queryparams import QueryParam, QuerySpec
from orbitpay.api.schemas import (
    Schedule,
    ScheduleDetail,
    ScheduleStatus,
    VestingClaim,
    VestingProgress,
    unix_time,
)
from orbitpay.db.schema import vesting_schedules
from orbitpay.formulas import vesting_next_unlock, vesting_vested

router = APIRouter(prefix="/api/vesting", tags=["vesting"], responses=READ_RESPONSES)

# Vesting inputs change only with new events (which invalidate the namespace).
TTL_SCHEDULE = 30

BeneficiaryQuery = address_query("The beneficiary (G... or C...).")
GrantorQuery = address_query("The grantor (G... or C...).")

t = vesting_schedules.c
KEYSET = Keyset(columns=(t.created_ledger, t.schedule_id, t.contract_id), types=(int, int, str))
COLUMNS = [
    t.schedule_id,
    t.contract_id,
    t.grantor,
    t.beneficiary,
    t.token,
    t.total_amount,
    t.claimed_amount,
    t.start_time,
    t.cliff_time,
    t.cliff_amount,
    t.end_time,
    t.cliff_duration,
    t.total_duration,
    t.label,
    t.revocable,
    t.status,
    t.revoked_at,
    t.created_ledger,
    t.created_tx_hash,
]


SPEC = ListSpec(
    endpoint="vesting",
    columns=tuple(COLUMNS),
    keyset=KEYSET,
    filters={
        "beneficiary": t.beneficiary,
        "grantor": t.grantor,
        "status": t.status,
        "contract": t.contract_id,
    },
    model=Schedule,
)


LIST_QUERY = QuerySpec(
    [
        QueryParam("beneficiary", BeneficiaryQuery),
        QueryParam("grantor", GrantorQuery),
        QueryParam("status", Annotated[ScheduleStatus | None, Query()]),
        QueryParam("contract", ContractQuery),
    ],
    formats=True,
)


@router.get(
    "",
    response_model=Page[Schedule],
    responses=CSV_RESPONSE,
    openapi_extra=LIST_QUERY.openapi(),
    summary="List vesting schedules",
    description="Schedules by beneficiary, grantor, status and contract, newest first by "
    "default. `?format=csv` or `Accept: text/csv` streams every matching row as CSV.",
)
async def list_schedules(request: Request) -> Response:
    query = LIST_QUERY.parse_list(request)
    if query.csv:
        return csv_response(request, SPEC, query.values, query.paging, "vesting_schedules")
    return await list_response(request, SPEC, query.values, query.paging)


CLAIMS_SQL = """
    SELECT amount, ledger, tx_hash, claimed_at
    FROM vesting_claims
    WHERE contract_id = $1 AND schedule_id = $2
    ORDER BY ledger, event_id
"""


async def _schedule_state(
    conn: asyncpg.Connection, schedule_id: int, contract: str | None
) -> dict[str, Any]:
    row = await resolve_entity(
        conn, vesting_schedules, "schedule_id", schedule_id, contract, "schedule"
    )
    claims = await conn.fetch(CLAIMS_SQL, row["contract_id"], row["schedule_id"])
    schedule = Schedule.model_validate({c.key: row[c.key] for c in COLUMNS})
    return {
        "schedule": schedule.model_dump(mode="json"),
        "claims": [VestingClaim.model_validate(dict(c)).model_dump(mode="json") for c in claims],
        "terms": [
            int(row["total_amount"]),
            int(row["cliff_amount"]),
            int(row["start_time"]),
            int(row["cliff_duration"]),
            int(row["total_duration"]),
        ],
        "claimed": int(row["claimed_amount"]),
    }


async def _cached_state(
    res: AppResources, schedule_id: int, contract: str | None
) -> dict[str, Any]:
    async def compute() -> dict[str, Any]:
        async with res.reads.connection() as conn:
            return await _schedule_state(conn, schedule_id, contract)

    key = f"schedule:{contract or '*'}:{schedule_id}"
    state: dict[str, Any] = await res.cache.get_or_set("vesting", key, TTL_SCHEDULE, compute)
    return state


@router.get("/{id}", response_model=ScheduleDetail, summary="One schedule with its claims")
async def get_schedule(res: Resources, id: OnChainId, contract: ContractQuery = None) -> Response:
    state = await _cached_state(res, id, contract)
    return json_response(
        ScheduleDetail.model_validate({**state["schedule"], "claims": state["claims"]})
    )


def progress_of(state: dict[str, Any], now: int) -> VestingProgress:
    """The vesting contract's ``get_progress`` at ``now``, with the API's status rules.

    Active: the contract's formula. Revoked: ``total_amount`` was capped at
    what had vested at revocation, so all of it counts as vested, and nothing
    is claimable (the contract's ``claim`` refuses a revoked schedule). Fully
    claimed: everything vested and claimed.
    """
    schedule = state["schedule"]
    total = state["terms"][0]
    claimed = state["claimed"]
    status = schedule["status"]
    next_unlock = None
    if status == "active":
        terms: list[int] = state["terms"]
        original, cliff_amount, start, cliff_duration, total_duration = terms
        vested = vesting_vested(original, cliff_amount, start, cliff_duration, total_duration, now)
        claimable = max(0, vested - claimed)
        next_unlock = vesting_next_unlock(
            original, cliff_amount, start, cliff_duration, total_duration, now
        )
    else:
        vested = total
        claimable = 0
    percent = (vested * 1_000_000 // total) / 10_000 if total > 0 else 0.0
    return VestingProgress.model_validate(
        {
            "schedule_id": schedule["schedule_id"],
            "contract_id": schedule["contract_id"],
            "total_amount": total,
            "vested_amount": vested,
            "claimed_amount": claimed,
            "claimable_amount": claimable,
            "percent_vested": min(100.0, max(0.0, percent)),
            "status": status,
            "next_unlock_at": unix_time(next_unlock),
            "as_of": unix_time(now),
        }
    )


@router.get(
    "/{id}/progress",
    response_model=VestingProgress,
    summary="A schedule's vesting progress now",
    description="Vested, claimed and claimable amounts at request time with the vesting "
    "contract's formula (cliff, then linear, integer floor division), and the next second "
    "the vested amount grows.",
)
async def get_progress(
    res: Resources, now: Now, id: OnChainId, contract: ContractQuery = None
) -> Response:
    state = await _cached_state(res, id, contract)
    return json_response(progress_of(state, now))
