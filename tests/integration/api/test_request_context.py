"""Request ids and the access log, through the real logging pipeline.

``configure_logging`` is called as the service calls it; the root handler's
stream is swapped for a buffer, so what is asserted is the JSON a deployment
would write. The app is the real one (``create_app``) on the run's database,
plus two routes of the test's own that log (through structlog and through a
plain standard-library logger, as a library would) and fail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.logcapture import Lines, json_log_lines

from orbitpay.api.app import create_app
from orbitpay.cache import Cache, MemoryBackend
from orbitpay.config import ConfigError, load_settings
from orbitpay.observability.logging import get_logger

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The JSON lines the process writes from here on (``configure_logging`` as in service)."""
    with json_log_lines() as read:
        yield read


def build_app(engine: AsyncEngine, **overrides: Any) -> FastAPI:
    settings = load_settings(
        rate_limit="1000000/second", require_api_key=False, trusted_proxies="127.0.0.1", **overrides
    )
    app = create_app(settings, engine=engine, cache=Cache(MemoryBackend()))
    log = get_logger("tests.request_context")
    library = logging.getLogger("tests.some_library")

    @app.get("/api/test/talk")
    async def talk() -> dict[str, str]:
        log.info("route_says_hello")
        library.warning("a library line, %s", "formatted by the stdlib")
        return {"ok": "yes"}

    @app.get("/api/test/boom")
    async def boom() -> None:
        log.info("about_to_fail")
        raise RuntimeError("boom")

    return app


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        # Unhandled errors are answered by the app (500), not re-raised into the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture
async def client(clean_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(build_app(clean_engine)):
        yield c


def during(lines: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("request_id") == request_id]


async def test_every_line_of_a_request_carries_the_response_header_id(
    client: httpx.AsyncClient, log_lines: Lines
) -> None:
    first = await client.get("/api/test/talk")
    second = await client.get("/api/test/talk")
    assert first.status_code == second.status_code == 200
    ids = [r.headers["x-request-id"] for r in (first, second)]
    assert all(HEX_ID.fullmatch(i) for i in ids) and ids[0] != ids[1]

    lines = log_lines()
    # Every line written while the requests ran belongs to one of them.
    assert {line.get("request_id") for line in lines} == set(ids), lines
    for request_id in ids:
        mine = during(lines, request_id)
        assert [line["event"] for line in mine] == [
            "route_says_hello",
            "a library line, formatted by the stdlib",
            "http_request",
        ]
    # Bound for the request only: nothing is left in the context afterwards.
    assert structlog.contextvars.get_contextvars() == {}


async def test_an_unhandled_error_keeps_the_id_in_header_and_lines(
    client: httpx.AsyncClient, log_lines: Lines
) -> None:
    response = await client.get("/api/test/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    request_id = response.headers["x-request-id"]
    mine = during(log_lines(), request_id)
    events = [line["event"] for line in mine]
    assert events[:2] == ["about_to_fail", "unhandled_error"], mine
    assert "RuntimeError: boom" in mine[1]["exception"]
    access = [line for line in mine if line["event"] == "http_request"]
    assert len(access) == 1 and access[0]["status"] == 500
    assert access[0]["route"] == "/api/test/boom"


@pytest.mark.parametrize(
    "incoming",
    ["3f1c2a9e-7b7d-4a53-9d1e-5d0c6b0b8a11", "lb-7f3a:42", "a" * 128, "Trace.ID_01/x+y=@z"],
)
async def test_a_sane_incoming_request_id_is_kept(
    client: httpx.AsyncClient, log_lines: Lines, incoming: str
) -> None:
    response = await client.get("/api/test/talk", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming
    assert len(during(log_lines(), incoming)) == 3


@pytest.mark.parametrize(
    "incoming",
    [
        "a" * 129,  # too long
        "two words",
        'quote"d',
        "-leading-dash",
        "",
        '{"event": "forged"}',
        "caf\u00e9",  # not ASCII
    ],
)
async def test_an_insane_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, log_lines: Lines, incoming: str
) -> None:
    response = await client.get(
        "/api/test/talk", headers=[(b"x-request-id", incoming.encode("utf-8"))]
    )
    request_id = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(request_id), request_id
    lines = log_lines()
    assert len(during(lines, request_id)) == 3
    assert not any(line.get("request_id") == incoming for line in lines)


async def test_the_access_line_has_its_fields(
    client: httpx.AsyncClient, clean_engine: AsyncEngine, log_lines: Lines
) -> None:
    # The client address as the API resolves it (security.clientip): the peer here is
    # 127.0.0.1, a trusted proxy in build_app, so its X-Forwarded-For names the client.
    response = await client.get(
        "/api/streams/no-such-id", headers={"X-Forwarded-For": "203.0.113.7"}
    )
    request_id = response.headers["x-request-id"]
    (access,) = [
        line for line in during(log_lines(), request_id) if line["event"] == "http_request"
    ]
    assert access["logger"] == "orbitpay.access" and access["level"] == "info"
    assert access["method"] == "GET"
    assert access["route"] == "/api/streams/{id}"  # the template, not the path
    assert access["status"] == response.status_code
    assert isinstance(access["duration_ms"], float) and 0 <= access["duration_ms"] < 10_000
    assert access["client_ip"] == "203.0.113.7"
    assert "timestamp" in access


async def test_unmatched_paths_are_not_copied_into_the_log(
    client: httpx.AsyncClient, log_lines: Lines
) -> None:
    response = await client.get("/no/such/%22path%22")
    assert response.status_code == 404
    (access,) = [line for line in log_lines() if line["event"] == "http_request"]
    assert access["route"] == "unmatched" and access["status"] == 404


async def test_access_log_off_keeps_request_ids(
    clean_engine: AsyncEngine, log_lines: Lines
) -> None:
    app = build_app(clean_engine, access_log=False)
    async for client in client_for(app):
        response = await client.get("/api/test/talk")
        failed = await client.get("/api/test/boom")
    lines = log_lines()
    assert not [line for line in lines if line["event"] == "http_request"]
    assert len(during(lines, response.headers["x-request-id"])) == 2
    assert during(lines, failed.headers["x-request-id"])


async def test_sampling_keeps_a_fraction_and_every_5xx(
    clean_engine: AsyncEngine, log_lines: Lines
) -> None:
    app = build_app(clean_engine, access_log_sample=0.5)
    async for client in client_for(app):
        for _ in range(200):
            await client.get("/api/test/talk")
        for _ in range(5):
            await client.get("/api/test/boom")
    access = [line for line in log_lines() if line["event"] == "http_request"]
    ok = [line for line in access if line["status"] == 200]
    # Binomial(200, 0.5): outside 60..140 with probability below 1e-8.
    assert 60 <= len(ok) <= 140, len(ok)
    assert len([line for line in access if line["status"] == 500]) == 5


async def test_sample_zero_writes_only_5xx_lines(
    clean_engine: AsyncEngine, log_lines: Lines
) -> None:
    app = build_app(clean_engine, access_log_sample=0)
    async for client in client_for(app):
        for _ in range(20):
            await client.get("/api/test/talk")
        await client.get("/api/test/boom")
    access = [line for line in log_lines() if line["event"] == "http_request"]
    assert [line["status"] for line in access] == [500]


def test_access_log_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORBITPAY_ACCESS_LOG", "off")
    monkeypatch.setenv("ORBITPAY_ACCESS_LOG_SAMPLE", "0.25")
    settings = load_settings()
    assert settings.access_log is False and settings.access_log_sample == 0.25
    monkeypatch.setenv("ORBITPAY_ACCESS_LOG", "on")
    assert load_settings().access_log is True
    monkeypatch.setenv("ORBITPAY_ACCESS_LOG_SAMPLE", "1.5")
    with pytest.raises(ConfigError, match="ORBITPAY_ACCESS_LOG_SAMPLE"):
        load_settings()
