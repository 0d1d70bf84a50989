"""``GET /api/events/stream`` (Server-Sent Events) over real HTTP: new events, filters,
resume with ``Last-Event-ID`` / ``cursor``, keep-alives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from api_factories import Factory, contract
from live_server import serve
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import make_app
from orbitpay.api.routers import events as events_router
from orbitpay.db.engine import create_engine

A, B = contract("sse-a"), contract("sse-b")


@pytest.fixture
def live(clean_engine: AsyncEngine, database_url: str, monkeypatch: Any) -> Iterator[str]:
    monkeypatch.setattr(events_router, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(events_router, "KEEPALIVE_SECONDS", 0.3)
    engine = create_engine(database_url, pool_size=2)
    with serve(make_app(engine)) as base_url:
        yield base_url


async def _messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse the SSE stream into messages (``comment`` for ``:`` lines)."""
    message: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if message:
                yield message
            message = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(": ")
            message[field] = value


async def _take(response: httpx.Response, n: int, within: float = 10) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    async def read() -> None:
        async for message in _messages(response):
            if "id" in message:
                got.append(message)
                if len(got) == n:
                    return

    await asyncio.wait_for(read(), within)
    return got


async def test_stream_new_events_resume_and_filters(live: str, clean_engine: AsyncEngine) -> None:
    seqs: dict[int, int] = {}
    async with clean_engine.begin() as conn:
        f = Factory(conn, _event_seq=seqs)
        old = [await f.event(A, "deposit"), await f.event(B, "claim")]
    async with httpx.AsyncClient(base_url=live, timeout=10) as client:
        async with client.stream("GET", "/api/events/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")

            async def insert_later() -> list[dict[str, Any]]:
                await asyncio.sleep(0.2)
                async with clean_engine.begin() as conn:
                    f = Factory(conn, ledger=500, _event_seq=seqs)
                    return [await f.event(A, "deposit"), await f.event(B, "vote")]

            inserting = asyncio.create_task(insert_later())
            got = await _take(response, 2)
            new = await inserting
        assert [m["id"] for m in got] == [e["id"] for e in new]  # from the head: no old events
        body = json.loads(got[0]["data"])
        assert body["contract_id"] == A and body["type"] == "deposit" and body["id"] == new[0]["id"]

        # Resume after the first old event: the rest, in chain order.
        headers = {"Last-Event-ID": old[0]["id"]}
        async with client.stream("GET", "/api/events/stream", headers=headers) as response:
            got = await _take(response, 3)
        assert [m["id"] for m in got] == [old[1]["id"], new[0]["id"], new[1]["id"]]

        # ?cursor= works the same; filters by contract and type.
        url = f"/api/events/stream?cursor=0&contract={B}&type=vote"
        async with client.stream("GET", url) as response:
            got = await _take(response, 1)
        assert [m["id"] for m in got] == [new[1]["id"]]

        # Idle: keep-alive comments.
        async with client.stream("GET", "/api/events/stream") as response:
            comments: list[str] = []

            async def wait_keepalive() -> None:
                async for message in _messages(response):
                    if message.get("comment") == "keep-alive":
                        comments.append("keep-alive")
                        return

            await asyncio.wait_for(wait_keepalive(), 5)
        assert comments == ["keep-alive"]

        bad = await client.get("/api/events/stream?cursor=not-an-id")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_cursor"
        # The server keeps serving after clients went away.
        assert (await client.get("/api/events?limit=1")).status_code == 200
