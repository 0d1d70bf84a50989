"""Database failures as HTTP answers (``api/errors.py``): 503 only when the database is away.

A server that is starting up is played by a small TCP server speaking just
enough of PostgreSQL's protocol to refuse the session with SQLSTATE 57P03,
so the whole path (read pool, route, error handler) runs as in production.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from hardening_kit import free_port
from sqlalchemy.exc import OperationalError, ProgrammingError

from orbitpay.api.app import create_app
from orbitpay.api.errors import RETRY_AFTER_SECONDS, install_error_handlers, is_connection_error
from orbitpay.cache import Cache, MemoryBackend
from orbitpay.config import load_settings
from orbitpay.db.readpool import PoolClosed

SSL_REQUEST = 80877103


def _error_response(sqlstate: str, message: str) -> bytes:
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer a client's start-up like a PostgreSQL server still replaying its WAL."""
    try:
        while True:
            length = struct.unpack("!i", await reader.readexactly(4))[0]
            payload = await reader.readexactly(length - 4)
            if struct.unpack("!i", payload[:4])[0] == SSL_REQUEST:
                writer.write(b"N")  # no TLS: the client goes on in clear text
                continue
            writer.write(_error_response("57P03", "the database system is starting up"))
            await writer.drain()
            return
    except asyncio.IncompleteReadError:
        return
    finally:
        writer.close()


@pytest.fixture
async def starting_up() -> AsyncIterator[str]:
    """The URL of a "server" that refuses every session with 57P03."""
    server = await asyncio.start_server(_refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/orbitpay"
    finally:
        server.close()
        await server.wait_closed()


async def _get(app: FastAPI, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get(path)


def _app(url: str) -> FastAPI:
    settings = load_settings(database_url=url, rate_limit="1000000/second")
    return create_app(settings, database_url=url, cache=Cache(MemoryBackend()))


@pytest.mark.parametrize("path", ["/api/streams", "/api/streams/1", "/api/organizations"])
async def test_a_database_starting_up_is_a_503_with_retry_after(
    starting_up: str, path: str
) -> None:
    response = await _get(_app(starting_up), path)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_health_reports_a_database_starting_up_as_down(starting_up: str) -> None:
    response = await _get(_app(starting_up), "/health")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    database = response.json()["database"]
    assert database["status"] == "down"
    assert "starting up" in database["error"]


async def test_a_refused_connection_is_a_503() -> None:
    response = await _get(_app(f"postgresql://postgres@127.0.0.1:{free_port()}/x"), "/api/events")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def _wrapped(error: Exception, kind: type[OperationalError] | type[ProgrammingError]) -> Exception:
    """``error`` as SQLAlchemy raises it from an engine (the driver's error as ``orig``)."""
    try:
        try:
            raise error
        except Exception as driver_error:
            raise RuntimeError(str(driver_error)) from driver_error  # the dialect's adapter
    except RuntimeError as adapted:
        return kind("SELECT 1", None, adapted)


@pytest.mark.parametrize(
    ("error", "down"),
    [
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (PoolClosed("the read pool is closed"), True),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), True),
        (_wrapped(asyncpg.CannotConnectNowError("starting up"), OperationalError), True),
        (_wrapped(ConnectionRefusedError(111, "refused"), OperationalError), True),
        (asyncpg.UndefinedTableError('relation "x" does not exist'), False),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.InterfaceError("another operation is in progress"), False),
        (_wrapped(asyncpg.UndefinedTableError("no table"), ProgrammingError), False),
        (ValueError("not a database error"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_only_connection_failures_count_as_the_database_being_away(
    error: Exception, down: bool
) -> None:
    assert is_connection_error(error) is down


async def test_other_database_errors_are_500_not_503() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/starting")
    async def starting() -> None:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    @app.get("/bad-sql")
    async def bad_sql() -> None:
        raise asyncpg.UndefinedTableError('relation "nope" does not exist')

    @app.get("/bad-sql-engine")
    async def bad_sql_engine() -> None:
        raise _wrapped(asyncpg.UndefinedTableError("no table"), ProgrammingError)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        starting_response = await client.get("/starting")
        assert starting_response.status_code == 503
        assert starting_response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        for path in ("/bad-sql", "/bad-sql-engine"):
            response = await client.get(path)
            assert response.status_code == 500, path
            assert response.json()["error"]["code"] == "internal_error"
            assert "retry-after" not in response.headers
