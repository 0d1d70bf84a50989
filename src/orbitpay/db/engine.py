"""Async SQLAlchemy engines for PostgreSQL (asyncpg).

One dialect everywhere: every URL is normalised to ``postgresql+asyncpg`` so
users may paste the ``postgresql://`` URL their provider gives them.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """``postgresql://...`` or ``postgres://...`` -> ``postgresql+asyncpg://...``."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database name."""
    return make_url(async_url(url)).set(database=database).render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An asyncpg engine with JSON handled by the standard library.

    ``pool_pre_ping`` makes the pool drop connections that died while the
    database was away, so the service recovers by itself once it is back.
    """
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        echo=echo,
        json_serializer=lambda obj: json.dumps(obj, separators=(",", ":")),
        connect_args={"timeout": 10, "command_timeout": 60},
    )
