"""``GET /api/discrepancies`` on rows written by the real reconciliation and by the store.

The demo devnet's payroll contract is bootstrapped from ledger state, one of its
streams is made wrong (as if an event had been missed), and ``reconcile`` runs
against the devnet: what it corrects must be listed with the indexed and the chain
value. Rows the store records without a correction (a gap) are the ``corrected=false``
side. The endpoint needs a ``write`` key.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.helpers import clean_env
from tests.e2e.test_indexer_helpers import register_devnet_orgs

from conftest import Api
from orbitpay.api.schemas import Discrepancy as DiscrepancyModel
from orbitpay.db.schema import streams
from orbitpay.devnet.server import DevnetHandle, start_background_devnet
from orbitpay.enums import DiscrepancyEntity, DiscrepancySource
from orbitpay.indexer import store
from orbitpay.indexer.bootstrap import bootstrap_contract
from orbitpay.indexer.model import Discrepancy
from orbitpay.indexer.reconcile import reconcile
from orbitpay.security.apikeys import create_key
from orbitpay.stellar.rpc import RpcClient

ORBITPAY = str(Path(sys.executable).parent / "orbitpay")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


@pytest.fixture(scope="module")
def demo() -> Iterator[DevnetHandle]:
    handle = start_background_devnet(scenario="demo", seed=1, live=False)
    yield handle
    handle.stop()


async def _keys(engine: AsyncEngine) -> dict[str, str]:
    async with engine.begin() as conn:
        write = await create_key(conn, "ops", "write")
        read = await create_key(conn, "dashboard", "read")
    return {"write": write.secret, "read": read.secret}


async def _reconciled(engine: AsyncEngine, demo: DevnetHandle) -> dict[str, Any]:
    """Bootstrap the payroll contract, break one stream, reconcile; what was broken."""
    chain = demo.chain
    await register_devnet_orgs(engine, chain)
    payroll = chain.organizations()[0]["contracts"]["payroll"]
    beyond = chain.latest_ledger + 1
    async with RpcClient(demo.url, max_retries=1) as rpc:
        await bootstrap_contract(engine, rpc, payroll, start_ledger=beyond)
        paid = [
            (sid, s)
            for (name, sid), s in sorted(chain.contracts[payroll].persistent.items(), key=str)
            if name == "Stream" and s["claimed_amount"] > 10
        ]
        # The second paid stream: ended on chain and its entry is live (test_bootstrap's pick).
        sid, chain_row = paid[1]
        async with engine.begin() as conn:
            # A stale, wrong row: as if its last claim and its end had been missed. Open
            # ("active"), so the reconciler reads it again.
            await conn.execute(
                update(streams)
                .where(streams.c.contract_id == payroll, streams.c.stream_id == sid)
                .values(
                    status="active", claimed_amount=chain_row["claimed_amount"] - 1, last_ledger=1
                )
            )
        report = await reconcile(engine, rpc, start_ledger=beyond)
    return {"payroll": payroll, "stream": sid, "chain": chain_row, "report": report}


async def _gap_rows(engine: AsyncEngine, contract: str) -> None:
    """Two uncorrected rows, recorded the way the indexer records a retention gap."""
    rows = [
        Discrepancy.of(
            DiscrepancySource.GAP,
            DiscrepancyEntity.CURSOR,
            f"ledgers {lo}..{lo + 9} were out of the RPC's retention window",
            contract_id=contract,
            ledger=lo,
        )
        for lo in (100, 200)
    ]
    async with engine.begin() as conn:
        await store.add_discrepancies(conn, rows)


async def test_lists_what_the_reconciler_corrected(
    api: Api, clean_engine: AsyncEngine, demo: DevnetHandle, database_url: str
) -> None:
    keys = await _keys(clean_engine)
    found = await _reconciled(clean_engine, demo)
    payroll, sid = found["payroll"], str(found["stream"])
    await _gap_rows(clean_engine, payroll)
    head = {"X-API-Key": keys["write"]}

    body = await api.json("/api/discrepancies", headers=head, params={"limit": 200})
    items = body["items"]
    assert body["next_cursor"] is None
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, reverse=True), "newest first"
    assert all(ISO_Z.match(i["detected_at"]) for i in items)
    # The rows' JSON is written by PostgreSQL (api/rowjson.py): the same as the model's.
    assert all(DiscrepancyModel.model_validate(i).model_dump(mode="json") == i for i in items)

    mine = await api.json(
        "/api/discrepancies",
        headers=head,
        params={"contract": payroll, "entity": "stream", "entity_id": sid, "corrected": "true"},
    )
    fields = {i["field"]: i for i in mine["items"]}
    assert "claimed_amount" in fields, mine
    row = fields["claimed_amount"]
    assert row["source"] == "reconcile" and row["corrected"] is True
    assert row["indexed_value"] == str(found["chain"]["claimed_amount"] - 1)
    assert row["chain_value"] == str(found["chain"]["claimed_amount"])
    assert row["contract_id"] == payroll and row["entity_id"] == sid
    # Each difference the reconciler reported is a row (nothing else touched this stream).
    reported = [f for f in found["report"].findings if f.entity_id == sid]
    assert sorted(f.field for f in reported) == sorted(fields)

    # The CLI lists the same rows.
    listed = await asyncio.to_thread(
        subprocess.run,
        [ORBITPAY, "discrepancies", "--json", "--contract", payroll, "--corrected"],
        env=clean_env(ORBITPAY_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    from_cli = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r for r in from_cli if r["entity_id"] == sid] == mine["items"]

    uncorrected = await api.json(
        "/api/discrepancies", headers=head, params={"corrected": "false", "source": "gap"}
    )
    assert [i["ledger"] for i in uncorrected["items"]] == [200, 100]
    assert all(i["corrected"] is False and i["entity"] == "cursor" for i in uncorrected["items"])
    every = await api.json("/api/discrepancies", headers=head, params={"corrected": "false"})
    assert all(i["corrected"] is False for i in every["items"])
    assert len(every["items"]) + sum(i["corrected"] for i in items) == len(items)


DECODE_CONTRACT = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"


async def _decode_rows(engine: AsyncEngine, n: int, message: str, extra: dict[str, str]) -> None:
    """``n`` decode discrepancies of one contract, ``message`` formatted with ``n``, details
    ``{"n": n, **extra}``, recorded as the indexer records them."""
    async with engine.begin() as conn:
        await store.add_discrepancies(
            conn,
            [
                Discrepancy.of(
                    DiscrepancySource.DECODE,
                    DiscrepancyEntity.EVENT,
                    message.format(n=i),
                    contract_id=DECODE_CONTRACT,
                    entity_id=i,
                    details={"n": i, **extra},
                )
                for i in range(n)
            ],
        )


async def test_pages_and_access(api: Api, clean_engine: AsyncEngine) -> None:
    keys = await _keys(clean_engine)
    await _decode_rows(clean_engine, 5, "event {n} could not be decoded", {})
    head = {"X-API-Key": keys["write"]}
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2, "order": "asc"}
        if cursor:
            params["cursor"] = cursor
        page = await api.json("/api/discrepancies", headers=head, params=params)
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and seen == sorted(seen)
    one = await api.json("/api/discrepancies", headers=head, params={"entity_id": "3"})
    assert [i["details"] for i in one["items"]] == [{"n": 3}]

    assert (await api.get("/api/discrepancies")).status_code == 401
    read = await api.get("/api/discrepancies", headers={"X-API-Key": keys["read"]})
    assert read.status_code == 403
    bad = await api.get("/api/discrepancies", headers=head, params={"entity": "Stream;--"})
    assert bad.status_code == 422
    bad = await api.get("/api/discrepancies", headers=head, params={"contract": "nope"})
    assert bad.status_code == 422


async def test_csv_both_ways_with_details_as_json(api: Api, clean_engine: AsyncEngine) -> None:
    keys = await _keys(clean_engine)
    await _decode_rows(clean_engine, 3, "event {n}, with a comma", {"why": 'a "quoted" reason'})
    head = {"X-API-Key": keys["write"]}
    page = await api.json("/api/discrepancies", headers=head, params={"order": "asc"})
    as_csv = {"order": "asc", "format": "csv"}
    by_param = await api.get("/api/discrepancies", headers=head, params=as_csv)
    by_header = await api.get(
        "/api/discrepancies", headers={**head, "Accept": "text/csv"}, params={"order": "asc"}
    )
    assert by_param.headers["content-type"].startswith("text/csv")
    bodies = [by_param.text, by_header.text]
    assert bodies[0] == bodies[1]
    rows = list(csv.DictReader(io.StringIO(bodies[0])))
    assert [r["id"] for r in rows] == [str(i["id"]) for i in page["items"]]
    assert [r["message"] for r in rows] == [i["message"] for i in page["items"]]
    assert [json.loads(r["details"]) for r in rows] == [i["details"] for i in page["items"]]
    assert rows[0]["corrected"] == "false"
    # The operator's view stays behind a write key in CSV too.
    assert (await api.get("/api/discrepancies?format=csv")).status_code == 401
