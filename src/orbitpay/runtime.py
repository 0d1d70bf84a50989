"""Process plumbing shared by the CLI commands: database, logging, shutdown.

Resolving the database (a configured URL, or the embedded server under
``ORBITPAY_DATA_DIR``) lives here so every command treats it the same way and
the embedded server is always stopped on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orbitpay.config import Settings
from orbitpay.db.embedded import EmbeddedPostgres
from orbitpay.db.engine import async_url
from orbitpay.observability.logging import configure_logging, get_logger

log = get_logger(__name__)


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """Yield an asyncpg database URL; start (and finally stop) the embedded server if needed."""
    if settings.database_url:
        yield async_url(settings.database_url)
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    log.info("embedded_postgres_starting", pgdata=str(embedded.pgdata))
    url = async_url(embedded.start())
    log.info("embedded_postgres_ready")
    try:
        yield url
    finally:
        embedded.stop()
        log.info("embedded_postgres_stopped")


def setup_logging(settings: Settings) -> None:
    configure_logging(settings.effective_log_format, settings.log_level)
