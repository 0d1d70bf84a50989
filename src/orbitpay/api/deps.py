"""Shared resources of the API, held on ``app.state`` and handed to routes.

The API is stateless apart from these pooled clients, so any number of
workers can run behind a load balancer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.cache import Cache
from orbitpay.config import Settings


@dataclass
class AppResources:
    settings: Settings
    engine: AsyncEngine
    cache: Cache
    # Set when the indexer runs in the same process (``orbitpay up``).
    indexer: object | None = None
    extras: dict[str, object] = field(default_factory=dict)


def resources(request: Request) -> AppResources:
    return request.app.state.resources  # type: ignore[no-any-return]


async def db_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled read connection for one request."""
    async with resources(request).engine.connect() as conn:
        yield conn


Resources = Annotated[AppResources, Depends(resources)]
Connection = Annotated[AsyncConnection, Depends(db_connection)]
