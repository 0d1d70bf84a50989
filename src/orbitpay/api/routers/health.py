"""``GET /health`` and ``GET /metrics``: what operators and load balancers poll.

Health answers 503 (with ``Retry-After``) only when the database cannot be
read (the API cannot serve anything then); a broken cache or RPC makes it
``degraded`` but still 200, since reads keep working. It reads through the
API's read pool, so it reports the path every route uses.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from orbitpay.api.deps import AppResources, Resources
from orbitpay.api.errors import RETRY_AFTER
from orbitpay.indexer import coverage
from orbitpay.observability.metrics import DB_UP, Role, registry_for

router = APIRouter(tags=["operations"])

# An indexer whose heartbeat is older than this is reported as stale.
HEARTBEAT_STALE_SECONDS = 120


class ComponentHealth(BaseModel):
    status: Literal["ok", "down", "degraded", "unknown", "disabled"]
    kind: str | None = None
    error: str | None = None


class HistoryGap(BaseModel):
    """Ledgers of a contract's history that are not indexed (from_ledger null: from its
    unknown first ledger)."""

    contract_id: str
    from_ledger: int | None
    to_ledger: int


# /health lists at most this many history gaps (all of them: GET /api/coverage).
HEALTH_GAPS_SHOWN = 50


class IndexerHealth(BaseModel):
    status: Literal["ok", "degraded", "down", "unknown"]
    last_ledger: int | None = None
    latest_ledger: int | None = None
    lag_ledgers: int | None = None
    lag_seconds: float | None = None
    heartbeat_at: datetime | None = None
    gap: dict[str, int] | None = None
    # Coverage of the contracts' history (GET /api/coverage has the details): complete when
    # every contract is indexed from its initialize ledger on without a hole.
    history_complete: bool | None = None
    history_gaps: list[HistoryGap] = []


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentHealth
    cache: ComponentHealth
    rpc: ComponentHealth
    indexer: IndexerHealth


CURSOR_SQL = """
    SELECT min(last_ledger) AS last_ledger,
           max(last_ledger_closed_at) AS closed_at,
           max(latest_ledger) AS latest_ledger
    FROM indexer_cursors
"""
STATUS_SQL = """
    SELECT rpc_status, rpc_error, rpc_latest_ledger, gap_from_ledger, gap_to_ledger, heartbeat_at
    FROM indexer_status ORDER BY name LIMIT 1
"""


async def _database(res: AppResources) -> tuple[ComponentHealth, dict[str, Any] | None]:
    """The database's health and the indexer's reported state (``None`` when it is down)."""
    cursor: asyncpg.Record | None = None
    status: asyncpg.Record | None = None
    history: list[coverage.ContractCoverage] = []
    try:
        async with asyncio.timeout(3):
            async with res.reads.connection() as conn:
                cursor = await conn.fetchrow(CURSOR_SQL)
                status = await conn.fetchrow(STATUS_SQL)
                history = coverage.assemble(
                    dict(r) for r in await conn.fetch(coverage.API_READ_SQL, None)
                )
    except Exception as exc:
        DB_UP.set(0)
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return ComponentHealth(status="down", error=message), None
    DB_UP.set(1)
    state = {"cursor": cursor, "status": status, "history": history}
    return ComponentHealth(status="ok", kind="postgresql"), state


def _indexer(state: dict[str, Any] | None) -> tuple[ComponentHealth, IndexerHealth]:
    if state is None:
        return ComponentHealth(status="unknown"), IndexerHealth(status="unknown")
    cursor, status = state["cursor"], state["status"]
    now = datetime.now(UTC)
    last = cursor["last_ledger"]
    latest = (status or {}).get("rpc_latest_ledger") or cursor["latest_ledger"]
    closed_at = cursor["closed_at"]
    lag_seconds = max(0.0, (now - closed_at).total_seconds()) if closed_at else None
    lag_ledgers = max(0, latest - last) if latest is not None and last is not None else None
    if status is None:
        rpc = ComponentHealth(status="unknown", error="no indexer has reported yet")
        indexer = IndexerHealth(status="unknown", last_ledger=last, latest_ledger=latest)
        return rpc, indexer
    reported = status["rpc_status"]
    rpc_status: Literal["ok", "down", "unknown"] = (
        "ok" if reported == "ok" else "down" if reported == "down" else "unknown"
    )
    rpc = ComponentHealth(status=rpc_status, error=status["rpc_error"])
    heartbeat = status["heartbeat_at"]
    stale = heartbeat is None or (now - heartbeat).total_seconds() > HEARTBEAT_STALE_SECONDS
    gap = None
    if status["gap_from_ledger"] is not None:
        gap = {"from_ledger": status["gap_from_ledger"], "to_ledger": status["gap_to_ledger"]}
    indexer_state: Literal["ok", "degraded", "down"] = (
        "down" if stale else ("degraded" if gap or rpc_status != "ok" else "ok")
    )
    history: list[coverage.ContractCoverage] = state["history"]
    gaps = [
        HistoryGap(contract_id=c.contract_id, from_ledger=lo, to_ledger=hi)
        for c in history
        for lo, hi in c.gaps
    ]
    return rpc, IndexerHealth(
        status=indexer_state,
        last_ledger=last,
        latest_ledger=latest,
        lag_ledgers=lag_ledgers,
        lag_seconds=round(lag_seconds, 3) if lag_seconds is not None else None,
        heartbeat_at=heartbeat,
        gap=gap,
        history_complete=all(c.history_complete for c in history) if history else None,
        history_gaps=gaps[:HEALTH_GAPS_SHOWN],
    )


CACHE_BYPASSED = (
    "not serving: its invalidation feed (PostgreSQL LISTEN) is down, so every request "
    "computes its answer until the listener is back"
)


def _cache_health(res: AppResources, reachable: bool) -> ComponentHealth:
    """``down``: the backend does not answer; ``degraded``: it does, but a per-process cache
    cannot hear of changes now (:mod:`orbitpay.notify`) and steps aside (slower, never stale)."""
    if not reachable:
        return ComponentHealth(status="down", kind=res.cache.kind)
    if not res.cache.serving:
        return ComponentHealth(status="degraded", kind=res.cache.kind, error=CACHE_BYPASSED)
    return ComponentHealth(status="ok", kind=res.cache.kind)


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "the database is down"}},
)
async def health(res: Resources) -> JSONResponse:
    (database, state), cache_ok = await asyncio.gather(_database(res), res.cache.ping())
    cache = _cache_health(res, cache_ok)
    rpc, indexer = _indexer(state)
    healthy = (
        database.status == "ok"
        and cache.status == "ok"
        and rpc.status == "ok"
        and indexer.status == "ok"
    )
    body = HealthResponse(
        status="ok" if healthy else "degraded",
        database=database,
        cache=cache,
        rpc=rpc,
        indexer=indexer,
    )
    if database.status != "ok":
        return JSONResponse(body.model_dump(mode="json"), 503, headers=RETRY_AFTER)
    return JSONResponse(body.model_dump(mode="json"))


async def _database_up(res: AppResources) -> None:
    """Set ``orbitpay_database_up`` from a ``SELECT 1`` through the read pool."""
    try:
        async with asyncio.timeout(3):
            async with res.reads.connection() as conn:
                await conn.fetchval("SELECT 1")
    except Exception:
        DB_UP.set(0)
        return
    DB_UP.set(1)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(res: Resources) -> Response:
    """The API's metrics (and the indexer's when this process runs it: ``orbitpay up``).

    The database and cache gauges are checked here, at each scrape: set only by
    ``/health`` they read 0 (down) on an API nobody health-checks, and stayed at
    their last value for as long as nobody did.
    """
    await asyncio.gather(_database_up(res), res.cache.ping())
    return Response(generate_latest(registry_for(Role.API)), media_type=CONTENT_TYPE_LATEST)
