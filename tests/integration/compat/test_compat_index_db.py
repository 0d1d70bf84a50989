"""A protocol-22 style RPC (diagnostics, fee bumps, a pruned transaction) into a real database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.unit.compat.compat_kit import (
    PASSPHRASE,
    account,
    authorized,
    contract,
    contract_event,
    envelope,
    event_json,
    events_result,
    fn_call_diag,
    fn_return_diag,
    max_cursor,
    meta_v3,
    source_auth,
    tx_json,
)

from orbitpay.config import load_settings
from orbitpay.db.schema import discrepancies, events, vesting_schedules
from orbitpay.indexer.service import index_until_latest
from orbitpay.orgs import register_organization
from orbitpay.stellar import scval as sv

VESTING, PAYROLL, STRANGER, TOKEN = contract(3), contract(2), contract(9), contract(8)
GRANTOR, BENEFICIARY, RECIPIENT = account(4), account(5), account(6)
TX_CREATE, TX_CLAIM = "c1" * 32, "c2" * 32
LATEST, OLDEST = 120, 10


def _schedule_args() -> list[Any]:
    return [
        sv.address(GRANTOR),
        sv.address(BENEFICIARY),
        sv.address(TOKEN),
        sv.i128(4000),
        sv.u64(1_750_000_000),
        sv.u64(100),
        sv.i128(1000),
        sv.u64(400),
        sv.symbol("team"),
        sv.boolean(True),
    ]


def _chain() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    topics = [sv.symbol("v_create"), sv.address(GRANTOR), sv.address(BENEFICIARY)]
    value = sv.vec([sv.i128(4000), sv.u64(100), sv.u64(400)])
    ev = contract_event(VESTING, topics, value)
    diag = [
        fn_call_diag(VESTING, "create_schedule"),
        xdr_diag(ev),
        fn_return_diag(VESTING, "create_schedule"),
    ]
    root = authorized(VESTING, "create_schedule", _schedule_args())
    env = envelope(
        VESTING, "create_schedule", _schedule_args(), [source_auth(root)], fee_bump_by=20
    )
    txs = {
        TX_CREATE: tx_json(
            22,
            tx_hash=TX_CREATE,
            ledger=40,
            order=1,
            envelope_xdr=env,
            meta_xdr=meta_v3([ev], sv.u32(6), diag),
        )
    }
    common = {"ledger": 40, "tx": 1, "op": 0, "tx_hash": TX_CREATE}
    evs = [
        event_json(
            22,
            index=0,
            contract_id="",
            type_="diagnostic",
            topics=[sv.symbol("fn_call")],
            value=sv.void(),
            **common,
        ),
        event_json(22, index=1, contract_id=VESTING, topics=topics, value=value, **common),
        event_json(
            22,
            index=2,
            contract_id=VESTING,
            type_="diagnostic",
            topics=[sv.symbol("fn_return"), sv.symbol("create_schedule")],
            value=sv.u32(6),
            **common,
        ),
        event_json(
            22,
            ledger=41,
            tx=1,
            op=0,
            index=0,
            contract_id=STRANGER,
            tx_hash="dd" * 32,
            topics=[sv.symbol("v_create"), sv.address(GRANTOR), sv.address(BENEFICIARY)],
            value=value,
        ),
        event_json(
            22,
            ledger=42,
            tx=3,
            op=0,
            index=0,
            contract_id=PAYROLL,
            tx_hash=TX_CLAIM,
            topics=[sv.symbol("claim"), sv.address(RECIPIENT)],
            value=sv.i128(5),
        ),
    ]
    return evs, txs


def xdr_diag(ev: Any) -> Any:
    from stellar_sdk import xdr

    return xdr.DiagnosticEvent(in_successful_contract_call=True, event=ev)


class Rpc:
    def __init__(self) -> None:
        self.events, self.txs = _chain()
        self.filters: list[Any] = []

    def answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getNetwork":
            return {"passphrase": PASSPHRASE, "protocolVersion": 22, "friendbotUrl": ""}
        if method == "getHealth":
            return {
                "status": "healthy",
                "latestLedger": LATEST,
                "oldestLedger": OLDEST,
                "ledgerRetentionWindow": LATEST - OLDEST + 1,
            }
        if method == "getLatestLedger":
            return {"id": "00", "protocolVersion": 22, "sequence": LATEST}
        if method == "getEvents":
            self.filters.append(params["filters"])
            if params.get("pagination", {}).get("cursor"):
                return events_result([], latest=LATEST, oldest=OLDEST, cursor=max_cursor(LATEST))
            return events_result(
                self.events, latest=LATEST, oldest=OLDEST, cursor=max_cursor(LATEST)
            )
        if method == "getTransaction":
            tx = self.txs.get(params["hash"])
            if tx is None:
                return {
                    "status": "NOT_FOUND",
                    "latestLedger": LATEST,
                    "oldestLedger": OLDEST,
                    "latestLedgerCloseTime": "1",
                    "oldestLedgerCloseTime": "1",
                }
            return tx
        raise KeyError(method)

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        try:
            result = self.answer(body["method"], body.get("params") or {})
        except KeyError:
            return web.json_response(
                {
                    "jsonrpc": "2.0",
                    "id": body["id"],
                    "error": {"code": -32601, "message": "method not found"},
                }
            )
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})


@pytest.fixture
async def rpc_url() -> AsyncIterator[tuple[str, Rpc]]:
    rpc = Rpc()
    app = web.Application()
    app.router.add_post("/", rpc.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/", rpc
    await runner.cleanup()


async def test_protocol_22_rpc_into_database(
    clean_engine: AsyncEngine, database_url: str, rpc_url: tuple[str, Rpc]
) -> None:
    url, rpc = rpc_url
    async with clean_engine.begin() as conn:
        await register_organization(conn, "acme", {"vesting": VESTING, "payroll": PAYROLL})
    settings = load_settings(database_url=database_url, rpc_url=url)
    await index_until_latest(settings, clean_engine, url, reconcile_after=False, progress=False)

    assert all(f["type"] == "contract" for fs in rpc.filters for f in fs)
    async with clean_engine.connect() as conn:
        stored = (await conn.execute(select(events.c.id, events.c.contract_id))).all()
        schedules = (await conn.execute(select(vesting_schedules))).mappings().all()
        found = (await conn.execute(select(discrepancies))).mappings().all()
    # Only the contract events of registered contracts: no diagnostics, no stranger.
    assert sorted(c for _, c in stored) == sorted([VESTING, PAYROLL])
    # The fee-bumped create_schedule: id from the return value, fields from the inner call.
    assert [(s["schedule_id"], s["label"], int(s["total_amount"])) for s in schedules] == [
        (6, "team", 4000)
    ]
    # The claim whose transaction the RPC no longer has: recorded, not guessed.
    assert any(TX_CLAIM in (d["message"] or "") for d in found), found
