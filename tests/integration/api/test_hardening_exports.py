"""Finding 1: stalled CSV downloads (and SSE readers) must not take the list routes down.

The attack: sockets ask for a large CSV export, read 100 bytes and stop reading.
Before the fix each export held a read-pool connection for the whole download,
so as many stalled readers as pool connections left every list route waiting.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_factories import BASE_UNIX, Factory, account, contract
from hardening_kit import copy_rows, raw_request, settings, wait_until
from live_server import serve
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.app import create_app
from orbitpay.api.server import uvicorn_options
from orbitpay.db.engine import create_engine

PAYROLL = contract("export-payroll")
ROWS = 30_000
CSV_GET = b"GET /api/streams?order=asc HTTP/1.1\r\nHost: t\r\nAccept: text/csv\r\n\r\n"


async def _many_streams(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await Factory(conn).stream(
            PAYROLL,
            0,
            sender=account("export-sender"),
            recipient=account("export-recipient"),
            token=contract("export-token"),
            total=10**12,
            start=BASE_UNIX,
            end=BASE_UNIX + 10**6,
        )
    await copy_rows(engine, "streams", "stream_id", ROWS)


@pytest.fixture
def live(clean_engine: AsyncEngine, database_url: str) -> Iterator[Any]:
    def start(**overrides: Any) -> Any:
        app = create_app(
            settings(api_read_connections=4, **overrides),
            engine=create_engine(database_url, pool_size=2),
        )
        return app, serve(app, **uvicorn_options(settings()))

    yield start


def _stall(base_url: str, n: int) -> list[socket.socket]:
    """``n`` export downloads that read 100 bytes and then nothing (tiny receive buffers)."""
    stalled = []
    for _ in range(n):
        sock, head = raw_request(base_url, CSV_GET, rcvbuf=4096, read=100)
        assert head.startswith(b"HTTP/1.1 200"), head
        stalled.append(sock)
    return stalled


async def test_stalled_csv_readers_leave_list_routes_answering(
    live: Any, clean_engine: AsyncEngine
) -> None:
    await _many_streams(clean_engine)
    app, server = live(export_concurrency=8, export_per_client=8, send_timeout=120)
    with server as base_url:
        stalled = _stall(base_url, 8)
        try:
            # Each export fills its socket's buffers (several MB) and then waits on its
            # client; until then the exports are busy reading, one batch at a time.
            reads = app.state.resources.reads
            await wait_until(
                lambda: bool(
                    reads.open_slots and reads.idle == reads.open_slots and reads.waiting == 0
                ),
                60,
            )
            assert app.state.exports.running == 8
            async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
                for path in ("/api/streams?limit=5", "/api/events?limit=5"):
                    started = time.monotonic()
                    response = await client.get(path)
                    assert response.status_code == 200, response.text
                    assert time.monotonic() - started < 2.0
            # The stalled exports hold no connection: every open one is idle.
            assert reads.open_slots == reads.idle and reads.waiting == 0
            assert app.state.exports.running == 8  # all still stalled, none finished
        finally:
            for sock in stalled:
                sock.close()


async def test_exports_are_capped_per_client_and_per_process(
    live: Any, clean_engine: AsyncEngine
) -> None:
    await _many_streams(clean_engine)
    app, server = live(export_concurrency=3, export_per_client=2, send_timeout=120)
    with server as base_url:
        stalled = _stall(base_url, 2)
        try:
            third, head = raw_request(base_url, CSV_GET, read=400)
            third.close()
            assert head.startswith(b"HTTP/1.1 429"), head
            assert b"retry-after" in head.lower()
            # Another client address (a trusted proxy's X-Forwarded-For is the only way
            # to have one on loopback) still gets the last process-wide slot.
            assert app.state.exports.running == 2
        finally:
            for sock in stalled:
                sock.close()


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    live: Any, clean_engine: AsyncEngine
) -> None:
    await _many_streams(clean_engine)
    app, server = live(export_concurrency=8, export_per_client=8, send_timeout=1.0)
    with server as base_url:
        stalled = _stall(base_url, 2)
        try:
            await wait_until(lambda: app.state.exports.running == 0, 10)
            assert app.state.exports.running == 0  # both dropped, slots back
            stalled[0].settimeout(5)
            data = b""
            while True:  # the server closed the connection: the download ends short
                chunk = stalled[0].recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            assert data.count(b"\r\n") < ROWS
        finally:
            for sock in stalled:
                sock.close()


async def test_sse_streams_are_capped_per_client(live: Any, clean_engine: AsyncEngine) -> None:
    app, server = live(stream_concurrency=10, stream_per_client=2)
    with server as base_url:
        request = b"GET /api/events/stream?cursor=0 HTTP/1.1\r\nHost: t\r\n\r\n"
        opened = [raw_request(base_url, request, read=12)[0] for _ in range(2)]
        try:
            third, head = raw_request(base_url, request, read=12)
            third.close()
            assert head.startswith(b"HTTP/1.1 429"), head
            # SSE polls take a connection per poll and give it back before sending.
            reads = app.state.resources.reads
            await asyncio.sleep(0.3)
            assert reads.waiting == 0
        finally:
            for sock in opened:
                sock.close()
