"""The ``orbitpay`` command line: parse, then call into the package.

Configuration errors end the process with one line on stderr naming the
variable (exit code 2), never a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from orbitpay.config import ConfigError, Settings, load_settings
from orbitpay.runtime import database, setup_logging

app = typer.Typer(
    help="OrbitPay indexer: index the OrbitPay Soroban contracts and serve them over HTTP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(help="Manage indexed organizations.", no_args_is_help=True)
app.add_typer(org_app, name="org")
console = Console()

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    """One plain line on stderr (no wrapping: operators grep for it), then exit."""
    sys.stderr.write(message.replace("\n", " ") + "\n")
    raise typer.Exit(code)


def handles_config_errors(func: F) -> F:
    """Turn a ``ConfigError`` (or a refused registration) into one line and exit 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    settings = load_settings()
    setup_logging(settings)
    return settings


@app.command()
@handles_config_errors
def migrate(
    revision: str = typer.Option("head", help="Target revision."),
    down: bool = typer.Option(False, "--down", help="Downgrade to REVISION (default base)."),
) -> None:
    """Apply database migrations (Alembic) and exit."""
    from orbitpay.db import migrate as migrations

    settings = _settings()
    with database(settings) as url:
        if down:
            migrations.downgrade(url, "base" if revision == "head" else revision)
        else:
            migrations.upgrade(url, revision)
        console.print(f"database at revision {migrations.current_revision(url)}")


@app.command()
@handles_config_errors
def api(
    host: str | None = typer.Option(None, help="Listen address (ORBITPAY_API_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (ORBITPAY_API_PORT)."),
) -> None:
    """Run the HTTP API only (the database must be migrated)."""
    from orbitpay.service import run_service

    settings = _settings()
    run_service(settings, with_api=True, with_indexer=False, host=host, port=port)


@app.command()
@handles_config_errors
def up(
    host: str | None = typer.Option(None, help="Listen address (ORBITPAY_API_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (ORBITPAY_API_PORT)."),
) -> None:
    """Migrate, then run the indexer and the API in one process."""
    from orbitpay.service import run_service

    settings = _settings()
    run_service(settings, with_api=True, with_indexer=True, migrate=True, host=host, port=port)


@app.command()
def devnet(
    port: int = typer.Option(8100, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    seed: int = typer.Option(1, help="Seed of the deterministic scenario."),
    scenario: str = typer.Option("demo", help="demo, load or empty."),
    ledger_interval: float = typer.Option(5.0, help="Seconds between ledgers in live mode."),
    fault_rate: float = typer.Option(0.0, help="Share of requests answered with a fault."),
) -> None:
    """Serve the simulated Stellar RPC running the four OrbitPay contracts."""
    from orbitpay.devnet.server import run_devnet

    run_devnet(
        host=host,
        port=port,
        seed=seed,
        scenario=scenario,
        ledger_interval=ledger_interval,
        fault_rate=fault_rate,
    )


@org_app.command("add")
@handles_config_errors
def org_add(
    name: str = typer.Argument(..., help="Organization name."),
    treasury: str | None = typer.Option(None, help="Treasury contract id (C...)."),
    payroll: str | None = typer.Option(None, help="Payroll stream contract id (C...)."),
    vesting: str | None = typer.Option(None, help="Vesting contract id (C...)."),
    governance: str | None = typer.Option(None, help="Governance contract id (C...)."),
) -> None:
    """Register an organization and its contracts (idempotent)."""
    from orbitpay.db.engine import create_engine
    from orbitpay.orgs import OrganizationError, register_organization

    settings = _settings()
    given = {"treasury": treasury, "payroll": payroll, "vesting": vesting, "governance": governance}
    ids = {kind: cid for kind, cid in given.items() if cid}

    async def _add(url: str) -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                return await register_organization(conn, name, ids)
        finally:
            await engine.dispose()

    with database(settings) as url:
        try:
            org_id = asyncio.run(_add(url))
        except OrganizationError as exc:
            fail(f"refused: {exc}")
    console.print(f"organization {name!r} registered with id {org_id}")


@org_app.command("list")
@handles_config_errors
def org_list() -> None:
    """List organizations and their contracts."""
    from orbitpay.db.engine import create_engine
    from orbitpay.orgs import list_organizations

    settings = _settings()

    async def _list(url: str) -> list[dict[str, Any]]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return await list_organizations(conn)
        finally:
            await engine.dispose()

    with database(settings) as url:
        orgs = asyncio.run(_list(url))
    table = Table("id", "name", "admin", "treasury", "payroll", "vesting", "governance")
    for org in orgs:
        c = org["contracts"]
        table.add_row(
            str(org["id"]),
            org["name"],
            org["admin"] or "",
            *(", ".join(c[k]) for k in ("treasury", "payroll", "vesting", "governance")),
        )
    console.print(table)


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
