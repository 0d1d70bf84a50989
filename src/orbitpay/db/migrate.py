"""Alembic, driven from code: the migrations ship inside the package.

``orbitpay migrate`` and the test fixtures call ``upgrade``; nobody needs an
``alembic.ini`` in the working directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from orbitpay.db.engine import async_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # "%" must be doubled for ConfigParser interpolation (passwords may contain it).
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    """The revision stamped in the database (None before the first migration)."""
    import asyncio

    from sqlalchemy import text

    from orbitpay.db.engine import create_engine

    async def _read() -> str | None:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                exists = await conn.scalar(text("SELECT to_regclass('alembic_version')"))
                if exists is None:
                    return None
                version: str | None = await conn.scalar(
                    text("SELECT version_num FROM alembic_version")
                )
                return version
        finally:
            await engine.dispose()

    return asyncio.run(_read())
