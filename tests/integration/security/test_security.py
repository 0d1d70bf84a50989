"""Rate limiting (in-process and Redis) and API keys over the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.app import create_app
from orbitpay.cache import Cache, RedisBackend
from orbitpay.config import load_settings
from orbitpay.security.apikeys import create_key
from orbitpay.security.ratelimit import RedisRateLimiter

PAYROLL = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.fixture
async def make_client(clean_engine: AsyncEngine, database_url: str) -> AsyncIterator[object]:
    opened: list[AsyncIterator[httpx.AsyncClient]] = []

    async def make(**settings: object) -> httpx.AsyncClient:
        app = create_app(load_settings(database_url=database_url, **settings), engine=clean_engine)
        gen = _client(app)
        opened.append(gen)
        return await gen.__anext__()

    yield make
    for gen in opened:
        await gen.aclose()


async def _key(engine: AsyncEngine, scope: str) -> str:
    async with engine.begin() as conn:
        return (await create_key(conn, f"test-{scope}", scope)).secret


async def test_rate_limit_headers_and_429(make_client: object) -> None:
    client: httpx.AsyncClient = await make_client(rate_limit="3/minute")  # type: ignore[operator]
    seen = []
    for _ in range(3):
        response = await client.get("/api/keys")  # any /api path counts; 401 is fine
        seen.append(response.headers["X-RateLimit-Remaining"])
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert int(response.headers["X-RateLimit-Reset"]) <= 60
    assert seen == ["2", "1", "0"]
    limited = await client.get("/api/keys")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    # Health and metrics stay reachable for load balancers and Prometheus.
    assert (await client.get("/health")).status_code == 200


async def test_redis_limiter_shared_state_and_escalation(
    redis_url: str, redis_keyspace: str
) -> None:
    backend = RedisBackend(redis_url)
    try:
        limiter = RedisRateLimiter(backend.client, limit=2, window=60, prefix=f"{redis_keyspace}:t")
        other = RedisRateLimiter(backend.client, limit=2, window=60, prefix=limiter._prefix)
        assert (await limiter.hit("ip")).remaining == 1
        assert (await other.hit("ip")).remaining == 0  # a second worker sees the same count
        first = await limiter.hit("ip")
        assert not first.allowed and 1 <= first.reset_after <= 60
        still = await other.hit("ip")
        assert not still.allowed
    finally:
        await Cache(backend).close()


async def test_writes_need_a_write_key(make_client: object, clean_engine: AsyncEngine) -> None:
    client: httpx.AsyncClient = await make_client()  # type: ignore[operator]
    body = {"name": "acme", "payroll": PAYROLL}
    missing = await client.post("/api/organizations", json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    bogus = await client.post("/api/organizations", json=body, headers={"X-API-Key": "opk_x_y"})
    assert bogus.status_code == 401

    read_key = await _key(clean_engine, "read")
    forbidden = await client.post("/api/organizations", json=body, headers={"X-API-Key": read_key})
    assert forbidden.status_code == 403

    write_key = await _key(clean_engine, "write")
    created = await client.post("/api/organizations", json=body, headers={"X-API-Key": write_key})
    assert created.status_code == 201, created.text
    assert created.json()["contracts"]["payroll"] == [PAYROLL]

    bad = await client.post(
        "/api/organizations",
        json={"name": "x", "vesting": "nope"},
        headers={"X-API-Key": write_key},
    )
    assert bad.status_code == 422
    taken = await client.post(
        "/api/organizations",
        json={"name": "y", "vesting": PAYROLL},
        headers={"X-API-Key": write_key},
    )
    assert taken.status_code == 409


async def test_key_lifecycle_rotation_and_revocation(
    make_client: object, clean_engine: AsyncEngine
) -> None:
    client: httpx.AsyncClient = await make_client(require_api_key=True)  # type: ignore[operator]
    admin = {"X-API-Key": await _key(clean_engine, "write")}
    assert (await client.get("/api/keys")).status_code == 401

    created = await client.post("/api/keys", json={"name": "dash", "scope": "read"}, headers=admin)
    assert created.status_code == 201
    key_id, old_secret = created.json()["id"], created.json()["key"]
    listed = await client.get("/api/keys", headers=admin)
    assert key_id in [k["id"] for k in listed.json()]
    assert old_secret not in listed.text

    rotated = await client.post(f"/api/keys/{key_id}/rotate", headers=admin)
    assert rotated.status_code == 200
    new_secret = rotated.json()["key"]
    assert new_secret != old_secret
    from orbitpay.security.apikeys import KeyVerifier

    verifier = KeyVerifier(clean_engine)
    assert (await verifier.verify(new_secret)) is not None
    assert (await verifier.verify(old_secret)) is not None  # grace period

    assert (await client.delete(f"/api/keys/{key_id}", headers=admin)).status_code == 204
    assert (await KeyVerifier(clean_engine).verify(new_secret)) is None
    assert (await client.delete(f"/api/keys/{key_id}", headers=admin)).status_code == 404
    assert (await client.post("/api/keys/zz/rotate", headers=admin)).status_code == 422
