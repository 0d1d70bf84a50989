"""Shared resources of the API, held on ``app.state`` and handed to routes.

The API is stateless apart from these pooled clients, so any number of
workers can run behind a load balancer. Every read goes through ``reads`` (one
asyncpg pool, ``$n`` parameters); ``engine`` serves only the few writes
(organizations, API keys), which need transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.cache import Cache
from orbitpay.config import Settings
from orbitpay.db.readpool import ReadPool


@dataclass
class AppResources:
    settings: Settings
    engine: AsyncEngine
    cache: Cache
    reads: ReadPool
    # Set when the indexer runs in the same process (``orbitpay up``).
    indexer: object | None = None
    extras: dict[str, object] = field(default_factory=dict)


async def resources(request: Request) -> AppResources:
    """The app's shared resources (an async dependency: no threadpool hop per request)."""
    return cast(AppResources, request.app.state.resources)


Resources = Annotated[AppResources, Depends(resources)]
