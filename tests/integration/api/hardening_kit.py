"""Helpers of the hardening tests (issue 13): settings, a live server, bulk rows, raw sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.helpers import free_port as free_port  # a port nothing listens on

from orbitpay.config import Settings, load_settings

SECRET = "hardening-tests-cursor-secret"


def settings(**overrides: Any) -> Settings:
    """Test settings: no global limit unless asked, a fixed cursor secret."""
    values: dict[str, Any] = {
        "rate_limit": "1000000/second",
        "api_key_rate_limit": "1000000/second",
        "require_api_key": False,
        "cursor_secret": SECRET,
    }
    values.update(overrides)
    return load_settings(**values)


async def copy_rows(engine: AsyncEngine, table: str, id_column: str, n: int) -> None:
    """``n`` more rows of ``table``: copies of its row with id 0, ids 1..n (one statement)."""
    async with engine.begin() as conn:
        columns = [
            r[0]
            for r in (
                await conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = :t ORDER BY ordinal_position"
                    ),
                    {"t": table},
                )
            ).all()
        ]
        picked = ", ".join("g" if c == id_column else c for c in columns)
        await conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picked} FROM {table} t, "
                f"generate_series(1, {int(n)}) g WHERE t.{id_column} = 0"
            )
        )


def raw_request(
    base_url: str,
    request: bytes,
    *,
    rcvbuf: int | None = None,
    read: int = 0,
    timeout: float = 10.0,
) -> tuple[socket.socket, bytes]:
    """Open a socket to ``base_url``, send ``request`` and read up to ``read`` bytes."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((host, int(port)))
    sock.sendall(request)
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < read and time.monotonic() < deadline:
        chunk = sock.recv(read - len(got))
        if not chunk:
            break
        got += chunk
    return sock, got


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def wait_until(predicate: Callable[[], bool], within: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` (state of a server in another thread) until true or ``within`` s."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True
