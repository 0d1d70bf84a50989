"""Where every resource router is mounted: one line per router."""

from __future__ import annotations

from fastapi import FastAPI

from orbitpay.api.routers import (
    analytics,
    coverage,
    discrepancies,
    events,
    organizations,
    proposals,
    streams,
    treasury,
    vesting,
)


def include_all(app: FastAPI) -> None:
    """Mount the resource routers under ``/api`` (health and metrics are mounted by the app)."""
    app.include_router(organizations.router)
    app.include_router(streams.router)
    app.include_router(treasury.router)
    app.include_router(vesting.router)
    app.include_router(proposals.router)
    app.include_router(analytics.router)
    app.include_router(events.router)
    app.include_router(coverage.router)
    app.include_router(discrepancies.router)
