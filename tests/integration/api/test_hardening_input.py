"""Findings 2 and 7 (and the header limit): hostile request bodies, headers and values.

- 2: a huge body was read whole, before the API key was checked.
- 7: a NUL byte gave 500/503 and broke SSE, forged cursors gave 500, ``admin`` took any
  string, the cursor key came from the database URL. (SQLSTATE 57P03 during a
  PostgreSQL start is a 503 with ``Retry-After``: ``test_api_errors.py``
  ``test_a_database_starting_up_is_a_503_with_retry_after``.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs installed
import pytest
from hardening_kit import SECRET, free_port, raw_request, settings
from live_server import serve
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import ADMIN, Api
from orbitpay.api.app import create_app
from orbitpay.api.pagination import CursorCodec, derive_key, scope_of
from orbitpay.api.server import uvicorn_options
from orbitpay.config import ConfigError, load_settings
from orbitpay.db.engine import create_engine
from orbitpay.security.apikeys import create_key
from orbitpay.service import run_service

HUGE = 400 * 1024 * 1024


@pytest.fixture
def live(clean_engine: AsyncEngine, database_url: str) -> Iterator[str]:
    app = create_app(settings(), engine=create_engine(database_url, pool_size=2))
    with serve(app, **uvicorn_options(settings())) as base_url:
        yield base_url


async def _write_key(engine: AsyncEngine) -> str:
    async with engine.begin() as conn:
        return (await create_key(conn, "hardening-writer", "write")).secret


def _post_huge(base_url: str, key: str | None, results: list[tuple[bytes, int]]) -> None:
    """Announce a 400 MB body, read the answer, then try to push the body anyway."""
    auth = f"X-API-Key: {key}\r\n" if key else ""
    head = (
        "POST /api/organizations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {HUGE}\r\n\r\n"
    ).encode()
    sock, answer = raw_request(base_url, head, read=12, timeout=5)
    pushed = 0
    chunk = b"x" * (1 << 20)
    try:
        sock.settimeout(2)
        while pushed < HUGE:
            sock.sendall(chunk)
            pushed += len(chunk)
    except OSError:
        pass  # the server closed the connection: the body is not wanted
    finally:
        sock.close()
    results.append((answer, pushed))


def _peak_rss_during(work: Any) -> int:
    """Run ``work()`` and return the peak growth of this process's RSS (server included)."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return int(peak - base)


async def test_a_400mb_body_is_refused_unread(live: str, clean_engine: AsyncEngine) -> None:
    key = await _write_key(clean_engine)
    results: list[tuple[bytes, int]] = []

    def attack() -> None:
        threads = [
            threading.Thread(target=_post_huge, args=(live, k, results)) for k in (None, key, key)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    growth = _peak_rss_during(attack)
    assert growth < 50 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MB"
    answers = sorted(a for a, _ in results)
    # 413 from Content-Length alone, key or not: no byte of the body was needed.
    assert answers == [b"HTTP/1.1 413"] * 3, answers
    assert all(pushed < HUGE for _, pushed in results)


async def test_a_chunked_body_is_cut_at_the_limit(live: str, clean_engine: AsyncEngine) -> None:
    key = await _write_key(clean_engine)
    head = (
        "POST /api/organizations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {key}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    sock, _ = raw_request(live, head, timeout=5)
    chunk = b"x" * 16384
    answer = b""
    try:
        for _ in range(64):  # 1 MiB announced in pieces; the limit is 64 KiB
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    except OSError:
        pass
    try:
        answer = sock.recv(200)
    except OSError:
        pass
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer


async def test_the_key_is_checked_before_the_body_is_read(live: str) -> None:
    head = (
        b"POST /api/keys HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-API-Key: opk_nope_nope\r\nContent-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    sock, answer = raw_request(live, head, read=12, timeout=5)  # the body is never sent
    sock.close()
    assert answer == b"HTTP/1.1 401" and time.monotonic() - started < 2


async def test_oversized_headers_are_refused_by_the_server(live: str) -> None:
    # Headers that keep coming: h11 refuses them once 16 KiB are buffered unfinished.
    big = b"GET /api/streams HTTP/1.1\r\nHost: t\r\nX-Filler: " + b"a" * 20_000
    sock, answer = raw_request(live, big, read=12, timeout=5)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 4"), answer
    async with httpx.AsyncClient(timeout=5) as client:
        ok = await client.get(f"{live}/api/streams", headers={"X-Filler": "a" * 8000})
    assert ok.status_code == 200


async def test_nul_in_query_values_is_a_422_naming_the_parameter(api: Api) -> None:
    for path in ("/api/events?type=%00", "/api/events/stream?type=a%00b", "/api/streams?x=%00"):
        response = await api.get(path)
        assert response.status_code == 422, (path, response.text)
        body = response.json()["error"]
        assert body["code"] == "invalid_input"
        assert body["details"][0]["name"] == path.split("?")[1].split("=")[0]
        assert "NUL" in body["message"]


async def test_nul_and_bad_addresses_in_bodies_are_422(api: Api, clean_engine: AsyncEngine) -> None:
    key = {"X-API-Key": await _write_key(clean_engine)}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "acme\x00"}, "name"),
        ({"name": "acme", "admin": "not-a-strkey"}, "admin"),
        ({"name": "acme", "admin": ADMIN[:-1] + ("A" if ADMIN[-1] != "A" else "B")}, "admin"),
        ({"name": "acme", "admin": "G" * 60_000}, "admin"),
        ({"name": "acme", "treasury": "C" * 56}, "treasury"),
    ]
    for body, field in cases:
        response = await api.client.post("/api/organizations", json=body, headers=key)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["details"][0]["name"] == field
    nul_key = await api.client.post("/api/keys", json={"name": "\x00"}, headers=key)
    assert nul_key.status_code == 422
    too_big = await api.client.post(
        "/api/organizations", json={"name": "acme", "admin": "G" * 2_000_000}, headers=key
    )
    assert too_big.status_code == 413
    fine = await api.client.post("/api/organizations", json={"name": "acme", "admin": ADMIN})
    assert fine.status_code == 401  # and nothing was stored for the refused ones
    listed = await api.json("/api/organizations")
    assert listed["items"] == []


def _forged(endpoint: str, key: list[Any]) -> str:
    return CursorCodec(derive_key(SECRET)).encode(scope_of(endpoint, {}, "desc"), key)


async def test_forged_cursors_are_400_or_422_never_500(clean_engine: AsyncEngine) -> None:
    app = create_app(settings(), engine=clean_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            overflow = await client.get(
                "/api/streams", params={"cursor": _forged("streams", [2**70, 1, "x"])}
            )
            assert overflow.status_code == 400
            assert overflow.json()["error"]["code"] == "bad_cursor"
            huge_text = await client.get(
                "/api/events", params={"cursor": _forged("events", [1, "x" * 300])}
            )
            assert huge_text.status_code == 400
            # Signed text PostgreSQL cannot store is a data error: 422, not 500/503.
            nul = await client.get("/api/events", params={"cursor": _forged("events", [1, "\x00"])})
            assert nul.status_code == 422, nul.text


def test_the_cursor_secret_is_required_with_an_external_database(database_url: str) -> None:
    configured = load_settings(database_url=database_url, cursor_secret=None)
    with pytest.raises(ConfigError, match="ORBITPAY_CURSOR_SECRET"):
        configured.require_cursor_secret()
    with pytest.raises(ConfigError, match="ORBITPAY_CURSOR_SECRET"):
        run_service(configured, with_api=True, with_indexer=False, port=0)
    embedded = load_settings(database_url=None, cursor_secret=None)
    assert embedded.require_cursor_secret() is None
    assert load_settings(database_url=database_url, cursor_secret=SECRET).require_cursor_secret()


async def test_a_write_while_the_database_is_away_is_a_503() -> None:
    """The key of a body request is checked in a middleware: an outage is still a 503."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    app = create_app(settings(), database_url=url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/organizations", json={"name": "x"}, headers={"X-API-Key": "opk_ab_cd"}
            )
    assert response.status_code == 503 and response.headers["retry-after"]
