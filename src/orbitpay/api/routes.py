"""Where every resource router is mounted: one line per router."""

from __future__ import annotations

from fastapi import FastAPI


def include_all(app: FastAPI) -> None:
    """Mount the resource routers under ``/api`` (health and metrics are mounted by the app)."""
