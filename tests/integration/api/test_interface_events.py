"""Raw event values in ``/api/events``, its SSE stream and its CSV: 64-bit and wider
integers are decimal strings (by SCVal type), u32/i32 numbers; the stored JSON is untouched."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_factories import Factory, account, contract
from live_server import serve
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import Api, make_app
from orbitpay.api.routers import events as events_router
from orbitpay.contracts.registry import decode_event
from orbitpay.db.engine import create_engine
from orbitpay.stellar import scval

TREASURY = contract("iface-treasury")
PAYROLL = contract("iface-payroll")
FROM = account("iface-from")
BIG = 2**100 + 7  # an i128 amount far beyond 2**53
U64 = 2**60 + 1


async def _indexed(f: Factory, kind: str, contract_id: str, topics: list[Any], value: Any) -> str:
    """Insert an event as the indexer stores it: the XDR and ``decode_event``'s JSON."""
    topics_xdr = [scval.to_b64(t) for t in topics]
    value_xdr = scval.to_b64(value)
    decoded = decode_event(kind, topics_xdr, value_xdr)
    row = await f.event(
        contract_id,
        decoded.type,
        topics=decoded.topics,
        value=decoded.value,
        topics_xdr=topics_xdr,
        value_xdr=value_xdr,
        recognised=decoded.recognised,
    )
    return str(row["id"])


async def _seed(engine: AsyncEngine) -> dict[str, str]:
    async with engine.begin() as conn:
        f = Factory(conn)
        deposit = await _indexed(
            f,
            "treasury",
            TREASURY,
            [scval.symbol("deposit"), scval.address(FROM)],
            scval.i128(BIG),
        )
        # An unknown event with a map value: u64 inside a map, u32, a negative i128 in a vec.
        unknown = await _indexed(
            f,
            "payroll",
            PAYROLL,
            [scval.symbol("future"), scval.u64(U64), scval.u32(7)],
            scval.map_(
                {
                    scval.symbol("when"): scval.u64(5),
                    scval.symbol("amounts"): scval.vec([scval.i128(-BIG), scval.u32(3)]),
                }
            ),
        )
    return {"deposit": deposit, "unknown": unknown}


EXPECTED = {
    "deposit": (["deposit", FROM], str(BIG)),
    "unknown": (["future", str(U64), 7], {"amounts": [str(-BIG), 3], "when": "5"}),
}


async def test_list_renders_wide_integers_as_strings(api: Api) -> None:
    ids = await _seed(api.engine)
    body = await api.json("/api/events?order=asc")
    by_id = {item["id"]: item for item in body["items"]}
    for name, (topics, value) in EXPECTED.items():
        item = by_id[ids[name]]
        assert item["topics"] == topics, name
        assert item["value"] == value, name
    # The stored JSON (what the indexer wrote and queries use) keeps its numbers.
    async with api.engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT value FROM events WHERE id = :id"), {"id": ids["deposit"]}
            )
        ).scalar_one()
    assert stored == BIG


async def test_unreadable_xdr_falls_back_to_the_magnitude_rule(api: Api) -> None:
    async with api.engine.begin() as conn:
        f = Factory(conn)
        row = await f.event(
            TREASURY,
            "deposit",
            topics=["deposit", 2**53 - 1, -(2**53)],
            value=[2**53, 12],
            topics_xdr=["not base64 xdr"],
            value_xdr="AAAA",
        )
    [item] = (await api.json("/api/events"))["items"]
    assert item["id"] == row["id"]
    assert item["topics"] == ["deposit", 2**53 - 1, str(-(2**53))]
    assert item["value"] == [str(2**53), 12]


async def test_csv_of_events_by_format_and_by_accept(api: Api) -> None:
    ids = await _seed(api.engine)
    for query, headers in (("format=csv", {}), ("", {"Accept": "text/csv"})):
        response = await api.get(f"/api/events?order=asc&{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = {r["id"]: r for r in csv.DictReader(io.StringIO(response.text))}
        for name, (topics, value) in EXPECTED.items():
            row = rows[ids[name]]
            assert json.loads(row["topics"]) == topics
            assert json.loads(row["value"]) == value
        assert rows[ids["deposit"]]["topic_symbols"] == "deposit"
        assert rows[ids["deposit"]]["recognised"] == "true"
    # An explicit format=json wins over the header.
    page = await api.get("/api/events?format=json", headers={"Accept": "text/csv"})
    assert page.headers["content-type"].startswith("application/json")
    assert (await api.get("/api/events?format=xml")).status_code == 422


@pytest.fixture
def live(clean_engine: AsyncEngine, database_url: str, monkeypatch: Any) -> Iterator[str]:
    monkeypatch.setattr(events_router, "POLL_SECONDS", 0.05)
    engine = create_engine(database_url, pool_size=2)
    with serve(make_app(engine)) as base_url:
        yield base_url


async def test_stream_renders_wide_integers_as_strings(
    live: str, clean_engine: AsyncEngine
) -> None:
    ids = await _seed(clean_engine)
    got: dict[str, Any] = {}

    async def read(response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                got[event["id"]] = event
                if len(got) == len(ids):
                    return

    async with httpx.AsyncClient(base_url=live, timeout=10) as client:
        async with client.stream("GET", "/api/events/stream?cursor=0") as response:
            assert response.status_code == 200
            await asyncio.wait_for(read(response), 10)
    for name, (topics, value) in EXPECTED.items():
        assert got[ids[name]]["topics"] == topics
        assert got[ids[name]]["value"] == value
