"""/health on a real PostgreSQL server that we stop and start again.

The server is an embedded one in a temporary directory, so stopping it does
not disturb other tests sharing the machine's PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orbitpay.api.app import create_app
from orbitpay.config import load_settings
from orbitpay.db.embedded import EmbeddedPostgres
from orbitpay.db.engine import async_url
from orbitpay.db.migrate import upgrade


@pytest.fixture
async def client_for() -> AsyncIterator[object]:
    """Open an ASGI client with the app's lifespan running."""
    contexts: list[object] = []

    async def open_client(app: FastAPI) -> httpx.AsyncClient:
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        contexts.append((lifespan, client))
        return client

    yield open_client
    for lifespan, client in reversed(contexts):  # type: ignore[misc]
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _cache_status(client: httpx.AsyncClient, want: str) -> dict[str, Any]:
    """/health's cache component once its status is ``want`` (polled for up to 15 s)."""
    for _ in range(150):
        cache: dict[str, Any] = (await client.get("/health")).json()["cache"]
        if cache["status"] == want:
            return cache
        await asyncio.sleep(0.1)
    raise AssertionError(f"cache status still {cache['status']!r}, not {want!r}: {cache}")


async def test_health_ok_then_503_when_database_stops_then_ok(
    tmp_path: Path, client_for: object
) -> None:
    embedded = EmbeddedPostgres(tmp_path)
    url = async_url(embedded.start())
    try:
        upgrade(url)
        app = create_app(load_settings(database_url=url), database_url=url)
        client: httpx.AsyncClient = await client_for(app)  # type: ignore[operator]

        ok = await client.get("/health")
        assert ok.status_code == 200
        body = ok.json()
        assert body["database"]["status"] == "ok"
        assert body["cache"] == {"status": "ok", "kind": "memory", "error": None}
        assert set(body["indexer"]) >= {
            "last_ledger",
            "latest_ledger",
            "lag_ledgers",
            "lag_seconds",
        }

        # A list read leaves a pooled connection idle, to be broken by the restart.
        assert (await client.get("/api/streams")).status_code == 200

        embedded.stop()
        down = await client.get("/health")
        assert down.status_code == 503
        assert down.json()["database"]["status"] == "down"
        assert down.json()["status"] == "degraded"
        # The per-process cache's invalidation feed (LISTEN on that server) is gone with it:
        # the cache steps aside and /health says so.
        cache = await _cache_status(client, "degraded")
        assert cache["kind"] == "memory" and "LISTEN" in cache["error"]
        listed = await client.get("/api/streams")
        assert listed.status_code == 503
        assert listed.json()["error"]["code"] == "service_unavailable"

        embedded.start()
        back = await client.get("/health")
        assert back.status_code == 200
        assert back.json()["database"]["status"] == "ok"
        # The connection broken by the restart is dropped, not handed out: no 503 now.
        assert (await client.get("/api/streams")).status_code == 200
        # The listener reconnects on its own (backoff up to 5 s) and the cache serves again.
        assert (await _cache_status(client, "ok"))["error"] is None
    finally:
        embedded.stop()


async def test_unknown_path_and_bad_method_use_the_error_format(
    database_url: str, client_for: object
) -> None:
    app = create_app(load_settings(database_url=database_url), database_url=database_url)
    client: httpx.AsyncClient = await client_for(app)  # type: ignore[operator]
    missing = await client.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    wrong = await client.delete("/health")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "orbitpay_http_requests_total" in metrics.text
